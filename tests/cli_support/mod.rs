//! Helpers for the `inspect`, `capabilities` and log tests: run the binary on a file, split console
//! tables, and compare outputs with the snapshots under `tests/snapshots/`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The Go SDK's finished full sync (`tests/data/`, from baton-sdk).
pub fn go_full() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/baton-sdk-full-sync.c1z")
}

/// The Go SDK's file whose only sync is unfinished.
pub fn go_unfinished() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/baton-sdk-unfinished-sync.c1z")
}

/// The binary with no `BATON_*` variables from the caller.
pub fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton-elastic"));
    for (key, _) in std::env::vars() {
        if key.starts_with("BATON_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs `inspect <args> -f <file>`.
pub fn inspect(file: &Path, args: &[&str]) -> Output {
    binary()
        .arg("inspect")
        .args(args)
        .arg("-f")
        .arg(file)
        .output()
        .expect("binary runs")
}

/// Runs `inspect` and returns stdout, asserting success and a quiet stderr.
pub fn inspect_ok(file: &Path, args: &[&str]) -> String {
    let out = inspect(file, args);
    assert!(
        out.status.success(),
        "inspect {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Runs `inspect ... -o json` and parses the one document.
pub fn inspect_json(file: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let text = inspect_ok(file, &all);
    assert!(!text.ends_with('\n'), "no trailing newline");
    serde_json::from_str(&text).expect("one JSON document")
}

/// Runs `inspect` expecting failure; returns (exit code, stderr).
pub fn inspect_err(file: &Path, args: &[&str]) -> (i32, String) {
    let out = inspect(file, args);
    assert!(!out.status.success(), "inspect {args:?} succeeded");
    assert!(out.stdout.is_empty(), "nothing on stdout on error");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The cells of a console table, header row first.
pub fn table(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| line.split(" | ").map(|c| c.trim().to_owned()).collect())
        .collect()
}

/// Length of a JSON array at `key` (0 when the key is left out, as protojson does for empty lists).
pub fn array_len(doc: &serde_json::Value, key: &str) -> usize {
    doc.get(key)
        .map(|v| v.as_array().expect("array").len())
        .unwrap_or(0)
}

/// Compares `actual` with `tests/snapshots/<name>`; `UPDATE_SNAPSHOTS=1` rewrites the file instead.
pub fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_SNAPSHOTS=1)", path.display()));
    assert!(
        expected == actual,
        "{name} differs from its snapshot\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}
