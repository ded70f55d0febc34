//! The config file, end to end: the real binary run in a folder holding a `.baton.yaml` (or pointed at
//! another file by `BATON_CONFIG_PATH`), against the fake Elastic.

mod common;

use common::{binary, demo_fake, demo_keys, open, output};
use elastic_fake::FakeElastic;
use std::path::Path;
use std::process::{Command, Output};

/// A config file setting everything a full sync of `fake` needs, writing `file`, plus `extra` lines.
fn sync_config(fake: &FakeElastic, file: &str, extra: &str) -> String {
    let (cloud_key, deployment_key) = demo_keys();
    format!(
        "# baton-elastic settings\n---\napi-key: \"{cloud_key}\"\ncloud-url: {url}  # the fake\n\
         deployment-endpoint: {url}\ndeployment-api-key: '{deployment_key}'\nfile: {file}\n\
         organization-id: ~\n{extra}",
        url = fake.url()
    )
}

/// The binary run in `dir`, with no `BATON_*` variable but the test ones.
fn in_dir(dir: &Path) -> Command {
    let mut cmd = binary();
    cmd.current_dir(dir);
    cmd
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_success(out: &Output) {
    let (stdout, stderr) = text(out);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status.code()
    );
}

/// Asserts exit status 2 and that stderr holds every one of `words`; returns stderr.
fn assert_usage_error(out: &Output, words: &[&str]) -> String {
    let (stdout, stderr) = text(out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    for word in words {
        assert!(stderr.contains(word), "{word:?} not in: {stderr}");
    }
    assert_eq!(stderr.lines().count(), 1, "one error line: {stderr}");
    stderr
}

/// Whether `path` holds a finished sync that includes the deployment's users.
fn synced_with_deployment(path: &Path) -> bool {
    let file = open(path);
    let sync = file
        .default_sync()
        .expect("query")
        .expect("a finished sync");
    file.resources(&sync.sync_id)
        .expect("resources")
        .iter()
        .any(|r| r.resource_type_id == "deploymentUser")
}

#[test]
fn a_sync_configured_only_by_the_file_works() {
    let fake = demo_fake();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(".baton.yaml"),
        sync_config(&fake, "from-file.c1z", ""),
    )
    .expect("write config");
    let out = output(&mut in_dir(dir.path()));
    assert_success(&out);
    assert!(synced_with_deployment(&dir.path().join("from-file.c1z")));
    assert!(!dir.path().join("sync.c1z").exists());
}

#[test]
fn an_environment_variable_overrides_the_file_and_a_flag_overrides_both() {
    let fake = demo_fake();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(".baton.yaml"),
        sync_config(&fake, "from-file.c1z", ""),
    )
    .expect("write config");

    let out = output(in_dir(dir.path()).env("BATON_FILE", "from-env.c1z"));
    assert_success(&out);
    assert!(dir.path().join("from-env.c1z").exists());
    assert!(!dir.path().join("from-file.c1z").exists());

    let out = output(
        in_dir(dir.path())
            .env("BATON_FILE", "from-env-2.c1z")
            .args(["-f", "from-flag.c1z"]),
    );
    assert_success(&out);
    assert!(dir.path().join("from-flag.c1z").exists());
    assert!(!dir.path().join("from-env-2.c1z").exists());
    assert!(!dir.path().join("from-file.c1z").exists());

    // An empty variable counts as unset: the file's value applies.
    let out = output(in_dir(dir.path()).env("BATON_FILE", ""));
    assert_success(&out);
    assert!(dir.path().join("from-file.c1z").exists());

    // A wrong key in the environment wins over the right one in the file.
    let out = output(in_dir(dir.path()).env("BATON_API_KEY", "wrong-key-from-env"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
}

#[test]
fn config_path_names_a_yml_file_elsewhere() {
    let fake = demo_fake();
    let run_dir = tempfile::tempdir().expect("tempdir");
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let conf = conf_dir.path().join("elastic.yml");
    std::fs::write(&conf, sync_config(&fake, "named.c1z", "")).expect("write config");
    // The default file is not read when another is named.
    std::fs::write(run_dir.path().join(".baton.yaml"), "colour: blue\n").expect("write");
    let out = output(in_dir(run_dir.path()).env("BATON_CONFIG_PATH", &conf));
    assert_success(&out);
    assert!(synced_with_deployment(&run_dir.path().join("named.c1z")));
}

#[test]
fn config_path_must_end_in_yaml_or_yml() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("x.txt"), "file: a.c1z\n").expect("write");
    let out = output(in_dir(dir.path()).env("BATON_CONFIG_PATH", "x.txt"));
    assert_usage_error(&out, &["BATON_CONFIG_PATH", ".yaml or .yml", "x.txt"]);
}

