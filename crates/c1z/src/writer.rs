//! Writes one finished full sync into a `.c1z`, laid out as baton-sdk's `pkg/dotc1z` writes it.
//!
//! The existing file (if any) is decompressed into a private working SQLite database, the sync is added in
//! one transaction, older syncs are cleaned up, and the result is compressed into a temp file next to the
//! target that atomically replaces it. On any error the target is left untouched. [`SyncWriter`] takes
//! the records one at a time as they are produced and expands the grants in the database, so no sync is
//! ever held in memory; [`write_sync`] writes records already in memory through it.

use crate::atomic_file;
use crate::clock::{self, Ksuid};
use crate::progress::{Phase, Tracker, WriteProgress, BYTES_PER_TICK};
use crate::proto::{Entitlement, Grant, Resource, ResourceId, ResourceType};
use crate::reader::{decompress_c1z, open_private_db, DecodeLimits};
use crate::row_store::{stored_principal, GrantRows, RowIdStore};
use crate::rows_worker::{RowsWorker, Statements};
use crate::{schema, RecordSink, SyncRecords, WriteOptions, WriteReport, MAGIC_V1};
use anyhow::{bail, ensure, Context};
use chrono::{DateTime, Local};
use prost::Message;
use rusqlite::{params, Connection};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// SQLite page cache of the working database, in KiB. The file is private and unjournaled, so pages that
/// do not fit stay in the OS page cache: a larger cache measured no faster (see BENCHMARKS.md) and only
/// held more memory while the indexes are rebuilt.
const WRITER_CACHE_KIB: i64 = 2 * 1024;
/// Fewest new rows for which a table's secondary indexes are rebuilt after the insert instead of being
/// maintained row by row.
const DEFER_INDEX_MIN_ROWS: usize = 20_000;

/// Non-unique indexes that a bulk insert may drop and rebuild (with the same DDL) afterwards. The unique
/// `(external_id, sync_id)` indexes stay, as the upserts need them.
const DEFERRABLE_INDEXES: [(&str, &str); 7] = [
    ("v1_resources", "idx_resources_resource_type_id_v1"),
    ("v1_resources", "idx_resources_external_sync_v1"),
    ("v1_entitlements", "idx_entitlements_resource_id_v1"),
    ("v1_grants", "idx_grants_resource_type_id_resource_id_v1"),
    ("v1_grants", "idx_grants_principal_id_v1"),
    ("v1_grants", "idx_grants_entitlement_id_principal_id_v1"),
    ("v1_grants", "idx_grants_entitlement_sync_grant_v1"),
];
/// The unique index on grant ids, dropped while expansion appends to a table whose other indexes are
/// deferred, and built again with them.
const UNIQUE_GRANT_INDEX: &str = "idx_grants_external_sync_v1";
/// zstd worker threads compressing the file.
const ZSTD_WORKERS: u32 = 2;
/// Input of one zstd worker job: each worker holds about this much in and out, so smaller jobs than
/// zstd's default (four windows, 32 MiB) keep the memory of compression small (8 MiB jobs saved
/// 0.3 s on `sso-xl` but added 20 MB to the peak of smaller syncs, whose peak is the compression).
const ZSTD_JOB_BYTES: u32 = 4 << 20;
/// Largest zstd window: 8 MiB, what every Baton reader accepts (v0.1.14 caps at 32 MiB).
const MAX_WINDOW_LOG: u32 = 23;

const INSERT_SYNC_RUN: &str =
    "insert into v1_sync_runs (sync_id, started_at, ended_at, sync_token, \
     sync_type, parent_sync_id, linked_sync_id, supports_diff, grants_backfilled, stats, \
     ingest_invariant_generation, ingest_invariant_coverage, ingest_invariant_mode) \
     values (?1, ?2, null, '', ?3, '', '', 0, 0, null, '', '', '')";

const END_SYNC_RUN: &str = "update v1_sync_runs set ended_at = ?1 where sync_id = ?2";

const UPSERT_RESOURCE_TYPE: &str =
    "insert into v1_resource_types (external_id, data, sync_id, discovered_at) \
     values (?1, ?2, ?3, ?4) on conflict (external_id, sync_id) do update set data = excluded.data";

pub(crate) const UPSERT_RESOURCE: &str = "insert into v1_resources (resource_type_id, external_id, \
     parent_resource_type_id, parent_resource_id, data, sync_id, discovered_at) \
     values (?1, ?2, ?3, ?4, ?5, ?6, ?7) on conflict (external_id, sync_id) do update set \
     resource_type_id = excluded.resource_type_id, parent_resource_type_id = excluded.parent_resource_type_id, \
     parent_resource_id = excluded.parent_resource_id, data = excluded.data";

pub(crate) const UPSERT_ENTITLEMENT: &str = "insert into v1_entitlements (resource_type_id, resource_id, external_id, \
     data, sync_id, discovered_at) values (?1, ?2, ?3, ?4, ?5, ?6) on conflict (external_id, sync_id) \
     do update set resource_type_id = excluded.resource_type_id, resource_id = excluded.resource_id, \
     data = excluded.data";

const UPSERT_GRANT: &str = "insert into v1_grants (resource_type_id, resource_id, entitlement_id, \
     principal_resource_type_id, principal_resource_id, external_id, expansion, needs_expansion, data, \
     sync_id, discovered_at) values (?1, ?2, ?3, ?4, ?5, ?6, null, 0, ?7, ?8, ?9) \
     on conflict (external_id, sync_id) do update set resource_type_id = excluded.resource_type_id, \
     resource_id = excluded.resource_id, entitlement_id = excluded.entitlement_id, \
     principal_resource_type_id = excluded.principal_resource_type_id, \
     principal_resource_id = excluded.principal_resource_id, data = excluded.data";

