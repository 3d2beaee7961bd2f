//! `kollect-testkit`: run the in-repo Kubernetes API server for demos, or generate load against
//! any Kubernetes API.

use std::{io::Write as _, net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use kollect_testkit::{
    Options, TestApiServer, TokenUser,
    load::{ChurnSpec, LoadKind, LoadSpec},
};

/// An in-process Kubernetes API server for tests, benchmarks and demos.
#[derive(Parser, Debug)]
#[command(name = "kollect-testkit", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the Kubernetes API until Ctrl-C.
    ///
    /// Writes a kubeconfig (superuser token, and the generated CA unless --no-tls) so that
    /// kubectl and kollect can be pointed at the server:
    ///
    ///   kollect-testkit serve --port 0 --kubeconfig /tmp/testkit.kubeconfig &
    ///   kubectl --kubeconfig /tmp/testkit.kubeconfig get namespaces
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        address: std::net::IpAddr,
        /// Port; 0 picks a free one (printed, and written to the kubeconfig).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Where to write the kubeconfig.
        #[arg(long, value_name = "FILE")]
        kubeconfig: Option<PathBuf>,
        /// Load manifests (YAML/JSON, multi-document, `kind: List`, CRDs first) from a folder at start.
        #[arg(long, value_name = "DIR")]
        preload: Vec<PathBuf>,
        /// Serve plain HTTP instead of HTTPS.
        #[arg(long)]
        no_tls: bool,
        /// Accept requests without a token as system:anonymous.
        #[arg(long)]
        anonymous: bool,
        /// Watch events kept per resource before older resourceVersions answer 410 Expired.
        #[arg(long, default_value_t = 10_000)]
        history: usize,
        /// Seconds between watch bookmarks.
        #[arg(long, default_value_t = 5)]
        bookmark_seconds: u64,
        /// Do not install Kollect's CustomResourceDefinitions.
        #[arg(long)]
        no_kollect_crds: bool,
        /// Superuser token (random by default).
        #[arg(long, env = "KOLLECT_TESTKIT_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// More users: NAME=TOKEN or NAME:GROUP1,GROUP2=TOKEN. Give them rights with RBAC objects.
        #[arg(long = "user", value_name = "NAME[:GROUPS]=TOKEN")]
        users: Vec<String>,
    },
    /// Create objects of realistic shape through a Kubernetes API, then optionally churn them.
    Load {
        /// kubeconfig of the target API (default: KUBECONFIG or ~/.kube/config).
        #[arg(long, value_name = "FILE")]
        kubeconfig: Option<PathBuf>,
        /// Context in the kubeconfig.
        #[arg(long)]
        context: Option<String>,
        /// Kind: configmap, secret, pod or deployment.
        #[arg(long, default_value = "configmap")]
        kind: LoadKind,
        /// Number of objects.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Number of namespaces (PREFIX-0, PREFIX-1...), created when missing.
        #[arg(long, default_value_t = 10)]
        namespaces: usize,
        /// Approximate size of each object in bytes.
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// Name prefix of objects and namespaces.
        #[arg(long, default_value = "load")]
        prefix: String,
        /// Requests in flight.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// After creating, change objects at this many changes per second (0: no churn).
        #[arg(long, default_value_t = 0.0)]
        churn_rate: f64,
        /// How long to churn, in seconds.
        #[arg(long, default_value_t = 10)]
        churn_seconds: u64,
        /// Weights of updates, creates and deletes while churning.
        #[arg(long, default_value = "8,1,1")]
        mix: String,
    },
}

