//! Keeps the documentation true to the program.
//!
//! - The flag tables of `docs/configuration.md` are generated from the clap definitions in `src/cli.rs`;
//!   `UPDATE_DOCS=1 cargo test --test docs` rewrites the part between the marker comments, and the
//!   prose around it stays as written.
//! - Every flag `--help` shows is on that page, and every flag the page shows as visible is in `--help`;
//!   every `BATON_*` variable the code names is on it; every subcommand's `--help` names its page.
//! - Every ```` ```console ```` example of README.md and docs/*.md (`$ baton-elastic ...` lines) runs
//!   against the demo tenant, in a fresh folder per page that already holds a `sync --demo` file, with
//!   a loopback fake of both Elastic APIs in `BATON_CLOUD_URL`, `BATON_DEPLOYMENT_ENDPOINT` and their
//!   keys. The exit status must be 0 (or the one a trailing `# exit N` names), and the lines shown
//!   under the command must be stdout: the whole of it (nothing shown: nothing printed), or, where a
//!   `...` line stands, a gap.
//! - Every `baton-elastic` command of the ```` ```sh ```` examples (not run: they need a real tenant)
//!   parses against the real command line.
//! - Relative links resolve, the README links every page, and every dependency of every Cargo.toml is
//!   listed in docs/development.md.

mod common;

use baton_elastic::cli::Cli;
use clap::CommandFactory;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Opens the generated part of docs/configuration.md.
const BEGIN: &str =
    "<!-- BEGIN GENERATED from src/cli.rs; rewrite with: UPDATE_DOCS=1 cargo test --test docs -->";
/// Closes it.
const END: &str = "<!-- END GENERATED -->";

/// The pages, each for one reader; the README links them all.
const PAGES: [&str; 6] = [
    "docs/configuration.md",
    "docs/data-model.md",
    "docs/provisioning.md",
    "docs/inspecting.md",
    "docs/operations.md",
    "docs/development.md",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// README.md and every page.
fn documents() -> Vec<(String, String)> {
    std::iter::once("README.md")
        .chain(PAGES)
        .map(|name| (name.to_owned(), read(name)))
        .collect()
}

// ---------------------------------------------------------------------------------------------------
// The generated reference

/// One line of markdown text: newlines joined, table separators escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// `<NAME>` or `[NAME]` of a positional argument.
fn positional_name(arg: &clap::Arg) -> String {
    let name = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map(|n| n.to_string())
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
    if arg.is_required_set() {
        format!("<{name}>")
    } else {
        format!("[{name}]")
    }
}

fn flag_cell(arg: &clap::Arg) -> String {
    if arg.is_positional() {
        return format!("`{}`", positional_name(arg));
    }
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("`-{short}`"));
    }
    if let Some(long) = arg.get_long() {
        names.push(format!("`--{long}`"));
    }
    names.join(", ")
}

fn default_cell(arg: &clap::Arg) -> String {
    if matches!(arg.get_action(), clap::ArgAction::SetTrue) {
        return "off".to_owned();
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| format!("`{}`", v.to_string_lossy()))
        .collect();
    if defaults.is_empty() {
        "—".to_owned()
    } else {
        defaults.join(", ")
    }
}

fn help_cell(arg: &clap::Arg, nested: bool) -> String {
    let mut help = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default()
        .trim_end()
        .to_owned();
    if !help.is_empty() && !help.ends_with(['.', ')']) {
        help.push('.');
    }
    if arg.get_action().takes_values() {
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| format!("`{}`", v.get_name()))
            .collect();
        if !values.is_empty() {
            help.push_str(&format!(" Values: {}.", values.join(", ")));
        }
    }
    if arg.is_required_set() && !arg.is_positional() {
        help.push_str(" Required.");
    }
    if nested && arg.is_global_set() {
        help.push_str(" Accepted by every subcommand below.");
    }
    if arg.is_hide_set() {
        help.push_str(" *Hidden* (not in `--help`).");
    }
    cell(&help)
}

