//! Shared test helpers: start the fake Elastic, run the real binary against it, read the artifact back.
#![allow(dead_code)]

use baton_elastic::c1z::reader::{C1zFile, DecodeLimits};
use baton_elastic::fake::{FakeElastic, Tenant};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The demo tenant's fake keys.
pub fn demo_keys() -> (String, String) {
    let t = Tenant::demo().expect("demo tenant");
    (t.cloud_api_key, t.deployment_api_key)
}

/// A fake serving the demo tenant.
pub fn demo_fake() -> FakeElastic {
    FakeElastic::start(Tenant::demo().expect("demo tenant")).expect("fake starts")
}

/// The binary under test, with a clean environment (no BATON_* leaking in from the caller).
pub fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton-elastic"));
    for (key, _) in std::env::vars() {
        if key.starts_with("BATON_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Arguments for a full sync of `fake` into `file` (cloud and deployment).
pub fn sync_args(fake: &FakeElastic, file: &Path) -> Vec<String> {
    let (cloud_key, deployment_key) = demo_keys();
    vec![
        "--cloud-url".into(),
        fake.url(),
        "--api-key".into(),
        cloud_key,
        "--deployment-endpoint".into(),
        fake.url(),
        "--deployment-api-key".into(),
        deployment_key,
        "-f".into(),
        file.display().to_string(),
    ]
}

/// Runs the binary with `args`.
pub fn run(args: &[String]) -> Output {
    binary().args(args).output().expect("binary runs")
}

/// Runs the binary and asserts success.
pub fn run_ok(args: &[String]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Opens a c1z the way Baton's readers do.
pub fn open(path: &Path) -> C1zFile {
    C1zFile::open(path, &DecodeLimits::default()).expect("c1z opens")
}

/// A fresh temp dir and a `sync.c1z` path inside it.
pub fn temp_target() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sync.c1z");
    (dir, path)
}

/// Names of the entries of a directory.
pub fn dir_entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// Collects strings into a sorted set.
pub fn set<'a>(items: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    items.into_iter().map(str::to_owned).collect()
}
