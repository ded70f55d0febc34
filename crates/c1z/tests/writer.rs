//! Tests of the writer through the public API: the zstd framing, the schema and rows it writes, cleanup
//! of older syncs, refusal of foreign files, streaming and validation.

mod common;

use baton_c1z::clock::{self, Ksuid};
use baton_c1z::proto::{
    self, Entitlement, Grant, GrantExpandable, Resource, ResourceId, ResourceType,
    SkipEntitlementsAndGrants,
};
use baton_c1z::reader::parse_frame_header;
use baton_c1z::{schema, write_sync, write_sync_owned, SyncRecords, WriteOptions, MAGIC_V1};
use common::*;
use prost::Message;
use std::collections::BTreeSet;
use std::fs;

#[test]
fn c1z_writer_frames_one_checksummed_zstd_frame_with_content_size() {
    let fx = Fixture::new();
    let report = fx.write(&sample_records());
    let raw = fs::read(fx.target()).unwrap();
    assert_eq!(report.bytes, raw.len() as u64);
    assert_eq!(&raw[..5], b"C1ZF\0");
    assert_eq!(&raw[5..9], &[0x28, 0xb5, 0x2f, 0xfd]);
    let descriptor = raw[9];
    assert_ne!(descriptor & 0x04, 0, "checksum flag");
    assert_eq!(descriptor & 0x08, 0, "reserved bit");
    assert_eq!(descriptor & 0x03, 0, "no dictionary id");
    let single_segment = descriptor & 0x20 != 0;
    assert!(
        single_segment || descriptor >> 6 != 0,
        "content size present"
    );
    let header = parse_frame_header(&raw[5..]).unwrap();
    let decoded = zstd::decode_all(&raw[5..]).unwrap();
    assert_eq!(header.content_size, Some(decoded.len() as u64));
    assert!(header.window_size <= 8 << 20);
    assert!(header.has_checksum);
    let frame = zstd::zstd_safe::find_frame_compressed_size(&raw[5..]).unwrap();
    assert_eq!(frame, raw.len() - 5, "exactly one frame");
    assert_eq!(&decoded[..16], b"SQLite format 3\0");
    assert_eq!(&decoded[18..20], &[1, 1], "rollback-journal file, not WAL");
    fx.assert_no_leftovers();
}

#[test]
fn c1z_writer_large_database_uses_a_window_of_at_most_8_mib() {
    let fx = Fixture::new();
    let mut records = sample_records();
    let group = records.resources[1].clone();
    let member = records.entitlements[0].clone();
    for i in 0..40_000 {
        let mut user = resource("user", &format!("user-{i:08}"), None);
        user.description = format!("{i:x}").repeat(20);
        records.grants.push(grant(&member, &user));
        records.resources.push(user);
    }
    records.resources[1] = group;
    fx.write(&records);
    let raw = fs::read(fx.target()).unwrap();
    let header = parse_frame_header(&raw[5..]).unwrap();
    assert!(!header.single_segment);
    assert!(
        header.content_size.unwrap() > 8 << 20,
        "db must exceed the window"
    );
    assert!(raw[10] <= 0x68, "window descriptor {:#x}", raw[10]);
    assert!(header.window_size <= 8 << 20);
    let decoded = zstd::decode_all(&raw[5..]).unwrap();
    assert_eq!(header.content_size, Some(decoded.len() as u64));
    let db = decode_file(&fx.target());
    assert_integrity(&db.conn);
    let names = strings(
        &db.conn,
        "select name from sqlite_master where type = 'index' order by name",
    );
    let mut expected: Vec<&str> = schema::INDEXES.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected, "indexes rebuilt after the bulk insert");
    let by_principal = count(
        &db.conn,
        "select count(*) from v1_grants indexed by idx_grants_principal_id_v1
         where principal_resource_type_id = 'user' and principal_resource_id = 'user-00000007'",
    );
    assert_eq!(by_principal, 1);
    let by_type = count(
        &db.conn,
        "select count(*) from v1_resources indexed by idx_resources_resource_type_id_v1 where resource_type_id = 'user'",
    );
    assert_eq!(by_type, 40_002);
}

#[test]
fn c1z_writer_schema_has_exactly_the_expected_names() {
    let fx = Fixture::new();
    fx.write(&sample_records());
    let db = decode_file(&fx.target());
    let names: BTreeSet<String> = strings(&db.conn, "select name from sqlite_master")
        .into_iter()
        .collect();
    let expected: BTreeSet<String> = schema::TABLES
        .iter()
        .chain(schema::INDEXES.iter())
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, expected);
    assert_eq!(
        strings(
            &db.conn,
            "select name from sqlite_master where type = 'table' order by rowid"
        ),
        schema::TABLES
    );
}

