//! `inspect`: shows what a `.c1z` file holds, in the views the `baton` CLI offers (stats, resource types,
//! resources, entitlements, grants, principals, one principal's effective access, syncs, diff): an
//! aligned console table (a tree for `access`), or one compact protojson document. `export-csv` writes
//! every grant as one CSV row for access reviews, to stdout or to a file.
//!
//! List views read the sync Baton's readers pick (the newest finished full sync, else a recent unfinished
//! one, else every row), or `--sync-id`. `stats` reads the newest finished sync of any type, and `diff`
//! compares the two newest finished full syncs. The file is decompressed into a private temp copy and never
//! written.

use crate::cli::{GlobalArgs, InspectArgs, InspectView, OutputFormat};
use crate::config::UsageError;
use crate::output::{self, Table};
use anyhow::{bail, Context};
use baton_c1z::proto;
use baton_c1z::protojson::{self, Json, Obj};
use baton_c1z::reader::{C1zFile, SyncRun, Table as DbTable};
use prost::Message;
use std::collections::BTreeMap;

/// Runs one `inspect` view and prints it.
pub fn run(global: &GlobalArgs, args: &InspectArgs) -> anyhow::Result<()> {
    // A sync starts afresh in an empty target, but an empty file has nothing to show: most likely the
    // wrong path, or a file cut short by a failed copy.
    if std::fs::metadata(&global.file).is_ok_and(|m| m.is_file() && m.len() == 0) {
        bail!(
            "{} is empty (0 bytes): not a c1z file",
            global.file.display()
        );
    }
    if let InspectView::ExportCsv { out } = &args.view {
        if args.output == OutputFormat::Json {
            return Err(UsageError(
                "--output-format json does not apply to export-csv: it always writes CSV".into(),
            )
            .into());
        }
        let file = C1zFile::open(&global.file, &crate::config::decode_limits(global))?;
        let csv = export_csv(&file, args.sync_id.as_deref())
            .with_context(|| format!("cannot export {}", global.file.display()))?;
        return match out {
            Some(path) => output::write_file(path, csv.as_bytes()),
            None => output::print(&csv),
        };
    }
    let file = C1zFile::open(&global.file, &crate::config::decode_limits(global))?;
    let view =
        render(&file, args).with_context(|| format!("cannot inspect {}", global.file.display()))?;
    output::print_with(|out| view.write_to(args.output, out))
}

/// A rendered view: its table and its JSON document (the list views fill only the format asked for, as
/// building the other one for every grant of a large file costs time).
pub struct View {
    pub console: Console,
    pub json: Json,
}

/// The console form of a view: an aligned table, or text such as the `access` tree.
pub enum Console {
    Table(Table),
    Text(String),
}

impl View {
    /// The output in the chosen format: the table, or the JSON document with no trailing newline (as
    /// the `baton` CLI prints it).
    pub fn text(&self, format: OutputFormat) -> String {
        match format {
            OutputFormat::Console => match &self.console {
                Console::Table(table) => table.render(),
                Console::Text(text) => text.clone(),
            },
            OutputFormat::Json => self.json.to_text(),
        }
    }

    /// Writes the output in the chosen format to `out` as it goes (see [`View::text`]).
    pub fn write_to(
        &self,
        format: OutputFormat,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        match format {
            OutputFormat::Console => match &self.console {
                Console::Table(table) => table.write_to(out),
                Console::Text(text) => out.write_all(text.as_bytes()),
            },
            OutputFormat::Json => self.json.write_to(out),
        }
    }
}

