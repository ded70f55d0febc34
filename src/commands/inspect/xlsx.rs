//! `export xlsx`: an access-review workbook of one sync. Sheet `Grants` has one row per grant with the
//! columns of `export-csv` (those of the `baton` CLI's `export csv` and `export xlsx`); sheet
//! `Principals` one row per principal holding a grant (its type, name, id, status and e-mail, and how
//! many grants it holds). Each sheet has a bold, frozen header row and an autofilter over its rows.
//!
//! Cells are written as strings, which a spreadsheet never runs as formulas, so no value is altered
//! (the CSV export needs a leading `'` for that). The workbook's creation time is the sync's end (else
//! start), so the same sync always gives the same bytes.

use super::data::Data;
use super::export::{for_each_grant_row, selected_sync, CSV_COLUMNS};
use anyhow::Context;
use baton_c1z::reader::C1zFile;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};
use std::collections::BTreeMap;

/// The sheet of grants.
pub const GRANTS_SHEET: &str = "Grants";
/// The sheet of principals.
pub const PRINCIPALS_SHEET: &str = "Principals";
/// The columns of the principals sheet.
pub const PRINCIPAL_COLUMNS: [&str; 7] = [
    "Type",
    "Last Name",
    "First Name",
    "User ID",
    "User Status",
    "Email Address",
    "Grants",
];

/// The workbook of the sync a list view reads (`sync_id`, else Baton's pick), as xlsx bytes.
pub fn export_xlsx(file: &C1zFile, sync_id: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let selected = selected_sync(file, sync_id)?;
    let run = match &selected {
        Some(id) => file.sync_runs()?.into_iter().find(|r| &r.sync_id == id),
        None => None,
    };
    let data = Data::load_small(file, selected.as_deref())?;
    let mut grants = Vec::new();
    for_each_grant_row(file, selected.as_deref(), &data, |row| {
        grants.push(row);
        Ok(())
    })?;
    // Principals in the order of their first grant, with their grant counts.
    let mut principals: Vec<(&[String; 12], u64)> = Vec::new();
    let mut index: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for row in &grants {
        let k = (row[0].as_str(), row[3].as_str());
        match index.get(&k) {
            Some(&i) => principals[i].1 += 1,
            None => {
                index.insert(k, principals.len());
                principals.push((row, 1));
            }
        }
    }
    let created = run
        .as_ref()
        .and_then(|r| r.ended_at.as_deref().or(Some(r.started_at.as_str())))
        .and_then(excel_time);
    workbook(&grants, &principals, created).context("cannot build the workbook")
}

/// Baton's stored time text (`YYYY-MM-DD HH:MM:SS[.f]`) as a workbook time, to the second.
fn excel_time(text: &str) -> Option<ExcelDateTime> {
    let at = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()?;
    use chrono::{Datelike, Timelike};
    let date = ExcelDateTime::from_ymd(
        u16::try_from(at.year()).ok()?,
        u8::try_from(at.month()).ok()?,
        u8::try_from(at.day()).ok()?,
    )
    .ok()?;
    date.and_hms(
        u16::try_from(at.hour()).ok()?,
        u8::try_from(at.minute()).ok()?,
        at.second(),
    )
    .ok()
}

fn workbook(
    grants: &[[String; 12]],
    principals: &[(&[String; 12], u64)],
    created: Option<ExcelDateTime>,
) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let created = match created {
        Some(at) => at,
        None => ExcelDateTime::from_ymd(1980, 1, 1)?,
    };
    workbook.set_properties(
        &DocProperties::new()
            .set_title("Access review")
            .set_creation_datetime(&created),
    );
    let bold = Format::new().set_bold();
    let sheet = workbook.add_worksheet();
    sheet.set_name(GRANTS_SHEET)?;
    header(sheet, &CSV_COLUMNS, &bold)?;
    for (r, row) in grants.iter().enumerate() {
        let r = row_number(r)?;
        for (c, value) in row.iter().enumerate() {
            sheet.write_string(r, col_number(c)?, value)?;
        }
    }
    finish(sheet, grants.len(), CSV_COLUMNS.len())?;

    let sheet = workbook.add_worksheet();
    sheet.set_name(PRINCIPALS_SHEET)?;
    header(sheet, &PRINCIPAL_COLUMNS, &bold)?;
    for (r, (row, count)) in principals.iter().enumerate() {
        let r = row_number(r)?;
        for c in 0..6 {
            sheet.write_string(r, col_number(c)?, &row[c])?;
        }
        sheet.write_number(r, 6, *count as f64)?;
    }
    finish(sheet, principals.len(), PRINCIPAL_COLUMNS.len())?;
    workbook.save_to_buffer()
}

/// Row `i` of the data (the header is row 0).
fn row_number(i: usize) -> Result<u32, XlsxError> {
    u32::try_from(i + 1).map_err(|_| XlsxError::RowColumnLimitError)
}

fn col_number(i: usize) -> Result<u16, XlsxError> {
    u16::try_from(i).map_err(|_| XlsxError::RowColumnLimitError)
}

fn header(sheet: &mut Worksheet, columns: &[&str], bold: &Format) -> Result<(), XlsxError> {
    for (c, name) in columns.iter().enumerate() {
        sheet.write_string_with_format(0, col_number(c)?, *name, bold)?;
    }
    Ok(())
}

/// Freezes the header row and puts an autofilter over the header and the `rows` data rows.
fn finish(sheet: &mut Worksheet, rows: usize, columns: usize) -> Result<(), XlsxError> {
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, row_number(rows)? - 1, col_number(columns - 1)?)?;
    sheet.autofit();
    Ok(())
}
