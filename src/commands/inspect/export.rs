//! `export-csv` (and `export csv`): every grant of a sync as one CSV row for access reviews, in the
//! columns of the `baton` CLI's `export csv`; the rows are shared with the `export xlsx` workbook.

use super::data::{
    for_each_grant, name_or, require_sync, Data, GrantFilter, ResourceKey, Resources,
};
use anyhow::Context;
use baton_c1z::proto;
use baton_c1z::reader::C1zFile;
use std::collections::BTreeMap;

/// The columns of `export-csv`, those of the `baton` CLI's `export csv`.
pub const CSV_COLUMNS: [&str; 12] = [
    "Type",
    "Last Name",
    "First Name",
    "User ID",
    "User Status",
    "Email Address",
    "Entitlement Display Name",
    "Entitlement",
    "Resource Type",
    "Resource Name",
    "Entitlement Description",
    "Entitlement Slug",
];

/// `export-csv`: a header row, then one row per grant of the sync a list view reads (`sync_id`, else
/// Baton's pick), in the order of the file's grants.
pub fn export_csv(file: &C1zFile, sync_id: Option<&str>) -> anyhow::Result<String> {
    let mut out = Vec::new();
    write_csv(file, sync_id, &mut out)?;
    String::from_utf8(out).context("the CSV is not UTF-8")
}

/// [`export_csv`], written to `out` a row at a time as the grants are read from the file.
pub fn write_csv(
    file: &C1zFile,
    sync_id: Option<&str>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let selected = selected_sync(file, sync_id)?;
    let data = Data::load_small(file, selected.as_deref())?;
    let mut line = String::new();
    crate::csv::push_record(&mut line, &CSV_COLUMNS);
    out.write_all(line.as_bytes())?;
    for_each_grant_row(file, selected.as_deref(), &data, |row| {
        line.clear();
        crate::csv::push_record(&mut line, &row);
        out.write_all(line.as_bytes())?;
        Ok(())
    })
}

/// The most principals whose user columns [`for_each_grant_row`] keeps at once.
const PEOPLE_CACHE_ENTRIES: usize = 8192;

/// The sync a list view reads: `sync_id` (which must exist), else Baton's pick.
pub(super) fn selected_sync(
    file: &C1zFile,
    sync_id: Option<&str>,
) -> anyhow::Result<Option<String>> {
    match sync_id {
        Some(id) => {
            require_sync(file, id)?;
            Ok(Some(id.to_owned()))
        }
        None => Ok(file.default_sync()?.map(|run| run.sync_id)),
    }
}

/// The user columns of a principal: last name, first name, status, e-mail address.
pub(super) struct Person {
    pub(super) last_name: String,
    pub(super) first_name: String,
    pub(super) status: String,
    pub(super) email: String,
}

impl Person {
    /// The user columns of `principal`, when it is a user (it carries a `UserTrait`, or its type has the
    /// user trait): the structured name when it has one, else the whole display name as the first name;
    /// the status by name; the primary e-mail address, else the first. `None` for other principals.
    pub(super) fn of(
        principal: &proto::Resource,
        rt: Option<&proto::ResourceType>,
    ) -> anyhow::Result<Option<Person>> {
        let user = proto::find_annotation::<proto::UserTrait>(&principal.annotations)?;
        let user_type = rt.is_some_and(|t| t.traits.contains(&(proto::Trait::User as i32)));
        if user.is_none() && !user_type {
            return Ok(None);
        }
        let user = user.unwrap_or_default();
        let (last_name, first_name) = match user.structured_name.as_ref() {
            Some(n) if !n.given_name.is_empty() || !n.family_name.is_empty() => {
                (n.family_name.clone(), n.given_name.clone())
            }
            _ => (String::new(), principal.display_name.clone()),
        };
        let status = match user.status.as_ref().map(|s| s.status) {
            None => String::new(),
            Some(value) => match proto::UserStatusValue::try_from(value) {
                Ok(proto::UserStatusValue::Unspecified) => String::new(),
                Ok(proto::UserStatusValue::Enabled) => "ENABLED".to_owned(),
                Ok(proto::UserStatusValue::Disabled) => "DISABLED".to_owned(),
                Ok(proto::UserStatusValue::Deleted) => "DELETED".to_owned(),
                Err(_) => value.to_string(),
            },
        };
        let email = user
            .emails
            .iter()
            .find(|e| e.is_primary && !e.address.is_empty())
            .or_else(|| user.emails.iter().find(|e| !e.address.is_empty()))
            .map_or(String::new(), |e| e.address.clone());
        Ok(Some(Person {
            last_name,
            first_name,
            status,
            email,
        }))
    }
}

