//! Grant expansion, as Baton's syncer does it after a sync: every grant carrying `GrantExpandable`
//! (entitlement D to principal P, listing source entitlements S of P) gives each holder X of S the
//! entitlement D. A holder without a grant on D gets a new one (`<D>:<X type>:<X id>`, sources `{S}`);
//! an existing grant gains the source instead (and first itself, `{D: direct}`, when it had no sources).
//!
//! Edges are processed sources first (topological order), so expanded grants feed later edges; a chain
//! deeper than [`MAX_DEPTH`] is cut and edges on a cycle are expanded once, each with a warning. Grants
//! are indexed by entitlement id once; nothing is scanned per edge.

use crate::c1z::SyncRecords;
use crate::logging;
use crate::proto::{
    find_annotation, Grant, GrantExpandable, GrantSource, GrantSources, Resource, ResourceId,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

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
    /// Existing grants that gained sources.
    pub updated: usize,
}

/// One `S -> D` edge, from the expandable grant at `grant`.
#[derive(Debug)]
struct Edge {
    source: String,
    target: String,
    shallow: bool,
    resource_type_ids: Vec<String>,
}

/// A grant being expanded into: an existing one (index in `records.grants`) or a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Existing(usize),
    New(usize),
}

/// A grant expansion creates.
#[derive(Debug)]
struct NewGrant {
    id: String,
    entitlement: usize,
    principal: Resource,
    sources: BTreeMap<String, GrantSource>,
}

/// Expands every `GrantExpandable` grant of `records` in place.
pub fn expand(records: &mut SyncRecords) -> ExpansionReport {
    let mut report = ExpansionReport::default();
    let entitlements: BTreeMap<&str, usize> = records
        .entitlements
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id.as_str(), i))
        .collect();
    let edges = collect_edges(
        &records.grants,
        &records.entitlements,
        &entitlements,
        &mut report,
    );
    if edges.is_empty() {
        return report;
    }
    let order = order_edges(&edges, &mut report);

    let sources: BTreeSet<&str> = edges.iter().map(|e| e.source.as_str()).collect();
    let targets: BTreeSet<&str> = edges.iter().map(|e| e.target.as_str()).collect();
    // Holders of each source entitlement, and the grants on each target entitlement by grant id.
    let mut holders: BTreeMap<&str, Vec<Slot>> = BTreeMap::new();
    let mut on_target: BTreeMap<String, Slot> = BTreeMap::new();
    for (i, g) in records.grants.iter().enumerate() {
        let Some(eid) = g.entitlement.as_ref().map(|e| e.id.as_str()) else {
            continue;
        };
        if let Some(s) = sources.get(eid) {
            holders.entry(s).or_default().push(Slot::Existing(i));
        }
        if targets.contains(eid) {
            if let Some(p) = principal_id(g) {
                on_target.insert(grant_key(eid, p), Slot::Existing(i));
            }
        }
    }

    let mut touched: BTreeMap<usize, BTreeMap<String, GrantSource>> = BTreeMap::new();
    let mut created: Vec<NewGrant> = Vec::new();
    for index in order {
        let edge = &edges[index];
        let Some(&target_index) = entitlements.get(edge.target.as_str()) else {
            continue;
        };
        report.edges += 1;
        let from: Vec<Slot> = holders
            .get(edge.source.as_str())
            .cloned()
            .unwrap_or_default();
        for slot in from {
            let (principal, direct) = match slot {
                Slot::Existing(i) => {
                    let g = &records.grants[i];
                    // Whether the source grant is direct matters only to shallow edges.
                    let direct = !edge.shallow || {
                        let is_direct = |s: &BTreeMap<String, GrantSource>| {
                            s.is_empty() || s.contains_key(&edge.source)
                        };
                        match touched.get(&i) {
                            Some(sources) => is_direct(sources),
                            None => is_direct(&stored_sources(g)),
                        }
                    };
                    (g.principal.clone().unwrap_or_default(), direct)
                }
                Slot::New(n) => {
                    let g = &created[n];
                    (g.principal.clone(), g.sources.contains_key(&edge.source))
                }
            };
            let Some(pid) = principal.id.as_ref() else {
                continue;
            };
            if !edge.resource_type_ids.is_empty()
                && !edge.resource_type_ids.contains(&pid.resource_type)
            {
                continue;
            }
            if edge.shallow && !direct {
                continue;
            }
            let key = grant_key(&edge.target, pid);
            match on_target.get(&key).copied() {
                Some(Slot::Existing(i)) => {
                    let entry = touched.entry(i).or_insert_with(|| {
                        report.updated += 1;
                        stored_sources(&records.grants[i])
                    });
                    if entry.is_empty() {
                        entry.insert(edge.target.clone(), GrantSource { is_direct: true });
                    }
                    entry
                        .entry(edge.source.clone())
                        .or_insert(GrantSource { is_direct: false });
                }
                Some(Slot::New(n)) => {
                    created[n]
                        .sources
                        .entry(edge.source.clone())
                        .or_insert(GrantSource { is_direct: false });
                }
                None => {
                    let n = created.len();
                    created.push(NewGrant {
                        id: key.clone(),
                        entitlement: target_index,
                        principal: principal.clone(),
                        sources: BTreeMap::from([(
                            edge.source.clone(),
                            GrantSource { is_direct: false },
                        )]),
                    });
                    on_target.insert(key, Slot::New(n));
                    if let Some(s) = sources.get(edge.target.as_str()) {
                        holders.entry(s).or_default().push(Slot::New(n));
                    }
                }
            }
        }
    }
    drop(holders);
    drop(on_target);
    for (i, sources) in touched {
        records.grants[i].sources = Some(GrantSources::from_map(&sources));
    }
    report.created = created.len();
    records.grants.reserve(created.len());
    for g in created {
        let entitlement = records.entitlements[g.entitlement].clone();
        records.grants.push(Grant {
            entitlement: Some(entitlement),
            principal: Some(g.principal),
            id: g.id,
            annotations: Vec::new(),
            sources: Some(GrantSources::from_map(&g.sources)),
        });
    }
    logging::debug(
        "grants expanded",
        &[
            ("edges", Value::from(report.edges)),
            ("created", Value::from(report.created)),
            ("updated", Value::from(report.updated)),
        ],
    );
    report
}

