//! The grant store expansion writes into when the `.c1z` writer has deferred its grant indexes (every
//! streamed sync, and any write that adds many rows): the grant table then has no index at all, not even
//! the unique one on grant ids, so that each grant is a plain append. What expansion looks up is kept
//! in memory instead, recorded as the rows are added ([`GrantRows`]): for each entitlement, the row ids
//! of its grants in row order with each one's principal (12 bytes a row); each distinct principal once,
//! by id and as the grants store it. An edge therefore reads its holders, and finds whether a holder
//! already has the target, without reading a row; rows are read (by row id) only for the grants an edge
//! changes and for the sources a shallow edge checks. The writer builds every index once expansion is
//! done.
//!
//! The store reads and writes through the thread that inserted the sync's rows (`rows_worker`): new
//! grants and changed ones are sent in its batches, their row ids worked out ahead; its reads (each
//! entitlement once, and each edge's existing target grants in one request, [`GrantStore::prefetch`])
//! are answered after everything sent before them.
//!
//! Expansion runs the edges into one entitlement one after another (see `expand`), so the map from
//! principal to row of the entitlement being expanded into is built once per entitlement.

use crate::expand::{expanded_sources, GrantStore, Holder};
use crate::proto::{self, Entitlement, Grant, GrantSources, ResourceId};
use crate::rows_worker::RowsWorker;
use crate::writer::{encode_grant, grant_columns, grant_keys, into_slim};
use anyhow::Context;
use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::ops::Range;

/// The grant rows of one entitlement in the sync, in row order: each one's row id, principal (an index
/// of `GrantRows::principals`) and stored principal (an index of `GrantRows::encoded`).
#[derive(Debug, Default)]
struct Rows {
    ids: Vec<u32>,
    principals: Vec<u32>,
    encoded: Vec<u32>,
}

/// The grant rows of the sync being written, by entitlement: recorded by the writer as it inserts
/// them, and by expansion as it adds more.
#[derive(Debug, Default)]
pub(crate) struct GrantRows {
    /// Indexes of `rows` by entitlement id.
    by_entitlement: BTreeMap<String, usize>,
    rows: Vec<Rows>,
    /// The entitlement of the last row added and its index in `rows` (rows come grouped by
    /// entitlement).
    last: Option<(String, usize)>,
    /// Each distinct principal id (see [`principal_key`]), and its index in `principals`. Looked up
    /// only, never iterated (the indexes follow the order rows arrive), so a hash map is
    /// deterministic here; it is the lookup every grant row makes.
    #[allow(clippy::disallowed_types)]
    by_principal_id: std::collections::HashMap<Vec<u8>, u32>,
    /// The key being looked up.
    key: Vec<u8>,
    principals: Vec<Principal>,
    /// Each distinct stored principal: its bytes in `bytes`. A principal's first is its usual one;
    /// others (the same principal stored otherwise) are found in `unusual`.
    encoded: Vec<Range<usize>>,
    unusual: BTreeMap<Vec<u8>, u32>,
    bytes: Vec<u8>,
    /// A hash of each row's grant id, to find out whether an id was given twice.
    id_hashes: Vec<u64>,
}

/// A principal of the sync's grants.
#[derive(Debug)]
struct Principal {
    id: ResourceId,
    /// The index in `encoded` of how its first grant stored it.
    usual: u32,
}

/// Where [`GrantRows::add`] recorded a row: its row id, and the indexes of its principal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Added {
    row: u32,
    principal: u32,
}

impl GrantRows {
    /// Records row `row_id`: grant `grant_id` of `entitlement_id` to `principal`, stored as the
    /// protobuf-encoded `Resource` `encoded`.
    pub(crate) fn add(
        &mut self,
        entitlement_id: &str,
        principal: &ResourceId,
        encoded: &[u8],
        grant_id: &str,
        row_id: i64,
    ) -> anyhow::Result<Added> {
        let principal = self.principal_index(principal, encoded)?;
        self.add_interned(entitlement_id, principal, grant_id, row_id)
    }

