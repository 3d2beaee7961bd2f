//! The steps of `kollect init` (operations spec §3.6), against any [`Prompter`]:
//!
//! ```text
//!  cluster ─> kind ─> (Secrets: confirm again) ─> namespaces ─> label selector ─> attributes
//!     ─> names ─> (sample one object, with consent) ─> review ─> write ─> re-load, trial commands
//! ```
//!
//! Only reads reach the cluster; files are written once every question is answered.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

use kollect_api::{
    names::{NamespaceName, ObjectName},
    v1alpha1::KollectProfile,
};
use kollect_extract::{ExtractOptions, Extractor};
use kube::Client;
use serde_json::Value;

use super::{
    cluster::{self, Kind, Kubeconfigs},
    generate::{self, Answers, Namespaces},
    prompt::{Cancelled, Prompter},
    selector,
};

/// Why the wizard stopped without writing (exit code 2 either way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The user said no, or pressed Esc.
    Cancelled,
    /// The cluster or the disk failed; the message says what and where.
    Failed(String),
}

impl Stop {
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }
}

impl From<Cancelled> for Stop {
    fn from(Cancelled: Cancelled) -> Self {
        Self::Cancelled
    }
}

/// What the wizard starts from (the flags).
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) kubeconfig: Option<PathBuf>,
    pub(crate) context: Option<String>,
    pub(crate) output: PathBuf,
}

/// What the wizard did.
#[derive(Debug)]
pub(crate) struct Done {
    /// The files written (an unchanged file is not rewritten).
    pub(crate) written: Vec<PathBuf>,
    /// `DIR: valid (1 profile(s), 1 target(s))`.
    pub(crate) summary: String,
    /// Commands to try the result with.
    pub(crate) trial: Vec<String>,
}

/// Runs every step.
pub(crate) async fn run(prompt: &mut dyn Prompter, options: &Options) -> Result<Done, Stop> {
    let kubeconfigs = Kubeconfigs::read(options.kubeconfig.as_deref())
        .map_err(|e| Stop::failed(format!("{e:#}")))?;
    let (context, client) = choose_cluster(prompt, &kubeconfigs, options).await?;
    prompt.say("Discovering the kinds you may list…");
    let (kinds, refused) = cluster::listable_kinds(&client).await.map_err(|e| {
        Stop::failed(format!(
            "context {context}: {e:#}; is the cluster reachable?"
        ))
    })?;
    if kinds.is_empty() {
        return Err(Stop::failed(format!(
            "context {context}: this identity may not list any kind; ask for RBAC `list` rights"
        )));
    }
    prompt.say(&format!(
        "{} kind(s) can be listed{}.",
        kinds.len(),
        if refused > 0 {
            format!(" ({refused} more are served but refused to this identity)")
        } else {
            String::new()
        }
    ));
    let kind = choose_kind(prompt, &kinds)?;
    let namespaces = if kind.namespaced {
        choose_namespaces(prompt, &client).await?
    } else {
        prompt.say(&format!(
            "{} is cluster-scoped: one list, no namespaces.",
            kind.resource.kind
        ));
        Namespaces::All
    };
    let label_selector = ask_selector(
        prompt,
        "Only objects with these labels (kubectl -l syntax; empty for all)",
    )?;
    let attributes = choose_attributes(prompt, kind)?;
    let (namespace, name) = ask_names(prompt, kind)?;
    let answers = Answers {
        group: kind.resource.group.clone(),
        version: kind.resource.version.clone(),
        kind: kind.resource.kind.clone(),
        namespaces,
        label_selector,
        attributes,
        namespace,
        name,
    };
    offer_sample(prompt, &client, kind, &answers).await?;
    let files = answers.files(&context);
    for (name, content) in &files {
        prompt.say(&format!("── {name}\n{content}"));
    }
    if !prompt.confirm(
        &format!("Write these files to {}?", options.output.display()),
        true,
    )? {
        return Err(Stop::Cancelled);
    }
    let written = generate::write(&options.output, &files, prompt)?;
    let summary = reload(&options.output)?;
    Ok(Done {
        written,
        summary,
        trial: trial_commands(&options.output, kubeconfigs.path.as_deref(), &context),
    })
}

