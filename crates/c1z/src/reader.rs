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

/// Decoded size cap of the oldest Baton readers still in use (baton-sdk v0.1.14): 2 GiB.
pub const OLDEST_READER_MAX_DECODED_BYTES: u64 = 2 * 1024 * MIB;
/// Decoded size cap of the current Baton readers, the largest of any reader: 10 GiB.
pub const CURRENT_READER_MAX_DECODED_BYTES: u64 = 10 * 1024 * MIB;

/// The zstd decoder limits of Baton's readers: the window of v0.7.27 and later, the decoded size of
/// the current SDK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted zstd window (`BATON_DECODER_MAX_MEMORY_MB`, default 128 MiB).
    pub max_window_bytes: u64,
    /// Largest accepted decompressed size (`BATON_DECODER_MAX_DECODED_SIZE_MB`, default 10 GiB).
    pub max_decoded_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_window_bytes: 128 * MIB,
            max_decoded_bytes: CURRENT_READER_MAX_DECODED_BYTES,
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
    /// Whether the frame is one segment (no window descriptor; the window is the content size).
    pub single_segment: bool,
    /// Whether the frame ends with a content checksum.
    pub has_checksum: bool,
    /// Frame_Content_Size, when present.
    pub content_size: Option<u64>,
    /// Window size as the decoder computes it (the content size for single-segment frames).
    pub window_size: u64,
}

/// Parses the header of the zstd frame at the start of `bytes`; `None` if it is not a complete header of a
/// regular (non-skippable) frame.
///
/// Parsed here rather than asked of libzstd: its stable API (`zstd_safe::get_frame_content_size`) gives
/// only the content size, while the memory limit needs the window size, which only the experimental
/// `ZSTD_getFrameHeader` reports and `zstd-safe` does not wrap. The tests check the content size against
/// libzstd's.
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

/// Why the first bytes of a file are not those of a v1 c1z. Callers tell the cases apart by variant
/// (`err.downcast_ref::<FormatError>()`), never by the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// The magic is neither `C1ZF\0` nor `C1Z3\0`.
    NotC1z {
        /// The file read.
        path: std::path::PathBuf,
    },
    /// The magic `C1Z3\0`: baton-sdk's newer v3 format (a manifest and a Pebble store), which only the
    /// current `baton` CLI and baton-sdk read.
    NewerV3 {
        /// The file read.
        path: std::path::PathBuf,
    },
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormatError::NotC1z { path } => write!(f, "{} is not a c1z file", path.display()),
            FormatError::NewerV3 { path } => write!(
                f,
                "{}: C1Z3 (Pebble) files are not supported; this is baton-sdk's newer v3 c1z format (a \
                 Pebble store), which the current `baton` CLI and baton-sdk read; only the v1 (SQLite, \
                 magic C1ZF) format is read and written here",
                path.display()
            ),
        }
    }
}

impl std::error::Error for FormatError {}

/// Checks the first bytes of a non-empty file for the v1 magic.
pub(crate) fn check_magic(path: &Path, header: &[u8]) -> anyhow::Result<()> {
    if header == MAGIC_V1 {
        return Ok(());
    }
    let path = path.to_path_buf();
    if header == MAGIC_V3 {
        return Err(FormatError::NewerV3 { path }.into());
    }
    Err(FormatError::NotC1z { path }.into())
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
/// Page size of the databases the writer creates, the largest SQLite has (every reader accepts it).
const PAGE_SIZE: i64 = 65536;

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
    // A database created here (the writer's, for a new file) gets the largest page: a grant table of
    // millions of rows is scanned once per index built, and large pages make those scans and the
    // B-trees cheaper and the file smaller (BENCHMARKS.md). No effect on an existing database until
    // it is vacuumed.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
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
    /// The sync's KSUID.
    pub sync_id: String,
    /// When it started, as stored (local time text).
    pub started_at: String,
    /// When it ended, as stored; `None` while unfinished.
    pub ended_at: Option<String>,
    /// The syncer's resume state (JSON); empty when done.
    pub sync_token: String,
    /// `full`, `partial`, ...
    pub sync_type: String,
    /// The sync this one derives from; empty if none.
    pub parent_sync_id: String,
}