fn render_command(out: &mut String, cmd: &clap::Command, path: &[String]) {
    let title = std::iter::once("baton-elastic".to_owned())
        .chain(path.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    out.push_str(&format!("\n### `{title}`\n\n"));
    if let Some(about) = cmd.get_about() {
        out.push_str(&cell(about.to_string().trim_end()));
        out.push_str(".\n\n");
    }
    if path.is_empty() {
        out.push_str("Global flags: every command accepts them (`-h`, `--help` too).\n\n");
    }
    let args: Vec<&clap::Arg> = cmd.get_arguments().collect();
    if args.is_empty() {
        out.push_str("No flags of its own.\n");
    } else {
        out.push_str("| flag | environment variable | config-file key | default | meaning |\n");
        out.push_str("|---|---|---|---|---|\n");
        for arg in args {
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            let key = match (&env, arg.get_long()) {
                (Some(env), Some(long)) if env.starts_with("BATON_") => format!("`{long}`"),
                _ => "—".to_owned(),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                flag_cell(arg),
                env.map(|e| format!("`{e}`"))
                    .unwrap_or_else(|| "—".to_owned()),
                key,
                default_cell(arg),
                help_cell(arg, !path.is_empty()),
            ));
        }
    }
    for sub in cmd.get_subcommands() {
        let mut sub_path = path.to_vec();
        sub_path.push(sub.get_name().to_owned());
        render_command(out, sub, &sub_path);
    }
}

/// The generated part of docs/configuration.md, between the markers.
fn render_reference() -> String {
    let mut out = String::new();
    render_command(&mut out, &Cli::command(), &[]);
    out.push('\n');
    out
}

/// The page with its generated part replaced by `generated`.
fn splice(page: &str, generated: &str) -> String {
    let start = page
        .find(BEGIN)
        .unwrap_or_else(|| panic!("docs/configuration.md lacks the line {BEGIN}"));
    let end = page
        .find(END)
        .unwrap_or_else(|| panic!("docs/configuration.md lacks the line {END}"));
    assert!(start < end, "the markers are out of order");
    format!("{}{BEGIN}\n{generated}{}", &page[..start], &page[end..])
}

#[test]
fn configuration_page_is_generated_from_the_command_line() {
    let page = read("docs/configuration.md");
    let expected = splice(&page, &render_reference());
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(root().join("docs/configuration.md"), &expected).expect("write the page");
        return;
    }
    if page != expected {
        let first = page
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(page.lines().count().min(expected.lines().count()));
        panic!(
            "docs/configuration.md does not match the flags in src/cli.rs (first difference at line {}:\n  page:      {:?}\n  generated: {:?})\nrun `UPDATE_DOCS=1 cargo test --test docs` to regenerate it",
            first + 1,
            page.lines().nth(first).unwrap_or(""),
            expected.lines().nth(first).unwrap_or(""),
        );
    }
}

/// The rows of the generated part: command path → (flag names, hidden).
fn page_sections(page: &str) -> BTreeMap<Vec<String>, Vec<(BTreeSet<String>, bool)>> {
    let names = regex::Regex::new(r"`(--?[A-Za-z0-9-]+|<[A-Z_]+>|\[[A-Z_]+\])`").expect("regex");
    let start = page.find(BEGIN).expect("begin marker");
    let end = page.find(END).expect("end marker");
    let mut sections = BTreeMap::new();
    let mut current: Option<Vec<String>> = None;
    for line in page[start..end].lines() {
        if let Some(title) = line.strip_prefix("### `") {
            let path: Vec<String> = title
                .trim_end_matches('`')
                .split(' ')
                .skip(1)
                .map(str::to_owned)
                .collect();
            sections.insert(path.clone(), Vec::new());
            current = Some(path);
        } else if line.starts_with("| `") {
            let first = line.split(" | ").next().unwrap_or("");
            let flags: BTreeSet<String> = names
                .captures_iter(first)
                .map(|c| c[1].trim_matches(['<', '>', '[', ']']).to_owned())
                .collect();
            let path = current.clone().expect("a row under a heading");
            sections
                .get_mut(&path)
                .expect("section")
                .push((flags, line.contains("*Hidden*")));
        }
    }
    sections
}