/// Calls `visit` with one row of [`CSV_COLUMNS`] per grant of the sync `sync_id` (`data` holds its small
/// tables), in the order of the file's grants, streamed from the file.
pub(super) fn for_each_grant_row(
    file: &C1zFile,
    sync_id: Option<&str>,
    data: &Data,
    mut visit: impl FnMut([String; 12]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let types = data.type_index();
    let resources = Resources::new(file, sync_id);
    let entitlements: BTreeMap<&str, &proto::Entitlement> = data
        .entitlements
        .iter()
        .map(|e| (e.id.as_str(), e))
        .collect();
    let type_name = |id: &str| -> String {
        types
            .get(id)
            .map_or(id, |t| name_or(&t.display_name, id))
            .to_owned()
    };
    // A principal holds many grants: work its columns out once.
    let mut people: BTreeMap<ResourceKey, Option<Person>> = BTreeMap::new();
    let all = GrantFilter {
        resource_type: None,
        entitlement: None,
        resource: None,
    };
    for_each_grant(file, sync_id, &all, None, |g| {
        let pid = g.principal.as_ref().and_then(|p| p.id.as_ref());
        let principal_type = pid.map_or("", |id| id.resource_type.as_str());
        let principal_id = pid.map_or("", |id| id.resource.as_str());
        let pkey = (principal_type.to_owned(), principal_id.to_owned());
        if !people.contains_key(&pkey) {
            let stored = pid.map(|id| resources.get(id)).transpose()?.flatten();
            let principal = stored.as_deref().or(g.principal.as_ref());
            let person = match principal {
                Some(p) => Person::of(p, types.get(principal_type).copied())
                    .with_context(|| format!("principal {principal_type}:{principal_id}"))?,
                None => None,
            };
            // Bounded: a principal seen again after a clear is worked out again.
            if people.len() >= PEOPLE_CACHE_ENTRIES {
                people.clear();
            }
            people.insert(pkey.clone(), person);
        }
        let person = people.get(&pkey).and_then(Option::as_ref);

        let embedded = g.entitlement.as_ref();
        let ent_id = embedded.map_or("", |e| e.id.as_str());
        let entitlement = entitlements.get(ent_id).copied().or(embedded);
        let on = entitlement.and_then(|e| e.resource.as_ref());
        let rid = on.and_then(|r| r.id.as_ref());
        let resource_type = rid.map_or("", |id| id.resource_type.as_str());
        let resource_id = rid.map_or("", |id| id.resource.as_str());
        let stored = rid.map(|id| resources.get(id)).transpose()?.flatten();
        let resource = stored.as_deref().or(on);

        let text = |f: fn(&Person) -> &str| person.map_or("", f).to_owned();
        visit([
            type_name(principal_type),
            text(|p| &p.last_name),
            text(|p| &p.first_name),
            principal_id.to_owned(),
            text(|p| &p.status),
            text(|p| &p.email),
            entitlement
                .map_or("", |e| e.display_name.as_str())
                .to_owned(),
            ent_id.to_owned(),
            type_name(resource_type),
            resource
                .map_or(resource_id, |r| name_or(&r.display_name, resource_id))
                .to_owned(),
            entitlement
                .map_or("", |e| e.description.as_str())
                .to_owned(),
            entitlement.map_or("", |e| e.slug.as_str()).to_owned(),
        ])
    })
}
