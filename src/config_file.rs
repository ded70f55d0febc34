//! The config file: `key: value` lines naming flags, merged into the command line as it is parsed.
//!
//! The file is `./.baton.yaml` in the current directory (nothing happens when it is absent), or the file
//! named by `BATON_CONFIG_PATH`, which must end in `.yaml` or `.yml` and must exist. Each key is the long
//! name of a flag that has a `BATON_*` environment variable. A value becomes that flag's default when
//! its variable is not set (an empty variable counts as unset), so clap's usual resolution gives: flag
//! on the command line, then environment variable, then config file, then built-in default.
//!
//! Only the part of YAML a flat list of flags needs is read: `key: value` lines at column 0, comments,
//! blank lines, an optional leading `---`, plain, double-quoted and single-quoted scalars, and an empty
//! value, `~` or `null` for "not set". Anything else is an error naming the file and line, and so is a key
//! this program does not know. Values never appear in messages: they may be API keys.
//!
//! Nothing here reads the environment: the caller passes in `BATON_CONFIG_PATH` and says which variables
//! are set.

use crate::cli::{Cli, DeploymentPositions, FileDeployment};
use crate::config::UsageError;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use elastic_api::Secret;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The file read when `BATON_CONFIG_PATH` is not set.
pub const DEFAULT_PATH: &str = ".baton.yaml";

/// The variable naming another config file.
pub const PATH_ENV: &str = "BATON_CONFIG_PATH";

/// One `key: value` line of the file.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, a flag's long name.
    pub key: String,
    /// The value, or `None` for an empty value, `~` or `null`.
    pub value: Option<String>,
    /// The line number, from 1.
    pub line: usize,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The value may be a key: show only whether there is one.
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("set", &self.value.is_some())
            .field("line", &self.line)
            .finish()
    }
}

/// A config file that was found, read and checked: every key names a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// Where it was read from, as named.
    pub path: PathBuf,
    /// Its lines with a key, in order.
    pub entries: Vec<Entry>,
    /// The items of its `deployments:` list, in order.
    pub deployments: Vec<FileDeployment>,
}

/// One file value that becomes a flag's default.
#[derive(Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The flag's long name (also its clap id).
    pub key: String,
    /// The flag's environment variable.
    pub env: String,
    /// The value from the file.
    pub value: String,
    /// The line of the file it came from.
    pub line: usize,
}

impl std::fmt::Debug for Assignment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The value may be a key: leave it out.
        f.debug_struct("Assignment")
            .field("key", &self.key)
            .field("env", &self.env)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

fn usage(message: String) -> anyhow::Error {
    UsageError(message).into()
}

/// Finds, reads and checks the config file: the one `config_path` (the value of `BATON_CONFIG_PATH`)
/// names, else `default` when it exists, else none. Every problem is a [`UsageError`].
pub fn load(config_path: Option<OsString>, default: &Path) -> anyhow::Result<Option<ConfigFile>> {
    let Some(path) = locate(config_path, default)? else {
        return Ok(None);
    };
    let text = read(&path)?;
    let (entries, deployments) = parse_file(&text, &path)?;
    // Unknown keys are refused even when nothing else would use the file.
    plan(&entries, &known_keys(), &path, |_| true)?;
    Ok(Some(ConfigFile {
        path,
        entries,
        deployments,
    }))
}

