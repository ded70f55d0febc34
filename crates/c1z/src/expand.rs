//! Grant expansion, as Baton's syncer does it after a sync: every grant carrying `GrantExpandable`
//! (entitlement D to principal P, listing source entitlements S of P) gives each holder X of S the
//! entitlement D. A holder without a grant on D gets a new one (`<D>:<X type>:<X id>`, sources `{S}`);
//! an existing grant gains the source instead (and first itself, `{D: direct}`, when it had no sources).
//!
//! Edges are processed sources first (topological order), so expanded grants feed later edges; a chain
//! deeper than [`MAX_DEPTH`] is cut and edges on a cycle are expanded once, each with a warning. The
//! grants live in a [`GrantStore`]: [`RecordsStore`] indexes records in memory, the `.c1z` writer
//! queries its database. Each edge reads the holders of its source from the store when it runs.

use crate::proto::{
    find_annotation, Entitlement, Grant, GrantExpandable, GrantSource, GrantSources, Resource,
    ResourceId,
};
use crate::SyncRecords;
use anyhow::Context;
use prost::Message;
use std::collections::BTreeMap;

/// The prefix of an entitlement's Baton id, which names it across files.
pub const BID_ENTITLEMENT_PREFIX: &str = "bid:e:";

/// The longest chain of expandable grants followed.
pub const MAX_DEPTH: usize = 20;

/// What [`expand`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpansionReport {
    /// Source-to-target edges expanded.
    pub edges: usize,
    /// Edges dropped (unknown entitlement, source not on the principal, too deep).
    pub dropped_edges: usize,
    /// Grants created.
    pub created: usize,
    /// Grants written before expansion (so without sources) that gained sources.
    pub updated: usize,
}

/// The entitlements and grants of one sync, as expansion reads and changes them.
pub trait GrantStore {
    /// The entitlement with this id (the last one stored under it).
    fn entitlement(&mut self, id: &str) -> anyhow::Result<Option<Entitlement>>;
    /// Every grant of the entitlement, in the order they were stored.
    fn grants_on(&mut self, entitlement_id: &str) -> anyhow::Result<Vec<Grant>>;
    /// The holders of the entitlement (one per grant, in the order they were stored), with the
    /// sources of each grant when `with_sources`.
    fn holders(&mut self, entitlement_id: &str, with_sources: bool) -> anyhow::Result<Vec<Holder>> {
        let mut holders = Vec::new();
        for grant in self.grants_on(entitlement_id)? {
            let Some(principal) = grant.principal.as_ref() else {
                continue;
            };
            let Some(principal_id) = principal.id.clone() else {
                continue;
            };
            let sources = if with_sources {
                stored_sources(&grant)
            } else {
                BTreeMap::new()
            };
            holders.push(Holder::new(
                principal_id,
                principal.encode_to_vec(),
                sources,
            ));
        }
        Ok(holders)
    }
    /// The grant of the entitlement to the principal (the last one stored).
    fn grant_of(
        &mut self,
        entitlement_id: &str,
        principal: &ResourceId,
    ) -> anyhow::Result<Option<Grant>>;
    /// The grant of the entitlement to the holder's principal (the last one stored).
    fn grant_of_holder(
        &mut self,
        entitlement_id: &str,
        holder: &Holder,
    ) -> anyhow::Result<Option<Grant>> {
        self.grant_of(entitlement_id, &holder.principal_id)
    }
    /// Says that the grants of `entitlement_id` to these holders are about to be asked for, one after
    /// another (a store may read them at once).
    fn prefetch(&mut self, _entitlement_id: &str, _holders: &[Holder]) -> anyhow::Result<()> {
        Ok(())
    }
    /// Stores the grant, replacing the one with the same id in place, or adding it after the others.
    fn put(&mut self, grant: Grant) -> anyhow::Result<()>;
    /// Adds the grant expansion creates for `holder`, who has no grant on `target` (as
    /// [`Self::embedded`] gives it) and holds it through `source`.
    fn create(
        &mut self,
        target: &Entitlement,
        holder: &Holder,
        source: &str,
    ) -> anyhow::Result<()> {
        let principal = Resource::decode(holder.principal.as_slice())
            .context("decode the principal of a grant to expand")?;
        self.put(Grant {
            entitlement: Some(target.clone()),
            principal: Some(principal),
            id: grant_key(&target.id, &holder.principal_id),
            annotations: Vec::new(),
            sources: Some(expanded_sources(source)),
        })
    }
    /// The entitlement as the grants expansion creates embed it (by default whole; a store that keeps
    /// slim grant records gives the slim form once, instead of slimming every grant's copy).
    fn embedded(&self, entitlement: Entitlement) -> Entitlement {
        entitlement
    }
}

