//! What the views share: the records of one sync decoded with every protocol field (the small tables;
//! the grants are streamed from the file by [`for_each_grant`] and resources looked up by id by
//! [`Resources`] where a view would otherwise hold them all), the `--sync-id` check, the grant filters and
//! small helpers for names and keys.

use anyhow::{bail, Context};
use baton_c1z::proto;
use baton_c1z::protojson::{self, Json};
use baton_c1z::reader::{C1zFile, RowFilter, Table as DbTable};
use prost::Message;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub(super) fn require_sync(file: &C1zFile, id: &str) -> anyhow::Result<()> {
    if file.sync_runs()?.iter().any(|run| run.sync_id == id) {
        Ok(())
    } else {
        bail!("sync {id} is not in the file (see `inspect syncs`)")
    }
}

pub(super) fn decode_all<M: Message + Default>(
    file: &C1zFile,
    table: DbTable,
    sync_id: Option<&str>,
) -> anyhow::Result<Vec<M>> {
    file.data_blobs(table, sync_id)?
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            M::decode(bytes.as_slice())
                .with_context(|| format!("{}: row {} does not decode", table.name(), i + 1))
        })
        .collect()
}

/// The small tables of one sync (or of every sync), decoded with every protocol field; `grants` holds
/// only those a view collects (one principal's, for `access`).
pub(super) struct Data {
    pub(super) types: Vec<proto::ResourceType>,
    pub(super) entitlements: Vec<proto::Entitlement>,
    pub(super) grants: Vec<proto::Grant>,
}

pub(super) type ResourceKey = (String, String);

/// About how much memory a [`Resources`] lookup keeps resources decoded (and rendered) in; it starts
/// afresh when full, so that its memory stays bounded however many principals a file has. Large enough
/// for the principals that one entitlement's grants go through in turn (ten thousand SSO users with
/// their profiles are about 17 MB), which a view meets again for every entitlement they hold: a cache
/// smaller than that cycle would miss on every grant.
const LOOKUP_CACHE_BYTES: usize = 64 << 20;

/// What one cached entry is counted as beside its key, its stored and its rendered bytes: the map's
/// node and the allocations of the decoded message.
const LOOKUP_ENTRY_OVERHEAD: usize = 128;

/// A decoded message takes about this many times its encoded size (its strings, maps and vectors).
const DECODED_PER_ENCODED_BYTE: usize = 3;

/// A resource found by a [`Resources`] lookup, and its protojson text once rendered.
struct Cached {
    resource: std::rc::Rc<proto::Resource>,
    json: Option<Json>,
}

/// Resources of one sync (of every sync with `None`) looked up by id when needed, through the
/// `(external_id, sync_id)` index, rather than all held in memory: the latest row of that
/// `type:id` (the last one stored, with no sync). Recent ones are cached.
pub(super) struct Resources<'f> {
    file: &'f C1zFile,
    sync_id: Option<String>,
    /// By [`Resources::key`].
    cache: RefCell<BTreeMap<String, Option<Cached>>>,
    /// What the cached entries are counted as.
    cached_bytes: Cell<usize>,
    /// How much may be cached before the cache starts afresh ([`LOOKUP_CACHE_BYTES`]).
    budget: usize,
    /// The key of the latest lookup, reused so that a lookup allocates nothing when it hits.
    key: RefCell<String>,
}

