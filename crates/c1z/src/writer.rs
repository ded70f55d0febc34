//! Writes one finished full sync into a `.c1z`, laid out as baton-sdk's `pkg/dotc1z` writes it.
//!
//! The existing file (if any) is decompressed into a private working SQLite database, the sync is added in
//! one transaction, older syncs are cleaned up, and the result is compressed into a temp file next to the
//! target that atomically replaces it. On any error the target is left untouched. [`SyncWriter`] takes
//! the records one at a time as they are produced and expands the grants in the database, so no sync is
//! ever held in memory; [`write_sync`] writes records already in memory through it.

use crate::atomic_file;
use crate::clock::{self, Ksuid};
use crate::expand::GrantStore;
use crate::proto::{Entitlement, Grant, Resource, ResourceId, ResourceType};
use crate::reader::{decompress_c1z, open_private_db, DecodeLimits};
use crate::{schema, RecordSink, SyncRecords, WriteOptions, WriteReport, MAGIC_V1};
use anyhow::{bail, ensure, Context};
use chrono::{DateTime, Local};
use prost::Message;
use rusqlite::{params, Connection};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Write};
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
/// The deferrable indexes grant expansion queries: the grants of an entitlement, and the grant of an
/// entitlement to a principal.
const EXPANSION_INDEXES: [&str; 2] = [
    "idx_grants_entitlement_sync_grant_v1",
    "idx_grants_entitlement_id_principal_id_v1",
];
/// Largest zstd window: 8 MiB, what every Baton reader accepts (v0.1.14 caps at 32 MiB).
const MAX_WINDOW_LOG: u32 = 23;

const INSERT_SYNC_RUN: &str =
    "insert into v1_sync_runs (sync_id, started_at, ended_at, sync_token, \
     sync_type, parent_sync_id, linked_sync_id, supports_diff, grants_backfilled, stats, \
     ingest_invariant_generation, ingest_invariant_coverage, ingest_invariant_mode) \
     values (?1, ?2, null, '', 'full', '', '', 0, 0, null, '', '', '')";

const END_SYNC_RUN: &str = "update v1_sync_runs set ended_at = ?1 where sync_id = ?2";

const UPSERT_RESOURCE_TYPE: &str =
    "insert into v1_resource_types (external_id, data, sync_id, discovered_at) \
     values (?1, ?2, ?3, ?4) on conflict (external_id, sync_id) do update set data = excluded.data";

const UPSERT_RESOURCE: &str = "insert into v1_resources (resource_type_id, external_id, \
     parent_resource_type_id, parent_resource_id, data, sync_id, discovered_at) \
     values (?1, ?2, ?3, ?4, ?5, ?6, ?7) on conflict (external_id, sync_id) do update set \
     resource_type_id = excluded.resource_type_id, parent_resource_type_id = excluded.parent_resource_type_id, \
     parent_resource_id = excluded.parent_resource_id, data = excluded.data";