/// A grant row added to a grant table without its unique index (see [`SyncWriter`]'s `grant_rows`).
pub(crate) const INSERT_GRANT: &str = "insert into v1_grants (resource_type_id, resource_id, entitlement_id, \
     principal_resource_type_id, principal_resource_id, external_id, expansion, needs_expansion, data, \
     sync_id, discovered_at) values (?1, ?2, ?3, ?4, ?5, ?6, null, 0, ?7, ?8, ?9)";

/// Adds `records` as a new finished full sync to the c1z at `target` (created if missing or empty) and
/// replaces the file atomically. The records are written as given (not expanded). Works on a copy of
/// the records; [`write_sync_owned`] needs less memory.
pub fn write_sync(
    target: &Path,
    records: &SyncRecords,
    started_at: DateTime<Local>,
    options: &WriteOptions,
) -> anyhow::Result<WriteReport> {
    write_sync_owned(target, records.clone(), started_at, options)
}

/// [`write_sync`] that takes the records by value and frees each one as its row is inserted, so they
/// are gone before the indexes are rebuilt and the file is compressed.
pub fn write_sync_owned(
    target: &Path,
    records: SyncRecords,
    started_at: DateTime<Local>,
    options: &WriteOptions,
) -> anyhow::Result<WriteReport> {
    validate(&records)?;
    let SyncRecords {
        resource_types,
        resources,
        entitlements,
        grants,
    } = records;
    let expected = NewRows::Known([resources.len(), entitlements.len(), grants.len()]);
    let mut writer = SyncWriter::start(target, &resource_types, started_at, options, expected)?;
    writer.expand = false;
    drop(resource_types);
    for resource in resources {
        writer.resource(resource);
    }
    for entitlement in entitlements {
        writer.entitlement(entitlement);
    }
    for grant in grants {
        writer.grant(grant);
    }
    writer.finish()
}

/// How many rows the new sync adds to resources, entitlements and grants, which decides whether their
/// secondary indexes are dropped during the insert and rebuilt afterwards.
#[derive(Debug, Clone, Copy)]
enum NewRows {
    /// Unknown while streaming: the indexes are always rebuilt, which costs about as much as the rows
    /// already in the file (at most `keep_sync_count - 1` older syncs once cleanup has run).
    Unknown,
    Known([usize; 3]),
}

/// Writes one sync into a `.c1z` as its records arrive ([`RecordSink`]), row by row, in one
/// transaction of a private working database; [`SyncWriter::finish`] expands the grants in the
/// database, compresses it and replaces the target. Dropped without `finish`, it leaves the target
/// untouched and removes its working files.
///
/// [`RecordSink`] cannot fail: the first error (an invalid record, a failed insert) is kept, later
/// records are ignored, and `finish` returns it.
pub struct SyncWriter {
    /// While the rows arrive, the thread inserting them, which holds the working database (`conn`
    /// is then an empty in-memory database). Declared first so that it ends, closing the working
    /// database, before the working dir goes.
    rows: Option<RowsWorker>,
    /// The working database. Declared before the working dir so it closes (rolling the open
    /// transaction back) before the dir goes.
    conn: Connection,
    db: PathBuf,
    target: PathBuf,
    options: WriteOptions,
    sync_id: String,
    discovered_at: String,
    resource_type_ids: Vec<String>,
    removed_sync_ids: Vec<String>,
    /// Whether the deferrable indexes were dropped and must be rebuilt.
    deferred: bool,
    /// When the grant table has no index at all (its rows are many, relative to those already in the
    /// file), the grant rows of the sync as they are added: expansion looks its grants up there (see
    /// `row_store`). Grants are then appended, not upserted; a grant id given twice is merged as the
    /// upserts would have before the indexes are built (see [`merge_duplicate_grants`]).
    grant_rows: Option<GrantRows>,
    /// With `grant_rows`, the row id of the next grant (the largest row id plus one, as SQLite
    /// assigns them).
    next_grant_row: i64,
    /// Whether `finish` expands the `GrantExpandable` grants.
    expand: bool,
    /// The `GrantExpandable` grants inserted so far, in order.
    expandable: Vec<Grant>,
    /// Resources, entitlements and grants received, for the messages naming an invalid one.
    received: [usize; 3],
    data: Vec<u8>,
    key: String,
    error: Option<anyhow::Error>,
    progress: Tracker,
    _work_guard: crate::temp::TempGuard<'static>,
    _work: tempfile::TempDir,
}

impl SyncWriter {
    /// Starts a new full sync of `target` (created if missing or empty): loads the existing file into a
    /// private working database, begins the transaction, adds the sync run, removes the syncs beyond
    /// `keep_sync_count` and inserts the resource types. Nothing is published before [`Self::finish`].
    pub fn create(
        target: &Path,
        resource_types: &[ResourceType],
        started_at: DateTime<Local>,
        options: &WriteOptions,
    ) -> anyhow::Result<SyncWriter> {
        SyncWriter::start(
            target,
            resource_types,
            started_at,
            options,
            NewRows::Unknown,
        )
    }

