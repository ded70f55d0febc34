//! Baton's `.c1z` sync artifact, v1 (SQLite) format: shared types, the writer and the reader.
//!
//! A v1 file is the magic `C1ZF\0` followed by zstd data that decompresses to one SQLite database (the
//! layout of baton-sdk's `pkg/dotc1z`). Each sync has a row in `v1_sync_runs`, keyed by a KSUID; the
//! resource types, resources, entitlements and grants of every sync are rows of their own tables that
//! carry that sync id, a few key columns and the `c1.connector.v2` protobuf message in `data`.
//!
//! [`SyncWriter`] streams one finished full sync into a file ([`write_sync`] writes one held in
//! memory), expands the grants like Baton's syncer, removes older syncs and replaces the file
//! atomically; [`C1zFile`] reads any v1 file, the Go SDK's too, the way Baton's readers do.
//!
//! ```
//! use baton_c1z::proto::{Resource, ResourceId, ResourceType};
//! use baton_c1z::{clock, C1zFile, DecodeLimits, RecordSink, SyncWriter, WriteOptions};
//!
//! # fn main() -> anyhow::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("sync.c1z");
//! let types = [ResourceType { id: "user".into(), display_name: "User".into(), ..Default::default() }];
//! let mut writer = SyncWriter::create(&path, &types, clock::now(), &WriteOptions::default())?;
//! writer.resource(Resource {
//!     id: Some(ResourceId::new("user", "alice")),
//!     display_name: "Alice".into(),
//!     ..Default::default()
//! });
//! let report = writer.finish()?;
//!
//! let file = C1zFile::open(&path, &DecodeLimits::default())?;
//! let sync = file.default_sync()?.expect("a finished full sync");
//! assert_eq!(sync.sync_id, report.sync_id);
//! assert_eq!(file.resources(&sync.sync_id)?[0].data.display_name, "Alice");
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod atomic_file;
pub mod clock;
pub mod expand;
pub mod progress;
pub mod proto;
pub mod protojson;
pub mod reader;
mod row_store;
mod rows_worker;
pub mod schema;
pub mod temp;
pub mod writer;

/// Lets the test helpers shared with the integration tests name this crate as they do.
#[cfg(test)]
extern crate self as baton_c1z;
/// The writer's test helpers, shared with the integration tests.
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod test_support;

use std::path::PathBuf;

pub use reader::{
    C1zFile, DecodeLimits, EntitlementRow, FormatError, GrantRow, ResourceRow, ResourceTypeRow,
    SyncRun,
};
pub use writer::{write_sync, write_sync_owned, SyncWriter};

/// The first bytes of a v1 (SQLite) `.c1z`.
pub const MAGIC_V1: &[u8; 5] = b"C1ZF\0";
/// The first bytes of a v3 (Pebble) `.c1z`, which this crate does not support.
pub const MAGIC_V3: &[u8; 5] = b"C1Z3\0";

/// The objects of one sync, in the order they are written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncRecords {
    /// The resource types, each written once.
    pub resource_types: Vec<proto::ResourceType>,
    /// Parents before children; the writer keeps this order.
    pub resources: Vec<proto::Resource>,
    /// Entitlements, each naming the resource it belongs to.
    pub entitlements: Vec<proto::Entitlement>,
    /// Grants of an entitlement to a principal.
    pub grants: Vec<proto::Grant>,
}

/// Receives the records of one sync as they are produced, in the order they are written. The resource
/// types are fixed and given to the sink up front.
pub trait RecordSink {
    /// Takes the next resource.
    fn resource(&mut self, resource: proto::Resource);
    /// Takes the next entitlement.
    fn entitlement(&mut self, entitlement: proto::Entitlement);
    /// Takes the next grant.
    fn grant(&mut self, grant: proto::Grant);
}

/// Collects the records in memory.
impl RecordSink for SyncRecords {
    fn resource(&mut self, resource: proto::Resource) {
        self.resources.push(resource);
    }

    fn entitlement(&mut self, entitlement: proto::Entitlement) {
        self.entitlements.push(entitlement);
    }

    fn grant(&mut self, grant: proto::Grant) {
        self.grants.push(grant);
    }
}

/// How [`write_sync`] stores a sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// Finished full syncs kept (the newest added to the file), including the new one; at least 1 is
    /// kept.
    pub keep_sync_count: usize,
    /// Keep every older sync and skip `VACUUM`.
    pub skip_cleanup: bool,
    /// Directory of the working SQLite database; `None` is the OS temp dir.
    pub temp_dir: Option<PathBuf>,
    /// zstd level, clamped to 1..=19.
    pub zstd_level: i32,
    /// Decoder limits for loading the existing file.
    pub decode_limits: DecodeLimits,
    /// Largest decoded size the new file may have: a bigger one is an error and nothing is published
    /// (default: the 10 GiB that the current Baton readers accept).
    pub max_decoded_bytes: u64,
    /// Store each grant's entitlement as its id and its resource's id and display name only, as the
    /// current baton-sdk writes grants: readers look the entitlement and the resource up in their own
    /// rows, and the file is about a third smaller. On by default.
    pub slim_grants: bool,
    /// The `sync_type` recorded for the new sync: `full` (the default), or `resources_only` for a sync
    /// without entitlements and grants. Cleanup counts only `full` syncs.
    pub sync_type: SyncType,
}

/// The `sync_type` of a sync run, as baton-sdk names them (`pkg/connectorstore`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncType {
    /// Every resource type with its entitlements and grants (also for a resource type filter).
    #[default]
    Full,
    /// Resources only: entitlements and grants were skipped.
    ResourcesOnly,
}

impl SyncType {
    /// The text stored in `v1_sync_runs.sync_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncType::Full => "full",
            SyncType::ResourcesOnly => "resources_only",
        }
    }
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            keep_sync_count: 2,
            skip_cleanup: false,
            temp_dir: None,
            zstd_level: 3,
            decode_limits: DecodeLimits::default(),
            max_decoded_bytes: reader::CURRENT_READER_MAX_DECODED_BYTES,
            slim_grants: true,
            sync_type: SyncType::Full,
        }
    }
}

/// What [`write_sync`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteReport {
    /// The KSUID of the new sync.
    pub sync_id: String,
    /// The file written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The size of the SQLite database it decodes to, which readers compare with their decoded size cap.
    pub decoded_bytes: u64,
    /// Rows stored for the new sync, per table (duplicates merged).
    pub resource_types: usize,
    /// Resources stored for the new sync.
    pub resources: usize,
    /// Entitlements stored for the new sync.
    pub entitlements: usize,
    /// Grants stored for the new sync, expanded ones included.
    pub grants: usize,
    /// Resources stored for the new sync per resource type id, in the order of the resource types.
    pub resources_by_type: Vec<(String, usize)>,
    /// Finished full syncs deleted by cleanup.
    pub removed_sync_ids: Vec<String>,
    /// Finished full syncs left in the file, newest first.
    pub kept_sync_ids: Vec<String>,
}