impl<'f> Resources<'f> {
    pub(super) fn new(file: &'f C1zFile, sync_id: Option<&str>) -> Resources<'f> {
        Resources::with_budget(file, sync_id, LOOKUP_CACHE_BYTES)
    }

    fn with_budget(file: &'f C1zFile, sync_id: Option<&str>, budget: usize) -> Resources<'f> {
        Resources {
            file,
            sync_id: sync_id.map(str::to_owned),
            cache: RefCell::new(BTreeMap::new()),
            cached_bytes: Cell::new(0),
            budget,
            key: RefCell::new(String::new()),
        }
    }

    /// Counts `bytes` more as cached.
    fn count(&self, bytes: usize) {
        self.cached_bytes
            .set(self.cached_bytes.get().saturating_add(bytes));
    }

    /// Writes the cache's key of `id` into `key`: the type's length, the type and the id, so that two
    /// ids never share a key (`type:id` can read the same for two).
    fn key(id: &proto::ResourceId, key: &mut String) {
        key.clear();
        // Writing into a string cannot fail.
        let _ = write!(key, "{}:{}", id.resource_type.len(), id.resource_type);
        key.push_str(&id.resource);
    }

    /// Runs `f` on the cached entry of `id` (`None` when the sync has no such resource), read from the
    /// file first when it is not cached.
    fn with_entry<R>(
        &self,
        id: &proto::ResourceId,
        f: impl FnOnce(&mut Option<Cached>) -> R,
    ) -> anyhow::Result<R> {
        let mut key = self.key.borrow_mut();
        Self::key(id, &mut key);
        let mut cache = self.cache.borrow_mut();
        if let Some(entry) = cache.get_mut(key.as_str()) {
            return Ok(f(entry));
        }
        let (found, read_bytes) = self.read(id)?;
        let entry_bytes = read_bytes + key.len();
        // The rendered text, counted when rendered, may take the last entry over the budget.
        if self.cached_bytes.get() + entry_bytes > self.budget {
            cache.clear();
            self.cached_bytes.set(0);
        }
        self.count(entry_bytes);
        Ok(f(cache.entry(key.clone()).or_insert(found)))
    }

    /// Reads resource `id` from the file, and what its cache entry is counted as.
    fn read(&self, id: &proto::ResourceId) -> anyhow::Result<(Option<Cached>, usize)> {
        let external_id = format!("{}:{}", id.resource_type, id.resource);
        let stored = self.file.blob_by_external_id(
            DbTable::Resources,
            self.sync_id.as_deref(),
            &external_id,
        )?;
        let entry_bytes = LOOKUP_ENTRY_OVERHEAD
            + stored
                .as_ref()
                .map_or(0, |bytes| bytes.len() * DECODED_PER_ENCODED_BYTE);
        let found = stored
            .map(|bytes| {
                proto::Resource::decode(bytes.as_slice())
                    .with_context(|| format!("v1_resources row {external_id:?} does not decode"))
            })
            .transpose()?
            // The row of another resource whose `type:id` reads the same is not this one.
            .filter(|r| {
                r.id.as_ref().is_some_and(|found| {
                    found.resource_type == id.resource_type && found.resource == id.resource
                })
            })
            .map(|resource| Cached {
                resource: std::rc::Rc::new(resource),
                json: None,
            });
        Ok((found, entry_bytes))
    }

    /// The row id of the first row of resource `id` (by `type:id`), if the sync has it: its place in
    /// the file's order of resources.
    pub(super) fn first_row(&self, id: &proto::ResourceId) -> anyhow::Result<Option<i64>> {
        let external_id = format!("{}:{}", id.resource_type, id.resource);
        self.file
            .first_row_id(DbTable::Resources, self.sync_id.as_deref(), &external_id)
    }

    /// The resource `id`, if the sync has it.
    pub(super) fn get(
        &self,
        id: &proto::ResourceId,
    ) -> anyhow::Result<Option<std::rc::Rc<proto::Resource>>> {
        self.with_entry(id, |entry| entry.as_ref().map(|c| c.resource.clone()))
    }

    /// The protojson of resource `id` (rendered once while it is cached), if the sync has it.
    pub(super) fn json(&self, id: &proto::ResourceId) -> anyhow::Result<Option<Json>> {
        self.with_entry(id, |entry| {
            let cached = entry.as_mut()?;
            if cached.json.is_none() {
                let text = protojson::resource(&cached.resource).to_text();
                self.count(text.len());
                cached.json = Some(Json::Raw(text.into()));
            }
            cached.json.clone()
        })
    }
}

impl Data {
    /// The resource types only: what a view of resources looked up by [`Resources`] needs for names.
    pub(super) fn load_types(file: &C1zFile, sync_id: Option<&str>) -> anyhow::Result<Data> {
        Ok(Data {
            types: decode_all(file, DbTable::ResourceTypes, sync_id)?,
            entitlements: Vec::new(),
            grants: Vec::new(),
        })
    }

    /// The resource types and the entitlements only: what the grant views need beside [`Resources`].
    pub(super) fn load_small(file: &C1zFile, sync_id: Option<&str>) -> anyhow::Result<Data> {
        Ok(Data {
            types: decode_all(file, DbTable::ResourceTypes, sync_id)?,
            entitlements: decode_all(file, DbTable::Entitlements, sync_id)?,
            grants: Vec::new(),
        })
    }

    pub(super) fn type_index(&self) -> BTreeMap<&str, &proto::ResourceType> {
        self.types.iter().map(|t| (t.id.as_str(), t)).collect()
    }
}

pub(super) fn key(id: &proto::ResourceId) -> ResourceKey {
    (id.resource_type.clone(), id.resource.clone())
}

pub(super) fn type_of(r: &proto::Resource) -> &str {
    r.id.as_ref().map_or("", |id| id.resource_type.as_str())
}

pub(super) fn name_or<'a>(display_name: &'a str, fallback: &'a str) -> &'a str {
    if display_name.is_empty() {
        fallback
    } else {
        display_name
    }
}

/// The `grants` (and `principals`) filters.
pub(super) struct GrantFilter<'a> {
    pub(super) resource_type: Option<&'a str>,
    pub(super) entitlement: Option<&'a str>,
    pub(super) resource: Option<&'a str>,
}

impl<'a> GrantFilter<'a> {
    /// The filters on the grants' indexed columns (and, with `principal`, on the principal's).
    pub(super) fn rows(&self, principal: Option<(&'a str, &'a str)>) -> RowFilter<'a> {
        RowFilter {
            resource_type_id: self.resource_type,
            resource_id: self.resource,
            entitlement_id: self.entitlement,
            principal,
        }
    }

