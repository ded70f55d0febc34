//! Compatibility tests against `.c1z` files written by the Go Baton SDK (`tests/data`), and a check
//! that the crate's schema is the spec's DDL verbatim.

use baton_c1z::clock;
use baton_c1z::proto::{
    self, Entitlement, Grant, GrantExpandable, Resource, ResourceId, ResourceType,
};
use baton_c1z::{schema, write_sync, C1zFile, DecodeLimits, SyncRecords, WriteOptions, MAGIC_V1};
use rusqlite::Connection;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

const FULL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/baton-sdk-full-sync.c1z"
);
const UNFINISHED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/baton-sdk-unfinished-sync.c1z"
);
/// The SDK's DDL, copied into the repository with its provenance in a `--` header.
const SDK_SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/baton-sdk-schema.sql"
);
const GO_SYNC_ID: &str = "36zfOAoWMxQdISbixanQCRBiX7E";

fn open(path: &str) -> C1zFile {
    C1zFile::open(Path::new(path), &DecodeLimits::default()).expect("test helper")
}

fn counts(file: &C1zFile, sync_id: &str) -> [usize; 4] {
    [
        file.resource_types(sync_id).expect("test helper").len(),
        file.resources(sync_id).expect("test helper").len(),
        file.entitlements(sync_id).expect("test helper").len(),
        file.grants(sync_id).expect("test helper").len(),
    ]
}

fn column_names(conn: &Connection, table: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("pragma table_info({table})"))
        .expect("test helper");
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(1))
        .expect("test helper");
    rows.map(Result::unwrap).collect()
}

/// The SQLite database inside a c1z, decompressed directly (without the crate's reader or migration).
fn raw_database(path: &Path, dir: &TempDir) -> Connection {
    let bytes = fs::read(path).expect("test helper");
    assert_eq!(&bytes[..5], MAGIC_V1);
    let db = dir.path().join(format!(
        "{}.db",
        path.file_name().expect("test helper").to_string_lossy()
    ));
    fs::write(&db, zstd::decode_all(&bytes[5..]).expect("test helper")).expect("test helper");
    let conn = Connection::open(db).expect("test helper");
    // Go's files are in WAL mode; keep every change in the main file.
    let mode: String = conn
        .query_row("pragma journal_mode = delete", [], |r| r.get(0))
        .expect("test helper");
    assert_eq!(mode, "delete");
    conn
}

/// Writes the database file at `db` as a c1z at `out`.
fn frame_database(db: &Path, out: &Path) {
    let mut bytes = MAGIC_V1.to_vec();
    bytes.extend(
        zstd::encode_all(fs::read(db).expect("test helper").as_slice(), 3).expect("test helper"),
    );
    fs::write(out, bytes).expect("test helper");
}

fn copy_of(source: &str, dir: &TempDir) -> PathBuf {
    let copy = dir.path().join("copy.c1z");
    fs::copy(source, &copy).expect("test helper");
    copy
}

#[test]
fn c1z_schema_ddl_is_the_sdk_schema_verbatim() {
    let sql = fs::read_to_string(SDK_SCHEMA).unwrap();
    let header_end = sql.find("\n\n").unwrap() + 2;
    assert!(sql[..header_end]
        .lines()
        .all(|l| l.is_empty() || l.starts_with("-- ")));
    assert!(sql[header_end..].starts_with("create table if not exists v1_resource_types"));
    assert_eq!(schema::DDL, &sql[header_end..]);
}