/// Who holds an entitlement, as an edge from it reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    /// The principal's id.
    pub principal_id: ResourceId,
    /// The principal as its grant stores it (protobuf-encoded `Resource`), copied into the grants the
    /// holder gets.
    pub principal: Vec<u8>,
    /// The sources its grant lists (empty when not asked for).
    pub sources: BTreeMap<String, GrantSource>,
    /// How the store that read the holder finds its principal again, if it keeps one.
    pub(crate) key: Option<(u32, u32)>,
}

impl Holder {
    /// A holder as a store outside this crate gives it.
    pub fn new(
        principal_id: ResourceId,
        principal: Vec<u8>,
        sources: BTreeMap<String, GrantSource>,
    ) -> Holder {
        Holder {
            principal_id,
            principal,
            sources,
            key: None,
        }
    }
}

/// The sources of a grant created by expanding `source`.
pub(crate) fn expanded_sources(source: &str) -> GrantSources {
    GrantSources::from_map(&BTreeMap::from([(
        source.to_owned(),
        GrantSource { is_direct: false },
    )]))
}

/// Whether the grant carries a `GrantExpandable` annotation.
pub fn is_expandable(grant: &Grant) -> bool {
    !grant.annotations.is_empty()
        && matches!(
            find_annotation::<GrantExpandable>(&grant.annotations),
            Ok(Some(_))
        )
}

/// One `S -> D` edge.
#[derive(Debug)]
struct Edge {
    source: String,
    target: String,
    shallow: bool,
    resource_type_ids: Vec<String>,
}

/// Expands the edges of the `expandable` grants (those carrying `GrantExpandable`, in the order they
/// were produced) into `store`.
pub fn expand(store: &mut dyn GrantStore, expandable: &[Grant]) -> anyhow::Result<ExpansionReport> {
    expand_observed(store, expandable, &mut |_, _| {})
}