/// Parses the command line `args` (the program name first) with the values of `file` as the defaults
/// of their flags. `env` gives the value of an environment variable; a file value is used only for a
/// flag whose variable is unset or empty.
///
/// A clap error (including `--help` and `--version`, which are errors to clap) is returned as a
/// [`clap::Error`] inside the [`anyhow::Error`], formatted and ready for [`clap::Error::exit`]. A value
/// from the file that clap rejects is a [`UsageError`] naming the file, the line and the key.
pub fn parse_command_line<I, T>(
    args: I,
    file: Option<&ConfigFile>,
    env: impl Fn(&str) -> Option<OsString>,
) -> anyhow::Result<Cli>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut command = Cli::command();
    let assignments = match file {
        Some(file) => plan(&file.entries, &known_keys(), &file.path, |name| {
            env(name).is_some_and(|v| !v.is_empty())
        })?,
        None => Vec::new(),
    };
    for assignment in &assignments {
        let Some(id) = command
            .get_arguments()
            .find(|a| a.get_long() == Some(assignment.key.as_str()))
            .map(|a| a.get_id().clone())
        else {
            continue;
        };
        let value = assignment.value.clone();
        // An empty variable counts as unset: drop it so that the file's value applies.
        let env_is_empty = env(&assignment.env).is_some();
        command = command.mut_arg(id, |arg| {
            // A value hidden from help as a variable stays hidden as a default.
            let hide = arg.is_hide_env_values_set();
            let arg = arg.default_value(value);
            let arg = if hide {
                arg.hide_default_value(true)
            } else {
                arg
            };
            if env_is_empty {
                arg.env(None)
            } else {
                arg
            }
        });
    }
    let matches = match command.try_get_matches_from_mut(args) {
        Ok(matches) => matches,
        Err(err) => {
            if let Some(file) = file {
                if let Some(assignment) = rejected_assignment(&err, &assignments) {
                    return Err(bad_value(&command, file, assignment));
                }
            }
            return Err(err.into());
        }
    };
    let mut cli = Cli::from_arg_matches(&matches)
        .map_err(|err| anyhow::Error::from(err.format(&mut command)))?;
    cli.global.deployment_positions = deployment_positions(&matches);
    if let Some(file) = file {
        cli.global.file_deployments = file.deployments.clone();
    }
    Ok(cli)
}

/// Where each deployment flag's values stand on the command line (none for a value from a variable or
/// the file).
fn deployment_positions(matches: &clap::ArgMatches) -> DeploymentPositions {
    // Global flags' values are propagated down: the deepest level that has them has all of them.
    let positions = |id: &str| -> Vec<usize> {
        let mut found = Vec::new();
        let mut level = Some(matches);
        while let Some(m) = level {
            if m.value_source(id) == Some(ValueSource::CommandLine) {
                found = m.indices_of(id).map(Iterator::collect).unwrap_or_default();
            }
            level = m.subcommand().map(|(_, sub)| sub);
        }
        found
    };
    DeploymentPositions {
        endpoint: positions("deployment_endpoint"),
        api_key: positions("deployment_api_key"),
        username: positions("deployment_username"),
        password: positions("deployment_password"),
        ca_cert: positions("deployment_ca_cert"),
    }
}

/// The file value `err` is about, when clap rejected a value of a flag the file set, and the rejected
/// value is the file's.
fn rejected_assignment<'a>(
    err: &clap::Error,
    assignments: &'a [Assignment],
) -> Option<&'a Assignment> {
    if !matches!(
        err.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let Some(ContextValue::String(value)) = err.get(ContextKind::InvalidValue) else {
        return None;
    };
    let flag = arg.split(' ').next().unwrap_or(arg);
    assignments
        .iter()
        .find(|a| flag.strip_prefix("--") == Some(a.key.as_str()) && &a.value == value)
}

/// The error for a file value clap rejected: the file, line and key, and the accepted values when there
/// is a list of them; never the value.
fn bad_value(command: &clap::Command, file: &ConfigFile, assignment: &Assignment) -> anyhow::Error {
    let possible: Vec<String> = command
        .get_arguments()
        .find(|a| a.get_long() == Some(assignment.key.as_str()))
        .map(|a| {
            a.get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_owned())
                .collect()
        })
        .unwrap_or_default();
    let hint = if possible.is_empty() {
        " (see --help)".to_owned()
    } else {
        format!(" (possible values: {})", possible.join(", "))
    };
    usage(format!(
        "config file {}: line {}: invalid value for key {:?}{hint}",
        file.path.display(),
        assignment.line,
        assignment.key
    ))
}

/// The file to read: the one `BATON_CONFIG_PATH` names (checked for its extension), else the default
/// file when it exists, else none.
pub fn locate(config_path: Option<OsString>, default: &Path) -> anyhow::Result<Option<PathBuf>> {
    match config_path.filter(|p| !p.is_empty()) {
        Some(raw) => {
            let path = PathBuf::from(raw);
            let extension_ok = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e == "yaml" || e == "yml");
            if !extension_ok {
                return Err(usage(format!(
                    "{PATH_ENV} must name a file ending in .yaml or .yml, got {}",
                    path.display()
                )));
            }
            if !path.exists() {
                return Err(usage(format!(
                    "config file {} (from {PATH_ENV}) does not exist",
                    path.display()
                )));
            }
            Ok(Some(path))
        }
        None if default.exists() => Ok(Some(default.to_path_buf())),
        None => Ok(None),
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path)
        .map_err(|e| usage(format!("cannot read config file {}: {e}", path.display())))?;
    String::from_utf8(bytes)
        .map_err(|_| usage(format!("config file {} is not UTF-8 text", path.display())))
}

