//! Command-line arguments and dispatch.

use std::path::PathBuf;

use anyhow::Result;
use clap::{CommandFactory as _, Parser, Subcommand, ValueEnum};
use kollect_api::validation::{DEFAULT_MAX_EXPORT_BYTES, Settings};

use crate::{output, telemetry::LogArgs, validate, version};

/// Exit code: everything valid / done.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: Kollect itself failed (I/O, a bug); the input may be fine.
pub(crate) const EXIT_INTERNAL: u8 = 1;
/// Exit code: the input is invalid (bad manifests, bad flags).
pub(crate) const EXIT_INVALID: u8 = 2;

/// Kollect turns selected live Kubernetes state into a durable, queryable, diffable inventory.
#[derive(Debug, Parser)]
#[command(name = "kollect", version = version::LINE, propagate_version = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check Kollect manifests offline, with the same rules as the API server and the webhook.
    ///
    /// Reads YAML or JSON files (several documents per file allowed) and folders (recursively:
    /// *.yaml, *.yml and *.json). Every problem is printed as
    /// `file:line: Kind/name: field.path: message`. v1 Secrets and Namespaces next to Kollect
    /// objects are checked too; other kinds are errors.
    ///
    /// Exit status: 0 when everything is valid (warnings allowed), 2 when something is invalid,
    /// 1 when a file could not be read.
    #[command(
        after_help = "Examples:\n  kollect validate deploy/examples\n  kollect validate -f profile.yaml -f target.yaml --output json"
    )]
    Validate(ValidateArgs),
    /// Collect an inventory without an operator: profiles and targets from a config folder,
    /// the cluster from a kubeconfig context or (offline) from folders of manifests.
    ///
    /// One envelope per target, written as files under --output DIR (a file is rewritten only
    /// when its content changed) or as records on stdout with --output -.
    ///
    /// Exit status: 0 when every target was collected and written; 1 when some target or
    /// object was skipped but something was exported; 2 for bad flags or config, an unreachable
    /// cluster, or nothing exported.
    #[command(
        after_help = "Examples:\n  kollect collect --config examples/quickstart/config --from-dir examples/quickstart/cluster --output out\n  kollect collect --config ./config --context 'prod-*' --output - --format yaml\n  kollect collect --config ./config --dry-run\n  kollect collect --config examples/quickstart/config --kubeconfig /tmp/testkit.kubeconfig --watch"
    )]
    Collect(crate::collect::CollectArgs),
    /// Compare two exports object by object: two envelope files, two folders of them
    /// (`kollect collect --output` folders, checkouts of a Git sink repository), or two
    /// revisions of a Git sink repository (--git REPO OLD NEW, no checkout needed).
    ///
    /// Objects are matched by target, kind, namespace and name; for each, the attributes that
    /// changed are shown with their old and new values (a re-created object shows its new uid).
    ///
    /// Exit status: 0 when the exports hold the same objects and values, 1 when they differ,
    /// 2 when one cannot be read.
    #[command(
        after_help = "Examples:\n  kollect diff before/ after/\n  kollect diff old.yaml new.yaml --output json\n  kollect diff --git quickstart-out/inventory.git HEAD~2 HEAD\n  kollect diff --git ./inventory.git v1.4 main --format json\n  kollect diff quickstart-out/parquet --live examples/quickstart/config --from-dir examples/quickstart/cluster\n  kollect diff ./inventory --live ./config --context prod-eu"
    )]
    Diff(crate::diff::DiffArgs),
    /// Show the rows `kollect collect` would export, without writing anything: a table on a
    /// terminal, NDJSON otherwise (or --output table|json|yaml|ndjson).
    ///
    /// Takes the same config folder and cluster flags as `collect`; exit status as `collect`.
    #[command(
        after_help = "Examples:\n  kollect preview --config examples/quickstart/config --from-dir examples/quickstart/cluster\n  kollect preview --config ./config --context kind-dev --output json | jq length"
    )]
    Preview(crate::collect::PreviewArgs),
    /// Write a starter config folder interactively: look at a cluster (read-only), choose a
    /// kind, namespaces, a label selector and attributes, and get a `profile.yaml` and
    /// `target.yaml` that `kollect collect` loads.
    ///
    /// Needs a terminal; without one it exits 2 and points at the samples in
    /// examples/quickstart/config. Secrets need a second confirmation and their values are
    /// never shown. Existing files are replaced only after showing what changes and asking.
    /// `NO_COLOR` gives monochrome prompts.
    ///
    /// Exit status: 0 when the files were written, 2 when cancelled, without a terminal, or when
    /// the cluster could not be read.
    #[command(
        after_help = "Examples:\n  kollect init\n  kollect init --context kind-dev --output ./my-config\n  kollect init --kubeconfig /tmp/testkit.kubeconfig && kollect preview --config ./kollect-config"
    )]
    Init(crate::init::InitArgs),
    /// Print the CustomResourceDefinitions of all eleven kinds as one YAML stream.
    ///
    /// Install them with `kollect crds | kubectl apply --server-side -f -`.
    Crds,
    /// Print the version line.
    Version,
    /// Print a shell completion script.
    ///
    /// Load it for the current shell, e.g. `source <(kollect completion bash)`, or install it
    /// where the shell looks for completions.
    #[command(
        after_help = "Examples:\n  source <(kollect completion bash)\n  kollect completion zsh > \"${fpath[1]}/_kollect\"\n  kollect completion fish > ~/.config/fish/completions/kollect.fish"
    )]
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// Files or folders to check.
    #[arg(value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// A file or folder to check (repeatable); same as a positional PATH.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub(crate) files: Vec<PathBuf>,
    /// A config folder as used by `kollect collect` (same as a positional PATH).
    #[arg(long, value_name = "DIR")]
    pub(crate) config: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,
    /// Check as an operator running with --tenant-mode would (cluster kinds are refused).
    #[arg(long)]
    pub(crate) tenant_mode: bool,
    /// Check as an operator running with --allow-private-sinks would (RFC 1918 endpoints allowed).
    #[arg(long)]
    pub(crate) allow_private_sinks: bool,
    /// The operator's --max-export-bytes, the ceiling of every maxExportBytes field.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_EXPORT_BYTES)]
    pub(crate) max_export_bytes: u64,
}