#[test]
fn c1z_writer_sync_run_row() {
    let fx = Fixture::new();
    let started_at = clock::now();
    let report = write_sync(&fx.target(), &sample_records(), started_at, &fx.options()).unwrap();
    let db = decode_file(&fx.target());
    assert_eq!(report.sync_id.len(), 27);
    let ksuid = Ksuid::parse(&report.sync_id).unwrap();
    assert_eq!(ksuid.timestamp().timestamp(), started_at.timestamp());
    let row = db
        .conn
        .query_row(
            "select sync_id, started_at, ended_at, sync_token, sync_type, parent_sync_id, linked_sync_id,
                    supports_diff, grants_backfilled, stats, ingest_invariant_generation,
                    ingest_invariant_coverage, ingest_invariant_mode, typeof(started_at), typeof(ended_at)
             from v1_sync_runs",
            [],
            |r| {
                Ok((
                    (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?),
                    (r.get::<_, String>(3)?, r.get::<_, String>(4)?, r.get::<_, String>(5)?, r.get::<_, String>(6)?),
                    (r.get::<_, i64>(7)?, r.get::<_, i64>(8)?, r.get::<_, Option<String>>(9)?),
                    (r.get::<_, String>(10)?, r.get::<_, String>(11)?, r.get::<_, String>(12)?),
                    (r.get::<_, String>(13)?, r.get::<_, String>(14)?),
                ))
            },
        )
        .unwrap();
    let ((sync_id, started, ended), strs, (diff, backfilled, stats), ingest, types) = row;
    assert_eq!(sync_id, report.sync_id);
    assert_eq!(started, clock::sqlite_time(&started_at));
    let ended = ended.expect("ended_at set");
    assert_time_layout(&started);
    assert_time_layout(&ended);
    assert!(ended >= started);
    assert_eq!(strs, ("".into(), "full".into(), "".into(), "".into()));
    assert_eq!((diff, backfilled, stats), (0, 0, None));
    assert_eq!(ingest, ("".into(), "".into(), "".into()));
    assert_eq!(types, ("text".into(), "text".into()));
    assert_eq!(count(&db.conn, "select count(*) from v1_sync_runs"), 1);
}

#[test]
fn c1z_writer_columns_agree_with_blobs() {
    let fx = Fixture::new();
    let records = sample_records();
    let report = fx.write(&records);
    assert_eq!(
        (
            report.resource_types,
            report.resources,
            report.entitlements,
            report.grants
        ),
        (3, 4, 2, 4)
    );
    let db = decode_file(&fx.target());
    let c = &db.conn;
    assert_integrity(c);
    let other_sync = "select count(*) from (select sync_id from v1_resource_types union all select sync_id from v1_resources \
         union all select sync_id from v1_entitlements union all select sync_id from v1_grants) where sync_id != ?1";
    assert_eq!(
        c.query_row(other_sync, [&report.sync_id], |r| r.get::<_, i64>(0))
            .unwrap(),
        0
    );

    let mut stmt = c
        .prepare("select external_id, data, discovered_at from v1_resource_types order by id")
        .unwrap();
    let rows: Vec<(String, Vec<u8>, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 3);
    for ((external_id, data, discovered_at), expected) in rows.iter().zip(&records.resource_types) {
        let decoded = ResourceType::decode(data.as_slice()).unwrap();
        assert_eq!(&decoded, expected);
        assert_eq!(external_id, &decoded.id);
        assert_eq!(data, &expected.encode_to_vec());
        assert_time_layout(discovered_at);
    }

    let mut stmt = c
        .prepare(
            "select resource_type_id, external_id, parent_resource_type_id, parent_resource_id, data,
                    typeof(parent_resource_type_id), typeof(parent_resource_id) from v1_resources order by id",
        )
        .unwrap();
    type ResourceRow = (
        String,
        String,
        Option<String>,
        Option<String>,
        Vec<u8>,
        String,
        String,
    );
    let rows: Vec<ResourceRow> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let external_ids: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        external_ids,
        ["project:p1", "group:g1", "user:u1", "user:u2"],
        "input order kept"
    );
    for (row, expected) in rows.iter().zip(&records.resources) {
        let decoded = Resource::decode(row.4.as_slice()).unwrap();
        assert_eq!(&decoded, expected);
        let id = decoded.id.unwrap();
        assert_eq!(row.0, id.resource_type);
        assert_eq!(row.1, format!("{}:{}", id.resource_type, id.resource));
        match decoded.parent_resource_id {
            Some(parent) => {
                assert_eq!(row.2.as_deref(), Some(parent.resource_type.as_str()));
                assert_eq!(row.3.as_deref(), Some(parent.resource.as_str()));
            }
            None => {
                assert_eq!((row.2.as_deref(), row.3.as_deref()), (None, None));
                assert_eq!((row.5.as_str(), row.6.as_str()), ("null", "null"));
            }
        }
    }
    assert_eq!(
        count(
            c,
            "select count(*) from v1_resources where parent_resource_id is null"
        ),
        2
    );
    assert_eq!(
        count(
            c,
            "select count(*) from v1_resources where parent_resource_id = ''"
        ),
        0
    );

    let mut stmt = c
        .prepare("select resource_type_id, resource_id, external_id, data from v1_entitlements order by id")
        .unwrap();
    let rows: Vec<(String, String, String, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 2);
    for (row, expected) in rows.iter().zip(&records.entitlements) {
        let decoded = Entitlement::decode(row.3.as_slice()).unwrap();
        assert_eq!(&decoded, expected);
        let id = decoded.resource.unwrap().id.unwrap();
        assert_eq!(
            (&row.0, &row.1, &row.2),
            (&id.resource_type, &id.resource, &decoded.id)
        );
    }
    assert_eq!(rows[0].2, "group:g1:member");

    let mut stmt = c
        .prepare(
            "select resource_type_id, resource_id, entitlement_id, principal_resource_type_id,
                    principal_resource_id, external_id, expansion, needs_expansion, data from v1_grants order by id",
        )
        .unwrap();
    type GrantRow = (
        String,
        String,
        String,
        String,
        String,
        String,
        Option<Vec<u8>>,
        i64,
        Vec<u8>,
    );
    let rows: Vec<GrantRow> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 4);
    for (row, expected) in rows.iter().zip(&records.grants) {
        let decoded = Grant::decode(row.8.as_slice()).unwrap();
        assert_eq!(&decoded, expected);
        let entitlement = decoded.entitlement.unwrap();
        let resource = entitlement.resource.unwrap().id.unwrap();
        let principal = decoded.principal.unwrap().id.unwrap();
        assert_eq!(
            (&row.0, &row.1),
            (&resource.resource_type, &resource.resource)
        );
        assert_eq!(row.2, entitlement.id);
        assert_eq!(
            (&row.3, &row.4),
            (&principal.resource_type, &principal.resource)
        );
        assert_eq!(row.5, decoded.id);
        assert_eq!(
            (row.6.as_ref(), row.7),
            (None, 0),
            "expansion NULL, needs_expansion 0"
        );
    }
    let expandable = Grant::decode(rows[3].8.as_slice()).unwrap();
    let annotation: Option<GrantExpandable> =
        proto::find_annotation(&expandable.annotations).unwrap();
    assert_eq!(
        annotation.unwrap().entitlement_ids,
        ["group:g1:member"],
        "kept inside data"
    );
    assert_eq!(rows[3].5, "project:p1:admin:group:g1");
    assert_eq!(
        count(
            c,
            "select count(*) from v1_grants where typeof(expansion) != 'null'"
        ),
        0
    );
}