/// The flags and positional arguments `--help` lists.
fn help_flags(help: &str) -> BTreeSet<String> {
    let flag = regex::Regex::new(r"^\s+(?:(-[A-Za-z0-9]), )?(--[a-z0-9-]+)").expect("regex");
    let positional = regex::Regex::new(r"^\s+[<\[]([A-Z_]+)[>\]](?:\.\.\.)?\s").expect("regex");
    let mut found = BTreeSet::new();
    for line in help.lines() {
        if let Some(c) = flag.captures(line) {
            found.extend(c.get(1).map(|m| m.as_str().to_owned()));
            found.insert(c[2].to_owned());
        } else if let Some(c) = positional.captures(line) {
            found.insert(c[1].to_owned());
        }
    }
    found.remove("-h");
    found.remove("--help");
    found
}

/// The command at `path`.
fn find_command<'a>(root: &'a clap::Command, path: &[String]) -> &'a clap::Command {
    path.iter().fold(root, |cmd, name| {
        cmd.find_subcommand(name)
            .unwrap_or_else(|| panic!("no subcommand {name}"))
    })
}

#[test]
fn every_flag_in_help_is_on_the_configuration_page_and_back() {
    let sections = page_sections(&read("docs/configuration.md"));
    let cli = Cli::command();
    assert!(sections.len() > 10, "too few sections: {sections:?}");
    for (path, rows) in &sections {
        // What the page says `--help` shows: the command's visible rows, and the global ones of its
        // ancestors.
        let mut expected: BTreeSet<String> = rows
            .iter()
            .filter(|(_, hidden)| !hidden)
            .flat_map(|(flags, _)| flags.clone())
            .collect();
        for depth in 0..path.len() {
            let ancestor = find_command(&cli, &path[..depth]);
            for (flags, hidden) in &sections[&path[..depth].to_vec()] {
                let global = ancestor.get_arguments().any(|arg| {
                    arg.is_global_set()
                        && arg
                            .get_long()
                            .is_some_and(|long| flags.contains(&format!("--{long}")))
                });
                if global && !hidden {
                    expected.extend(flags.clone());
                }
            }
        }
        let out = common::binary()
            .args(path)
            .arg("--help")
            .output()
            .expect("binary runs");
        assert!(out.status.success(), "{path:?} --help failed");
        let help = String::from_utf8(out.stdout).expect("utf-8");
        let shown = help_flags(&help);
        assert_eq!(
            shown,
            expected,
            "`baton-elastic {} --help` and its section of docs/configuration.md list different flags \
             (left: --help, right: the page); run `UPDATE_DOCS=1 cargo test --test docs`\n{help}",
            path.join(" ")
        );
    }
}

/// Every subcommand path, depth first.
fn subcommand_paths(cmd: &clap::Command, path: &[String], out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands() {
        let mut sub_path = path.to_vec();
        sub_path.push(sub.get_name().to_owned());
        out.push(sub_path.clone());
        subcommand_paths(sub, &sub_path, out);
    }
}

#[test]
fn every_subcommand_help_points_to_its_page() {
    let mut paths = Vec::new();
    subcommand_paths(&Cli::command(), &[], &mut paths);
    assert!(paths.len() > 10, "{paths:?}");
    let page_name = regex::Regex::new(r"docs/[a-z-]+\.md").expect("regex");
    for path in std::iter::once(Vec::new()).chain(paths) {
        let out = common::binary()
            .args(&path)
            .arg("--help")
            .output()
            .expect("binary runs");
        let help = String::from_utf8(out.stdout).expect("utf-8");
        let name = path.join(" ");
        let page = page_name
            .find(&help)
            .unwrap_or_else(|| panic!("`{name} --help` names no docs page:\n{help}"));
        assert!(
            root().join(page.as_str()).is_file(),
            "`{name} --help` names {}, which does not exist",
            page.as_str()
        );
    }
}

// ---------------------------------------------------------------------------------------------------
// Examples

