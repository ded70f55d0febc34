//! `inspect`: shows what a `.c1z` file holds, in the views the `baton` CLI offers (stats, resource types,
//! resources, entitlements, grants, principals, one principal's effective access, syncs, diff): an
//! aligned console table (a tree for `access`), or one compact protojson document. `principals compare`
//! compares the holders of two entitlements, in two files. `export-csv` (and `export csv`) writes every
//! grant as one CSV row for access reviews, `export xlsx` an access-review workbook, `export c1z` one
//! sync in its own file.
//!
//! List views read the sync Baton's readers pick (the newest finished full sync, else a recent unfinished
//! one, else every row), or `--sync-id`. `stats` reads the newest finished sync of any type, and `diff`
//! compares the two newest finished full syncs. The file is decompressed into a private temp copy and never
//! written.
//! The views that can be large (grants, resources, entitlements, principals, principals compare, diff,
//! export-csv) write their output as they read the rows, so that their memory does not grow with the
//! file (`principals compare` keeps a few fields of each holder of the two entitlements).
//!
//! One file per job: this one picks the view and prints it; `views` renders the list views, `syncs` and
//! `stats`; `access` the principals and one principal's access; `diff` the comparison of two syncs;
//! `compare` the comparison of two entitlements' holders; `export` the CSV rows; `xlsx` the workbook; `data` loads the records they share and `view` is what a view renders to.

mod access;
mod compare;
mod data;
mod diff;
mod export;
mod view;
mod views;
mod xlsx;

pub use export::{export_csv, write_csv, CSV_COLUMNS};
pub use view::{Console, View};
pub use xlsx::{export_xlsx, GRANTS_SHEET, PRINCIPALS_SHEET, PRINCIPAL_COLUMNS};

use crate::cli::{
    ExportFormat, GlobalArgs, InspectArgs, InspectView, OutputFormat, PrincipalsAction,
};
use crate::config::UsageError;
use crate::output;
use anyhow::{bail, Context};
use baton_c1z::reader::{C1zFile, DecodeLimits};
use data::{require_sync, Data, GrantFilter};

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
    if let InspectView::Export { format } = &args.view {
        if args.output == OutputFormat::Json {
            return Err(UsageError(
                "--output-format json does not apply to export: it writes CSV, xlsx or c1z".into(),
            )
            .into());
        }
        let limits = crate::config::decode_limits(global);
        let file = C1zFile::open(&global.file, &limits)?;
        let context = || format!("cannot export {}", global.file.display());
        return match format {
            ExportFormat::Csv { out } => {
                write_csv_to(&file, args, out.as_deref()).with_context(context)
            }
            ExportFormat::Xlsx { out } => {
                let bytes = export_xlsx(&file, args.sync_id.as_deref()).with_context(context)?;
                output::write_file(out, &bytes)
            }
            ExportFormat::C1z { out } => {
                let sync_id = match &args.sync_id {
                    Some(id) => id.clone(),
                    None => file
                        .default_sync()?
                        .filter(|run| run.ended_at.is_some())
                        .map(|run| run.sync_id)
                        .with_context(|| {
                            format!(
                                "{} has no finished full sync to export; name one with --sync-id",
                                global.file.display()
                            )
                        })?,
                };
                file.export_sync(&sync_id, out).with_context(context)?;
                Ok(())
            }
        };
    }
    if let InspectView::ExportCsv { out } = &args.view {
        if args.output == OutputFormat::Json {
            return Err(UsageError(
                "--output-format json does not apply to export-csv: it always writes CSV".into(),
            )
            .into());
        }
        let file = C1zFile::open(&global.file, &crate::config::decode_limits(global))?;
        return write_csv_to(&file, args, out.as_deref())
            .with_context(|| format!("cannot export {}", global.file.display()));
    }
    let limits = crate::config::decode_limits(global);
    let file = C1zFile::open(&global.file, &limits)?;
    if let Some(result) = stream(&file, args, limits, &mut |write| {
        output::print_streaming(write)
    }) {
        return result.with_context(|| format!("cannot inspect {}", global.file.display()));
    }
    let view = render(&file, args, limits)
        .with_context(|| format!("cannot inspect {}", global.file.display()))?;
    output::print_with(|out| view.write_to(args.output, out))
}

