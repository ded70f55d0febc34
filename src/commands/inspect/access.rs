//! `principals` (the holders of the selected grants, each once) and `access` (the effective access of one
//! principal, walked from the file's expanded grants and grouped by resource).

use super::data::{for_each_grant, key, name_or, Data, GrantFilter, ResourceKey, Resources};
use super::view::{Console, View};
use super::views::resource_list;
use anyhow::bail;
use baton_c1z::proto;
use baton_c1z::protojson::{self, Obj};
use baton_c1z::reader::C1zFile;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The principals of the grants `filter` selects, each once: in the order of the file's resources, then
/// (for a principal that is not among them) as the grant embeds it, by type and id. The grants are
/// streamed from the file; only the principals found are kept.
pub(super) fn principals(
    file: &C1zFile,
    sync_id: Option<&str>,
    data: &Data,
    filter: &GrantFilter<'_>,
    json: bool,
) -> anyhow::Result<View> {
    let mut holders: BTreeMap<ResourceKey, proto::Resource> = BTreeMap::new();
    for_each_grant(file, sync_id, filter, None, |g| {
        if let Some(p) = g.principal {
            if let Some(id) = p.id.as_ref() {
                holders.entry(key(id)).or_insert(p);
            }
        }
        Ok(())
    })?;
    let mut ordered = Vec::with_capacity(holders.len());
    for r in &data.resources {
        if let Some(id) = r.id.as_ref() {
            if holders.remove(&key(id)).is_some() {
                ordered.push(r);
            }
        }
    }
    ordered.extend(holders.values());
    Ok(resource_list(data, ordered.into_iter(), json))
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
