//! `inspect` end to end: the real binary on the Go SDK's files and on files written by our sync (empty
//! tenant, two syncs, a diff), console and JSON output, snapshots, errors, pipes and the read-only rule.

mod cli_support;
mod common;

use cli_support::*;
use common::{demo_fake, demo_keys, dir_entries, run_ok, set, sync_args, temp_target};
use elastic_fake::{FakeElastic, Tenant};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

const GO_SYNC_ID: &str = "36zfOAoWMxQdISbixanQCRBiX7E";

/// `stats` as a map, from the console table.
fn console_stats(file: &Path) -> BTreeMap<String, usize> {
    let rows = table(&inspect_ok(file, &["stats"]));
    assert_eq!(rows[0], ["Type", "Count"]);
    rows[1..]
        .iter()
        .map(|r| (r[0].clone(), r[1].parse().expect("count")))
        .collect()
}

fn json_stats(file: &Path) -> BTreeMap<String, usize> {
    let doc = inspect_json(file, &["stats"]);
    doc.as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("number") as usize))
        .collect()
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[test]
fn inspect_go_sdk_full_sync_shows_the_readme_counts() {
    let file = go_full();
    let expected = counts(&[
        ("entitlements", 342),
        ("grants", 14_981),
        ("group", 21),
        ("project", 100),
        ("resource_types", 4),
        ("role", 100),
        ("user", 1_000),
    ]);
    assert_eq!(console_stats(&file), expected);
    assert_eq!(json_stats(&file), expected);

    let types = inspect_json(&file, &["resource-types"]);
    assert_eq!(array_len(&types, "resourceTypes"), 4);
    let resources = inspect_json(&file, &["resources"]);
    assert_eq!(array_len(&resources, "resources"), 1_221);
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    for r in resources["resources"].as_array().expect("resources") {
        let t = r["resource"]["id"]["resourceType"].as_str().expect("type");
        *by_type.entry(t.to_owned()).or_default() += 1;
    }
    assert_eq!(
        by_type,
        counts(&[
            ("group", 21),
            ("project", 100),
            ("role", 100),
            ("user", 1_000)
        ])
    );
    let users = table(&inspect_ok(&file, &["resources", "-t", "user"]));
    assert_eq!(users.len() - 1, 1_000, "console rows");
    let entitlements = inspect_json(&file, &["entitlements"]);
    assert_eq!(array_len(&entitlements, "entitlements"), 342);
    let grants = inspect_json(&file, &["grants"]);
    let list = grants["grants"].as_array().expect("grants");
    assert_eq!(list.len(), 14_981);
    let expanded = list
        .iter()
        .filter(|g| g["grant"].get("sources").is_some())
        .count();
    assert!(
        expanded > 0 && expanded < list.len(),
        "{expanded} expanded grants carry sources"
    );
    // Every grant is joined with its entitlement, resource, resource type and principal.
    for g in list {
        for key in [
            "grant",
            "entitlement",
            "resource",
            "resourceType",
            "principal",
        ] {
            assert!(g.get(key).is_some(), "{key} missing in {g}");
        }
    }
    let console_grants = table(&inspect_ok(&file, &["grants"]));
    assert_eq!(console_grants.len() - 1, 14_981);

    let syncs = inspect_json(&file, &["syncs"]);
    assert_eq!(
        syncs,
        json!({"syncs":[{"id":GO_SYNC_ID,"startedAt":"2025-12-17T16:31:25.057185Z",
            "endedAt":"2025-12-17T16:33:36.381422Z","syncToken":"{\"needs_expansion\":true}","syncType":"full"}]})
    );
    // The same view, chosen explicitly.
    assert_eq!(
        inspect_json(
            &file,
            &["resources", "-t", "group", "--sync-id", GO_SYNC_ID]
        ),
        inspect_json(&file, &["resources", "-t", "group"])
    );
}