/// Renders the view `args` asks for.
pub fn render(file: &C1zFile, args: &InspectArgs) -> anyhow::Result<View> {
    let json = args.output == OutputFormat::Json;
    match &args.view {
        InspectView::Stats => stats(file, args.sync_id.as_deref()),
        InspectView::ResourceTypes => {
            let data = Data::load(file, list_sync(file, args)?.as_deref(), false, false)?;
            Ok(resource_types(&data, json))
        }
        InspectView::Resources { resource_type } => {
            let data = Data::load(file, list_sync(file, args)?.as_deref(), false, false)?;
            Ok(resources(&data, resource_type.as_deref(), json))
        }
        InspectView::Entitlements { resource_type } => {
            let data = Data::load(file, list_sync(file, args)?.as_deref(), true, false)?;
            Ok(entitlements(&data, resource_type.as_deref(), json))
        }
        InspectView::Grants {
            resource_type,
            entitlement,
            resource,
        } => {
            let data = Data::load(file, list_sync(file, args)?.as_deref(), true, true)?;
            let filter = GrantFilter {
                resource_type: resource_type.as_deref(),
                entitlement: entitlement.as_deref(),
                resource: resource.as_deref(),
            };
            Ok(grants(&data, &filter, json))
        }
        InspectView::Principals {
            resource_type,
            entitlement,
            resource,
        } => {
            let data = Data::load(file, list_sync(file, args)?.as_deref(), false, true)?;
            let filter = GrantFilter {
                resource_type: resource_type.as_deref(),
                entitlement: entitlement.as_deref(),
                resource: resource.as_deref(),
            };
            Ok(principals(&data, &filter, json))
        }
        InspectView::Access {
            resource_type,
            resource,
        } => {
            let data = Data::load(file, list_sync(file, args)?.as_deref(), true, true)?;
            access(&data, resource_type, resource, json)
        }
        InspectView::Syncs => Ok(syncs(&file.sync_runs()?)),
        InspectView::Diff => {
            if args.sync_id.is_some() {
                return Err(UsageError(
                    "--sync-id does not apply to diff: it compares the two newest finished full syncs"
                        .into(),
                )
                .into());
            }
            diff(file)
        }
        InspectView::ExportCsv { .. } => {
            Err(UsageError("export-csv writes CSV, not a console or JSON view".into()).into())
        }
    }
}

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
    let selected = match sync_id {
        Some(id) => {
            require_sync(file, id)?;
            Some(id.to_owned())
        }
        None => file.default_sync()?.map(|run| run.sync_id),
    };
    let data = Data::load(file, selected.as_deref(), true, true)?;
    csv_rows(&data)
}

/// The user columns of a principal: last name, first name, status, e-mail address.
struct Person {
    last_name: String,
    first_name: String,
    status: String,
    email: String,
}