    /// [`Self::add`] of a principal already recorded, as a [`Holder`]'s key names it.
    fn add_interned(
        &mut self,
        entitlement_id: &str,
        (principal, stored): (u32, u32),
        grant_id: &str,
        row_id: i64,
    ) -> anyhow::Result<Added> {
        let row = u32::try_from(row_id)
            .with_context(|| format!("grant row id {row_id} is out of range"))?;
        let mut hasher = std::hash::DefaultHasher::new();
        grant_id.hash(&mut hasher);
        self.id_hashes.push(hasher.finish());
        let on = self.rows_index(entitlement_id);
        let rows = &mut self.rows[on];
        rows.ids.push(row);
        rows.principals.push(principal);
        rows.encoded.push(stored);
        Ok(Added { row, principal })
    }

    fn rows_index(&mut self, entitlement_id: &str) -> usize {
        if let Some((id, index)) = &self.last {
            if id == entitlement_id {
                return *index;
            }
        }
        let index = match self.by_entitlement.get(entitlement_id) {
            Some(index) => *index,
            None => {
                self.rows.push(Rows::default());
                self.by_entitlement
                    .insert(entitlement_id.to_owned(), self.rows.len() - 1);
                self.rows.len() - 1
            }
        };
        self.last = Some((entitlement_id.to_owned(), index));
        index
    }

    /// The indexes of `principal` and of its stored form `encoded`, recorded if new.
    fn principal_index(
        &mut self,
        principal: &ResourceId,
        encoded: &[u8],
    ) -> anyhow::Result<(u32, u32)> {
        principal_key(&mut self.key, &principal.resource_type, &principal.resource);
        if let Some(&index) = self.by_principal_id.get(self.key.as_slice()) {
            let usual = self.principals[index as usize].usual;
            if self.stored(usual) == encoded {
                return Ok((index, usual));
            }
            if let Some(unusual) = self.unusual.get(encoded) {
                return Ok((index, *unusual));
            }
            let unusual = self.store(encoded)?;
            self.unusual.insert(encoded.to_vec(), unusual);
            return Ok((index, unusual));
        }
        let index = u32::try_from(self.principals.len()).context("too many principals")?;
        let usual = self.store(encoded)?;
        self.principals.push(Principal {
            id: principal.clone(),
            usual,
        });
        self.by_principal_id.insert(self.key.clone(), index);
        Ok((index, usual))
    }

    fn store(&mut self, encoded: &[u8]) -> anyhow::Result<u32> {
        let index = u32::try_from(self.encoded.len()).context("too many principals")?;
        let start = self.bytes.len();
        self.bytes.extend_from_slice(encoded);
        self.encoded.push(start..self.bytes.len());
        Ok(index)
    }

    fn stored(&self, index: u32) -> &[u8] {
        &self.bytes[self.encoded[index as usize].clone()]
    }

    /// The index of `principal`, if a row has it.
    fn principal(&mut self, principal: &ResourceId) -> Option<u32> {
        principal_key(&mut self.key, &principal.resource_type, &principal.resource);
        self.by_principal_id.get(self.key.as_slice()).copied()
    }

    fn of(&self, entitlement_id: &str) -> Option<&Rows> {
        self.by_entitlement
            .get(entitlement_id)
            .map(|index| &self.rows[*index])
    }

    /// Whether two rows may have the same grant id (their ids hash alike), which the caller checks on
    /// the rows.
    pub(crate) fn may_repeat_an_id(self) -> bool {
        let mut hashes = self.id_hashes;
        hashes.sort_unstable();
        hashes.windows(2).any(|pair| pair[0] == pair[1])
    }
}

