//! `inspect` on a file of a few thousand grants, which the views stream from the file as they read
//! them: the JSON output is one valid document holding every selected grant in the file's order, the
//! console table is aligned over all of its rows, `export-csv` has a row per grant and `diff` finds
//! every change of two such syncs, sorted by id. `principals` lists each holder of many grants once, in
//! the order of the file's resources and then by id, and `principals compare` keeps the order of the
//! first grants and the `baton` CLI's first match.

mod cli_support;

use baton_c1z::proto::{
    Entitlement, Grant, GrantSource, GrantSources, Resource, ResourceId, ResourceType,
};
use baton_c1z::{clock, write_sync, SyncRecords, WriteOptions};
use cli_support::*;
use serde_json::Value;
use std::path::Path;

const TEAMS: usize = 6;
const USERS: usize = 600;

fn team(t: usize) -> Resource {
    Resource {
        id: Some(ResourceId::new("team", &format!("t{t}"))),
        display_name: format!("Team {t}"),
        ..Default::default()
    }
}

fn member(t: usize) -> Entitlement {
    Entitlement {
        resource: Some(team(t)),
        id: format!("team:t{t}:member"),
        display_name: format!("Team {t} member"),
        slug: "member".into(),
        ..Default::default()
    }
}

/// The grant of team `t` to user `u`; `via` adds a source (another team's membership).
fn grant(t: usize, u: usize, via: Option<usize>) -> Grant {
    let sources = via.map(|v| {
        let mut map = std::collections::BTreeMap::new();
        map.insert(format!("team:t{v}:member"), GrantSource::default());
        GrantSources::from_map(&map)
    });
    Grant {
        entitlement: Some(member(t)),
        sources,
        principal: Some(Resource {
            id: Some(ResourceId::new("user", &format!("u{u}"))),
            ..Default::default()
        }),
        id: format!("team:t{t}:member:user:u{u}"),
        ..Default::default()
    }
}

/// Every user in every team: 3,600 grants, written user by user (so not in id order).
fn records(grants: Vec<Grant>) -> SyncRecords {
    let users = (0..USERS).map(|u| Resource {
        id: Some(ResourceId::new("user", &format!("u{u}"))),
        display_name: format!("User {u}"),
        ..Default::default()
    });
    SyncRecords {
        resource_types: ["team", "user"]
            .iter()
            .map(|id| ResourceType {
                id: (*id).into(),
                display_name: id.to_uppercase(),
                ..Default::default()
            })
            .collect(),
        resources: (0..TEAMS).map(team).chain(users).collect(),
        entitlements: (0..TEAMS).map(member).collect(),
        grants,
    }
}

fn all_grants() -> Vec<Grant> {
    (0..USERS)
        .flat_map(|u| (0..TEAMS).map(move |t| grant(t, u, None)))
        .collect()
}

fn write(path: &Path, grants: Vec<Grant>) {
    write_sync(
        path,
        &records(grants),
        clock::now(),
        &WriteOptions::default(),
    )
    .expect("write");
}

fn grant_ids(doc: &Value) -> Vec<String> {
    doc["grants"]
        .as_array()
        .expect("grants array")
        .iter()
        .map(|item| item["grant"]["id"].as_str().expect("grant id").to_owned())
        .collect()
}