#[test]
fn a_missing_named_config_file_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nowhere.yaml");
    let out = output(in_dir(dir.path()).env("BATON_CONFIG_PATH", &missing));
    assert_usage_error(&out, &["nowhere.yaml", "does not exist"]);
}

#[test]
fn a_malformed_file_is_a_usage_error_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cloud_key, _) = demo_keys();
    std::fs::write(
        dir.path().join(".baton.yaml"),
        format!("api-key: {cloud_key}\nlog-level: info\n  nested: x\n"),
    )
    .expect("write");
    let out = output(&mut in_dir(dir.path()));
    assert_usage_error(&out, &["config file .baton.yaml: line 3:", "indented line"]);

    std::fs::write(
        dir.path().join(".baton.yaml"),
        format!("api-key: \"{cloud_key}\n"),
    )
    .expect("write");
    let out = output(&mut in_dir(dir.path()));
    assert_usage_error(&out, &["config file .baton.yaml: line 1:", "unterminated"]);
    assert!(!dir.path().join("sync.c1z").exists());
}

#[test]
fn an_unknown_key_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(".baton.yaml"),
        "log-level: info\ndeployment_endpoint: https://es.example\n",
    )
    .expect("write");
    let out = output(&mut in_dir(dir.path()));
    assert_usage_error(
        &out,
        &[
            "config file .baton.yaml: line 2:",
            "unknown key \\\"deployment_endpoint\\\"",
            "did you mean \\\"deployment-endpoint\\\"",
        ],
    );
}

#[test]
fn client_id_in_the_file_or_as_a_flag_asks_for_the_unsupported_service_mode() {
    let fake = demo_fake();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(".baton.yaml"),
        sync_config(
            &fake,
            "sync.c1z",
            "client-id: my-client-id\nclient-secret: my-client-secret-value\n",
        ),
    )
    .expect("write config");
    let out = output(&mut in_dir(dir.path()));
    let stderr = assert_usage_error(&out, &["--client-id", "service mode", "one-shot", "cron"]);
    assert!(!stderr.contains("my-client-secret-value"), "{stderr}");
    assert_eq!(fake.request_count(), 0);
    assert!(!dir.path().join("sync.c1z").exists());

    let empty = tempfile::tempdir().expect("tempdir");
    let out = output(in_dir(empty.path()).args(["--client-id", "x", "sync", "--demo"]));
    assert_usage_error(&out, &["--client-id", "service mode", "one-shot"]);
}

#[test]
fn keys_from_the_file_never_appear_even_at_debug_level() {
    let fake = demo_fake();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(".baton.yaml"),
        sync_config(&fake, "sync.c1z", "log-level: debug\nlog-format: json\n"),
    )
    .expect("write config");
    let mut cmd = in_dir(dir.path());
    cmd.env_remove("BATON_LOG_LEVEL");
    // `output` fails the test if a demo key shows in stdout or stderr.
    let out = output(&mut cmd);
    assert_success(&out);
    let (_, stderr) = text(&out);
    assert!(stderr.contains(r#""level":"debug""#), "{stderr}");

    // And on failure: the keys are rejected by Elastic, still not shown.
    fake.inject(elastic_fake::Fault::status("/", 401));
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
}
