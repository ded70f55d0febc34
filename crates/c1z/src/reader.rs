//! Reads any v1 `.c1z` (ours or the Go SDK's) the way Baton's readers do.
//!
//! The file is checked for the `C1ZF\0` magic, its zstd stream is decompressed (within the decoder limits
//! Baton uses) into a private temp copy, and that copy is opened with SQLite and migrated to the latest
//! schema. The source file is only ever read.

use crate::{clock, proto};
use crate::{schema, MAGIC_V1, MAGIC_V3};
use anyhow::{bail, Context};
use prost::Message;
use rusqlite::Connection;
use std::fs::File;
use std::io::{BufWriter, Cursor, Read, Write};
use std::path::Path;
use tempfile::TempDir;

const MIB: u64 = 1024 * 1024;
/// Largest zstd frame header: magic, descriptor, window byte, 4-byte dictionary id, 8-byte content size.
const MAX_FRAME_HEADER: usize = 18;
const ZSTD_FRAME_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The zstd decoder limits of Baton's readers (v0.7.27 defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted zstd window (`BATON_DECODER_MAX_MEMORY_MB`, default 128 MiB).
    pub max_window_bytes: u64,
    /// Largest accepted decompressed size (`BATON_DECODER_MAX_DECODED_SIZE_MB`, default 3 GiB).
    pub max_decoded_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_window_bytes: 128 * MIB,
            max_decoded_bytes: 3 * 1024 * MIB,
        }
    }
}

impl DecodeLimits {
    /// Limits of `max_window_mib` and `max_decoded_mib` MiB; `None` or 0 keeps that default (how Baton's
    /// readers treat their `BATON_DECODER_MAX_MEMORY_MB` and `BATON_DECODER_MAX_DECODED_SIZE_MB`).
    pub fn from_mib(max_window_mib: Option<u64>, max_decoded_mib: Option<u64>) -> Self {
        let defaults = DecodeLimits::default();
        let mib = |value: Option<u64>| value.filter(|v| *v > 0).map(|v| v.saturating_mul(MIB));
        DecodeLimits {
            max_window_bytes: mib(max_window_mib).unwrap_or(defaults.max_window_bytes),
            max_decoded_bytes: mib(max_decoded_mib).unwrap_or(defaults.max_decoded_bytes),
        }
    }

    /// The zstd `window_log_max` that admits every window up to `max_window_bytes`.
    fn window_log_max(&self) -> u32 {
        let bytes = self.max_window_bytes.max(1);
        let ceil_log2 = u64::BITS - (bytes - 1).leading_zeros();
        ceil_log2.clamp(10, 31)
    }
}

/// The fields of a zstd frame header that Baton's decoder checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub single_segment: bool,
    pub has_checksum: bool,
    /// Frame_Content_Size, when present.
    pub content_size: Option<u64>,
    /// Window size as the decoder computes it (the content size for single-segment frames).
    pub window_size: u64,
}

/// Parses the header of the zstd frame at the start of `bytes`; `None` if it is not a complete header of a
/// regular (non-skippable) frame.
pub fn parse_frame_header(bytes: &[u8]) -> Option<FrameHeader> {
    if bytes.get(..4)? != ZSTD_FRAME_MAGIC {
        return None;
    }
    let descriptor = *bytes.get(4)?;
    let single_segment = descriptor & 0x20 != 0;
    let mut at = 5;
    let mut window_size = 0;
    if !single_segment {
        let wd = *bytes.get(at)?;
        let base = 1u64 << (10 + u32::from(wd >> 3));
        window_size = base + (base / 8) * u64::from(wd & 7);
        at += 1;
    }
    at += [0, 1, 2, 4][usize::from(descriptor & 3)];
    let fcs_len = match descriptor >> 6 {
        0 if single_segment => 1,
        0 => 0,
        flag => 1usize << flag,
    };
    let content_size = match fcs_len {
        0 => None,
        len => Some(read_content_size(bytes.get(at..at + len)?)),
    };
    if single_segment {
        window_size = content_size.unwrap_or(0);
    }
    Some(FrameHeader {
        single_segment,
        has_checksum: descriptor & 0x04 != 0,
        content_size,
        window_size,
    })
}

fn read_content_size(field: &[u8]) -> u64 {
    let value = field
        .iter()
        .rev()
        .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
    if field.len() == 2 {
        value + 256
    } else {
        value
    }
}

