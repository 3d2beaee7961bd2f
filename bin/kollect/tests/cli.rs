//! The `kollect` binary end to end: `validate` on good and hostile input, `crds`, `version`.

use std::path::PathBuf;

use serde_json::Value;
use support::{Run, kollect, run};

mod support;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Writes `content` to a temporary file and validates it.
fn validate_bytes(name: &str, content: &[u8]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write");
    run(kollect().arg("validate").arg(&path))
}

fn assert_invalid(result: &Run, needle: &str) {
    assert_eq!(
        result.code, 2,
        "stdout: {}\nstderr: {}",
        result.stdout, result.stderr
    );
    assert!(
        result.stdout.contains(needle),
        "{needle:?} not in:\n{}",
        result.stdout
    );
    assert!(!result.stderr.contains("panicked"), "{}", result.stderr);
}

const PROFILE: &str = "apiVersion: kollect.dev/v1alpha1\nkind: KollectProfile\nmetadata:\n  name: web\n  namespace: shop\nspec:\n";

#[test]
fn shipped_examples_are_valid() {
    let result = run(kollect()
        .arg("validate")
        .arg(repo_root().join("deploy/examples")));
    assert_eq!(result.code, 0, "{}{}", result.stdout, result.stderr);
    assert!(result.stdout.contains(": valid ("), "{}", result.stdout);
}

#[test]
fn problems_name_file_line_object_and_field() {
    let text = format!(
        "{PROFILE}  targetGVK: {{version: v1, kind: Secret}}\n  attributes:\n    - name: release\n      path: $.data.release\n"
    );
    let result = validate_bytes("profile.yaml", text.as_bytes());
    assert_invalid(
        &result,
        "profile.yaml:10: KollectProfile/web: spec.attributes[0].path: Forbidden: reads Secret data",
    );
}

#[test]
fn expressions_that_do_not_compile_are_errors() {
    let text = format!(
        "{PROFILE}  targetGVK: {{version: v1, kind: Pod}}\n  attributes:\n    - {{name: ok, path: '{{.metadata.name}}'}}\n    - {{name: image, path: '{{.spec.containers[0].image'}}\n    - {{name: ready, path: 'cel:object.status.conditions.exists(c, c.type ==)'}}\n"
    );
    let result = validate_bytes("profile.yaml", text.as_bytes());
    assert_invalid(
        &result,
        "profile.yaml:10: KollectProfile/web: spec.attributes[1].path: Invalid value: \"{.spec.containers[0].image\": ",
    );
    assert!(result.stdout.contains("column"), "{}", result.stdout);
    assert!(
        result.stdout.contains(
            "profile.yaml:11: KollectProfile/web: spec.attributes[2].path: Invalid value"
        ),
        "{}",
        result.stdout
    );
    let text = "apiVersion: kollect.dev/v1alpha1\nkind: KollectTarget\nmetadata: {name: t, namespace: a}\nspec:\n  profileRef: p\n  resourceRules:\n    - gvk: {version: v1, kind: Pod}\n      matchPolicy: \"object.metadata.labels[\"\n";
    assert_invalid(
        &validate_bytes("t.yaml", text.as_bytes()),
        "t.yaml:8: KollectTarget/t: spec.resourceRules[0].matchPolicy: Invalid value",
    );
}

#[test]
fn unknown_fields_are_errors() {
    let text = format!(
        "{PROFILE}  targetGVK: {{version: v1, kind: Pod}}\n  attributes: [{{name: a, path: $.a}}]\n  exports: {{}}\n"
    );
    assert_invalid(
        &validate_bytes("a.yaml", text.as_bytes()),
        "a.yaml:9: KollectProfile/web: spec.exports: Unknown field: did you mean \"export\"?",
    );
}

