//! `principals compare`: who holds an entitlement in one file (the base) but not the other's entitlement
//! (`missing`), and the reverse (`extra`), as the `baton` CLI's `principals compare` reports it. Two
//! principals are the same when they have the same type and id; else, when both are users, when they
//! share an e-mail address; else (unless only one is a user) when their display names are equal.

use super::data::{key, Data, GrantFilter, ResourceKey};
use super::view::{Console, View};
use super::views::resource_rows;
use baton_c1z::proto::{self, find_annotation, UserTrait};
use baton_c1z::protojson::Obj;
use std::collections::BTreeMap;

/// The holders of `entitlement` in `data`, each once, in the order of their first grant; each as its
/// resource in the file, else as the grant embeds it.
fn holders<'a>(data: &'a Data, entitlement: &str) -> Vec<&'a proto::Resource> {
    let by_id = data.resource_index();
    let filter = GrantFilter {
        resource_type: None,
        entitlement: Some(entitlement),
        resource: None,
    };
    let mut seen: BTreeMap<ResourceKey, ()> = BTreeMap::new();
    let mut out = Vec::new();
    for g in data.grants.iter().filter(|g| filter.matches(g)) {
        let Some(p) = g.principal.as_ref() else {
            continue;
        };
        let Some(id) = p.id.as_ref() else {
            continue;
        };
        if seen.insert(key(id), ()).is_none() {
            out.push(by_id.get(&key(id)).copied().unwrap_or(p));
        }
    }
    out
}

fn user_trait(r: &proto::Resource) -> Option<UserTrait> {
    find_annotation::<UserTrait>(&r.annotations).ok().flatten()
}

/// The `baton` CLI's `comparePrincipal`.
fn same_principal(base: &proto::Resource, other: &proto::Resource) -> bool {
    if base.id.as_ref().map(key) == other.id.as_ref().map(key) {
        return true;
    }
    match (user_trait(base), user_trait(other)) {
        (Some(a), Some(b)) => {
            if a.emails
                .iter()
                .any(|x| b.emails.iter().any(|y| x.address == y.address))
            {
                return true;
            }
        }
        (Some(_), None) | (None, Some(_)) => return false,
        (None, None) => {}
    }
    base.display_name == other.display_name
}

/// The comparison of `base_entitlement` in `base` with `compare_entitlement` in `compared`.
pub(super) fn compare(
    base: &Data,
    base_entitlement: &str,
    compared: &Data,
    compare_entitlement: &str,
    json: bool,
) -> View {
    let base_holders = holders(base, base_entitlement);
    let compared_holders = holders(compared, compare_entitlement);
    let mut matched_compared = vec![false; compared_holders.len()];
    let mut missing = Vec::new();
    for b in &base_holders {
        match compared_holders.iter().position(|c| same_principal(b, c)) {
            Some(i) => matched_compared[i] = true,
            None => missing.push(*b),
        }
    }
    let extra: Vec<&proto::Resource> = compared_holders
        .iter()
        .zip(&matched_compared)
        .filter(|(_, matched)| !**matched)
        .map(|(c, _)| *c)
        .collect();

    let (missing_table, missing_items) = resource_rows(base, missing.iter().copied(), json);
    let (extra_table, extra_items) = resource_rows(compared, extra.iter().copied(), json);
    let doc = if json {
        let (_, base_items) = resource_rows(base, base_holders.iter().copied(), true);
        let (_, compared_items) = resource_rows(compared, compared_holders.iter().copied(), true);
        Obj::new()
            .list("missing", missing_items)
            .list("extra", extra_items)
            .list("base", base_items)
            .list("compared", compared_items)
            .build()
    } else {
        Obj::new().build()
    };
    let mut text = String::new();
    if missing.is_empty() && extra.is_empty() {
        text.push_str("The principals between these entitlements appear to match!\n");
    }
    if !missing.is_empty() {
        text.push_str("\nMissing Principals\n\n");
        text.push_str(&missing_table.render());
    }
    if !extra.is_empty() {
        text.push_str("\nExtra Principals\n\n");
        text.push_str(&extra_table.render());
    }
    View {
        console: Console::Text(text),
        json: doc,
    }
}