#[test]
fn c1z_writer_keeps_the_newest_two_syncs_by_default() {
    let fx = Fixture::new();
    let records = sample_records();
    let first = fx.write(&records);
    let second = fx.write(&records);
    assert_eq!(
        second.kept_sync_ids,
        [second.sync_id.clone(), first.sync_id.clone()]
    );
    assert!(second.removed_sync_ids.is_empty());
    let third = fx.write(&records);
    assert_eq!(third.removed_sync_ids, std::slice::from_ref(&first.sync_id));
    assert_eq!(
        third.kept_sync_ids,
        [third.sync_id.clone(), second.sync_id.clone()]
    );
    let db = decode_file(&fx.target());
    assert_eq!(
        strings(
            &db.conn,
            "select sync_id from v1_sync_runs order by ended_at"
        ),
        [second.sync_id.clone(), third.sync_id.clone()]
    );
    for table in schema::TABLES {
        let sql = format!(
            "select count(*) from {table} where sync_id = '{}'",
            first.sync_id
        );
        assert_eq!(
            count(&db.conn, &sql),
            0,
            "{table} keeps rows of the removed sync"
        );
    }
    for sync in [&second, &third] {
        let sql = format!(
            "select count(*) from v1_grants where sync_id = '{}'",
            sync.sync_id
        );
        assert_eq!(count(&db.conn, &sql), 4);
        let sql = format!(
            "select count(*) from v1_resources where sync_id = '{}'",
            sync.sync_id
        );
        assert_eq!(count(&db.conn, &sql), 4);
    }
    fx.assert_no_leftovers();
}

#[test]
fn c1z_writer_cleanup_keeps_the_newest_sync_across_a_clock_change() {
    let fx = Fixture::new();
    let records = sample_records();
    let older = fx.write(&records);
    let newer = fx.write(&records);
    // Wall-clock text of local times around a DST fall-back (or a move to a zone further west): the
    // newer sync ended later but its text sorts first.
    edit_file(
        &fx.target(),
        &format!(
            "update v1_sync_runs set started_at = '2024-11-03 01:40:00', ended_at = '2024-11-03 01:50:00'
                 where sync_id = '{}';
             update v1_sync_runs set started_at = '2024-11-03 01:05:00', ended_at = '2024-11-03 01:10:00'
                 where sync_id = '{}';",
            older.sync_id, newer.sync_id
        ),
    );
    let third = fx.write(&records);
    assert_eq!(third.removed_sync_ids, std::slice::from_ref(&older.sync_id));
    assert_eq!(
        third.kept_sync_ids,
        [third.sync_id.clone(), newer.sync_id.clone()]
    );
    let db = decode_file(&fx.target());
    assert_eq!(
        count(
            &db.conn,
            &format!(
                "select count(*) from v1_grants where sync_id = '{}'",
                newer.sync_id
            )
        ),
        4
    );
    fx.assert_no_leftovers();
}

