//! Logs and progress of a sync run by the real binary. With stderr on a pipe: logs only on stderr (json by
//! default, one object per line), command output only on stdout, and no progress drawing or ANSI codes.
//! On a terminal (a pseudo-terminal made by `script`): console logs and the progress lines.

mod cli_support;
mod common;

use common::{demo_fake, run, sync_args, temp_target};
use serde_json::Value;

fn sync_with(extra: &[&str]) -> (std::process::Output, std::path::PathBuf, tempfile::TempDir) {
    let fake = demo_fake();
    let (dir, file) = temp_target();
    let mut args = sync_args(&fake, &file);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out, file, dir)
}

/// Checks that every stderr line is one JSON object starting with `level`, `ts`, `msg`.
fn json_lines(stderr: &str) -> Vec<Value> {
    assert!(!stderr.is_empty());
    stderr
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object: {line}: {e}"));
            assert!(line.starts_with(r#"{"level":""#), "{line}");
            let ts = line.find(r#","ts":"#).expect("ts");
            let msg = line.find(r#","msg":"#).expect("msg");
            assert!(ts < msg, "level, ts, msg come first: {line}");
            assert!(
                ["debug", "info", "warn", "error"].contains(&v["level"].as_str().expect("level"))
            );
            assert!(v["ts"].as_f64().expect("ts is epoch seconds") > 1.7e9);
            assert!(v["msg"].is_string());
            v
        })
        .collect()
}

#[test]
fn logs_json_lines_parse_one_by_one_and_stdout_holds_only_the_summary() {
    let (out, file, _dir) = sync_with(&["--log-format", "json", "--log-level", "debug"]);
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    let lines = json_lines(&stderr);
    let msgs: Vec<&str> = lines
        .iter()
        .map(|v| v["msg"].as_str().expect("msg"))
        .collect();
    assert!(msgs.contains(&"sync started"), "{msgs:?}");
    assert!(msgs.contains(&"sync complete"), "{msgs:?}");
    assert!(
        lines
            .iter()
            .any(|v| v["level"] == "debug" && v["msg"] == "fetched list" && v["count"].is_u64()),
        "steps are debug logs when stderr is not a terminal"
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(!stdout.contains(r#""level""#), "no logs on stdout");
    // The summary: file and size, counts per type, entitlements, grants, requests and duration.
    let size = std::fs::metadata(&file).expect("file").len();
    assert!(
        stdout.starts_with(&format!("Wrote {} (", file.display())),
        "{stdout}"
    );
    assert!(size > 0);
    for row in [
        "organization",
        "user",
        "role",
        "deploymentUser",
        "roleMapping",
        "entitlements",
        "grants",
    ] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(row)
                && l.split_whitespace()
                    .nth(1)
                    .is_some_and(|n| n.parse::<u64>().is_ok())),
            "{row} count missing: {stdout}"
        );
    }
    assert!(stdout.contains(" API requests, "), "{stdout}");
    assert!(stdout.trim_end().ends_with(" s"), "duration: {stdout}");
}

#[test]
fn logs_default_to_json_when_stderr_is_not_a_terminal_and_respect_the_level() {
    // Without BATON_LOG_LEVEL (the shared test runner sets it to debug).
    let fake = demo_fake();
    let (_dir, file) = temp_target();
    let out = common::output(cli_support::binary().args(sync_args(&fake, &file)));
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    let lines = json_lines(&stderr);
    assert!(
        lines.iter().all(|v| v["level"] != "debug"),
        "info is the default level"
    );
    let (out, _file, _dir) = sync_with(&["--log-level", "warn"]);
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert!(
        !stderr.contains(r#""level":"info""#),
        "no info lines at warn: {stderr}"
    );
    let bad = cli_support::binary()
        .args(["--log-level", "verbose", "capabilities"])
        .output()
        .expect("runs");
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown level is a usage error"
    );
    let bad = cli_support::binary()
        .args(["--log-format", "xml", "capabilities"])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn progress_is_not_drawn_and_no_ansi_codes_when_stderr_is_not_a_terminal() {
    for format in ["console", "json"] {
        let (out, _file, _dir) = sync_with(&["--log-format", format, "--log-level", "debug"]);
        for (name, bytes) in [("stderr", &out.stderr), ("stdout", &out.stdout)] {
            assert!(!bytes.contains(&0x1b), "{format}: ANSI escape on {name}");
            assert!(
                !bytes.contains(&b'\r'),
                "{format}: carriage return on {name}"
            );
        }
        let stderr = String::from_utf8(out.stderr).expect("utf-8");
        for line in stderr.lines() {
            // Every stderr line is a log line; no progress step lines such as "  organizations   3   0.1 s".
            assert!(!line.starts_with("  "), "{format}: progress line {line:?}");
            if format == "console" {
                assert!(
                    line.starts_with("20") && (line.contains(" DEBUG ") || line.contains(" INFO ")),
                    "{line}"
                );
            }
        }
    }
}

#[test]
fn progress_is_drawn_on_a_terminal() {
    let (_dir, file) = temp_target();
    let command = format!(
        "{} sync --demo -f {}",
        env!("CARGO_BIN_EXE_baton-elastic"),
        file.display()
    );
    // `script` (util-linux) runs the command on a pseudo-terminal and copies what it draws to stdout.
    let mut script = std::process::Command::new("script");
    for (key, _) in std::env::vars() {
        if key.starts_with("BATON_") {
            script.env_remove(key);
        }
    }
    let out = script
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("`script` from util-linux runs the binary on a pseudo-terminal");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("\u{1b}[2K"),
        "progress lines are redrawn: {screen}"
    );
    assert!(screen.contains("reading Elastic"), "{screen}");
    // One line per finished write phase (printed, so never lost to the redraw rate), with its count.
    for phase in [
        "writing rows",
        "expanding grants",
        "building indexes",
        "compressing",
    ] {
        assert!(
            drawn_lines(&screen).any(|l| l.trim_start().starts_with(phase)),
            "{phase}: {screen}"
        );
    }
    assert!(
        drawn_lines(&screen).any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.starts_with(&["writing", "rows"]) && words.get(3) == Some(&"rows")
        }),
        "the rows line has a count: {screen}"
    );
    // One line per list, with its count and elapsed time (whatever the machine's speed made it).
    assert!(
        screen.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.windows(4).any(|w| {
                w[0] == "organizations" && w[1] == "3" && w[2].parse::<f64>().is_ok() && w[3] == "s"
            })
        }),
        "{screen}"
    );
    // Console logs, not json, on a terminal; the summary still ends the run.
    assert!(screen.contains(" INFO  sync started"), "{screen}");
    assert!(!screen.contains(r#""level""#), "{screen}");
    assert!(screen.contains("  grants"), "{screen}");
}

/// The text of each screen line as last drawn: what follows its last "erase line" sequence.
fn drawn_lines(screen: &str) -> impl Iterator<Item = &str> {
    screen
        .lines()
        .map(|l| l.rsplit("\u{1b}[2K").next().unwrap_or(l))
}