/// Confirms the context from the flags or the kubeconfig (or lets the user pick another).
async fn choose_cluster(
    prompt: &mut dyn Prompter,
    kubeconfigs: &Kubeconfigs,
    options: &Options,
) -> Result<(String, Client), Stop> {
    let contexts = kubeconfigs.contexts();
    if contexts.is_empty() {
        return Err(Stop::failed("the kubeconfig has no context"));
    }
    let mut context = match &options.context {
        Some(context) if contexts.contains(context) => context.clone(),
        Some(context) => {
            return Err(Stop::failed(format!(
                "--context {context}: no such context (the kubeconfig has: {})",
                contexts.join(", ")
            )));
        }
        None => kubeconfigs
            .current()
            .filter(|c| contexts.contains(c))
            .unwrap_or_else(|| contexts[0].clone()),
    };
    loop {
        let (client, server) = kubeconfigs
            .connect(&context)
            .await
            .map_err(|e| Stop::failed(format!("{e:#}")))?;
        prompt.say(&format!("Context {context}, API server {server}"));
        if prompt.confirm("Collect from this cluster?", true)? {
            return Ok((context, client));
        }
        if contexts.len() == 1 {
            return Err(Stop::Cancelled);
        }
        let current = contexts.iter().position(|c| *c == context).unwrap_or(0);
        context = contexts[prompt.select("Context", &contexts, current)?].clone();
    }
}

/// The kind to collect; Secrets and other sensitive kinds need a second yes.
fn choose_kind<'a>(prompt: &mut dyn Prompter, kinds: &'a [Kind]) -> Result<&'a Kind, Stop> {
    let labels: Vec<String> = kinds.iter().map(Kind::label).collect();
    let default = kinds
        .iter()
        .position(|k| k.resource.kind == "Deployment")
        .unwrap_or(0);
    loop {
        let kind = &kinds[prompt.select("Kind to collect", &labels, default)?];
        if !generate::sensitive(&kind.resource.kind) {
            return Ok(kind);
        }
        prompt.say(&format!(
            "{} objects hold credentials. The wizard offers their metadata and key names only and \
             never prints a value; the profile will carry kollect.dev/allow-secret-extraction: \"true\".",
            kind.resource.kind
        ));
        if prompt.confirm(&format!("Collect {} anyway?", kind.resource.kind), false)? {
            return Ok(kind);
        }
    }
}

const ALL: &str = "All namespaces";
const PICK: &str = "Pick namespaces from a list";
const TYPE: &str = "Type namespace names";
const LABELS: &str = "Namespaces with matching labels";
const PATTERN: &str = "Namespace names matching a pattern (expanded now into a fixed list)";

async fn choose_namespaces(prompt: &mut dyn Prompter, client: &Client) -> Result<Namespaces, Stop> {
    let known = cluster::namespaces(client).await;
    let choices: Vec<String> = match &known {
        Some(_) => vec![ALL, PICK, LABELS, PATTERN],
        None => vec![ALL, TYPE, LABELS],
    }
    .into_iter()
    .map(str::to_owned)
    .collect();
    if known.is_none() {
        prompt.say("This identity may not list namespaces: type their names instead.");
    }
    loop {
        let choice = choices[prompt.select("Namespaces", &choices, 0)?].as_str();
        let names: Vec<&String> = known.iter().flatten().map(|(name, _)| name).collect();
        let scope = match choice {
            PICK => {
                let items: Vec<String> = names.iter().map(|n| (*n).clone()).collect();
                let picked = prompt.multi_select(
                    "Namespaces to collect",
                    &items,
                    &vec![false; items.len()],
                )?;
                (!picked.is_empty()).then(|| {
                    Namespaces::List(picked.into_iter().map(|i| items[i].clone()).collect())
                })
            }
            TYPE => typed_namespaces(prompt)?,
            LABELS => {
                match ask_selector(prompt, "Namespace label selector (e.g. team=payments)")? {
                    Some(selector) => {
                        if let Some(known) = &known {
                            let matching: Vec<&str> = known
                                .iter()
                                .filter(|(_, labels)| selector::matches(&selector, labels))
                                .map(|(name, _)| name.as_str())
                                .collect();
                            prompt.say(&format!(
                                "Today {} namespace(s) match: {}",
                                matching.len(),
                                matching.join(", ")
                            ));
                        }
                        Some(Namespaces::Selector(selector))
                    }
                    None => None,
                }
            }
            PATTERN => expand_pattern(prompt, &names)?,
            _ => Some(Namespaces::All),
        };
        match scope {
            Some(scope) => return Ok(scope),
            None => prompt.say("No namespace chosen; choose again."),
        }
    }
}

