//! `kollect init`: an interactive wizard that looks at a cluster (read-only) and writes a starter
//! `profile.yaml` and `target.yaml` for `kollect collect` (operations spec §3.6).
//!
//! The steps live in [`wizard`] and ask through the [`prompt::Prompter`] trait: dialoguer on a
//! terminal, a script in tests, so the whole wizard is tested against kollect-testkit without a
//! terminal.

mod cluster;
mod generate;
mod prompt;
mod selector;
mod wizard;

use std::{fmt::Write as _, io::IsTerminal as _, path::PathBuf};

use anyhow::{Context as _, Result};

use crate::{
    cli::{EXIT_INVALID, EXIT_OK},
    output,
};

/// Where users without a terminal find ready-made config folders.
const SAMPLES: &str = "examples/quickstart/config";

/// `kollect init` flags.
#[derive(Debug, clap::Args)]
pub(crate) struct InitArgs {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// The context to look at (default: the current context); the wizard asks to confirm it.
    #[arg(long, value_name = "NAME")]
    pub(crate) context: Option<String>,
    /// Folder to write profile.yaml and target.yaml into (created if missing; an existing file
    /// is replaced only after showing what changes and asking).
    #[arg(
        long,
        visible_alias = "output-dir",
        value_name = "DIR",
        default_value = "./kollect-config"
    )]
    pub(crate) output: PathBuf,
}

/// Runs the wizard on the terminal; exit 0 when files were written, 2 otherwise.
pub(crate) fn run(args: &InitArgs) -> Result<u8> {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        output::error_line(&format!(
            "error: kollect init asks questions and needs a terminal (stdin and stderr); without one, start from the samples in {SAMPLES} (profiles, targets, sinks), edit them, and check them with `kollect validate --config DIR`"
        ));
        return Ok(EXIT_INVALID);
    }
    let options = wizard::Options {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        output: args.output.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(wizard::run(&mut prompt::Terminal::new(), &options));
    finish(result)
}

/// Prints the outcome; returns the exit code.
fn finish(result: Result<wizard::Done, wizard::Stop>) -> Result<u8> {
    match result {
        Ok(done) => {
            let mut report = String::new();
            for path in &done.written {
                let _ = writeln!(report, "wrote {}", path.display());
            }
            let _ = writeln!(report, "{}\nTry:", done.summary);
            for command in &done.trial {
                let _ = writeln!(report, "  {command}");
            }
            output::stdout(&report)?;
            Ok(EXIT_OK)
        }
        Err(wizard::Stop::Cancelled) => {
            output::terminal_line("cancelled: nothing was written");
            Ok(EXIT_INVALID)
        }
        Err(wizard::Stop::Failed(message)) => {
            output::error_line(&format!("error: {message}"));
            Ok(EXIT_INVALID)
        }
    }
}
