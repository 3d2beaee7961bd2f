//! The layout engine (sinks spec §6): one export → the files that represent it in the
//! repository. A pure function of the rows, the parts and the [`LayoutConfig`].
//!
//! ```text
//!  document     inventory/team-a/apps.yaml                    one file (per part)
//!  perResource  prod-west/team-a/deployment/api.yaml          one file per row
//!  split        inventory/team-a/apps.yaml  (index: paths)    index + one file per row
//!               prod-west/team-a/deployment/api.yaml
//!  multipart tree layouts add inventory/team-a/apps.manifest.json (the set manifest)
//! ```

use std::{collections::HashMap, fmt, fmt::Write as _};

use kollect_api::{
    canonical,
    row::TargetRow,
    v1alpha1::{GroupInPath, LayoutContent, LayoutMode},
};
use kollect_export::{InventoryKey, Parts, SCHEMA_VERSION, Snapshot, decode};
use serde_json::{Map, Value};

use super::{
    config::{Format, LayoutConfig},
    encode,
    error::{Error, Result},
};

/// The directory (first path segment) the sink keeps its own bookkeeping in.
pub(super) const RESERVED_DIR: &str = ".kollect";
/// Attribute key of the embedded object when Resource mode is off (sinks spec §6.2).
const DEFAULT_MANIFEST_KEY: &str = "resource";

/// Which placeholders a template may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Grammar {
    /// Document, index and set-manifest paths (grammar A): `{cluster}`, `{namespace}`, `{name}`,
    /// `{generation}`, `{extension}`; must hold `{namespace}` and `{name}`.
    Inventory,
    /// Per-item paths (grammar B): also the item's target, source, group, kind and uid; must
    /// hold `{sourceName}`, `{name}` or `{uid}`.
    Item,
}

/// A placeholder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Var {
    Cluster,
    Namespace,
    Name,
    Generation,
    Extension,
    TargetNamespace,
    TargetName,
    SourceNamespace,
    SourceName,
    Group,
    Kind,
    Uid,
}

impl Var {
    fn parse(word: &str, grammar: Grammar) -> Option<Self> {
        let var = match word {
            "cluster" => Self::Cluster,
            "namespace" => Self::Namespace,
            "name" => Self::Name,
            "generation" => Self::Generation,
            "extension" => Self::Extension,
            "targetNamespace" => Self::TargetNamespace,
            "targetName" => Self::TargetName,
            "sourceNamespace" => Self::SourceNamespace,
            "sourceName" => Self::SourceName,
            "group" => Self::Group,
            "kind" => Self::Kind,
            "uid" => Self::Uid,
            _ => return None,
        };
        let inventory_level = matches!(
            var,
            Self::Cluster | Self::Namespace | Self::Name | Self::Generation | Self::Extension
        );
        (inventory_level || grammar == Grammar::Item).then_some(var)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(Var),
}

/// A path template, parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Template {
    source: String,
    pieces: Vec<Piece>,
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Template {
    /// Parses `text` under `grammar` (API spec §10.4). Placeholders other grammars know are
    /// refused; `{Word}` with capitals is literal text in the inventory grammar, as in Go.
    pub(super) fn parse(text: &str, grammar: Grammar) -> Result<Self, String> {
        if text.contains("..") {
            return Err(format!("{text:?} must not contain '..'"));
        }
        if grammar == Grammar::Inventory && text.starts_with('/') {
            return Err(format!("{text:?} must be relative (no leading '/')"));
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let word_end = rest[open + 1..]
                .find(|c: char| !c.is_ascii_alphabetic())
                .map_or(rest.len(), |end| open + 1 + end);
            let word = &rest[open + 1..word_end];
            let closed = rest[word_end..].starts_with('}') && !word.is_empty();
            if !closed {
                push_text(&mut pieces, &rest[..=open]);
                rest = &rest[open + 1..];
                continue;
            }
            push_text(&mut pieces, &rest[..open]);
            match Var::parse(word, grammar) {
                Some(var) => pieces.push(Piece::Var(var)),
                None if grammar == Grammar::Inventory
                    && word.chars().any(|c| c.is_ascii_uppercase()) =>
                {
                    push_text(&mut pieces, &rest[open..=word_end]);
                }
                None => {
                    let allowed = match grammar {
                        Grammar::Inventory => {
                            "{cluster} {namespace} {name} {generation} {extension}"
                        }
                        Grammar::Item => {
                            "{cluster} {namespace} {name} {targetNamespace} {targetName} \
                             {sourceNamespace} {sourceName} {group} {kind} {uid} {generation} \
                             {extension}"
                        }
                    };
                    return Err(format!(
                        "{text:?} uses the unknown placeholder {{{word}}}; allowed: {allowed}"
                    ));
                }
            }
            rest = &rest[word_end + 1..];
        }
        push_text(&mut pieces, rest);
        let has = |var: Var| pieces.contains(&Piece::Var(var));
        match grammar {
            Grammar::Inventory if !(has(Var::Namespace) && has(Var::Name)) => {
                return Err(format!("{text:?} must contain {{namespace}} and {{name}}"));
            }
            Grammar::Item if !(has(Var::SourceName) || has(Var::Name) || has(Var::Uid)) => {
                return Err(format!(
                    "{text:?} must contain {{sourceName}}, {{name}} or {{uid}} so that rows get \
                     distinct files"
                ));
            }
            _ => {}
        }
        if text.trim_start_matches('/').split('/').next() == Some(RESERVED_DIR) {
            return Err(format!(
                "{text:?} must not write into {RESERVED_DIR}/, Kollect's own directory"
            ));
        }
        Ok(Self {
            source: text.to_owned(),
            pieces,
        })
    }

    fn render(&self, value: impl Fn(Var) -> String) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Var(var) => out.push_str(&value(*var)),
            }
        }
        out
    }
}