/// Checks the first bytes of a non-empty file for the v1 magic.
pub(crate) fn check_magic(path: &Path, header: &[u8]) -> anyhow::Result<()> {
    if header == MAGIC_V1 {
        return Ok(());
    }
    if header == MAGIC_V3 {
        bail!(
            "{}: C1Z3 (Pebble) files are not supported; only the v1 (SQLite) c1z format is",
            path.display()
        );
    }
    bail!("{} is not a c1z file", path.display())
}

/// Reads the 5-byte header of `source`: `false` for an empty file, an error unless it is the v1 magic.
pub(crate) fn read_magic(source: &Path, file: &mut File) -> anyhow::Result<bool> {
    let mut header = Vec::with_capacity(MAGIC_V1.len());
    Read::by_ref(file)
        .take(MAGIC_V1.len() as u64)
        .read_to_end(&mut header)
        .with_context(|| format!("read {}", source.display()))?;
    if header.is_empty() {
        return Ok(false);
    }
    check_magic(source, &header).map(|()| true)
}

/// Decompresses the c1z at `source` into the SQLite file `dest`. Returns `false`, creating nothing, when
/// `source` is empty (a new database).
pub(crate) fn decompress_c1z(
    source: &Path,
    dest: &Path,
    limits: &DecodeLimits,
) -> anyhow::Result<bool> {
    let mut file = File::open(source).with_context(|| format!("open {}", source.display()))?;
    if !read_magic(source, &mut file)? {
        return Ok(false);
    }
    let output = File::create(dest).with_context(|| format!("create {}", dest.display()))?;
    decode_stream(file, output, limits)
        .with_context(|| format!("{}: cannot decompress the c1z", source.display()))?;
    Ok(true)
}

fn decode_stream(mut input: File, output: File, limits: &DecodeLimits) -> anyhow::Result<u64> {
    let mut peeked = Vec::with_capacity(MAX_FRAME_HEADER);
    Read::by_ref(&mut input)
        .take(MAX_FRAME_HEADER as u64)
        .read_to_end(&mut peeked)?;
    if let Some(header) = parse_frame_header(&peeked) {
        check_frame_limits(&header, limits)?;
    }
    let mut decoder = zstd::stream::read::Decoder::new(Cursor::new(peeked).chain(input))?;
    decoder.window_log_max(limits.window_log_max())?;
    copy_limited(&mut decoder, output, limits)
}

fn check_frame_limits(header: &FrameHeader, limits: &DecodeLimits) -> anyhow::Result<()> {
    if header.window_size > limits.max_window_bytes {
        bail!(
            "zstd window of {} bytes exceeds the decoder memory limit of {} bytes (BATON_DECODER_MAX_MEMORY_MB)",
            header.window_size,
            limits.max_window_bytes
        );
    }
    match header.content_size {
        Some(size) if size > limits.max_decoded_bytes => Err(decoded_too_large(limits)),
        _ => Ok(()),
    }
}

fn decoded_too_large(limits: &DecodeLimits) -> anyhow::Error {
    anyhow::anyhow!(
        "decoded size exceeds {} bytes (BATON_DECODER_MAX_DECODED_SIZE_MB)",
        limits.max_decoded_bytes
    )
}

fn copy_limited(
    reader: &mut impl Read,
    output: File,
    limits: &DecodeLimits,
) -> anyhow::Result<u64> {
    let mut writer = BufWriter::with_capacity(1 << 20, output);
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(e).context(format!(
                    "corrupt zstd data, or a window above {} bytes (BATON_DECODER_MAX_MEMORY_MB)",
                    limits.max_window_bytes
                ))
            }
        };
        total += n as u64;
        if total > limits.max_decoded_bytes {
            return Err(decoded_too_large(limits));
        }
        writer.write_all(&buffer[..n])?;
    }
    writer.flush()?;
    Ok(total)
}

/// Opens a private working copy of a c1z database with fast, single-user settings and migrates it.
/// `source` names the file it came from, for error messages.
pub(crate) fn open_private_db(
    db: &Path,
    source: &Path,
    cache_kib: i64,
) -> anyhow::Result<Connection> {
    let conn =
        Connection::open(db).with_context(|| format!("open SQLite file {}", db.display()))?;
    configure(&conn, cache_kib)
        .and_then(|()| schema::migrate(&conn))
        .with_context(|| format!("{}: not a valid c1z SQLite database", source.display()))?;
    Ok(conn)
}

fn configure(conn: &Connection, cache_kib: i64) -> anyhow::Result<()> {
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "OFF", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("off") {
        bail!("cannot turn off the journal (journal_mode is {mode})");
    }
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    Ok(())
}

/// One row of `v1_sync_runs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncRun {
    pub sync_id: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub sync_token: String,
    pub sync_type: String,
    pub parent_sync_id: String,
}

