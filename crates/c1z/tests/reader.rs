//! Tests of the reader through the public API: reading back what the writer wrote, refusing foreign and
//! corrupt files, the decoder limits, the sync a Baton reader shows by default, and zstd frame headers.

use baton_c1z::clock;
use baton_c1z::proto::{Entitlement, Grant, Resource, ResourceId, ResourceType};
use baton_c1z::reader::{parse_frame_header, FrameHeader, RowFilter, Table};
use baton_c1z::{
    schema, write_sync, C1zFile, DecodeLimits, FormatError, SyncRecords, WriteOptions, MAGIC_V1,
};
use prost::Message;
use rusqlite::Connection;
use std::fs;
use std::io::Write;
use std::path::Path;
use tempfile::TempDir;

fn records() -> SyncRecords {
    let team = Resource {
        id: Some(ResourceId::new("team", "t1")),
        display_name: "Team 1".into(),
        ..Default::default()
    };
    let user = Resource {
        id: Some(ResourceId::new("user", "u1")),
        parent_resource_id: Some(ResourceId::new("team", "t1")),
        display_name: "User 1".into(),
        ..Default::default()
    };
    let member = Entitlement {
        resource: Some(team.clone()),
        id: "team:t1:member".into(),
        display_name: "member".into(),
        ..Default::default()
    };
    let grant = Grant {
        entitlement: Some(Entitlement {
            id: member.id.clone(),
            resource: Some(team.clone()),
            ..Default::default()
        }),
        principal: Some(Resource {
            id: user.id.clone(),
            ..Default::default()
        }),
        id: "team:t1:member:user:u1".into(),
        ..Default::default()
    };
    SyncRecords {
        resource_types: vec![
            ResourceType {
                id: "team".into(),
                display_name: "Team".into(),
                ..Default::default()
            },
            ResourceType {
                id: "user".into(),
                display_name: "User".into(),
                ..Default::default()
            },
        ],
        resources: vec![team, user],
        entitlements: vec![member],
        grants: vec![grant],
    }
}

fn written(dir: &TempDir) -> (std::path::PathBuf, String) {
    let path = dir.path().join("in.c1z");
    let report =
        write_sync(&path, &records(), clock::now(), &WriteOptions::default()).expect("test helper");
    (path, report.sync_id)
}

/// A c1z made of a raw SQLite database prepared by `sql`, framed by the zstd crate with `frame`.
fn raw_c1z(dir: &TempDir, sql: &str, frame: impl Fn(&[u8]) -> Vec<u8>) -> std::path::PathBuf {
    let db = dir.path().join("raw.db");
    let conn = Connection::open(&db).expect("test helper");
    schema::migrate(&conn).expect("test helper");
    conn.execute_batch(sql).expect("test helper");
    conn.close().expect("test helper");
    let mut bytes = MAGIC_V1.to_vec();
    bytes.extend(frame(&fs::read(&db).expect("test helper")));
    let path = dir.path().join("raw.c1z");
    fs::write(&path, bytes).expect("test helper");
    path
}

fn open_err(path: &Path, limits: &DecodeLimits) -> String {
    match C1zFile::open(path, limits) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => format!("{e:#}"),
    }
}

fn run(sync_id: &str, started_at: &str, ended_at: Option<&str>, sync_type: &str) -> String {
    let ended = ended_at.map_or("null".to_owned(), |e| format!("'{e}'"));
    format!(
        "insert into v1_sync_runs (sync_id, started_at, ended_at, sync_token, sync_type)
         values ('{sync_id}', '{started_at}', {ended}, '', '{sync_type}');"
    )
}

