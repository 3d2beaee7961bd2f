//! Which clusters a run reads: the contexts of a kubeconfig selected by name or glob (in
//! kubeconfig order), or one offline cluster made of `--from-dir` folders.

use std::path::Path;

use anyhow::{Context as _, Result};
use kollect_collect::StaticSource;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::{SourceArgs, source::Source};

/// One cluster to collect.
pub(super) struct Context {
    pub(super) name: String,
    pub(super) source: Source,
}

/// The clusters `args` select, each with its client or its files.
pub(super) async fn contexts(args: &SourceArgs) -> Result<Vec<Context>> {
    if !args.from_dir.is_empty() {
        let source = StaticSource::load(&args.from_dir).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("cannot read --from-dir:\n  {}", lines.join("\n  "))
        })?;
        let name = args
            .cluster
            .clone()
            .or_else(|| folder_name(&args.from_dir[0]))
            .unwrap_or_else(|| "offline".to_owned());
        return Ok(vec![Context {
            name,
            source: Source::Static(source),
        }]);
    }
    let kubeconfig = match &args.kubeconfig {
        Some(path) => Kubeconfig::read_from(path)
            .with_context(|| format!("cannot read kubeconfig {}", path.display()))?,
        None => Kubeconfig::read().context(
            "cannot read a kubeconfig ($KUBECONFIG or ~/.kube/config); give --kubeconfig, or --from-dir to collect from files",
        )?,
    };
    let names = select_contexts(&kubeconfig, &args.context)?;
    if args.cluster.is_some() && names.len() > 1 {
        anyhow::bail!(
            "--cluster names one cluster but {} contexts were selected",
            names.len()
        );
    }
    let mut contexts = Vec::with_capacity(names.len());
    for name in names {
        let options = KubeConfigOptions {
            context: Some(name.clone()),
            ..KubeConfigOptions::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &options)
            .await
            .with_context(|| format!("context {name}: invalid kubeconfig entry"))?;
        let client = kube::Client::try_from(config)
            .with_context(|| format!("context {name}: cannot build a client"))?;
        contexts.push(Context {
            name,
            source: Source::Live(client),
        });
    }
    Ok(contexts)
}

fn folder_name(path: &Path) -> Option<String> {
    std::fs::canonicalize(path)
        .ok()?
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

/// The contexts `patterns` select, in kubeconfig order; the current context when none given.
fn select_contexts(kubeconfig: &Kubeconfig, patterns: &[String]) -> Result<Vec<String>> {
    let available: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    if patterns.is_empty() {
        let current = kubeconfig
            .current_context
            .clone()
            .filter(|c| !c.is_empty())
            .context("the kubeconfig has no current context; choose one with --context")?;
        return Ok(vec![current]);
    }
    let mut selected = Vec::new();
    for pattern in patterns.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let matched: Vec<&str> = available
            .iter()
            .copied()
            .filter(|c| glob(pattern, c))
            .collect();
        if matched.is_empty() {
            anyhow::bail!(
                "--context {pattern}: no such context (the kubeconfig has: {})",
                available.join(", ")
            );
        }
        for name in matched {
            if !selected.iter().any(|s: &String| s == name) {
                selected.push(name.to_owned());
            }
        }
    }
    Ok(selected)
}

/// Shell-style matching with `*` (any run) and `?` (one character).
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_shell() {
        assert!(glob("prod-*", "prod-eu"));
        assert!(glob("*", ""));
        assert!(glob("k?nd-*", "kind-dev"));
        assert!(!glob("prod-*", "staging"));
        assert!(!glob("prod", "prod-eu"));
        assert!(glob("*-eu*", "prod-eu-1"));
    }
}
