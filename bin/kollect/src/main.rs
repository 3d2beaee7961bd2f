//! The `kollect` binary: parses arguments, sets up logging and runs one command.

mod cli;
mod collect;
mod diff;
mod init;
mod output;
mod telemetry;
mod validate;
mod version;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    output::set_quiet(args.log.quiet);
    if let Err(error) = telemetry::init(&args.log) {
        output::error_line(&format!("error: {error:#}"));
        return ExitCode::from(cli::EXIT_INTERNAL);
    }
    match cli::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "Command failed.");
            output::error_line(&format!("error: {error:#}"));
            ExitCode::from(cli::EXIT_INTERNAL)
        }
    }
}
