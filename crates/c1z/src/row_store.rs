//! The grant store expansion writes into when the `.c1z` writer has deferred its grant indexes (every
//! streamed sync, and any write that adds many rows): the grant table then has no index at all, not even
//! the unique one on grant ids, so that each grant expansion adds is a plain append. What expansion
//! looks up is kept in memory instead: for each entitlement, the row ids of its grants in row order and
//! a hash of each grant's principal (12 bytes a row). The grants themselves are read by row id. The
//! writer builds every index once expansion is done.
//!
//! Expansion runs the edges into one entitlement one after another (see `expand`), so the map from
//! principal to row of the entitlement being expanded into is built once per entitlement.

use crate::expand::{expanded_sources, GrantStore, Holder};
use crate::proto::{self, Entitlement, Grant, GrantSources, ResourceId};
use crate::writer::{
    encode_grant, grant_keys, insert_grant_row, into_slim, stored_entitlement, INSERT_GRANT,
    SELECT_ENTITLEMENT,
};
use anyhow::Context;
use prost::Message;
use rusqlite::{params, Connection, Statement};
use prost::encoding::{encode_key, encode_varint, WireType};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

/// The grant rows of one entitlement in the sync: row ids in row order, and each one's principal hash.
#[derive(Debug, Default)]
struct Rows {
    ids: Vec<u32>,
    principals: Vec<u64>,
}

/// The grant rows of the sync being written, by entitlement: recorded by the writer as it inserts
/// them, and by expansion as it adds more.
#[derive(Debug, Default)]
pub(crate) struct GrantRows {
    by_entitlement: BTreeMap<String, Rows>,
    /// A hash of each row's grant id, to find out whether an id was given twice.
    id_hashes: Vec<u64>,
}

impl GrantRows {
    /// Records row `row_id`, grant `grant_id` of `entitlement_id` to `principal`.
    pub(crate) fn add(
        &mut self,
        entitlement_id: &str,
        principal: &ResourceId,
        grant_id: &str,
        row_id: i64,
    ) -> anyhow::Result<(u32, u64)> {
        let mut hasher = std::hash::DefaultHasher::new();
        grant_id.hash(&mut hasher);
        self.id_hashes.push(hasher.finish());
        let id = u32::try_from(row_id)
            .with_context(|| format!("grant row id {row_id} is out of range"))?;
        let hash = principal_hash(principal);
        let on = match self.by_entitlement.get_mut(entitlement_id) {
            Some(on) => on,
            None => self
                .by_entitlement
                .entry(entitlement_id.to_owned())
                .or_default(),
        };
        on.ids.push(id);
        on.principals.push(hash);
        Ok((id, hash))
    }

    fn of(&self, entitlement_id: &str) -> Option<&Rows> {
        self.by_entitlement.get(entitlement_id)
    }

    /// Whether two rows may have the same grant id (their ids hash alike), which the caller checks on
    /// the rows.
    pub(crate) fn may_repeat_an_id(mut self) -> bool {
        self.by_entitlement.clear();
        self.id_hashes.sort_unstable();
        self.id_hashes.windows(2).any(|pair| pair[0] == pair[1])
    }
}

/// A [`GrantStore`] over the grant rows of one sync, without indexes (see the module documentation).
pub(crate) struct RowIdStore<'c> {
    sync_id: &'c str,
    discovered_at: &'c str,
    slim: bool,
    data: Vec<u8>,
    rows: &'c mut GrantRows,
    /// The entitlement being expanded into, and the rows of its grants by principal hash.
    target: Option<(String, BTreeSet<(u64, u32)>)>,
    /// The entitlement field of the grants [`GrantStore::create`] writes, encoded once per target.
    created_entitlement: Encoded,
    /// Their sources field, encoded once per source.
    created_sources: Encoded,
    /// The id of the grant being created.
    id: String,
    /// The row of each grant [`GrantStore::grant_of`] found, by grant id, for the `put` replacing it.
    found: BTreeMap<String, u32>,
    conn: &'c Connection,
    select_entitlement: Statement<'c>,
    select_data: Statement<'c>,
    select_principal: Statement<'c>,
    insert: Statement<'c>,
    update: Statement<'c>,
}

/// The hash of a principal that keys the lookups (equal principals hash alike; a match is checked on
/// the row).
fn principal_hash(principal: &ResourceId) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    principal.resource_type.hash(&mut hasher);
    principal.resource.hash(&mut hasher);
    hasher.finish()
}