#[test]
fn c1z_reader_reads_back_what_the_writer_wrote() {
    let dir = TempDir::new().unwrap();
    let (path, sync_id) = written(&dir);
    let file = C1zFile::open(&path, &DecodeLimits::default()).unwrap();
    let runs = file.sync_runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].sync_id, sync_id);
    assert_eq!(runs[0].sync_type, "full");
    assert_eq!(runs[0].sync_token, "");
    assert_eq!(runs[0].parent_sync_id, "");
    assert!(runs[0].ended_at.is_some());
    assert_eq!(file.default_sync().unwrap(), Some(runs[0].clone()));
    let input = records();
    let types = file.resource_types(&sync_id).unwrap();
    assert_eq!(
        types.iter().map(|r| &r.data).collect::<Vec<_>>(),
        input.resource_types.iter().collect::<Vec<_>>()
    );
    assert_eq!(types[0].external_id, "team");
    let resources = file.resources(&sync_id).unwrap();
    assert_eq!(resources.len(), 2);
    assert_eq!(resources[0].external_id, "team:t1");
    assert_eq!(
        (
            resources[0].parent_resource_type_id.as_deref(),
            resources[0].parent_resource_id.as_deref()
        ),
        (None, None)
    );
    assert_eq!(resources[1].external_id, "user:u1");
    assert_eq!(
        resources[1].parent_resource_type_id.as_deref(),
        Some("team")
    );
    assert_eq!(resources[1].parent_resource_id.as_deref(), Some("t1"));
    assert_eq!(resources[1].data, input.resources[1]);
    assert!(clock::parse_sqlite_time(&resources[1].discovered_at).is_some());
    let entitlements = file.entitlements(&sync_id).unwrap();
    assert_eq!(entitlements.len(), 1);
    assert_eq!(
        (
            entitlements[0].resource_type_id.as_str(),
            entitlements[0].resource_id.as_str(),
            entitlements[0].external_id.as_str()
        ),
        ("team", "t1", "team:t1:member")
    );
    let grants = file.grants(&sync_id).unwrap();
    assert_eq!(grants.len(), 1);
    let g = &grants[0];
    assert_eq!(
        [
            &g.resource_type_id,
            &g.resource_id,
            &g.entitlement_id,
            &g.principal_resource_type_id,
            &g.principal_resource_id,
            &g.external_id
        ],
        [
            "team",
            "t1",
            "team:t1:member",
            "user",
            "u1",
            "team:t1:member:user:u1"
        ]
    );
    assert_eq!((g.expansion.as_ref(), g.needs_expansion), (None, false));
    assert_eq!(g.data, input.grants[0]);
    assert!(file.grants("another-sync").unwrap().is_empty());
}

#[test]
fn c1z_reader_never_modifies_the_source() {
    let dir = TempDir::new().unwrap();
    let (path, _) = written(&dir);
    let before = fs::read(&path).unwrap();
    let modified = fs::metadata(&path).unwrap().modified().unwrap();
    {
        let file = C1zFile::open(&path, &DecodeLimits::default()).unwrap();
        file.connection()
            .execute_batch("delete from v1_grants; insert into v1_sync_runs (sync_id, started_at, sync_token) values ('x', '2020-01-01', '')")
            .unwrap();
        assert_eq!(file.sync_runs().unwrap().len(), 2);
    }
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), modified);
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["in.c1z"]);
}

#[test]
fn c1z_reader_empty_file_is_an_empty_database() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("empty.c1z");
    fs::write(&path, b"").unwrap();
    let file = C1zFile::open(&path, &DecodeLimits::default()).unwrap();
    assert!(file.sync_runs().unwrap().is_empty());
    assert_eq!(file.default_sync().unwrap(), None);
    let tables: i64 = file
        .connection()
        .query_row(
            "select count(*) from sqlite_master where type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 7);
    assert_eq!(fs::read(&path).unwrap(), b"");
}

