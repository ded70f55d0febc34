//! The config file format and its checks, without running the binary: the YAML subset, messages that
//! name the file and line but never a value, the keys taken from the flags, and how the file's values
//! merge into the command line (flag > environment variable > file > default).

use baton_elastic::cli::LogLevel;
use baton_elastic::config::UsageError;
use baton_elastic::config_file::{known_keys, load, locate, parse, parse_command_line, plan};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

fn parsed(text: &str) -> Vec<(String, Option<String>, usize)> {
    parse(text, Path::new("cfg.yaml"))
        .expect("parses")
        .into_iter()
        .map(|e| (e.key, e.value, e.line))
        .collect()
}

fn value_of(text: &str) -> Option<String> {
    let entries = parsed(&format!("k: {text}\n"));
    assert_eq!(entries.len(), 1);
    entries[0].1.clone()
}

fn error(text: &str) -> String {
    let err = parse(text, Path::new("cfg.yaml")).expect_err("rejected");
    assert!(err.is::<UsageError>());
    err.to_string()
}

fn assert_error(text: &str, line: usize, words: &str) {
    let msg = error(text);
    assert!(
        msg.starts_with(&format!("config file cfg.yaml: line {line}: ")),
        "{text:?}: {msg}"
    );
    assert!(msg.contains(words), "{text:?}: {msg}");
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

#[test]
fn flat_keys_comments_blank_lines_and_document_start() {
    let text = "\u{feff}# settings\n---  # start\n\napi-key: abc\r\n  # indented comment\nlog_level: debug # trailing\nN0-x_y: 1\n";
    assert_eq!(
        parsed(text),
        vec![
            ("api-key".into(), s("abc"), 4),
            ("log_level".into(), s("debug"), 6),
            ("N0-x_y".into(), s("1"), 7),
        ]
    );
    assert!(parsed("").is_empty());
    assert!(parsed("---\n").is_empty());
    assert_eq!(parsed("a: b"), vec![("a".into(), s("b"), 1)]);
}

#[test]
fn plain_values() {
    assert_eq!(value_of("  spaced out  "), s("spaced out"));
    assert_eq!(
        value_of("https://host:9243/path"),
        s("https://host:9243/path")
    );
    assert_eq!(value_of("a#b"), s("a#b"));
    assert_eq!(value_of("a #b"), s("a"));
    assert_eq!(value_of("a\t#b"), s("a"));
    assert_eq!(value_of("abc=="), s("abc=="));
    assert_eq!(value_of("-5"), s("-5"));
    assert_eq!(value_of("60"), s("60"));
    assert_eq!(value_of("0x1F"), s("0x1F"));
    assert_eq!(value_of("1.50"), s("1.50"));
    assert_eq!(value_of("True"), s("true"));
    assert_eq!(value_of("FALSE"), s("false"));
    assert_eq!(value_of("yes"), s("yes"));
    assert_eq!(parsed("k:\n"), vec![("k".into(), None, 1)]);
    assert_eq!(parsed("k:   # nothing\n"), vec![("k".into(), None, 1)]);
    assert_eq!(value_of("~"), None);
    assert_eq!(value_of("null"), None);
    assert_eq!(value_of("NULL"), None);
}

#[test]
fn double_quoted_values() {
    assert_eq!(value_of(r#""a \"b\" \\ c""#), s(r#"a "b" \ c"#));
    assert_eq!(value_of(r#""l1\nl2\tx\r\/""#), s("l1\nl2\tx\r/"));
    assert_eq!(value_of(r#""\u00e9\u20AC""#), s("é€"));
    assert_eq!(value_of(r#""\ud83d\ude00""#), s("😀"));
    assert_eq!(
        value_of(r#""a # not a comment" # comment"#),
        s("a # not a comment")
    );
    assert_eq!(value_of(r#""""#), s(""));
    assert_eq!(value_of(r#""null""#), s("null"));
    assert_eq!(value_of(r#""~""#), s("~"));
    assert_eq!(value_of(r#""true""#), s("true"));
    assert_eq!(value_of(r#""  padded ""#), s("  padded "));
}

#[test]
fn single_quoted_values() {
    assert_eq!(value_of("'it''s'"), s("it's"));
    assert_eq!(value_of(r"'back\slash\n'"), s(r"back\slash\n"));
    assert_eq!(value_of("'a: b # c' # comment"), s("a: b # c"));
    assert_eq!(value_of("''"), s(""));
}

#[test]
fn rejected_structure_names_the_line() {
    assert_error("a: 1\n  b: 2\n", 2, "indented line");
    assert_error("a:\n  b: 2\n", 2, "indented line");
    assert_error("a: 1\n\tb: 2\n", 2, "indented line");
    assert_error("a:\n- x\n", 2, "lists are not supported");
    assert_error("a: 1\n-\n", 2, "lists are not supported");
    assert_error("{a: 1}\n", 1, "flow mappings");
    assert_error("[a]\n", 1, "flow mappings");
    assert_error("a: 1\n---\nb: 2\n", 2, "second YAML document");
    assert_error("---\n---\n", 2, "second YAML document");
    assert_error("a: 1\n...\n", 2, "second YAML document");
    assert_error(
        "# c\n\na: 1\nb: 2\na: 3\n",
        5,
        "duplicate key \"a\" (first set on line 3)",
    );
    assert_error("just text\n", 1, "expected `key: value`");
    assert_error("\"a\": 1\n", 1, "expected `key: value`");
    assert_error("a.b: 1\n", 1, "expected `key: value`");
    assert_error("? a\n", 1, "expected `key: value`");
    assert_error("%YAML 1.2\n", 1, "expected `key: value`");
    assert_error("a:b\n", 1, "space after `:`");
}

#[test]
fn rejected_values_name_the_line() {
    assert_error("x: 1\na: |\n  text\n", 2, "block scalars");
    assert_error("a: >-\n", 1, "block scalars");
    assert_error("a: {b: 1}\n", 1, "flow mappings");
    assert_error("a: [1, 2]\n", 1, "flow mappings");
    assert_error("a: &anchor x\n", 1, "anchors and aliases");
    assert_error("a: *anchor\n", 1, "anchors and aliases");
    assert_error("a: !!str x\n", 1, "tags");
    assert_error("a: @x\n", 1, "cannot start with `@`");
    assert_error("a: `x\n", 1, "cannot start with `");
    assert_error("a: - x\n", 1, "cannot start with `- `");
    assert_error("a: b: c\n", 1, "inside a value");
    assert_error("a: b:\n", 1, "inside a value");
    assert_error("a: \"open\n", 1, "unterminated double-quoted");
    assert_error("a: \"open\\\"\n", 1, "unterminated double-quoted");
    assert_error("a: 'open\n", 1, "unterminated single-quoted");
    assert_error("a: \"x\" y\n", 1, "after the closing quote");
    assert_error("a: \"x\"# c\n", 1, "after the closing quote");
    assert_error("a: 'x'y\n", 1, "after the closing quote");
    assert_error("a: \"\\q\"\n", 1, "unknown escape `\\q`");
    assert_error("a: \"\\u12\"\n", 1, "four hex digits");
    assert_error("a: \"\\ud83d\"\n", 1, "unpaired surrogate");
    assert_error("a: \"\\ud83d\\u0041\"\n", 1, "unpaired surrogate");
}

#[test]
fn errors_never_show_values() {
    for text in [
        "api-key: \"secret-value\\q\"\n",
        "api-key: secret-value: x\n",
        "api-key: 'secret-value\n",
        "api-key: \"secret-value\" tail\n",
    ] {
        assert!(!error(text).contains("secret-value"), "{text}");
    }
    let entry = &parse("api-key: secret-value\n", Path::new("c.yaml")).expect("parses")[0];
    assert!(!format!("{entry:?}").contains("secret-value"));
}

#[test]
fn known_keys_come_from_the_flags() {
    let known = known_keys();
    assert_eq!(
        known.get("api-key").map(String::as_str),
        Some("BATON_API_KEY")
    );
    assert_eq!(known.get("file").map(String::as_str), Some("BATON_FILE"));
    assert_eq!(
        known.get("log-level").map(String::as_str),
        Some("BATON_LOG_LEVEL")
    );
    assert_eq!(
        known.get("client-id").map(String::as_str),
        Some("BATON_CLIENT_ID")
    );
    assert_eq!(
        known.get("client-secret").map(String::as_str),
        Some("BATON_CLIENT_SECRET")
    );
    assert!(known.contains_key("keep-sync-count"));
    // No variable: not a config key.
    assert!(!known.contains_key("dry-run"));
    assert!(!known.contains_key("version"));
}

#[test]
fn plan_keeps_set_variables_and_skips_unset_values() {
    let entries = parse(
        "api-key: k\nfile: f.c1z\norganization-id: ~\nlog-level: debug\n",
        Path::new("c.yaml"),
    )
    .expect("parses");
    let got = plan(&entries, &known_keys(), Path::new("c.yaml"), |name| {
        name == "BATON_LOG_LEVEL"
    })
    .expect("known keys");
    let got: Vec<(String, String)> = got.into_iter().map(|a| (a.env, a.value)).collect();
    assert_eq!(
        got,
        vec![
            ("BATON_API_KEY".to_owned(), "k".to_owned()),
            ("BATON_FILE".to_owned(), "f.c1z".to_owned()),
        ]
    );
}

#[test]
fn unknown_keys_name_the_file_the_line_and_the_closest_key() {
    let message = |text: &str| {
        let entries = parse(text, Path::new("c.yaml")).expect("parses");
        let err =
            plan(&entries, &known_keys(), Path::new("c.yaml"), |_| false).expect_err("unknown");
        assert!(err.is::<UsageError>());
        err.to_string()
    };
    let msg = message("file: x\napi_key: secret-value\n");
    assert!(
        msg.starts_with(
            "config file c.yaml: line 2: unknown key \"api_key\"; did you mean \"api-key\"?"
        ),
        "{msg}"
    );
    assert!(!msg.contains("secret-value"), "{msg}");
    assert!(message("BATON_LOG_LEVEL: x\n").contains("did you mean \"log-level\"?"));
    assert!(message("deployment-endpiont: x\n").contains("did you mean \"deployment-endpoint\"?"));
    let msg = message("colour: x\n");
    assert!(msg.contains("unknown key \"colour\""), "{msg}");
    assert!(!msg.contains("did you mean"), "{msg}");
    // Unknown even without a value.
    assert!(message("nothing:\n").contains("unknown key \"nothing\""));
}

#[test]
fn locate_checks_the_named_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let absent_default = dir.path().join(".baton.yaml");
    assert_eq!(locate(None, &absent_default).expect("ok"), None);
    assert_eq!(locate(Some("".into()), &absent_default).expect("ok"), None);
    std::fs::write(&absent_default, "").expect("write");
    assert_eq!(
        locate(None, &absent_default).expect("ok"),
        Some(absent_default.clone())
    );
    let other = dir.path().join("other.yml");
    std::fs::write(&other, "").expect("write");
    assert_eq!(
        locate(Some(other.clone().into()), &absent_default).expect("ok"),
        Some(other)
    );
    let msg = locate(Some("x.txt".into()), &absent_default)
        .expect_err("extension")
        .to_string();
    assert!(
        msg.contains(".yaml or .yml") && msg.contains("x.txt"),
        "{msg}"
    );
    let missing = dir.path().join("missing.yaml");
    let msg = locate(Some(missing.clone().into()), &absent_default)
        .expect_err("missing")
        .to_string();
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");
}

/// A config file in a fresh folder, loaded; the folder is returned to keep it alive.
fn loaded(text: &str) -> (tempfile::TempDir, baton_elastic::config_file::ConfigFile) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, text).expect("write");
    let file = load(Some(path.into()), &dir.path().join(".baton.yaml"))
        .expect("loads")
        .expect("a file");
    (dir, file)
}

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
    let vars: BTreeMap<String, OsString> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
        .collect();
    move |name| vars.get(name).cloned()
}

#[test]
fn file_values_are_defaults_below_flags_and_set_variables() {
    let (_dir, file) = loaded("file: from-file.c1z\nlog-level: debug\norganization-id: ~\n");
    let cli = parse_command_line(["baton-elastic"], Some(&file), env_of(&[])).expect("parses");
    assert_eq!(cli.global.file, PathBuf::from("from-file.c1z"));
    assert_eq!(cli.global.log_level, LogLevel::Debug);
    assert_eq!(cli.global.organization_id, None);

    // The flag wins, after the subcommand too.
    let cli = parse_command_line(
        ["baton-elastic", "sync", "-f", "from-flag.c1z"],
        Some(&file),
        env_of(&[]),
    )
    .expect("parses");
    assert_eq!(cli.global.file, PathBuf::from("from-flag.c1z"));

    // A set variable wins over the file: its value is not merged (end to end in tests/config_file.rs).
    let set = env_of(&[("BATON_LOG_LEVEL", "warn")]);
    let assignments = plan(&file.entries, &known_keys(), &file.path, |name| {
        set(name).is_some_and(|v| !v.is_empty())
    })
    .expect("known keys");
    let keys: Vec<&str> = assignments.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["file"]);

    // An empty variable counts as unset.
    let cli = parse_command_line(
        ["baton-elastic"],
        Some(&file),
        env_of(&[("BATON_FILE", "")]),
    )
    .expect("parses");
    assert_eq!(cli.global.file, PathBuf::from("from-file.c1z"));

    // No file: the built-in defaults.
    let cli = parse_command_line(["baton-elastic"], None, env_of(&[])).expect("parses");
    assert_eq!(cli.global.file, PathBuf::from("sync.c1z"));
    assert_eq!(cli.global.log_level, LogLevel::Info);
}

#[test]
fn a_bad_value_from_the_file_names_the_file_line_and_key_but_not_the_value() {
    let (_dir, file) = loaded("file: x.c1z\nlog-level: loudest\n");
    let err = parse_command_line(["baton-elastic"], Some(&file), env_of(&[])).expect_err("bad");
    assert!(err.is::<UsageError>(), "{err:#}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "config file {}: line 2: invalid value for key \"log-level\"",
            file.path.display()
        )),
        "{msg}"
    );
    assert!(
        msg.contains("possible values: debug, info, warn, error"),
        "{msg}"
    );
    assert!(!msg.contains("loudest"), "{msg}");

    let (_dir, file) = loaded("http-timeout-seconds: 0\n");
    let msg = parse_command_line(["baton-elastic"], Some(&file), env_of(&[]))
        .expect_err("out of range")
        .to_string();
    assert!(
        msg.contains("line 1: invalid value for key \"http-timeout-seconds\""),
        "{msg}"
    );

    // A bad value on the command line stays clap's own error.
    let err = parse_command_line(
        ["baton-elastic", "--log-level", "loudest"],
        None,
        env_of(&[]),
    )
    .expect_err("bad flag");
    let clap_error = err.downcast_ref::<clap::Error>().expect("a clap error");
    assert_eq!(clap_error.exit_code(), 2);
}

#[test]
fn api_keys_from_the_file_stay_out_of_help_and_debug_output() {
    let (_dir, file) = loaded("api-key: secret-value\ndeployment-api-key: other-secret\n");
    let err = parse_command_line(["baton-elastic", "--help"], Some(&file), env_of(&[]))
        .expect_err("help is a clap error");
    let help = err
        .downcast_ref::<clap::Error>()
        .expect("a clap error")
        .to_string();
    assert!(help.contains("--api-key"), "{help}");
    assert!(
        !help.contains("secret-value") && !help.contains("other-secret"),
        "{help}"
    );
    assert!(!format!("{file:?}").contains("secret-value"));
    let cli = parse_command_line(["baton-elastic"], Some(&file), env_of(&[])).expect("parses");
    assert_eq!(cli.global.api_key.as_deref(), Some("secret-value"));
}

#[test]
fn loading_refuses_unknown_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, "colour: blue\n").expect("write");
    let err = load(Some(path.into()), Path::new("unused.yaml")).expect_err("unknown");
    assert!(err.is::<UsageError>());
    assert!(err.to_string().contains("unknown key \"colour\""));
    assert_eq!(
        load(None, &dir.path().join(".baton.yaml")).expect("no file"),
        None
    );
}