/// Renders the view `args` asks for.
pub fn render(file: &C1zFile, args: &InspectArgs, limits: DecodeLimits) -> anyhow::Result<View> {
    let json = args.output == OutputFormat::Json;
    match &args.view {
        InspectView::Stats => views::stats(file, args.sync_id.as_deref()),
        InspectView::ResourceTypes => {
            let data = Data::load_types(file, list_sync(file, args)?.as_deref())?;
            Ok(views::resource_types(&data, json))
        }
        InspectView::Resources { .. }
        | InspectView::Entitlements { .. }
        | InspectView::Grants { .. }
        | InspectView::Principals { .. } => {
            let mut text = Vec::new();
            let streamed = stream(file, args, limits, &mut |write| write(&mut text));
            streamed.unwrap_or_else(|| bail!("this view streams"))?;
            let text = String::from_utf8(text).context("the view is not UTF-8")?;
            Ok(View {
                console: Console::Text(text.clone()),
                json: baton_c1z::protojson::Json::Raw(text.into()),
            })
        }
        InspectView::Access {
            resource_type,
            resource,
        } => {
            // Only the principal's grants, found through the principal index.
            let sync = list_sync(file, args)?;
            let mut data = Data::load_small(file, sync.as_deref())?;
            let all = GrantFilter {
                resource_type: None,
                entitlement: None,
                resource: None,
            };
            let principal = Some((resource_type.as_str(), resource.as_str()));
            data::for_each_grant(file, sync.as_deref(), &all, principal, |g| {
                data.grants.push(g);
                Ok(())
            })?;
            let resources = data::Resources::new(file, sync.as_deref());
            access::access(&data, &resources, resource_type, resource, json)
        }
        InspectView::Syncs => Ok(views::syncs(&file.sync_runs()?)),
        InspectView::Diff => {
            if args.sync_id.is_some() {
                return Err(UsageError(
                    "--sync-id does not apply to diff: it compares the two newest finished full syncs"
                        .into(),
                )
                .into());
            }
            let mut text = Vec::new();
            diff::write_diff(file, json, &mut text)?;
            let text = String::from_utf8(text).context("the diff is not UTF-8")?;
            Ok(View {
                console: Console::Text(text.clone()),
                json: baton_c1z::protojson::Json::Raw(text.into()),
            })
        }
        InspectView::ExportCsv { .. } | InspectView::Export { .. } => {
            Err(UsageError("export writes a file, not a console or JSON view".into()).into())
        }
    }
}

/// Streams the CSV export to `out`, else to stdout.
fn write_csv_to(
    file: &C1zFile,
    args: &InspectArgs,
    out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let sync_id = args.sync_id.as_deref();
    match out {
        Some(path) => output::write_file_with(path, |w| write_csv(file, sync_id, w)),
        None => output::print_streaming(|w| write_csv(file, sync_id, w)),
    }
}

/// Where a streamed view writes: a function that runs the writer on the output.
type Sink<'a> = dyn FnMut(&mut dyn FnMut(&mut dyn std::io::Write) -> anyhow::Result<()>) -> anyhow::Result<()>
    + 'a;

/// Writes the views that stream their rows from the file as they read them (in the format `args` asks
/// for) through `sink`; `None` for the views that [`render`] builds. `limits` are those of the file that
/// `principals compare` compares with.
fn stream(
    file: &C1zFile,
    args: &InspectArgs,
    limits: DecodeLimits,
    sink: &mut Sink<'_>,
) -> Option<anyhow::Result<()>> {
    let json = args.output == OutputFormat::Json;
    match &args.view {
        InspectView::Grants {
            resource_type,
            entitlement,
            resource,
        } => Some((|| {
            let sync = list_sync(file, args)?;
            let data = Data::load_small(file, sync.as_deref())?;
            let filter = GrantFilter {
                resource_type: resource_type.as_deref(),
                entitlement: entitlement.as_deref(),
                resource: resource.as_deref(),
            };
            sink(&mut |out| views::write_grants(file, sync.as_deref(), &data, &filter, json, out))
        })()),
        InspectView::Resources { resource_type } => Some((|| {
            let sync = list_sync(file, args)?;
            let sync = sync.as_deref();
            let data = Data::load_small(file, sync)?;
            let resource_type = resource_type.as_deref();
            sink(&mut |out| views::write_resources(file, sync, &data, resource_type, json, out))
        })()),
        InspectView::Entitlements { resource_type } => Some((|| {
            let sync = list_sync(file, args)?;
            let sync = sync.as_deref();
            let data = Data::load_small(file, sync)?;
            let resource_type = resource_type.as_deref();
            sink(&mut |out| views::write_entitlements(file, sync, &data, resource_type, json, out))
        })()),
        InspectView::Principals {
            action: None,
            resource_type,
            entitlement,
            resource,
        } => Some((|| {
            let sync = list_sync(file, args)?;
            let sync = sync.as_deref();
            let data = Data::load_types(file, sync)?;
            let filter = GrantFilter {
                resource_type: resource_type.as_deref(),
                entitlement: entitlement.as_deref(),
                resource: resource.as_deref(),
            };
            sink(&mut |out| access::write_principals(file, sync, &data, &filter, json, out))
        })()),
        InspectView::Principals {
            action:
                Some(PrincipalsAction::Compare {
                    entitlement,
                    compare_file,
                    compare_entitlement,
                }),
            ..
        } => Some((|| {
            let sync = list_sync(file, args)?;
            let base = compare::Side::load(file, sync.as_deref(), entitlement)?;
            let other = C1zFile::open(compare_file, &limits).with_context(|| {
                format!("cannot read --compare-file {}", compare_file.display())
            })?;
            let other_sync = other.default_sync()?.map(|run| run.sync_id);
            let compared = compare::Side::load(&other, other_sync.as_deref(), compare_entitlement)?;
            sink(&mut |out| compare::write_compare(&base, &compared, json, out))
        })()),
        InspectView::Diff if args.sync_id.is_none() => {
            Some(sink(&mut |out| diff::write_diff(file, json, out)))
        }
        _ => None,
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
