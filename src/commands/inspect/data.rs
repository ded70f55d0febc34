//! What the views share: the records of one sync decoded with every protocol field (the small tables;
//! the grants are streamed from the file by [`for_each_grant`] and resources looked up by id by
//! [`Resources`] where a view would otherwise hold them all), the `--sync-id` check, the grant filters and
//! small helpers for names and keys.

use anyhow::{bail, Context};
use baton_c1z::proto;
use baton_c1z::protojson::{self, Json};
use baton_c1z::reader::{C1zFile, RowFilter, Table as DbTable};
use prost::Message;
use std::cell::RefCell;
use std::collections::BTreeMap;

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

/// The most resources a [`Resources`] lookup keeps decoded (and rendered) at once; it starts afresh when
/// full, so that its memory stays bounded however many principals a file has.
const LOOKUP_CACHE_ENTRIES: usize = 8192;

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
    cache: RefCell<BTreeMap<ResourceKey, Option<Cached>>>,
}

impl<'f> Resources<'f> {
    pub(super) fn new(file: &'f C1zFile, sync_id: Option<&str>) -> Resources<'f> {
        Resources {
            file,
            sync_id: sync_id.map(str::to_owned),
            cache: RefCell::new(BTreeMap::new()),
        }
    }

    fn load(&self, id: &proto::ResourceId) -> anyhow::Result<()> {
        let k = key(id);
        if self.cache.borrow().contains_key(&k) {
            return Ok(());
        }
        let external_id = format!("{}:{}", id.resource_type, id.resource);
        let found = self
            .file
            .blob_by_external_id(DbTable::Resources, self.sync_id.as_deref(), &external_id)?
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
        let mut cache = self.cache.borrow_mut();
        if cache.len() >= LOOKUP_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(k, found);
        Ok(())
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
        self.load(id)?;
        Ok(self
            .cache
            .borrow()
            .get(&key(id))
            .and_then(|c| c.as_ref().map(|c| c.resource.clone())))
    }

    /// The protojson of resource `id` (rendered once while it is cached), if the sync has it.
    pub(super) fn json(&self, id: &proto::ResourceId) -> anyhow::Result<Option<Json>> {
        self.load(id)?;
        let mut cache = self.cache.borrow_mut();
        let Some(Some(cached)) = cache.get_mut(&key(id)) else {
            return Ok(None);
        };
        let resource = &cached.resource;
        Ok(Some(
            cached
                .json
                .get_or_insert_with(|| Json::Raw(protojson::resource(resource).to_text().into()))
                .clone(),
        ))
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