const UPSERT_ENTITLEMENT: &str = "insert into v1_entitlements (resource_type_id, resource_id, external_id, \
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
    /// Declared first so it closes (rolling the open transaction back) before the working dir goes.
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
    /// Whether `finish` expands the `GrantExpandable` grants.
    expand: bool,
    /// The `GrantExpandable` grants inserted so far, in order.
    expandable: Vec<Grant>,
    /// Resources, entitlements and grants received, for the messages naming an invalid one.
    received: [usize; 3],
    data: Vec<u8>,
    key: String,
    error: Option<anyhow::Error>,
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
            conn,
            db,
            target: target.to_path_buf(),
            options: options.clone(),
            sync_id,
            discovered_at: clock::sqlite_time(&clock::now()),
            resource_type_ids: resource_types.iter().map(|t| t.id.clone()).collect(),
            removed_sync_ids: Vec::new(),
            deferred: false,
            expand: true,
            expandable: Vec::new(),
            received: [0; 3],
            data: Vec::new(),
            key: String::new(),
            error: None,
            _work_guard: work_guard,
            _work: work,
        };
        writer
            .begin(&started_at, resource_types, new_rows)
            .with_context(|| writer.describe())?;
        Ok(writer)
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
                params![self.sync_id, clock::sqlite_time(started_at)],
            )
            .context("insert into v1_sync_runs")?;
        self.deferred = drop_deferrable_indexes(&self.conn, new_rows)?;
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
        Ok(())
    }

    fn insert_resource(&mut self, index: usize, resource: &Resource) -> anyhow::Result<()> {
        let keys = resource_keys(index, resource)?;
        self.data.clear();
        resource.encode(&mut self.data).context("encode protobuf")?;
        self.key.clear();
        self.key.push_str(&keys.id.resource_type);
        self.key.push(':');
        self.key.push_str(&keys.id.resource);
        let mut stmt = self.conn.prepare_cached(UPSERT_RESOURCE)?;
        stmt.execute(params![
            keys.id.resource_type,
            self.key,
            keys.parent.map(|p| p.resource_type.as_str()),
            keys.parent.map(|p| p.resource.as_str()),
            self.data,
            self.sync_id,
            self.discovered_at
        ])
        .with_context(|| format!("insert resource {:?}", self.key))?;
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
        let mut stmt = self.conn.prepare_cached(UPSERT_ENTITLEMENT)?;
        stmt.execute(params![
            resource.resource_type,
            resource.resource,
            entitlement.id,
            self.data,
            self.sync_id,
            self.discovered_at
        ])
        .with_context(|| format!("insert entitlement {:?}", entitlement.id))?;
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
            _work_guard,
            _work,
            ..
        } = self;
        if !options.skip_cleanup {
            vacuum_if_fragmented(&conn)?;
        }
        let counts = count_rows(&conn, &sync_id)?;
        let resources_by_type = count_resources_by_type(&conn, &sync_id, &resource_type_ids)?;
        let kept_sync_ids = finished_full_syncs(&conn)?;
        close(conn, &db)?;
        fail_point("before_publish")?;
        let bytes = publish(&db, &target, options.zstd_level)?;
        Ok(WriteReport {
            sync_id,
            path: target,
            bytes,
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
        if self.expand && !self.expandable.is_empty() {
            if self.deferred {
                // Only the lookups of expansion; the other indexes are built once, after the grants
                // it adds (maintaining them through its inserts leaves split pages that compress
                // worse; see BENCHMARKS.md).
                for index in EXPANSION_INDEXES {
                    create_index(&self.conn, index)?;
                }
            }
            let expandable = std::mem::take(&mut self.expandable);
            let mut store = DbGrantStore {
                conn: &self.conn,
                sync_id: &self.sync_id,
                discovered_at: &self.discovered_at,
                data: Vec::new(),
            };
            crate::expand::expand(&mut store, &expandable).context("expand the grants")?;
        }
        if self.deferred {
            self.conn
                .execute_batch(schema::DDL)
                .context("rebuild the indexes")?;
        }
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
        if self.error.is_none() {
            let index = self.received[0];
            self.received[0] += 1;
            let result = self.insert_resource(index, &resource);
            self.latch(result);
        }
    }

    fn entitlement(&mut self, entitlement: Entitlement) {
        if self.error.is_none() {
            let index = self.received[1];
            self.received[1] += 1;
            let result = self.insert_entitlement(index, &entitlement);
            self.latch(result);
        }
    }

    fn grant(&mut self, grant: Grant) {
        if self.error.is_none() {
            let index = self.received[2];
            self.received[2] += 1;
            let result = upsert_grant(
                &self.conn,
                &self.sync_id,
                &self.discovered_at,
                &mut self.data,
                index,
                &grant,
            );
            let keep = result.is_ok() && self.expand && crate::expand::is_expandable(&grant);
            self.latch(result);
            if keep {
                self.expandable.push(grant);
            }
        }
    }
}

/// Validates, encodes into `data` and upserts one grant of the sync (`index` names it in errors).
fn upsert_grant(
    conn: &Connection,
    sync_id: &str,
    discovered_at: &str,
    data: &mut Vec<u8>,
    index: usize,
    grant: &Grant,
) -> anyhow::Result<()> {
    let keys = grant_keys(index, grant)?;
    data.clear();
    grant.encode(data).context("encode protobuf")?;
    let mut stmt = conn.prepare_cached(UPSERT_GRANT)?;
    stmt.execute(params![
        keys.resource.resource_type,
        keys.resource.resource,
        keys.entitlement_id,
        keys.principal.resource_type,
        keys.principal.resource,
        grant.id,
        &data[..],
        sync_id,
        discovered_at
    ])
    .with_context(|| format!("insert grant {:?}", grant.id))?;
    Ok(())
}

/// The grants of the sync being written, as grant expansion reads and changes them: queries on the
/// sync's rows (covered by the entitlement and principal indexes), upserts like the inserts.
struct DbGrantStore<'a> {
    conn: &'a Connection,
    sync_id: &'a str,
    discovered_at: &'a str,
    data: Vec<u8>,
}

impl DbGrantStore<'_> {
    fn grants(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> anyhow::Result<Vec<Grant>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        let mut grants = Vec::new();
        while let Some(row) = rows.next()? {
            let data = row.get_ref(0)?.as_blob()?;
            grants.push(Grant::decode(data).context("decode a stored grant")?);
        }
        Ok(grants)
    }
}