#[test]
fn c1z_reader_rejects_other_files() {
    let dir = TempDir::new().unwrap();
    let limits = DecodeLimits::default();
    let text = dir.path().join("notes.txt");
    fs::write(&text, "just text").unwrap();
    let message = open_err(&text, &limits);
    assert!(message.contains("notes.txt is not a c1z file"), "{message}");
    let short = dir.path().join("short.c1z");
    fs::write(&short, b"C1Z").unwrap();
    assert!(open_err(&short, &limits).contains("is not a c1z file"));
    let v3 = dir.path().join("v3.c1z");
    fs::write(&v3, b"C1Z3\0rest").unwrap();
    let message = open_err(&v3, &limits);
    assert!(
        message.contains("C1Z3 (Pebble) files are not supported"),
        "{message}"
    );
    let missing = dir.path().join("missing.c1z");
    assert!(open_err(&missing, &limits).contains("missing.c1z"));
}

#[test]
fn c1z_reader_classifies_v3_and_foreign_files_by_type() {
    let dir = TempDir::new().unwrap();
    let v3 = dir.path().join("v3.c1z");
    fs::write(&v3, b"C1Z3\0\x04\0\0\0manifest").unwrap();
    let err = C1zFile::open(&v3, &DecodeLimits::default()).err().unwrap();
    assert_eq!(
        err.downcast_ref::<FormatError>(),
        Some(&FormatError::NewerV3 { path: v3.clone() })
    );
    let message = format!("{err:#}");
    assert!(message.contains("newer v3 c1z format"), "{message}");
    assert!(message.contains("`baton` CLI and baton-sdk"), "{message}");
    let text = dir.path().join("text.c1z");
    fs::write(&text, b"hello").unwrap();
    let err = C1zFile::open(&text, &DecodeLimits::default())
        .err()
        .unwrap();
    assert_eq!(
        err.downcast_ref::<FormatError>(),
        Some(&FormatError::NotC1z { path: text })
    );
}

#[test]
fn c1z_reader_rejects_corrupt_streams_and_databases() {
    let dir = TempDir::new().unwrap();
    let limits = DecodeLimits::default();
    let (path, _) = written(&dir);
    let good = fs::read(&path).unwrap();

    let truncated = dir.path().join("truncated.c1z");
    fs::write(&truncated, &good[..good.len() - 10]).unwrap();
    let message = open_err(&truncated, &limits);
    assert!(
        message.contains("truncated.c1z: cannot decompress"),
        "{message}"
    );

    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    let bad_checksum = dir.path().join("checksum.c1z");
    fs::write(&bad_checksum, &flipped).unwrap();
    assert!(open_err(&bad_checksum, &limits).contains("checksum.c1z"));

    let not_db = dir.path().join("notdb.c1z");
    let mut bytes = MAGIC_V1.to_vec();
    bytes.extend(zstd::encode_all(&b"definitely not sqlite, just some text"[..], 3).unwrap());
    fs::write(&not_db, bytes).unwrap();
    let message = open_err(&not_db, &limits);
    assert!(
        message.contains("notdb.c1z: not a valid c1z SQLite database"),
        "{message}"
    );
}

#[test]
fn c1z_reader_enforces_the_decoded_size_limit() {
    let dir = TempDir::new().unwrap();
    let (path, _) = written(&dir);
    let small = DecodeLimits {
        max_decoded_bytes: 4096,
        ..DecodeLimits::default()
    };
    let message = open_err(&path, &small);
    assert!(
        message.contains("decoded size exceeds 4096 bytes (BATON_DECODER_MAX_DECODED_SIZE_MB)"),
        "{message}"
    );
    // Without a content size in the frame, the running count stops the decoder.
    let streamed = raw_c1z(&dir, "", |db| {
        let mut out = Vec::new();
        let mut encoder = zstd::stream::write::Encoder::new(&mut out, 3).unwrap();
        encoder.include_contentsize(false).unwrap();
        encoder.write_all(db).unwrap();
        encoder.finish().unwrap();
        out
    });
    let raw = fs::read(&streamed).unwrap();
    assert_eq!(parse_frame_header(&raw[5..]).unwrap().content_size, None);
    let message = open_err(&streamed, &small);
    assert!(
        message.contains("(BATON_DECODER_MAX_DECODED_SIZE_MB)"),
        "{message}"
    );
    assert!(C1zFile::open(&streamed, &DecodeLimits::default()).is_ok());
}