#[test]
fn inspect_go_sdk_unfinished_sync_reads_every_row_as_baton_does() {
    let file = go_unfinished();
    // Its only sync is unfinished and older than a week: Baton's list calls then apply no sync filter.
    assert_eq!(
        array_len(&inspect_json(&file, &["resource-types"]), "resourceTypes"),
        4
    );
    assert_eq!(
        array_len(&inspect_json(&file, &["resources"]), "resources"),
        1_221
    );
    assert_eq!(
        array_len(&inspect_json(&file, &["entitlements"]), "entitlements"),
        342
    );
    let grants = inspect_json(&file, &["grants"]);
    assert_eq!(array_len(&grants, "grants"), 2_909);
    // Before expansion no grant carries sources.
    assert!(grants["grants"]
        .as_array()
        .expect("grants")
        .iter()
        .all(|g| g["grant"].get("sources").is_none()));
    let syncs = table(&inspect_ok(&file, &["syncs"]));
    assert_eq!(syncs.len(), 2);
    assert_eq!(syncs[1][0], GO_SYNC_ID);
    assert_eq!(syncs[1][2], "", "no end time");
    assert!(
        syncs[1][5].ends_with('…'),
        "long tokens are cut in the console"
    );
    let doc = inspect_json(&file, &["syncs"]);
    assert!(doc["syncs"][0].get("endedAt").is_none());
    assert!(doc["syncs"][0]["syncToken"]
        .as_str()
        .expect("token")
        .contains("grant-expansion"));
    // stats reads a finished sync only; diff needs finished full syncs.
    let (code, stderr) = inspect_err(&file, &["stats"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no finished sync found"), "{stderr}");
    let (code, stderr) = inspect_err(&file, &["diff"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no syncs found - cannot diff"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one error line: {stderr}");
}

#[test]
fn inspect_go_sdk_snapshots() {
    let file = go_full();
    snapshot("go-sdk/stats.txt", &inspect_ok(&file, &["stats"]));
    snapshot(
        "go-sdk/resource-types.txt",
        &inspect_ok(&file, &["resource-types"]),
    );
    snapshot(
        "go-sdk/resource-types.json",
        &inspect_ok(&file, &["resource-types", "-o", "json"]),
    );
    snapshot(
        "go-sdk/resources-group.txt",
        &inspect_ok(&file, &["resources", "-t", "group"]),
    );
    snapshot(
        "go-sdk/resources-role.json",
        &inspect_ok(&file, &["resources", "-t", "role", "-o", "json"]),
    );
    snapshot(
        "go-sdk/entitlements-group.txt",
        &inspect_ok(&file, &["entitlements", "-t", "group"]),
    );
    snapshot(
        "go-sdk/grants-group-0000000-admin.txt",
        &inspect_ok(&file, &["grants", "-e", "group:group-0000000:admin"]),
    );
    snapshot(
        "go-sdk/grants-group-0000000-admin.json",
        &inspect_ok(
            &file,
            &["grants", "-e", "group:group-0000000:admin", "-o", "json"],
        ),
    );
    snapshot("go-sdk/syncs.txt", &inspect_ok(&file, &["syncs"]));
}

/// Syncs the fake into `file`.
fn sync(fake: &FakeElastic, file: &Path) {
    run_ok(&sync_args(fake, file));
}

#[test]
fn inspect_demo_tenant_snapshots_and_json_round_trips_with_console_and_stats() {
    let fake = demo_fake();
    let (_dir, file) = temp_target();
    sync(&fake, &file);
    // Resources, entitlements and grants carry no sync id or time: the demo output is stable.
    // Only role and role-mapping views are kept, so that a new resource type does not change them.
    snapshot(
        "demo/resources-role.txt",
        &inspect_ok(&file, &["resources", "-t", "role"]),
    );
    snapshot(
        "demo/resources-roleMapping.json",
        &inspect_ok(&file, &["resources", "-t", "roleMapping", "-o", "json"]),
    );
    snapshot(
        "demo/entitlements-role.txt",
        &inspect_ok(&file, &["entitlements", "-t", "role"]),
    );
    snapshot(
        "demo/grants-roleMapping.txt",
        &inspect_ok(&file, &["grants", "-t", "roleMapping"]),
    );

    let stats = json_stats(&file);
    assert_eq!(stats, console_stats(&file));
    let resources = inspect_json(&file, &["resources"]);
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    for r in resources["resources"].as_array().expect("resources") {
        let t = r["resource"]["id"]["resourceType"].as_str().expect("type");
        assert_eq!(r["resourceType"]["id"], t, "joined with its type");
        *by_type.entry(t.to_owned()).or_default() += 1;
    }
    let types = inspect_json(&file, &["resource-types"]);
    assert_eq!(array_len(&types, "resourceTypes"), stats["resource_types"]);
    for t in types["resourceTypes"].as_array().expect("types") {
        let id = t["resourceType"]["id"].as_str().expect("id");
        assert_eq!(by_type.get(id).copied().unwrap_or(0), stats[id], "{id}");
    }
    let entitlements = inspect_json(&file, &["entitlements"]);
    assert_eq!(
        array_len(&entitlements, "entitlements"),
        stats["entitlements"]
    );
    let grants = inspect_json(&file, &["grants"]);
    assert_eq!(array_len(&grants, "grants"), stats["grants"]);
    assert_eq!(
        table(&inspect_ok(&file, &["grants"])).len() - 1,
        stats["grants"]
    );
    assert_eq!(
        table(&inspect_ok(&file, &["entitlements"])).len() - 1,
        stats["entitlements"]
    );
    // Filters agree with each other.
    let role_grants = inspect_json(&file, &["grants", "-t", "role"]);
    let superuser = inspect_json(&file, &["grants", "-e", "role:superuser:member"]);
    let by_resource = inspect_json(&file, &["grants", "-t", "role", "-r", "superuser"]);
    assert_eq!(superuser, by_resource);
    assert!(array_len(&superuser, "grants") > 0);
    assert!(array_len(&role_grants, "grants") > array_len(&superuser, "grants"));
    for g in superuser["grants"].as_array().expect("grants") {
        assert_eq!(g["grant"]["entitlement"]["id"], "role:superuser:member");
        assert_eq!(g["entitlement"]["purpose"], "PURPOSE_VALUE_ASSIGNMENT");
        let principal_type = g["principal"]["id"]["resourceType"].as_str();
        assert!(
            matches!(
                principal_type,
                Some("deploymentUser" | "roleMapping" | "group")
            ),
            "{principal_type:?}"
        );
        assert!(g["principal"]["displayName"].is_string());
    }
    // Users hold superuser directly and through role mappings, which also hold it themselves.
    for principal_type in ["deploymentUser", "roleMapping"] {
        assert!(superuser["grants"]
            .as_array()
            .expect("grants")
            .iter()
            .any(|g| g["principal"]["id"]["resourceType"] == principal_type));
    }
    // -r needs -t, and -e excludes -r: usage errors.
    assert_eq!(inspect_err(&file, &["grants", "-r", "superuser"]).0, 2);
    assert_eq!(
        inspect_err(&file, &["grants", "-t", "role", "-r", "x", "-e", "y"]).0,
        2
    );
}

#[test]
fn inspect_empty_tenant_shows_the_types_and_empty_documents() {
    let (cloud_key, deployment_key) = demo_keys();
    let fake = FakeElastic::start(Tenant::empty(&cloud_key, &deployment_key)).expect("fake");
    let (_dir, file) = temp_target();
    sync(&fake, &file);
    let types = table(&inspect_ok(&file, &["resource-types"]));
    let ids: Vec<&str> = types[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        ids,
        [
            "organization",
            "deployment",
            "user",
            "project",
            "role",
            "deploymentUser",
            "roleMapping",
            "group",
            "serviceAccount",
            "apiKey"
        ]
    );
    assert_eq!(types[0], ["ID", "Display Name", "Traits"]);
    for view in ["resources", "entitlements", "grants"] {
        assert_eq!(inspect_ok(&file, &[view, "-o", "json"]), "{}", "{view}");
        let rows = table(&inspect_ok(&file, &[view]));
        assert_eq!(rows.len(), 1, "{view}: header only");
    }
    assert_eq!(
        json_stats(&file),
        counts(&[
            ("apiKey", 0),
            ("deployment", 0),
            ("deploymentUser", 0),
            ("entitlements", 0),
            ("grants", 0),
            ("group", 0),
            ("organization", 0),
            ("project", 0),
            ("resource_types", 10),
            ("serviceAccount", 0),
            ("role", 0),
            ("roleMapping", 0),
            ("user", 0),
        ])
    );
    let (code, stderr) = inspect_err(&file, &["diff"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot diff single sync run"), "{stderr}");
}

fn ids(doc: &Value, kind: &str, change: &str, id: impl Fn(&Value) -> String) -> Vec<String> {
    doc[kind]
        .get(change)
        .map(|list| list.as_array().expect("array").iter().map(&id).collect())
        .unwrap_or_default()
}

fn resource_key(r: &Value) -> String {
    format!(
        "{}:{}",
        r["id"]["resourceType"].as_str().expect("type"),
        r["id"]["resource"].as_str().expect("id")
    )
}

fn plain_id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

#[test]
fn inspect_two_syncs_and_their_diff() {
    let fake = demo_fake();
    let (dir, file) = temp_target();
    sync(&fake, &file);
    let first = table(&inspect_ok(&file, &["syncs"]));
    assert_eq!(first.len(), 2);
    let first_id = first[1][0].clone();
    // Nothing changed: a diff with no created, deleted or modified objects.
    sync(&fake, &file);
    assert_eq!(
        inspect_ok(&file, &["diff", "-o", "json"]),
        r#"{"resources":{},"entitlements":{},"grants":{}}"#
    );
    assert_eq!(table(&inspect_ok(&file, &["diff"])).len(), 1);

    fake.update_tenant(|t| {
        t.users.remove("bob");
        t.roles.insert(
            "auditor".into(),
            json!({"cluster": ["monitor"], "indices": [], "applications": [], "run_as": [],
                   "metadata": {}, "transient_metadata": {"enabled": true}}),
        );
        if let Some(mapping) = t.role_mappings.get_mut("saml-realm") {
            mapping["roles"] = json!(["viewer", "editor"]);
        }
    });
    sync(&fake, &file);
    let syncs = table(&inspect_ok(&file, &["syncs"]));
    assert_eq!(syncs.len(), 3, "the file keeps two syncs");
    assert!(
        syncs[1..].iter().all(|r| r[0] != first_id),
        "the first sync was removed"
    );
    let old_id = syncs[1][0].clone();

    let diff = inspect_json(&file, &["diff"]);
    assert_eq!(
        ids(&diff, "resources", "created", resource_key),
        ["role:auditor"]
    );
    assert_eq!(
        ids(&diff, "resources", "deleted", resource_key),
        ["deploymentUser:bob"]
    );
    assert_eq!(
        ids(&diff, "resources", "modified", resource_key),
        ["roleMapping:saml-realm"]
    );
    assert_eq!(
        ids(&diff, "entitlements", "created", plain_id),
        ["role:auditor:member"]
    );
    assert!(ids(&diff, "entitlements", "deleted", plain_id).is_empty());
    // The modified mapping's entitlement embeds its resource, so it changed too.
    assert_eq!(
        ids(&diff, "entitlements", "modified", plain_id),
        ["roleMapping:saml-realm:member"]
    );
    let deleted_grants = ids(&diff, "grants", "deleted", plain_id);
    assert!(!deleted_grants.is_empty());
    assert!(
        deleted_grants
            .iter()
            .all(|g| g.ends_with(":deploymentUser:bob")),
        "{deleted_grants:?}"
    );
    // Console: one row per change.
    let rows = table(&inspect_ok(&file, &["diff"]));
    assert_eq!(rows[0], ["Object", "Change", "ID"]);
    assert!(rows.contains(&vec![
        "resource".into(),
        "created".into(),
        "role:auditor".into()
    ]));
    assert!(rows.contains(&vec![
        "resource".into(),
        "deleted".into(),
        "deploymentUser:bob".into()
    ]));
    let changes: usize = ["resources", "entitlements", "grants"]
        .iter()
        .flat_map(|k| ["created", "deleted", "modified"].map(|c| (*k, c)))
        .map(|(k, c)| ids(&diff, k, c, |_| String::new()).len())
        .sum();
    assert_eq!(rows.len() - 1, changes);

    // --sync-id reads the older sync, where bob still exists.
    let old = inspect_json(
        &file,
        &["resources", "-t", "deploymentUser", "--sync-id", &old_id],
    );
    let new = inspect_json(&file, &["resources", "-t", "deploymentUser"]);
    assert_eq!(
        array_len(&old, "resources"),
        array_len(&new, "resources") + 1
    );
    let (code, stderr) = inspect_err(&file, &["resources", "--sync-id", "nope"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("sync nope is not in the file"), "{stderr}");
    assert_eq!(inspect_err(&file, &["diff", "--sync-id", &old_id]).0, 2);
    drop(dir);
}

#[test]
fn inspect_never_writes_the_file() {
    let file = go_full();
    let before = std::fs::read(&file).expect("read");
    let modified = std::fs::metadata(&file)
        .expect("meta")
        .modified()
        .expect("mtime");
    let entries = std::fs::read_dir(file.parent().expect("dir"))
        .expect("dir")
        .count();
    inspect_ok(&file, &["stats"]);
    inspect_ok(&file, &["entitlements", "-o", "json"]);
    inspect_err(&file, &["diff"]);
    assert_eq!(std::fs::read(&file).expect("read"), before);
    assert_eq!(
        std::fs::metadata(&file)
            .expect("meta")
            .modified()
            .expect("mtime"),
        modified
    );
    assert_eq!(
        std::fs::read_dir(file.parent().expect("dir"))
            .expect("dir")
            .count(),
        entries
    );
}

#[test]
fn inspect_ends_quietly_when_the_pipe_closes() {
    let mut child = binary()
        .args(["inspect", "grants", "-f"])
        .arg(go_full())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).expect("line");
    assert!(first.starts_with("ID "), "{first}");
    // The reader is gone (as after `| head -1`); the rest of the ~1.5 MB table cannot be written.
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "exit {:?}", out.status.code());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn inspect_refuses_files_over_the_decoder_limits_and_other_files() {
    let out = binary()
        .args(["inspect", "stats", "-f"])
        .arg(go_full())
        .env("BATON_DECODER_MAX_DECODED_SIZE_MB", "1")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("BATON_DECODER_MAX_DECODED_SIZE_MB"),
        "{stderr}"
    );
    assert!(
        stderr.contains("baton-sdk-full-sync.c1z"),
        "names the file: {stderr}"
    );
    assert!(out.stdout.is_empty());

    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.c1z");
    std::fs::write(&text, "hello").expect("write");
    let (code, stderr) = inspect_err(&text, &["resources"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("is not a c1z file"), "{stderr}");
    let (code, stderr) = inspect_err(&dir.path().join("missing.c1z"), &["stats"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("missing.c1z"), "{stderr}");
}

#[test]
fn inspect_names_the_newer_v3_format_and_the_tools_that_read_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v3 = dir.path().join("pebble.c1z");
    // A v3 header: the magic, then a length-prefixed manifest (the rest is never read).
    let mut bytes = b"C1Z3\0".to_vec();
    bytes.extend([4, 0, 0, 0, 0x0a, 0x02, 0x76, 0x33]);
    std::fs::write(&v3, &bytes).expect("write");
    for view in [
        "stats",
        "resources",
        "grants",
        "syncs",
        "diff",
        "export-csv",
    ] {
        let (code, stderr) = inspect_err(&v3, &[view]);
        assert_eq!(code, 1, "{view}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains("pebble.c1z"), "names the file: {stderr}");
        assert!(stderr.contains("newer v3 c1z format"), "{stderr}");
        assert!(stderr.contains("Pebble"), "{stderr}");
        assert!(
            stderr.contains("`baton` CLI and baton-sdk read"),
            "names the tools: {stderr}"
        );
        assert!(!stderr.contains("is not a c1z file"), "{stderr}");
    }
    assert_eq!(std::fs::read(&v3).expect("read"), bytes, "left untouched");
}

#[test]
fn inspect_refuses_empty_truncated_and_broken_files_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    };
    let frame = |content: &[u8]| {
        let mut bytes = b"C1ZF\0".to_vec();
        bytes.extend(zstd::encode_all(content, 3).expect("zstd"));
        bytes
    };
    let go = std::fs::read(go_full()).expect("read");
    let cases = [
        (write("zero.c1z", b""), "is empty (0 bytes)"),
        (write("magic.c1z", b"C1ZF\0"), "cannot decompress"),
        (write("cut.c1z", &go[..go.len() / 2]), "cannot decompress"),
        (
            write("text-db.c1z", &frame(b"not a database, just some text")),
            "not a valid c1z SQLite database",
        ),
        (
            write("empty-frame.c1z", &frame(b"")),
            "holds no SQLite database",
        ),
        (dir.path().to_path_buf(), "Is a directory"),
    ];
    for (path, expected) in &cases {
        for view in ["stats", "resources", "grants", "syncs", "diff"] {
            let (code, stderr) = inspect_err(path, &[view]);
            assert_eq!(code, 1, "{view} {}: {stderr}", path.display());
            assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
            assert!(stderr.contains(expected), "{view}: {stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
}

#[cfg(unix)]
#[test]
fn an_interrupted_inspect_removes_its_decompressed_copy() {
    use std::io::Read;
    let temp = tempfile::tempdir().expect("tempdir");
    for signal in ["INT", "TERM"] {
        // The grants of the Go SDK's file make megabytes of output. Once the first bytes arrive, the
        // view is being written with the decompressed copy open, and as this test reads no further,
        // the process stays blocked on the full pipe until the signal.
        let mut child = binary()
            .args(["inspect", "grants", "-f"])
            .arg(go_full())
            .env("TMPDIR", temp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut first = [0u8; 1];
        child
            .stdout
            .as_mut()
            .expect("stdout")
            .read_exact(&mut first)
            .expect("output starts");
        let copies = std::fs::read_dir(temp.path()).expect("read dir").count();
        assert_eq!(copies, 1, "SIG{signal}: the decompressed copy exists");
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(130), "SIG{signal}");
        let left: Vec<_> = std::fs::read_dir(temp.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert!(left.is_empty(), "SIG{signal} left {left:?}");
    }
}

/// The `type:id` keys of a `{"resources":[…]}` document, in order.
fn resource_keys(doc: &Value) -> Vec<String> {
    doc.get("resources")
        .map(|list| {
            list.as_array()
                .expect("resources")
                .iter()
                .map(|r| resource_key(&r["resource"]))
                .collect()
        })
        .unwrap_or_default()
}

/// The distinct `type:id` principals of a `{"grants":[…]}` document, sorted.
fn grant_principals(doc: &Value) -> Vec<String> {
    let mut keys: Vec<String> = doc
        .get("grants")
        .map(|list| {
            list.as_array()
                .expect("grants")
                .iter()
                .map(|g| resource_key(&g["grant"]["principal"]))
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys.dedup();
    keys
}

fn sorted(mut keys: Vec<String>) -> Vec<String> {
    keys.sort();
    keys
}

/// The grant ids and resource keys of an `access` document.
fn access_grants(doc: &Value) -> (Vec<String>, Vec<String>) {
    let mut grants = Vec::new();
    let mut resources = Vec::new();
    for r in doc["resources"].as_array().expect("resources") {
        resources.push(resource_key(&r["resource"]));
        for e in r["entitlements"].as_array().expect("entitlements") {
            grants.push(e["grantId"].as_str().expect("grant id").to_owned());
        }
    }
    (grants, resources)
}

/// Checks that the console tree of `access` agrees with its JSON document: one resource line per
/// resource, one entitlement line per grant.
fn assert_tree_matches(tree: &str, doc: &Value) {
    let (grants, resources) = access_grants(doc);
    let lines: Vec<&str> = tree.lines().collect();
    assert!(lines[0].starts_with("Effective Access for "), "{tree}");
    let resource_lines = lines[1..]
        .iter()
        .filter(|l| l.starts_with("├── ") || l.starts_with("└── "))
        .count();
    assert_eq!(resource_lines, resources.len(), "{tree}");
    assert_eq!(lines.len() - 1 - resource_lines, grants.len(), "{tree}");
}

#[test]
fn inspect_demo_principals_and_access() {
    let fake = demo_fake();
    let (_dir, file) = temp_target();
    sync(&fake, &file);
    // Resources and grants carry no sync id or time: the demo output is stable.
    let cases: [(&str, &[&str]); 4] = [
        (
            "principals-role-superuser",
            &["principals", "-t", "role", "-r", "superuser"],
        ),
        (
            "principals-roleMapping-saml-realm-member",
            &["principals", "-e", "roleMapping:saml-realm:member"],
        ),
        (
            "access-deploymentUser-sam.saml",
            &["access", "-t", "deploymentUser", "-r", "sam.saml"],
        ),
        (
            "access-user-2894412301",
            &["access", "-t", "user", "-r", "2894412301"],
        ),
    ];
    for (name, args) in cases {
        snapshot(&format!("demo/{name}.txt"), &inspect_ok(&file, args));
        let mut json_args = args.to_vec();
        json_args.extend(["-o", "json"]);
        snapshot(&format!("demo/{name}.json"), &inspect_ok(&file, &json_args));
    }

    // principals: each holder once, the same as the distinct principals of `grants`, and the same
    // table rows as the JSON document.
    let superuser = inspect_json(&file, &["principals", "-e", "role:superuser:member"]);
    assert_eq!(
        superuser,
        inspect_json(&file, &["principals", "-t", "role", "-r", "superuser"])
    );
    let keys = resource_keys(&superuser);
    assert!(
        keys.contains(&"deploymentUser:elastic".to_owned()),
        "{keys:?}"
    );
    assert_eq!(
        sorted(keys.clone()),
        grant_principals(&inspect_json(
            &file,
            &["grants", "-e", "role:superuser:member"]
        ))
    );
    let rows = table(&inspect_ok(
        &file,
        &["principals", "-e", "role:superuser:member"],
    ));
    assert_eq!(
        rows[0],
        ["ID", "Display Name", "Resource Type", "Parent Resource"]
    );
    assert_eq!(rows.len() - 1, keys.len());
    let saml = resource_keys(&inspect_json(
        &file,
        &["principals", "-e", "roleMapping:saml-realm:member"],
    ));
    assert!(
        saml.contains(&"deploymentUser:sam.saml".to_owned()),
        "{saml:?}"
    );
    let all = inspect_json(&file, &["principals"]);
    assert_eq!(
        sorted(resource_keys(&all)),
        grant_principals(&inspect_json(&file, &["grants"]))
    );
    assert_eq!(
        table(&inspect_ok(&file, &["principals"])).len() - 1,
        array_len(&all, "resources")
    );
    // Role grants: -t alone selects the holders of grants on roles.
    let on_roles = resource_keys(&inspect_json(&file, &["principals", "-t", "role"]));
    assert_eq!(
        sorted(on_roles),
        grant_principals(&inspect_json(&file, &["grants", "-t", "role"]))
    );

    // access: Sam holds viewer directly and through saml-realm.
    let sam_args = ["access", "-t", "deploymentUser", "-r", "sam.saml"];
    let sam_tree = inspect_ok(&file, &sam_args);
    let sam = inspect_json(&file, &sam_args);
    assert_tree_matches(&sam_tree, &sam);
    assert!(sam_tree.starts_with("Effective Access for Sam Saml (Deployment User)\n"));
    assert!(
        sam_tree.contains("├── viewer (Deployment Role)\n│   └── member via saml-realm Role Mapping member (also direct)\n"),
        "{sam_tree}"
    );
    assert_eq!(sam["principal"]["id"]["resource"], "sam.saml");
    let viewer = sam["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["resource"]["id"]["resource"] == "viewer")
        .expect("viewer");
    assert_eq!(
        viewer["entitlements"][0]["grantId"],
        "role:viewer:member:deploymentUser:sam.saml"
    );
    let sources = &viewer["entitlements"][0]["sources"]["sources"];
    assert!(
        sources.get("roleMapping:saml-realm:member").is_some(),
        "{sources}"
    );
    assert_eq!(sources["role:viewer:member"]["isDirect"], true);
    // Every grant of Sam, direct and expanded, is there.
    let sam_grants: Vec<String> = inspect_json(&file, &["grants"])["grants"]
        .as_array()
        .expect("grants")
        .iter()
        .filter(|g| resource_key(&g["grant"]["principal"]) == "deploymentUser:sam.saml")
        .map(|g| g["grant"]["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(sorted(access_grants(&sam).0), sorted(sam_grants));

    // Ada, Organization owner, administers the deployments of that organization through it.
    let ada_args = ["access", "-t", "user", "-r", "2894412301"];
    let ada_tree = inspect_ok(&file, &ada_args);
    let ada = inspect_json(&file, &ada_args);
    assert_tree_matches(&ada_tree, &ada);
    assert!(ada_tree.starts_with("Effective Access for Ada Lovelace (User)\n"));
    assert!(
        ada_tree.contains("admin via Organization owner on Acme Corp (Organization)\n"),
        "{ada_tree}"
    );
    let through_owner = ada["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter(|r| r["resource"]["id"]["resourceType"] == "deployment")
        .flat_map(|r| r["entitlements"].as_array().expect("entitlements").iter())
        .filter(|e| {
            e["sources"]["sources"]
                .get("organization:4125567842:organization-admin")
                .is_some()
        })
        .count();
    assert!(through_owner > 0, "{ada}");

    // Usage errors exit 2, as for grants; an unknown principal or sync exits 1 naming it.
    for args in [
        &["principals", "-r", "superuser"][..],
        &["principals", "-t", "role", "-r", "x", "-e", "y"],
        &["access", "-t", "user"],
        &["access", "-r", "2894412301"],
        &["access"],
    ] {
        assert_eq!(inspect_err(&file, args).0, 2, "{args:?}");
    }
    let (code, stderr) = inspect_err(&file, &["access", "-t", "deploymentUser", "-r", "nobody"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("deploymentUser:nobody"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let (code, stderr) = inspect_err(&file, &["principals", "--sync-id", "nope"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("sync nope is not in the file"), "{stderr}");
    // The sync chosen explicitly shows the same.
    let sync_id = table(&inspect_ok(&file, &["syncs"]))[1][0].clone();
    let mut explicit = sam_args.to_vec();
    explicit.extend(["--sync-id", &sync_id]);
    assert_eq!(inspect_ok(&file, &explicit), sam_tree);
}

#[test]
fn inspect_go_sdk_principals_and_access() {
    let file = go_full();
    // The principals of an entitlement are the distinct principals of its grants, console and JSON alike.
    for entitlement in [
        "group:group-0000000:admin",
        "project:project-0000099:access",
    ] {
        let doc = inspect_json(&file, &["principals", "-e", entitlement]);
        let keys = resource_keys(&doc);
        assert!(!keys.is_empty(), "{entitlement}");
        assert_eq!(
            sorted(keys.clone()),
            grant_principals(&inspect_json(&file, &["grants", "-e", entitlement])),
            "{entitlement}"
        );
        let rows = table(&inspect_ok(&file, &["principals", "-e", entitlement]));
        let ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
        let json_ids: Vec<&str> = doc["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .map(|r| r["resource"]["id"]["resource"].as_str().expect("id"))
            .collect();
        assert_eq!(ids, json_ids, "{entitlement}");
    }
    let all = resource_keys(&inspect_json(&file, &["principals"]));
    assert_eq!(
        sorted(all.clone()),
        grant_principals(&inspect_json(&file, &["grants"]))
    );

    // A user's access is every grant whose principal it is, expanded ones (with sources) included.
    let grants = inspect_json(&file, &["grants"]);
    let mine: Vec<&Value> = grants["grants"]
        .as_array()
        .expect("grants")
        .iter()
        .filter(|g| resource_key(&g["grant"]["principal"]) == "user:user-0000000")
        .collect();
    let args = ["access", "-t", "user", "-r", "user-0000000"];
    let doc = inspect_json(&file, &args);
    let (ids, resources) = access_grants(&doc);
    let mut expected: Vec<String> = mine
        .iter()
        .map(|g| g["grant"]["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(sorted(ids), sorted(expected.clone()));
    expected = mine.iter().map(|g| resource_key(&g["resource"])).collect();
    expected.sort();
    expected.dedup();
    assert_eq!(sorted(resources), expected);
    let tree = inspect_ok(&file, &args);
    assert_tree_matches(&tree, &doc);
    assert!(tree.starts_with("Effective Access for User 0000000 (User)\n"));
    assert!(
        tree.contains(" via admin on Group 0000000 (Group), member on Group 0000000 (Group)"),
        "expanded grants name their sources: {tree}"
    );
    assert_eq!(
        inspect_ok(
            &file,
            &[
                "access",
                "-t",
                "user",
                "-r",
                "user-0000000",
                "--sync-id",
                GO_SYNC_ID
            ]
        ),
        tree
    );
    let (code, stderr) = inspect_err(&file, &["access", "-t", "user", "-r", "user-9999999"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("user:user-9999999"), "{stderr}");
}

/// The `export-csv` header.
const CSV_HEADER: [&str; 12] = [
    "Type",
    "Last Name",
    "First Name",
    "User ID",
    "User Status",
    "Email Address",
    "Entitlement Display Name",
    "Entitlement",
    "Resource Type",
    "Resource Name",
    "Entitlement Description",
    "Entitlement Slug",
];

/// A small RFC 4180 reader: records end in `\n`; a quoted field may hold `,`, `""` and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => {
                assert!(
                    field.is_empty(),
                    "a quote inside an unquoted field: {field}"
                );
                quoted = true;
            }
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, '\r') => panic!("an unquoted carriage return"),
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted, "an unterminated quoted field");
    assert!(
        field.is_empty() && record.is_empty(),
        "the last record ends in a newline"
    );
    records
}

/// Checks an export against the grants of the same file: a header, then one row of 12 fields per grant in
/// grant order, naming its entitlement and principal. Returns the data rows.
fn assert_one_row_per_grant(csv: &str, file: &Path) -> Vec<Vec<String>> {
    let records = parse_csv(csv);
    assert_eq!(records[0], CSV_HEADER);
    let grants = inspect_json(file, &["grants"]);
    let grants = grants["grants"].as_array().expect("grants");
    let rows = records[1..].to_vec();
    assert_eq!(rows.len(), grants.len(), "one row per grant");
    for (row, g) in rows.iter().zip(grants) {
        assert_eq!(row.len(), 12, "{row:?}");
        assert_eq!(
            row[7],
            g["grant"]["entitlement"]["id"].as_str().expect("id")
        );
        assert_eq!(
            row[3],
            g["grant"]["principal"]["id"]["resource"]
                .as_str()
                .expect("principal")
        );
        assert_eq!(
            row[8],
            g["resourceType"]["displayName"].as_str().expect("type")
        );
    }
    rows
}

#[test]
fn inspect_demo_export_csv_snapshot_rows_and_out_file() {
    let fake = demo_fake();
    let (dir, file) = temp_target();
    sync(&fake, &file);
    let csv = inspect_ok(&file, &["export-csv"]);
    snapshot("demo/export.csv", &csv);
    let rows = assert_one_row_per_grant(&csv, &file);
    assert_eq!(rows.len(), json_stats(&file)["grants"]);
    // Users carry their status and e-mail address; role mappings only their type and id.
    let ada = rows
        .iter()
        .find(|r| r[3] == "2894412301")
        .expect("a grant of Ada");
    assert_eq!(
        ada[..6],
        [
            "User",
            "",
            "Ada Lovelace",
            "2894412301",
            "ENABLED",
            "ada@acme.example"
        ]
    );
    let mapping = rows
        .iter()
        .find(|r| r[0] == "Role Mapping")
        .expect("a grant of a role mapping");
    assert!(!mapping[3].is_empty());
    assert_eq!(mapping[1..3], ["", ""]);
    assert_eq!(mapping[4..6], ["", ""]);
    // The same sync chosen explicitly gives the same bytes.
    let sync_id = table(&inspect_ok(&file, &["syncs"]))[1][0].clone();
    assert_eq!(
        inspect_ok(&file, &["export-csv", "--sync-id", &sync_id]),
        csv
    );

    // --out writes the same bytes, replacing a file there, and leaves nothing else behind.
    let out = dir.path().join("review.csv");
    std::fs::write(&out, "old").expect("write");
    let before = dir_entries(dir.path());
    assert_eq!(
        inspect_ok(
            &file,
            &["export-csv", "--out", out.to_str().expect("utf-8")]
        ),
        ""
    );
    assert_eq!(std::fs::read_to_string(&out).expect("read"), csv);
    assert_eq!(dir_entries(dir.path()), before);

    // JSON does not apply: a usage error, and no file written.
    let json_out = dir.path().join("never.csv");
    let (code, stderr) = inspect_err(
        &file,
        &[
            "export-csv",
            "-o",
            "json",
            "--out",
            json_out.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("export-csv"), "{stderr}");
    assert!(!json_out.exists());
    // An unknown sync is an error; a folder that does not exist leaves nothing behind.
    let (code, stderr) = inspect_err(&file, &["export-csv", "--sync-id", "nope"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("sync nope is not in the file"), "{stderr}");
    let missing = dir.path().join("missing/review.csv");
    let (code, _) = inspect_err(
        &file,
        &["export-csv", "--out", missing.to_str().expect("utf-8")],
    );
    assert_eq!(code, 1);
    assert_eq!(dir_entries(dir.path()), before);
}

#[test]
fn inspect_export_csv_quotes_names_and_guards_formulas() {
    let fake = demo_fake();
    fake.update_tenant(|t| {
        for (username, full_name, email) in [
            ("jo", "Smith, \"Jo\"", "jo@acme.example"),
            (
                "mallory",
                "=HYPERLINK(\"http://x.example\",\"open\")",
                "@mallory",
            ),
            ("lines", "two\nlines", "-lines@acme.example"),
        ] {
            t.users.insert(
                username.into(),
                json!({"username": username, "roles": ["viewer"], "full_name": full_name,
                       "email": email, "metadata": {}, "enabled": false}),
            );
        }
    });
    let (_dir, file) = temp_target();
    sync(&fake, &file);
    let csv = inspect_ok(&file, &["export-csv"]);
    assert!(
        csv.contains("Deployment User,,\"Smith, \"\"Jo\"\"\",jo,DISABLED,jo@acme.example,"),
        "{csv}"
    );
    assert!(
        csv.contains(
            "Deployment User,,\"'=HYPERLINK(\"\"http://x.example\"\",\"\"open\"\")\",mallory,DISABLED,'@mallory,"
        ),
        "{csv}"
    );
    assert!(
        csv.contains("Deployment User,,\"two\nlines\",lines,DISABLED,'-lines@acme.example,"),
        "{csv}"
    );
    let rows = assert_one_row_per_grant(&csv, &file);
    let first_names: BTreeMap<&str, &str> = rows
        .iter()
        .filter(|r| r[0] == "Deployment User")
        .map(|r| (r[3].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(first_names["jo"], "Smith, \"Jo\"");
    assert_eq!(
        first_names["mallory"],
        "'=HYPERLINK(\"http://x.example\",\"open\")"
    );
    assert_eq!(first_names["lines"], "two\nlines");
    // No field of the export starts a formula.
    for row in &rows {
        for field in row {
            assert!(
                !field.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{field:?} in {row:?}"
            );
        }
    }
}

#[test]
fn inspect_go_sdk_export_csv_has_one_row_per_grant() {
    let file = go_full();
    let csv = inspect_ok(&file, &["export-csv"]);
    let rows = assert_one_row_per_grant(&csv, &file);
    assert_eq!(rows.len(), 14_981);
    let users = rows.iter().filter(|r| r[0] == "User").count();
    assert!(users > 0 && users < rows.len(), "{users} user rows");
    assert!(rows
        .iter()
        .filter(|r| r[0] == "User")
        .all(|r| r[4] == "ENABLED" && !r[2].is_empty() && r[5].contains('@')));
}

#[test]
fn an_interrupted_export_leaves_the_previous_file_or_the_whole_new_one() {
    let file = go_full();
    let complete = inspect_ok(&file, &["export-csv"]);
    let temp = tempfile::tempdir().expect("tempdir");
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = out_dir.path().join("review.csv");
    // Interrupt at different moments: while decompressing, building the rows or writing them.
    for delay_ms in [0, 100, 200, 300, 400, 500, 700] {
        std::fs::write(&out, "old").expect("write");
        let child = binary()
            .args(["inspect", "export-csv", "--out"])
            .arg(&out)
            .arg("-f")
            .arg(&file)
            .env("TMPDIR", temp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_dir(temp.path()).expect("read dir").count() == 0
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let status = std::process::Command::new("kill")
            .args(["-INT".to_owned(), child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let code = child.wait_with_output().expect("wait").status.code();
        assert!(
            matches!(code, Some(0 | 130)),
            "after {delay_ms} ms: {code:?}"
        );
        let written = std::fs::read_to_string(&out).expect("read");
        assert!(
            written == "old" || written == complete,
            "after {delay_ms} ms: a partial file of {} bytes",
            written.len()
        );
        assert_eq!(
            dir_entries(out_dir.path()),
            set(["review.csv"]),
            "after {delay_ms} ms"
        );
        assert_eq!(std::fs::read_dir(temp.path()).expect("read dir").count(), 0);
    }
}