#[test]
fn c1z_writer_keep_one_and_skip_cleanup() {
    let fx = Fixture::new();
    let records = sample_records();
    let keep_one = WriteOptions {
        keep_sync_count: 1,
        ..fx.options()
    };
    let first = fx.write_with(&records, &keep_one).unwrap();
    let second = fx.write_with(&records, &keep_one).unwrap();
    assert_eq!(
        second.removed_sync_ids,
        std::slice::from_ref(&first.sync_id)
    );
    assert_eq!(second.kept_sync_ids, std::slice::from_ref(&second.sync_id));
    let keep_zero = WriteOptions {
        keep_sync_count: 0,
        ..fx.options()
    };
    let zero = fx.write_with(&records, &keep_zero).unwrap();
    assert_eq!(
        zero.removed_sync_ids,
        std::slice::from_ref(&second.sync_id),
        "0 keeps the new sync only"
    );
    assert_eq!(zero.kept_sync_ids, std::slice::from_ref(&zero.sync_id));
    let skip = WriteOptions {
        keep_sync_count: 1,
        skip_cleanup: true,
        ..fx.options()
    };
    let third = fx.write_with(&records, &skip).unwrap();
    let fourth = fx.write_with(&records, &skip).unwrap();
    assert!(fourth.removed_sync_ids.is_empty());
    assert_eq!(
        fourth.kept_sync_ids,
        [
            fourth.sync_id.clone(),
            third.sync_id.clone(),
            zero.sync_id.clone()
        ]
    );
    let db = decode_file(&fx.target());
    assert_eq!(count(&db.conn, "select count(*) from v1_sync_runs"), 3);
    assert_eq!(count(&db.conn, "select count(*) from v1_grants"), 12);
}

#[test]
fn c1z_writer_vacuums_space_freed_by_cleanup() {
    let fx = Fixture::new();
    let mut big = sample_records();
    let member = big.entitlements[0].clone();
    for i in 0..20_000 {
        let user = resource("user", &format!("user-{i:06}"), None);
        big.grants.push(grant(&member, &user));
        big.resources.push(user);
    }
    let keep_one = WriteOptions {
        keep_sync_count: 1,
        ..fx.options()
    };
    fx.write_with(&big, &keep_one).unwrap();
    let big_pages = count(&decode_file(&fx.target()).conn, "pragma page_count");
    let small = fx.write_with(&sample_records(), &keep_one).unwrap();
    assert_eq!(small.removed_sync_ids.len(), 1);
    let db = decode_file(&fx.target());
    assert_eq!(count(&db.conn, "pragma freelist_count"), 0);
    let small_pages = count(&db.conn, "pragma page_count");
    assert!(
        small_pages * 4 < big_pages,
        "{small_pages} pages after cleanup, {big_pages} before"
    );
    assert_integrity(&db.conn);

    let skip = WriteOptions {
        skip_cleanup: true,
        ..keep_one.clone()
    };
    fx.write_with(&big, &keep_one).unwrap();
    fx.write_with(&big, &skip).unwrap();
    assert_eq!(
        count(
            &decode_file(&fx.target()).conn,
            "select count(*) from v1_sync_runs"
        ),
        2
    );
}

#[test]
fn c1z_writer_cleanup_leaves_unfinished_and_partial_syncs() {
    let fx = Fixture::new();
    let records = sample_records();
    fx.write(&records);
    let db = decode_file(&fx.target());
    db.conn
        .execute_batch(
            "insert into v1_sync_runs (sync_id, started_at, ended_at, sync_token, sync_type)
                 values ('unfinished', '2020-01-01 00:00:00', null, '', 'full'),
                        ('partial', '2020-01-01 00:00:00', '2020-01-01 00:00:01', '', 'partial');
             insert into v1_grants (resource_type_id, resource_id, entitlement_id, principal_resource_type_id,
                 principal_resource_id, external_id, data, sync_id, discovered_at)
                 values ('a', 'b', 'c', 'd', 'e', 'f', x'', 'unfinished', '2020-01-01 00:00:00');",
        )
        .unwrap();
    drop(db.conn);
    let mut out = MAGIC_V1.to_vec();
    out.extend(
        zstd::encode_all(fs::read(db._dir.path().join("db")).unwrap().as_slice(), 3).unwrap(),
    );
    fs::write(fx.target(), out).unwrap();
    let keep_one = WriteOptions {
        keep_sync_count: 1,
        ..fx.options()
    };
    let report = fx.write_with(&records, &keep_one).unwrap();
    assert_eq!(report.removed_sync_ids.len(), 1);
    let db = decode_file(&fx.target());
    assert_eq!(
        strings(&db.conn, "select sync_id from v1_sync_runs where sync_id in ('unfinished', 'partial') order by sync_id"),
        ["partial", "unfinished"]
    );
    assert_eq!(
        count(
            &db.conn,
            "select count(*) from v1_grants where sync_id = 'unfinished'"
        ),
        1
    );
}