/// One row of `v1_resource_types`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceTypeRow {
    /// The resource type id.
    pub external_id: String,
    /// The sync it belongs to.
    pub sync_id: String,
    /// When it was stored, as stored (local time text).
    pub discovered_at: String,
    /// The decoded message.
    pub data: proto::ResourceType,
}

/// One row of `v1_resources`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceRow {
    /// The resource type id.
    pub resource_type_id: String,
    /// `type:id`.
    pub external_id: String,
    /// The parent's resource type, if any.
    pub parent_resource_type_id: Option<String>,
    /// The parent's resource id, if any.
    pub parent_resource_id: Option<String>,
    /// The sync it belongs to.
    pub sync_id: String,
    /// When it was stored, as stored (local time text).
    pub discovered_at: String,
    /// The decoded message.
    pub data: proto::Resource,
}

/// One row of `v1_entitlements`.
#[derive(Clone, Debug, PartialEq)]
pub struct EntitlementRow {
    /// The resource type of its resource.
    pub resource_type_id: String,
    /// The id of its resource.
    pub resource_id: String,
    /// The entitlement id.
    pub external_id: String,
    /// The sync it belongs to.
    pub sync_id: String,
    /// When it was stored, as stored (local time text).
    pub discovered_at: String,
    /// The decoded message.
    pub data: proto::Entitlement,
}

/// One row of `v1_grants`.
#[derive(Clone, Debug, PartialEq)]
pub struct GrantRow {
    /// The resource type of the entitlement's resource.
    pub resource_type_id: String,
    /// The id of the entitlement's resource.
    pub resource_id: String,
    /// The entitlement id.
    pub entitlement_id: String,
    /// The principal's resource type.
    pub principal_resource_type_id: String,
    /// The principal's resource id.
    pub principal_resource_id: String,
    /// The grant id.
    pub external_id: String,
    /// Baton's pending expansion state; `None` when there is none.
    pub expansion: Option<Vec<u8>>,
    /// Whether Baton still has to expand the grant.
    pub needs_expansion: bool,
    /// The sync it belongs to.
    pub sync_id: String,
    /// When it was stored, as stored (local time text).
    pub discovered_at: String,
    /// The decoded message.
    pub data: proto::Grant,
}

