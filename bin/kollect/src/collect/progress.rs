//! Progress bars while `collect` and `preview` work: one per context while its targets' kinds
//! are listed, one per context and sink while its snapshots go to the sinks. Drawn on stderr only when
//! it is a terminal and `--quiet` is not set; hidden otherwise, so logs and tests see the same
//! output as without them. Each bar is cleared when its step ends.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// How often a spinner moves: smooth enough to show life, rare enough to cost nothing.
const TICK: Duration = Duration::from_millis(120);

/// One context's bar; cleared on drop.
pub(crate) struct ContextProgress(ProgressBar);

impl ContextProgress {
    /// `prod-eu [=====>    ] 3/7 targets · listing Deployment`.
    pub(crate) fn listing(context: &str, targets: usize) -> Self {
        let bar = crate::output::progress().add(ProgressBar::new(targets as u64));
        bar.set_style(style(
            "{prefix} [{bar:24}] {pos}/{len} targets · listing {msg}",
        ));
        bar.set_prefix(context.to_owned());
        Self(bar)
    }

    /// `prod-eu → inventory/snapshot/history [=====>    ] 3/7 targets · shop/web`.
    pub(crate) fn exporting(context: &str, sink: &str, targets: usize) -> Self {
        let bar = crate::output::progress().add(ProgressBar::new(targets as u64));
        bar.set_style(style(
            "{prefix} [{bar:24}] {pos}/{len} targets · {msg} ({elapsed})",
        ));
        bar.set_prefix(format!("{context} → {sink}"));
        bar.enable_steady_tick(TICK);
        Self(bar)
    }

    /// The kind now being listed, or the target now being exported.
    pub(crate) fn kind(&self, kind: &str) {
        self.0.set_message(kind.to_owned());
    }

    /// One more target done.
    pub(crate) fn target_done(&self) {
        self.0.inc(1);
    }
}

impl Drop for ContextProgress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

fn style(template: &str) -> ProgressStyle {
    // The templates are constants checked by the test below; a bad one falls back to the
    // default bar rather than failing a collection.
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_hidden_bars_count() {
        for template in [
            "{prefix} [{bar:24}] {pos}/{len} targets · listing {msg}",
            "{prefix} [{bar:24}] {pos}/{len} targets · {msg} ({elapsed})",
        ] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
        let progress = ContextProgress::listing("prod", 2);
        progress.kind("Deployment");
        progress.target_done();
        assert_eq!(progress.0.position(), 1);
        assert!(progress.0.is_hidden(), "tests have no terminal");
    }
}