/// Writes the key of principal `resource_type`/`resource` into `key`: the length of the type, the
/// type and the id, so that no two principals share a key.
fn principal_key(key: &mut Vec<u8>, resource_type: &str, resource: &str) {
    key.clear();
    key.extend_from_slice(&(resource_type.len() as u64).to_le_bytes());
    key.extend_from_slice(resource_type.as_bytes());
    key.extend_from_slice(resource.as_bytes());
}

/// The stored principal of an encoded grant (its field 2; the merge of all, as decoding reads them,
/// when it is given more than once), if it has one.
pub(crate) fn stored_principal(grant: &[u8]) -> anyhow::Result<Option<Cow<'_, [u8]>>> {
    let mut principal: Option<Cow<'_, [u8]>> = None;
    proto::for_each_length_delimited(grant, |tag, bytes| {
        if tag == 2 {
            principal = Some(match principal.take() {
                None => Cow::Borrowed(bytes),
                Some(earlier) => Cow::Owned([earlier.as_ref(), bytes].concat()),
            });
        }
    })?;
    Ok(principal)
}

/// A [`GrantStore`] over the grant rows of one sync, without indexes (see the module documentation).
/// Its rows are written, and its few reads made, by the thread that inserted the sync's rows.
pub(crate) struct RowIdStore<'c> {
    slim: bool,
    data: Vec<u8>,
    rows: &'c mut GrantRows,
    worker: &'c mut RowsWorker,
    /// The row id the next grant added gets.
    next_row: i64,
    /// The entitlement being expanded into, and the row of its last grant to each principal.
    target: Option<(String, BTreeMap<u32, u32>)>,
    /// The entitlement field of the grants [`GrantStore::create`] writes, encoded once per target.
    created_entitlement: Encoded,
    /// Their sources field, encoded once per source.
    created_sources: Encoded,
    /// The id of the grant being created.
    id: String,
    /// The row of each grant [`GrantStore::grant_of`] found, by grant id, for the `put` replacing it.
    found: BTreeMap<String, u32>,
    /// Grants read ahead for the edge being expanded, by row, each given out once (a second ask
    /// reads the row again, after the changes sent before it).
    prefetched: BTreeMap<u32, Vec<u8>>,
    /// The entitlements read (expansion changes none), by id.
    entitlements: BTreeMap<String, Option<Entitlement>>,
}

impl<'c> RowIdStore<'c> {
    /// The store over the grant rows recorded in `rows`, written through `worker`; the largest grant
    /// row id is `max_row`.
    pub(crate) fn new(
        worker: &'c mut RowsWorker,
        slim: bool,
        rows: &'c mut GrantRows,
        max_row: i64,
    ) -> RowIdStore<'c> {
        RowIdStore {
            slim,
            data: Vec::new(),
            rows,
            worker,
            next_row: max_row + 1,
            target: None,
            created_entitlement: Encoded::default(),
            created_sources: Encoded::default(),
            id: String::new(),
            found: BTreeMap::new(),
            prefetched: BTreeMap::new(),
            entitlements: BTreeMap::new(),
        }
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
        let mut by_principal = BTreeMap::new();
        if let Some(on) = self.rows.of(entitlement_id) {
            // Later rows replace earlier ones: the last grant of each principal.
            by_principal.extend(on.principals.iter().copied().zip(on.ids.iter().copied()));
        }
        self.found.clear();
        self.target = Some((entitlement_id.to_owned(), by_principal));
    }

    /// The last grant of `entitlement_id` to principal `index`.
    fn grant_to(&mut self, entitlement_id: &str, index: u32) -> anyhow::Result<Option<Grant>> {
        self.begin_target(entitlement_id);
        let row = self
            .target
            .as_ref()
            .and_then(|(_, by_principal)| by_principal.get(&index).copied());
        let Some(row) = row else {
            return Ok(None);
        };
        let grant = self.read(row, entitlement_id)?;
        if let Some(grant) = &grant {
            self.found.insert(grant.id.clone(), row);
        }
        Ok(grant)
    }

    /// Reads and decodes the grant in row `id`.
    fn read(&mut self, id: u32, entitlement_id: &str) -> anyhow::Result<Option<Grant>> {
        let data = match self.prefetched.remove(&id) {
            Some(data) => Some(data),
            None => self
                .worker
                .read_grants(vec![id])?
                .into_iter()
                .next()
                .flatten(),
        };
        data.map(|data| {
            Grant::decode(data.as_slice())
                .with_context(|| format!("decode a stored grant of {entitlement_id:?}"))
        })
        .transpose()
    }

    /// Sends a new grant row (its columns, and its stored principal) and records it: grant
    /// `grant_id` of `entitlement_id` to `principal`, or to the principal `key` names.
    fn add(
        &mut self,
        columns: [&[u8]; 7],
        stored_principal: &[u8],
        entitlement_id: &str,
        principal: &ResourceId,
        grant_id: &str,
        key: Option<(u32, u32)>,
    ) -> anyhow::Result<()> {
        let row_id = self.next_row;
        self.worker.grant(columns, Some(row_id));
        self.next_row += 1;
        let added = match key {
            Some(key) => self
                .rows
                .add_interned(entitlement_id, key, grant_id, row_id)?,
            None => self.rows.add(
                entitlement_id,
                principal,
                stored_principal,
                grant_id,
                row_id,
            )?,
        };
        if let Some((target, by_principal)) = self.target.as_mut() {
            if target == entitlement_id {
                by_principal.insert(added.principal, added.row);
            }
        }
        Ok(())
    }
}