/// The flags a config file may set: long name → environment variable, taken from the command line
/// definition (every flag with a `BATON_*` variable).
pub fn known_keys() -> BTreeMap<String, String> {
    let command = Cli::command();
    command
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            let env = arg.get_env()?.to_str()?;
            env.starts_with("BATON_")
                .then(|| (long.to_owned(), env.to_owned()))
        })
        .collect()
}

/// The file values to use for `entries`: known keys with a value whose variable is not already set
/// (`is_set` says whether it is). An unknown key is an error naming it and the closest known key.
pub fn plan(
    entries: &[Entry],
    known: &BTreeMap<String, String>,
    path: &Path,
    is_set: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<Assignment>> {
    let mut assignments = Vec::new();
    for entry in entries {
        let Some(env) = known.get(&entry.key) else {
            let hint = closest(&entry.key, known.keys().map(String::as_str))
                .map(|k| format!("; did you mean {k:?}?"))
                .unwrap_or_default();
            return Err(usage(format!(
                "config file {}: line {}: unknown key {:?}{hint} (keys are the long names of the flags, see --help)",
                path.display(),
                entry.line,
                entry.key
            )));
        };
        if let Some(value) = &entry.value {
            if !is_set(env) {
                assignments.push(Assignment {
                    key: entry.key.clone(),
                    env: env.clone(),
                    value: value.clone(),
                    line: entry.line,
                });
            }
        }
    }
    Ok(assignments)
}

/// The known key `key` most likely stands for: the same after lower-casing, `_` → `-` and dropping a
/// `baton-` prefix, or else the one nearest by edit distance when that is at most 2 and unambiguous.
fn closest<'a>(key: &str, known: impl Iterator<Item = &'a str> + Clone) -> Option<&'a str> {
    let normal = key.to_ascii_lowercase().replace('_', "-");
    let normal = normal.strip_prefix("baton-").unwrap_or(&normal).to_owned();
    if let Some(k) = known.clone().find(|k| *k == normal) {
        return Some(k);
    }
    let mut best: Option<(usize, &str)> = None;
    let mut tied = false;
    for k in known {
        let d = edit_distance(&normal, k);
        match best {
            Some((bd, _)) if d > bd => {}
            Some((bd, _)) if d == bd => tied = true,
            _ => {
                best = Some((d, k));
                tied = false;
            }
        }
    }
    match best {
        Some((d, k)) if d <= 2 && !tied => Some(k),
        _ => None,
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (prev + cost).min(row[j] + 1).min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The key of the deployments list.
pub const DEPLOYMENTS_KEY: &str = "deployments";

/// The keys of one item of the deployments list.
pub const DEPLOYMENT_ITEM_KEYS: [&str; 5] =
    ["endpoint", "api-key", "username", "password", "ca-cert"];

/// Parses the text of a config file: its flat `key: value` lines, and the items of its `deployments:`
/// list. Errors name `path` and the line.
pub fn parse(text: &str, path: &Path) -> anyhow::Result<Vec<Entry>> {
    parse_file(text, path).map(|(entries, _)| entries)
}

/// [`parse`], with the `deployments:` list: a block sequence of `- key: value` items under the
/// `deployments:` key, each key of [`DEPLOYMENT_ITEM_KEYS`] once per item.
pub fn parse_file(text: &str, path: &Path) -> anyhow::Result<(Vec<Entry>, Vec<FileDeployment>)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries: Vec<Entry> = Vec::new();
    let mut deployments: Vec<FileDeployment> = Vec::new();
    let mut lines_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen_content = false;
    // Inside the deployments list: the column of the current item's keys, once an item began.
    let mut in_list = false;
    let mut item_column: Option<usize> = None;
    let mut item_keys: Vec<String> = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let number = index + 1;
        let fail = |what: &str| {
            usage(format!(
                "config file {}: line {number}: {what}",
                path.display()
            ))
        };
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let content = line.trim_start_matches([' ', '\t']);
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if content.len() != line.len() {
            if !in_list {
                return Err(fail(
                    "indented line: only flat `key: value` lines at the start of the line (and the items of `deployments:`) are supported",
                ));
            }
            let indent = line.len() - content.len();
            let rest = if content == "-" || content.starts_with("- ") {
                let after = content[1..].trim_start_matches(' ');
                if after.is_empty() {
                    return Err(fail("a `deployments:` item must start with `- key: value`"));
                }
                deployments.push(FileDeployment {
                    line: number,
                    ..FileDeployment::default()
                });
                item_keys.clear();
                item_column = Some(line.len() - after.len());
                after
            } else {
                match item_column {
                    Some(column) if column == indent => content,
                    _ => {
                        return Err(fail(
                            "expected a `- key: value` item of `deployments:`, or a key aligned with the item's first key",
                        ))
                    }
                }
            };
            let (key, rest) = split_key(rest).map_err(|what| fail(&what))?;
            if !DEPLOYMENT_ITEM_KEYS.contains(&key) {
                return Err(fail(&format!(
                    "unknown key {key:?} in a `deployments:` item (the keys are {})",
                    DEPLOYMENT_ITEM_KEYS.join(", ")
                )));
            }
            if item_keys.iter().any(|k| k == key) {
                return Err(fail(&format!("duplicate key {key:?} in this item")));
            }
            item_keys.push(key.to_owned());
            let value = parse_value(rest).map_err(|what| fail(&what))?;
            if let (Some(item), Some(value)) = (deployments.last_mut(), value) {
                match key {
                    "endpoint" => item.endpoint = Some(value),
                    "api-key" => item.api_key = Some(Secret::new(value)),
                    "username" => item.username = Some(value),
                    "password" => item.password = Some(Secret::new(value)),
                    _ => item.ca_cert = Some(PathBuf::from(value)),
                }
            }
            continue;
        }
        in_list = false;
        item_column = None;
        if !seen_content && is_marker(line, "---") {
            seen_content = true;
            continue;
        }
        seen_content = true;
        let (key, rest) = split_key(line).map_err(|what| fail(&what))?;
        let value = parse_value(rest).map_err(|what| fail(&what))?;
        if let Some(first) = lines_of.get(key) {
            return Err(fail(&format!(
                "duplicate key {key:?} (first set on line {first})"
            )));
        }
        lines_of.insert(key.to_owned(), number);
        if key == DEPLOYMENTS_KEY {
            if value.is_some() {
                return Err(fail(
                    "`deployments:` takes a list of `- endpoint: ...` items on the lines below it",
                ));
            }
            in_list = true;
            continue;
        }
        entries.push(Entry {
            key: key.to_owned(),
            value,
            line: number,
        });
    }
    if let Some(line) = lines_of.get(DEPLOYMENTS_KEY) {
        if deployments.is_empty() {
            return Err(usage(format!(
                "config file {}: line {line}: `deployments:` has no items",
                path.display()
            )));
        }
        if let Some(flat) = entries
            .iter()
            .find(|e| e.value.is_some() && e.key.starts_with("deployment-"))
        {
            return Err(usage(format!(
                "config file {}: line {}: {:?} and the `deployments:` list (line {line}) are both set: give every deployment in the list",
                path.display(),
                flat.line,
                flat.key
            )));
        }
    }
    Ok((entries, deployments))
}