impl GrantStore for DbGrantStore<'_> {
    fn entitlement(&mut self, id: &str) -> anyhow::Result<Option<Entitlement>> {
        let mut stmt = self.conn.prepare_cached(
            "select data from v1_entitlements where external_id = ?1 and sync_id = ?2",
        )?;
        let mut rows = stmt.query(params![id, self.sync_id])?;
        match rows.next()? {
            Some(row) => {
                let data = row.get_ref(0)?.as_blob()?;
                Ok(Some(Entitlement::decode(data).with_context(|| {
                    format!("decode the stored entitlement {id:?}")
                })?))
            }
            None => Ok(None),
        }
    }

    fn grants_on(&mut self, entitlement_id: &str) -> anyhow::Result<Vec<Grant>> {
        self.grants(
            "select data from v1_grants where entitlement_id = ?1 and sync_id = ?2 order by id",
            &[&entitlement_id, &self.sync_id],
        )
        .with_context(|| format!("read the grants of {entitlement_id:?}"))
    }

    fn grant_of(
        &mut self,
        entitlement_id: &str,
        principal: &ResourceId,
    ) -> anyhow::Result<Option<Grant>> {
        let grants = self
            .grants(
                "select data from v1_grants where entitlement_id = ?1 \
                 and principal_resource_type_id = ?2 and principal_resource_id = ?3 and sync_id = ?4 \
                 order by id desc limit 1",
                &[
                    &entitlement_id,
                    &principal.resource_type,
                    &principal.resource,
                    &self.sync_id,
                ],
            )
            .with_context(|| {
                format!(
                    "read the grant of {entitlement_id:?} to {}:{}",
                    principal.resource_type, principal.resource
                )
            })?;
        Ok(grants.into_iter().next())
    }

    fn put(&mut self, grant: Grant) -> anyhow::Result<()> {
        upsert_grant(
            self.conn,
            self.sync_id,
            self.discovered_at,
            &mut self.data,
            0,
            &grant,
        )
    }
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

struct GrantKeys<'a> {
    entitlement_id: &'a str,
    resource: &'a ResourceId,
    principal: &'a ResourceId,
}

fn grant_keys(index: usize, grant: &Grant) -> anyhow::Result<GrantKeys<'_>> {
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

/// Drops the secondary indexes of the tables that get many new rows relative to their size. Returns
/// whether any was dropped (the caller then recreates them).
fn drop_deferrable_indexes(conn: &Connection, new_rows: NewRows) -> anyhow::Result<bool> {
    let mut dropped = false;
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
            dropped = true;
        }
    }
    Ok(dropped)
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