    /// Whether a grant passes every filter given.
    pub(super) fn matches(&self, g: &proto::Grant) -> bool {
        let embedded = g.entitlement.as_ref();
        let ent_id = embedded.map_or("", |e| e.id.as_str());
        let rid = embedded
            .and_then(|e| e.resource.as_ref())
            .and_then(|r| r.id.as_ref());
        let type_id = rid.map_or("", |id| id.resource_type.as_str());
        let resource_id = rid.map_or("", |id| id.resource.as_str());
        self.resource_type.is_none_or(|t| t == type_id)
            && self.entitlement.is_none_or(|e| e == ent_id)
            && self.resource.is_none_or(|r| r == resource_id)
    }
}

/// Calls `visit` with each grant of the sync (of every sync when `sync_id` is `None`) that `filter`
/// selects and, with `principal`, that this principal (type, id) holds, in the order of the file's grants,
/// one decoded grant at a time. The filters run in SQL on the indexed columns, and again on the decoded
/// grant, so the grants selected are those the embedded ids name.
pub(super) fn for_each_grant(
    file: &C1zFile,
    sync_id: Option<&str>,
    filter: &GrantFilter<'_>,
    principal: Option<(&str, &str)>,
    mut visit: impl FnMut(proto::Grant) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let rows = filter.rows(principal);
    let mut n = 0usize;
    file.for_each_blob(DbTable::Grants, sync_id, &rows, |bytes| {
        n += 1;
        let g = proto::Grant::decode(bytes)
            .with_context(|| format!("v1_grants: selected row {n} does not decode"))?;
        if principal.is_none_or(|p| held_by(&g, p)) && filter.matches(&g) {
            visit(g)
        } else {
            Ok(())
        }
    })
}