/// A fenced code block: its language, the line of its opening fence, the fence's indentation, its
/// lines (without that indentation).
struct Block {
    lang: String,
    line: usize,
    indent: usize,
    lines: Vec<String>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("```") {
            match open.take() {
                Some(block) => found.push(block),
                None => {
                    open = Some(Block {
                        lang: rest.trim().to_owned(),
                        line: i + 1,
                        indent: line.len() - trimmed.len(),
                        lines: Vec::new(),
                    })
                }
            }
        } else if let Some(block) = open.as_mut() {
            // A block indented in a list item: its lines lose the fence's indentation.
            let spaces = line.len() - line.trim_start_matches(' ').len();
            block
                .lines
                .push(line[spaces.min(block.indent)..].to_owned());
        }
    }
    found
}

/// One `$ ...` line of a console block and the stdout shown under it.
struct Example {
    at: String,
    command: String,
    exit: i32,
    expected: Vec<String>,
}

fn examples(name: &str, text: &str) -> Vec<Example> {
    let exit = regex::Regex::new(r"\s+# exit (\d+)$").expect("regex");
    let mut found: Vec<Example> = Vec::new();
    for block in blocks(text).into_iter().filter(|b| b.lang == "console") {
        let mut current: Option<Example> = None;
        for (offset, line) in block.lines.iter().enumerate() {
            if let Some(command) = line.strip_prefix("$ ") {
                found.extend(current.take());
                let (command, code) = match exit.captures(command) {
                    Some(c) => (
                        command[..c.get(0).expect("match").start()].to_owned(),
                        c[1].parse().expect("exit status"),
                    ),
                    None => (command.to_owned(), 0),
                };
                current = Some(Example {
                    at: format!("{name}:{}", block.line + offset + 1),
                    command,
                    exit: code,
                    expected: Vec::new(),
                });
            } else {
                let example = current.as_mut().unwrap_or_else(|| {
                    panic!("{name}:{}: output before any `$ ` line", block.line)
                });
                example.expected.push(line.trim_end().to_owned());
            }
        }
        found.extend(current);
    }
    found
}

/// Whether a shown line describes an output line: equal, or, when it ends in ` ...`, its start.
fn line_matches(shown: &str, actual: &str) -> bool {
    match shown.strip_suffix(" ...") {
        Some(start) => actual.starts_with(start),
        None => shown == actual,
    }
}

/// Whether `expected` describes `actual`: the shown lines in order, `...` standing for any number of
/// lines, and a line ending in ` ...` matching any line that starts with the text before it; without a
/// leading (trailing) `...` the output must start (end) with the shown lines. Nothing shown: nothing
/// printed.
fn matches_shown(expected: &[String], actual: &[&str]) -> bool {
    if expected.is_empty() {
        return actual.is_empty();
    }
    let chunks: Vec<&[String]> = expected.split(|l| l == "...").collect();
    let mut at = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        if chunk.is_empty() {
            continue;
        }
        let fits = |start: usize| {
            start + chunk.len() <= actual.len()
                && chunk
                    .iter()
                    .zip(&actual[start..])
                    .all(|(e, a)| line_matches(e, a.trim_end()))
        };
        let start = if i == 0 {
            if !fits(0) {
                return false;
            }
            0
        } else if last {
            let Some(start) = actual.len().checked_sub(chunk.len()) else {
                return false;
            };
            if start < at || !fits(start) {
                return false;
            }
            start
        } else {
            match (at..actual.len()).find(|&s| fits(s)) {
                Some(s) => s,
                None => return false,
            }
        };
        at = start + chunk.len();
        if last {
            return at == actual.len();
        }
    }
    // Ended with `...` (or showed nothing but gaps).
    true
}

/// A shell for examples: the test binary first on PATH, no `BATON_*` from the caller, the fake's
/// endpoints and keys set, fast retries.
fn shell(dir: &Path, fake: &elastic_fake::FakeElastic, command: &str) -> Command {
    let (cloud_key, deployment_key) = common::demo_keys();
    let bin = Path::new(env!("CARGO_BIN_EXE_baton-elastic"))
        .parent()
        .expect("binary folder")
        .to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(&path));
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("BATON_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("PATH", std::env::join_paths(paths).expect("PATH"))
        .env("BATON_CLOUD_URL", fake.url())
        .env("BATON_API_KEY", cloud_key)
        .env("BATON_DEPLOYMENT_ENDPOINT", fake.url())
        .env("BATON_DEPLOYMENT_API_KEY", deployment_key)
        .env("BATON_RETRY_BASE_MS", common::TEST_RETRY_BASE_MS);
    cmd
}

