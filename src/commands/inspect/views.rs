//! The list views (resource types, resources, entitlements, grants), `syncs` and `stats`, as a console
//! table and a protojson document.

use super::data::{
    address, for_each_grant, name_or, require_sync, type_of, Data, GrantFilter, Resources,
};
use super::view::{Console, View};
use crate::output::{Table, Widths};
use anyhow::{bail, Context};
use baton_c1z::proto;
use baton_c1z::protojson::{self, Json, Obj};
use baton_c1z::reader::{C1zFile, RowFilter, SyncRun, Table as DbTable};
use prost::Message;
use std::collections::BTreeMap;
use std::io::Write;

pub(super) fn resource_types(data: &Data, json: bool) -> View {
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

/// `resources`: the resources of `resource_type` (all without it), streamed from the file (by row id)
/// and written as they are rendered, their parents looked up by id; `data` gives the types.
pub(super) fn write_resources(
    file: &C1zFile,
    sync_id: Option<&str>,
    data: &Data,
    resource_type: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let types = data.type_index();
    let lookup = Resources::new(file, sync_id);
    let rows = RowFilter {
        resource_type_id: resource_type,
        ..RowFilter::default()
    };
    let each = |visit: &mut dyn FnMut(Vec<String>, Option<Json>) -> anyhow::Result<()>| {
        let mut n = 0usize;
        file.for_each_blob(DbTable::Resources, sync_id, &rows, |bytes| {
            n += 1;
            let r = proto::Resource::decode(bytes)
                .with_context(|| format!("v1_resources: selected row {n} does not decode"))?;
            if resource_type.is_some_and(|t| t != type_of(&r)) {
                return Ok(());
            }
            let parent = r
                .parent_resource_id
                .as_ref()
                .map(|pid| lookup.get(pid))
                .transpose()?
                .flatten();
            let (cells, item) = resource_row(&types, &r, parent.as_deref(), json);
            visit(cells, item)
        })
    };
    write_rows("resources", &RESOURCE_COLUMNS, each, json, out)
}

/// The columns of a resource table.
pub(super) const RESOURCE_COLUMNS: [&str; 4] =
    ["ID", "Display Name", "Resource Type", "Parent Resource"];

/// The cells of a resource's table row and, with `json`, its `{"resource","resourceType","parent"}`
/// item; `parent` is the stored resource its parent id names, if any.
pub(super) fn resource_row(
    types: &BTreeMap<&str, &proto::ResourceType>,
    r: &proto::Resource,
    parent: Option<&proto::Resource>,
    json: bool,
) -> (Vec<String>, Option<Json>) {
    let type_id = type_of(r);
    let rt = types.get(type_id).copied();
    let parent_text = match r.parent_resource_id.as_ref() {
        None => "-".to_owned(),
        Some(pid) => format!(
            "{} ({})",
            parent.map_or(pid.resource.as_str(), |p| name_or(
                &p.display_name,
                &pid.resource
            )),
            pid.resource_type
        ),
    };
    let id = r.id.as_ref().map_or("", |id| id.resource.as_str());
    let cells = vec![
        id.to_owned(),
        r.display_name.clone(),
        rt.map_or(type_id, |t| name_or(&t.display_name, type_id))
            .to_owned(),
        parent_text,
    ];
    let item = json.then(|| {
        Obj::new()
            .field("resource", protojson::resource(r))
            .msg("resourceType", rt.map(protojson::resource_type))
            .msg(
                "parent",
                r.parent_resource_id
                    .as_ref()
                    .and(parent)
                    .map(protojson::resource),
            )
            .build()
    });
    (cells, item)
}

/// The columns of the entitlements table.
const ENTITLEMENT_COLUMNS: [&str; 5] = [
    "ID",
    "Display Name",
    "Resource Type",
    "Resource",
    "Permission",
];

/// `entitlements`: those of resources of `resource_type` (all without it), written as they are rendered:
/// the table in two passes (widths, then rows), or the `{"entitlements":[…]}` document an item at a time.
pub(super) fn write_entitlements(
    file: &C1zFile,
    sync_id: Option<&str>,
    data: &Data,
    resource_type: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let types = data.type_index();
    let lookup = Resources::new(file, sync_id);
    let each = |visit: &mut dyn FnMut(Vec<String>, Option<Json>) -> anyhow::Result<()>| {
        for e in &data.entitlements {
            let embedded = e.resource.as_ref();
            let rid = embedded.and_then(|r| r.id.as_ref());
            let type_id = rid.map_or("", |id| id.resource_type.as_str());
            if resource_type.is_some_and(|t| t != type_id) {
                continue;
            }
            let stored = rid.map(|id| lookup.get(id)).transpose()?.flatten();
            let resource = stored.as_deref().or(embedded);
            let rt = types.get(type_id).copied();
            let cells = vec![
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
            ];
            let item = json.then(|| {
                Obj::new()
                    .field("entitlement", protojson::entitlement(e))
                    .msg("resource", resource.map(protojson::resource))
                    .msg("resourceType", rt.map(protojson::resource_type))
                    .build()
            });
            visit(cells, item)?;
        }
        Ok(())
    };
    write_rows("entitlements", &ENTITLEMENT_COLUMNS, each, json, out)
}

/// The grant cells of the console table.
const GRANT_COLUMNS: [&str; 5] = [
    "ID",
    "Resource Type",
    "Resource",
    "Entitlement",
    "Principal",
];

/// `grants`: the grants `filter` selects, streamed from the file as they are written (the small tables,
/// `data`, give the names): the console table in two passes (column widths, then the rows), or the
/// `{"grants":[…]}` document one grant at a time.
pub(super) fn write_grants(
    file: &C1zFile,
    sync_id: Option<&str>,
    data: &Data,
    filter: &GrantFilter<'_>,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let types = data.type_index();
    let resources = Resources::new(file, sync_id);
    let entitlements: BTreeMap<&str, &proto::Entitlement> = data
        .entitlements
        .iter()
        .map(|e| (e.id.as_str(), e))
        .collect();
    let cells = |g: &proto::Grant| -> anyhow::Result<[String; 5]> {
        let embedded = g.entitlement.as_ref();
        let ent_id = embedded.map_or("", |e| e.id.as_str());
        let rid = embedded
            .and_then(|e| e.resource.as_ref())
            .and_then(|r| r.id.as_ref());
        let type_id = rid.map_or("", |id| id.resource_type.as_str());
        let resource_id = rid.map_or("", |id| id.resource.as_str());
        let entitlement = entitlements.get(ent_id).copied().or(embedded);
        let stored = rid.map(|id| resources.get(id)).transpose()?.flatten();
        let resource = stored
            .as_deref()
            .or(embedded.and_then(|e| e.resource.as_ref()));
        let rt = types.get(type_id).copied();
        let pid = g.principal.as_ref().and_then(|p| p.id.as_ref());
        let stored_principal = pid.map(|id| resources.get(id)).transpose()?.flatten();
        let principal = stored_principal.as_deref().or(g.principal.as_ref());
        Ok([
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
        ])
    };
    if !json {
        let mut widths = Widths::new(&GRANT_COLUMNS);
        for_each_grant(file, sync_id, filter, None, |g| {
            widths.add(&cells(&g)?);
            Ok(())
        })?;
        widths.write_row(&GRANT_COLUMNS, out)?;
        return for_each_grant(file, sync_id, filter, None, |g| {
            widths.write_row(&cells(&g)?, out)?;
            Ok(())
        });
    }
    // Entitlements and types repeat across grants: render each object of `data` once, keyed by its
    // address (they live in `data` for the whole walk); the resources are rendered once while their
    // lookup caches them, and those a grant embeds are rendered with it.
    let mut cache: BTreeMap<usize, Json> = BTreeMap::new();
    let mut cached = |address: usize, render: &dyn Fn() -> Json| -> Json {
        cache
            .entry(address)
            .or_insert_with(|| Json::Raw(render().to_text().into()))
            .clone()
    };
    let mut list = JsonList::new("grants");
    for_each_grant(file, sync_id, filter, None, |g| {
        let embedded = g.entitlement.as_ref();
        let ent_id = embedded.map_or("", |e| e.id.as_str());
        let embedded_resource = embedded.and_then(|e| e.resource.as_ref());
        let rid = embedded_resource.and_then(|r| r.id.as_ref());
        let type_id = rid.map_or("", |id| id.resource_type.as_str());
        let entitlement = match entitlements.get(ent_id).copied() {
            Some(e) => Some(cached(address(e), &|| protojson::entitlement(e))),
            None => embedded.map(protojson::entitlement),
        };
        let resource = match rid.map(|id| resources.json(id)).transpose()?.flatten() {
            Some(json) => Some(json),
            None => embedded_resource.map(protojson::resource),
        };
        let rt = types
            .get(type_id)
            .copied()
            .map(|t| cached(address(t), &|| protojson::resource_type(t)));
        let pid = g.principal.as_ref().and_then(|p| p.id.as_ref());
        let principal = match pid.map(|id| resources.json(id)).transpose()?.flatten() {
            Some(json) => Some(json),
            None => g.principal.as_ref().map(protojson::resource),
        };
        let item = Obj::new()
            .field("grant", protojson::grant(&g))
            .msg("entitlement", entitlement)
            .msg("resource", resource)
            .msg("resourceType", rt)
            .msg("principal", principal)
            .build();
        list.item(&item, out)
    })?;
    list.finish(out)
}

/// A one-list document `{"<key>":[…]}` written one item at a time, as [`Obj::list`] renders it: `{}` when
/// it has no item.
pub(super) struct JsonList {
    key: &'static str,
    items: usize,
}

impl JsonList {
    pub(super) fn new(key: &'static str) -> JsonList {
        JsonList { key, items: 0 }
    }

    /// Writes the next item (after the document's opening, for the first).
    pub(super) fn item(&mut self, item: &Json, out: &mut dyn Write) -> anyhow::Result<()> {
        if self.items == 0 {
            out.write_all(b"{")?;
            Json::Str(self.key.to_owned()).write_to(out)?;
            out.write_all(b":[")?;
        } else {
            out.write_all(b",")?;
        }
        self.items += 1;
        item.write_to(out)?;
        Ok(())
    }

    /// Closes the document.
    pub(super) fn finish(self, out: &mut dyn Write) -> anyhow::Result<()> {
        out.write_all(if self.items == 0 { b"{}" } else { b"]}" })?;
        Ok(())
    }
}

/// A document of several lists `{"<key>":[…],…}` written one item at a time, as [`Obj::list`] renders
/// each (an empty list is left out; `{}` when every list is empty).
pub(super) struct JsonLists {
    key: &'static str,
    lists: usize,
    items: usize,
}

impl JsonLists {
    pub(super) fn new() -> JsonLists {
        JsonLists {
            key: "",
            lists: 0,
            items: 0,
        }
    }

    /// Ends the current list, if any, and starts the list `key`.
    pub(super) fn list(&mut self, key: &'static str, out: &mut dyn Write) -> anyhow::Result<()> {
        self.end_list(out)?;
        self.key = key;
        Ok(())
    }

    fn end_list(&mut self, out: &mut dyn Write) -> anyhow::Result<()> {
        if self.items > 0 {
            out.write_all(b"]")?;
            self.items = 0;
        }
        Ok(())
    }

    /// Writes the next item of the current list (after the list's key, for the first).
    pub(super) fn item(&mut self, item: &Json, out: &mut dyn Write) -> anyhow::Result<()> {
        if self.items == 0 {
            out.write_all(if self.lists == 0 { b"{" } else { b"," })?;
            Json::Str(self.key.to_owned()).write_to(out)?;
            out.write_all(b":[")?;
            self.lists += 1;
        } else {
            out.write_all(b",")?;
        }
        self.items += 1;
        item.write_to(out)?;
        Ok(())
    }

    /// Closes the document.
    pub(super) fn finish(mut self, out: &mut dyn Write) -> anyhow::Result<()> {
        self.end_list(out)?;
        out.write_all(if self.lists == 0 { b"{}" } else { b"}" })?;
        Ok(())
    }
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

pub(super) fn syncs(runs: &[SyncRun]) -> View {
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

pub(super) fn stats(file: &C1zFile, sync_id: Option<&str>) -> anyhow::Result<View> {
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

/// Writes the rows `each` renders (to a visitor taking the console cells and, for JSON, the item): as
/// one JSON document `{"<key>": [...]}` an item at a time, or as a
/// console table in two passes (the column widths, then the rows), so no view holds its rows.
pub(super) fn write_rows(
    key: &'static str,
    columns: &[&str],
    each: impl Fn(&mut dyn FnMut(Vec<String>, Option<Json>) -> anyhow::Result<()>) -> anyhow::Result<()>,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if json {
        let mut list = JsonList::new(key);
        each(&mut |_, item| match item {
            Some(item) => list.item(&item, out),
            None => Ok(()),
        })?;
        return list.finish(out);
    }
    let mut widths = Widths::new(columns);
    each(&mut |cells, _| {
        widths.add(&cells);
        Ok(())
    })?;
    widths.write_row(columns, out)?;
    each(&mut |cells, _| {
        widths.write_row(&cells, out)?;
        Ok(())
    })
}
