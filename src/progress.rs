//! Progress of a running sync on a terminal: a spinner with the current step, and one line per fetched
//! list with its count and the time since the sync started. Used only when stderr is a terminal; a sync
//! whose stderr is a file or a pipe reports its steps as debug logs instead.

use crate::logging;
use crate::snapshot::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Spinner and step lines on stderr.
pub struct TerminalProgress {
    bar: ProgressBar,
    started: Instant,
}

impl TerminalProgress {
    /// Starts the spinner on stderr.
    pub fn start() -> TerminalProgress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_message("reading Elastic");
        bar.enable_steady_tick(Duration::from_millis(120));
        TerminalProgress {
            bar,
            started: Instant::now(),
        }
    }
}

/// One step line: the list, its count, and the seconds since the sync started.
pub fn step_line(list: &str, count: usize, elapsed: Duration) -> String {
    format!("  {list:<16}{count:>9}  {:>7.1} s", elapsed.as_secs_f64())
}

impl Progress for TerminalProgress {
    fn fetched(&mut self, list: &str, count: usize) {
        logging::debug(
            "fetched list",
            &[("list", Value::from(list)), ("count", Value::from(count))],
        );
        self.bar
            .println(step_line(list, count, self.started.elapsed()));
    }

    fn step(&mut self, name: &str) {
        self.bar.set_message(name.to_owned());
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_step_lines_show_count_and_elapsed_time() {
        assert_eq!(
            step_line("role mappings", 15, Duration::from_millis(2345)),
            "  role mappings          15      2.3 s"
        );
    }
}