#[test]
fn console_examples_run_against_the_demo_tenant() {
    let mut ran = 0;
    let mut failures = Vec::new();
    for (name, text) in documents() {
        let examples = examples(&name, &text);
        if examples.is_empty() {
            continue;
        }
        // Each page starts from its own demo file and its own fake (grant and revoke change it).
        let fake = common::demo_fake();
        let dir = tempfile::tempdir().expect("tempdir");
        let out = shell(dir.path(), &fake, "baton-elastic sync --demo")
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "sync --demo failed");
        for example in examples {
            let out = shell(dir.path(), &fake, &example.command)
                .output()
                .expect("sh runs");
            common::assert_no_keys(&out, &[]);
            ran += 1;
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let actual: Vec<&str> = stdout.lines().collect();
            let code = out.status.code();
            if code != Some(example.exit) {
                failures.push(format!(
                    "{}: `{}` exited with {code:?}, the page says {}\nstderr: {}",
                    example.at,
                    example.command,
                    example.exit,
                    String::from_utf8_lossy(&out.stderr)
                ));
            } else if !matches_shown(&example.expected, &actual) {
                failures.push(format!(
                    "{}: `{}` printed something else than the page shows\n--- page\n{}\n--- stdout\n{stdout}",
                    example.at,
                    example.command,
                    example.expected.join("\n")
                ));
            }
        }
    }
    assert!(ran >= 20, "only {ran} console examples found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Splits a shell line into words (quotes removed), cut at `|`, `&&`, `;`, `>` and `#` comments.
fn shell_segments(line: &str) -> Vec<Vec<String>> {
    let mut segments = vec![Vec::new()];
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '#') if !in_word => break,
            (None, c) if c.is_whitespace() || matches!(c, '|' | '&' | ';' | '>' | '<') => {
                if in_word {
                    let word = std::mem::take(&mut word);
                    // `2>file`: the descriptor belongs to the redirect, not to the arguments.
                    let descriptor =
                        matches!(c, '>' | '<') && word.chars().all(|c| c.is_ascii_digit());
                    if !descriptor {
                        segments.last_mut().expect("segment").push(word);
                    }
                    in_word = false;
                }
                if matches!(c, '|' | '&' | ';') {
                    segments.push(Vec::new());
                } else if matches!(c, '>' | '<') {
                    // The redirect target is not an argument.
                    while chars.peek().is_some_and(|c| c.is_whitespace()) {
                        chars.next();
                    }
                    while chars.peek().is_some_and(|c| !c.is_whitespace()) {
                        chars.next();
                    }
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        segments.last_mut().expect("segment").push(word);
    }
    segments.retain(|s| !s.is_empty());
    segments
}

/// The arguments of a `baton-elastic` invocation in a shell segment, if it is one (also
/// `cargo run --release -- ...` and `target/release/baton-elastic ...`).
fn invocation(words: &[String]) -> Option<Vec<String>> {
    let mut words = words;
    while let Some(first) = words.first() {
        if first == "export" || first == "exec" || (first.contains('=') && !first.starts_with('-'))
        {
            words = &words[1..];
        } else {
            break;
        }
    }
    let first = words.first()?;
    if Path::new(first)
        .file_name()
        .is_some_and(|n| n == "baton-elastic")
    {
        return Some(words[1..].to_vec());
    }
    if first == "cargo" && words.get(1).is_some_and(|w| w == "run") {
        let dashes = words.iter().position(|w| w == "--")?;
        return Some(words[dashes + 1..].to_vec());
    }
    None
}

/// Every `baton-elastic` invocation in the shell and console blocks of a document.
fn invocations(name: &str, text: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    for block in blocks(text) {
        let console = block.lang == "console";
        if !(console || block.lang == "sh") {
            continue;
        }
        let mut joined = String::new();
        for (offset, line) in block.lines.iter().enumerate() {
            let line = if console {
                match line.strip_prefix("$ ") {
                    // A usage error on purpose: run, but not expected to parse.
                    Some(command) if command.ends_with("# exit 2") => continue,
                    Some(command) => command,
                    None => continue,
                }
            } else {
                line.as_str()
            };
            if let Some(start) = line.strip_suffix('\\') {
                joined.push_str(start);
                continue;
            }
            joined.push_str(line);
            for segment in shell_segments(&std::mem::take(&mut joined)) {
                if let Some(args) = invocation(&segment) {
                    found.push((format!("{name}:{}", block.line + offset + 1), args));
                }
            }
        }
    }
    found
}

#[test]
fn every_documented_command_line_parses() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, text) in documents() {
        for (at, args) in invocations(&name, &text) {
            checked += 1;
            let argv = std::iter::once("baton-elastic".to_owned()).chain(args.iter().cloned());
            if let Err(err) = Cli::command().try_get_matches_from(argv) {
                use clap::error::ErrorKind;
                if !matches!(
                    err.kind(),
                    ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
                ) {
                    failures.push(format!(
                        "{at}: baton-elastic {}: {}",
                        args.join(" "),
                        err.render()
                    ));
                }
            }
        }
    }
    assert!(checked >= 30, "only {checked} command lines found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sh_examples_are_checked_too() {
    // The parse check must see the commands that cannot run here (real tenant, cron).
    let readme = read("README.md");
    let sh: Vec<_> = invocations("README.md", &readme)
        .into_iter()
        .filter(|(_, args)| args.iter().all(|a| a != "--demo"))
        .collect();
    assert!(
        sh.len() >= 3,
        "{:?}",
        sh.iter().map(|(at, _)| at).collect::<Vec<_>>()
    );
}