#[test]
fn inspect_stream_json_is_one_document_with_every_grant_in_file_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("many.c1z");
    let grants = all_grants();
    write(&path, grants.clone());
    let expected: Vec<String> = grants.iter().map(|g| g.id.clone()).collect();

    let doc = inspect_json(&path, &["grants"]);
    assert_eq!(doc.as_object().expect("object").len(), 1);
    let ids = grant_ids(&doc);
    assert_eq!(ids.len(), TEAMS * USERS);
    assert_eq!(ids, expected);
    // The names come from the small tables: the stored user, not the grant's bare principal.
    let first = &doc["grants"][0];
    assert_eq!(first["principal"]["displayName"], "User 0");
    assert_eq!(first["resourceType"]["displayName"], "TEAM");

    // The SQL-side filters select the same grants as the decoded ones do.
    let doc = inspect_json(&path, &["grants", "-e", "team:t4:member"]);
    let want: Vec<&String> = expected
        .iter()
        .filter(|id| id.starts_with("team:t4:"))
        .collect();
    assert_eq!(grant_ids(&doc).iter().collect::<Vec<_>>(), want);
    let doc = inspect_json(&path, &["grants", "-t", "team", "-r", "t2"]);
    assert_eq!(grant_ids(&doc).len(), USERS);
    // Nothing selected: the empty document protojson prints.
    assert_eq!(
        inspect_ok(&path, &["grants", "-t", "user", "-o", "json"]),
        "{}"
    );

    // The console table: a header and a row per grant, every separator at the same column.
    let text = inspect_ok(&path, &["grants"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + TEAMS * USERS);
    let bars = |line: &str| -> Vec<usize> {
        line.char_indices()
            .filter(|(_, c)| *c == '|')
            .map(|(i, _)| i)
            .collect()
    };
    let header = bars(lines[0]);
    assert_eq!(header.len(), 4);
    assert!(lines.iter().all(|line| bars(line) == header), "aligned");
    assert_eq!(table(&text)[1][4], "User 0");

    // export-csv: a header and a row per grant.
    let csv = inspect_ok(&path, &["export-csv"]);
    assert_eq!(csv.lines().count(), 1 + TEAMS * USERS);

    // access: the principal's grants only.
    let doc = inspect_json(&path, &["access", "-t", "user", "-r", "u7"]);
    assert_eq!(doc["resources"].as_array().expect("resources").len(), TEAMS);
}

#[test]
fn inspect_stream_diff_of_two_large_syncs_finds_every_change_sorted_by_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("two.c1z");
    write(&path, all_grants());
    // The second sync: user 5 leaves every team, user 600 joins team 0, team 1's grants of users
    // 10..20 gain a source.
    let mut grants: Vec<Grant> = all_grants()
        .into_iter()
        .filter(|g| !g.id.ends_with(":user:u5"))
        .map(|g| {
            let changed = (10..20).any(|u| g.id == format!("team:t1:member:user:u{u}"));
            if changed {
                let u: usize =
                    g.id.rsplit('u')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .expect("user");
                grant(1, u, Some(3))
            } else {
                g
            }
        })
        .collect();
    grants.push(grant(0, 600, None));
    write(&path, grants);

    let doc = inspect_json(&path, &["diff"]);
    let ids = |change: &str| -> Vec<String> {
        doc["grants"][change]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|g| g["id"].as_str().expect("id").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(ids("created"), ["team:t0:member:user:u600"]);
    let mut deleted: Vec<String> = (0..TEAMS)
        .map(|t| format!("team:t{t}:member:user:u5"))
        .collect();
    deleted.sort();
    assert_eq!(ids("deleted"), deleted);
    let mut modified: Vec<String> = (10..20)
        .map(|u| format!("team:t1:member:user:u{u}"))
        .collect();
    modified.sort();
    assert_eq!(ids("modified"), modified);
    assert!(
        doc["grants"]["modified"][0]["sources"].is_object(),
        "the new grant, with its source"
    );
    // The same resources and entitlements in both syncs: no change, and empty lists left out.
    assert_eq!(doc["resources"], serde_json::json!({}));
    assert_eq!(doc["entitlements"], serde_json::json!({}));

    let rows = table(&inspect_ok(&path, &["diff"]));
    assert_eq!(rows[0], ["Object", "Change", "ID"]);
    assert_eq!(rows.len(), 1 + 1 + TEAMS + 10);
    assert_eq!(rows[1], ["grant", "created", "team:t0:member:user:u600"]);
    assert_eq!(rows[2][1], "deleted");
    assert_eq!(rows[rows.len() - 1][1], "modified");
}

/// A grant of team `t` to a principal the file has no resource for, named as the grant embeds it.
fn ghost_grant(t: usize, type_id: &str, id: &str) -> Grant {
    Grant {
        entitlement: Some(member(t)),
        principal: Some(Resource {
            id: Some(ResourceId::new(type_id, id)),
            display_name: format!("Ghost {id}"),
            ..Default::default()
        }),
        id: format!("team:t{t}:member:{type_id}:{id}"),
        ..Default::default()
    }
}