#[test]
fn c1z_reader_enforces_the_window_limit() {
    let dir = TempDir::new().unwrap();
    // Like v0.1.14's writer: an 8 MiB window and no content size.
    let path = raw_c1z(&dir, "", |db| {
        let mut out = Vec::new();
        let mut encoder = zstd::stream::write::Encoder::new(&mut out, 3).unwrap();
        encoder.window_log(23).unwrap();
        encoder.include_contentsize(false).unwrap();
        encoder.write_all(db).unwrap();
        encoder.finish().unwrap();
        out
    });
    let raw = fs::read(&path).unwrap();
    let header = parse_frame_header(&raw[5..]).unwrap();
    assert_eq!((header.window_size, raw[10]), (8 << 20, 0x68));
    let limits = DecodeLimits {
        max_window_bytes: 4 << 20,
        ..DecodeLimits::default()
    };
    let message = open_err(&path, &limits);
    assert!(
        message.contains("(BATON_DECODER_MAX_MEMORY_MB)"),
        "{message}"
    );
    assert!(C1zFile::open(&path, &DecodeLimits::default()).is_ok());
}

#[test]
fn c1z_reader_accepts_several_frames() {
    let dir = TempDir::new().unwrap();
    let sql = run(
        "s1",
        "2024-01-01 00:00:00",
        Some("2024-01-01 00:01:00"),
        "full",
    );
    let path = raw_c1z(&dir, &sql, |db| {
        let (a, b) = db.split_at(db.len() / 2);
        let mut out = zstd::encode_all(a, 3).unwrap();
        out.extend(zstd::encode_all(b, 3).unwrap());
        out
    });
    let file = C1zFile::open(&path, &DecodeLimits::default()).unwrap();
    assert_eq!(file.default_sync().unwrap().unwrap().sync_id, "s1");
}

#[test]
fn c1z_reader_default_sync_prefers_the_latest_finished_full_sync() {
    let dir = TempDir::new().unwrap();
    let sql = [
        run(
            "a-old",
            "2024-01-01 00:00:00",
            Some("2024-01-01 01:00:00"),
            "full",
        ),
        run(
            "b-partial",
            "2024-01-03 00:00:00",
            Some("2024-01-03 01:00:00"),
            "partial",
        ),
        run(
            "c-tie",
            "2024-01-02 00:00:00",
            Some("2024-01-02 01:00:00.5"),
            "full",
        ),
        run(
            "d-tie",
            "2024-01-02 00:00:01",
            Some("2024-01-02 01:00:00.5"),
            "full",
        ),
        run(
            "e-running",
            &clock::sqlite_time(&clock::now()),
            None,
            "full",
        ),
    ]
    .concat();
    let file = C1zFile::open(
        &raw_c1z(&dir, &sql, |db| zstd::encode_all(db, 3).unwrap()),
        &DecodeLimits::default(),
    )
    .unwrap();
    assert_eq!(file.default_sync().unwrap().unwrap().sync_id, "d-tie");
    let order: Vec<String> = file
        .sync_runs()
        .unwrap()
        .into_iter()
        .map(|r| r.sync_id)
        .collect();
    assert_eq!(order, ["a-old", "c-tie", "d-tie", "b-partial", "e-running"]);
}