impl<'c> RowIdStore<'c> {
    /// The store over the grant rows of `sync_id` recorded in `rows`.
    pub(crate) fn new(
        conn: &'c Connection,
        sync_id: &'c str,
        discovered_at: &'c str,
        slim: bool,
        rows: &'c mut GrantRows,
    ) -> anyhow::Result<RowIdStore<'c>> {
        Ok(RowIdStore {
            sync_id,
            discovered_at,
            slim,
            data: Vec::new(),
            rows,
            target: None,
            created_entitlement: Encoded::default(),
            created_sources: Encoded::default(),
            id: String::new(),
            found: BTreeMap::new(),
            conn,
            select_entitlement: conn.prepare(SELECT_ENTITLEMENT)?,
            select_data: conn.prepare("select data from v1_grants where rowid = ?1")?,
            select_principal: conn.prepare(
                "select principal_resource_type_id, principal_resource_id, data from v1_grants \
                 where rowid = ?1",
            )?,
            insert: conn.prepare(INSERT_GRANT)?,
            update: conn.prepare("update v1_grants set data = ?1 where rowid = ?2")?,
        })
    }

    /// Makes `entitlement_id` the entitlement being expanded into.
    fn begin_target(&mut self, entitlement_id: &str) {
        if self
            .target
            .as_ref()
            .is_some_and(|(id, _)| id == entitlement_id)
        {
            return;
        }
        let mut by_principal = BTreeSet::new();
        if let Some(on) = self.rows.of(entitlement_id) {
            by_principal.extend(on.principals.iter().copied().zip(on.ids.iter().copied()));
        }
        self.found.clear();
        self.target = Some((entitlement_id.to_owned(), by_principal));
    }
}