/// [`expand`] that calls `on_edge(done, total)` before each edge it follows and once at the end.
pub fn expand_observed(
    store: &mut dyn GrantStore,
    expandable: &[Grant],
    on_edge: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<ExpansionReport> {
    let mut report = ExpansionReport::default();
    let edges = collect_edges(store, expandable, &mut report)?;
    if edges.is_empty() {
        return Ok(report);
    }
    let order = order_edges(&edges, &mut report);
    let total = order.len() as u64;
    // Counted, not collected: a grant is created once (the next edge finds it), and a grant from
    // before expansion has no sources until its first update adds them, so memory stays flat.
    let mut created = 0;
    let mut updated = 0;
    for (done, index) in order.into_iter().enumerate() {
        on_edge(done as u64, total);
        let edge = &edges[index];
        let Some(target) = store.entitlement(&edge.target)? else {
            continue;
        };
        let target = store.embedded(target);
        report.edges += 1;
        let holders = store.holders(&edge.source, edge.shallow)?;
        store.prefetch(&edge.target, &holders)?;
        for holder in holders {
            let pid = &holder.principal_id;
            if !edge.resource_type_ids.is_empty()
                && !edge.resource_type_ids.contains(&pid.resource_type)
            {
                continue;
            }
            if edge.shallow {
                // A grant on an entitlement that is its own source changes while the edge runs.
                let current = if edge.source == edge.target {
                    store
                        .grant_of(&edge.source, pid)?
                        .map(|g| stored_sources(&g))
                } else {
                    None
                };
                let sources = current.as_ref().unwrap_or(&holder.sources);
                if !sources.is_empty() && !sources.contains_key(&edge.source) {
                    continue;
                }
            }
            match store.grant_of_holder(&edge.target, &holder)? {
                Some(mut existing) => {
                    let mut sources = stored_sources(&existing);
                    if sources.is_empty() {
                        updated += 1;
                        sources.insert(edge.target.clone(), GrantSource { is_direct: true });
                    }
                    sources
                        .entry(edge.source.clone())
                        .or_insert(GrantSource { is_direct: false });
                    let sources = Some(GrantSources::from_map(&sources));
                    if existing.sources != sources {
                        existing.sources = sources;
                        store.put(existing)?;
                    }
                }
                None => {
                    created += 1;
                    store.create(&target, &holder, &edge.source)?;
                }
            }
        }
    }
    on_edge(total, total);
    report.created = created;
    report.updated = updated;
    log::debug!(edges = report.edges, created = report.created, updated = report.updated; "grants expanded");
    Ok(report)
}

/// Expands every `GrantExpandable` grant of `records` in place, through a [`RecordsStore`].
pub fn expand_records(records: &mut SyncRecords) -> anyhow::Result<ExpansionReport> {
    let expandable: Vec<Grant> = records
        .grants
        .iter()
        .filter(|g| is_expandable(g))
        .cloned()
        .collect();
    expand(&mut RecordsStore::new(records), &expandable)
}

/// A [`GrantStore`] over records in memory: new grants are appended, updated ones replaced in place.
/// Indexed once by entitlement id, by entitlement and principal, and by grant id.
pub struct RecordsStore<'a> {
    records: &'a mut SyncRecords,
    entitlements: BTreeMap<String, usize>,
    by_entitlement: BTreeMap<String, Vec<usize>>,
    by_principal: BTreeMap<(String, String, String), usize>,
    by_id: BTreeMap<String, usize>,
}

impl<'a> RecordsStore<'a> {
    /// Indexes `records`.
    pub fn new(records: &'a mut SyncRecords) -> Self {
        let entitlements = records
            .entitlements
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.clone(), i))
            .collect();
        let mut store = RecordsStore {
            records,
            entitlements,
            by_entitlement: BTreeMap::new(),
            by_principal: BTreeMap::new(),
            by_id: BTreeMap::new(),
        };
        for i in 0..store.records.grants.len() {
            store.index(i);
        }
        store
    }

    fn index(&mut self, i: usize) {
        let g = &self.records.grants[i];
        self.by_id.insert(g.id.clone(), i);
        let Some(eid) = g.entitlement.as_ref().map(|e| e.id.clone()) else {
            return;
        };
        if let Some(p) = principal_id(g) {
            self.by_principal.insert(
                (eid.clone(), p.resource_type.clone(), p.resource.clone()),
                i,
            );
        }
        let on = self.by_entitlement.entry(eid).or_default();
        if let Err(at) = on.binary_search(&i) {
            on.insert(at, i);
        }
    }

    fn unindex(&mut self, i: usize) {
        let g = &self.records.grants[i];
        let Some(eid) = g.entitlement.as_ref().map(|e| e.id.clone()) else {
            return;
        };
        if let Some(p) = principal_id(g) {
            let key = (eid.clone(), p.resource_type.clone(), p.resource.clone());
            if self.by_principal.get(&key) == Some(&i) {
                self.by_principal.remove(&key);
            }
        }
        if let Some(on) = self.by_entitlement.get_mut(&eid) {
            on.retain(|&j| j != i);
        }
    }
}