#[test]
fn a_wrong_flag_in_an_example_is_caught() {
    let page = "```sh\nbaton-elastic inspect grants --no-such-flag\n```\n";
    let found = invocations("test.md", page);
    assert_eq!(found.len(), 1);
    let argv = std::iter::once("baton-elastic".to_owned()).chain(found[0].1.iter().cloned());
    assert!(Cli::command().try_get_matches_from(argv).is_err());
}

#[test]
fn shown_output_must_match() {
    let lines = |s: &str| s.lines().map(str::to_owned).collect::<Vec<_>>();
    let actual = ["a", "b", "c", "d"];
    assert!(matches_shown(&lines("a\nb\nc\nd"), &actual));
    assert!(matches_shown(&lines("a\nb\n..."), &actual));
    assert!(matches_shown(&lines("...\nc\nd"), &actual));
    assert!(matches_shown(&lines("a\n...\nd"), &actual));
    assert!(matches_shown(&lines("...\nb\n..."), &actual));
    assert!(matches_shown(&lines("a\nb ...\n..."), &["a", "bcd", "c"]));
    assert!(!matches_shown(&lines("a\nx ...\n..."), &["a", "bcd", "c"]));
    assert!(!matches_shown(&lines("a\nb"), &actual));
    assert!(!matches_shown(&[], &actual));
    assert!(matches_shown(&[], &[]));
    assert!(!matches_shown(&lines("b\n..."), &actual));
    assert!(!matches_shown(&lines("...\nc"), &actual));
    assert!(!matches_shown(&lines("...\nx\n..."), &actual));
    assert!(!matches_shown(&lines("a\n...\nc\n...\nb\n..."), &actual));
}

#[test]
fn shell_lines_are_split_into_invocations() {
    let found = invocations(
        "t.md",
        "```sh\n0 3 * * * cd /srv && baton-elastic -f e.c1z 2>>log && aws s3 cp e.c1z s3://b/  # nightly\nX=1 target/release/baton-elastic inspect access -t deploymentUser \\\n  -r 'sam saml' > out.txt\ncargo run --release -- sync --demo\n```\n",
    );
    let args: Vec<Vec<String>> = found.into_iter().map(|(_, a)| a).collect();
    let words = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        args,
        vec![
            words("-f e.c1z"),
            vec![
                "inspect".into(),
                "access".into(),
                "-t".into(),
                "deploymentUser".into(),
                "-r".into(),
                "sam saml".into()
            ],
            words("sync --demo"),
        ]
    );
}