/// Whether `line` is exactly `marker`, optionally followed by whitespace and a comment.
fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker).is_some_and(|rest| {
        rest.is_empty()
            || (rest.starts_with([' ', '\t'])
                && (rest.trim().is_empty() || rest.trim_start().starts_with('#')))
    })
}

/// Splits `key: rest` (the key at column 0, then `:` and whitespace or the end of the line).
fn split_key(line: &str) -> Result<(&str, &str), String> {
    if line.starts_with("---") || line.starts_with("...") {
        return Err("a second YAML document is not supported".into());
    }
    if line.starts_with("- ") || line == "-" {
        return Err("lists are not supported: expected `key: value`".into());
    }
    if line.starts_with(['{', '[']) {
        return Err("flow mappings and sequences (`{`, `[`) are not supported".into());
    }
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(line.len());
    let (key, rest) = line.split_at(end);
    if key.is_empty() {
        return Err("expected `key: value` with a key of letters, digits, `-` or `_`".into());
    }
    let Some(rest) = rest.strip_prefix(':') else {
        return Err("expected `key: value` with a key of letters, digits, `-` or `_`".into());
    };
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return Err("expected a space after `:` in `key: value`".into());
    }
    Ok((key, rest))
}

/// Parses what follows `key:`.
fn parse_value(rest: &str) -> Result<Option<String>, String> {
    let value = rest.trim_start_matches([' ', '\t']);
    if value.is_empty() || value.starts_with('#') {
        return Ok(None);
    }
    let first = value.chars().next().unwrap_or(' ');
    let (scalar, after) = match first {
        '"' => parse_double_quoted(&value[1..])?,
        '\'' => parse_single_quoted(&value[1..])?,
        '|' | '>' => return Err("block scalars (`|`, `>`) are not supported".into()),
        '{' | '[' => return Err("flow mappings and sequences (`{`, `[`) are not supported".into()),
        '&' | '*' => return Err("anchors and aliases (`&`, `*`) are not supported".into()),
        '!' => return Err("tags (`!`) are not supported".into()),
        '@' | '`' | '%' => {
            return Err(format!(
                "a plain value cannot start with `{first}`; quote it"
            ))
        }
        '-' | '?' | ':' if value[1..].is_empty() || value[1..].starts_with([' ', '\t']) => {
            return Err(format!(
                "a plain value cannot start with `{first} `; quote it"
            ))
        }
        _ => return parse_plain(value).map(Some).map(normalize),
    };
    let tail = after.trim_start_matches([' ', '\t']);
    if !(tail.is_empty() || (tail.len() < after.len() && tail.starts_with('#'))) {
        return Err("unexpected text after the closing quote".into());
    }
    Ok(Some(scalar))
}

