//! `principals compare`: who holds an entitlement in one file (the base) but not the other's entitlement
//! (`missing`), and the reverse (`extra`), as the `baton` CLI's `principals compare` reports it. Two
//! principals are the same when they have the same type and id; else, when both are users, when they
//! share an e-mail address; else (unless only one is a user) when their display names are equal.
//!
//! Neither file is loaded: the grants of each entitlement are streamed through its index, and of each
//! holder only what the comparison reads is kept (its type and id, whether it is a user, its e-mail
//! addresses and display name), in the order of its first grant. Each base holder's first match among the
//! compared holders is found through indexes of those fields rather than by trying every pair, and the
//! rows are rendered as they are written, their resources looked up by id again.

use super::data::{for_each_grant, key, Data, GrantFilter, ResourceKey, Resources};
use super::views::{resource_row, JsonLists, RESOURCE_COLUMNS};
use crate::output::Widths;
use anyhow::Context;
use baton_c1z::proto::{self, find_annotation, UserTrait};
use baton_c1z::protojson::Json;
use baton_c1z::reader::C1zFile;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// What the comparison keeps of one holder: its id and what [`Index::first_match`] compares.
struct Holder {
    key: ResourceKey,
    /// Whether it has the user trait.
    user: bool,
    /// The addresses of its e-mails (a user's).
    emails: Vec<String>,
    display_name: String,
    /// The principal as its first grant embeds it, when the file has no resource of that id.
    embedded: Option<proto::Resource>,
}

/// One side of the comparison: a file's sync and the holders of its entitlement, each once, in the order
/// of their first grant.
pub(super) struct Side<'f> {
    data: Data,
    lookup: Resources<'f>,
    holders: Vec<Holder>,
}

fn user_trait(r: &proto::Resource) -> Option<UserTrait> {
    find_annotation::<UserTrait>(&r.annotations).ok().flatten()
}

impl<'f> Side<'f> {
    /// The holders of `entitlement` in one sync of `file` (of every sync with `None`), each as its
    /// resource in the file, else as its first grant embeds it.
    pub(super) fn load(
        file: &'f C1zFile,
        sync_id: Option<&str>,
        entitlement: &str,
    ) -> anyhow::Result<Side<'f>> {
        let data = Data::load_types(file, sync_id)?;
        let lookup = Resources::new(file, sync_id);
        let filter = GrantFilter {
            resource_type: None,
            entitlement: Some(entitlement),
            resource: None,
        };
        let mut seen: BTreeSet<ResourceKey> = BTreeSet::new();
        let mut holders = Vec::new();
        for_each_grant(file, sync_id, &filter, None, |g| {
            let Some(p) = g.principal else {
                return Ok(());
            };
            let Some(id) = p.id.as_ref() else {
                return Ok(());
            };
            if !seen.insert(key(id)) {
                return Ok(());
            }
            let stored = lookup.get(id)?;
            let resource = stored.as_deref().unwrap_or(&p);
            let user = user_trait(resource);
            holders.push(Holder {
                key: key(id),
                user: user.is_some(),
                emails: user
                    .map(|u| u.emails.into_iter().map(|e| e.address).collect())
                    .unwrap_or_default(),
                display_name: resource.display_name.clone(),
                embedded: stored.is_none().then(|| p.clone()),
            });
            Ok(())
        })?;
        Ok(Side {
            data,
            lookup,
            holders,
        })
    }

    /// The table cells and, with `json`, the `{"resource","resourceType","parent"}` item of holder `i`.
    fn row(&self, i: usize, json: bool) -> anyhow::Result<(Vec<String>, Option<Json>)> {
        let holder = self
            .holders
            .get(i)
            .with_context(|| format!("no holder {i}"))?;
        let (type_id, id) = &holder.key;
        let stored = self.lookup.get(&proto::ResourceId::new(type_id, id))?;
        let resource = stored
            .as_deref()
            .or(holder.embedded.as_ref())
            .with_context(|| format!("principal {type_id}:{id} is no longer in the file"))?;
        let parent = resource
            .parent_resource_id
            .as_ref()
            .map(|pid| self.lookup.get(pid))
            .transpose()?
            .flatten();
        Ok(resource_row(
            &self.data.type_index(),
            resource,
            parent.as_deref(),
            json,
        ))
    }
}