#[test]
fn c1z_writer_refuses_a_file_that_is_not_a_c1z() {
    let fx = Fixture::new();
    fs::write(fx.target(), "hello, this is a text file\n").unwrap();
    let err = fx.write_with(&sample_records(), &fx.options()).unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("is not a c1z file"), "{message}");
    assert!(message.contains("sync.c1z"), "{message}");
    assert_eq!(
        fs::read(fx.target()).unwrap(),
        b"hello, this is a text file\n"
    );
    fx.assert_no_leftovers();
}

#[test]
fn c1z_writer_refuses_v3_files() {
    let fx = Fixture::new();
    fs::write(fx.target(), b"C1Z3\0\x01\x02").unwrap();
    let message = format!(
        "{:#}",
        fx.write_with(&sample_records(), &fx.options()).unwrap_err()
    );
    assert!(
        message.contains("C1Z3 (Pebble) files are not supported"),
        "{message}"
    );
    assert_eq!(fs::read(fx.target()).unwrap(), b"C1Z3\0\x01\x02");
    fx.assert_no_leftovers();
}

#[test]
fn c1z_writer_refuses_corrupt_zstd_and_sqlite() {
    let fx = Fixture::new();
    let corrupt_zstd = b"C1ZF\0\x28\xb5\x2f\xfd garbage garbage".to_vec();
    fs::write(fx.target(), &corrupt_zstd).unwrap();
    let message = format!(
        "{:#}",
        fx.write_with(&sample_records(), &fx.options()).unwrap_err()
    );
    assert!(message.contains("sync.c1z"), "{message}");
    assert_eq!(fs::read(fx.target()).unwrap(), corrupt_zstd);
    fx.assert_no_leftovers();

    let mut not_sqlite = MAGIC_V1.to_vec();
    not_sqlite.extend(zstd::encode_all(&[7u8; 10_000][..], 3).unwrap());
    fs::write(fx.target(), &not_sqlite).unwrap();
    let message = format!(
        "{:#}",
        fx.write_with(&sample_records(), &fx.options()).unwrap_err()
    );
    assert!(
        message.contains("sync.c1z") && message.contains("SQLite"),
        "{message}"
    );
    assert_eq!(fs::read(fx.target()).unwrap(), not_sqlite);
    fx.assert_no_leftovers();
}

#[test]
fn c1z_writer_accepts_an_empty_target() {
    let fx = Fixture::new();
    fs::write(fx.target(), b"").unwrap();
    let report = fx.write(&sample_records());
    assert_eq!(report.kept_sync_ids, std::slice::from_ref(&report.sync_id));
    let db = decode_file(&fx.target());
    assert_eq!(count(&db.conn, "select count(*) from v1_grants"), 4);
}

#[test]
fn c1z_sync_writer_latched_error_fails_finish_and_keeps_the_file() {
    let fx = Fixture::new();
    fx.write(&sample_records());
    let before = fs::read(fx.target()).unwrap();
    let mut invalid = sample_records();
    invalid.grants[1].principal = None;
    // A later invalid record does not replace the first error.
    invalid.grants[2].entitlement = None;
    let writer = stream(&fx, &invalid);
    assert!(!listing(fx.work.path()).is_empty(), "working dir in use");
    let message = format!("{:#}", writer.finish().unwrap_err());
    assert!(
        message.contains("the principal.id of grant \"group:g1:member:user:u2\" is missing"),
        "{message}"
    );
    assert!(message.contains("write sync"), "{message}");
    assert!(message.contains("sync.c1z"), "{message}");
    assert!(!message.contains("has no entitlement"), "{message}");
    assert_eq!(fs::read(fx.target()).unwrap(), before);
    fx.assert_no_leftovers();
}

#[test]
fn c1z_sync_writer_dropped_unfinished_keeps_the_file() {
    let fx = Fixture::new();
    fx.write(&sample_records());
    let before = fs::read(fx.target()).unwrap();
    let writer = stream(&fx, &sample_records());
    assert!(!listing(fx.work.path()).is_empty(), "working dir in use");
    drop(writer);
    assert_eq!(fs::read(fx.target()).unwrap(), before);
    fx.assert_no_leftovers();

    // Nothing is created for a new target either.
    let fresh = Fixture::new();
    drop(stream(&fresh, &sample_records()));
    assert_eq!(fresh.listing(), Vec::<String>::new());
    assert!(listing(fresh.work.path()).is_empty());
}