fn out(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn parse_user(text: &str) -> Result<TokenUser> {
    let (who, token) = text.rsplit_once('=').with_context(|| {
        format!("--user {text:?}: expected NAME=TOKEN or NAME:GROUP1,GROUP2=TOKEN")
    })?;
    let (name, groups) = who.split_once(':').unwrap_or((who, ""));
    if name.is_empty() || token.is_empty() {
        bail!("--user {text:?}: the user name and the token must not be empty");
    }
    Ok(TokenUser {
        token: token.to_owned(),
        username: name.to_owned(),
        uid: name.to_owned(),
        groups: groups
            .split(',')
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

async fn serve(command: Command) -> Result<()> {
    let Command::Serve {
        address,
        port,
        kubeconfig,
        preload,
        no_tls,
        anonymous,
        history,
        bookmark_seconds,
        no_kollect_crds,
        token,
        users,
    } = command
    else {
        bail!("not a serve command");
    };
    let mut options = Options {
        listen: SocketAddr::new(address, port),
        tls: !no_tls,
        history_limit: history,
        bookmark_interval: Duration::from_secs(bookmark_seconds.max(1)),
        anonymous,
        kollect_crds: !no_kollect_crds,
        ..Options::default()
    };
    if let Some(token) = token {
        options.admin_token = token;
    }
    options.tokens = users.iter().map(|u| parse_user(u)).collect::<Result<_>>()?;
    let server = TestApiServer::start(options)
        .await
        .context("failed to start the API server")?;
    for dir in &preload {
        let count = server
            .preload(dir)
            .await
            .with_context(|| format!("failed to preload {}", dir.display()))?;
        out(&format!("preloaded {count} objects from {}", dir.display()));
    }
    out(&format!("serving the Kubernetes API at {}", server.url()));
    if let Some(path) = &kubeconfig {
        server
            .write_kubeconfig(path)
            .with_context(|| format!("failed to write the kubeconfig to {}", path.display()))?;
        out(&format!(
            "kubeconfig written to {} (context kollect-testkit)",
            path.display()
        ));
    } else {
        out("no --kubeconfig given; the superuser token is in KOLLECT_TESTKIT_TOKEN if you set it");
    }
    out("press Ctrl-C to stop");
    wait_for_signal().await?;
    server.shutdown();
    Ok(())
}

async fn wait_for_signal() -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("failed to listen for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("failed to listen for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

async fn load(command: Command) -> Result<()> {
    let Command::Load {
        kubeconfig,
        context,
        kind,
        count,
        namespaces,
        size,
        prefix,
        concurrency,
        churn_rate,
        churn_seconds,
        mix,
    } = command
    else {
        bail!("not a load command");
    };
    let options = kube::config::KubeConfigOptions {
        context,
        ..Default::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(&path)
                .with_context(|| format!("failed to read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        None => kube::Config::from_kubeconfig(&options).await?,
    };
    let client = kube::Client::try_from(config).context("failed to build a client")?;
    let spec = LoadSpec {
        kind,
        count,
        namespaces,
        size,
        prefix,
        concurrency,
    };
    let report = kollect_testkit::load::populate(&client, &spec, &|done| {
        let _ = writeln!(std::io::stderr(), "created {done}/{count}");
    })
    .await?;
    out(&format!(
        "created {} {kind}s in {} namespaces in {:.2} s ({:.0}/s)",
        report.created,
        namespaces,
        report.elapsed.as_secs_f64(),
        report.rate()
    ));
    if churn_rate > 0.0 {
        let weights: Vec<u32> = mix
            .split(',')
            .map(|w| w.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .with_context(|| format!("--mix {mix:?}: expected three integers like 8,1,1"))?;
        let [updates, creates, deletes] = weights[..] else {
            bail!("--mix {mix:?}: expected three integers like 8,1,1");
        };
        let churn = ChurnSpec {
            rate: churn_rate,
            duration: Duration::from_secs(churn_seconds),
            mix: (updates, creates, deletes),
        };
        let report = kollect_testkit::load::churn(&client, &spec, &churn).await?;
        out(&format!(
            "churned for {:.1} s: {} updates, {} creates, {} deletes ({:.0}/s)",
            report.elapsed.as_secs_f64(),
            report.updated,
            report.created,
            report.deleted,
            report.rate()
        ));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        command @ Command::Serve { .. } => serve(command).await,
        command @ Command::Load { .. } => load(command).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