fn push_text(pieces: &mut Vec<Piece>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Piece::Text(last)) = pieces.last_mut() {
        last.push_str(text);
    } else {
        pieces.push(Piece::Text(text.to_owned()));
    }
}

/// One file of the projection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct File {
    pub(super) path: String,
    pub(super) bytes: Vec<u8>,
}

/// What an export writes.
#[derive(Clone, Debug)]
pub(super) struct Projection {
    /// The effective mode.
    pub(super) mode: LayoutMode,
    /// Every file, in write order.
    pub(super) files: Vec<File>,
    /// The inventory-level files (documents, indexes, set manifest): the receipt's keys.
    pub(super) primary: Vec<String>,
}

/// One export to project.
pub(super) struct Export<'a> {
    pub(super) inventory: &'a InventoryKey,
    /// `{cluster}`: the envelope's cluster, else `spec.cluster`, else `default`.
    pub(super) cluster: &'a str,
    pub(super) generation: i64,
    /// `exportedAt` with seconds precision.
    pub(super) exported_at: &'a str,
    pub(super) snapshot: &'a Snapshot,
    pub(super) parts: &'a Parts,
}

/// Mode, content and embedded-object key in force for one export (sinks spec §6.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Resolved {
    pub(super) mode: LayoutMode,
    pub(super) content: LayoutContent,
    pub(super) manifest_key: String,
    pub(super) index: bool,
}

/// Resolves the layout for `items`: a `layout` block decides mode and content; without one, a
/// snapshot whose rows all embed a Kubernetes object under one attribute is written as a
/// per-resource tree of those objects (Resource export).
pub(super) fn resolve(config: &LayoutConfig, items: &[TargetRow]) -> Resolved {
    let resource_key = resource_key(items);
    let (mode, content) = match (config.explicit, &resource_key) {
        (Some(explicit), _) => (explicit.mode, explicit.content),
        (None, Some(_)) => (LayoutMode::PerResource, LayoutContent::Manifest),
        (None, None) => (LayoutMode::Document, LayoutContent::Item),
    };
    Resolved {
        mode,
        content,
        manifest_key: resource_key.unwrap_or_else(|| DEFAULT_MANIFEST_KEY.to_owned()),
        index: config.index_enabled.unwrap_or(mode == LayoutMode::Split),
    }
}

/// The attribute key under which every item embeds an object with `apiVersion` and `kind`
/// (the kind matching the item's), when there is exactly one such key per item and it is the
/// same for all items.
fn resource_key(items: &[TargetRow]) -> Option<String> {
    let mut common: Option<String> = None;
    for item in items {
        let attributes = item.row.attributes.to_map();
        let mut keys = attributes
            .iter()
            .filter(|(_, value)| embeds_object(value, &item.kind.kind));
        let (key, _) = keys.next()?;
        if keys.next().is_some() {
            return None;
        }
        match &common {
            Some(common) if common != key => return None,
            Some(_) => {}
            None => common = Some(key.clone()),
        }
    }
    common
}