/// Plain scalars: `~` and `null` mean not set; YAML booleans are written as `true`/`false`.
fn normalize(value: Option<String>) -> Option<String> {
    let value = value?;
    match value.as_str() {
        "~" | "null" | "Null" | "NULL" => None,
        "true" | "True" | "TRUE" => Some("true".to_owned()),
        "false" | "False" | "FALSE" => Some("false".to_owned()),
        _ => Some(value),
    }
}

/// A plain scalar: up to a comment (`#` after whitespace), trimmed.
fn parse_plain(value: &str) -> Result<String, String> {
    let mut end = value.len();
    let mut previous = ' ';
    for (i, c) in value.char_indices() {
        if c == '#' && (previous == ' ' || previous == '\t') {
            end = i;
            break;
        }
        previous = c;
    }
    let scalar = value[..end].trim_end_matches([' ', '\t']);
    if scalar.contains(": ") || scalar.contains(":\t") || scalar.ends_with(':') {
        return Err("a `key: value` inside a value is not supported; quote the value".into());
    }
    Ok(scalar.to_owned())
}

/// A double-quoted scalar after its opening quote: the value and the text after the closing quote.
fn parse_double_quoted(s: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '0' => out.push('\0'),
                    'u' => {
                        let high = hex4(&mut chars)?;
                        let code = if (0xD800..0xDC00).contains(&high) {
                            let low = match (chars.next(), chars.next()) {
                                (Some((_, '\\')), Some((_, 'u'))) => hex4(&mut chars)?,
                                _ => return Err("unpaired surrogate in a `\\u` escape".into()),
                            };
                            if !(0xDC00..0xE000).contains(&low) {
                                return Err("unpaired surrogate in a `\\u` escape".into());
                            }
                            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            high
                        };
                        let ch = char::from_u32(code)
                            .ok_or_else(|| "invalid `\\u` escape".to_owned())?;
                        out.push(ch);
                    }
                    other => return Err(format!("unknown escape `\\{other}` in a quoted value")),
                }
            }
            other => out.push(other),
        }
    }
    Err("unterminated double-quoted value (a quoted value must end on its line)".into())
}

fn hex4(chars: &mut std::str::CharIndices<'_>) -> Result<u32, String> {
    let mut code = 0;
    for _ in 0..4 {
        let digit = chars
            .next()
            .and_then(|(_, c)| c.to_digit(16))
            .ok_or_else(|| "a `\\u` escape needs four hex digits".to_owned())?;
        code = code * 16 + digit;
    }
    Ok(code)
}

/// A single-quoted scalar after its opening quote (`''` is a quote): the value and the rest.
fn parse_single_quoted(s: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                chars.next();
                out.push('\'');
            } else {
                return Ok((out, &s[i + 1..]));
            }
        } else {
            out.push(c);
        }
    }
    Err("unterminated single-quoted value (a quoted value must end on its line)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("file", "file"), 0);
    }
}
