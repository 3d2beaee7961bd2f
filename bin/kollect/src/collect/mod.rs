//! `kollect collect`: the pipeline without an operator (operations spec §3). Profiles and
//! targets come from a config folder; cluster state from kubeconfig contexts or, offline, from
//! folders of manifests (`--from-dir`); one envelope per target goes to files or stdout.

mod clusters;
mod config;
mod http;
mod live;
mod preview;
mod progress;
mod run;
mod secrets;
mod sinks;
mod source;
mod write;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, Result};
use chrono::Utc;
use futures::StreamExt as _;
use kollect_aggregate::{EnvelopeMeta, TargetRow};
use kollect_api::validation::Settings;
use serde_json::value::RawValue;

pub(crate) use self::{clusters::glob, write::Format};
use self::{
    progress::ContextProgress,
    run::{Options, TargetOutcome},
    source::Source,
    write::{DEFAULT_PATH_TEMPLATE, Record, Written},
};
use crate::{
    cli::{EXIT_INVALID, EXIT_OK},
    output,
};

/// Clusters collected at once: each holds its objects of one kind in memory while it lists, and
/// four keeps a fleet run moving without multiplying the peak memory by the fleet's size.
const MAX_PARALLEL_CONTEXTS: usize = 4;

/// Exit code: some target or object was skipped, but something was exported.
pub(crate) const EXIT_PARTIAL: u8 = 1;

/// Where the config and the cluster come from (`collect` and `preview`).
#[derive(Debug, clap::Args)]
pub(crate) struct SourceArgs {
    /// Folder of `KollectProfile` and `KollectTarget` manifests (*.yaml, *.yml; not recursive).
    #[arg(long, value_name = "DIR")]
    pub(crate) config: PathBuf,
    /// Read the cluster from manifests or `kubectl get -o yaml|json` dumps instead of a live API
    /// server (repeatable; YAML, JSON, `kind: List`, .gz). No kubeconfig is needed.
    #[arg(long = "from-dir", value_name = "DIR", conflicts_with_all = ["kubeconfig", "context"])]
    pub(crate) from_dir: Vec<PathBuf>,
    /// Cluster name for envelopes and `{cluster}` in paths; defaults to the context name, or the
    /// first --from-dir folder's name.
    #[arg(long, value_name = "NAME")]
    pub(crate) cluster: Option<String>,
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Context(s) to collect: repeatable, comma-separated, `*` and `?` globs (default: the
    /// current context). Up to four run at once; the exit code is the worst of them.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub(crate) context: Vec<String>,
    /// Collect every target from this namespace only.
    #[arg(long, value_name = "NS")]
    pub(crate) namespace: Option<String>,
}

/// `kollect collect` flags.
#[derive(Debug, clap::Args)]
pub(crate) struct CollectArgs {
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    /// Where envelopes go: a folder (one file per target, rewritten only when it changed) or
    /// `-` for records on stdout.
    #[arg(long, value_name = "DIR|-")]
    pub(crate) output: Option<String>,
    /// Stdout record encoding (only with --output -).
    #[arg(long, value_enum, default_value_t = Format::Ndjson)]
    pub(crate) format: Format,
    /// Collect and report what would be written; write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Keep running: watch the cluster and rewrite a target's envelope (--output) or export it
    /// to the config folder's sinks when its rows change, until Ctrl-C or SIGTERM (pending
    /// changes are written before exiting). A failed export is retried. One live context.
    #[arg(long, conflicts_with = "from_dir")]
    pub(crate) watch: bool,
    /// With --watch: write once changes have been quiet this long (Go duration: 500ms, 2s).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration, requires = "watch")]
    pub(crate) debounce: Duration,
    /// With --watch: serve the rows in memory as JSON on this loopback address
    /// (`GET /v1alpha1/inventory`, `/v1alpha1/inventory/NS/TARGET`, `/v1alpha1/inventory/watch`).
    #[arg(long, value_name = "ADDR", requires = "watch")]
    pub(crate) http: Option<String>,
    /// With --watch: the longest a change waits under constant churn.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, requires = "watch")]
    pub(crate) max_delay: Duration,
}

/// `kollect preview` flags.
#[derive(Debug, clap::Args)]
pub(crate) struct PreviewArgs {
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    /// How rows are printed (default: a table on a terminal, NDJSON otherwise).
    #[arg(short, long, value_enum)]
    pub(crate) output: Option<preview::PreviewFormat>,
}

/// `kollect preview`: collect like `kollect collect`, print the rows, write nothing.
pub(crate) fn preview(args: &PreviewArgs) -> Result<u8> {
    let Some(config) = load_config(&args.source) else {
        return Ok(EXIT_INVALID);
    };
    let format = args.output.unwrap_or(if output::stdout_is_terminal() {
        preview::PreviewFormat::Table
    } else {
        preview::PreviewFormat::Ndjson
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut rows = Vec::new();
        let worst = each_context(&args.source, &config, |context, outcomes| {
            rows.extend(preview::rows(context, &outcomes));
            Ok(report_problems(context, &outcomes))
        })
        .await?;
        output::stdout(&preview::render(&rows, format)?)?;
        Ok(worst)
    })
}

/// The rows `kollect collect` would export from `source`, every context together (what
/// `kollect diff OLD --live` compares with); `Err` carries the exit code when the config or a
/// cluster could not be read (the problems are printed).
pub(crate) fn live_rows(source: &SourceArgs) -> Result<std::result::Result<Vec<TargetRow>, u8>> {
    let Some(config) = load_config(source) else {
        return Ok(Err(EXIT_INVALID));
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut rows = Vec::new();
        let worst = each_context(source, &config, |context, outcomes| {
            for outcome in &outcomes {
                if let Some(snapshot) = &outcome.snapshot {
                    rows.extend(snapshot.items().iter().cloned());
                }
            }
            Ok(report_problems(context, &outcomes))
        })
        .await?;
        Ok(if worst >= EXIT_INVALID {
            Err(worst)
        } else {
            Ok(rows)
        })
    })
}

