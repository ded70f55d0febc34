//! What a view renders to: a console table or text, and a protojson document, written in the format
//! asked for.

use crate::cli::OutputFormat;
use crate::output::Table;
use baton_c1z::protojson::Json;

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
