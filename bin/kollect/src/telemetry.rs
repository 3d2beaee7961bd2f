//! Logging set-up: `tracing` to stderr, as text or JSON, filtered by `--log-level` or `RUST_LOG`.

use anyhow::{Context, Result};
use clap::ValueEnum;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Logging flags shared by every command.
#[derive(Debug, clap::Args)]
pub(crate) struct LogArgs {
    /// Log level (error, warn, info, debug, trace) or a full filter such as `kollect=debug`.
    /// `RUST_LOG` is used when this is not given.
    #[arg(long, global = true, value_name = "LEVEL", env = "KOLLECT_LOG_LEVEL")]
    pub(crate) log_level: Option<String>,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "KOLLECT_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
    /// Only problems on stderr (lines starting `error` or `warning`): no summaries, no progress
    /// bars. Results on stdout are unchanged.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber.
pub(crate) fn init(args: &LogArgs) -> Result<()> {
    let filter = match &args.log_level {
        Some(level) => {
            EnvFilter::try_new(level).with_context(|| format!("invalid --log-level {level:?}"))?
        }
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    let colour = std::env::var_os("NO_COLOR").is_none() && crate::output::stdout_is_terminal();
    let registry = tracing_subscriber::registry().with(filter);
    match args.log_format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(colour)
                    .with_target(false),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init(),
    }
    .context("install the log subscriber")
}