/// One row of `v1_resource_types`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceTypeRow {
    pub external_id: String,
    pub sync_id: String,
    pub discovered_at: String,
    pub data: proto::ResourceType,
}

/// One row of `v1_resources`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceRow {
    pub resource_type_id: String,
    pub external_id: String,
    pub parent_resource_type_id: Option<String>,
    pub parent_resource_id: Option<String>,
    pub sync_id: String,
    pub discovered_at: String,
    pub data: proto::Resource,
}

/// One row of `v1_entitlements`.
#[derive(Clone, Debug, PartialEq)]
pub struct EntitlementRow {
    pub resource_type_id: String,
    pub resource_id: String,
    pub external_id: String,
    pub sync_id: String,
    pub discovered_at: String,
    pub data: proto::Entitlement,
}

/// One row of `v1_grants`.
#[derive(Clone, Debug, PartialEq)]
pub struct GrantRow {
    pub resource_type_id: String,
    pub resource_id: String,
    pub entitlement_id: String,
    pub principal_resource_type_id: String,
    pub principal_resource_id: String,
    pub external_id: String,
    pub expansion: Option<Vec<u8>>,
    pub needs_expansion: bool,
    pub sync_id: String,
    pub discovered_at: String,
    pub data: proto::Grant,
}

/// The object tables of a c1z.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    ResourceTypes,
    Resources,
    Entitlements,
    Grants,
}

impl Table {
    /// The SQLite table name.
    pub fn name(self) -> &'static str {
        match self {
            Table::ResourceTypes => "v1_resource_types",
            Table::Resources => "v1_resources",
            Table::Entitlements => "v1_entitlements",
            Table::Grants => "v1_grants",
        }
    }
}

/// An opened `.c1z`: a SQLite connection on a decompressed temp copy, deleted when this is dropped.
pub struct C1zFile {
    conn: Connection,
    _dir: TempDir,
    _guard: crate::temp::TempGuard<'static>,
}

const SYNC_RUN_COLUMNS: &str =
    "sync_id, cast(started_at as text), cast(ended_at as text), sync_token, \
                                sync_type, parent_sync_id";

impl C1zFile {
    /// Opens the c1z at `path` (a 0-byte file is an empty database; a zstd frame holding no bytes is
    /// refused). `path` itself is never written.
    pub fn open(path: &Path, limits: &DecodeLimits) -> anyhow::Result<C1zFile> {
        // Removed on Ctrl-C too: the decompressed copy is as large as the database and as sensitive.
        let (dir, guard) = crate::temp::create_registered(
            || tempfile::Builder::new().prefix("c1z").tempdir(),
            |dir| dir.path().to_path_buf(),
        )
        .context("create a temp dir for the c1z database")?;
        let db = dir.path().join("db");
        if decompress_c1z(path, &db, limits)?
            && std::fs::metadata(&db)
                .with_context(|| format!("inspect {}", db.display()))?
                .len()
                == 0
        {
            bail!(
                "{}: not a valid c1z: its zstd frame holds no SQLite database (0 bytes)",
                path.display()
            );
        }
        let conn = open_private_db(&db, path, 64 * 1024)?;
        Ok(C1zFile {
            conn,
            _dir: dir,
            _guard: guard,
        })
    }

    /// The SQLite connection on the temp copy.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Every sync run, oldest start first.
    pub fn sync_runs(&self) -> anyhow::Result<Vec<SyncRun>> {
        let sql = format!("select {SYNC_RUN_COLUMNS} from v1_sync_runs order by started_at, id");
        self.query_sync_runs(&sql, &[])
    }

    /// The sync a Baton list call shows without an explicit sync id: the latest finished full sync, else
    /// the latest unfinished sync started in the last 7 days, else `None` (Baton then applies no filter).
    pub fn default_sync(&self) -> anyhow::Result<Option<SyncRun>> {
        let finished = format!(
            "select {SYNC_RUN_COLUMNS} from v1_sync_runs where ended_at is not null and sync_type = 'full' \
             order by ended_at desc, sync_id desc limit 1"
        );
        if let Some(run) = self.query_sync_runs(&finished, &[])?.pop() {
            return Ok(Some(run));
        }
        let cutoff = clock::sqlite_time(&(clock::now() - chrono::TimeDelta::days(7)));
        let unfinished = format!(
            "select {SYNC_RUN_COLUMNS} from v1_sync_runs where ended_at is null and started_at >= ?1 \
             order by started_at desc limit 1"
        );
        Ok(self.query_sync_runs(&unfinished, &[&cutoff])?.pop())
    }