    fn start(
        target: &Path,
        resource_types: &[ResourceType],
        started_at: DateTime<Local>,
        options: &WriteOptions,
        new_rows: NewRows,
    ) -> anyhow::Result<SyncWriter> {
        for (index, resource_type) in resource_types.iter().enumerate() {
            resource_type_id(index, resource_type)?;
        }
        let (work, work_guard) = working_dir(options)?;
        let db = work.path().join("db");
        load_target(target, &db, &options.decode_limits)?;
        let conn = open_private_db(&db, target, WRITER_CACHE_KIB)?;
        let sync_id = Ksuid::new(started_at)?.to_string();
        let mut writer = SyncWriter {
            rows: None,
            conn,
            db,
            target: target.to_path_buf(),
            options: options.clone(),
            sync_id,
            discovered_at: clock::sqlite_time(&clock::now()),
            resource_type_ids: resource_types.iter().map(|t| t.id.clone()).collect(),
            removed_sync_ids: Vec::new(),
            deferred: false,
            grant_rows: None,
            next_grant_row: 1,
            expand: true,
            expandable: Vec::new(),
            received: [0; 3],
            data: Vec::new(),
            key: String::new(),
            error: None,
            progress: Tracker::new(Box::new(crate::progress::NoProgress)),
            _work_guard: work_guard,
            _work: work,
        };
        writer
            .begin(&started_at, resource_types, new_rows)
            .with_context(|| writer.describe())?;
        Ok(writer)
    }

    /// Reports the phases of the write (rows, expansion, indexes, cleanup, compression) to `progress`.
    pub fn set_progress(&mut self, progress: Box<dyn WriteProgress>) {
        self.progress = Tracker::new(progress);
    }

    fn describe(&self) -> String {
        format!("write sync {} of {}", self.sync_id, self.target.display())
    }

    fn begin(
        &mut self,
        started_at: &DateTime<Local>,
        resource_types: &[ResourceType],
        new_rows: NewRows,
    ) -> anyhow::Result<()> {
        self.conn
            .execute_batch("BEGIN")
            .context("begin the transaction")?;
        self.conn
            .execute(
                INSERT_SYNC_RUN,
                params![
                    self.sync_id,
                    clock::sqlite_time(started_at),
                    self.options.sync_type.as_str()
                ],
            )
            .context("insert into v1_sync_runs")?;
        let deferred = drop_deferrable_indexes(&self.conn, new_rows)?;
        self.deferred = deferred.any;
        if deferred.grants {
            self.conn
                .execute_batch(&format!("drop index if exists {UNIQUE_GRANT_INDEX}"))
                .context("drop the grant id index")?;
            self.grant_rows = Some(GrantRows::default());
        }
        if !self.options.skip_cleanup {
            self.removed_sync_ids = remove_old_syncs(&self.conn, self.options.keep_sync_count)?;
        }
        let mut stmt = self.conn.prepare_cached(UPSERT_RESOURCE_TYPE)?;
        for resource_type in resource_types {
            self.data.clear();
            resource_type
                .encode(&mut self.data)
                .context("encode protobuf")?;
            stmt.execute(params![
                resource_type.id,
                self.data,
                self.sync_id,
                self.discovered_at
            ])
            .with_context(|| format!("insert resource type {:?}", resource_type.id))?;
        }
        drop(stmt);
        let statements = Statements {
            resource: UPSERT_RESOURCE,
            entitlement: UPSERT_ENTITLEMENT,
            grant: match self.grant_rows {
                Some(_) => INSERT_GRANT,
                None => UPSERT_GRANT,
            },
        };
        if self.grant_rows.is_some() {
            let max: Option<i64> = self
                .conn
                .query_row("select max(rowid) from v1_grants", [], |row| row.get(0))
                .context("read the largest grant row id")?;
            self.next_grant_row = max.unwrap_or(0) + 1;
        }
        let conn = std::mem::replace(
            &mut self.conn,
            Connection::open_in_memory().context("open an in-memory database")?,
        );
        self.rows = Some(RowsWorker::start(
            conn,
            statements,
            self.sync_id.clone(),
            self.discovered_at.clone(),
        )?);
        Ok(())
    }

    /// Stops the thread inserting the rows, taking the working database back; fails with the first
    /// insert that failed.
    fn stop_rows(&mut self) -> anyhow::Result<()> {
        let Some(rows) = self.rows.take() else {
            return Ok(());
        };
        let (conn, result) = rows.stop()?;
        self.conn = conn;
        result
    }

    /// The thread inserting the rows, unless one of its inserts failed (the rows that follow are
    /// dropped; [`Self::finish`] reports the failure).
    fn rows_worker(&mut self) -> anyhow::Result<Option<&mut RowsWorker>> {
        let rows = self
            .rows
            .as_mut()
            .context("the rows were given after the sync was finished")?;
        Ok((!rows.failed()).then_some(rows))
    }

    fn insert_resource(&mut self, index: usize, resource: &Resource) -> anyhow::Result<()> {
        let keys = resource_keys(index, resource)?;
        self.data.clear();
        resource.encode(&mut self.data).context("encode protobuf")?;
        self.key.clear();
        self.key.push_str(&keys.id.resource_type);
        self.key.push(':');
        self.key.push_str(&keys.id.resource);
        let (data, key) = (
            std::mem::take(&mut self.data),
            std::mem::take(&mut self.key),
        );
        if let Some(rows) = self.rows_worker()? {
            let parent = keys
                .parent
                .map(|p| (p.resource_type.as_str(), p.resource.as_str()));
            rows.resource(&keys.id.resource_type, &key, parent, &data);
        }
        (self.data, self.key) = (data, key);
        Ok(())
    }

    fn insert_entitlement(
        &mut self,
        index: usize,
        entitlement: &Entitlement,
    ) -> anyhow::Result<()> {
        let resource = entitlement_keys(index, entitlement)?;
        self.data.clear();
        entitlement
            .encode(&mut self.data)
            .context("encode protobuf")?;
        let data = std::mem::take(&mut self.data);
        if let Some(rows) = self.rows_worker()? {
            rows.entitlement(
                &resource.resource_type,
                &resource.resource,
                &entitlement.id,
                &data,
            );
        }
        self.data = data;
        Ok(())
    }

    /// Keeps the first error; later records are ignored.
    fn latch(&mut self, result: anyhow::Result<()>) {
        if let Err(e) = result {
            self.error = Some(e);
        }
    }