impl Person {
    /// The user columns of `principal`, when it is a user (it carries a `UserTrait`, or its type has the
    /// user trait): the structured name when it has one, else the whole display name as the first name;
    /// the status by name; the primary e-mail address, else the first. `None` for other principals.
    fn of(
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

fn csv_rows(data: &Data) -> anyhow::Result<String> {
    let types = data.type_index();
    let by_id = data.resource_index();
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
    let mut out = String::new();
    crate::csv::push_record(&mut out, &CSV_COLUMNS);
    for g in &data.grants {
        let pid = g.principal.as_ref().and_then(|p| p.id.as_ref());
        let principal_type = pid.map_or("", |id| id.resource_type.as_str());
        let principal_id = pid.map_or("", |id| id.resource.as_str());
        let principal = pid
            .and_then(|id| by_id.get(&key(id)).copied())
            .or(g.principal.as_ref());
        let pkey = (principal_type.to_owned(), principal_id.to_owned());
        if !people.contains_key(&pkey) {
            let person = match principal {
                Some(p) => Person::of(p, types.get(principal_type).copied())
                    .with_context(|| format!("principal {principal_type}:{principal_id}"))?,
                None => None,
            };
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
        let resource = rid.and_then(|id| by_id.get(&key(id)).copied()).or(on);

        let text = |f: fn(&Person) -> &str| person.map_or("", f);
        crate::csv::push_record(
            &mut out,
            &[
                type_name(principal_type).as_str(),
                text(|p| &p.last_name),
                text(|p| &p.first_name),
                principal_id,
                text(|p| &p.status),
                text(|p| &p.email),
                entitlement.map_or("", |e| e.display_name.as_str()),
                ent_id,
                type_name(resource_type).as_str(),
                resource.map_or(resource_id, |r| name_or(&r.display_name, resource_id)),
                entitlement.map_or("", |e| e.description.as_str()),
                entitlement.map_or("", |e| e.slug.as_str()),
            ],
        );
    }
    Ok(out)
}

/// The sync a list view reads: `--sync-id` (which must exist), else the one Baton's readers pick;
/// `None` means every row.
fn list_sync(file: &C1zFile, args: &InspectArgs) -> anyhow::Result<Option<String>> {
    match &args.sync_id {
        Some(id) => {
            require_sync(file, id)?;
            Ok(Some(id.clone()))
        }
        None => Ok(file.default_sync()?.map(|run| run.sync_id)),
    }
}

fn require_sync(file: &C1zFile, id: &str) -> anyhow::Result<()> {
    if file.sync_runs()?.iter().any(|run| run.sync_id == id) {
        Ok(())
    } else {
        bail!("sync {id} is not in the file (see `inspect syncs`)")
    }
}

fn decode_all<M: Message + Default>(
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

/// The records of one sync (or of every sync), decoded with every protocol field.
struct Data {
    types: Vec<proto::ResourceType>,
    resources: Vec<proto::Resource>,
    entitlements: Vec<proto::Entitlement>,
    grants: Vec<proto::Grant>,
}

type ResourceKey = (String, String);

impl Data {
    fn load(
        file: &C1zFile,
        sync_id: Option<&str>,
        entitlements: bool,
        grants: bool,
    ) -> anyhow::Result<Data> {
        Ok(Data {
            types: decode_all(file, DbTable::ResourceTypes, sync_id)?,
            resources: decode_all(file, DbTable::Resources, sync_id)?,
            entitlements: if entitlements {
                decode_all(file, DbTable::Entitlements, sync_id)?
            } else {
                Vec::new()
            },
            grants: if grants {
                decode_all(file, DbTable::Grants, sync_id)?
            } else {
                Vec::new()
            },
        })
    }

    fn type_index(&self) -> BTreeMap<&str, &proto::ResourceType> {
        self.types.iter().map(|t| (t.id.as_str(), t)).collect()
    }

    fn resource_index(&self) -> BTreeMap<ResourceKey, &proto::Resource> {
        self.resources
            .iter()
            .filter_map(|r| r.id.as_ref().map(|id| (key(id), r)))
            .collect()
    }
}

fn key(id: &proto::ResourceId) -> ResourceKey {
    (id.resource_type.clone(), id.resource.clone())
}

fn type_of(r: &proto::Resource) -> &str {
    r.id.as_ref().map_or("", |id| id.resource_type.as_str())
}

fn name_or<'a>(display_name: &'a str, fallback: &'a str) -> &'a str {
    if display_name.is_empty() {
        fallback
    } else {
        display_name
    }
}

fn resource_types(data: &Data, json: bool) -> View {
    let mut table = Table::new(&["ID", "Display Name", "Traits"]);
    let mut items = Vec::new();
    for rt in &data.types {
        table.row(vec![
            rt.id.clone(),
            rt.display_name.clone(),
            protojson::trait_names(&rt.traits).join(", "),
        ]);
        if !json {
            continue;
        }
        items.push(
            Obj::new()
                .field("resourceType", protojson::resource_type(rt))
                .build(),
        );
    }
    View {
        console: Console::Table(table),
        json: Obj::new().list("resourceTypes", items).build(),
    }
}

fn resources(data: &Data, resource_type: Option<&str>, json: bool) -> View {
    let selected = data
        .resources
        .iter()
        .filter(|r| resource_type.is_none_or(|t| t == type_of(r)));
    resource_list(data, selected, json)
}

/// A resource table (and its `{"resources":[…]}` document) of these resources, in this order.
fn resource_list<'a>(
    data: &'a Data,
    selected: impl Iterator<Item = &'a proto::Resource>,
    json: bool,
) -> View {
    let types = data.type_index();
    let by_id = data.resource_index();
    let mut table = Table::new(&["ID", "Display Name", "Resource Type", "Parent Resource"]);
    let mut items = Vec::new();
    for r in selected {
        let type_id = type_of(r);
        let rt = types.get(type_id).copied();
        let parent = r
            .parent_resource_id
            .as_ref()
            .map(|pid| (pid, by_id.get(&key(pid)).copied()));
        let parent_text = match parent {
            None => "-".to_owned(),
            Some((pid, found)) => format!(
                "{} ({})",
                found.map_or(pid.resource.as_str(), |p| name_or(
                    &p.display_name,
                    &pid.resource
                )),
                pid.resource_type
            ),
        };
        let id = r.id.as_ref().map_or("", |id| id.resource.as_str());
        table.row(vec![
            id.to_owned(),
            r.display_name.clone(),
            rt.map_or(type_id, |t| name_or(&t.display_name, type_id))
                .to_owned(),
            parent_text,
        ]);
        if !json {
            continue;
        }
        items.push(
            Obj::new()
                .field("resource", protojson::resource(r))
                .msg("resourceType", rt.map(protojson::resource_type))
                .msg(
                    "parent",
                    parent.and_then(|(_, p)| p).map(protojson::resource),
                )
                .build(),
        );
    }
    View {
        console: Console::Table(table),
        json: Obj::new().list("resources", items).build(),
    }
}

fn entitlements(data: &Data, resource_type: Option<&str>, json: bool) -> View {
    let types = data.type_index();
    let by_id = data.resource_index();
    let mut table = Table::new(&[
        "ID",
        "Display Name",
        "Resource Type",
        "Resource",
        "Permission",
    ]);
    let mut items = Vec::new();
    for e in &data.entitlements {
        let embedded = e.resource.as_ref();
        let rid = embedded.and_then(|r| r.id.as_ref());
        let type_id = rid.map_or("", |id| id.resource_type.as_str());
        if resource_type.is_some_and(|t| t != type_id) {
            continue;
        }
        let resource = rid.and_then(|id| by_id.get(&key(id)).copied()).or(embedded);
        let rt = types.get(type_id).copied();
        table.row(vec![
            e.id.clone(),
            e.display_name.clone(),
            rt.map_or(type_id, |t| name_or(&t.display_name, type_id))
                .to_owned(),
            resource
                .map_or("", |r| {
                    name_or(&r.display_name, rid.map_or("", |id| id.resource.as_str()))
                })
                .to_owned(),
            e.slug.clone(),
        ]);
        if !json {
            continue;
        }
        items.push(
            Obj::new()
                .field("entitlement", protojson::entitlement(e))
                .msg("resource", resource.map(protojson::resource))
                .msg("resourceType", rt.map(protojson::resource_type))
                .build(),
        );
    }
    View {
        console: Console::Table(table),
        json: Obj::new().list("entitlements", items).build(),
    }
}

/// The `grants` (and `principals`) filters.
struct GrantFilter<'a> {
    resource_type: Option<&'a str>,
    entitlement: Option<&'a str>,
    resource: Option<&'a str>,
}

impl GrantFilter<'_> {
    /// Whether a grant passes every filter given.
    fn matches(&self, g: &proto::Grant) -> bool {
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

fn grants(data: &Data, filter: &GrantFilter<'_>, json: bool) -> View {
    let types = data.type_index();
    let by_id = data.resource_index();
    let entitlements: BTreeMap<&str, &proto::Entitlement> = data
        .entitlements
        .iter()
        .map(|e| (e.id.as_str(), e))
        .collect();
    let mut table = Table::new(&[
        "ID",
        "Resource Type",
        "Resource",
        "Entitlement",
        "Principal",
    ]);
    // Entitlements, resources and types repeat across grants: render each object once, keyed by its
    // address (each decoded object lives in `data` for the whole loop).
    let mut cache: BTreeMap<usize, Json> = BTreeMap::new();
    let mut cached = |address: usize, render: &dyn Fn() -> Json| -> Json {
        cache
            .entry(address)
            .or_insert_with(|| Json::Raw(render().to_text().into()))
            .clone()
    };
    let mut items = Vec::new();
    for g in &data.grants {
        let embedded = g.entitlement.as_ref();
        let ent_id = embedded.map_or("", |e| e.id.as_str());
        let rid = embedded
            .and_then(|e| e.resource.as_ref())
            .and_then(|r| r.id.as_ref());
        let type_id = rid.map_or("", |id| id.resource_type.as_str());
        let resource_id = rid.map_or("", |id| id.resource.as_str());
        if !filter.matches(g) {
            continue;
        }
        let entitlement = entitlements.get(ent_id).copied().or(embedded);
        let resource = rid
            .and_then(|id| by_id.get(&key(id)).copied())
            .or(embedded.and_then(|e| e.resource.as_ref()));
        let rt = types.get(type_id).copied();
        let pid = g.principal.as_ref().and_then(|p| p.id.as_ref());
        let principal = pid
            .and_then(|id| by_id.get(&key(id)).copied())
            .or(g.principal.as_ref());
        if !json {
            table.row(vec![
                g.id.clone(),
                rt.map_or(type_id, |t| name_or(&t.display_name, type_id))
                    .to_owned(),
                resource
                    .map_or(resource_id, |r| name_or(&r.display_name, resource_id))
                    .to_owned(),
                entitlement
                    .map_or(ent_id, |e| name_or(&e.display_name, ent_id))
                    .to_owned(),
                principal
                    .map_or("", |p| {
                        name_or(&p.display_name, pid.map_or("", |id| id.resource.as_str()))
                    })
                    .to_owned(),
            ]);
            continue;
        }
        // Rendered at once: a compact text per grant weighs far less than its JSON tree.
        let item = Obj::new()
            .field("grant", protojson::grant(g))
            .msg(
                "entitlement",
                entitlement.map(|e| cached(address(e), &|| protojson::entitlement(e))),
            )
            .msg(
                "resource",
                resource.map(|r| cached(address(r), &|| protojson::resource(r))),
            )
            .msg(
                "resourceType",
                rt.map(|t| cached(address(t), &|| protojson::resource_type(t))),
            )
            .msg(
                "principal",
                principal.map(|p| cached(address(p), &|| protojson::resource(p))),
            )
            .build();
        items.push(Json::Raw(item.to_text().into()));
    }
    View {
        console: Console::Table(table),
        json: Obj::new().list("grants", items).build(),
    }
}

/// The principals of the grants `filter` selects, each once: in the order of the file's resources, then
/// (for a principal that is not among them) as the grant embeds it, by type and id.
fn principals(data: &Data, filter: &GrantFilter<'_>, json: bool) -> View {
    let mut holders: BTreeMap<ResourceKey, &proto::Resource> = BTreeMap::new();
    for g in data.grants.iter().filter(|g| filter.matches(g)) {
        if let Some(p) = g.principal.as_ref() {
            if let Some(id) = p.id.as_ref() {
                holders.entry(key(id)).or_insert(p);
            }
        }
    }
    let mut ordered = Vec::with_capacity(holders.len());
    for r in &data.resources {
        if let Some(id) = r.id.as_ref() {
            if holders.remove(&key(id)).is_some() {
                ordered.push(r);
            }
        }
    }
    ordered.extend(holders.into_values());
    resource_list(data, ordered.into_iter(), json)
}

/// One entitlement a principal holds: the entitlement, the grant and where it comes from.
struct Held<'a> {
    entitlement: Option<&'a proto::Entitlement>,
    entitlement_id: &'a str,
    grant: &'a proto::Grant,
}

/// The grants of one resource a principal holds entitlements on.
struct OnResource<'a> {
    resource: Option<&'a proto::Resource>,
    resource_id: &'a proto::ResourceId,
    held: Vec<Held<'a>>,
}

/// `access`: every grant whose principal is `type_id:resource_id` (the file holds expanded grants, so
/// access through groups, role mappings and roles is among them), grouped by the resource of the
/// entitlement: resources in the order of the file's resources (others after them, by type and id),
/// entitlements in the order of the grants.
fn access(data: &Data, type_id: &str, resource_id: &str, json: bool) -> anyhow::Result<View> {
    let types = data.type_index();
    let by_id = data.resource_index();
    let wanted = (type_id.to_owned(), resource_id.to_owned());
    let entitlements: BTreeMap<&str, &proto::Entitlement> = data
        .entitlements
        .iter()
        .map(|e| (e.id.as_str(), e))
        .collect();
    let mut embedded_principal = None;
    let mut groups: BTreeMap<ResourceKey, OnResource<'_>> = BTreeMap::new();
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
        groups
            .entry(key(rid))
            .or_insert_with(|| OnResource {
                resource: by_id.get(&key(rid)).copied().or(on),
                resource_id: rid,
                held: Vec::new(),
            })
            .held
            .push(Held {
                entitlement,
                entitlement_id,
                grant: g,
            });
    }
    let Some(principal) = by_id.get(&wanted).copied().or(embedded_principal) else {
        bail!(
            "principal {type_id}:{resource_id} is not in the file (see `inspect resources -t {type_id}`)"
        );
    };
    let mut ordered = Vec::with_capacity(groups.len());
    for r in &data.resources {
        if let Some(id) = r.id.as_ref() {
            if let Some(group) = groups.remove(&key(id)) {
                ordered.push(group);
            }
        }
    }
    ordered.extend(groups.into_values());