#[test]
fn c1z_go_full_sync_opens_with_the_documented_contents() {
    let file = open(FULL);
    let runs = file.sync_runs().unwrap();
    assert_eq!(runs.len(), 1);
    let default = file.default_sync().unwrap().unwrap();
    assert_eq!(default.sync_id, GO_SYNC_ID);
    assert_eq!(default.started_at, "2025-12-17 16:31:25.057185");
    assert_eq!(
        default.ended_at.as_deref(),
        Some("2025-12-17 16:33:36.381422")
    );
    assert_eq!(default.sync_type, "full");
    assert_eq!(default.sync_token, r#"{"needs_expansion":true}"#);
    assert_eq!(counts(&file, GO_SYNC_ID), [4, 1221, 342, 14981]);

    let types: Vec<String> = file
        .resource_types(GO_SYNC_ID)
        .unwrap()
        .into_iter()
        .map(|r| r.external_id)
        .collect();
    assert_eq!(types, ["project", "user", "group", "role"]);

    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    for row in file.resources(GO_SYNC_ID).unwrap() {
        let id = row.data.id.as_ref().unwrap();
        assert_eq!(row.resource_type_id, id.resource_type);
        assert_eq!(
            row.external_id,
            format!("{}:{}", id.resource_type, id.resource)
        );
        assert_eq!(row.parent_resource_id, None);
        *by_type.entry(row.resource_type_id).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = [
        ("group", 21),
        ("project", 100),
        ("role", 100),
        ("user", 1000),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(by_type, expected);

    for row in file.entitlements(GO_SYNC_ID).unwrap() {
        let id = row.data.resource.as_ref().unwrap().id.as_ref().unwrap();
        assert_eq!(
            (&row.resource_type_id, &row.resource_id),
            (&id.resource_type, &id.resource)
        );
        assert_eq!(row.external_id, row.data.id);
    }
}

#[test]
fn c1z_go_full_sync_grants_decode_and_agree_with_their_columns() {
    let file = open(FULL);
    let grants = file.grants(GO_SYNC_ID).unwrap();
    assert_eq!(grants.len(), 14981);
    let mut with_sources = 0;
    let mut expandable = 0;
    for row in &grants {
        let entitlement = row.data.entitlement.as_ref().unwrap();
        let resource = entitlement.resource.as_ref().unwrap().id.as_ref().unwrap();
        let principal = row.data.principal.as_ref().unwrap().id.as_ref().unwrap();
        assert_eq!(row.external_id, row.data.id);
        assert_eq!(row.entitlement_id, entitlement.id);
        assert_eq!(
            (&row.resource_type_id, &row.resource_id),
            (&resource.resource_type, &resource.resource)
        );
        assert_eq!(
            (&row.principal_resource_type_id, &row.principal_resource_id),
            (&principal.resource_type, &principal.resource)
        );
        assert_eq!((row.expansion.as_ref(), row.needs_expansion), (None, false));
        if row
            .data
            .sources
            .as_ref()
            .is_some_and(|s| !s.sources.is_empty())
        {
            with_sources += 1;
        }
        if proto::has_annotation::<GrantExpandable>(&row.data.annotations) {
            expandable += 1;
        }
    }
    assert_eq!(with_sources, 13271);
    assert_eq!(expandable, 409);
    // The spec's §10 sources vector: an expanded grant with two sources, sorted by key.
    let sample = grants
        .iter()
        .find(|g| g.external_id == "project:project-0000099:access:group:group-0000010")
        .unwrap();
    let keys: Vec<&str> = sample
        .data
        .sources
        .as_ref()
        .unwrap()
        .sources
        .iter()
        .map(|e| e.key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "group:group-0000019:member",
            "project:project-0000099:access"
        ]
    );
    let direct = grants
        .iter()
        .find(|g| g.external_id == "project:project-0000099:access:group:group-0000019")
        .unwrap();
    let expandable: GrantExpandable = proto::find_annotation(&direct.data.annotations)
        .unwrap()
        .unwrap();
    assert_eq!(
        expandable.entitlement_ids,
        ["group:group-0000019:member", "group:group-0000019:admin"]
    );
}

#[test]
fn c1z_go_files_are_not_modified_by_opening() {
    for path in [FULL, UNFINISHED] {
        let before = fs::read(path).unwrap();
        let file = open(path);
        file.connection()
            .execute_batch("delete from v1_grants")
            .unwrap();
        drop(file);
        assert_eq!(fs::read(path).unwrap(), before);
    }
}

#[test]
fn c1z_go_files_are_migrated_on_the_temp_copy() {
    let file = open(FULL);
    let sync_runs = column_names(file.connection(), "v1_sync_runs");
    for column in [
        "linked_sync_id",
        "supports_diff",
        "grants_backfilled",
        "stats",
        "ingest_invariant_mode",
    ] {
        assert!(sync_runs.iter().any(|c| c == column), "{column} missing");
    }
    let grants = column_names(file.connection(), "v1_grants");
    assert_eq!(grants[grants.len() - 2..], ["expansion", "needs_expansion"]);
}

#[test]
fn c1z_go_unfinished_sync_is_not_the_default_after_seven_days() {
    let file = open(UNFINISHED);
    let runs = file.sync_runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].sync_id, GO_SYNC_ID);
    assert_eq!(runs[0].started_at, "2025-12-17 16:31:25.057185");
    assert_eq!(runs[0].ended_at, None);
    assert!(runs[0]
        .sync_token
        .contains(r#""current_action":{"operation":"grant-expansion"}"#));
    // Started on 2025-12-17, long before now minus 7 days: Baton lists with no sync filter at all.
    let week_ago = clock::sqlite_time(&(clock::now() - chrono::TimeDelta::days(7)));
    assert!(runs[0].started_at < week_ago);
    assert_eq!(file.default_sync().unwrap(), None);
    assert_eq!(counts(&file, GO_SYNC_ID), [4, 1221, 342, 2909]);
}

#[test]
fn c1z_go_unfinished_sync_is_the_default_while_recent() {
    let dir = TempDir::new().unwrap();
    let conn = raw_database(Path::new(UNFINISHED), &dir);
    let db = dir.path().join("baton-sdk-unfinished-sync.c1z.db");
    let cases = [(1, Some(GO_SYNC_ID)), (6, Some(GO_SYNC_ID)), (8, None)];
    for (days, expected) in cases {
        let started = clock::sqlite_time(&(clock::now() - chrono::TimeDelta::days(days)));
        conn.execute("update v1_sync_runs set started_at = ?1", [&started])
            .unwrap();
        let out = dir.path().join(format!("recent-{days}.c1z"));
        frame_database(&db, &out);
        let file = C1zFile::open(&out, &DecodeLimits::default()).unwrap();
        let chosen = file.default_sync().unwrap();
        assert_eq!(
            chosen.as_ref().map(|r| r.sync_id.as_str()),
            expected,
            "{days} days ago"
        );
        if let Some(run) = chosen {
            assert_eq!(run.started_at, started);
        }
    }
}

fn new_records() -> SyncRecords {
    let org = Resource {
        id: Some(ResourceId::new("organization", "org-1")),
        display_name: "Org 1".into(),
        ..Default::default()
    };
    let user = Resource {
        id: Some(ResourceId::new("user", "alice")),
        parent_resource_id: org.id.clone(),
        display_name: "Alice".into(),
        ..Default::default()
    };
    let admin = Entitlement {
        resource: Some(org.clone()),
        id: "organization:org-1:admin".into(),
        display_name: "admin".into(),
        slug: "admin".into(),
        ..Default::default()
    };
    let grant = Grant {
        entitlement: Some(Entitlement {
            id: admin.id.clone(),
            resource: Some(org.clone()),
            ..Default::default()
        }),
        principal: Some(Resource {
            id: user.id.clone(),
            ..Default::default()
        }),
        id: "organization:org-1:admin:user:alice".into(),
        ..Default::default()
    };
    SyncRecords {
        resource_types: vec![
            ResourceType {
                id: "organization".into(),
                display_name: "Organization".into(),
                ..Default::default()
            },
            ResourceType {
                id: "user".into(),
                display_name: "User".into(),
                traits: vec![proto::Trait::User as i32],
                ..Default::default()
            },
        ],
        resources: vec![org, user],
        entitlements: vec![admin],
        grants: vec![grant],
    }
}

fn options(dir: &TempDir) -> WriteOptions {
    WriteOptions {
        temp_dir: Some(dir.path().to_path_buf()),
        ..WriteOptions::default()
    }
}

#[test]
fn c1z_writing_into_a_go_full_sync_keeps_it_and_becomes_the_default() {
    let dir = TempDir::new().unwrap();
    let work = TempDir::new().unwrap();
    let copy = copy_of(FULL, &dir);
    let original = open(FULL);
    let report = write_sync(&copy, &new_records(), clock::now(), &options(&work)).unwrap();
    assert_eq!(
        report.kept_sync_ids,
        [report.sync_id.clone(), GO_SYNC_ID.to_owned()]
    );
    assert!(report.removed_sync_ids.is_empty());
    assert_eq!(
        (
            report.resource_types,
            report.resources,
            report.entitlements,
            report.grants
        ),
        (2, 2, 1, 1)
    );

    let file = C1zFile::open(&copy, &DecodeLimits::default()).unwrap();
    let ids: Vec<String> = file
        .sync_runs()
        .unwrap()
        .into_iter()
        .map(|r| r.sync_id)
        .collect();
    assert_eq!(ids, [GO_SYNC_ID.to_owned(), report.sync_id.clone()]);
    assert_eq!(
        file.default_sync().unwrap().unwrap().sync_id,
        report.sync_id
    );
    assert_eq!(counts(&file, GO_SYNC_ID), [4, 1221, 342, 14981]);
    assert_eq!(counts(&file, &report.sync_id), [2, 2, 1, 1]);
    assert_eq!(
        file.grants(GO_SYNC_ID).unwrap(),
        original.grants(GO_SYNC_ID).unwrap()
    );
    assert_eq!(
        file.resources(GO_SYNC_ID).unwrap(),
        original.resources(GO_SYNC_ID).unwrap()
    );
    let old = file.sync_runs().unwrap().remove(0);
    assert_eq!(old, original.sync_runs().unwrap().remove(0));
    let alice = file.resources(&report.sync_id).unwrap().remove(1);
    assert_eq!(alice.parent_resource_id.as_deref(), Some("org-1"));

    let bytes = fs::read(&copy).unwrap();
    let db = zstd::decode_all(&bytes[5..]).unwrap();
    assert_eq!(&db[18..20], &[1, 1], "no longer a WAL-mode database");

    // The file itself (not just a reader's migrated copy) carries the latest columns.
    let raw_dir = TempDir::new().unwrap();
    let raw = raw_database(&copy, &raw_dir);
    let sync_runs = column_names(&raw, "v1_sync_runs");
    for column in [
        "sync_type",
        "parent_sync_id",
        "linked_sync_id",
        "supports_diff",
        "grants_backfilled",
        "stats",
        "ingest_invariant_generation",
        "ingest_invariant_coverage",
        "ingest_invariant_mode",
    ] {
        assert!(sync_runs.iter().any(|c| c == column), "{column} missing");
    }
    let grants = column_names(&raw, "v1_grants");
    assert_eq!(grants[grants.len() - 2..], ["expansion", "needs_expansion"]);
    let old_run: (String, i64, i64, Option<String>) = raw
        .query_row(
            "select linked_sync_id, supports_diff, grants_backfilled, stats from v1_sync_runs where sync_id = ?1",
            [GO_SYNC_ID],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(old_run, (String::new(), 0, 0, None));
    let check: String = raw
        .query_row("pragma integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    for index in schema::INDEXES {
        let found: i64 = raw
            .query_row(
                "select count(*) from sqlite_master where type = 'index' and name = ?1",
                [index],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 1, "{index}");
    }
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the c1z remains"
    );
}

#[test]
fn c1z_writing_twice_into_a_go_full_sync_drops_it() {
    let dir = TempDir::new().unwrap();
    let work = TempDir::new().unwrap();
    let copy = copy_of(FULL, &dir);
    let first = write_sync(&copy, &new_records(), clock::now(), &options(&work)).unwrap();
    let second = write_sync(&copy, &new_records(), clock::now(), &options(&work)).unwrap();
    assert_eq!(second.removed_sync_ids, [GO_SYNC_ID]);
    assert_eq!(
        second.kept_sync_ids,
        [second.sync_id.clone(), first.sync_id.clone()]
    );
    let file = C1zFile::open(&copy, &DecodeLimits::default()).unwrap();
    assert_eq!(counts(&file, GO_SYNC_ID), [0, 0, 0, 0]);
    let leftover: i64 = file
        .connection()
        .query_row(
            "select (select count(*) from v1_grants) + (select count(*) from v1_resources)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(leftover, 2 * (1 + 2), "the two new syncs");
}

#[test]
fn c1z_writing_into_a_go_unfinished_sync_leaves_it_alone() {
    let dir = TempDir::new().unwrap();
    let work = TempDir::new().unwrap();
    let copy = copy_of(UNFINISHED, &dir);
    let report = write_sync(&copy, &new_records(), clock::now(), &options(&work)).unwrap();
    assert_eq!(report.kept_sync_ids, std::slice::from_ref(&report.sync_id));
    let file = C1zFile::open(&copy, &DecodeLimits::default()).unwrap();
    let runs = file.sync_runs().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (runs[0].sync_id.as_str(), runs[0].ended_at.as_deref()),
        (GO_SYNC_ID, None)
    );
    assert_eq!(counts(&file, GO_SYNC_ID), [4, 1221, 342, 2909]);
    assert_eq!(
        file.default_sync().unwrap().unwrap().sync_id,
        report.sync_id
    );
}

#[test]
fn c1z_writing_into_a_v0_1_14_layout_file_migrates_it() {
    let dir = TempDir::new().unwrap();
    let work = TempDir::new().unwrap();
    let conn = raw_database(Path::new(FULL), &dir);
    conn.execute_batch(
        "alter table v1_sync_runs drop column sync_type;
         alter table v1_sync_runs drop column parent_sync_id;
         drop table v1_connector_sessions;",
    )
    .unwrap();
    drop(conn);
    let old = dir.path().join("old.c1z");
    frame_database(&dir.path().join("baton-sdk-full-sync.c1z.db"), &old);

    let report = write_sync(&old, &new_records(), clock::now(), &options(&work)).unwrap();
    assert_eq!(
        report.kept_sync_ids,
        [report.sync_id.clone(), GO_SYNC_ID.to_owned()]
    );
    let raw_dir = TempDir::new().unwrap();
    let raw = raw_database(&old, &raw_dir);
    let old_run: (String, String, String) = raw
        .query_row(
            "select sync_type, parent_sync_id, ingest_invariant_coverage from v1_sync_runs where sync_id = ?1",
            [GO_SYNC_ID],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(old_run, ("full".into(), String::new(), String::new()));
    let sessions: i64 = raw
        .query_row(
            "select count(*) from sqlite_master where name = 'v1_connector_sessions'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sessions, 1);
    let file = C1zFile::open(&old, &DecodeLimits::default()).unwrap();
    assert_eq!(counts(&file, GO_SYNC_ID), [4, 1221, 342, 14981]);
}