fn typed_namespaces(prompt: &mut dyn Prompter) -> Result<Option<Namespaces>, Stop> {
    let text = prompt.input("Namespaces (comma-separated)", "")?;
    let mut names = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match NamespaceName::try_from(name.to_owned()) {
            Ok(_) => names.push(name.to_owned()),
            Err(error) => {
                prompt.say(&format!("{name:?}: {error}"));
                return Ok(None);
            }
        }
    }
    Ok((!names.is_empty()).then_some(Namespaces::List(names)))
}

/// A glob expanded once over today's namespaces, confirmed as a fixed list.
fn expand_pattern(
    prompt: &mut dyn Prompter,
    names: &[&String],
) -> Result<Option<Namespaces>, Stop> {
    let pattern = prompt.input("Namespace name pattern (* and ?)", "")?;
    let matching: Vec<String> = names
        .iter()
        .filter(|n| crate::collect::glob(pattern.trim(), n))
        .map(|n| (*n).clone())
        .collect();
    if matching.is_empty() {
        prompt.say(&format!("No namespace matches {pattern:?}."));
        return Ok(None);
    }
    prompt.say(&format!(
        "{pattern} matches {} namespace(s): {}. The target lists them by name; namespaces created later are not collected.",
        matching.len(),
        matching.join(", ")
    ));
    Ok(prompt
        .confirm(&format!("Use these {} namespace(s)?", matching.len()), true)?
        .then_some(Namespaces::List(matching)))
}

/// A selector in kubectl syntax, asked again until it parses; `None` when left empty.
fn ask_selector(prompt: &mut dyn Prompter, question: &str) -> Result<Option<Value>, Stop> {
    loop {
        let text = prompt.input(question, "")?;
        match selector::parse(&text) {
            Ok(parsed) => return Ok(parsed),
            Err(error) => prompt.say(&format!("{error}; try again (or leave it empty)")),
        }
    }
}

fn choose_attributes(
    prompt: &mut dyn Prompter,
    kind: &Kind,
) -> Result<Vec<generate::Attribute>, Stop> {
    let offered = generate::catalog(&kind.resource.group, &kind.resource.kind);
    let labels: Vec<String> = offered
        .iter()
        .map(|a| format!("{:<18} {}", a.name, a.about))
        .collect();
    let ticked: Vec<bool> = offered.iter().map(|a| a.ticked).collect();
    loop {
        let chosen = prompt.multi_select("Attributes of each row", &labels, &ticked)?;
        if !chosen.is_empty() {
            return Ok(chosen.into_iter().map(|i| offered[i].clone()).collect());
        }
        prompt.say("A profile needs at least one attribute.");
    }
}

