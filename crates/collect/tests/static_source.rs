//! The static source reads what users have: manifests, `kubectl get -o yaml|json` dumps, lists,
//! gzip; and refuses what it cannot read, with the file and line.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::{io::Write as _, path::Path};

use kollect_collect::{StaticSource, synthetic_uid};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

const DUMP_JSON: &str = r#"{"apiVersion":"v1","kind":"List","items":[
 {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop","uid":"u-web","resourceVersion":"10"},"spec":{"replicas":2}},
 {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api","namespace":"shop","uid":"u-api","resourceVersion":"11"},"spec":{"replicas":1}}
],"metadata":{"resourceVersion":""}}"#;

#[test]
fn reads_manifests_dumps_lists_and_gzip_recursively() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a/manifests.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n  namespace: shop\ndata: {k: v}\n---\n# a comment-only document\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: two, namespace: shop}\n");
    write(dir.path(), "b/dump.json", DUMP_JSON.as_bytes());
    write(
        dir.path(),
        "c/nodes.yaml.gz",
        &gzip(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {name: n1, uid: u-n1}\n",
        ),
    );
    write(dir.path(), "notes.txt", b"not a manifest");
    write(dir.path(), ".hidden/skip.yaml", b"this: is ignored");
    let source = StaticSource::load(&[dir.path().to_owned()]).unwrap();
    assert_eq!(source.files(), 3);
    assert_eq!(source.len(), 5);
    let kinds: Vec<(&str, &str, usize)> = source.kinds().collect();
    assert_eq!(
        kinds,
        [
            ("apps/v1", "Deployment", 2),
            ("v1", "ConfigMap", 2),
            ("v1", "Node", 1)
        ]
    );
    let deployments: Vec<&str> = source
        .objects("apps", "Deployment")
        .map(|o| o.value["metadata"]["uid"].as_str().unwrap())
        .collect();
    assert_eq!(
        deployments,
        ["u-api", "u-web"],
        "ordered by namespace and name; dump uids kept"
    );
    let one = source.objects("", "ConfigMap").next().unwrap();
    assert_eq!(
        one.value["metadata"]["uid"],
        synthetic_uid("v1", "ConfigMap", "shop", "one")
    );
    assert!(one.origin.ends_with("manifests.yaml:1"), "{}", one.origin);
    assert_eq!(source.objects("", "Node").count(), 1);
    assert_eq!(source.objects("apps", "ConfigMap").count(), 0);
}

#[test]
fn synthetic_uids_are_stable_and_distinct() {
    let a = synthetic_uid("v1", "ConfigMap", "shop", "one");
    assert_eq!(a, synthetic_uid("v1", "ConfigMap", "shop", "one"));
    assert_ne!(a, synthetic_uid("v1", "ConfigMap", "shop", "two"));
    assert_ne!(a, synthetic_uid("v1", "Secret", "shop", "one"));
    assert!(a.starts_with("static-") && a.len() == 39);
}

#[test]
fn overlapping_dumps_keep_one_copy_and_conflicts_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "one.json", DUMP_JSON.as_bytes());
    write(dir.path(), "two.json", DUMP_JSON.as_bytes());
    let source = StaticSource::load(&[dir.path().to_owned()]).unwrap();
    assert_eq!((source.len(), source.duplicates()), (2, 2));

    write(dir.path(), "three.yaml", b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop, uid: u-web, resourceVersion: '10'}\nspec: {replicas: 9}\n");
    let errors = StaticSource::load(&[dir.path().to_owned()]).unwrap_err();
    assert_eq!(errors.len(), 1);
    let message = errors[0].to_string();
    assert!(
        message.contains("three.yaml:1")
            && message.contains("Deployment shop/web is also defined, differently"),
        "{message}"
    );
}

#[test]
fn bad_input_is_reported_with_file_and_line_and_loads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "good.yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n",
    );
    write(
        dir.path(),
        "broken.yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
    );
    write(dir.path(), "nokind.yaml", b"---\nfoo: bar\n");
    write(
        dir.path(),
        "noname.json",
        br#"{"apiVersion":"v1","kind":"Secret","metadata":{}}"#,
    );
    write(dir.path(), "fake.yaml.gz", b"\x1f\x8bnot really gzip");
    let errors = StaticSource::load(&[dir.path().to_owned()]).unwrap_err();
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 4, "{messages:#?}");
    assert!(messages.iter().any(|m| m.contains("broken.yaml:")));
    assert!(
        messages
            .iter()
            .any(|m| m.contains("nokind.yaml:2") && m.contains("no apiVersion or kind"))
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("noname.json:1") && m.contains("Secret without metadata.name"))
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("fake.yaml.gz") && m.contains("not a valid gzip file"))
    );

    let missing = StaticSource::load(&[dir.path().join("nope")]).unwrap_err();
    assert!(missing[0].to_string().contains("cannot read"));
    let empty = tempfile::tempdir().unwrap();
    let none = StaticSource::load(&[empty.path().to_owned()]).unwrap_err();
    assert!(
        none[0]
            .message
            .contains("no .yaml, .yml, .json or .gz manifest found")
    );
}