#[test]
fn wrong_types_are_errors() {
    let text =
        format!("{PROFILE}  targetGVK: {{version: v1, kind: Pod}}\n  attributes: {{name: a}}\n");
    assert_invalid(
        &validate_bytes("a.yaml", text.as_bytes()),
        "spec.attributes: Invalid type",
    );
    let text = "apiVersion: kollect.dev/v1alpha1\nkind: KollectTarget\nmetadata: {name: t, namespace: a}\nspec: {profileRef: p, suspend: maybe}\n";
    assert_invalid(
        &validate_bytes("t.yaml", text.as_bytes()),
        "spec.suspend: Invalid type: \"maybe\": must be a boolean",
    );
}

#[test]
fn missing_required_fields_are_errors() {
    let text = format!("{PROFILE}  attributes: [{{name: a, path: $.a}}]\n");
    assert_invalid(
        &validate_bytes("a.yaml", text.as_bytes()),
        "spec.targetGVK: Required value",
    );
    let text = "apiVersion: kollect.dev/v1alpha1\nkind: KollectTarget\nmetadata: {namespace: a}\nspec: {profileRef: p}\n";
    assert_invalid(
        &validate_bytes("t.yaml", text.as_bytes()),
        "metadata.name: Required value",
    );
}

#[test]
fn duplicate_keys_are_errors() {
    let text = format!(
        "{PROFILE}  targetGVK: {{version: v1, kind: Pod}}\n  targetGVK: {{version: v1, kind: Pod}}\n"
    );
    assert_invalid(
        &validate_bytes("a.yaml", text.as_bytes()),
        "a.yaml:8: duplicate key \"targetGVK\" (first at line 7)",
    );
}

#[test]
fn alias_bombs_are_refused() {
    let mut text = String::from(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: bomb}\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for level in 1..10 {
        let refs = vec![format!("*a{}", level - 1); 9].join(", ");
        text = format!("{text}a{level}: &a{level} [{refs}]\n");
    }
    assert_invalid(&validate_bytes("bomb.yaml", text.as_bytes()), "alias bomb");
}

#[test]
fn a_fifty_mebibyte_document_is_refused() {
    let mut text =
        String::from("apiVersion: v1\nkind: Secret\nmetadata: {name: big}\nstringData:\n  blob: ");
    text.push_str(&"x".repeat(50 * 1024 * 1024));
    text.push('\n');
    assert_invalid(
        &validate_bytes("big.yaml", text.as_bytes()),
        "document is 50.0 MiB; a Kubernetes object must be smaller than 3.0 MiB",
    );
}

#[test]
fn binary_garbage_is_refused() {
    let garbage: Vec<u8> = (0..65_536u32)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[2])
        .collect();
    assert_invalid(
        &validate_bytes("garbage.yaml", &garbage),
        "not a text manifest",
    );
}

#[test]
fn unknown_api_versions_and_kinds_are_errors() {
    let text = "apiVersion: kollect.dev/v1\nkind: KollectProfile\nmetadata: {name: a}\nspec: {}\n---\napiVersion: kollect.dev/v1alpha1\nkind: KollectWidget\nmetadata: {name: b}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: c}\n";
    let result = validate_bytes("kinds.yaml", text.as_bytes());
    assert_invalid(
        &result,
        "kinds.yaml:1: KollectProfile/a: apiVersion: Invalid value: \"kollect.dev/v1\": Kollect serves only kollect.dev/v1alpha1",
    );
    assert_invalid(
        &result,
        "kinds.yaml:7: KollectWidget/b: kind: Unsupported value: \"KollectWidget\"",
    );
    assert_invalid(
        &result,
        "kinds.yaml:11: Deployment/c: kind: Unsupported value: \"Deployment\": not a Kollect object",
    );
}

#[test]
fn json_output_lists_every_problem() {
    let text = format!("{PROFILE}  targetGVK: {{version: v1, kind: \"\"}}\n");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("p.json.yaml");
    std::fs::write(&path, text).expect("write");
    let result = run(kollect()
        .args(["validate", "--output", "json", "-f"])
        .arg(&path));
    assert_eq!(result.code, 2);
    let document: Value = serde_json::from_str(&result.stdout).expect("JSON output");
    assert_eq!(document["valid"], false);
    let problems = document["problems"].as_array().expect("problems");
    assert!(
        problems.iter().any(|p| p["field"] == "spec.targetGVK.kind"
            && p["type"] == "Required"
            && p["line"] == 7)
    );
    assert!(problems.iter().all(|p| p["severity"] == "error"));
}

