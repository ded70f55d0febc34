//! The streaming write path of `sync` (records handed to the `.c1z` writer as they are produced, grants
//! expanded in its database) against the in-memory path (records built and expanded in memory, then
//! written as they are): the same rows, byte for byte.

mod common;

use baton_c1z::clock;
use baton_c1z::{write_sync, SyncWriter, WriteOptions, WriteReport};
use baton_elastic::snapshot::Snapshot;
use baton_elastic::syncers;
use rusqlite::Connection;
use std::path::Path;

fn demo_snapshot() -> Snapshot {
    common::fetch_snapshot(&common::demo_fake())
}

/// The rows of one table for one sync, in row order, without the sync id and discovery time.
fn rows(
    db: &Connection,
    table: &str,
    columns: &str,
    sync_id: &str,
) -> Vec<Vec<rusqlite::types::Value>> {
    let sql = format!("select {columns} from {table} where sync_id = ?1 order by id");
    let mut stmt = db.prepare(&sql).expect("query");
    let n = stmt.column_count();
    let rows = stmt
        .query_map([sync_id], |r| (0..n).map(|i| r.get(i)).collect())
        .expect("rows");
    rows.map(|r| r.expect("row")).collect()
}

fn decode(path: &Path, dir: &Path) -> Connection {
    let raw = std::fs::read(path).expect("read c1z");
    let db = dir.join(format!(
        "{}.db",
        path.file_name().expect("file name").to_string_lossy()
    ));
    std::fs::write(&db, zstd::decode_all(&raw[5..]).expect("zstd")).expect("write db");
    Connection::open(db).expect("open db")
}

#[test]
fn demo_tenant_expanded_in_the_database_gives_the_rows_expanded_in_memory() {
    let snapshot = demo_snapshot();
    let work = tempfile::tempdir().unwrap();
    let options = WriteOptions {
        temp_dir: Some(work.path().to_path_buf()),
        ..WriteOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();

    let in_memory = dir.path().join("memory.c1z");
    let records = syncers::records(&snapshot).expect("expands");
    let memory_report = write_sync(&in_memory, &records, clock::now(), &options).unwrap();

    let streamed = dir.path().join("streamed.c1z");
    let mut writer = SyncWriter::create(
        &streamed,
        &syncers::resource_types(),
        clock::now(),
        &options,
    )
    .unwrap();
    syncers::emit(&snapshot, &mut writer);
    let stream_report: WriteReport = writer.finish().unwrap();

    let a = decode(&in_memory, work.path());
    let b = decode(&streamed, work.path());
    let tables = [
        ("v1_resource_types", "external_id, data"),
        (
            "v1_resources",
            "resource_type_id, external_id, parent_resource_type_id, parent_resource_id, data",
        ),
        (
            "v1_entitlements",
            "resource_type_id, resource_id, external_id, data",
        ),
        (
            "v1_grants",
            "resource_type_id, resource_id, entitlement_id, principal_resource_type_id, \
             principal_resource_id, external_id, expansion, needs_expansion, data",
        ),
    ];
    for (table, columns) in tables {
        let expected = rows(&a, table, columns, &memory_report.sync_id);
        let got = rows(&b, table, columns, &stream_report.sync_id);
        assert!(!expected.is_empty(), "{table}");
        assert_eq!(got, expected, "{table}");
    }
    let expanded = records
        .grants
        .iter()
        .filter(|g| g.sources.is_some())
        .count();
    assert!(expanded > 0, "the demo tenant has expanded grants");
    assert_eq!(stream_report.grants, records.grants.len());
    let by_type: Vec<(String, usize)> = records
        .resource_types
        .iter()
        .map(|t| {
            let count = records
                .resources
                .iter()
                .filter(|r| r.id.as_ref().is_some_and(|id| id.resource_type == t.id))
                .count();
            (t.id.clone(), count)
        })
        .collect();
    assert_eq!(stream_report.resources_by_type, by_type);
    assert_eq!(memory_report.resources_by_type, by_type);
}
