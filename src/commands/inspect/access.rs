//! `principals` (the holders of the selected grants, each once) and `access` (the effective access of one
//! principal, walked from the file's expanded grants and grouped by resource).

use super::data::{first_grant, key, name_or, Data, GrantFilter, ResourceKey, Resources};
use super::view::{Console, View};
use super::views::{resource_row, write_rows, RESOURCE_COLUMNS};
use anyhow::{bail, Context};
use baton_c1z::proto;
use baton_c1z::protojson::{self, Json, Obj};
use baton_c1z::reader::{C1zFile, RowFilter, Table as DbTable};
use prost::Message;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::rc::Rc;

/// `principals`: the principals of the grants `filter` selects, each once: in the order of the file's
/// resources (the first row of each), then (for a principal that is not among them) as its first grant
/// embeds it, by type and id. Written as they are found, the console table in two passes (widths, then
/// rows) and JSON as the `{"resources":[…]}` document an item at a time, so nothing grows with the file:
/// the resources are walked by row id, each asked of the principal index whether it holds a selected
/// grant; then SQLite lists the distinct principals of the selected grants (of every sync, from the
/// principal indexes alone) by type and id, and those without a resource are shown from their first
/// grant in the sync, if they have one. With no sync (every row), a resource stored in
/// several syncs is listed at its first row, which takes a set of the principals listed so far.
pub(super) fn write_principals(
    file: &C1zFile,
    sync_id: Option<&str>,
    data: &Data,
    filter: &GrantFilter<'_>,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let types = data.type_index();
    let lookup = Resources::new(file, sync_id);
    let parent_of = |r: &proto::Resource| -> anyhow::Result<Option<Rc<proto::Resource>>> {
        r.parent_resource_id
            .as_ref()
            .map(|pid| lookup.get(pid))
            .transpose()
            .map(Option::flatten)
    };
    let each = |visit: &mut dyn FnMut(Vec<String>, Option<Json>) -> anyhow::Result<()>| {
        let mut listed: Option<BTreeSet<ResourceKey>> = sync_id.is_none().then(BTreeSet::new);
        let mut n = 0usize;
        file.for_each_blob(
            DbTable::Resources,
            sync_id,
            &RowFilter::default(),
            |bytes| {
                n += 1;
                let r = proto::Resource::decode(bytes)
                    .with_context(|| format!("v1_resources: row {n} does not decode"))?;
                let Some(id) = r.id.as_ref() else {
                    return Ok(());
                };
                let holder = (id.resource_type.as_str(), id.resource.as_str());
                if first_grant(file, sync_id, filter, holder)?.is_none() {
                    return Ok(());
                }
                if let Some(listed) = listed.as_mut() {
                    if !listed.insert(key(id)) {
                        return Ok(());
                    }
                }
                let parent = parent_of(&r)?;
                let (cells, item) = resource_row(&types, &r, parent.as_deref(), json);
                visit(cells, item)
            },
        )?;
        // The principals of every sync's selected grants, which their indexes list without reading the
        // grants: each is checked against the sync by its first grant.
        file.for_each_grant_principal(None, &filter.rows(None), |type_id, id| {
            let rid = proto::ResourceId::new(type_id, id);
            if lookup.get(&rid)?.is_some() {
                // Listed with the resources, if it holds a selected grant.
                return Ok(());
            }
            let Some(p) =
                first_grant(file, sync_id, filter, (type_id, id))?.and_then(|g| g.principal)
            else {
                return Ok(());
            };
            let parent = parent_of(&p)?;
            let (cells, item) = resource_row(&types, &p, parent.as_deref(), json);
            visit(cells, item)
        })
    };
    write_rows("resources", &RESOURCE_COLUMNS, each, json, out)
}

/// One entitlement a principal holds: the entitlement, the grant and where it comes from.
struct Held<'a> {
    entitlement: Option<&'a proto::Entitlement>,
    entitlement_id: &'a str,
    grant: &'a proto::Grant,
}