#[test]
fn tenant_mode_flag_changes_the_outcome() {
    let file = repo_root().join("deploy/examples/kinds/kollectclustertarget.yaml");
    assert_eq!(run(kollect().arg("validate").arg(&file)).code, 0);
    let result = run(kollect().args(["validate", "--tenant-mode"]).arg(&file));
    assert_invalid(&result, "tenantMode=true");
}

#[test]
fn missing_paths_and_empty_invocations_are_usage_errors() {
    let result = run(kollect().args(["validate", "/nonexistent/kollect.yaml"]));
    assert_invalid(
        &result,
        "/nonexistent/kollect.yaml: no such file or directory",
    );
    let result = run(kollect().arg("validate"));
    assert_eq!(result.code, 2);
    assert!(
        result.stderr.contains("nothing to validate"),
        "{}",
        result.stderr
    );
    let empty = tempfile::tempdir().expect("temp dir");
    assert_invalid(
        &run(kollect().arg("validate").arg(empty.path())),
        "no manifests found",
    );
    let result = run(kollect().args(["validate", "--output", "xml", "x"]));
    assert_eq!(result.code, 2, "clap usage errors exit with 2");
}

#[test]
fn unreadable_files_are_internal_errors() {
    // Reading /proc/self/mem at offset 0 fails with an I/O error: not the input's fault.
    let mem = PathBuf::from("/proc/self/mem");
    if !mem.exists() {
        eprintln!("SKIPPED: /proc/self/mem is not available on this system");
        return;
    }
    let result = run(kollect().arg("validate").arg(&mem));
    assert_eq!(result.code, 1, "{}{}", result.stdout, result.stderr);
    assert!(result.stdout.contains("cannot read"), "{}", result.stdout);
}

#[test]
fn crds_prints_eleven_definitions() {
    let result = run(kollect().arg("crds"));
    assert_eq!(result.code, 0, "{}", result.stderr);
    let documents = kollect_api::manifest::parse(result.stdout.as_bytes());
    assert_eq!(documents.len(), 11);
    for document in documents {
        let document = document.expect("parses");
        assert_eq!(document.value["kind"], "CustomResourceDefinition");
    }
}

#[test]
fn version_prints_one_line() {
    let result = run(kollect().arg("version"));
    assert_eq!(result.code, 0);
    let line = result.stdout.trim_end();
    assert!(
        line.starts_with(env!("CARGO_PKG_VERSION"))
            && line.contains(" (commit ")
            && line.contains(", built "),
        "{line}"
    );
    assert_eq!(result.stdout.lines().count(), 1);
}

#[test]
fn completion_scripts_cover_every_command() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(kollect().args(["completion", shell]));
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        for command in [
            "collect",
            "preview",
            "diff",
            "validate",
            "init",
            "completion",
        ] {
            assert!(out.stdout.contains(command), "{shell} lacks {command}");
        }
    }
    let out = run(kollect().args(["completion", "tcsh"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("possible values: bash"),
        "{}",
        out.stderr
    );
}

#[test]
fn every_command_explains_itself_with_an_example() {
    for command in [
        "collect",
        "preview",
        "diff",
        "validate",
        "init",
        "completion",
    ] {
        let out = run(kollect().args([command, "--help"]));
        assert_eq!(out.code, 0, "{command}");
        assert!(
            out.stdout.contains("Examples:"),
            "{command} --help has no example"
        );
    }
}

#[test]
fn init_without_a_terminal_points_at_the_samples() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(kollect()
        .args(["init", "--output"])
        .arg(dir.path().join("config"))
        .stdin(std::process::Stdio::null()));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert_eq!(
        out.stderr,
        "error: kollect init asks questions and needs a terminal (stdin and stderr); without one, start from the samples in examples/quickstart/config (profiles, targets, sinks), edit them, and check them with `kollect validate --config DIR`\n"
    );
    assert!(!dir.path().join("config").exists(), "nothing written");
}