    /// Ends the sync: fails with the first record error, rebuilds the indexes, expands the grants,
    /// finishes the sync run, commits, cleans up, and atomically replaces the target with the compressed
    /// database.
    pub fn finish(mut self) -> anyhow::Result<WriteReport> {
        if let Some(e) = self.error.take() {
            // An insert that failed came before any record found invalid after it was sent.
            let e = self.stop_rows().err().unwrap_or(e);
            return Err(e.context(self.describe()));
        }
        self.complete().with_context(|| self.describe())?;
        let SyncWriter {
            conn,
            db,
            target,
            options,
            sync_id,
            resource_type_ids,
            removed_sync_ids,
            mut progress,
            _work_guard,
            _work,
            ..
        } = self;
        if !options.skip_cleanup {
            progress.start(Phase::Cleanup, None);
            vacuum_if_fragmented(&conn)?;
            progress.end();
        }
        let counts = count_rows(&conn, &sync_id)?;
        let resources_by_type = count_resources_by_type(&conn, &sync_id, &resource_type_ids)?;
        let kept_sync_ids = finished_full_syncs(&conn)?;
        close(conn, &db)?;
        let decoded_bytes = fs::metadata(&db)
            .with_context(|| format!("inspect {}", db.display()))?
            .len();
        ensure!(
            decoded_bytes <= options.max_decoded_bytes,
            "the file would decode to {decoded_bytes} bytes, more than the {} bytes that Baton's readers \
             accept; nothing was written (the previous file is unchanged)",
            options.max_decoded_bytes
        );
        fail_point("before_publish")?;
        progress.start(Phase::Compression, Some(decoded_bytes));
        let bytes = publish(&db, &target, options.zstd_level, &mut progress)?;
        progress.set(decoded_bytes);
        progress.end();
        Ok(WriteReport {
            sync_id,
            path: target,
            bytes,
            decoded_bytes,
            resource_types: counts[0],
            resources: counts[1],
            entitlements: counts[2],
            grants: counts[3],
            resources_by_type,
            removed_sync_ids,
            kept_sync_ids,
        })
    }

    fn complete(&mut self) -> anyhow::Result<()> {
        self.progress.end();
        let expand = self.expand && !self.expandable.is_empty();
        let mut expanded = Ok(());
        if let Some(grant_rows) = self.grant_rows.as_mut().filter(|_| expand) {
            // No grant index at all while expansion appends its grants: its lookups are kept in
            // memory, and every index is built once afterwards (see `row_store`). The thread that
            // inserted the rows writes these too.
            let expandable = std::mem::take(&mut self.expandable);
            let worker = self
                .rows
                .as_mut()
                .context("the rows were inserted already")?;
            let mut store = RowIdStore::new(
                worker,
                self.options.slim_grants,
                grant_rows,
                self.next_grant_row - 1,
            );
            let progress = &mut self.progress;
            progress.start(Phase::Expansion, None);
            expanded = crate::expand::expand_observed(&mut store, &expandable, &mut |done, _| {
                progress.set(done)
            })
            .map(drop);
        }
        // A failed insert explains a failed read: it is reported first.
        self.stop_rows()?;
        expanded.context("expand the grants")?;
        let grant_rows = self.grant_rows.take();
        // Only a streamed sync is expanded, and its grants are always appended (`NewRows::Unknown`).
        ensure!(
            !expand || grant_rows.is_some(),
            "grant expansion needs the grant rows recorded as they were appended"
        );
        if self.deferred {
            self.progress.start(Phase::Indexes, None);
            // Sorting millions of index keys in memory would hold them all at once: let SQLite's
            // sorter spill to temp files instead, in the working folder (where the database is, so
            // `--c1z-temp-dir` also moves them).
            let folder = self._work.path().display().to_string();
            self.conn
                .pragma_update(None, "temp_store_directory", &folder)
                .context("put the index build's temp files in the working folder")?;
            self.conn
                .pragma_update(None, "temp_store", "FILE")
                .context("let the index build spill to disk")?;
            // Four sorter threads: on two cores, the two beyond the cores' count keep sorting while
            // others wait on their temp files (11-12 s against 12-13 s with two on `sso-xl`).
            self.conn
                .pragma_update(None, "threads", 4)
                .context("sort the index keys on four threads")?;
            if grant_rows.is_some_and(GrantRows::may_repeat_an_id) {
                merge_duplicate_grants(&self.conn, &self.sync_id)?;
            }
            self.conn
                .execute_batch(schema::DDL)
                .context("rebuild the indexes")?;
        }
        self.progress.end();
        self.conn
            .execute(
                END_SYNC_RUN,
                params![clock::sqlite_time(&clock::now()), self.sync_id],
            )
            .context("finish the sync run")?;
        self.conn
            .execute_batch("COMMIT")
            .context("commit the sync")?;
        Ok(())
    }
}

impl RecordSink for SyncWriter {
    fn resource(&mut self, resource: Resource) {
        self.progress.ensure(Phase::Rows);
        self.progress.tick();
        if self.error.is_none() {
            let index = self.received[0];
            self.received[0] += 1;
            let result = self.insert_resource(index, &resource);
            self.latch(result);
        }
    }

    fn entitlement(&mut self, entitlement: Entitlement) {
        self.progress.ensure(Phase::Rows);
        self.progress.tick();
        if self.error.is_none() {
            let index = self.received[1];
            self.received[1] += 1;
            let result = self.insert_entitlement(index, &entitlement);
            self.latch(result);
        }
    }