/// The object tables of a c1z.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// `v1_resource_types`.
    ResourceTypes,
    /// `v1_resources`.
    Resources,
    /// `v1_entitlements`.
    Entitlements,
    /// `v1_grants`.
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

    /// Writes the sync `sync_id` alone into a new c1z at `target`, as baton-sdk's `CloneSync` (the
    /// `baton` CLI's `export c1z`) does: the rows of every other sync are dropped from this file's
    /// private copy (the source file is not touched), the database is vacuumed, and the result is
    /// compressed into a temp file beside `target` and renamed over it. Returns the new file's size.
    pub fn export_sync(self, sync_id: &str, target: &Path) -> anyhow::Result<u64> {
        if !self.sync_runs()?.iter().any(|run| run.sync_id == sync_id) {
            bail!("sync {sync_id} is not in the file (see `inspect syncs`)");
        }
        for table in schema::TABLES {
            self.conn
                .execute(
                    &format!("delete from {table} where sync_id != ?1"),
                    [sync_id],
                )
                .with_context(|| format!("drop the other syncs from {table}"))?;
        }
        self.conn
            .execute_batch("VACUUM")
            .context("vacuum the exported database")?;
        let C1zFile { conn, _dir, _guard } = self;
        conn.close()
            .map_err(|(_, e)| e)
            .context("close the exported database")?;
        let mut quiet = crate::progress::Tracker::new(Box::new(crate::progress::NoProgress));
        crate::writer::publish(&_dir.path().join("db"), target, 3, &mut quiet)
            .with_context(|| format!("cannot write {}", target.display()))
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

    /// The finished full syncs, newest first by `ended_at` text as Baton's readers order them (local wall
    /// clock, so a clock change between syncs can misorder them; the writer's cleanup goes by row id).
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

    /// Calls `visit` with the `data` blob of each row of one object table that `filter` selects, by row
    /// id (the order of [`C1zFile::data_blobs`]), of one sync or of every sync when `sync_id` is `None`.
    /// Rows are read one at a time, so a table of any size costs the memory of one row.
    pub fn for_each_blob(
        &self,
        table: Table,
        sync_id: Option<&str>,
        filter: &RowFilter<'_>,
        mut visit: impl FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.find_blob::<()>(table, sync_id, filter, |bytes| {
            visit(bytes)?;
            Ok(None)
        })
        .map(|_| ())
    }

    /// The first value `pick` makes of the `data` blob of a row of one object table that `filter`
    /// selects, in one sync (of every sync with `None`): rows are offered by row id (the order of
    /// [`C1zFile::for_each_blob`]), one at a time, until `pick` returns `Some`; the rest are not read. The
    /// statement is cached, for callers that ask once per principal or resource.
    pub fn find_blob<T>(
        &self,
        table: Table,
        sync_id: Option<&str>,
        filter: &RowFilter<'_>,
        mut pick: impl FnMut(&[u8]) -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<Option<T>> {
        let name = table.name();
        let (sql, params) = filtered_sql("external_id, data", table, true, filter, "order by id")?;
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .with_context(|| format!("query {name}"))?;
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![&sync_id];
        values.extend(params.iter().map(|p| p as &dyn rusqlite::ToSql));
        let mut rows = stmt
            .query(values.as_slice())
            .with_context(|| format!("query {name}"))?;
        while let Some(row) = rows.next().with_context(|| format!("read {name}"))? {
            if let Some(found) = pick(row_blob(name, row)?)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Calls `visit` with each distinct principal (`principal_resource_type_id`, `principal_resource_id`)
    /// of the grants `filter` selects, in one sync (of every sync with `None`), ordered by type, then id
    /// (byte order, as Rust orders strings). SQLite dedupes and orders them (through the principal
    /// indexes, or a temp b-tree of the distinct principals), and they are read one row at a time.
    ///
    /// The principal indexes do not hold the sync: with a sync, each grant's row is read to check it
    /// (millions of reads on a large file), while with `None` the indexes alone answer when the filter
    /// is on the entitlement or on nothing. A caller that checks each principal against its sync anyway
    /// can ask for every sync's principals.
    pub fn for_each_grant_principal(
        &self,
        sync_id: Option<&str>,
        filter: &RowFilter<'_>,
        mut visit: impl FnMut(&str, &str) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let name = Table::Grants.name();
        let (sql, params) = filtered_sql(
            "distinct principal_resource_type_id, principal_resource_id",
            Table::Grants,
            sync_id.is_some(),
            filter,
            "order by principal_resource_type_id, principal_resource_id",
        )?;
        let mut stmt = self
            .conn
            .prepare(&sql)
            .with_context(|| format!("query {name}"))?;
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![&sync_id];
        values.extend(params.iter().map(|p| p as &dyn rusqlite::ToSql));
        let mut rows = stmt
            .query(values.as_slice())
            .with_context(|| format!("query the principals of {name}"))?;
        while let Some(row) = rows
            .next()
            .with_context(|| format!("read the principals of {name}"))?
        {
            let type_id: String = row
                .get(0)
                .with_context(|| format!("read the principals of {name}"))?;
            let id: String = row
                .get(1)
                .with_context(|| format!("read the principals of {name}"))?;
            visit(&type_id, &id)?;
        }
        Ok(())
    }

    /// The `data` blob of the row of one object table whose `external_id` is this, in one sync (the
    /// newest such row of any sync with `None`), found through the `(external_id, sync_id)` index.
    pub fn blob_by_external_id(
        &self,
        table: Table,
        sync_id: Option<&str>,
        external_id: &str,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        let name = table.name();
        let sql = format!(
            "select external_id, data from {name} where external_id = ?1 \
             and (?2 is null or sync_id = ?2) order by id desc limit 1"
        );
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .with_context(|| format!("query {name}"))?;
        let mut rows = stmt
            .query(rusqlite::params![external_id, sync_id])
            .with_context(|| format!("query {name}"))?;
        match rows.next().with_context(|| format!("read {name}"))? {
            Some(row) => Ok(Some(row_blob(name, row)?.to_vec())),
            None => Ok(None),
        }
    }

    /// The row id of the first row of one object table whose `external_id` is this, in one sync (of any
    /// sync with `None`).
    pub fn first_row_id(
        &self,
        table: Table,
        sync_id: Option<&str>,
        external_id: &str,
    ) -> anyhow::Result<Option<i64>> {
        let name = table.name();
        let sql = format!(
            "select min(id) from {name} where external_id = ?1 and (?2 is null or sync_id = ?2)"
        );
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut stmt| {
                stmt.query_row(rusqlite::params![external_id, sync_id], |row| row.get(0))
            })
            .with_context(|| format!("query {name}"))
    }

    /// The rows of one object table in one sync, ordered by `external_id` (byte order), read a page at a
    /// time: what an ordered merge of two syncs walks.
    pub fn blobs_by_external_id<'a>(&'a self, table: Table, sync_id: &'a str) -> KeyedBlobs<'a> {
        KeyedBlobs {
            file: self,
            table,
            sync_id,
            last: None,
            page: std::collections::VecDeque::new(),
            done: false,
        }
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

/// `select <columns> from <table>` of the rows `filter` selects in the sync `?1` (every sync when it is
/// null), then `tail`; and the filter's values, bound from `?2` on. Without `of_sync` (for a null `?1`)
/// the query does not name `sync_id` at all.
fn filtered_sql<'a>(
    columns: &str,
    table: Table,
    of_sync: bool,
    filter: &RowFilter<'a>,
    tail: &str,
) -> anyhow::Result<(String, Vec<&'a str>)> {
    let name = table.name();
    let mut sql = format!("select {columns} from {name} where (?1 is null or sync_id = ?1)");
    if !of_sync {
        // The same parameters, but no reference to the column: an index that lacks it still covers.
        sql = format!("select {columns} from {name} where (?1 is null)");
    }
    let mut params: Vec<&str> = Vec::new();
    for (column, value) in filter.columns(table)? {
        params.push(value);
        sql.push_str(&format!(" and {column} = ?{}", params.len() + 1));
    }
    sql.push(' ');
    sql.push_str(tail);
    Ok((sql, params))
}

fn row_blob<'r>(name: &str, row: &'r rusqlite::Row<'_>) -> anyhow::Result<&'r [u8]> {
    let external_id: String = row.get(0).with_context(|| format!("read {name}"))?;
    row.get_ref(1)
        .with_context(|| format!("read {name}"))?
        .as_blob()
        .with_context(|| format!("{name} row {external_id:?}: data is not a blob"))
}

/// Which rows of an object table [`C1zFile::for_each_blob`] visits: each filter given must equal its
/// (indexed) column. A table without that column is an error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowFilter<'a> {
    /// `resource_type_id`: the resource's type (of the entitlement's resource, for entitlements and grants).
    pub resource_type_id: Option<&'a str>,
    /// `resource_id`: the entitlement's resource id (entitlements and grants).
    pub resource_id: Option<&'a str>,
    /// `entitlement_id` (grants).
    pub entitlement_id: Option<&'a str>,
    /// `principal_resource_type_id` and `principal_resource_id` (grants).
    pub principal: Option<(&'a str, &'a str)>,
}

impl<'a> RowFilter<'a> {
    /// The `(column, value)` pairs of this filter on `table`.
    fn columns(&self, table: Table) -> anyhow::Result<Vec<(&'static str, &'a str)>> {
        let mut out = Vec::new();
        let allowed: &[&str] = match table {
            Table::ResourceTypes => &[],
            Table::Resources => &["resource_type_id"],
            Table::Entitlements => &["resource_type_id", "resource_id"],
            Table::Grants => &[
                "resource_type_id",
                "resource_id",
                "entitlement_id",
                "principal_resource_type_id",
                "principal_resource_id",
            ],
        };
        let mut push = |column: &'static str, value: Option<&'a str>| -> anyhow::Result<()> {
            if let Some(value) = value {
                if !allowed.contains(&column) {
                    bail!("{} has no column {column} to filter on", table.name());
                }
                out.push((column, value));
            }
            Ok(())
        };
        push("resource_type_id", self.resource_type_id)?;
        push("resource_id", self.resource_id)?;
        push("entitlement_id", self.entitlement_id)?;
        push("principal_resource_type_id", self.principal.map(|p| p.0))?;
        push("principal_resource_id", self.principal.map(|p| p.1))?;
        Ok(out)
    }
}

/// Rows of one sync's object table in `external_id` order (see [`C1zFile::blobs_by_external_id`]).
pub struct KeyedBlobs<'a> {
    file: &'a C1zFile,
    table: Table,
    sync_id: &'a str,
    last: Option<String>,
    page: std::collections::VecDeque<(String, Vec<u8>)>,
    done: bool,
}

/// Rows fetched per query by [`KeyedBlobs`].
const KEYED_PAGE_ROWS: i64 = 1000;

impl KeyedBlobs<'_> {
    /// The next row's `external_id` and `data` blob, `None` after the last.
    pub fn next_row(&mut self) -> anyhow::Result<Option<(String, Vec<u8>)>> {
        if self.page.is_empty() && !self.done {
            self.fetch()?;
        }
        Ok(self.page.pop_front())
    }

    fn fetch(&mut self) -> anyhow::Result<()> {
        let name = self.table.name();
        let sql = match self.last {
            None => format!(
                "select external_id, data from {name} where sync_id = ?1 \
                 order by external_id limit ?2"
            ),
            Some(_) => format!(
                "select external_id, data from {name} where sync_id = ?1 and external_id > ?3 \
                 order by external_id limit ?2"
            ),
        };
        let mut stmt = self
            .file
            .conn
            .prepare_cached(&sql)
            .with_context(|| format!("query {name}"))?;
        let mut rows = match &self.last {
            None => stmt.query(rusqlite::params![self.sync_id, KEYED_PAGE_ROWS]),
            Some(last) => stmt.query(rusqlite::params![self.sync_id, KEYED_PAGE_ROWS, last]),
        }
        .with_context(|| format!("query {name}"))?;
        let mut n = 0;
        while let Some(row) = rows.next().with_context(|| format!("read {name}"))? {
            let external_id: String = row.get(0).with_context(|| format!("read {name}"))?;
            let bytes = row_blob(name, row)?.to_vec();
            self.page.push_back((external_id, bytes));
            n += 1;
        }
        if n < KEYED_PAGE_ROWS {
            self.done = true;
        }
        self.last = self.page.back().map(|(id, _)| id.clone());
        Ok(())
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

    #[test]
    fn c1z_reader_limits_from_env_and_window_log() {
        let limits = DecodeLimits::default();
        assert_eq!(limits.max_window_bytes, 128 << 20);
        assert_eq!(limits.max_decoded_bytes, 10 << 30);
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