/// The `type:id` of each item of a `{"resources":[…]}`-shaped list.
fn resource_ids(doc: &Value, list: &str) -> Vec<String> {
    doc.get(list)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let id = &item["resource"]["id"];
                    format!(
                        "{}:{}",
                        id["resourceType"].as_str().expect("type"),
                        id["resource"].as_str().expect("id")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `records` with the users stored in reverse (u599 first), so that the file's order of resources is
/// neither the grants' order nor that of the ids.
fn reversed_records(grants: Vec<Grant>) -> SyncRecords {
    let mut records = records(grants);
    let (teams, users) = records.resources.split_at(TEAMS);
    records.resources = teams
        .iter()
        .cloned()
        .chain(users.iter().rev().cloned())
        .collect();
    records
}

#[test]
fn inspect_stream_principals_lists_each_holder_once_in_resource_order_then_the_others_by_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("holders.c1z");
    // The principals without a resource hold the first grants, in no order of theirs.
    let mut grants = vec![
        ghost_grant(0, "user", "zz"),
        ghost_grant(1, "group", "g1"),
        ghost_grant(0, "user", "aa"),
        ghost_grant(2, "group", "g0"),
    ];
    grants.extend(all_grants());
    write_sync(
        &path,
        &reversed_records(grants),
        clock::now(),
        &WriteOptions::default(),
    )
    .expect("write");
    let users: Vec<String> = (0..USERS).rev().map(|u| format!("user:u{u}")).collect();
    let with = |ghosts: &[&str]| -> Vec<String> {
        users
            .iter()
            .cloned()
            .chain(ghosts.iter().map(|g| (*g).to_owned()))
            .collect()
    };

    // Every user holds six grants and is listed once, in the order of the stored resources; then the
    // principals without a resource, by type and id, as their grant embeds them.
    let doc = inspect_json(&path, &["principals"]);
    assert_eq!(doc.as_object().expect("object").len(), 1);
    let all = with(&["group:g0", "group:g1", "user:aa", "user:zz"]);
    assert_eq!(resource_ids(&doc, "resources"), all);
    assert_eq!(doc["resources"][0]["resource"]["displayName"], "User 599");
    assert_eq!(doc["resources"][0]["resourceType"]["displayName"], "USER");
    assert_eq!(
        doc["resources"][USERS + 3]["resource"]["displayName"],
        "Ghost zz"
    );

    // The console lists the same principals in the same order, aligned.
    let text = inspect_ok(&path, &["principals"]);
    let rows = table(&text);
    assert_eq!(
        rows[0],
        ["ID", "Display Name", "Resource Type", "Parent Resource"]
    );
    let ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    let want: Vec<&str> = all
        .iter()
        .map(|k| k.split_once(':').expect("type:id").1)
        .collect();
    assert_eq!(ids, want);
    assert_eq!(rows[1], ["u599", "User 599", "USER", "-"]);
    let widths: Vec<usize> = text.lines().map(|l| l.find(" | ").expect("bar")).collect();
    assert!(widths.iter().all(|w| *w == widths[0]), "aligned");

    // The filters select the grants first, then their principals, each once.
    let doc = inspect_json(&path, &["principals", "-e", "team:t0:member"]);
    assert_eq!(
        resource_ids(&doc, "resources"),
        with(&["user:aa", "user:zz"])
    );
    let doc = inspect_json(&path, &["principals", "-t", "team", "-r", "t1"]);
    assert_eq!(resource_ids(&doc, "resources"), with(&["group:g1"]));
    let doc = inspect_json(&path, &["principals", "-t", "team"]);
    assert_eq!(resource_ids(&doc, "resources"), all);
    // Nothing selected: the empty document, and a table of its header only.
    assert_eq!(
        inspect_ok(&path, &["principals", "-t", "user", "-o", "json"]),
        "{}"
    );
    assert_eq!(
        inspect_ok(&path, &["principals", "-e", "nope"]),
        "ID | Display Name | Resource Type | Parent Resource\n"
    );
}

#[test]
fn inspect_stream_principals_compare_keeps_the_first_grant_order_and_first_match() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("base.c1z");
    let other = dir.path().join("other.c1z");
    let again = |mut g: Grant| {
        g.id.push_str(":again");
        g
    };
    // Base holders of team 0, by their first grant: u5 (three grants), u3, ghost x, u1.
    let mut base_grants = vec![
        grant(0, 5, None),
        grant(0, 3, None),
        again(grant(0, 5, Some(1))),
        ghost_grant(0, "user", "x"),
        grant(0, 1, None),
        again(grant(2, 5, None)),
    ];
    base_grants.push(Grant {
        id: "team:t0:member:user:u5:third".into(),
        ..grant(0, 5, None)
    });
    write_sync(
        &base,
        &records(base_grants),
        clock::now(),
        &WriteOptions::default(),
    )
    .expect("write");
    // Compared holders of team 1: y1 (no resource, but named "User 1"), u3, u9, u1.
    let mut y1 = ghost_grant(1, "user", "y1");
    if let Some(p) = y1.principal.as_mut() {
        p.display_name = "User 1".into();
    }
    write_sync(
        &other,
        &records(vec![
            y1,
            grant(1, 3, None),
            grant(1, 9, None),
            grant(1, 1, None),
            again(grant(1, 9, None)),
        ]),
        clock::now(),
        &WriteOptions::default(),
    )
    .expect("write");
    let other_arg = other.to_str().expect("utf-8 path");
    let args = [
        "principals",
        "compare",
        "-e",
        "team:t0:member",
        "--compare-file",
        other_arg,
        "--compare-entitlement",
        "team:t1:member",
    ];

    let doc = inspect_json(&base, &args);
    let mut json_args = args.to_vec();
    json_args.extend(["-o", "json"]);
    let text = inspect_ok(&base, &json_args);
    let at = |key: &str| text.find(&format!("\"{key}\":[")).expect("list");
    assert!(text.starts_with("{\"missing\":["));
    assert!(at("missing") < at("extra") && at("extra") < at("base") && at("base") < at("compared"));
    assert_eq!(
        resource_ids(&doc, "base"),
        ["user:u5", "user:u3", "user:x", "user:u1"]
    );
    assert_eq!(
        resource_ids(&doc, "compared"),
        ["user:y1", "user:u3", "user:u9", "user:u1"]
    );
    assert_eq!(resource_ids(&doc, "missing"), ["user:u5", "user:x"]);
    // u1 is matched first by y1's display name (as the `baton` CLI matches), so u1 of the other file
    // is left over.
    assert_eq!(resource_ids(&doc, "extra"), ["user:u9", "user:u1"]);
    assert_eq!(doc["base"][0]["resource"]["displayName"], "User 5");
    assert_eq!(doc["missing"][1]["resource"]["displayName"], "Ghost x");

    let text = inspect_ok(&base, &args);
    assert_eq!(
        text,
        "\nMissing Principals\n\n\
         ID | Display Name | Resource Type | Parent Resource\n\
         u5 | User 5       | USER          | -\n\
         x  | Ghost x      | USER          | -\n\
         \nExtra Principals\n\n\
         ID | Display Name | Resource Type | Parent Resource\n\
         u9 | User 9       | USER          | -\n\
         u1 | User 1       | USER          | -\n"
    );

    // An entitlement against itself: every holder matches.
    let same = [
        "principals",
        "compare",
        "-e",
        "team:t0:member",
        "--compare-file",
        base.to_str().expect("utf-8 path"),
        "--compare-entitlement",
        "team:t0:member",
    ];
    assert_eq!(
        inspect_ok(&base, &same),
        "The principals between these entitlements appear to match!\n"
    );
    let doc = inspect_json(&base, &same);
    assert_eq!(array_len(&doc, "missing") + array_len(&doc, "extra"), 0);
    assert_eq!(resource_ids(&doc, "base"), resource_ids(&doc, "compared"));
}
