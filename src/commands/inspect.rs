//! `inspect`: shows what a `.c1z` file holds, in the views the `baton` CLI offers: an aligned console
//! table, or one compact protojson document.
//!
//! List views read the sync Baton's readers pick (the newest finished full sync, else a recent unfinished
//! one, else every row), or `--sync-id`. `stats` reads the newest finished sync of any type, and `diff`
//! compares the two newest finished full syncs. The file is decompressed into a private temp copy and never
//! written.

use crate::c1z::reader::{C1zFile, DecodeLimits, SyncRun, Table as DbTable};
use crate::cli::{GlobalArgs, InspectArgs, InspectView, OutputFormat};
use crate::config::UsageError;
use crate::output::{self, Table};
use crate::proto;
use crate::protojson::{self, Json, Obj};
use anyhow::{bail, Context};
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
    let file = C1zFile::open(&global.file, &DecodeLimits::from_env())?;
    let view =
        render(&file, args).with_context(|| format!("cannot inspect {}", global.file.display()))?;
    output::print(&view.text(args.output))
}

/// A rendered view: its table and its JSON document (the list views fill only the format asked for, as
/// building the other one for every grant of a large file costs time).
pub struct View {
    pub table: Table,
    pub json: Json,
}

impl View {
    /// The output in the chosen format: the table, or the JSON document with no trailing newline (as
    /// the `baton` CLI prints it).
    pub fn text(&self, format: OutputFormat) -> String {
        match format {
            OutputFormat::Console => self.table.render(),
            OutputFormat::Json => self.json.to_text(),
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
    }
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
        table,
        json: Obj::new().list("resourceTypes", items).build(),
    }
}

fn resources(data: &Data, resource_type: Option<&str>, json: bool) -> View {
    let types = data.type_index();
    let by_id = data.resource_index();
    let mut table = Table::new(&["ID", "Display Name", "Resource Type", "Parent Resource"]);
    let mut items = Vec::new();
    for r in &data.resources {
        let type_id = type_of(r);
        if resource_type.is_some_and(|t| t != type_id) {
            continue;
        }
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
        table,
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
        table,
        json: Obj::new().list("entitlements", items).build(),
    }
}

/// The `grants` filters.
struct GrantFilter<'a> {
    resource_type: Option<&'a str>,
    entitlement: Option<&'a str>,
    resource: Option<&'a str>,
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
            .or_insert_with(|| Json::Raw(render().to_text()))
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
        if filter.resource_type.is_some_and(|t| t != type_id)
            || filter.entitlement.is_some_and(|e| e != ent_id)
            || filter.resource.is_some_and(|r| r != resource_id)
        {
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
        if !json {
            continue;
        }
        items.push(
            Obj::new()
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
                .build(),
        );
    }
    View {
        table,
        json: Obj::new().list("grants", items).build(),
    }
}

/// The address of a value, as a cache key.
fn address<T>(value: &T) -> usize {
    std::ptr::from_ref(value) as usize
}

/// A stored sync time in RFC 3339, read as UTC as Baton's SQLite drivers do (the raw text if it does not
/// parse).
fn sync_time(text: &str) -> String {
    match crate::clock::parse_sqlite_time(text) {
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
        table,
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
    let data = Data::load(file, Some(&sync_id), false, false)?;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    counts.insert("resource_types".into(), data.types.len());
    counts.insert(
        "entitlements".into(),
        file.data_blobs(DbTable::Entitlements, Some(&sync_id))?
            .len(),
    );
    counts.insert(
        "grants".into(),
        file.data_blobs(DbTable::Grants, Some(&sync_id))?.len(),
    );
    for rt in &data.types {
        counts.entry(rt.id.clone()).or_insert(0);
    }
    for r in &data.resources {
        *counts.entry(type_of(r).to_owned()).or_insert(0) += 1;
    }
    let mut table = Table::new(&["Type", "Count"]);
    let mut obj = Obj::new();
    for (name, count) in &counts {
        table.row(vec![name.clone(), count.to_string()]);
        obj = obj.field(name, Json::Num(count.to_string()));
    }
    Ok(View {
        table,
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
        table,
        json: doc.build(),
    })
}