    let type_name = |id: &'_ str| -> String {
        types
            .get(id)
            .map_or(id, |t| name_or(&t.display_name, id))
            .to_owned()
    };
    // A source by its display name; one that is only its slug (as the Go SDK's are) also names the
    // resource it is on, so that `member` of one group can be told from `member` of another.
    let entitlement_name = |id: &str| -> String {
        let Some(e) = entitlements.get(id) else {
            return id.to_owned();
        };
        if !e.display_name.is_empty() && e.display_name != e.slug {
            return e.display_name.clone();
        }
        let rid = e.resource.as_ref().and_then(|r| r.id.as_ref());
        let on = rid
            .and_then(|rid| by_id.get(&key(rid)).copied())
            .or(e.resource.as_ref())
            .map(|r| name_or(&r.display_name, rid.map_or("", |rid| rid.resource.as_str())));
        match on {
            Some(on) if !on.is_empty() => format!("{} ({on})", name_or(&e.display_name, id)),
            _ => name_or(&e.display_name, id).to_owned(),
        }
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
            group.resource.map_or(rid.resource.as_str(), |r| name_or(
                &r.display_name,
                &rid.resource
            )),
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
                via(held, &entitlement_name)
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
                    .msg("resource", group.resource.map(protojson::resource))
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
fn via(held: &Held<'_>, entitlement_name: &dyn Fn(&str) -> String) -> String {
    let Some(sources) = held.grant.sources.as_ref() else {
        return String::new();
    };
    let mut direct = false;
    let mut through = Vec::new();
    for id in sources.to_map().into_keys() {
        if id == held.entitlement_id {
            direct = true;
        } else {
            through.push(entitlement_name(&id));
        }
    }
    match (through.is_empty(), direct) {
        (true, _) => String::new(),
        (false, false) => format!(" via {}", through.join(", ")),
        (false, true) => format!(" via {} (also direct)", through.join(", ")),
    }
}

/// The address of a value, as a cache key.
fn address<T>(value: &T) -> usize {
    std::ptr::from_ref(value) as usize
}

/// A stored sync time in RFC 3339, read as UTC as Baton's SQLite drivers do (the raw text if it does not
/// parse).
fn sync_time(text: &str) -> String {
    match baton_c1z::clock::parse_sqlite_time(text) {
        Some(at) => protojson::rfc3339(&at),
        None => text.to_owned(),
    }
}

/// Longest sync token shown in the console table; JSON shows it whole.
const TOKEN_CONSOLE_CHARS: usize = 40;

fn syncs(runs: &[SyncRun]) -> View {
    let mut table = Table::new(&["ID", "Started At", "Ended At", "Type", "Parent ID", "Token"]);
    let mut items = Vec::new();
    for run in runs {
        let started = sync_time(&run.started_at);
        let ended = run.ended_at.as_deref().map(sync_time);
        let token = if run.sync_token.chars().count() > TOKEN_CONSOLE_CHARS {
            let head: String = run.sync_token.chars().take(TOKEN_CONSOLE_CHARS).collect();
            format!("{head}…")
        } else {
            run.sync_token.clone()
        };
        table.row(vec![
            run.sync_id.clone(),
            started.clone(),
            ended.clone().unwrap_or_default(),
            run.sync_type.clone(),
            run.parent_sync_id.clone(),
            token,
        ]);
        items.push(
            Obj::new()
                .str("id", &run.sync_id)
                .str("startedAt", &started)
                .str("endedAt", ended.as_deref().unwrap_or(""))
                .str("syncToken", &run.sync_token)
                .str("syncType", &run.sync_type)
                .str("parentSyncId", &run.parent_sync_id)
                .build(),
        );
    }
    View {
        console: Console::Table(table),
        json: Obj::new().list("syncs", items).build(),
    }
}

fn stats(file: &C1zFile, sync_id: Option<&str>) -> anyhow::Result<View> {
    let sync_id = match sync_id {
        Some(id) => {
            require_sync(file, id)?;
            id.to_owned()
        }
        None => match file.latest_finished_sync()? {
            Some(run) => run.sync_id,
            None => bail!("no finished sync found"),
        },
    };
    // Counted in SQL from the rows' columns: nothing is decoded, so a large file costs no memory.
    let conn = file.connection();
    let count = |table: &str| -> anyhow::Result<usize> {
        let n: i64 = conn
            .query_row(
                &format!("select count(*) from {table} where sync_id = ?1"),
                [&sync_id],
                |row| row.get(0),
            )
            .with_context(|| format!("count the rows of {table}"))?;
        Ok(usize::try_from(n).unwrap_or(0))
    };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    counts.insert("resource_types".into(), count("v1_resource_types")?);
    counts.insert("entitlements".into(), count("v1_entitlements")?);
    counts.insert("grants".into(), count("v1_grants")?);
    let mut types = conn.prepare("select external_id from v1_resource_types where sync_id = ?1")?;
    for id in types.query_map([&sync_id], |row| row.get::<_, String>(0))? {
        counts.entry(id?).or_insert(0);
    }
    let mut per_type = conn.prepare(
        "select resource_type_id, count(*) from v1_resources where sync_id = ?1 group by resource_type_id",
    )?;
    let rows = per_type.query_map([&sync_id], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (type_id, n) = row.context("count the resources by type")?;
        *counts.entry(type_id).or_insert(0) += usize::try_from(n).unwrap_or(0);
    }
    let mut table = Table::new(&["Type", "Count"]);
    let mut obj = Obj::new();
    for (name, count) in &counts {
        table.row(vec![name.clone(), count.to_string()]);
        obj = obj.field(name, Json::Num(count.to_string()));
    }
    Ok(View {
        console: Console::Table(table),
        json: obj.build(),
    })
}

/// One kind of object in a diff: id → canonical JSON text and JSON, for the old and the new sync.
type Rendered = BTreeMap<String, (String, Json)>;

fn rendered<M: Message + Default>(
    file: &C1zFile,
    table: DbTable,
    sync_id: &str,
    id: impl Fn(&M) -> String,
    render: impl Fn(&M) -> Json,
) -> anyhow::Result<Rendered> {
    let mut out = BTreeMap::new();
    for m in decode_all::<M>(file, table, Some(sync_id))? {
        let json = render(&m);
        out.insert(id(&m), (json.to_text(), json));
    }
    Ok(out)
}

/// The changes of one kind of object, each list sorted by id.
#[derive(Default)]
struct Changes {
    created: Vec<(String, Json)>,
    deleted: Vec<(String, Json)>,
    modified: Vec<(String, Json)>,
}

fn compare(old: Rendered, mut new: Rendered) -> Changes {
    let mut changes = Changes::default();
    for (id, (old_text, old_json)) in old {
        match new.remove(&id) {
            None => changes.deleted.push((id, old_json)),
            Some((new_text, new_json)) => {
                if new_text != old_text {
                    changes.modified.push((id, new_json));
                }
            }
        }
    }
    changes.created = new.into_iter().map(|(id, (_, json))| (id, json)).collect();
    changes
}

fn diff(file: &C1zFile) -> anyhow::Result<View> {
    let runs = file.finished_full_syncs()?;
    let (new, old) = match runs.as_slice() {
        [] => bail!("no syncs found - cannot diff (the file has no finished full sync)"),
        [_] => bail!("cannot diff single sync run (the file has one finished full sync)"),
        [new, old, ..] => (new.sync_id.as_str(), old.sync_id.as_str()),
    };
    let resource_id = |r: &proto::Resource| {
        r.id.as_ref().map_or(String::new(), |id| {
            format!("{}:{}", id.resource_type, id.resource)
        })
    };
    let kinds = [
        (
            "resources",
            "resource",
            compare(
                rendered(
                    file,
                    DbTable::Resources,
                    old,
                    resource_id,
                    protojson::resource,
                )?,
                rendered(
                    file,
                    DbTable::Resources,
                    new,
                    resource_id,
                    protojson::resource,
                )?,
            ),
        ),
        (
            "entitlements",
            "entitlement",
            compare(
                rendered(
                    file,
                    DbTable::Entitlements,
                    old,
                    |e: &proto::Entitlement| e.id.clone(),
                    protojson::entitlement,
                )?,
                rendered(
                    file,
                    DbTable::Entitlements,
                    new,
                    |e: &proto::Entitlement| e.id.clone(),
                    protojson::entitlement,
                )?,
            ),
        ),
        (
            "grants",
            "grant",
            compare(
                rendered(
                    file,
                    DbTable::Grants,
                    old,
                    |g: &proto::Grant| g.id.clone(),
                    protojson::grant,
                )?,
                rendered(
                    file,
                    DbTable::Grants,
                    new,
                    |g: &proto::Grant| g.id.clone(),
                    protojson::grant,
                )?,
            ),
        ),
    ];
    let mut table = Table::new(&["Object", "Change", "ID"]);
    let mut doc = Obj::new();
    for (plural, singular, changes) in kinds {
        let mut obj = Obj::new();
        for (change, list) in [
            ("created", changes.created),
            ("deleted", changes.deleted),
            ("modified", changes.modified),
        ] {
            let mut items = Vec::new();
            for (id, json) in list {
                table.row(vec![singular.to_owned(), change.to_owned(), id]);
                items.push(json);
            }
            obj = obj.list(change, items);
        }
        doc = doc.field(plural, obj.build());
    }
    Ok(View {
        console: Console::Table(table),
        json: doc.build(),
    })
}