impl GrantStore for RowIdStore<'_> {
    fn entitlement(&mut self, id: &str) -> anyhow::Result<Option<Entitlement>> {
        stored_entitlement(&mut self.select_entitlement, id, self.sync_id)
    }

    fn grants_on(&mut self, entitlement_id: &str) -> anyhow::Result<Vec<Grant>> {
        let Some(on) = self.rows.of(entitlement_id) else {
            return Ok(Vec::new());
        };
        let mut grants = Vec::with_capacity(on.ids.len());
        for id in &on.ids {
            let mut rows = self.select_data.query(params![id])?;
            if let Some(row) = rows.next()? {
                let data = row.get_ref(0)?.as_blob()?;
                grants.push(
                    Grant::decode(data)
                        .with_context(|| format!("decode a stored grant of {entitlement_id:?}"))?,
                );
            }
        }
        Ok(grants)
    }

    fn grant_of(
        &mut self,
        entitlement_id: &str,
        principal: &ResourceId,
    ) -> anyhow::Result<Option<Grant>> {
        self.begin_target(entitlement_id);
        let hash = principal_hash(principal);
        let candidates: Vec<u32> = self
            .target
            .as_ref()
            .map(|(_, by_principal)| {
                by_principal
                    .range((hash, 0)..=(hash, u32::MAX))
                    .map(|(_, id)| *id)
                    .collect()
            })
            .unwrap_or_default();
        // The last stored grant of the principal, as the indexed store answers.
        for id in candidates.into_iter().rev() {
            let mut rows = self.select_principal.query(params![id])?;
            let Some(row) = rows.next()? else {
                continue;
            };
            if row.get_ref(0)?.as_str()? != principal.resource_type
                || row.get_ref(1)?.as_str()? != principal.resource
            {
                continue;
            }
            let grant = Grant::decode(row.get_ref(2)?.as_blob()?)
                .with_context(|| format!("decode a stored grant of {entitlement_id:?}"))?;
            self.found.insert(grant.id.clone(), id);
            return Ok(Some(grant));
        }
        Ok(None)
    }

    fn embedded(&self, entitlement: Entitlement) -> Entitlement {
        if self.slim {
            into_slim(entitlement)
        } else {
            entitlement
        }
    }

    fn put(&mut self, grant: Grant) -> anyhow::Result<()> {
        encode_grant(&mut self.data, &grant, self.slim)?;
        if let Some(id) = self.found.remove(&grant.id) {
            self.update
                .execute(params![&self.data[..], id])
                .with_context(|| format!("update grant {:?}", grant.id))?;
            return Ok(());
        }
        let keys = grant_keys(0, &grant)?;
        insert_grant_row(
            &mut self.insert,
            &keys,
            &grant,
            &self.data,
            self.sync_id,
            self.discovered_at,
        )?;
        self.added(keys.entitlement_id, keys.principal, &grant.id)
    }

    fn holders(&mut self, entitlement_id: &str, with_sources: bool) -> anyhow::Result<Vec<Holder>> {
        let Some(on) = self.rows.of(entitlement_id) else {
            return Ok(Vec::new());
        };
        let mut holders = Vec::with_capacity(on.ids.len());
        let mut sources = Vec::new();
        for id in &on.ids {
            let mut rows = self.select_principal.query(params![id])?;
            let Some(row) = rows.next()? else {
                continue;
            };
            let (mut principal, mut has_principal) = (Vec::new(), false);
            sources.clear();
            proto::for_each_length_delimited(row.get_ref(2)?.as_blob()?, |tag, bytes| match tag {
                2 => {
                    has_principal = true;
                    principal.extend_from_slice(bytes);
                }
                5 if with_sources => sources.extend_from_slice(bytes),
                _ => {}
            })
            .with_context(|| format!("read a stored grant of {entitlement_id:?}"))?;
            if !has_principal {
                continue;
            }
            holders.push(Holder {
                principal_id: ResourceId::new(row.get_ref(0)?.as_str()?, row.get_ref(1)?.as_str()?),
                principal,
                sources: GrantSources::decode(sources.as_slice())
                    .with_context(|| format!("decode the sources of a grant of {entitlement_id:?}"))?
                    .to_map(),
            });
        }
        Ok(holders)
    }

    /// Writes the grant's fields as `Grant`'s encoder would (in field order), from the target and the
    /// source encoded once and the holder's principal as stored, without building the grant.
    fn create(&mut self, target: &Entitlement, holder: &Holder, source: &str) -> anyhow::Result<()> {
        let resource = target
            .resource
            .as_ref()
            .and_then(|r| r.id.as_ref())
            .with_context(|| format!("entitlement {:?} has no resource id", target.id))?;
        let principal = &holder.principal_id;
        self.created_entitlement.set(&target.id, || target.clone(), 1);
        self.created_sources
            .set(source, || expanded_sources(source), 5);
        self.id.clear();
        self.id.push_str(&target.id);
        for part in [&principal.resource_type, &principal.resource] {
            self.id.push(':');
            self.id.push_str(part);
        }
        self.data.clear();
        self.data.extend_from_slice(&self.created_entitlement.bytes);
        encode_key(2, WireType::LengthDelimited, &mut self.data);
        encode_varint(holder.principal.len() as u64, &mut self.data);
        self.data.extend_from_slice(&holder.principal);
        prost::encoding::string::encode(3, &self.id, &mut self.data);
        self.data.extend_from_slice(&self.created_sources.bytes);
        self.insert
            .execute(params![
                resource.resource_type,
                resource.resource,
                target.id,
                principal.resource_type,
                principal.resource,
                self.id,
                self.data,
                self.sync_id,
                self.discovered_at
            ])
            .with_context(|| format!("insert grant {:?}", self.id))?;
        let id = std::mem::take(&mut self.id);
        let added = self.added(&target.id, principal, &id);
        self.id = id;
        added
    }
}

impl RowIdStore<'_> {
    /// Records the row just inserted: a grant of `entitlement_id` to `principal`.
    fn added(
        &mut self,
        entitlement_id: &str,
        principal: &ResourceId,
        grant_id: &str,
    ) -> anyhow::Result<()> {
        let row_id = self.conn.last_insert_rowid();
        let (id, hash) = self
            .rows
            .add(entitlement_id, principal, grant_id, row_id)?;
        if let Some((target, by_principal)) = self.target.as_mut() {
            if target == entitlement_id {
                by_principal.insert((hash, id));
            }
        }
        Ok(())
    }
}

/// One field of a message, encoded (key, length and message) for the id it was encoded for.
#[derive(Default)]
struct Encoded {
    id: Option<String>,
    bytes: Vec<u8>,
}

impl Encoded {
    /// Encodes `message()` as field `tag` unless it is already encoded for `id`.
    fn set<M: Message>(&mut self, id: &str, message: impl FnOnce() -> M, tag: u32) {
        if self.id.as_deref() == Some(id) {
            return;
        }
        self.bytes.clear();
        prost::encoding::message::encode(tag, &message(), &mut self.bytes);
        self.id = Some(id.to_owned());
    }
}