/// The grants of one resource a principal holds entitlements on.
struct OnResource<'a> {
    resource: Option<Rc<proto::Resource>>,
    resource_id: &'a proto::ResourceId,
    held: Vec<Held<'a>>,
}

/// `access`: every grant whose principal is `type_id:resource_id` (the file holds expanded grants, so
/// access through groups, role mappings and roles is among them), grouped by the resource of the
/// entitlement: resources in the order of the file's resources (others after them, by type and id),
/// entitlements in the order of the grants.
pub(super) fn access(
    data: &Data,
    resources: &Resources<'_>,
    type_id: &str,
    resource_id: &str,
    json: bool,
) -> anyhow::Result<View> {
    let types = data.type_index();
    let wanted = (type_id.to_owned(), resource_id.to_owned());
    let entitlements: BTreeMap<&str, &proto::Entitlement> = data
        .entitlements
        .iter()
        .map(|e| (e.id.as_str(), e))
        .collect();
    let mut embedded_principal = None;
    let mut groups: BTreeMap<ResourceKey, OnResource<'_>> = BTreeMap::new();
    let mut found = Vec::new();
    for g in &data.grants {
        let Some(p) = g.principal.as_ref() else {
            continue;
        };
        if p.id.as_ref().map(key).as_ref() != Some(&wanted) {
            continue;
        }
        embedded_principal.get_or_insert(p);
        let embedded = g.entitlement.as_ref();
        let entitlement_id = embedded.map_or("", |e| e.id.as_str());
        let entitlement = entitlements.get(entitlement_id).copied().or(embedded);
        let on = embedded.and_then(|e| e.resource.as_ref());
        let Some(rid) = on.and_then(|r| r.id.as_ref()) else {
            bail!(
                "grant {} names no resource for its entitlement {entitlement_id}",
                g.id
            );
        };
        let group = match groups.entry(key(rid)) {
            Entry::Occupied(group) => group.into_mut(),
            Entry::Vacant(slot) => {
                let resource = match resources.get(rid)? {
                    Some(stored) => Some(stored),
                    None => on.map(|r| Rc::new(r.clone())),
                };
                found.push((resources.first_row(rid)?, key(rid)));
                slot.insert(OnResource {
                    resource,
                    resource_id: rid,
                    held: Vec::new(),
                })
            }
        };
        group.held.push(Held {
            entitlement,
            entitlement_id,
            grant: g,
        });
    }
    let stored_principal = resources.get(&proto::ResourceId::new(type_id, resource_id))?;
    let Some(principal) = stored_principal.as_deref().or(embedded_principal) else {
        bail!(
            "principal {type_id}:{resource_id} is not in the file (see `inspect resources -t {type_id}`)"
        );
    };
    // In the order of the file's resources (the first row of each), then the others by type and id.
    found.retain(|(row, _)| row.is_some());
    found.sort();
    let mut ordered = Vec::with_capacity(groups.len());
    for (_, k) in found {
        if let Some(group) = groups.remove(&k) {
            ordered.push(group);
        }
    }
    ordered.extend(groups.into_values());

    let type_name = |id: &'_ str| -> String {
        types
            .get(id)
            .map_or(id, |t| name_or(&t.display_name, id))
            .to_owned()
    };
    // A source by its display name, which also names the resource it is on (unless the name does), so
    // that `member` of one group can be told from `member` of another, and `Admin` of one deployment
    // from `Admin` of another.
    let entitlement_name = |id: &str| -> anyhow::Result<String> {
        let Some(e) = entitlements.get(id) else {
            return Ok(id.to_owned());
        };
        let rid = e.resource.as_ref().and_then(|r| r.id.as_ref());
        let stored = rid.map(|rid| resources.get(rid)).transpose()?.flatten();
        let on = stored
            .as_deref()
            .or(e.resource.as_ref())
            .map(|r| name_or(&r.display_name, rid.map_or("", |rid| rid.resource.as_str())));
        let name = name_or(&e.display_name, id);
        Ok(match on {
            // A name that does not say what it is on (`Admin`) says it: `Admin on prod-logs
            // (Deployment)`.
            Some(on) if !on.is_empty() && !name.contains(on) => format!(
                "{name} on {on} ({})",
                type_name(rid.map_or("", |rid| rid.resource_type.as_str()))
            ),
            _ => name.to_owned(),
        })
    };
    // A resource under another says which (`superuser on prod-logs`), unless its name does.
    let resource_name = |resource: Option<&proto::Resource>, rid: &proto::ResourceId| {
        let name = resource.map_or(rid.resource.as_str(), |r| {
            name_or(&r.display_name, &rid.resource)
        });
        let parent = resource
            .and_then(|r| r.parent_resource_id.as_ref())
            .map(|parent| resources.get(parent))
            .transpose()?
            .flatten();
        anyhow::Ok(match parent.as_deref().map(|p| p.display_name.as_str()) {
            Some(parent) if !parent.is_empty() && !name.contains(parent) => {
                format!("{name} on {parent}")
            }
            _ => name.to_owned(),
        })
    };
    let mut text = format!(
        "Effective Access for {} ({})\n",
        name_or(&principal.display_name, resource_id),
        type_name(type_id)
    );
    let mut items = Vec::new();
    for (i, group) in ordered.iter().enumerate() {
        let last_group = i + 1 == ordered.len();
        let (branch, indent) = if last_group {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let rid = group.resource_id;
        text.push_str(&format!(
            "{branch}{} ({})\n",
            resource_name(group.resource.as_deref(), rid)?,
            type_name(&rid.resource_type)
        ));
        let mut held_items = Vec::new();
        for (j, held) in group.held.iter().enumerate() {
            let leaf = if j + 1 == group.held.len() {
                "└── "
            } else {
                "├── "
            };
            let slug = held.entitlement.map_or(held.entitlement_id, |e| {
                name_or(&e.slug, held.entitlement_id)
            });
            text.push_str(&format!(
                "{indent}{leaf}{slug}{}\n",
                via(held, &entitlement_name)?
            ));
            if json {
                held_items.push(
                    Obj::new()
                        .msg("entitlement", held.entitlement.map(protojson::entitlement))
                        .str("grantId", &held.grant.id)
                        .msg(
                            "sources",
                            held.grant.sources.as_ref().map(protojson::grant_sources),
                        )
                        .build(),
                );
            }
        }
        if json {
            items.push(
                Obj::new()
                    .msg(
                        "resource",
                        group.resource.as_deref().map(protojson::resource),
                    )
                    .msg(
                        "resourceType",
                        types
                            .get(rid.resource_type.as_str())
                            .map(|t| protojson::resource_type(t)),
                    )
                    .list("entitlements", held_items)
                    .build(),
            );
        }
    }
    Ok(View {
        console: Console::Text(text),
        json: Obj::new()
            .field("principal", protojson::resource(principal))
            .msg(
                "principalType",
                types.get(type_id).map(|t| protojson::resource_type(t)),
            )
            .list("resources", items)
            .build(),
    })
}

/// What a grant comes through, for the console: ` via <source entitlements>` by display name, sorted by
/// id, and ` (also direct)` when the grant's own entitlement is among its sources as well; empty for a
/// grant without sources (a direct one).
fn via(
    held: &Held<'_>,
    entitlement_name: &dyn Fn(&str) -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    let Some(sources) = held.grant.sources.as_ref() else {
        return Ok(String::new());
    };
    let mut direct = false;
    let mut through = Vec::new();
    for id in sources.to_map().into_keys() {
        if id == held.entitlement_id {
            direct = true;
        } else {
            through.push(entitlement_name(&id)?);
        }
    }
    Ok(match (through.is_empty(), direct) {
        (true, _) => String::new(),
        (false, false) => format!(" via {}", through.join(", ")),
        (false, true) => format!(" via {} (also direct)", through.join(", ")),
    })
}