impl GrantStore for RowIdStore<'_> {
    fn entitlement(&mut self, id: &str) -> anyhow::Result<Option<Entitlement>> {
        if let Some(entitlement) = self.entitlements.get(id) {
            return Ok(entitlement.clone());
        }
        let data = self.worker.read_entitlement(id)?;
        let entitlement = data
            .map(|data| {
                Entitlement::decode(data.as_slice())
                    .with_context(|| format!("decode the stored entitlement {id:?}"))
            })
            .transpose()?;
        self.entitlements.insert(id.to_owned(), entitlement.clone());
        Ok(entitlement)
    }

    fn grants_on(&mut self, entitlement_id: &str) -> anyhow::Result<Vec<Grant>> {
        let ids = self
            .rows
            .of(entitlement_id)
            .map(|on| on.ids.clone())
            .unwrap_or_default();
        let mut grants = Vec::with_capacity(ids.len());
        for data in self.worker.read_grants(ids)?.into_iter().flatten() {
            grants.push(
                Grant::decode(data.as_slice())
                    .with_context(|| format!("decode a stored grant of {entitlement_id:?}"))?,
            );
        }
        Ok(grants)
    }

    fn grant_of(
        &mut self,
        entitlement_id: &str,
        principal: &ResourceId,
    ) -> anyhow::Result<Option<Grant>> {
        match self.rows.principal(principal) {
            Some(index) => self.grant_to(entitlement_id, index),
            None => Ok(None),
        }
    }

    fn grant_of_holder(
        &mut self,
        entitlement_id: &str,
        holder: &Holder,
    ) -> anyhow::Result<Option<Grant>> {
        match holder.key {
            Some((principal, _)) => self.grant_to(entitlement_id, principal),
            None => self.grant_of(entitlement_id, &holder.principal_id),
        }
    }

    fn prefetch(&mut self, entitlement_id: &str, holders: &[Holder]) -> anyhow::Result<()> {
        self.begin_target(entitlement_id);
        self.prefetched.clear();
        let Some((_, by_principal)) = self.target.as_ref() else {
            return Ok(());
        };
        let mut rows: Vec<u32> = holders
            .iter()
            .filter_map(|holder| holder.key)
            .filter_map(|(principal, _)| by_principal.get(&principal).copied())
            .collect();
        rows.sort_unstable();
        rows.dedup();
        if rows.is_empty() {
            return Ok(());
        }
        let data = self.worker.read_grants(rows.clone())?;
        self.prefetched = rows
            .into_iter()
            .zip(data)
            .filter_map(|(row, data)| Some((row, data?)))
            .collect();
        Ok(())
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
            self.worker.grant_data(i64::from(id), &self.data);
            return Ok(());
        }
        let keys = grant_keys(0, &grant)?;
        let data = std::mem::take(&mut self.data);
        let encoded = stored_principal(&data)?.unwrap_or_default();
        let columns = grant_columns(&keys, &grant.id, &data);
        let added = self.add(
            columns,
            &encoded,
            keys.entitlement_id,
            keys.principal,
            &grant.id,
            None,
        );
        drop(encoded);
        self.data = data;
        added
    }

    fn holders(&mut self, entitlement_id: &str, with_sources: bool) -> anyhow::Result<Vec<Holder>> {
        let Some(on) = self.rows.of(entitlement_id) else {
            return Ok(Vec::new());
        };
        let mut holders: Vec<Holder> = on
            .principals
            .iter()
            .zip(&on.encoded)
            .map(|(principal, encoded)| Holder {
                principal_id: self.rows.principals[*principal as usize].id.clone(),
                principal: self.rows.stored(*encoded).to_vec(),
                sources: BTreeMap::new(),
                key: Some((*principal, *encoded)),
            })
            .collect();
        if with_sources {
            let ids = on.ids.clone();
            let mut sources = Vec::new();
            let stored = self.worker.read_grants(ids)?;
            for (holder, data) in holders.iter_mut().zip(stored) {
                let Some(data) = data else {
                    continue;
                };
                sources.clear();
                proto::for_each_length_delimited(&data, |tag, bytes| {
                    if tag == 5 {
                        sources.extend_from_slice(bytes);
                    }
                })
                .with_context(|| format!("read a stored grant of {entitlement_id:?}"))?;
                holder.sources = GrantSources::decode(sources.as_slice())
                    .with_context(|| {
                        format!("decode the sources of a grant of {entitlement_id:?}")
                    })?
                    .to_map();
            }
        }
        Ok(holders)
    }

    /// Writes the grant's fields as `Grant`'s encoder would (in field order), from the target and the
    /// source encoded once and the holder's principal as stored, without building the grant.
    fn create(
        &mut self,
        target: &Entitlement,
        holder: &Holder,
        source: &str,
    ) -> anyhow::Result<()> {
        let resource = target
            .resource
            .as_ref()
            .and_then(|r| r.id.as_ref())
            .with_context(|| format!("entitlement {:?} has no resource id", target.id))?;
        let principal = &holder.principal_id;
        self.created_entitlement
            .set(&target.id, || target.clone(), 1);
        self.created_sources
            .set(source, || expanded_sources(source), 5);
        let mut id = std::mem::take(&mut self.id);
        id.clear();
        id.push_str(&target.id);
        for part in [&principal.resource_type, &principal.resource] {
            id.push(':');
            id.push_str(part);
        }
        self.data.clear();
        self.data.extend_from_slice(&self.created_entitlement.bytes);
        encode_key(2, WireType::LengthDelimited, &mut self.data);
        encode_varint(holder.principal.len() as u64, &mut self.data);
        self.data.extend_from_slice(&holder.principal);
        prost::encoding::string::encode(3, &id, &mut self.data);
        self.data.extend_from_slice(&self.created_sources.bytes);
        let data = std::mem::take(&mut self.data);
        let columns = [
            resource.resource_type.as_bytes(),
            resource.resource.as_bytes(),
            target.id.as_bytes(),
            principal.resource_type.as_bytes(),
            principal.resource.as_bytes(),
            id.as_bytes(),
            &data,
        ];
        let added = self.add(
            columns,
            &holder.principal,
            &target.id,
            principal,
            &id,
            holder.key,
        );
        self.data = data;
        self.id = id;
        added
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
