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
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut line = String::new();
        for row in &self.rows {
            line.clear();
            for (i, width) in widths.iter().enumerate() {
                if i > 0 {
                    line.push_str(" | ");
                }
                let cell = row.get(i).map(String::as_str).unwrap_or("");
                line.push_str(cell);
                let pad = width - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
            out.write_all(line.trim_end().as_bytes())?;
            out.write_all(b"\n")?;
        }
        Ok(())
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