impl GrantStore for RecordsStore<'_> {
    fn entitlement(&mut self, id: &str) -> anyhow::Result<Option<Entitlement>> {
        Ok(self
            .entitlements
            .get(id)
            .map(|&i| self.records.entitlements[i].clone()))
    }

    fn grants_on(&mut self, entitlement_id: &str) -> anyhow::Result<Vec<Grant>> {
        Ok(self
            .by_entitlement
            .get(entitlement_id)
            .into_iter()
            .flatten()
            .map(|&i| self.records.grants[i].clone())
            .collect())
    }

    fn grant_of(
        &mut self,
        entitlement_id: &str,
        principal: &ResourceId,
    ) -> anyhow::Result<Option<Grant>> {
        let key = (
            entitlement_id.to_owned(),
            principal.resource_type.clone(),
            principal.resource.clone(),
        );
        Ok(self
            .by_principal
            .get(&key)
            .map(|&i| self.records.grants[i].clone()))
    }

    fn put(&mut self, grant: Grant) -> anyhow::Result<()> {
        match self.by_id.get(&grant.id).copied() {
            Some(i) => {
                self.unindex(i);
                self.records.grants[i] = grant;
                self.index(i);
            }
            None => {
                self.records.grants.push(grant);
                self.index(self.records.grants.len() - 1);
            }
        }
        Ok(())
    }
}

fn principal_id(g: &Grant) -> Option<&ResourceId> {
    g.principal.as_ref().and_then(|p| p.id.as_ref())
}

/// Baton's grant id, which also keys "the grant of this entitlement to this principal".
pub(crate) fn grant_key(entitlement_id: &str, principal: &ResourceId) -> String {
    format!(
        "{entitlement_id}:{}:{}",
        principal.resource_type, principal.resource
    )
}

fn stored_sources(g: &Grant) -> BTreeMap<String, GrantSource> {
    g.sources
        .iter()
        .flat_map(|s| s.sources.iter())
        .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
        .collect()
}

/// The edges of the expandable grants, each checked: the target entitlement exists and the source is
/// an entitlement of the grant's principal.
fn collect_edges(
    store: &mut dyn GrantStore,
    grants: &[Grant],
    report: &mut ExpansionReport,
) -> anyhow::Result<Vec<Edge>> {
    let mut edges = Vec::new();
    for g in grants {
        if g.annotations.is_empty() {
            continue;
        }
        let Ok(Some(expandable)) = find_annotation::<GrantExpandable>(&g.annotations) else {
            continue;
        };
        let Some(target) = g.entitlement.as_ref().map(|e| e.id.clone()) else {
            continue;
        };
        let principal = principal_id(g);
        let target_known = store.entitlement(&target)?.is_some();
        for source in expandable.entitlement_ids {
            if source.trim().is_empty() {
                continue;
            }
            // A Baton id (`bid:e:…`) names an entitlement of another connector's file (an external
            // group's `member`), resolved when the platform matches the grant's external principal;
            // there is nothing to expand in this file, as for Baton's own expander.
            if source.starts_with(BID_ENTITLEMENT_PREFIX) {
                continue;
            }
            let source_resource = store
                .entitlement(&source)?
                .and_then(|e| e.resource)
                .and_then(|r| r.id);
            let valid = target_known
                && source_resource.is_some()
                && source_resource
                    .as_ref()
                    .map(|r| (&r.resource_type, &r.resource))
                    == principal.map(|p| (&p.resource_type, &p.resource));
            if !valid {
                report.dropped_edges += 1;
                log::warn!(grant = g.id.as_str(), source = source.as_str(); "an expandable grant names an entitlement that is not on its principal; not expanded");
                continue;
            }
            edges.push(Edge {
                source,
                target: target.clone(),
                shallow: expandable.shallow,
                resource_type_ids: expandable.resource_type_ids.clone(),
            });
        }
    }
    Ok(edges)
}