    fn grant(&mut self, mut grant: Grant) {
        self.progress.ensure(Phase::Rows);
        self.progress.tick();
        if self.options.slim_grants {
            grant.entitlement = grant.entitlement.take().map(into_slim);
        }
        if self.error.is_none() {
            let index = self.received[2];
            self.received[2] += 1;
            let result = self.insert_grant(index, &grant);
            let keep = result.is_ok() && self.expand && crate::expand::is_expandable(&grant);
            self.latch(result);
            if keep {
                self.expandable.push(grant);
            }
        }
    }
}

impl SyncWriter {
    /// Validates, encodes and adds one grant of the sync (`index` names it in errors).
    fn insert_grant(&mut self, index: usize, grant: &Grant) -> anyhow::Result<()> {
        let keys = grant_keys(index, grant)?;
        encode_grant(&mut self.data, grant, self.options.slim_grants)?;
        let data = std::mem::take(&mut self.data);
        let recorded = match self.grant_rows.as_mut() {
            Some(rows) => {
                // The row the worker will insert it into: the largest row id plus one.
                let row_id = self.next_grant_row;
                self.next_grant_row += 1;
                let principal = stored_principal(&data)?.unwrap_or_default();
                rows.add(
                    keys.entitlement_id,
                    keys.principal,
                    &principal,
                    &grant.id,
                    row_id,
                )
                .map(|_| Some(row_id))
            }
            None => Ok(None),
        };
        if let Ok(row_id) = recorded {
            if let Some(rows) = self.rows_worker()? {
                rows.grant(grant_columns(&keys, &grant.id, &data), row_id);
            }
        }
        self.data = data;
        recorded.map(drop)
    }
}

/// Merges the grant rows of `sync_id` that share an id as upserting them one by one would have: the
/// first row keeps its place and takes the values of the last, the others are deleted.
fn merge_duplicate_grants(conn: &Connection, sync_id: &str) -> anyhow::Result<()> {
    conn.execute(
        "create temp table repeated_grants as select external_id, min(id) as first, max(id) as last \
         from v1_grants where sync_id = ?1 group by external_id having count(*) > 1",
        [sync_id],
    )
    .context("find the repeated grant ids")?;
    conn.execute_batch(
        "update v1_grants set (resource_type_id, resource_id, entitlement_id, \
         principal_resource_type_id, principal_resource_id, data) = (select g.resource_type_id, \
         g.resource_id, g.entitlement_id, g.principal_resource_type_id, g.principal_resource_id, g.data \
         from v1_grants g where g.id = r.last) from temp.repeated_grants r where v1_grants.id = r.first;",
    )
    .context("merge the rows of repeated grant ids")?;
    conn.execute(
        "delete from v1_grants where sync_id = ?1 and external_id in \
         (select external_id from temp.repeated_grants) \
         and id not in (select first from temp.repeated_grants)",
        [sync_id],
    )
    .context("delete the merged rows of repeated grant ids")?;
    conn.execute_batch("drop table temp.repeated_grants")
        .context("drop the repeated grant ids")?;
    Ok(())
}

/// The entitlement of one sync by id.
pub(crate) const SELECT_ENTITLEMENT: &str =
    "select data from v1_entitlements where external_id = ?1 and sync_id = ?2";

/// Encodes `grant` into `data` as a grant row stores it (with a slim entitlement when `slim`).
pub(crate) fn encode_grant(data: &mut Vec<u8>, grant: &Grant, slim: bool) -> anyhow::Result<()> {
    data.clear();
    match grant.entitlement.as_ref().filter(|e| slim && !is_slim(e)) {
        Some(entitlement) => Grant {
            entitlement: Some(slim_entitlement(entitlement)),
            principal: grant.principal.clone(),
            id: grant.id.clone(),
            annotations: grant.annotations.clone(),
            sources: grant.sources.clone(),
        }
        .encode(data),
        None => grant.encode(data),
    }
    .context("encode protobuf")
}