fn embeds_object(value: &Value, kind: &str) -> bool {
    let Value::Object(object) = value else {
        return false;
    };
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::trim);
    let (Some(api_version), Some(object_kind)) = (text("apiVersion"), text("kind")) else {
        return false;
    };
    !api_version.is_empty()
        && !object_kind.is_empty()
        && (kind.is_empty() || object_kind.eq_ignore_ascii_case(kind))
}

/// Projects one export into files (sinks spec §6.4, §6.6, §6.8).
pub(super) fn project(config: &LayoutConfig, export: &Export<'_>) -> Result<Projection> {
    let resolved = resolve(config, export.snapshot.items());
    let total = export.parts.parts.len();
    let namespace = export.inventory.path_namespace();
    let base_name = export.inventory.name().as_str();
    let mut files = Vec::new();
    let mut primary = Vec::new();
    let mut claims: HashMap<String, String> = HashMap::new();
    for part in &export.parts.parts {
        let name = if total > 1 {
            format!("{base_name}.part-{:04}-of-{total:04}", part.index)
        } else {
            base_name.to_owned()
        };
        let decoded;
        let items: &[TargetRow] = if total > 1 {
            decoded = decode(part.envelope.as_bytes()).map_err(|error| {
                Error::Layout(format!("cannot read part {}: {error}", part.index))
            })?;
            &decoded.items
        } else {
            export.snapshot.items()
        };
        if resolved.mode == LayoutMode::Document {
            let path = inventory_path(&config.document, config, export, &name)?;
            let bytes = match config.format {
                Format::Json => part.envelope.clone().into_bytes(),
                format => encode::item_list(items, format)
                    .map_err(encode_error)?
                    .into_bytes(),
            };
            claim(
                &mut claims,
                &path,
                format!("the document of part {}", part.index),
            )?;
            primary.push(path.clone());
            files.push(data_file(config, path, bytes)?);
            continue;
        }
        let mut item_files = Vec::with_capacity(items.len());
        for item in items {
            let path = item_path(config, export, &name, item)?;
            claim(&mut claims, &path, describe(item))?;
            let bytes = item_content(config.format, &resolved, item)?;
            item_files.push((path, bytes));
        }
        if resolved.index {
            let path = inventory_path(&config.index, config, export, &name)?;
            claim(
                &mut claims,
                &path,
                format!("the index of part {}", part.index),
            )?;
            let paths: Vec<&str> = item_files.iter().map(|(p, _)| p.as_str()).collect();
            let index = index_document(part.item_count, &part.checksum, export, &paths);
            let bytes = encode::document(&index, config.format).map_err(encode_error)?;
            primary.push(path.clone());
            files.push(data_file(config, path, bytes.into_bytes())?);
        }
        for (path, bytes) in item_files {
            files.push(data_file(config, path, bytes)?);
        }
    }
    if total > 1 && resolved.mode != LayoutMode::Document {
        let path = clean_path(&format!("inventory/{namespace}/{base_name}.manifest.json"))?;
        claim(&mut claims, &path, "the set manifest".to_owned())?;
        let mut paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        paths.sort_unstable();
        let manifest = set_manifest(export, total, &paths);
        primary.push(path.clone());
        files.push(File {
            path,
            bytes: encode::pretty_json(&manifest).into_bytes(),
        });
    }
    check_prefixes(&files)?;
    Ok(Projection {
        mode: resolved.mode,
        files,
        primary,
    })
}

