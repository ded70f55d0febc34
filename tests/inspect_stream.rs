//! `inspect` on a file of a few thousand grants, which the views stream from the file as they read
//! them: the JSON output is one valid document holding every selected grant in the file's order, the
//! console table is aligned over all of its rows, `export-csv` has a row per grant and `diff` finds
//! every change of two such syncs, sorted by id.

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