/// The compared holders by the fields two principals can be the same by: the first holder (lowest
/// position) of each id, of each e-mail address among the users, and of each display name among the
/// users and among the others.
struct Index<'a> {
    by_key: BTreeMap<&'a ResourceKey, usize>,
    by_email: BTreeMap<&'a str, usize>,
    by_name: BTreeMap<(bool, &'a str), usize>,
}

impl<'a> Index<'a> {
    fn new(holders: &'a [Holder]) -> Index<'a> {
        let mut index = Index {
            by_key: BTreeMap::new(),
            by_email: BTreeMap::new(),
            by_name: BTreeMap::new(),
        };
        for (i, h) in holders.iter().enumerate() {
            index.by_key.entry(&h.key).or_insert(i);
            if h.user {
                for address in &h.emails {
                    index.by_email.entry(address.as_str()).or_insert(i);
                }
            }
            index
                .by_name
                .entry((h.user, h.display_name.as_str()))
                .or_insert(i);
        }
        index
    }

    /// The position of the first compared holder that is the same principal as `base`, as the `baton`
    /// CLI's `comparePrincipal` has it: the same type and id; else, both users, a shared e-mail address;
    /// else, both users or neither, the same display name.
    fn first_match(&self, base: &Holder) -> Option<usize> {
        let mut first = self.by_key.get(&base.key).copied();
        let mut consider = |i: usize| first = Some(first.map_or(i, |f| f.min(i)));
        if base.user {
            for address in &base.emails {
                if let Some(&i) = self.by_email.get(address.as_str()) {
                    consider(i);
                }
            }
        }
        if let Some(&i) = self.by_name.get(&(base.user, base.display_name.as_str())) {
            consider(i);
        }
        first
    }
}

/// The comparison of the base holders with the compared ones, written as it is rendered: the console's
/// message or its `Missing Principals` and `Extra Principals` tables (each in two passes: widths, then
/// rows), or the `{"missing","extra","base","compared"}` document an item at a time.
pub(super) fn write_compare(
    base: &Side<'_>,
    compared: &Side<'_>,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let index = Index::new(&compared.holders);
    let mut matched = vec![false; compared.holders.len()];
    let mut missing = Vec::new();
    for (i, b) in base.holders.iter().enumerate() {
        match index.first_match(b) {
            Some(c) => {
                if let Some(slot) = matched.get_mut(c) {
                    *slot = true;
                }
            }
            None => missing.push(i),
        }
    }
    let extra: Vec<usize> = (0..matched.len())
        .filter(|&i| matched.get(i).is_some_and(|m| !m))
        .collect();
    if json {
        let every_base: Vec<usize> = (0..base.holders.len()).collect();
        let every_compared: Vec<usize> = (0..compared.holders.len()).collect();
        let mut doc = JsonLists::new();
        for (key, side, rows) in [
            ("missing", base, &missing),
            ("extra", compared, &extra),
            ("base", base, &every_base),
            ("compared", compared, &every_compared),
        ] {
            doc.list(key, out)?;
            for &i in rows {
                if let (_, Some(item)) = side.row(i, true)? {
                    doc.item(&item, out)?;
                }
            }
        }
        return doc.finish(out);
    }
    if missing.is_empty() && extra.is_empty() {
        out.write_all(b"The principals between these entitlements appear to match!\n")?;
    }
    if !missing.is_empty() {
        out.write_all(b"\nMissing Principals\n\n")?;
        write_table(base, &missing, out)?;
    }
    if !extra.is_empty() {
        out.write_all(b"\nExtra Principals\n\n")?;
        write_table(compared, &extra, out)?;
    }
    Ok(())
}

/// The resource table of these holders of `side`, in two passes (widths, then rows).
fn write_table(side: &Side<'_>, rows: &[usize], out: &mut dyn Write) -> anyhow::Result<()> {
    let mut widths = Widths::new(&RESOURCE_COLUMNS);
    for &i in rows {
        widths.add(&side.row(i, false)?.0);
    }
    widths.write_row(&RESOURCE_COLUMNS, out)?;
    for &i in rows {
        widths.write_row(&side.row(i, false)?.0, out)?;
    }
    Ok(())
}