/// Collects every selected context in turn and hands its outcomes to `each`, which returns the
/// context's exit code; returns the worst of them (2 for a context that could not be read).
async fn each_context(
    source: &SourceArgs,
    config: &config::Config,
    mut each: impl FnMut(&str, Vec<TargetOutcome>) -> Result<u8>,
) -> Result<u8> {
    let contexts = match clusters::contexts(source).await {
        Ok(contexts) => contexts,
        Err(error) => {
            output::error_line(&format!("error: {error:#}"));
            return Ok(EXIT_INVALID);
        }
    };
    let options = Options {
        namespace: source.namespace.clone(),
        ..Options::default()
    };
    let mut worst = EXIT_OK;
    // Contexts are collected concurrently, a few at a time, and reported in the order given.
    let mut collected = futures::stream::iter(contexts.iter())
        .map(|context| {
            let options = &options;
            async move {
                let progress = ContextProgress::listing(&context.name, config.targets.len());
                let outcomes = run::collect(config, &context.source, options, &progress).await;
                (context, outcomes)
            }
        })
        .buffered(MAX_PARALLEL_CONTEXTS);
    while let Some((context, result)) = collected.next().await {
        let code = match result {
            Ok(outcomes) => each(&context.name, outcomes)?,
            Err(failure) => {
                output::error_line(&format!(
                    "error: context {}: cannot read namespaces ({failure}); is the cluster reachable?",
                    context.name
                ));
                EXIT_INVALID
            }
        };
        worst = worst.max(code);
    }
    Ok(worst)
}

/// Prints skipped targets and failed objects; returns the context's exit code.
fn report_problems(context: &str, outcomes: &[TargetOutcome]) -> u8 {
    let mut degraded = false;
    for outcome in outcomes {
        for failure in &outcome.failures {
            degraded = true;
            output::error_line(&format!(
                "warning: context {context}: target {}: {}/{} (uid {}): {}",
                failure.target, failure.namespace, failure.name, failure.uid, failure.reason
            ));
        }
        if outcome.snapshot.is_none() {
            degraded = true;
            output::error_line(&format!(
                "warning: context {context}: target {}/{} skipped: {}",
                outcome.namespace,
                outcome.name,
                outcome.skipped.as_deref().unwrap_or("unknown reason")
            ));
        }
    }
    let exported = outcomes.iter().filter(|o| o.snapshot.is_some()).count();
    match (degraded, exported) {
        (false, _) => EXIT_OK,
        (true, 0) => EXIT_INVALID,
        (true, _) => EXIT_PARTIAL,
    }
}

