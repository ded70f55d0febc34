//! CSV text as spreadsheets read it: RFC 4180 quoting with `\n` line ends, and a guard against formula
//! injection.
//!
//! Names and e-mail addresses come from identity providers, so a value such as `=HYPERLINK(…)` would be
//! run as a formula when the file is opened in a spreadsheet. A field starting with `=`, `+`, `-`, `@`, a
//! tab or a carriage return therefore gets a leading `'`, which spreadsheets read as "this is text".

/// Characters that make a spreadsheet read a cell as a formula when they come first.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Appends one record: the fields guarded, quoted where needed, separated by `,`, ending in `\n`.
pub fn push_record<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(out, field.as_ref());
    }
    out.push('\n');
}

/// Appends one field: `'` first if it could start a formula, then quoted (quotes doubled) if it holds a
/// `,`, a `"`, a carriage return or a line feed.
fn push_field(out: &mut String, field: &str) {
    let guard = field.starts_with(FORMULA_STARTS);
    let quote = field.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
    }
    if guard {
        out.push('\'');
    }
    if quote {
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &[&str]) -> String {
        let mut out = String::new();
        push_record(&mut out, fields);
        out
    }

    #[test]
    fn plain_fields_are_left_alone() {
        assert_eq!(record(&["a", "", "Zoë Ünal", "x'y"]), "a,,Zoë Ünal,x'y\n");
    }

    #[test]
    fn separators_quotes_and_line_breaks_are_quoted() {
        assert_eq!(
            record(&["Smith, \"Jo\"", "two\nlines", "cr\rhere", "ok"]),
            "\"Smith, \"\"Jo\"\"\",\"two\nlines\",\"cr\rhere\",ok\n"
        );
    }

    #[test]
    fn formula_starts_get_a_leading_apostrophe() {
        assert_eq!(
            record(&["=1+1", "+x", "-2", "@SUM(A1)", "\tx", "a=b"]),
            "'=1+1,'+x,'-2,'@SUM(A1),'\tx,a=b\n"
        );
        // Guarded and quoted: the apostrophe goes inside the quotes.
        assert_eq!(
            record(&["=HYPERLINK(\"http://x\",\"y\")", "\rz"]),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",\"'\rz\"\n"
        );
    }
}