#[test]
fn c1z_reader_default_sync_falls_back_to_a_recent_unfinished_sync() {
    let dir = TempDir::new().unwrap();
    let days_ago = |d: i64| clock::sqlite_time(&(clock::now() - chrono::TimeDelta::days(d)));
    let sql = [
        run("old-unfinished", &days_ago(8), None, "full"),
        run("recent-partial", &days_ago(2), None, "partial"),
        run("older-recent", &days_ago(3), None, "full"),
        run(
            "finished-partial",
            &days_ago(1),
            Some(&days_ago(1)),
            "partial",
        ),
    ]
    .concat();
    let path = raw_c1z(&dir, &sql, |db| zstd::encode_all(db, 3).unwrap());
    let file = C1zFile::open(&path, &DecodeLimits::default()).unwrap();
    let chosen = file.default_sync().unwrap().unwrap();
    assert_eq!(chosen.sync_id, "recent-partial");
    assert_eq!(chosen.ended_at, None);

    let dir = TempDir::new().unwrap();
    let sql = [
        run("old-unfinished", &days_ago(8), None, "full"),
        run(
            "finished-partial",
            &days_ago(1),
            Some(&days_ago(1)),
            "partial",
        ),
    ]
    .concat();
    let path = raw_c1z(&dir, &sql, |db| zstd::encode_all(db, 3).unwrap());
    let file = C1zFile::open(&path, &DecodeLimits::default()).unwrap();
    assert_eq!(file.default_sync().unwrap(), None, "no filter at all");
}

#[test]
fn c1z_reader_names_the_row_whose_blob_does_not_decode() {
    let dir = TempDir::new().unwrap();
    let (path, sync_id) = written(&dir);
    let file = C1zFile::open(&path, &DecodeLimits::default()).unwrap();
    file.connection()
        .execute(
            "update v1_grants set data = x'0aff' where external_id = 'team:t1:member:user:u1'",
            [],
        )
        .unwrap();
    let message = format!("{:#}", file.grants(&sync_id).unwrap_err());
    assert!(
        message.contains("v1_grants row \"team:t1:member:user:u1\": cannot decode data"),
        "{message}"
    );
    file.connection()
        .execute(
            "update v1_resources set data = 'text' where external_id = 'user:u1'",
            [],
        )
        .unwrap();
    let message = format!("{:#}", file.resources(&sync_id).unwrap_err());
    assert!(
        message.contains("v1_resources row \"user:u1\": data is not a blob"),
        "{message}"
    );
}

#[test]
fn c1z_reader_parses_frame_headers() {
    // v0.1.14 writer: descriptor 0x04 (checksum, no content size), window byte 0x68 (8 MiB).
    let header = parse_frame_header(&[0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x68, 0, 0]).unwrap();
    assert_eq!(
        header,
        FrameHeader {
            single_segment: false,
            has_checksum: true,
            content_size: None,
            window_size: 8 << 20
        }
    );
    // Single segment with a 2-byte content size (value + 256).
    let header = parse_frame_header(&[0x28, 0xb5, 0x2f, 0xfd, 0x64, 0x00, 0x01]).unwrap();
    assert_eq!(header.content_size, Some(256 + 256));
    assert_eq!(header.window_size, 512);
    // 4-byte content size with a window byte.
    let header =
        parse_frame_header(&[0x28, 0xb5, 0x2f, 0xfd, 0x84, 0x70, 0x78, 0x56, 0x34, 0x12]).unwrap();
    assert_eq!(header.content_size, Some(0x1234_5678));
    assert_eq!(header.window_size, 16 << 20);
    assert_eq!(parse_frame_header(&[0x28, 0xb5, 0x2f]), None);
    assert_eq!(parse_frame_header(b"C1ZF\0abc"), None);
}