/// The admission settings of config folders: the CLI writes where its user says, so local and
/// private destinations are admitted.
fn settings() -> Settings {
    Settings {
        allow_local_endpoints: true,
        allow_private_sinks: true,
        ..Settings::default()
    }
}

/// Loads a config folder as `collect` does; the numbers of profiles, targets and sinks, or every
/// problem, one line each (`kollect init` checks what it wrote with it).
pub(crate) fn load_folder(dir: &Path) -> Result<(usize, usize, usize), Vec<String>> {
    config::load(dir, &settings())
        .map(|config| {
            (
                config.profiles.len(),
                config.targets.len(),
                config.sink_count(),
            )
        })
        .map_err(|errors| errors.iter().map(ToString::to_string).collect())
}

/// Loads and checks the config folder, printing every problem; `None` when it is unusable.
fn load_config(source: &SourceArgs) -> Option<config::Config> {
    match config::load(&source.config, &settings()) {
        Ok(config) => {
            for warning in &config.warnings {
                output::error_line(&format!("warning: {warning}"));
            }
            Some(config)
        }
        Err(errors) => {
            for error in &errors {
                output::error_line(&format!("error: {error}"));
            }
            output::error_line(&format!(
                "{} problem(s) in {}; nothing was collected. `kollect validate --config {}` checks the folder alone.",
                errors.len(),
                source.config.display(),
                source.config.display()
            ));
            None
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    text.parse::<kollect_api::duration::Duration>()
        .map_err(|e| e.to_string())?
        .to_std()
        .ok_or_else(|| format!("{text:?} is negative; give a duration such as 2s"))
}

/// Where envelopes go.
#[derive(Clone)]
enum Destination {
    Folder(PathBuf),
    Stdout(Format),
    DryRun,
    /// The snapshot sinks of the config folder.
    Sinks,
}

pub(crate) fn run(args: &CollectArgs) -> Result<u8> {
    let destination = match destination(args) {
        Ok(destination) => destination,
        Err(message) => {
            output::error_line(&format!("error: {message}"));
            return Ok(EXIT_INVALID);
        }
    };
    let Some(config) = load_config(&args.source) else {
        return Ok(EXIT_INVALID);
    };
    let destination = match with_sinks(destination, &config) {
        Ok(destination) => destination,
        Err(message) => {
            output::error_line(&format!("error: {message}"));
            return Ok(EXIT_INVALID);
        }
    };
    if args.watch {
        // Watches, extraction and exports run side by side.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        return runtime.block_on(watch(args, &config, &destination));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_contexts(args, &config, &destination))
}

/// `--watch`: one live context, until a signal.
async fn watch(
    args: &CollectArgs,
    config: &config::Config,
    destination: &Destination,
) -> Result<u8> {
    let http = match args.http.as_deref().map(http::loopback).transpose() {
        Ok(http) => http,
        Err(message) => {
            output::error_line(&format!("error: {message}"));
            return Ok(EXIT_INVALID);
        }
    };
    // The sinks are built (Secrets, CA, a missing local repository) before any cluster is read.
    let sinks = match destination {
        Destination::Sinks => match sinks::build(config, true) {
            Ok(built) => built,
            Err(errors) => {
                for error in errors {
                    output::error_line(&format!("error: {error}"));
                }
                return Ok(EXIT_INVALID);
            }
        },
        _ => Vec::new(),
    };
    let mut contexts = match clusters::contexts(&args.source).await {
        Ok(contexts) => contexts,
        Err(error) => {
            output::error_line(&format!("error: {error:#}"));
            return Ok(EXIT_INVALID);
        }
    };
    if contexts.len() != 1 {
        output::error_line(&format!(
            "error: --watch follows one context; {} were selected",
            contexts.len()
        ));
        return Ok(EXIT_INVALID);
    }
    let context = contexts.remove(0);
    let Source::Live(client) = context.source else {
        output::error_line("error: --watch needs a live cluster, not --from-dir");
        return Ok(EXIT_INVALID);
    };
    let options = Options {
        namespace: args.source.namespace.clone(),
        ..Options::default()
    };
    let run = live::WatchRun {
        http,
        config,
        client,
        cluster: args
            .source
            .cluster
            .clone()
            .unwrap_or_else(|| context.name.clone()),
        context: context.name,
        destination,
        sinks,
        options: &options,
        timing: kollect_aggregate::schedule::Timing {
            quiet: args.debounce,
            max_delay: args.max_delay.max(args.debounce),
            interval: Duration::ZERO,
            floor: Duration::ZERO,
        },
    };
    match live::run(run).await {
        Ok(code) => Ok(code),
        Err(error) => {
            output::error_line(&format!("error: {error:#}"));
            Ok(EXIT_INVALID)
        }
    }
}

fn destination(args: &CollectArgs) -> Result<Destination, String> {
    let stdout = args.output.as_deref() == Some("-");
    if args.format != Format::Ndjson && !stdout {
        return Err("--format applies to stdout records only (--output -)".into());
    }
    match (args.output.as_deref(), args.dry_run) {
        (Some("-"), true) => Err("--output - and --dry-run exclude each other".into()),
        (Some(_), true) => {
            Err("--output DIR and --dry-run exclude each other: a dry run writes nothing".into())
        }
        (Some("-"), false) => Ok(Destination::Stdout(args.format)),
        (Some(dir), false) => Ok(Destination::Folder(PathBuf::from(dir))),
        (None, true) => Ok(Destination::DryRun),
        (None, false) => Ok(Destination::Sinks),
    }
}

/// The flags' destination checked against the sinks of the config folder.
fn with_sinks(destination: Destination, config: &config::Config) -> Result<Destination, String> {
    let sinks = config.sink_count();
    match destination {
        Destination::Sinks if sinks == 0 => Err(
            "nowhere to write: give --output DIR (files), --output - (records on stdout) or --dry-run, or put a KollectSnapshotSink or KollectDatabaseSink in the config folder"
                .into(),
        ),
        Destination::Folder(_) | Destination::Stdout(_) if sinks > 0 => Err(format!(
            "the config folder has {sinks} sink(s), which are where envelopes go: drop --output, or move the sinks out of the folder"
        )),
        other => Ok(other),
    }
}

async fn run_contexts(
    args: &CollectArgs,
    config: &config::Config,
    destination: &Destination,
) -> Result<u8> {
    if let Destination::Sinks = destination {
        return run_sinks(args, config, false).await;
    }
    if matches!(destination, Destination::DryRun) && config.sink_count() > 0 {
        return run_sinks(args, config, true).await;
    }
    let mut json_records = Vec::new();
    let worst = each_context(&args.source, config, |context, outcomes| {
        let cluster = args.source.cluster.as_deref().unwrap_or(context);
        deliver(context, cluster, &outcomes, destination, &mut json_records)
    })
    .await?;
    if let Destination::Stdout(Format::Json) = destination {
        output::stdout(&format!("[{}]\n", json_records.join(",\n")))?;
    }
    Ok(worst)
}

/// Collects every context, then exports each target's snapshot to every sink of the folder, or
/// with `dry_run` says what each export would add, change and remove there, writing nothing.
async fn run_sinks(args: &CollectArgs, config: &config::Config, dry_run: bool) -> Result<u8> {
    let built = match sinks::build(config, !dry_run) {
        Ok(built) => built,
        Err(errors) => {
            for error in errors {
                output::error_line(&format!("error: {error}"));
            }
            return Ok(EXIT_INVALID);
        }
    };
    let mut collected = Vec::new();
    let worst = each_context(&args.source, config, |context, outcomes| {
        let code = report_problems(context, &outcomes);
        collected.push((context.to_owned(), outcomes, code));
        Ok(code)
    })
    .await?;
    let mut worst_export = EXIT_OK;
    for (context, outcomes, code) in collected {
        let cluster = args.source.cluster.as_deref().unwrap_or(&context);
        let exported = if dry_run {
            sinks::dry_run(&built, &context, cluster, &outcomes, code).await
        } else {
            sinks::export(&built, &context, cluster, &outcomes, code).await
        };
        worst_export = worst_export.max(exported);
    }
    Ok(worst.max(worst_export))
}

/// Writes one context's envelopes and reports; returns the context's exit code.
fn deliver(
    context: &str,
    cluster: &str,
    outcomes: &[TargetOutcome],
    destination: &Destination,
    json_records: &mut Vec<String>,
) -> Result<u8> {
    let meta = EnvelopeMeta {
        generation: 0,
        exported_at: Utc::now(),
        cluster: cluster.to_owned(),
    };
    let code = report_problems(context, outcomes);
    let (mut exported, mut rows, mut changed) = (0_usize, 0_usize, 0_usize);
    for outcome in outcomes {
        let Some(snapshot) = &outcome.snapshot else {
            continue;
        };
        rows += snapshot.len();
        exported += 1;
        let target = (outcome.namespace.as_str(), outcome.name.as_str());
        match send(destination, context, target, snapshot, &meta)? {
            Sent::File(Written::Changed, _) => changed += 1,
            Sent::Record(encoded) if destination_format(destination) == Some(Format::Json) => {
                json_records.push(encoded);
            }
            Sent::Record(encoded) => output::stdout(&encoded)?,
            Sent::File(Written::Unchanged, _) | Sent::Nothing => {}
        }
    }
    let written = match destination {
        Destination::Folder(root) => format!(
            ", {changed} file(s) changed, {} unchanged under {}",
            exported - changed,
            root.display()
        ),
        _ => String::new(),
    };
    output::error_line(&format!(
        "context {context}: {exported} of {} target(s) exported, {rows} row(s){written}",
        outcomes.len()
    ));
    Ok(code)
}

/// What [`send`] did with one target's envelope.
enum Sent {
    /// Written to (or left unchanged in) the output folder, at this path.
    File(Written, PathBuf),
    /// A stdout record, encoded, for the caller to print or buffer.
    Record(String),
    /// Nothing written: a dry run (reported), or sinks (exported elsewhere).
    Nothing,
}

fn destination_format(destination: &Destination) -> Option<Format> {
    match destination {
        Destination::Stdout(format) => Some(*format),
        _ => None,
    }
}

/// Sends one target's envelope where `destination` says: `collect`'s one-shot runs and
/// `--watch` deliver the same way. `target` is (namespace, name).
fn send(
    destination: &Destination,
    context: &str,
    target: (&str, &str),
    snapshot: &kollect_aggregate::Snapshot,
    meta: &EnvelopeMeta,
) -> Result<Sent> {
    let (namespace, name) = target;
    let path = write::render_path(DEFAULT_PATH_TEMPLATE, &meta.cluster, namespace, name);
    let envelope = snapshot.envelope(meta);
    Ok(match destination {
        Destination::Folder(root) => {
            let file = root.join(&path);
            let written = write::write_envelope(root, &path, &envelope)
                .with_context(|| format!("cannot write {}", file.display()))?;
            Sent::File(written, file)
        }
        Destination::Stdout(format) => {
            let raw = RawValue::from_string(envelope).context("envelope is not JSON")?;
            let record = Record {
                context,
                target_namespace: namespace,
                target_name: name,
                path: &path,
                envelope: &raw,
            };
            Sent::Record(write::encode_record(&record, *format)?)
        }
        Destination::DryRun => {
            output::error_line(&format!(
                "dry run: context {context}: would write {path}: {} item(s), {} bytes",
                snapshot.len(),
                envelope.len()
            ));
            Sent::Nothing
        }
        // Sink exports are async: `sinks::export` (one-shot) and `sinks::export_target` (watch).
        Destination::Sinks => Sent::Nothing,
    })
}
