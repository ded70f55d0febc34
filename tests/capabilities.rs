//! `capabilities` and `completions`: the capabilities JSON byte for byte, its structure against the
//! syncers, and a completion script for every shell.

mod cli_support;

use baton_elastic::syncers;
use cli_support::binary;
use std::path::Path;

fn capabilities() -> std::process::Output {
    // No key, no file, an empty environment: capabilities needs none of them.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = binary()
        .arg("capabilities")
        .current_dir(dir.path())
        .output()
        .expect("binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "capabilities writes no file"
    );
    out
}

#[test]
fn capabilities_match_the_committed_file_byte_for_byte() {
    let expected = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/capabilities.json"),
    )
    .expect("tests/snapshots/capabilities.json");
    let out = capabilities();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(out.stdout, expected);
    assert!(!out.stdout.ends_with(b"\n"), "no trailing newline");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn capabilities_list_every_syncer_type_in_order_with_provisioning_for_the_grantable_types() {
    let out = capabilities();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let items = doc["resourceTypeCapabilities"].as_array().expect("array");
    let expected: Vec<String> = syncers::resource_types()
        .into_iter()
        .map(|rt| rt.id)
        .collect();
    let ids: Vec<&str> = items
        .iter()
        .map(|i| i["resourceType"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, expected);
    for item in items {
        let id = item["resourceType"]["id"].as_str().expect("id");
        let caps: Vec<&str> = item["capabilities"]
            .as_array()
            .expect("capabilities")
            .iter()
            .map(|c| c.as_str().expect("string"))
            .collect();
        // Provisioned: the Elastic Cloud organization and deployment entitlements, the deployment's
        // roles and role mappings; the user types only receive grants.
        if ["organization", "deployment", "role", "roleMapping"].contains(&id) {
            assert_eq!(caps, ["CAPABILITY_SYNC", "CAPABILITY_PROVISION"], "{id}");
        } else {
            assert_eq!(caps, ["CAPABILITY_SYNC"], "{id}");
        }
    }
    let user = items
        .iter()
        .find(|i| i["resourceType"]["id"] == "user")
        .expect("user type");
    assert_eq!(
        user["resourceType"],
        serde_json::json!({"id":"user","displayName":"User","traits":["TRAIT_USER"],
            "annotations":[{"@type":"type.googleapis.com/c1.connector.v2.SkipEntitlementsAndGrants"}]})
    );
    let api_key = items
        .iter()
        .find(|i| i["resourceType"]["id"] == "apiKey")
        .expect("apiKey type");
    assert_eq!(
        api_key["resourceType"],
        serde_json::json!({"id":"apiKey","displayName":"API Key","traits":["TRAIT_SECRET"]})
    );
}

#[test]
fn completions_print_a_script_for_every_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _baton__elastic"),
        ("zsh", "#compdef baton-elastic"),
        ("fish", "complete -c baton-elastic"),
        ("elvish", "arg-completer[baton-elastic]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = binary()
            .args(["completions", shell])
            .output()
            .expect("binary runs");
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).expect("utf-8");
        assert!(text.contains(marker), "{shell}: {marker} missing");
        assert!(text.contains("inspect"), "{shell}: subcommands complete");
        assert!(
            text.contains("resource-types"),
            "{shell}: inspect views complete"
        );
    }
    let out = binary()
        .args(["completions", "tcsh"])
        .output()
        .expect("binary runs");
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}