/// The entitlement as a grant blob carries it when slim: its id, and its resource's id, parent and
/// display name. Readers take everything else from the entitlement's and the resource's own rows.
pub fn slim_entitlement(entitlement: &Entitlement) -> Entitlement {
    Entitlement {
        id: entitlement.id.clone(),
        resource: entitlement.resource.as_ref().map(|r| Resource {
            id: r.id.clone(),
            parent_resource_id: r.parent_resource_id.clone(),
            display_name: r.display_name.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// [`slim_entitlement`] of an entitlement that is not needed whole any more (nothing is copied).
pub(crate) fn into_slim(entitlement: Entitlement) -> Entitlement {
    Entitlement {
        id: entitlement.id,
        resource: entitlement.resource.map(|r| Resource {
            id: r.id,
            parent_resource_id: r.parent_resource_id,
            display_name: r.display_name,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Whether the entitlement holds nothing [`slim_entitlement`] leaves out.
fn is_slim(e: &Entitlement) -> bool {
    let resource_slim = e.resource.as_ref().is_none_or(|r| {
        r.annotations.is_empty()
            && r.description.is_empty()
            && !r.baton_resource
            && r.external_id.is_none()
            && r.creation_source == 0
            && r.profile.is_none()
            && r.icon.is_none()
            && r.status.is_none()
            && r.created_at.is_none()
    });
    resource_slim
        && e.display_name.is_empty()
        && e.description.is_empty()
        && e.grantable_to.is_empty()
        && e.annotations.is_empty()
        && e.purpose == 0
        && e.slug.is_empty()
}

fn working_dir(
    options: &WriteOptions,
) -> anyhow::Result<(tempfile::TempDir, crate::temp::TempGuard<'static>)> {
    let parent = options.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    crate::temp::create_registered(
        || {
            tempfile::Builder::new()
                .prefix("baton-c1z-")
                .tempdir_in(&parent)
        },
        |dir| dir.path().to_path_buf(),
    )
    .with_context(|| format!("create a working directory in {}", parent.display()))
}

/// Copies the existing target's database into `db`; nothing when the target is missing or empty.
fn load_target(target: &Path, db: &Path, limits: &DecodeLimits) -> anyhow::Result<()> {
    match fs::metadata(target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("inspect {}", target.display())),
        Ok(meta) if !meta.is_file() => bail!("{} is not a regular file", target.display()),
        Ok(meta) if meta.len() == 0 => Ok(()),
        Ok(_) => decompress_c1z(target, db, limits).map(|_| ()),
    }
}

fn validate(records: &SyncRecords) -> anyhow::Result<()> {
    for (index, resource_type) in records.resource_types.iter().enumerate() {
        resource_type_id(index, resource_type)?;
    }
    for (index, resource) in records.resources.iter().enumerate() {
        resource_keys(index, resource)?;
    }
    for (index, entitlement) in records.entitlements.iter().enumerate() {
        entitlement_keys(index, entitlement)?;
    }
    for (index, grant) in records.grants.iter().enumerate() {
        grant_keys(index, grant)?;
    }
    Ok(())
}

fn resource_type_id(index: usize, resource_type: &ResourceType) -> anyhow::Result<&str> {
    if resource_type.id.is_empty() {
        bail!(
            "resource type #{index} ({:?}) has no id",
            resource_type.display_name
        );
    }
    Ok(&resource_type.id)
}

fn complete_id(id: Option<&ResourceId>, what: impl Fn() -> String) -> anyhow::Result<&ResourceId> {
    match id {
        Some(id) if !id.resource_type.is_empty() && !id.resource.is_empty() => Ok(id),
        Some(id) => bail!(
            "{} is incomplete (resource_type {:?}, resource {:?})",
            what(),
            id.resource_type,
            id.resource
        ),
        None => bail!("{} is missing", what()),
    }
}

struct ResourceKeys<'a> {
    id: &'a ResourceId,
    parent: Option<&'a ResourceId>,
}

fn resource_keys(index: usize, resource: &Resource) -> anyhow::Result<ResourceKeys<'_>> {
    let describe = || format!("resource #{index} ({:?})", resource.display_name);
    let id = complete_id(resource.id.as_ref(), || format!("the id of {}", describe()))?;
    let parent = match resource.parent_resource_id.as_ref() {
        None => None,
        parent => Some(complete_id(parent, || {
            format!(
                "the parent_resource_id of resource {}:{}",
                id.resource_type, id.resource
            )
        })?),
    };
    Ok(ResourceKeys { id, parent })
}

fn entitlement_keys(index: usize, entitlement: &Entitlement) -> anyhow::Result<&ResourceId> {
    if entitlement.id.is_empty() {
        bail!(
            "entitlement #{index} ({:?}) has no id",
            entitlement.display_name
        );
    }
    let resource = entitlement.resource.as_ref().and_then(|r| r.id.as_ref());
    complete_id(resource, || {
        format!("the resource.id of entitlement {:?}", entitlement.id)
    })
}

/// The columns a grant row is found by.
pub(crate) struct GrantKeys<'a> {
    pub(crate) entitlement_id: &'a str,
    pub(crate) resource: &'a ResourceId,
    pub(crate) principal: &'a ResourceId,
}

/// The columns of a grant row as the rows thread takes them: the key columns, the grant id and the
/// encoded grant.
pub(crate) fn grant_columns<'a>(
    keys: &GrantKeys<'a>,
    grant_id: &'a str,
    data: &'a [u8],
) -> [&'a [u8]; 7] {
    [
        keys.resource.resource_type.as_bytes(),
        keys.resource.resource.as_bytes(),
        keys.entitlement_id.as_bytes(),
        keys.principal.resource_type.as_bytes(),
        keys.principal.resource.as_bytes(),
        grant_id.as_bytes(),
        data,
    ]
}

/// Checks that `grant` (the `index`-th, for messages) names everything a row needs, and returns those
/// columns.
pub(crate) fn grant_keys(index: usize, grant: &Grant) -> anyhow::Result<GrantKeys<'_>> {
    if grant.id.is_empty() {
        bail!("grant #{index} has no id");
    }
    let describe = || format!("grant {:?}", grant.id);
    let Some(entitlement) = grant.entitlement.as_ref() else {
        bail!("{} has no entitlement", describe());
    };
    if entitlement.id.is_empty() {
        bail!("the entitlement of {} has no id", describe());
    }
    let resource = entitlement.resource.as_ref().and_then(|r| r.id.as_ref());
    let resource = complete_id(resource, || {
        format!("the entitlement.resource.id of {}", describe())
    })?;
    let principal = grant.principal.as_ref().and_then(|p| p.id.as_ref());
    let principal = complete_id(principal, || format!("the principal.id of {}", describe()))?;
    Ok(GrantKeys {
        entitlement_id: &entitlement.id,
        resource,
        principal,
    })
}

/// Which tables' secondary indexes [`drop_deferrable_indexes`] dropped.
#[derive(Debug, Clone, Copy, Default)]
struct Deferred {
    /// Any table's.
    any: bool,
    /// The grant table's.
    grants: bool,
}

/// Drops the secondary indexes of the tables that get many new rows relative to their size, and says
/// which were dropped (the caller then recreates them).
fn drop_deferrable_indexes(conn: &Connection, new_rows: NewRows) -> anyhow::Result<Deferred> {
    let mut deferred = Deferred::default();
    for (table, index) in DEFERRABLE_INDEXES {
        let defer = match new_rows {
            NewRows::Unknown => true,
            NewRows::Known(counts) => {
                let new_rows = match table {
                    "v1_resources" => counts[0],
                    "v1_entitlements" => counts[1],
                    _ => counts[2],
                };
                new_rows >= DEFER_INDEX_MIN_ROWS
                    && new_rows as u64 * 2 >= existing_rows(conn, table)?
            }
        };
        if defer {
            conn.execute_batch(&format!("drop index if exists {index}"))
                .with_context(|| format!("drop index {index}"))?;
            deferred.any = true;
            deferred.grants |= table == "v1_grants";
        }
    }
    Ok(deferred)
}

/// An upper bound of a table's row count, found without scanning it.
fn existing_rows(conn: &Connection, table: &str) -> anyhow::Result<u64> {
    let max_id: Option<i64> = conn
        .query_row(&format!("select max(id) from {table}"), [], |row| {
            row.get(0)
        })
        .with_context(|| format!("size of {table}"))?;
    Ok(max_id.and_then(|id| u64::try_from(id).ok()).unwrap_or(0))
}

/// Rows stored for the sync in resource types, resources, entitlements and grants.
fn count_rows(conn: &Connection, sync_id: &str) -> anyhow::Result<[usize; 4]> {
    let mut counts = [0usize; 4];
    let tables = [
        "v1_resource_types",
        "v1_resources",
        "v1_entitlements",
        "v1_grants",
    ];
    for (count, table) in counts.iter_mut().zip(tables) {
        let sql = format!("select count(*) from {table} where sync_id = ?1");
        let rows: i64 = conn
            .query_row(&sql, [sync_id], |row| row.get(0))
            .with_context(|| format!("count rows of {table}"))?;
        *count = usize::try_from(rows).unwrap_or(usize::MAX);
    }
    Ok(counts)
}

/// Resources stored for the sync per resource type, in the order of `type_ids`.
fn count_resources_by_type(
    conn: &Connection,
    sync_id: &str,
    type_ids: &[String],
) -> anyhow::Result<Vec<(String, usize)>> {
    let mut stmt = conn.prepare(
        "select resource_type_id, count(*) from v1_resources where sync_id = ?1 \
         group by resource_type_id",
    )?;
    let rows = stmt.query_map([sync_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let counts = rows
        .collect::<Result<BTreeMap<String, i64>, _>>()
        .context("count resources per type")?;
    Ok(type_ids
        .iter()
        .map(|id| {
            let count = counts.get(id).copied().unwrap_or(0);
            (id.clone(), usize::try_from(count).unwrap_or(usize::MAX))
        })
        .collect())
}

/// Finished full syncs, newest first: by row id, the order in which the syncs were added to the file
/// (Baton's own cleanup lists them the same way). Not by `ended_at`: that is local wall-clock text, which
/// sorts wrongly once the clock falls back (DST) or the time zone changes between two syncs. Not by the
/// KSUID either: its time has whole seconds only, so two syncs started in one second sort at random.
fn finished_full_syncs(conn: &Connection) -> anyhow::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "select sync_id from v1_sync_runs where ended_at is not null and sync_type = 'full' \
         order by id desc",
    )?;
    let ids = stmt.query_map([], |row| row.get(0))?;
    ids.collect::<Result<Vec<String>, _>>()
        .context("list finished full syncs")
}

/// Rebuilds the database when it holds free pages (rows of removed syncs that new rows did not reuse).
fn vacuum_if_fragmented(conn: &Connection) -> anyhow::Result<()> {
    let free_pages: i64 = conn
        .query_row("pragma freelist_count", [], |row| row.get(0))
        .context("read the free page count")?;
    if free_pages > 0 {
        conn.execute_batch("VACUUM")
            .context("vacuum the database")?;
    }
    Ok(())
}

/// Deletes the finished full syncs beyond the newest `keep_sync_count - 1`, making room for the sync
/// being written (which is unfinished at this point and always kept). Returns the removed ids.
fn remove_old_syncs(conn: &Connection, keep_sync_count: usize) -> anyhow::Result<Vec<String>> {
    let mut finished = finished_full_syncs(conn)?;
    let removed = finished.split_off(finished.len().min(keep_sync_count.max(1) - 1));
    for table in schema::TABLES {
        let mut stmt = conn.prepare(&format!("delete from {table} where sync_id = ?1"))?;
        for sync_id in &removed {
            stmt.execute([sync_id])
                .with_context(|| format!("delete sync {sync_id} from {table}"))?;
        }
    }
    Ok(removed)
}

/// Closes the working database and checks that it is one self-contained file.
fn close(conn: Connection, db: &Path) -> anyhow::Result<()> {
    conn.close()
        .map_err(|(_, e)| e)
        .context("close the working database")?;
    for suffix in ["-journal", "-wal"] {
        let mut side = db.as_os_str().to_owned();
        side.push(suffix);
        ensure!(
            !Path::new(&side).exists(),
            "the working database left a {suffix} file"
        );
    }
    Ok(())
}

/// Compresses `db` into a temp file beside `target`, then renames it over `target`. Returns the new size.
pub(crate) fn publish(
    db: &Path,
    target: &Path,
    level: i32,
    progress: &mut Tracker,
) -> anyhow::Result<u64> {
    let file = atomic_file::replace(target, |out| {
        write_c1z(db, out, level, progress)?;
        fail_point("before_rename")
    })?;
    let bytes = file
        .metadata()
        .with_context(|| format!("inspect {}", target.display()))?
        .len();
    Ok(bytes)
}

/// Writes the magic and one zstd frame of the whole database file: checksum on, exact content size,
/// window of at most 8 MiB, no long-distance matching.
fn write_c1z(db: &Path, out: &mut File, level: i32, progress: &mut Tracker) -> anyhow::Result<()> {
    let input = File::open(db).with_context(|| format!("open {}", db.display()))?;
    let size = input.metadata()?.len();
    out.write_all(MAGIC_V1)?;
    let mut encoder = zstd::stream::write::Encoder::new(out, level.clamp(1, 19))?;
    encoder.include_checksum(true)?;
    encoder.include_contentsize(true)?;
    encoder.long_distance_matching(false)?;
    encoder.window_log(MAX_WINDOW_LOG)?;
    encoder.set_pledged_src_size(Some(size))?;
    // Two workers (still one frame, with the same window, checksum and content size).
    encoder.multithread(ZSTD_WORKERS)?;
    encoder.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_BYTES))?;
    let mut input = Counting {
        inner: BufReader::with_capacity(1 << 20, input),
        read: 0,
        next_tick: BYTES_PER_TICK,
        progress,
    };
    let copied = io::copy(&mut input, &mut encoder)?;
    ensure!(
        copied == size,
        "the database changed size while being compressed"
    );
    encoder.finish()?;
    Ok(())
}