#[test]
fn c1z_sync_writer_expands_like_the_records_store() {
    let fx = Fixture::new();
    let mut expanded = sample_records();
    let report = baton_c1z::expand::expand_records(&mut expanded).unwrap();
    assert_eq!((report.created, report.updated), (1, 1));
    let a = fx.write(&expanded);
    let b = stream(&fx, &sample_records()).finish().unwrap();
    assert_eq!(b.grants, 5);
    let db = decode_file(&fx.target());
    let blobs = |sync_id: &str| grant_blobs(&db.conn, sync_id);
    assert_eq!(blobs(&b.sync_id), blobs(&a.sync_id));
    assert_eq!(
        b.resources_by_type,
        [
            ("user".to_owned(), 2),
            ("group".to_owned(), 1),
            ("project".to_owned(), 1)
        ]
    );
}

#[test]
fn c1z_sync_writer_expands_chains_like_the_records_store() {
    let fx = Fixture::new();
    let mut records = sample_records();
    records.grants.clear();

    let g1 = records.resources[1].clone();
    let g2 = resource("group", "g2", Some(("project", "p1")));
    let u3 = resource("user", "u3", None);
    let (u1, u2) = (records.resources[2].clone(), records.resources[3].clone());
    records.resources.extend([g2.clone(), u3.clone()]);
    let (g1_member, admin) = (
        records.entitlements[0].clone(),
        records.entitlements[1].clone(),
    );
    let g2_member = entitlement(&g2, "member");
    records.entitlements.push(g2_member.clone());
    let expandable = |mut g: Grant, source: &Entitlement| {
        g.annotations = vec![proto::any(&GrantExpandable {
            entitlement_ids: vec![source.id.clone()],
            shallow: false,
            resource_type_ids: Vec::new(),
        })];
        g
    };
    // u1's grant stores its principal with a display name, which the grants it gets keep.
    let mut named = grant(&g2_member, &u1);
    named.principal.as_mut().unwrap().display_name = "User One".into();
    records.grants = vec![
        grant(&g1_member, &u3),
        expandable(grant(&admin, &g1), &g1_member),
        named,
        grant(&g2_member, &u2),
        grant(&admin, &u2),
        expandable(grant(&g1_member, &g2), &g2_member),
    ];
    let mut expanded = records.clone();
    let report = baton_c1z::expand::expand_records(&mut expanded).unwrap();
    assert_eq!((report.created, report.updated), (5, 1));
    let a = fx.write(&expanded);
    let b = stream(&fx, &records).finish().unwrap();
    assert_eq!((a.grants, b.grants), (11, 11));
    let db = decode_file(&fx.target());
    let blobs = |sync_id: &str| grant_blobs(&db.conn, sync_id);
    assert_eq!(blobs(&b.sync_id), blobs(&a.sync_id));
    let u1_admin = Grant::decode(
        blobs(&b.sync_id)
            .iter()
            .find(|(id, _)| id == "project:p1:admin:user:u1")
            .expect("u1 is an admin through g2 and g1")
            .1
            .as_slice(),
    )
    .unwrap();
    assert_eq!(u1_admin.principal.unwrap().display_name, "User One");
}

#[test]
fn c1z_writer_validation_names_the_object() {
    let fx = Fixture::new();
    type Mutation = Box<dyn Fn(&mut SyncRecords)>;
    let cases: Vec<(Mutation, &str)> = vec![
        (
            Box::new(|r| r.resource_types[1].id.clear()),
            "resource type #1 (\"GROUP\") has no id",
        ),
        (
            Box::new(|r| r.resources[2].id = None),
            "the id of resource #2 (\"user u1\") is missing",
        ),
        (
            Box::new(|r| r.resources[3].parent_resource_id = Some(ResourceId::default())),
            "the parent_resource_id of resource user:u2 is incomplete",
        ),
        (
            Box::new(|r| r.entitlements[1].resource = None),
            "the resource.id of entitlement \"project:p1:admin\" is missing",
        ),
        (
            Box::new(|r| r.grants[0].entitlement = None),
            "grant \"group:g1:member:user:u1\" has no entitlement",
        ),
        (
            Box::new(|r| r.grants[1].entitlement.as_mut().unwrap().resource = None),
            "the entitlement.resource.id of grant \"group:g1:member:user:u2\" is missing",
        ),
        (
            Box::new(|r| r.grants[3].principal = None),
            "the principal.id of grant \"project:p1:admin:group:g1\" is missing",
        ),
    ];
    for (mutate, expected) in cases {
        let mut records = sample_records();
        mutate(&mut records);
        let message = format!("{:#}", fx.write_with(&records, &fx.options()).unwrap_err());
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    }
    assert_eq!(fx.listing(), Vec::<String>::new(), "nothing created");
}