// ---------------------------------------------------------------------------------------------------
// Links, length, dependencies

/// The anchors of a markdown file's headings, as GitHub makes them.
fn anchors(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| line.starts_with('#'))
        .filter_map(|line| line.trim_start_matches('#').strip_prefix(' '))
        .map(|title| {
            title
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

#[test]
fn relative_links_resolve_and_the_readme_links_every_page() {
    let link = regex::Regex::new(r"\]\(([^)\s]+)\)").expect("regex");
    let mut broken = Vec::new();
    for (name, text) in documents() {
        let base = root().join(&name);
        let dir = base.parent().expect("folder");
        for c in link.captures_iter(&text) {
            let target = &c[1];
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target, None),
            };
            let path = if file.is_empty() {
                base.clone()
            } else {
                dir.join(file)
            };
            if !path.exists() {
                broken.push(format!("{name}: {target}"));
            } else if let Some(anchor) = anchor {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if !anchors(&text).contains(anchor) {
                    broken.push(format!("{name}: {target} (no such heading)"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links: {broken:?}");
    assert!(anchors("## The `.c1z` file\n# Scale and limits").contains("the-c1z-file"));
    let readme = read("README.md");
    for page in PAGES {
        assert!(
            readme.contains(&format!("]({page}")),
            "README.md does not link {page}"
        );
    }
}

#[test]
fn readme_stays_short_and_keeps_the_two_setup_commands() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 150,
        "README.md has {lines} lines; move detail to docs/"
    );
    // CI runs the README's test command; newcomers copy the demo command.
    assert!(readme.contains("cargo run --release -- sync --demo"));
    assert!(readme.contains("cargo test --locked"));
}

/// Names of the dependencies a Cargo.toml declares, in any dependency table.
fn dependencies(manifest: &str) -> BTreeSet<String> {
    let entry = regex::Regex::new(r"^([A-Za-z0-9_-]+)(?:\.workspace)?\s*=").expect("regex");
    let mut names = BTreeSet::new();
    let mut in_table = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_table = line.trim_matches(['[', ']']).ends_with("dependencies");
        } else if in_table {
            if let Some(c) = entry.captures(line) {
                names.insert(c[1].to_owned());
            }
        }
    }
    names
}

#[test]
fn every_dependency_is_listed_with_its_reason() {
    let page = read("docs/development.md");
    let section = page
        .split("## Dependencies")
        .nth(1)
        .expect("docs/development.md has a Dependencies section");
    let mut manifests = vec!["Cargo.toml".to_owned()];
    let mut crates: Vec<String> = std::fs::read_dir(root().join("crates"))
        .expect("crates folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| {
            root()
                .join("crates")
                .join(name)
                .join("Cargo.toml")
                .is_file()
        })
        .map(|name| format!("crates/{name}/Cargo.toml"))
        .collect();
    crates.sort();
    assert!(crates.len() >= 3, "{crates:?}");
    manifests.extend(crates);
    let mut missing = Vec::new();
    for manifest in &manifests {
        let names = dependencies(&read(manifest));
        assert!(!names.is_empty(), "{manifest}: no dependencies found");
        for name in names {
            if !section.contains(&format!("`{name}`")) {
                missing.push(format!("{name} ({manifest})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not in the Dependencies list of docs/development.md: {missing:?}"
    );
}

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_variable_the_code_names_is_on_the_configuration_page() {
    // Also those that are no flag (`BATON_CONFIG_PATH`), which the generated tables cannot show.
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for entry in std::fs::read_dir(root().join("crates")).expect("crates folder") {
        let src = entry.expect("entry").path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    let variable = regex::Regex::new(r"BATON_[A-Z0-9_]*[A-Z0-9]").expect("regex");
    let named: BTreeSet<String> = files
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).expect("read source");
            variable
                .find_iter(&text)
                .map(|m| m.as_str().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(named.contains("BATON_CONFIG_PATH"), "{named:?}");
    let page = read("docs/configuration.md");
    let missing: Vec<&String> = named
        .iter()
        .filter(|v| !page.contains(&format!("`{v}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "named in the code but not on docs/configuration.md: {missing:?}"
    );
}