/// The namespace and name of the generated profile and target.
fn ask_names(prompt: &mut dyn Prompter, kind: &Kind) -> Result<(String, String), Stop> {
    let namespace = loop {
        let text = prompt.input(
            "Namespace of the generated profile and target (names the inventory, not the cluster)",
            "inventory",
        )?;
        match NamespaceName::try_from(text.trim().to_owned()) {
            Ok(_) => break text.trim().to_owned(),
            Err(error) => prompt.say(&format!("{text:?}: {error}")),
        }
    };
    let default = kind.resource.plural.clone();
    let name = loop {
        let text = prompt.input("Name of the profile and target", &default)?;
        match ObjectName::try_from(text.trim().to_owned()) {
            Ok(_) => break text.trim().to_owned(),
            Err(error) => prompt.say(&format!("{text:?}: {error}")),
        }
    };
    Ok((namespace, name))
}

/// With consent, one object's identity, then (with consent again) its row.
async fn offer_sample(
    prompt: &mut dyn Prompter,
    client: &Client,
    kind: &Kind,
    answers: &Answers,
) -> Result<(), Stop> {
    let object = match &answers.namespaces {
        Namespaces::List(names) => cluster::sample_in(client, &kind.resource, names).await,
        _ => kind.sample.clone(),
    };
    let Some(object) = object else {
        prompt.say("No object of this kind to sample yet.");
        return Ok(());
    };
    if !prompt.confirm(
        "Show what one object's row would look like? (its identity first)",
        false,
    )? {
        return Ok(());
    }
    let meta = |field: &str| {
        object
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let identity = match meta("namespace") {
        ns if ns.is_empty() => format!(
            "{} {} (uid {})",
            kind.resource.kind,
            meta("name"),
            meta("uid")
        ),
        ns => format!(
            "{} {ns}/{} (uid {})",
            kind.resource.kind,
            meta("name"),
            meta("uid")
        ),
    };
    prompt.say(&format!("Sample: {identity}"));
    if !prompt.confirm("Extract and print its attributes?", true)? {
        return Ok(());
    }
    prompt.say(&sample_row(&answers.profile(), &object));
    Ok(())
}

/// The attributes the profile extracts from `object`, one per line; values of the object
/// itself are never printed, only what the profile's attributes select.
fn sample_row(profile: &Value, object: &Value) -> String {
    let extracted = serde_json::from_value::<KollectProfile>(profile.clone())
        .map_err(|e| e.to_string())
        .and_then(|profile| {
            Extractor::compile(&profile, &ExtractOptions::default())
                .map_err(|errors| errors.first().map(ToString::to_string).unwrap_or_default())
        })
        .and_then(|extractor| extractor.extract(object).map_err(|e| e.to_string()));
    match extracted {
        Ok(extracted) => extracted
            .row
            .attributes
            .to_map()
            .iter()
            .map(|(name, value)| format!("  {name}: {value}"))
            .collect::<Vec<_>>()
            .join("\n"),
        Err(error) => format!("  (this object would fail extraction: {error})"),
    }
}

/// The folder checked with the loader `collect` uses.
fn reload(dir: &Path) -> Result<String, Stop> {
    match crate::collect::load_folder(dir) {
        Ok((profiles, targets, sinks)) => Ok(format!(
            "{}: valid ({profiles} profile(s), {targets} target(s), {sinks} sink(s))",
            dir.display()
        )),
        Err(errors) => Err(Stop::failed(format!(
            "the files were written but {} does not load: {}",
            dir.display(),
            errors.join("; ")
        ))),
    }
}

/// `kollect preview …` and `kollect collect …` for what was written.
fn trial_commands(dir: &Path, kubeconfig: Option<&Path>, context: &str) -> Vec<String> {
    let mut source = format!("--config {}", quote(&dir.display().to_string()));
    if let Some(path) = kubeconfig {
        let _ = write!(
            source,
            " --kubeconfig {}",
            quote(&path.display().to_string())
        );
    }
    let _ = write!(source, " --context {}", quote(context));
    vec![
        format!(
            "kollect validate --config {}",
            quote(&dir.display().to_string())
        ),
        format!("kollect preview {source}"),
        format!("kollect collect {source} --output -"),
        format!("kollect collect {source} --output ./inventory"),
    ]
}

/// A shell word: as is when plain, else in single quotes.
fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@,+=".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
#[path = "wizard_tests.rs"]
mod tests;