#[test]
fn c1z_writer_duplicate_grant_keeps_the_last() {
    let fx = Fixture::new();
    let mut records = sample_records();
    let mut duplicate = records.grants[0].clone();
    duplicate.annotations = vec![proto::any(&SkipEntitlementsAndGrants {})];
    records.grants.push(duplicate.clone());
    // Records in memory are upserted into indexed tables; streamed ones are appended to a grant table
    // without indexes and merged afterwards. Both store what the upserts give, and the second write
    // leaves the first sync's rows as they were.
    let written = fx.write(&records);
    let streamed = stream(&fx, &records).finish().unwrap();
    let db = decode_file(&fx.target());
    // The streamed sync is expanded too: one grant more.
    assert_eq!((written.grants, streamed.grants), (4, 5));
    for report in [&written, &streamed] {
        let rows = grant_blobs(&db.conn, &report.sync_id);
        assert_eq!(rows.len(), report.grants, "{rows:?}");
        assert_eq!(rows[0].0, duplicate.id, "the row keeps its position");
        assert_eq!(rows[0].1, duplicate.encode_to_vec(), "with the last data");
        assert_eq!(rows.iter().filter(|(id, _)| *id == duplicate.id).count(), 1);
    }
    assert_integrity(&db.conn);
}

#[test]
fn c1z_sync_writer_expands_through_a_repeated_grant_as_through_one() {
    let fx = Fixture::new();
    let once = stream(&fx, &sample_records()).finish().unwrap();
    let mut records = sample_records();
    // Every grant given twice, the expandable ones included.
    records.grants.extend(records.grants.clone());
    let twice = stream(&fx, &records).finish().unwrap();
    assert_eq!((once.grants, twice.grants), (5, 5));
    let db = decode_file(&fx.target());
    let blobs = |sync_id: &str| grant_blobs(&db.conn, sync_id);
    assert_eq!(blobs(&twice.sync_id), blobs(&once.sync_id));
    assert_integrity(&db.conn);
}