    /// The latest finished sync of any type (what `baton stats` reads).
    pub fn latest_finished_sync(&self) -> anyhow::Result<Option<SyncRun>> {
        let sql = format!(
            "select {SYNC_RUN_COLUMNS} from v1_sync_runs where ended_at is not null \
             order by ended_at desc, sync_id desc limit 1"
        );
        Ok(self.query_sync_runs(&sql, &[])?.pop())
    }

    /// The finished full syncs, newest first.
    pub fn finished_full_syncs(&self) -> anyhow::Result<Vec<SyncRun>> {
        let sql = format!(
            "select {SYNC_RUN_COLUMNS} from v1_sync_runs where ended_at is not null and sync_type = 'full' \
             order by ended_at desc, sync_id desc"
        );
        self.query_sync_runs(&sql, &[])
    }

    /// The `data` blobs of one object table, by row id: of one sync, or of every sync when `sync_id` is
    /// `None` (what Baton's readers show when no sync qualifies).
    pub fn data_blobs(&self, table: Table, sync_id: Option<&str>) -> anyhow::Result<Vec<Vec<u8>>> {
        let name = table.name();
        let sql = format!(
            "select external_id, data from {name} where ?1 is null or sync_id = ?1 order by id"
        );
        let mut stmt = self
            .conn
            .prepare(&sql)
            .with_context(|| format!("query {name}"))?;
        let mut rows = stmt
            .query([sync_id])
            .with_context(|| format!("query {name}"))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().with_context(|| format!("read {name}"))? {
            let external_id: String = row.get(0).with_context(|| format!("read {name}"))?;
            let bytes = row
                .get_ref(1)
                .with_context(|| format!("read {name}"))?
                .as_blob()
                .with_context(|| format!("{name} row {external_id:?}: data is not a blob"))?;
            out.push(bytes.to_vec());
        }
        Ok(out)
    }

