//! `diff`: what was added, removed and changed between the two newest finished full syncs, by kind of
//! object, compared as canonical protojson text.

use super::data::decode_all;
use super::view::{Console, View};
use crate::output::Table;
use anyhow::bail;
use baton_c1z::proto;
use baton_c1z::protojson::{self, Json, Obj};
use baton_c1z::reader::{C1zFile, Table as DbTable};
use prost::Message;
use std::collections::BTreeMap;

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

pub(super) fn diff(file: &C1zFile) -> anyhow::Result<View> {
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