#[test]
fn c1z_reader_frame_header_agrees_with_libzstd() {
    let dir = TempDir::new().unwrap();
    let (path, _) = written(&dir);
    let written_frame = fs::read(&path).unwrap()[5..].to_vec();
    let frame = |window_log: Option<u32>, content_size: bool, data: &[u8]| {
        let mut out = Vec::new();
        let mut encoder = zstd::stream::write::Encoder::new(&mut out, 3).unwrap();
        if let Some(log) = window_log {
            encoder.window_log(log).unwrap();
        }
        encoder.include_contentsize(content_size).unwrap();
        encoder.include_checksum(true).unwrap();
        encoder
            .set_pledged_src_size(content_size.then_some(data.len() as u64))
            .unwrap();
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap();
        out
    };
    let data: Vec<u8> = (0..300_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    let frames = [
        written_frame,
        zstd::encode_all(&b"short"[..], 3).unwrap(),
        zstd::encode_all(&data[..], 3).unwrap(),
        frame(Some(23), false, &data),
        frame(Some(20), true, &data),
        frame(None, true, &data[..300]),
    ];
    for (i, bytes) in frames.iter().enumerate() {
        let header = parse_frame_header(bytes).unwrap();
        let libzstd = zstd::zstd_safe::get_frame_content_size(bytes).unwrap();
        assert_eq!(header.content_size, libzstd, "frame #{i}");
        assert_eq!(
            zstd::zstd_safe::find_frame_compressed_size(bytes).unwrap(),
            bytes.len(),
            "frame #{i}"
        );
        if header.single_segment {
            assert_eq!(Some(header.window_size), header.content_size, "frame #{i}");
        } else {
            assert!(header.window_size >= 1 << 10, "frame #{i}");
        }
    }
    assert_eq!(parse_frame_header(&frames[3]).unwrap().window_size, 8 << 20);
    assert_eq!(parse_frame_header(&frames[4]).unwrap().window_size, 1 << 20);
    assert!(parse_frame_header(&frames[4]).unwrap().has_checksum);
}

/// Teams t0..t4, users u0..u499 and 2,500 grants (every user in every team) written in an order that is
/// neither by id nor by external id.
fn many_grants(dir: &TempDir) -> (std::path::PathBuf, String, Vec<Grant>) {
    let team = |t: usize| Resource {
        id: Some(ResourceId::new("team", &format!("t{t}"))),
        display_name: format!("Team {t}"),
        ..Default::default()
    };
    let member = |t: usize| Entitlement {
        resource: Some(team(t)),
        id: format!("team:t{t}:member"),
        display_name: "member".into(),
        ..Default::default()
    };
    let mut grants = Vec::new();
    for u in (0..500).rev() {
        for t in [3, 0, 4, 1, 2] {
            grants.push(Grant {
                entitlement: Some(member(t)),
                principal: Some(Resource {
                    id: Some(ResourceId::new("user", &format!("u{u}"))),
                    ..Default::default()
                }),
                id: format!("team:t{t}:member:user:u{u}"),
                ..Default::default()
            });
        }
    }
    let records = SyncRecords {
        resource_types: records().resource_types,
        resources: (0..5).map(team).collect(),
        entitlements: (0..5).map(member).collect(),
        grants: grants.clone(),
    };
    let path = dir.path().join("many.c1z");
    let report =
        write_sync(&path, &records, clock::now(), &WriteOptions::default()).expect("write");
    (path, report.sync_id, grants)
}

fn streamed_ids(file: &C1zFile, sync_id: Option<&str>, filter: &RowFilter<'_>) -> Vec<String> {
    let mut ids = Vec::new();
    file.for_each_blob(Table::Grants, sync_id, filter, |bytes| {
        ids.push(Grant::decode(bytes)?.id);
        Ok(())
    })
    .expect("stream");
    ids
}

#[test]
fn c1z_reader_streams_rows_in_row_order_with_sql_filters() {
    let dir = TempDir::new().expect("tempdir");
    let (path, sync_id, grants) = many_grants(&dir);
    let file = C1zFile::open(&path, &DecodeLimits::default()).expect("open");
    let all: Vec<String> = grants.iter().map(|g| g.id.clone()).collect();
    // Every row, in the order written (row id), as data_blobs gives them.
    let everything = streamed_ids(&file, Some(&sync_id), &RowFilter::default());
    assert_eq!(everything, all);
    let blobs: Vec<String> = file
        .data_blobs(Table::Grants, Some(&sync_id))
        .expect("blobs")
        .iter()
        .map(|b| Grant::decode(b.as_slice()).expect("decode").id)
        .collect();
    assert_eq!(everything, blobs);
    assert_eq!(streamed_ids(&file, None, &RowFilter::default()), all);
    assert!(streamed_ids(&file, Some("no-such-sync"), &RowFilter::default()).is_empty());

    let of = |pred: &dyn Fn(&str) -> bool| -> Vec<String> {
        all.iter().filter(|id| pred(id)).cloned().collect()
    };
    let team2 = RowFilter {
        resource_type_id: Some("team"),
        resource_id: Some("t2"),
        ..Default::default()
    };
    let got = streamed_ids(&file, Some(&sync_id), &team2);
    assert_eq!(got.len(), 500);
    assert_eq!(got, of(&|id| id.starts_with("team:t2:")));
    let member4 = RowFilter {
        entitlement_id: Some("team:t4:member"),
        ..Default::default()
    };
    assert_eq!(
        streamed_ids(&file, Some(&sync_id), &member4),
        of(&|id| id.starts_with("team:t4:"))
    );
    let user7 = RowFilter {
        principal: Some(("user", "u7")),
        ..Default::default()
    };
    let got = streamed_ids(&file, Some(&sync_id), &user7);
    assert_eq!(
        got,
        [
            "team:t3:member:user:u7",
            "team:t0:member:user:u7",
            "team:t4:member:user:u7",
            "team:t1:member:user:u7",
            "team:t2:member:user:u7"
        ]
    );
    let both = RowFilter {
        entitlement_id: Some("team:t1:member"),
        principal: Some(("user", "u7")),
        ..Default::default()
    };
    assert_eq!(
        streamed_ids(&file, Some(&sync_id), &both),
        ["team:t1:member:user:u7"]
    );
    let none = RowFilter {
        resource_type_id: Some("user"),
        ..Default::default()
    };
    assert!(streamed_ids(&file, Some(&sync_id), &none).is_empty());

    // A filter on a column the table lacks is refused, naming it.
    let err = file
        .for_each_blob(Table::Resources, Some(&sync_id), &member4, |_| Ok(()))
        .expect_err("no entitlement_id column");
    assert!(format!("{err:#}").contains("entitlement_id"), "{err:#}");
    // An error of the visitor stops the walk and is returned.
    let mut seen = 0;
    let err = file
        .for_each_blob(Table::Grants, Some(&sync_id), &RowFilter::default(), |_| {
            seen += 1;
            anyhow::ensure!(seen < 3, "stop here");
            Ok(())
        })
        .expect_err("stops");
    assert_eq!(seen, 3);
    assert!(format!("{err:#}").contains("stop here"), "{err:#}");
}

#[test]
fn c1z_reader_pages_rows_in_external_id_order() {
    let dir = TempDir::new().expect("tempdir");
    let (path, sync_id, grants) = many_grants(&dir);
    let file = C1zFile::open(&path, &DecodeLimits::default()).expect("open");
    let mut expected: Vec<String> = grants.iter().map(|g| g.id.clone()).collect();
    expected.sort();
    let mut rows = file.blobs_by_external_id(Table::Grants, &sync_id);
    let mut got = Vec::new();
    while let Some((external_id, bytes)) = rows.next_row().expect("row") {
        let grant = Grant::decode(bytes.as_slice()).expect("decode");
        assert_eq!(grant.id, external_id);
        got.push(external_id);
    }
    // 2,500 rows: more than two pages, none lost or repeated at their seams.
    assert_eq!(got, expected);
    assert!(rows.next_row().expect("after the end").is_none());
    let mut other = file.blobs_by_external_id(Table::Grants, "no-such-sync");
    assert!(other.next_row().expect("empty").is_none());
}

#[test]
fn c1z_reader_finds_a_row_by_external_id() {
    let dir = TempDir::new().expect("tempdir");
    let (path, sync_id, _) = many_grants(&dir);
    // A second sync of the same file renames team t1.
    let mut second = records();
    second.resources[0].display_name = "Team 1, renamed".into();
    let report =
        write_sync(&path, &second, clock::now(), &WriteOptions::default()).expect("second sync");
    let file = C1zFile::open(&path, &DecodeLimits::default()).expect("open");
    let name = |sync: Option<&str>, external_id: &str| -> Option<String> {
        file.blob_by_external_id(Table::Resources, sync, external_id)
            .expect("lookup")
            .map(|b| Resource::decode(b.as_slice()).expect("decode").display_name)
    };
    assert_eq!(name(Some(&sync_id), "team:t1").as_deref(), Some("Team 1"));
    assert_eq!(
        name(Some(&report.sync_id), "team:t1").as_deref(),
        Some("Team 1, renamed")
    );
    // Of every sync: the newest row.
    assert_eq!(name(None, "team:t1").as_deref(), Some("Team 1, renamed"));
    assert_eq!(name(Some(&report.sync_id), "team:t4"), None);
    assert_eq!(name(Some(&sync_id), "team:t4").as_deref(), Some("Team 4"));
    assert_eq!(name(None, "team:nope"), None);
}

#[test]
fn c1z_reader_finds_the_first_accepted_row_and_lists_distinct_principals_by_id() {
    let dir = TempDir::new().expect("tempdir");
    let (path, sync_id, _) = many_grants(&dir);
    let file = C1zFile::open(&path, &DecodeLimits::default()).expect("open");
    let user7 = RowFilter {
        principal: Some(("user", "u7")),
        ..Default::default()
    };
    // Rows are offered in row order, and the walk stops at the first one accepted.
    let mut offered = Vec::new();
    let found = file
        .find_blob(Table::Grants, Some(&sync_id), &user7, |bytes| {
            let id = Grant::decode(bytes)?.id;
            offered.push(id.clone());
            Ok(id.starts_with("team:t4:").then_some(id))
        })
        .expect("find");
    assert_eq!(found.as_deref(), Some("team:t4:member:user:u7"));
    assert_eq!(
        offered,
        [
            "team:t3:member:user:u7",
            "team:t0:member:user:u7",
            "team:t4:member:user:u7"
        ]
    );
    let none: Option<()> = file
        .find_blob(Table::Grants, Some(&sync_id), &user7, |_| Ok(None))
        .expect("find");
    assert!(none.is_none());
    let err = file
        .find_blob(
            Table::Grants,
            Some(&sync_id),
            &user7,
            |_| -> anyhow::Result<Option<()>> { anyhow::bail!("stop here") },
        )
        .expect_err("stops");
    assert!(format!("{err:#}").contains("stop here"), "{err:#}");

    // 500 users, each holding five grants, listed once each by id in byte order (u10 before u2).
    let principals = |sync: Option<&str>, filter: &RowFilter<'_>| -> Vec<String> {
        let mut out = Vec::new();
        file.for_each_grant_principal(sync, filter, |type_id, id| {
            out.push(format!("{type_id}:{id}"));
            Ok(())
        })
        .expect("principals");
        out
    };
    let mut expected: Vec<String> = (0..500).map(|u| format!("user:u{u}")).collect();
    expected.sort();
    assert_eq!(principals(Some(&sync_id), &RowFilter::default()), expected);
    assert_eq!(principals(None, &RowFilter::default()), expected);
    let member4 = RowFilter {
        entitlement_id: Some("team:t4:member"),
        ..Default::default()
    };
    assert_eq!(principals(Some(&sync_id), &member4), expected);
    assert_eq!(principals(Some(&sync_id), &user7), ["user:u7"]);
    assert!(principals(Some("no-such-sync"), &RowFilter::default()).is_empty());
}
