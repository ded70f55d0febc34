//! Command output on stdout: aligned console tables, and writing that ends quietly when the reader of a
//! pipe goes away (`| head`); and output files replaced as a whole.

use anyhow::Context;
use std::io::{ErrorKind, Write};
use std::path::Path;

/// A console table: a header row, then data rows; columns are padded to their widest cell and separated
/// by ` | `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(header: &[&str]) -> Table {
        Table {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Adds a row (missing cells are empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len() - 1
    }

    /// Whether the table has no data rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The table as text, one line per row, each ending in a newline; no trailing spaces.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Writing into memory cannot fail.
        let _ = self.write_to(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Writes the table to `out` line by line.
    pub fn write_to(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut widths = Widths::default();
        for row in &self.rows {
            widths.add(row);
        }
        for row in &self.rows {
            widths.write_row(row, out)?;
        }
        Ok(())
    }
}

/// The column widths of a console table written in two passes over its rows (each pass streaming): the
/// first [`Widths::add`]s every row, the second writes each with [`Widths::write_row`], as [`Table`] lays
/// them out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Widths(Vec<usize>);

impl Widths {
    /// The widths of a table with these column headers.
    pub fn new(header: &[&str]) -> Widths {
        let mut widths = Widths::default();
        widths.add(header);
        widths
    }

    /// Widens the columns to fit this row.
    pub fn add<S: AsRef<str>>(&mut self, cells: &[S]) {
        if self.0.len() < cells.len() {
            self.0.resize(cells.len(), 0);
        }
        for (width, cell) in self.0.iter_mut().zip(cells) {
            *width = (*width).max(cell.as_ref().chars().count());
        }
    }

    /// Writes one row padded to these widths (missing cells are empty), with no trailing spaces.
    pub fn write_row<S: AsRef<str>>(
        &self,
        cells: &[S],
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let mut line = String::new();
        for (i, width) in self.0.iter().enumerate() {
            if i > 0 {
                line.push_str(" | ");
            }
            let cell = cells.get(i).map_or("", AsRef::as_ref);
            line.push_str(cell);
            let pad = width.saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.write_all(line.trim_end().as_bytes())?;
        out.write_all(b"\n")
    }
}

/// Writes `text` to stdout. A closed pipe is not an error: the reader has what it wanted.
pub fn print(text: &str) -> anyhow::Result<()> {
    print_with(|out| out.write_all(text.as_bytes()))
}

/// Lets `write` write to a buffered stdout, then flushes it. A closed pipe is not an error.
pub fn print_with(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> anyhow::Result<()> {
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match write(&mut stdout).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// Lets `write` write to a buffered stdout, then flushes it; for output that fails for other reasons than
/// writing (such as a row that does not decode) while it goes. A closed pipe is not an error.
pub fn print_streaming(
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let result = write(&mut stdout).and_then(|()| {
        stdout.flush()?;
        Ok(())
    });
    match result {
        Err(e)
            if e.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
        Ok(()) => Ok(()),
    }
}

/// Writes `target` as a whole with what `write` writes (buffered), as [`write_file`] does.
pub fn write_file_with(
    target: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    baton_c1z::atomic_file::replace(target, |file| {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
        write(&mut out)?;
        out.flush()?;
        Ok(())
    })?;
    Ok(())
}

/// Writes `bytes` to `target` as a whole: into a temp file beside it (removed on error or interruption),
/// then renamed over it, so that `target` is either its old self or complete. A new file gets the usual
/// permissions (read/write for everyone minus the umask); a replaced one keeps its own.
pub fn write_file(target: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    baton_c1z::atomic_file::replace(target, |file| {
        file.write_all(bytes)?;
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_by_characters() {
        let mut t = Table::new(&["ID", "Name"]);
        t.row(vec!["a".into(), "Zoë".into()]);
        t.row(vec!["long-id".into(), String::new()]);
        assert_eq!(t.len(), 2);
        assert_eq!(t.render(), "ID      | Name\na       | Zoë\nlong-id |\n");
        assert!(Table::new(&["x"]).is_empty());
    }

    #[test]
    fn write_file_replaces_the_target_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.csv");
        write_file(&target, b"one\n").expect("write");
        write_file(&target, b"two\n").expect("replace");
        assert_eq!(std::fs::read(&target).expect("read"), b"two\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["out.csv"]);
        // A target in a missing folder fails with its path, creating nothing.
        let err = write_file(&dir.path().join("missing/out.csv"), b"x").expect_err("fails");
        assert!(format!("{err:#}").contains("missing"), "{err:#}");
    }
}
