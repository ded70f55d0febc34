//! The `baton` CLI's views that `inspect` gained: `principals compare` (two files, two entitlements),
//! `export xlsx` (read back with calamine) and `export c1z` (read back with the c1z reader), run as the
//! real binary on files written by a sync of the fake.

mod cli_support;
mod common;

use calamine::{open_workbook, Data as Cell, Reader, Xlsx};
use cli_support::{binary, inspect_json, inspect_ok, table};
use common::{demo_fake, dir_entries, open, run_ok, set, sync_args};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A sync of the demo tenant, changed by `change`, into `dir/name`.
fn synced(dir: &Path, name: &str, change: impl FnOnce(&mut elastic_fake::Tenant)) -> PathBuf {
    let fake = demo_fake();
    fake.update_tenant(change);
    let path = dir.join(name);
    run_ok(&sync_args(&fake, &path));
    path
}

fn ids(doc: &Value, list: &str) -> Vec<String> {
    doc.get(list)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|r| {
                    r["resource"]["id"]["resource"]
                        .as_str()
                        .expect("id")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn principals_compare_names_who_is_missing_and_extra_between_two_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = synced(dir.path(), "base.c1z", |_| {});
    let other = synced(dir.path(), "other.c1z", |t| {
        t.role_mappings.insert(
            "esadmins-list".into(),
            serde_json::json!({
                "enabled": true,
                "roles": ["superuser"],
                "rules": {"field": {"username": ["esadmin01", "esadmin03"]}},
                "metadata": {}
            }),
        );
    });
    let args = |entitlement: &str, compare: &Path, compared: &str| -> Vec<String> {
        vec![
            "principals".into(),
            "compare".into(),
            "-e".into(),
            entitlement.into(),
            "--compare-file".into(),
            compare.display().to_string(),
            "--compare-entitlement".into(),
            compared.into(),
        ]
    };
    let ent = "roleMapping:esadmins-list:member";
    let a = args(ent, &other, ent);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let doc = inspect_json(&base, &a);
    assert_eq!(ids(&doc, "missing"), ["esadmin02"]);
    assert_eq!(ids(&doc, "extra"), ["esadmin03"]);
    assert_eq!(ids(&doc, "base"), ["esadmin01", "esadmin02"]);
    assert_eq!(ids(&doc, "compared"), ["esadmin01", "esadmin03"]);
    // Fields in the order of the CLI's PrincipalsCompareOutput message.
    let mut with_json = a.clone();
    with_json.extend(["-o", "json"]);
    let raw = inspect_ok(&base, &with_json);
    let at = |k: &str| raw.find(&format!("\"{k}\":[")).expect(k);
    assert!(at("missing") < at("extra") && at("extra") < at("base") && at("base") < at("compared"));
    assert_eq!(doc["missing"][0]["resourceType"]["id"], "deploymentUser");

    let console = inspect_ok(&base, &a);
    let lines: Vec<&str> = console.lines().collect();
    let missing = lines
        .iter()
        .position(|l| *l == "Missing Principals")
        .expect("missing header");
    let extra = lines
        .iter()
        .position(|l| *l == "Extra Principals")
        .expect("extra header");
    assert!(missing < extra);
    let rows = table(&console);
    assert_eq!(
        rows[missing + 2],
        ["ID", "Display Name", "Resource Type", "Parent Resource"]
    );
    assert_eq!(
        rows[missing + 3],
        ["esadmin02", "esadmin02", "Deployment User", "-"]
    );
    assert_eq!(
        rows[extra + 3],
        ["esadmin03", "esadmin03", "Deployment User", "-"]
    );

    // The same holders: they match.
    let same = args(ent, &base, ent);
    let same: Vec<&str> = same.iter().map(String::as_str).collect();
    assert_eq!(
        inspect_ok(&base, &same).trim(),
        "The principals between these entitlements appear to match!"
    );
    let doc = inspect_json(&base, &same);
    assert!(doc.get("missing").is_none() && doc.get("extra").is_none());

    // Both entitlements are needed: a usage error otherwise.
    let out = binary()
        .args(["inspect", "principals", "compare", "-e", ent, "-f"])
        .arg(&base)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

fn cell_text(c: &Cell) -> String {
    match c {
        Cell::String(s) => s.clone(),
        Cell::Empty => String::new(),
        Cell::Float(f) => f.to_string(),
        Cell::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn export_xlsx_writes_a_grants_and_a_principals_sheet_that_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = synced(dir.path(), "sync.c1z", |_| {});
    let out = dir.path().join("review.xlsx");
    let run = binary()
        .args(["inspect", "export", "xlsx", "-f"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.stdout.is_empty());
    assert_eq!(dir_entries(dir.path()), set(["sync.c1z", "review.xlsx"]));

    let mut book: Xlsx<_> = open_workbook(&out).expect("a workbook");
    assert_eq!(book.sheet_names(), ["Grants", "Principals"]);
    // Each sheet has an autofilter (Excel keeps it as a hidden defined name).
    let filters: Vec<&(String, String)> = book
        .defined_names()
        .iter()
        .filter(|(name, _)| name == "_xlnm._FilterDatabase")
        .collect();
    assert_eq!(filters.len(), 2, "{:?}", book.defined_names());
    let grants: Vec<Vec<String>> = book
        .worksheet_range("Grants")
        .expect("grants sheet")
        .rows()
        .map(|r| r.iter().map(cell_text).collect())
        .collect();
    // The same rows as export-csv, in the same order.
    let csv = inspect_ok(&file, &["export-csv"]);
    let csv_rows: Vec<Vec<String>> = csv_lines(&csv);
    assert_eq!(grants[0], csv_rows[0], "the CSV's header");
    assert_eq!(grants.len(), csv_rows.len());
    assert_eq!(grants, csv_rows);
    let json = inspect_json(&file, &["grants"]);
    assert_eq!(
        grants.len() - 1,
        json["grants"].as_array().expect("grants").len()
    );

    let principals: Vec<Vec<String>> = book
        .worksheet_range("Principals")
        .expect("principals sheet")
        .rows()
        .map(|r| r.iter().map(cell_text).collect())
        .collect();
    assert_eq!(
        principals[0],
        [
            "Type",
            "Last Name",
            "First Name",
            "User ID",
            "User Status",
            "Email Address",
            "Grants"
        ]
    );
    let holders = inspect_json(&file, &["principals"]);
    assert_eq!(
        principals.len() - 1,
        holders["resources"].as_array().expect("resources").len()
    );
    let counted: usize = principals[1..]
        .iter()
        .map(|r| r[6].parse::<usize>().expect("count"))
        .sum();
    assert_eq!(counted, grants.len() - 1, "every grant counted once");
    let ada = principals
        .iter()
        .find(|r| r[0] == "User" && r[3] == "2894412301")
        .expect("Ada");
    assert_eq!(ada[2], "Ada Lovelace");
    assert_eq!(ada[5], "ada@acme.example");

    // The same sync gives the same bytes.
    let again = dir.path().join("again.xlsx");
    let run = binary()
        .args(["inspect", "export", "xlsx", "-f"])
        .arg(&file)
        .arg("--out")
        .arg(&again)
        .output()
        .expect("runs");
    assert!(run.status.success());
    assert_eq!(
        std::fs::read(&out).expect("read"),
        std::fs::read(&again).expect("read")
    );
}

/// The demo CSV has no quoted field with a line break: split lines, then fields (quotes honoured).
fn csv_lines(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| {
            let mut fields = Vec::new();
            let mut field = String::new();
            let mut quoted = false;
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '"' if quoted && chars.peek() == Some(&'"') => {
                        field.push('"');
                        chars.next();
                    }
                    '"' => quoted = !quoted,
                    ',' if !quoted => fields.push(std::mem::take(&mut field)),
                    c => field.push(c),
                }
            }
            fields.push(field);
            fields
        })
        .collect()
}

#[test]
fn export_c1z_copies_one_sync_into_a_new_file_that_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = demo_fake();
    let file = dir.path().join("sync.c1z");
    run_ok(&sync_args(&fake, &file));
    fake.update_tenant(|t| {
        t.role_mappings.remove("esadmins-list");
    });
    run_ok(&sync_args(&fake, &file));
    let before = std::fs::read(&file).expect("read");
    let source = open(&file);
    let runs = source.sync_runs().expect("runs");
    assert_eq!(runs.len(), 2);
    let older = runs[0].sync_id.clone();

    let out = dir.path().join("older.c1z");
    let run = binary()
        .args(["inspect", "export", "c1z", "--sync-id", &older, "--out"])
        .arg(&out)
        .arg("-f")
        .arg(&file)
        .output()
        .expect("runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        std::fs::read(&file).expect("read"),
        before,
        "the source is not written"
    );
    assert_eq!(
        dir_entries(dir.path()),
        set(["sync.c1z", "older.c1z"]),
        "no temp file left"
    );

    let copy = open(&out);
    let copied_runs = copy.sync_runs().expect("runs");
    assert_eq!(copied_runs, runs[..1]);
    assert_eq!(
        copy.default_sync().expect("q").expect("sync").sync_id,
        older
    );
    let data = |f: &baton_c1z::reader::C1zFile| {
        (
            f.resources(&older)
                .expect("r")
                .into_iter()
                .map(|r| (r.external_id, r.data))
                .collect::<Vec<_>>(),
            f.entitlements(&older)
                .expect("e")
                .into_iter()
                .map(|e| (e.external_id, e.data))
                .collect::<Vec<_>>(),
            f.grants(&older)
                .expect("g")
                .into_iter()
                .map(|g| (g.external_id, g.data))
                .collect::<Vec<_>>(),
        )
    };
    let (copied, original) = (data(&copy), data(&source));
    assert_eq!(copied, original);
    assert!(copied
        .2
        .iter()
        .any(|(id, _)| id.starts_with("roleMapping:esadmins-list:")));
    assert_eq!(
        inspect_ok(&out, &["stats"]),
        inspect_ok(&file, &["stats", "--sync-id", &older])
    );

    // Without --sync-id: the newest finished full sync; an unknown id is an error and writes nothing.
    let latest = dir.path().join("latest.c1z");
    let run = binary()
        .args(["inspect", "export", "c1z", "--out"])
        .arg(&latest)
        .arg("-f")
        .arg(&file)
        .output()
        .expect("runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let latest_runs = open(&latest).sync_runs().expect("runs");
    assert_eq!(latest_runs, runs[1..]);
    let missing = dir.path().join("missing.c1z");
    let run = binary()
        .args(["inspect", "export", "c1z", "--sync-id", "nope", "--out"])
        .arg(&missing)
        .arg("-f")
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("sync nope is not in the file"));
    assert!(!missing.exists());
}