#[test]
fn c1z_writer_same_records_give_identical_blobs() {
    let fx = Fixture::new();
    let records = sample_records();
    let a = fx.write(&records);
    // The same rows, handed over by value.
    let b = write_sync_owned(&fx.target(), records, clock::now(), &fx.options()).unwrap();
    let db = decode_file(&fx.target());
    for table in [
        "v1_resource_types",
        "v1_resources",
        "v1_entitlements",
        "v1_grants",
    ] {
        let blobs = |sync_id: &str| -> Vec<(String, Vec<u8>)> {
            let sql =
                format!("select external_id, data from {table} where sync_id = ?1 order by id");
            let mut stmt = db.conn.prepare(&sql).unwrap();
            let rows = stmt
                .query_map([sync_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap();
            rows.map(Result::unwrap).collect()
        };
        let (first, second) = (blobs(&a.sync_id), blobs(&b.sync_id));
        assert!(!first.is_empty());
        assert_eq!(first, second, "{table}");
    }
}

#[test]
fn c1z_writer_clamps_the_zstd_level() {
    for level in [-5, 0, 22] {
        let fx = Fixture::new();
        let options = WriteOptions {
            zstd_level: level,
            ..fx.options()
        };
        fx.write_with(&sample_records(), &options).unwrap();
        let raw = fs::read(fx.target()).unwrap();
        let header = parse_frame_header(&raw[5..]).unwrap();
        assert!(header.window_size <= 8 << 20, "level {level}");
        assert!(zstd::decode_all(&raw[5..]).is_ok());
    }
}

#[cfg(unix)]
#[test]
fn c1z_writer_keeps_the_target_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    fx.write(&sample_records());
    fs::set_permissions(fx.target(), fs::Permissions::from_mode(0o640)).unwrap();
    fx.write(&sample_records());
    let mode = fs::metadata(fx.target()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
}

#[test]
fn c1z_write_options_defaults() {
    let options = WriteOptions::default();
    assert_eq!(options.keep_sync_count, 2);
    assert!(!options.skip_cleanup);
    assert_eq!(options.temp_dir, None);
    assert_eq!(options.zstd_level, 3);
}

#[test]
fn c1z_writer_reports_the_decoded_size_and_refuses_a_file_over_the_cap() {
    let fx = Fixture::new();
    let first = fx.write(&sample_records());
    let raw = fs::read(fx.target()).unwrap();
    assert_eq!(
        first.decoded_bytes,
        zstd::decode_all(&raw[5..]).unwrap().len() as u64
    );
    let options = WriteOptions {
        max_decoded_bytes: first.decoded_bytes - 1,
        ..fx.options()
    };
    let err = fx.write_with(&sample_records(), &options).unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("more than the"), "{message}");
    assert!(message.contains("previous file is unchanged"), "{message}");
    assert_eq!(
        fs::read(fx.target()).unwrap(),
        raw,
        "the target is untouched"
    );
    fx.assert_no_leftovers();
}

/// Records the phases a writer reports, shared with the test through a cell.
#[derive(Clone, Default)]
struct PhaseLog(std::rc::Rc<std::cell::RefCell<Vec<(String, String)>>>);

impl baton_c1z::progress::WriteProgress for PhaseLog {
    fn started(&mut self, phase: baton_c1z::progress::Phase, total: Option<u64>) {
        self.0
            .borrow_mut()
            .push(("start".into(), format!("{} {total:?}", phase.label())));
    }
    fn finished(
        &mut self,
        phase: baton_c1z::progress::Phase,
        done: u64,
        _elapsed: std::time::Duration,
    ) {
        self.0
            .borrow_mut()
            .push(("end".into(), format!("{} {done}", phase.label())));
    }
}

#[test]
fn c1z_writer_reports_each_phase_with_its_count() {
    let fx = Fixture::new();
    let records = sample_records();
    let log = PhaseLog::default();
    let mut writer = baton_c1z::SyncWriter::create(
        &fx.target(),
        &records.resource_types,
        clock::now(),
        &fx.options(),
    )
    .unwrap();
    writer.set_progress(Box::new(log.clone()));
    let rows = records.resources.len() + records.entitlements.len() + records.grants.len();
    for r in records.resources {
        baton_c1z::RecordSink::resource(&mut writer, r);
    }
    for e in records.entitlements {
        baton_c1z::RecordSink::entitlement(&mut writer, e);
    }
    for g in records.grants {
        baton_c1z::RecordSink::grant(&mut writer, g);
    }
    let report = writer.finish().unwrap();
    let ends: Vec<String> = log
        .0
        .borrow()
        .iter()
        .filter(|(kind, _)| kind == "end")
        .map(|(_, what)| what.clone())
        .collect();
    assert_eq!(
        ends,
        vec![
            format!("writing rows {rows}"),
            "expanding grants 1".to_owned(),
            "building indexes 0".to_owned(),
            "compacting the database 0".to_owned(),
            format!("compressing {}", report.decoded_bytes),
        ]
    );
    let starts = log.0.borrow().iter().filter(|(k, _)| k == "start").count();
    assert_eq!(starts, ends.len(), "every phase started is ended once");
}

#[test]
fn c1z_writer_stores_slim_grant_entitlements_unless_told_not_to() {
    let mut records = sample_records();
    let trait_annotation = proto::any(&proto::GroupTrait::default());
    for grant in &mut records.grants {
        let entitlement = grant.entitlement.as_mut().unwrap();
        entitlement.description = "described".into();
        entitlement.slug = "member".into();
        let resource = entitlement.resource.as_mut().unwrap();
        resource.annotations = vec![trait_annotation.clone()];
        resource.description = "a resource".into();
    }
    for slim in [true, false] {
        let fx = Fixture::new();
        let options = WriteOptions {
            slim_grants: slim,
            ..fx.options()
        };
        fx.write_with(&records, &options).unwrap();
        let file = baton_c1z::C1zFile::open(&fx.target(), &Default::default()).unwrap();
        let sync = file.default_sync().unwrap().unwrap();
        let stored = file.grants(&sync.sync_id).unwrap();
        assert_eq!(stored.len(), records.grants.len());
        for row in stored {
            let given = records.grants.iter().find(|g| g.id == row.data.id).unwrap();
            let entitlement = row.data.entitlement.as_ref().unwrap();
            let resource = entitlement.resource.as_ref().unwrap();
            let given_resource = given
                .entitlement
                .as_ref()
                .unwrap()
                .resource
                .as_ref()
                .unwrap();
            assert_eq!(entitlement.id, given.entitlement.as_ref().unwrap().id);
            assert_eq!(resource.id, given_resource.id);
            assert_eq!(
                resource.parent_resource_id,
                given_resource.parent_resource_id
            );
            assert_eq!(resource.display_name, given_resource.display_name);
            assert_eq!(row.data.principal, given.principal);
            assert_eq!(row.data.annotations, given.annotations);
            if slim {
                assert!(resource.annotations.is_empty() && resource.description.is_empty());
                assert!(entitlement.description.is_empty() && entitlement.slug.is_empty());
            } else {
                assert_eq!(&row.data, given);
            }
        }
    }
}

/// The grant ids and blobs of one sync, in row order.
fn grant_blobs(conn: &rusqlite::Connection, sync_id: &str) -> Vec<(String, Vec<u8>)> {
    let mut stmt = conn
        .prepare("select external_id, data from v1_grants where sync_id = ?1 order by id")
        .expect("test helper");
    let rows = stmt
        .query_map([sync_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("test helper");
    rows.map(|row| row.expect("test helper")).collect()
}