impl ValidateArgs {
    /// Every path given, in order.
    pub(crate) fn all_paths(&self) -> Vec<PathBuf> {
        self.paths
            .iter()
            .chain(&self.files)
            .chain(&self.config)
            .cloned()
            .collect()
    }

    /// The admission settings the flags describe.
    pub(crate) fn settings(&self) -> Settings {
        Settings {
            tenant_mode: self.tenant_mode,
            max_export_bytes: self.max_export_bytes,
            allow_private_sinks: self.allow_private_sinks,
            allow_local_endpoints: false,
        }
    }
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// One line per problem, then a summary.
    Text,
    /// One JSON document with every problem, for scripts.
    Json,
}

/// Runs the command; returns the process exit code.
pub(crate) fn run(args: Args) -> Result<u8> {
    let Args { command, log: _ } = args;
    match command {
        Command::Validate(args) => validate::run(&args),
        Command::Collect(args) => crate::collect::run(&args),
        Command::Diff(args) => crate::diff::run(&args),
        Command::Preview(args) => crate::collect::preview(&args),
        Command::Init(args) => crate::init::run(&args),
        Command::Crds => {
            output::stdout(&kollect_api::crd::all_yaml())?;
            Ok(EXIT_OK)
        }
        Command::Completion { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Args::command(), "kollect", &mut script);
            output::stdout(&String::from_utf8_lossy(&script))?;
            Ok(EXIT_OK)
        }
        Command::Version => {
            output::stdout(&format!("{}\n", version::LINE))?;
            Ok(EXIT_OK)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn arguments_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn the_command_reference_names_every_command_and_flag() {
        let reference = include_str!("../../../docs/cli.md");
        for command in Args::command().get_subcommands() {
            assert!(
                reference.contains(&format!("kollect {}", command.get_name())),
                "docs/cli.md lacks `kollect {}`",
                command.get_name()
            );
            for argument in command.get_arguments() {
                if let Some(long) = argument.get_long() {
                    assert!(
                        long == "help"
                            || long == "version"
                            || reference.contains(&format!("--{long}")),
                        "docs/cli.md lacks --{long} of `kollect {}`",
                        command.get_name()
                    );
                }
            }
        }
    }
}
