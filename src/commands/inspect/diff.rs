//! `diff`: what was added, removed and changed between the two newest finished full syncs, by kind of
//! object, compared as canonical protojson text.
//!
//! Each kind is an ordered merge of the two syncs' rows read in `external_id` order, so that neither sync
//! is held in memory: the changes found are spilled to temp files (one per kind of change, as the output
//! groups them), then copied to the output.

use crate::output::Widths;
use anyhow::{bail, Context};
use baton_c1z::proto;
use baton_c1z::protojson::{self, Json};
use baton_c1z::reader::{C1zFile, KeyedBlobs, Table as DbTable};
use prost::Message;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};

/// The columns of the console table.
const COLUMNS: [&str; 3] = ["Object", "Change", "ID"];
/// The kinds of change, in output order.
const CHANGES: [&str; 3] = ["created", "deleted", "modified"];

/// The changes of one kind of object found by the merge: per kind of change, a temp file of records
/// (the id for the console, the JSON text for a document), each a little-endian u64 length and its bytes.
struct Spill {
    files: [BufWriter<File>; 3],
    counts: [u64; 3],
}

impl Spill {
    fn new() -> anyhow::Result<Spill> {
        let file = || -> anyhow::Result<BufWriter<File>> {
            Ok(BufWriter::new(
                tempfile::tempfile().context("create a temp file for the diff")?,
            ))
        };
        Ok(Spill {
            files: [file()?, file()?, file()?],
            counts: [0; 3],
        })
    }

    fn push(&mut self, change: usize, record: &str) -> anyhow::Result<()> {
        let out = &mut self.files[change];
        out.write_all(&(record.len() as u64).to_le_bytes())?;
        out.write_all(record.as_bytes())?;
        self.counts[change] += 1;
        Ok(())
    }

    /// Calls `visit` with each record of one kind of change, in the order they were pushed.
    fn replay(
        &mut self,
        change: usize,
        mut visit: impl FnMut(&str) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let out = &mut self.files[change];
        out.flush().context("write the diff's temp file")?;
        let file = out.get_mut();
        file.rewind().context("read the diff's temp file")?;
        let mut input = BufReader::new(&*file);
        let mut record = Vec::new();
        for _ in 0..self.counts[change] {
            let mut len = [0u8; 8];
            input
                .read_exact(&mut len)
                .context("read the diff's temp file")?;
            let len = usize::try_from(u64::from_le_bytes(len)).context("a diff record's length")?;
            record.resize(len, 0);
            input
                .read_exact(&mut record)
                .context("read the diff's temp file")?;
            visit(std::str::from_utf8(&record).context("a diff record is not UTF-8")?)?;
        }
        Ok(())
    }
}

/// One kind of object: its table, its id and its JSON.
struct Kind<M> {
    plural: &'static str,
    singular: &'static str,
    table: DbTable,
    id: fn(&M) -> String,
    render: fn(&M) -> Json,
}

/// The next row of a sync, decoded: its external id, the object's id and its canonical JSON text.
fn next<M: Message + Default>(
    rows: &mut KeyedBlobs<'_>,
    kind: &Kind<M>,
) -> anyhow::Result<Option<(String, String, String)>> {
    let Some((external_id, bytes)) = rows.next_row()? else {
        return Ok(None);
    };
    let m = M::decode(bytes.as_slice())
        .with_context(|| format!("{}: row {external_id:?} does not decode", kind.table.name()))?;
    Ok(Some((
        external_id,
        (kind.id)(&m),
        (kind.render)(&m).to_text(),
    )))
}

/// Merges the two syncs' rows of one kind in `external_id` order into `spill`: the id of each change
/// (`json` false) or its JSON (the new object, or the old one for a deletion).
fn merge<M: Message + Default>(
    file: &C1zFile,
    kind: &Kind<M>,
    old: &str,
    new: &str,
    json: bool,
    spill: &mut Spill,
) -> anyhow::Result<()> {
    let mut old_rows = file.blobs_by_external_id(kind.table, old);
    let mut new_rows = file.blobs_by_external_id(kind.table, new);
    let mut before = next(&mut old_rows, kind)?;
    let mut after = next(&mut new_rows, kind)?;
    let mut push = |change: usize, id: &str, text: &str| -> anyhow::Result<()> {
        spill.push(change, if json { text } else { id })
    };
    loop {
        match (&before, &after) {
            (None, None) => return Ok(()),
            (Some((old_key, old_id, old_text)), Some((new_key, new_id, new_text))) => {
                match old_key.cmp(new_key) {
                    std::cmp::Ordering::Less => {
                        push(1, old_id, old_text)?;
                        before = next(&mut old_rows, kind)?;
                    }
                    std::cmp::Ordering::Greater => {
                        push(0, new_id, new_text)?;
                        after = next(&mut new_rows, kind)?;
                    }
                    std::cmp::Ordering::Equal => {
                        if old_text != new_text {
                            push(2, new_id, new_text)?;
                        }
                        before = next(&mut old_rows, kind)?;
                        after = next(&mut new_rows, kind)?;
                    }
                }
            }
            (Some((_, old_id, old_text)), None) => {
                push(1, old_id, old_text)?;
                before = next(&mut old_rows, kind)?;
            }
            (None, Some((_, new_id, new_text))) => {
                push(0, new_id, new_text)?;
                after = next(&mut new_rows, kind)?;
            }
        }
    }
}