    fn query_sync_runs(
        &self,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> anyhow::Result<Vec<SyncRun>> {
        let mut stmt = self.conn.prepare(sql).context("query v1_sync_runs")?;
        let rows = stmt
            .query_map(params, |row| {
                Ok(SyncRun {
                    sync_id: row.get(0)?,
                    started_at: row.get(1)?,
                    ended_at: row.get(2)?,
                    sync_token: row.get(3)?,
                    sync_type: row.get(4)?,
                    parent_sync_id: row.get(5)?,
                })
            })
            .context("query v1_sync_runs")?;
        rows.collect::<Result<Vec<_>, _>>()
            .context("read v1_sync_runs")
    }

    /// The resource types of a sync, by row id.
    pub fn resource_types(&self, sync_id: &str) -> anyhow::Result<Vec<ResourceTypeRow>> {
        let sql = "select external_id, sync_id, cast(discovered_at as text), data from v1_resource_types \
                   where sync_id = ?1 order by id";
        self.collect_rows("v1_resource_types", sql, sync_id, |row| {
            let external_id: String = row.get(0)?;
            let data = decode("v1_resource_types", &external_id, row.get_ref(3)?)?;
            Ok(ResourceTypeRow {
                sync_id: row.get(1)?,
                discovered_at: row.get(2)?,
                external_id,
                data,
            })
        })
    }

    /// The resources of a sync, by row id.
    pub fn resources(&self, sync_id: &str) -> anyhow::Result<Vec<ResourceRow>> {
        let sql = "select resource_type_id, external_id, parent_resource_type_id, parent_resource_id, sync_id, \
                   cast(discovered_at as text), data from v1_resources where sync_id = ?1 order by id";
        self.collect_rows("v1_resources", sql, sync_id, |row| {
            let external_id: String = row.get(1)?;
            let data = decode("v1_resources", &external_id, row.get_ref(6)?)?;
            Ok(ResourceRow {
                resource_type_id: row.get(0)?,
                parent_resource_type_id: row.get(2)?,
                parent_resource_id: row.get(3)?,
                sync_id: row.get(4)?,
                discovered_at: row.get(5)?,
                external_id,
                data,
            })
        })
    }

    /// The entitlements of a sync, by row id.
    pub fn entitlements(&self, sync_id: &str) -> anyhow::Result<Vec<EntitlementRow>> {
        let sql = "select resource_type_id, resource_id, external_id, sync_id, cast(discovered_at as text), data \
                   from v1_entitlements where sync_id = ?1 order by id";
        self.collect_rows("v1_entitlements", sql, sync_id, |row| {
            let external_id: String = row.get(2)?;
            let data = decode("v1_entitlements", &external_id, row.get_ref(5)?)?;
            Ok(EntitlementRow {
                resource_type_id: row.get(0)?,
                resource_id: row.get(1)?,
                sync_id: row.get(3)?,
                discovered_at: row.get(4)?,
                external_id,
                data,
            })
        })
    }

    /// The grants of a sync, by row id.
    pub fn grants(&self, sync_id: &str) -> anyhow::Result<Vec<GrantRow>> {
        let sql =
            "select resource_type_id, resource_id, entitlement_id, principal_resource_type_id, \
                   principal_resource_id, external_id, expansion, needs_expansion, sync_id, \
                   cast(discovered_at as text), data from v1_grants where sync_id = ?1 order by id";
        self.collect_rows("v1_grants", sql, sync_id, |row| {
            let external_id: String = row.get(5)?;
            let data = decode("v1_grants", &external_id, row.get_ref(10)?)?;
            Ok(GrantRow {
                resource_type_id: row.get(0)?,
                resource_id: row.get(1)?,
                entitlement_id: row.get(2)?,
                principal_resource_type_id: row.get(3)?,
                principal_resource_id: row.get(4)?,
                expansion: row.get(6)?,
                needs_expansion: row.get::<_, i64>(7)? != 0,
                sync_id: row.get(8)?,
                discovered_at: row.get(9)?,
                external_id,
                data,
            })
        })
    }

    fn collect_rows<T>(
        &self,
        table: &str,
        sql: &str,
        sync_id: &str,
        mut build: impl FnMut(&rusqlite::Row<'_>) -> anyhow::Result<T>,
    ) -> anyhow::Result<Vec<T>> {
        let mut stmt = self
            .conn
            .prepare(sql)
            .with_context(|| format!("query {table}"))?;
        let mut rows = stmt
            .query([sync_id])
            .with_context(|| format!("query {table}"))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().with_context(|| format!("read {table}"))? {
            out.push(build(row).with_context(|| format!("read a row of {table}"))?);
        }
        Ok(out)
    }
}

fn decode<M: Message + Default>(
    table: &str,
    external_id: &str,
    value: rusqlite::types::ValueRef<'_>,
) -> anyhow::Result<M> {
    let bytes = value
        .as_blob()
        .with_context(|| format!("{table} row {external_id:?}: data is not a blob"))?;
    M::decode(bytes).with_context(|| format!("{table} row {external_id:?}: cannot decode data"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Entitlement, Grant, Resource, ResourceId, ResourceType};
    use crate::{write_sync, SyncRecords, WriteOptions};
    use std::fs;
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
        let report = write_sync(&path, &records(), clock::now(), &WriteOptions::default()).unwrap();
        (path, report.sync_id)
    }

    /// A c1z made of a raw SQLite database prepared by `sql`, framed by the zstd crate with `frame`.
    fn raw_c1z(dir: &TempDir, sql: &str, frame: impl Fn(&[u8]) -> Vec<u8>) -> std::path::PathBuf {
        let db = dir.path().join("raw.db");
        let conn = Connection::open(&db).unwrap();
        schema::migrate(&conn).unwrap();
        conn.execute_batch(sql).unwrap();
        conn.close().unwrap();
        let mut bytes = MAGIC_V1.to_vec();
        bytes.extend(frame(&fs::read(&db).unwrap()));
        let path = dir.path().join("raw.c1z");
        fs::write(&path, bytes).unwrap();
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
            parse_frame_header(&[0x28, 0xb5, 0x2f, 0xfd, 0x84, 0x70, 0x78, 0x56, 0x34, 0x12])
                .unwrap();
        assert_eq!(header.content_size, Some(0x1234_5678));
        assert_eq!(header.window_size, 16 << 20);
        assert_eq!(parse_frame_header(&[0x28, 0xb5, 0x2f]), None);
        assert_eq!(parse_frame_header(b"C1ZF\0abc"), None);
    }

    #[test]
    fn c1z_reader_limits_from_env_and_window_log() {
        let limits = DecodeLimits::default();
        assert_eq!(limits.max_window_bytes, 128 << 20);
        assert_eq!(limits.max_decoded_bytes, 3 << 30);
        assert_eq!(limits.window_log_max(), 27);
        let odd = DecodeLimits {
            max_window_bytes: 100 << 20,
            ..limits
        };
        assert_eq!(odd.window_log_max(), 27);
        let tiny = DecodeLimits {
            max_window_bytes: 1,
            ..limits
        };
        assert_eq!(tiny.window_log_max(), 10);
    }
}