/// Creates one index of the schema with its own DDL statement.
fn create_index(conn: &Connection, name: &str) -> anyhow::Result<()> {
    let statement = schema::DDL
        .split(';')
        .find(|s| s.contains("create index") && s.contains(&format!(" {name} ")))
        .with_context(|| format!("index {name} is not in the schema"))?;
    conn.execute_batch(statement)
        .with_context(|| format!("create index {name}"))
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
fn publish(db: &Path, target: &Path, level: i32) -> anyhow::Result<u64> {
    let file = atomic_file::replace(target, |out| {
        write_c1z(db, out, level)?;
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
fn write_c1z(db: &Path, out: &mut File, level: i32) -> anyhow::Result<()> {
    let input = File::open(db).with_context(|| format!("open {}", db.display()))?;
    let size = input.metadata()?.len();
    out.write_all(MAGIC_V1)?;
    let mut encoder = zstd::stream::write::Encoder::new(out, level.clamp(1, 19))?;
    encoder.include_checksum(true)?;
    encoder.include_contentsize(true)?;
    encoder.long_distance_matching(false)?;
    encoder.window_log(MAX_WINDOW_LOG)?;
    encoder.set_pledged_src_size(Some(size))?;
    let copied = io::copy(&mut BufReader::with_capacity(1 << 20, input), &mut encoder)?;
    ensure!(
        copied == size,
        "the database changed size while being compressed"
    );
    encoder.finish()?;
    Ok(())
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
    use crate::proto::{self, GrantExpandable, SkipEntitlementsAndGrants, Trait};
    use crate::reader::parse_frame_header;
    use std::collections::BTreeSet;
    use tempfile::TempDir;

    fn rid(resource_type: &str, resource: &str) -> ResourceId {
        ResourceId::new(resource_type, resource)
    }

    fn resource(resource_type: &str, id: &str, parent: Option<(&str, &str)>) -> Resource {
        Resource {
            id: Some(rid(resource_type, id)),
            parent_resource_id: parent.map(|(t, p)| rid(t, p)),
            display_name: format!("{resource_type} {id}"),
            ..Default::default()
        }
    }

    fn entitlement(res: &Resource, name: &str) -> Entitlement {
        let id = res.id.as_ref().unwrap();
        Entitlement {
            resource: Some(res.clone()),
            id: format!("{}:{}:{name}", id.resource_type, id.resource),
            display_name: name.into(),
            slug: name.into(),
            purpose: proto::Purpose::Assignment as i32,
            ..Default::default()
        }
    }

    fn grant(ent: &Entitlement, principal: &Resource) -> Grant {
        let p = principal.id.clone().unwrap();
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

    fn sample_records() -> SyncRecords {
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

    struct Fixture {
        dir: TempDir,
        work: TempDir,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                dir: TempDir::new().unwrap(),
                work: TempDir::new().unwrap(),
            }
        }

        fn target(&self) -> PathBuf {
            self.dir.path().join("sync.c1z")
        }

        fn options(&self) -> WriteOptions {
            WriteOptions {
                temp_dir: Some(self.work.path().to_path_buf()),
                ..Default::default()
            }
        }

        fn write(&self, records: &SyncRecords) -> WriteReport {
            write_sync(&self.target(), records, clock::now(), &self.options()).unwrap()
        }

        fn write_with(
            &self,
            records: &SyncRecords,
            options: &WriteOptions,
        ) -> anyhow::Result<WriteReport> {
            write_sync(&self.target(), records, clock::now(), options)
        }

        fn listing(&self) -> Vec<String> {
            listing(self.dir.path())
        }

        fn assert_no_leftovers(&self) {
            assert_eq!(self.listing(), ["sync.c1z"]);
            assert!(
                listing(self.work.path()).is_empty(),
                "working dir left behind"
            );
        }
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The decompressed database, opened directly with rusqlite (independently of the crate's reader).
    struct Decoded {
        _dir: TempDir,
        conn: Connection,
    }

    fn decode_file(path: &Path) -> Decoded {
        let raw = fs::read(path).unwrap();
        assert_eq!(&raw[..5], &[0x43, 0x31, 0x5a, 0x46, 0x00]);
        let bytes = zstd::decode_all(&raw[5..]).unwrap();
        let dir = TempDir::new().unwrap();
        let db = dir.path().join("db");
        fs::write(&db, &bytes).unwrap();
        let conn = Connection::open(&db).unwrap();
        Decoded { _dir: dir, conn }
    }

    fn strings(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    fn assert_time_layout(text: &str) {
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

    fn assert_integrity(conn: &Connection) {
        assert_eq!(strings(conn, "pragma integrity_check"), ["ok"]);
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
        let report =
            write_sync(&fx.target(), &sample_records(), started_at, &fx.options()).unwrap();
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
        for ((external_id, data, discovered_at), expected) in
            rows.iter().zip(&records.resource_types)
        {
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

    /// Rewrites the database of the c1z at `path` with `sql` applied to it.
    fn edit_file(path: &Path, sql: &str) {
        let db = decode_file(path);
        db.conn.execute_batch(sql).unwrap();
        let Decoded { _dir, conn } = db;
        drop(conn);
        let mut out = MAGIC_V1.to_vec();
        out.extend(
            zstd::encode_all(fs::read(_dir.path().join("db")).unwrap().as_slice(), 3).unwrap(),
        );
        fs::write(path, out).unwrap();
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
        for i in 0..5_000 {
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

    /// A writer fed `records` one by one, as `sync` feeds it.
    fn stream(fx: &Fixture, records: &SyncRecords) -> SyncWriter {
        let mut writer = SyncWriter::create(
            &fx.target(),
            &records.resource_types,
            clock::now(),
            &fx.options(),
        )
        .unwrap();
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
        let report = crate::expand::expand_records(&mut expanded).unwrap();
        assert_eq!((report.created, report.updated), (1, 1));
        let a = fx.write(&expanded);
        let b = stream(&fx, &sample_records()).finish().unwrap();
        assert_eq!(b.grants, 5);
        let db = decode_file(&fx.target());
        let blobs = |sync_id: &str| -> Vec<(String, Vec<u8>)> {
            let mut stmt = db
                .conn
                .prepare("select external_id, data from v1_grants where sync_id = ?1 order by id")
                .unwrap();
            let rows = stmt
                .query_map([sync_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap();
            rows.map(Result::unwrap).collect()
        };
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
        let report = fx.write(&records);
        assert_eq!(report.grants, 4);
        let db = decode_file(&fx.target());
        let data: Vec<Vec<u8>> = {
            let mut stmt = db
                .conn
                .prepare("select data from v1_grants where external_id = ?1")
                .unwrap();
            let rows = stmt.query_map([&duplicate.id], |r| r.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert_eq!(data, [duplicate.encode_to_vec()]);
        let first_id: String = db
            .conn
            .query_row(
                "select external_id from v1_grants order by id limit 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(first_id, duplicate.id, "the row keeps its position");
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