/// `diff`, written to `out`: the console table (`Object | Change | ID`), or the document
/// `{"resources":{"created":[…],"deleted":[…],"modified":[…]},"entitlements":{…},"grants":{…}}` (empty
/// lists left out).
pub(super) fn write_diff(file: &C1zFile, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let runs = file.finished_full_syncs()?;
    let (new, old) = match runs.as_slice() {
        [] => bail!("no syncs found - cannot diff (the file has no finished full sync)"),
        [_] => bail!("cannot diff single sync run (the file has one finished full sync)"),
        [new, old, ..] => (new.sync_id.as_str(), old.sync_id.as_str()),
    };
    let resources = Kind {
        plural: "resources",
        singular: "resource",
        table: DbTable::Resources,
        id: |r: &proto::Resource| {
            r.id.as_ref().map_or(String::new(), |id| {
                format!("{}:{}", id.resource_type, id.resource)
            })
        },
        render: protojson::resource,
    };
    let entitlements = Kind {
        plural: "entitlements",
        singular: "entitlement",
        table: DbTable::Entitlements,
        id: |e: &proto::Entitlement| e.id.clone(),
        render: protojson::entitlement,
    };
    let grants = Kind {
        plural: "grants",
        singular: "grant",
        table: DbTable::Grants,
        id: |g: &proto::Grant| g.id.clone(),
        render: protojson::grant,
    };
    let mut spills = Vec::with_capacity(3);
    let mut add = |plural: &'static str, singular: &'static str, spill: Spill| {
        spills.push((plural, singular, spill));
    };
    let mut spill = Spill::new()?;
    merge(file, &resources, old, new, json, &mut spill)?;
    add(resources.plural, resources.singular, spill);
    let mut spill = Spill::new()?;
    merge(file, &entitlements, old, new, json, &mut spill)?;
    add(entitlements.plural, entitlements.singular, spill);
    let mut spill = Spill::new()?;
    merge(file, &grants, old, new, json, &mut spill)?;
    add(grants.plural, grants.singular, spill);

    if json {
        out.write_all(b"{")?;
        for (k, (plural, _, spill)) in spills.iter_mut().enumerate() {
            if k > 0 {
                out.write_all(b",")?;
            }
            Json::Str((*plural).to_owned()).write_to(out)?;
            out.write_all(b":{")?;
            let mut lists = 0;
            for (c, change) in CHANGES.iter().enumerate() {
                if spill.counts[c] == 0 {
                    continue;
                }
                if lists > 0 {
                    out.write_all(b",")?;
                }
                lists += 1;
                Json::Str((*change).to_owned()).write_to(out)?;
                out.write_all(b":[")?;
                let mut first = true;
                spill.replay(c, |text| {
                    if !first {
                        out.write_all(b",")?;
                    }
                    first = false;
                    out.write_all(text.as_bytes())?;
                    Ok(())
                })?;
                out.write_all(b"]")?;
            }
            out.write_all(b"}")?;
        }
        out.write_all(b"}")?;
        return Ok(());
    }
    let mut widths = Widths::new(&COLUMNS);
    for (_, singular, spill) in &mut spills {
        for (c, change) in CHANGES.iter().enumerate() {
            spill.replay(c, |id| {
                widths.add(&[*singular, change, id]);
                Ok(())
            })?;
        }
    }
    widths.write_row(&COLUMNS, out)?;
    for (_, singular, spill) in &mut spills {
        for (c, change) in CHANGES.iter().enumerate() {
            spill.replay(c, |id| {
                widths.write_row(&[*singular, change, id], out)?;
                Ok(())
            })?;
        }
    }
    Ok(())
}