/// The base document path of the export (`{path}` in commit messages).
pub(super) fn document_path(config: &LayoutConfig, export: &Export<'_>) -> Result<String> {
    inventory_path(
        &config.document,
        config,
        export,
        export.inventory.name().as_str(),
    )
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(encode_error)`
fn encode_error(error: serde_json::Error) -> Error {
    Error::Layout(format!("cannot encode an item: {error}"))
}

fn data_file(config: &LayoutConfig, path: String, bytes: Vec<u8>) -> Result<File> {
    let bytes = encode::pack(bytes, config.packing).map_err(|source| Error::Encode {
        path: path.clone(),
        source,
    })?;
    Ok(File { path, bytes })
}

fn claim(claims: &mut HashMap<String, String>, path: &str, what: String) -> Result<()> {
    if let Some(earlier) = claims.get(path) {
        return Err(Error::Layout(format!(
            "layout collision: {earlier:?} and {what:?} both render path {path:?}"
        )));
    }
    claims.insert(path.to_owned(), what);
    Ok(())
}

/// A file path that is also a directory of another file cannot exist in a Git tree.
fn check_prefixes(files: &[File]) -> Result<()> {
    let mut paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    paths.sort_unstable();
    for pair in paths.windows(2) {
        if let [a, b] = pair
            && b.strip_prefix(a).is_some_and(|rest| rest.starts_with('/'))
        {
            return Err(Error::Layout(format!(
                "layout collision: {a:?} is both a file and the directory of {b:?}"
            )));
        }
    }
    Ok(())
}

fn describe(item: &TargetRow) -> String {
    if item.row.namespace.is_empty() {
        format!("{}/{}", item.kind.kind, item.row.name)
    } else {
        format!(
            "{}/{}/{}",
            item.kind.kind, item.row.namespace, item.row.name
        )
    }
}

/// An inventory-level path: placeholders substituted literally, then cleaned.
fn inventory_path(
    template: &Template,
    config: &LayoutConfig,
    export: &Export<'_>,
    name: &str,
) -> Result<String> {
    let rendered = template.render(|var| match var {
        Var::Cluster => export.cluster.to_owned(),
        Var::Namespace => export.inventory.path_namespace().to_owned(),
        Var::Name => name.to_owned(),
        Var::Generation => export.generation.to_string(),
        Var::Extension => config.extension.clone(),
        // The inventory grammar admits no item placeholder.
        _ => String::new(),
    });
    clean_path(&rendered)
}

/// A per-item path: every value sanitised (sinks spec §6.3), then cleaned.
fn item_path(
    config: &LayoutConfig,
    export: &Export<'_>,
    name: &str,
    item: &TargetRow,
) -> Result<String> {
    let max = config.max_segment_length;
    let rendered = config.item.render(|var| match var {
        Var::Cluster => sanitize(export.cluster, max),
        Var::Namespace => sanitize(export.inventory.path_namespace(), max),
        Var::Name => sanitize(name, max),
        Var::Generation => export.generation.to_string(),
        Var::Extension => config.extension.clone(),
        Var::TargetNamespace => sanitize(&item.target_namespace, max),
        Var::TargetName => sanitize(&item.target_name, max),
        Var::SourceNamespace => sanitize(&item.row.namespace, max),
        Var::SourceName => sanitize(&item.row.name, max),
        Var::Group => match config.group_in_path {
            GroupInPath::Never => String::new(),
            GroupInPath::Auto | GroupInPath::Always => sanitize(&item.kind.group, max),
        },
        Var::Kind => {
            if config.lowercase_kind {
                sanitize(&item.kind.kind.to_lowercase(), max)
            } else {
                sanitize(&item.kind.kind, max)
            }
        }
        Var::Uid => sanitize(&item.row.uid, max),
    });
    clean_path(&rendered)
}

/// Sanitises one placeholder value: runs of `/`, `\`, `:` and of two or more `.` become `-`,
/// leading and trailing `.`/`-` go, and the value is cut at a character boundary to at most
/// `max` bytes.
pub(super) fn sanitize(value: &str, max: usize) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if matches!(c, '/' | '\\' | ':') {
            while chars.peek().is_some_and(|n| matches!(n, '/' | '\\' | ':')) {
                chars.next();
            }
            out.push('-');
        } else if c == '.' && chars.peek() == Some(&'.') {
            while chars.peek() == Some(&'.') {
                chars.next();
            }
            out.push('-');
        } else {
            out.push(c);
        }
    }
    let mut out = out.trim_matches(['.', '-']).to_owned();
    if out.len() > max {
        let mut cut = max;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out = out.trim_matches(['.', '-']).to_owned();
    }
    out
}

/// Normalises a rendered path: `\` → `/`, segments trimmed, empty ones dropped. `.`, `..` and
/// `.git` segments, NUL, an empty result and Kollect's own directory are refused.
pub(super) fn clean_path(rendered: &str) -> Result<String> {
    let replaced = rendered.replace('\\', "/");
    let segments: Vec<&str> = replaced
        .split('/')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if segments.is_empty() {
        return Err(Error::Layout(format!("layout path {rendered:?} is empty")));
    }
    for segment in &segments {
        if matches!(*segment, "." | "..") {
            return Err(Error::Layout(format!(
                "layout path {rendered:?} contains traversal segment {segment:?}"
            )));
        }
        if segment.eq_ignore_ascii_case(".git") || segment.contains('\0') {
            return Err(Error::Layout(format!(
                "layout path {rendered:?} contains the forbidden segment {segment:?}"
            )));
        }
    }
    if segments[0] == RESERVED_DIR {
        return Err(Error::Layout(format!(
            "layout path {rendered:?} is inside {RESERVED_DIR}/, Kollect's own directory"
        )));
    }
    Ok(segments.join("/"))
}

/// A per-item file's bytes (before compression).
fn item_content(format: Format, resolved: &Resolved, item: &TargetRow) -> Result<Vec<u8>> {
    let canonical = match resolved.content {
        LayoutContent::Item => item.encode(),
        LayoutContent::Attributes => item.row.attributes.as_json().to_owned(),
        LayoutContent::Manifest => {
            let attributes: Map<String, Value> = item.row.attributes.to_map();
            let value = attributes.get(&resolved.manifest_key).ok_or_else(|| {
                Error::Layout(format!(
                    "{} is missing attribute {:?} (Resource export required)",
                    describe(item),
                    resolved.manifest_key
                ))
            })?;
            canonical::to_string(value)
        }
    };
    Ok(encode::document(&canonical, format)
        .map_err(encode_error)?
        .into_bytes())
}

/// The split-mode index (sinks spec §6.6) as canonical JSON, members in spec order.
fn index_document(
    item_count: usize,
    checksum: &str,
    export: &Export<'_>,
    paths: &[&str],
) -> String {
    let mut out = String::with_capacity(128 + paths.len() * 64);
    out.push_str("{\"schemaVersion\":");
    canonical::write_str(&mut out, SCHEMA_VERSION);
    let _ = write!(out, ",\"itemCount\":{item_count}");
    if !checksum.is_empty() {
        out.push_str(",\"checksum\":");
        canonical::write_str(&mut out, checksum);
    }
    if !export.exported_at.is_empty() {
        out.push_str(",\"exportedAt\":");
        canonical::write_str(&mut out, export.exported_at);
    }
    out.push_str(",\"cluster\":");
    canonical::write_str(&mut out, export.cluster);
    out.push_str(",\"paths\":");
    write_strings(&mut out, paths);
    out.push('}');
    out
}

/// The set manifest of a multipart tree export (sinks spec §6.8) as canonical JSON.
fn set_manifest(export: &Export<'_>, total: usize, paths: &[&str]) -> String {
    let mut out = String::with_capacity(256 + paths.len() * 64);
    out.push_str("{\"kind\":\"KollectExportSetManifest\",\"schemaVersion\":");
    canonical::write_str(&mut out, SCHEMA_VERSION);
    out.push_str(",\"cluster\":");
    canonical::write_str(&mut out, export.cluster);
    out.push_str(",\"namespace\":");
    canonical::write_str(&mut out, export.inventory.path_namespace());
    out.push_str(",\"name\":");
    canonical::write_str(&mut out, export.inventory.name().as_str());
    let _ = write!(
        out,
        ",\"generation\":{},\"partTotal\":{total},\"parts\":[",
        export.generation
    );
    for index in 1..=total {
        if index > 1 {
            out.push(',');
        }
        let _ = write!(out, "{index}");
    }
    out.push(']');
    if !export.exported_at.is_empty() {
        out.push_str(",\"exportedAt\":");
        canonical::write_str(&mut out, export.exported_at);
    }
    out.push_str(",\"paths\":");
    write_strings(&mut out, paths);
    out.push('}');
    out
}

fn write_strings(out: &mut String, values: &[&str]) {
    out.push('[');
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        canonical::write_str(out, value);
    }
    out.push(']');
}