fn principal_id(g: &Grant) -> Option<&ResourceId> {
    g.principal.as_ref().and_then(|p| p.id.as_ref())
}

/// Baton's grant id, which also keys "the grant of this entitlement to this principal".
fn grant_key(entitlement_id: &str, principal: &ResourceId) -> String {
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

fn collect_edges(
    grants: &[Grant],
    entitlement_list: &[crate::proto::Entitlement],
    entitlements: &BTreeMap<&str, usize>,
    report: &mut ExpansionReport,
) -> Vec<Edge> {
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
        for source in expandable.entitlement_ids {
            if source.trim().is_empty() {
                continue;
            }
            let source_resource = entitlements
                .get(source.as_str())
                .and_then(|&i| entitlement_list[i].resource.as_ref())
                .and_then(|r| r.id.as_ref());
            let valid = entitlements.contains_key(target.as_str())
                && source_resource.is_some()
                && source_resource.map(|r| (&r.resource_type, &r.resource))
                    == principal.map(|p| (&p.resource_type, &p.resource));
            if !valid {
                report.dropped_edges += 1;
                logging::warn(
                    "an expandable grant names an entitlement that is not on its principal; not expanded",
                    &[
                        ("grant", Value::from(g.id.as_str())),
                        ("source", Value::from(source.as_str())),
                    ],
                );
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
    edges
}

/// Edge indices, sources before targets; edges deeper than [`MAX_DEPTH`] are dropped, edges on cycles
/// come last.
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
                order.push((level, i));
            } else {
                report.dropped_edges += 1;
                logging::warn(
                    "grant expansion is deeper than the limit; edge not expanded",
                    &[("entitlement", Value::from(target))],
                );
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
    let mut order: Vec<usize> = order.into_iter().map(|(_, i)| i).collect();
    for (i, was_done) in done.iter().enumerate() {
        if !was_done {
            logging::warn(
                "expandable grants form a cycle; the edge is expanded once",
                &[
                    ("source", Value::from(edges[i].source.as_str())),
                    ("target", Value::from(edges[i].target.as_str())),
                ],
            );
            order.push(i);
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{any, Entitlement};

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
        let report = expand(&mut records);
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
        expand(&mut records);
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
        let report = expand(&mut records);
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
        let report = expand(&mut records);
        assert_eq!(report.edges, MAX_DEPTH);
        assert_eq!(report.dropped_edges, 2);
        let got = summary(&records);
        assert!(got.contains_key(&format!("{}:user:u", ents[MAX_DEPTH].id)));
        assert!(!got.contains_key(&format!("{}:user:u", ents[MAX_DEPTH + 1].id)));
    }
}