/// The first grant of the sync (of every sync when `sync_id` is `None`), in the order of the file's
/// grants, that `filter` selects and the principal `(type, id)` holds, as [`for_each_grant`] would visit
/// it first: found through the principal index, reading that principal's grants only until one passes
/// the filters on the decoded grant too.
pub(super) fn first_grant(
    file: &C1zFile,
    sync_id: Option<&str>,
    filter: &GrantFilter<'_>,
    principal: (&str, &str),
) -> anyhow::Result<Option<proto::Grant>> {
    let rows = filter.rows(Some(principal));
    file.find_blob(DbTable::Grants, sync_id, &rows, |bytes| {
        let g = proto::Grant::decode(bytes).with_context(|| {
            format!(
                "v1_grants: a grant of principal {}:{} does not decode",
                principal.0, principal.1
            )
        })?;
        Ok(held_by(&g, principal)
            .then_some(g)
            .filter(|g| filter.matches(g)))
    })
}

/// Whether the grant's principal (as the grant embeds it) is `(type, id)`.
fn held_by(g: &proto::Grant, (type_id, id): (&str, &str)) -> bool {
    g.principal
        .as_ref()
        .and_then(|p| p.id.as_ref())
        .is_some_and(|holder| holder.resource_type == type_id && holder.resource == id)
}

/// The address of a value, as a cache key.
pub(super) fn address<T>(value: &T) -> usize {
    std::ptr::from_ref(value) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_c1z::proto::{Resource, ResourceId, ResourceType};
    use baton_c1z::{clock, write_sync, DecodeLimits, SyncRecords, WriteOptions};

    fn user(id: &str, name: &str) -> Resource {
        Resource {
            id: Some(ResourceId::new("user", id)),
            display_name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn lookups_stay_within_the_budget_and_find_every_resource() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.c1z");
        let records = SyncRecords {
            resource_types: vec![ResourceType {
                id: "user".into(),
                display_name: "User".into(),
                ..Default::default()
            }],
            resources: vec![
                user("a", "Ann"),
                user("b", "Bob"),
                user("c", "Cid"),
                user("x:y", "Xia"),
            ],
            ..Default::default()
        };
        let options = WriteOptions {
            temp_dir: Some(dir.path().to_owned()),
            ..Default::default()
        };
        write_sync(&path, &records, clock::now(), &options).unwrap();
        let file = C1zFile::open(&path, &DecodeLimits::default()).unwrap();
        let name = |r: &Resources<'_>, id: &str| {
            r.get(&ResourceId::new("user", id))
                .unwrap()
                .map(|found| found.display_name.clone())
        };
        // Room for about two entries: every third lookup starts the cache afresh.
        let small = Resources::with_budget(&file, None, 2 * LOOKUP_ENTRY_OVERHEAD + 200);
        for _ in 0..3 {
            for (id, expected) in [("a", "Ann"), ("b", "Bob"), ("c", "Cid")] {
                assert_eq!(name(&small, id).as_deref(), Some(expected));
                let json = small.json(&ResourceId::new("user", id)).unwrap().unwrap();
                let text = json.to_text();
                assert!(text.contains(expected), "{text}");
                assert!(small.cached_bytes.get() <= small.budget + text.len());
                assert!(small.cache.borrow().len() <= 2);
            }
        }
        assert_eq!(name(&small, "d"), None);
        // Type `user:x` with id `y` reads `user:x:y` as well, but is another resource, and has an
        // entry of its own.
        let large = Resources::new(&file, None);
        let other = ResourceId::new("user:x", "y");
        assert!(large.get(&other).unwrap().is_none());
        assert_eq!(name(&large, "x:y").as_deref(), Some("Xia"));
        assert!(large.get(&other).unwrap().is_none());
        for id in ["a", "b", "c", "a"] {
            assert!(name(&large, id).is_some());
        }
        assert_eq!(large.cache.borrow().len(), 5);
    }
}