/// Edge indices, sources before targets; edges deeper than [`MAX_DEPTH`] are dropped, edges on cycles
/// come last. Edges whose sources are at the same depth are independent (none of them writes a grant
/// another one reads), so among them the edges into one target come one after another, which lets a
/// store look that target's grants up from one map.
fn order_edges(edges: &[Edge], report: &mut ExpansionReport) -> Vec<usize> {
    let mut incoming: BTreeMap<&str, usize> = BTreeMap::new();
    let mut outgoing: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in edges.iter().enumerate() {
        *incoming.entry(e.target.as_str()).or_default() += 1;
        incoming.entry(e.source.as_str()).or_default();
        outgoing.entry(e.source.as_str()).or_default().push(i);
    }
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ready: Vec<&str> = incoming
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(k, _)| *k)
        .collect();
    let mut order = Vec::with_capacity(edges.len());
    let mut done = vec![false; edges.len()];
    while let Some(node) = ready.pop() {
        let level = depth.get(node).copied().unwrap_or(0);
        for &i in outgoing.get(node).map(Vec::as_slice).unwrap_or(&[]) {
            done[i] = true;
            let target = edges[i].target.as_str();
            if level < MAX_DEPTH {
                order.push((level, target, i));
            } else {
                report.dropped_edges += 1;
                log::warn!(entitlement = target; "grant expansion is deeper than the limit; edge not expanded");
            }
            let d = depth.entry(target).or_insert(0);
            *d = (*d).max(level + 1);
            if let Some(n) = incoming.get_mut(target) {
                *n -= 1;
                if *n == 0 {
                    ready.push(target);
                }
            }
        }
    }
    order.sort();
    let mut order: Vec<usize> = order.into_iter().map(|(_, _, i)| i).collect();
    for (i, was_done) in done.iter().enumerate() {
        if !was_done {
            log::warn!(source = edges[i].source.as_str(), target = edges[i].target.as_str(); "expandable grants form a cycle; the edge is expanded once");
            order.push(i);
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{any, Resource};

    fn resource(kind: &str, id: &str) -> Resource {
        Resource {
            id: Some(ResourceId::new(kind, id)),
            ..Resource::default()
        }
    }

    fn entitlement(kind: &str, id: &str, slug: &str) -> Entitlement {
        Entitlement {
            resource: Some(resource(kind, id)),
            id: format!("{kind}:{id}:{slug}"),
            slug: slug.to_owned(),
            ..Entitlement::default()
        }
    }

    fn grant(e: &Entitlement, kind: &str, id: &str) -> Grant {
        Grant {
            entitlement: Some(Entitlement {
                id: e.id.clone(),
                resource: e.resource.clone(),
                ..Entitlement::default()
            }),
            principal: Some(resource(kind, id)),
            id: format!("{}:{kind}:{id}", e.id),
            annotations: Vec::new(),
            sources: None,
        }
    }

    fn expandable(mut g: Grant, sources: &[&str], shallow: bool, types: &[&str]) -> Grant {
        g.annotations.push(any(&GrantExpandable {
            entitlement_ids: sources.iter().map(|s| (*s).to_owned()).collect(),
            shallow,
            resource_type_ids: types.iter().map(|s| (*s).to_owned()).collect(),
        }));
        g
    }

    fn summary(records: &SyncRecords) -> BTreeMap<String, Vec<(String, bool)>> {
        records
            .grants
            .iter()
            .map(|g| {
                let sources = g
                    .sources
                    .iter()
                    .flat_map(|s| s.sources.iter())
                    .map(|e| (e.key.clone(), e.value.as_ref().is_some_and(|v| v.is_direct)))
                    .collect();
                (g.id.clone(), sources)
            })
            .collect()
    }

    fn s(pairs: &[(&str, bool)]) -> Vec<(String, bool)> {
        pairs.iter().map(|(k, d)| ((*k).to_owned(), *d)).collect()
    }

    /// Group g1 member -> role r member, through a chain group g2 member -> group g1 member.
    #[test]
    fn chains_expand_sources_first_and_merge_into_existing_grants() {
        let role = entitlement("role", "r", "member");
        let g1 = entitlement("group", "g1", "member");
        let g2 = entitlement("group", "g2", "member");
        let mut records = SyncRecords {
            entitlements: vec![role.clone(), g1.clone(), g2.clone()],
            grants: vec![
                // Listed before the edge it depends on, to check the ordering.
                expandable(
                    grant(&role, "group", "g1"),
                    &["group:g1:member"],
                    false,
                    &[],
                ),
                expandable(grant(&g1, "group", "g2"), &["group:g2:member"], false, &[]),
                grant(&g1, "user", "a"),
                grant(&g2, "user", "b"),
                grant(&role, "user", "a"),
            ],
            ..SyncRecords::default()
        };
        let report = expand_records(&mut records).unwrap();
        // Created: b on g1, b on r, and g2 (a holder of g1 through its own grant) on r.
        assert_eq!((report.edges, report.created, report.updated), (2, 3, 1));
        let got = summary(&records);
        assert_eq!(
            got["role:r:member:group:g2"],
            s(&[("group:g1:member", false)])
        );
        assert_eq!(
            got["role:r:member:user:a"],
            s(&[("group:g1:member", false), ("role:r:member", true)])
        );
        assert_eq!(
            got["group:g1:member:user:b"],
            s(&[("group:g2:member", false)])
        );
        assert_eq!(
            got["role:r:member:user:b"],
            s(&[("group:g1:member", false)])
        );
        assert_eq!(got["group:g1:member:user:a"], s(&[]));
        let created = records
            .grants
            .iter()
            .find(|g| g.id == "role:r:member:user:b")
            .expect("created");
        assert_eq!(
            created.entitlement.as_ref(),
            Some(&role),
            "the full entitlement"
        );
    }

    #[test]
    fn shallow_and_type_filters_limit_the_holders() {
        let role = entitlement("role", "r", "member");
        let g1 = entitlement("group", "g1", "member");
        let g2 = entitlement("group", "g2", "member");
        let mut records = SyncRecords {
            entitlements: vec![role.clone(), g1.clone(), g2.clone()],
            grants: vec![
                expandable(grant(&g1, "group", "g2"), &["group:g2:member"], false, &[]),
                expandable(
                    grant(&role, "group", "g1"),
                    &["group:g1:member"],
                    true,
                    &["user"],
                ),
                grant(&g1, "user", "a"),
                grant(&g1, "service", "s"),
                grant(&g2, "user", "b"),
            ],
            ..SyncRecords::default()
        };
        expand_records(&mut records).unwrap();
        let got = summary(&records);
        assert!(got.contains_key("role:r:member:user:a"));
        assert!(!got.contains_key("role:r:member:service:s"), "type filter");
        assert!(got.contains_key("group:g1:member:user:b"));
        assert!(
            !got.contains_key("role:r:member:user:b"),
            "shallow: b holds g1 only indirectly"
        );
    }

    #[test]
    fn cycles_and_bad_edges_are_bounded() {
        let a = entitlement("group", "a", "member");
        let b = entitlement("group", "b", "member");
        let mut records = SyncRecords {
            entitlements: vec![a.clone(), b.clone()],
            grants: vec![
                expandable(grant(&a, "group", "b"), &["group:b:member"], false, &[]),
                expandable(grant(&b, "group", "a"), &["group:a:member"], false, &[]),
                // Source not on the principal, and an unknown source: dropped.
                expandable(
                    grant(&a, "group", "x"),
                    &["group:b:member", "group:zz:member"],
                    false,
                    &[],
                ),
                grant(&a, "user", "u"),
            ],
            ..SyncRecords::default()
        };
        let report = expand_records(&mut records).unwrap();
        assert_eq!(report.dropped_edges, 2);
        assert_eq!(report.edges, 2);
        let got = summary(&records);
        assert!(got.contains_key("group:b:member:user:u"));
    }

    #[test]
    fn chains_deeper_than_the_limit_are_cut() {
        let ents: Vec<Entitlement> = (0..=MAX_DEPTH + 2)
            .map(|i| entitlement("group", &format!("g{i:02}"), "member"))
            .collect();
        let mut grants = vec![grant(&ents[0], "user", "u")];
        for i in 1..ents.len() {
            grants.push(expandable(
                grant(&ents[i], "group", &format!("g{:02}", i - 1)),
                &[&ents[i - 1].id],
                false,
                &[],
            ));
        }
        let mut records = SyncRecords {
            entitlements: ents.clone(),
            grants,
            ..SyncRecords::default()
        };
        let report = expand_records(&mut records).unwrap();
        assert_eq!(report.edges, MAX_DEPTH);
        assert_eq!(report.dropped_edges, 2);
        let got = summary(&records);
        assert!(got.contains_key(&format!("{}:user:u", ents[MAX_DEPTH].id)));
        assert!(!got.contains_key(&format!("{}:user:u", ents[MAX_DEPTH + 1].id)));
    }
}
