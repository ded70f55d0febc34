//! Records, a fixture and database probes shared by the writer's tests (the integration tests and the
//! unit tests that need private items).
#![allow(dead_code)]

use baton_c1z::clock;
use baton_c1z::proto::{
    self, Entitlement, Grant, GrantExpandable, Resource, ResourceId, ResourceType,
    SkipEntitlementsAndGrants, Trait,
};
use baton_c1z::{
    write_sync, RecordSink, SyncRecords, SyncWriter, WriteOptions, WriteReport, MAGIC_V1,
};
use rusqlite::Connection;
use std::fs;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

pub fn rid(resource_type: &str, resource: &str) -> ResourceId {
    ResourceId::new(resource_type, resource)
}

pub fn resource(resource_type: &str, id: &str, parent: Option<(&str, &str)>) -> Resource {
    Resource {
        id: Some(rid(resource_type, id)),
        parent_resource_id: parent.map(|(t, p)| rid(t, p)),
        display_name: format!("{resource_type} {id}"),
        ..Default::default()
    }
}

pub fn entitlement(res: &Resource, name: &str) -> Entitlement {
    let id = res.id.as_ref().expect("test helper");
    Entitlement {
        resource: Some(res.clone()),
        id: format!("{}:{}:{name}", id.resource_type, id.resource),
        display_name: name.into(),
        slug: name.into(),
        purpose: proto::Purpose::Assignment as i32,
        ..Default::default()
    }
}

pub fn grant(ent: &Entitlement, principal: &Resource) -> Grant {
    let p = principal.id.clone().expect("test helper");
    Grant {
        entitlement: Some(Entitlement {
            id: ent.id.clone(),
            resource: ent.resource.clone(),
            ..Default::default()
        }),
        principal: Some(Resource {
            id: Some(p.clone()),
            ..Default::default()
        }),
        id: format!("{}:{}:{}", ent.id, p.resource_type, p.resource),
        ..Default::default()
    }
}

pub fn sample_records() -> SyncRecords {
    let resource_type = |id: &str, t: Trait| ResourceType {
        id: id.into(),
        display_name: id.to_uppercase(),
        traits: vec![t as i32],
        ..Default::default()
    };
    let mut user_type = resource_type("user", Trait::User);
    user_type.annotations = vec![proto::any(&SkipEntitlementsAndGrants {})];
    let project = resource("project", "p1", None);
    let group = resource("group", "g1", Some(("project", "p1")));
    let u1 = resource("user", "u1", None);
    let u2 = resource("user", "u2", Some(("project", "p1")));
    let member = entitlement(&group, "member");
    let admin = entitlement(&project, "admin");
    let mut expandable = grant(&admin, &group);
    expandable.annotations = vec![proto::any(&GrantExpandable {
        entitlement_ids: vec![member.id.clone()],
        shallow: true,
        resource_type_ids: vec!["user".into()],
    })];
    SyncRecords {
        resource_types: vec![
            user_type,
            resource_type("group", Trait::Group),
            resource_type("project", Trait::Unspecified),
        ],
        grants: vec![
            grant(&member, &u1),
            grant(&member, &u2),
            grant(&admin, &u1),
            expandable,
        ],
        resources: vec![project, group, u1, u2],
        entitlements: vec![member, admin],
    }
}

pub struct Fixture {
    pub dir: TempDir,
    pub work: TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Fixture {
            dir: TempDir::new().expect("test helper"),
            work: TempDir::new().expect("test helper"),
        }
    }

    pub fn target(&self) -> PathBuf {
        self.dir.path().join("sync.c1z")
    }

    pub fn options(&self) -> WriteOptions {
        WriteOptions {
            temp_dir: Some(self.work.path().to_path_buf()),
            ..Default::default()
        }
    }

    pub fn write(&self, records: &SyncRecords) -> WriteReport {
        write_sync(&self.target(), records, clock::now(), &self.options()).expect("test helper")
    }

    pub fn write_with(
        &self,
        records: &SyncRecords,
        options: &WriteOptions,
    ) -> anyhow::Result<WriteReport> {
        write_sync(&self.target(), records, clock::now(), options)
    }

    pub fn listing(&self) -> Vec<String> {
        listing(self.dir.path())
    }

    pub fn assert_no_leftovers(&self) {
        assert_eq!(self.listing(), ["sync.c1z"]);
        assert!(
            listing(self.work.path()).is_empty(),
            "working dir left behind"
        );
    }
}

pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("test helper")
        .map(|e| {
            e.expect("test helper")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// The decompressed database, opened directly with rusqlite (independently of the crate's reader).
pub struct Decoded {
    pub _dir: TempDir,
    pub conn: Connection,
}

pub fn decode_file(path: &Path) -> Decoded {
    let raw = fs::read(path).expect("test helper");
    assert_eq!(&raw[..5], &[0x43, 0x31, 0x5a, 0x46, 0x00]);
    let bytes = zstd::decode_all(&raw[5..]).expect("test helper");
    let dir = TempDir::new().expect("test helper");
    let db = dir.path().join("db");
    fs::write(&db, &bytes).expect("test helper");
    let conn = Connection::open(&db).expect("test helper");
    Decoded { _dir: dir, conn }
}

pub fn strings(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).expect("test helper");
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .expect("test helper");
    rows.map(Result::unwrap).collect()
}

pub fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect("test helper")
}

pub fn assert_time_layout(text: &str) {
    let b = text.as_bytes();
    let shape_ok = b.len() >= 19
        && b.iter().enumerate().take(19).all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    assert!(shape_ok, "{text:?} is not YYYY-MM-DD HH:MM:SS");
    if b.len() > 19 {
        let fraction = &text[20..];
        assert_eq!(b[19], b'.', "{text:?}");
        assert!((1..=6).contains(&fraction.len()), "{text:?}");
        assert!(fraction.bytes().all(|c| c.is_ascii_digit()), "{text:?}");
        assert!(!fraction.ends_with('0'), "{text:?} keeps trailing zeros");
    }
    assert!(clock::parse_sqlite_time(text).is_some());
}

pub fn assert_integrity(conn: &Connection) {
    assert_eq!(strings(conn, "pragma integrity_check"), ["ok"]);
}

/// Rewrites the database of the c1z at `path` with `sql` applied to it.
pub fn edit_file(path: &Path, sql: &str) {
    let db = decode_file(path);
    db.conn.execute_batch(sql).expect("test helper");
    let Decoded { _dir, conn } = db;
    drop(conn);
    let mut out = MAGIC_V1.to_vec();
    out.extend(
        zstd::encode_all(
            fs::read(_dir.path().join("db"))
                .expect("test helper")
                .as_slice(),
            3,
        )
        .expect("test helper"),
    );
    fs::write(path, out).expect("test helper");
}

/// A writer fed `records` one by one, as `sync` feeds it.
pub fn stream(fx: &Fixture, records: &SyncRecords) -> SyncWriter {
    let mut writer = SyncWriter::create(
        &fx.target(),
        &records.resource_types,
        clock::now(),
        &fx.options(),
    )
    .expect("test helper");
    for r in records.resources.clone() {
        writer.resource(r);
    }
    for e in records.entitlements.clone() {
        writer.entitlement(e);
    }
    for g in records.grants.clone() {
        writer.grant(g);
    }
    writer
}