/// A reader that reports how much of the database has been read (so compressed) every few megabytes.
struct Counting<'a, R> {
    inner: R,
    read: u64,
    next_tick: u64,
    progress: &'a mut Tracker,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read >= self.next_tick {
            self.progress.set(self.read);
            self.next_tick = self.read + BYTES_PER_TICK;
        }
        Ok(n)
    }
}

#[cfg(not(test))]
fn fail_point(_stage: &str) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
thread_local! {
    static FAIL_AT: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// In tests, fails the write at `stage` when a test asked for it.
#[cfg(test)]
fn fail_point(stage: &str) -> anyhow::Result<()> {
    if FAIL_AT.with(|f| f.get()) == Some(stage) {
        bail!("injected failure at {stage}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto;
    use crate::test_support::*;

    #[test]
    fn c1z_writer_failure_leaves_the_target_untouched() {
        let fx = Fixture::new();
        fx.write(&sample_records());
        let before = fs::read(fx.target()).unwrap();

        let mut invalid = sample_records();
        invalid.grants[2].principal = Some(Resource::default());
        let message = format!("{:#}", fx.write_with(&invalid, &fx.options()).unwrap_err());
        assert!(message.contains("principal.id"), "{message}");
        assert!(message.contains("project:p1:admin:user:u1"), "{message}");
        assert_eq!(fs::read(fx.target()).unwrap(), before);
        fx.assert_no_leftovers();

        for stage in ["before_publish", "before_rename"] {
            FAIL_AT.with(|f| f.set(Some(stage)));
            let result = fx.write_with(&sample_records(), &fx.options());
            FAIL_AT.with(|f| f.set(None));
            let message = format!("{:#}", result.unwrap_err());
            assert!(message.contains(stage), "{message}");
            assert_eq!(fs::read(fx.target()).unwrap(), before, "{stage}");
            fx.assert_no_leftovers();
        }
    }

    /// Throughput check: `cargo test --release c1z_writer_bench -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn c1z_writer_bench_million_rows() {
        let fx = Fixture::new();
        let mut records = sample_records();
        let (groups, users) = (1_000usize, 110_000usize);
        let project = records.resources[0].clone();
        let group_resources: Vec<Resource> = (0..groups)
            .map(|g| resource("group", &format!("group-{g:07}"), Some(("project", "p1"))))
            .collect();
        let members: Vec<Entitlement> = group_resources
            .iter()
            .map(|g| entitlement(g, "member"))
            .collect();
        let user_resources: Vec<Resource> = (0..users)
            .map(|u| {
                let mut user = resource("user", &format!("user-{u:07}"), None);
                user.annotations = vec![proto::any(&proto::UserTrait {
                    emails: vec![proto::Email {
                        address: format!("user-{u:07}@example.com"),
                        is_primary: true,
                    }],
                    login: format!("user-{u:07}"),
                    account_type: proto::AccountType::Human as i32,
                    ..Default::default()
                })];
                user
            })
            .collect();
        // Grouped by entitlement, as Baton's syncer lists grants resource by resource.
        for (g, member) in members.iter().enumerate() {
            for u in (0..users).filter(|u| (0..8).any(|k| (u * 7 + k * 131) % groups == g)) {
                records.grants.push(grant(member, &user_resources[u]));
            }
        }
        records.resources = vec![project];
        records.resources.extend(group_resources);
        records.resources.extend(user_resources);
        records.entitlements.extend(members);
        let rows = records.resource_types.len()
            + records.resources.len()
            + records.entitlements.len()
            + records.grants.len();

        let (resources, entitlements, grants) = (
            records.resources.clone(),
            records.entitlements.clone(),
            records.grants.clone(),
        );
        let start = std::time::Instant::now();
        let counts = [
            records.resources.len(),
            records.entitlements.len(),
            records.grants.len(),
        ];
        let mut writer = SyncWriter::start(
            &fx.target(),
            &records.resource_types,
            clock::now(),
            &fx.options(),
            NewRows::Known(counts),
        )
        .unwrap();
        writer.expand = false;
        for r in resources {
            writer.resource(r);
        }
        for e in entitlements {
            writer.entitlement(e);
        }
        for g in grants {
            writer.grant(g);
        }
        let inserted = start.elapsed();
        writer.complete().unwrap();
        let insert = start.elapsed();
        println!(
            "insert of {rows} rows: {:.2?}, {:.0} rows/s; with index rebuild and commit: {:.2?}, {:.0} rows/s; db {} MiB",
            inserted,
            rows as f64 / inserted.as_secs_f64(),
            insert,
            rows as f64 / insert.as_secs_f64(),
            fs::metadata(&writer.db).unwrap().len() >> 20
        );
        drop(writer);
        for round in 1..=3 {
            let start = std::time::Instant::now();
            let report = fx.write(&records);
            println!(
                "write_sync #{round} of {rows} rows: {:.2?}, file {} MiB, removed {}",
                start.elapsed(),
                report.bytes >> 20,
                report.removed_sync_ids.len()
            );
        }
    }
}
