//! Progress of a running sync on a terminal: a spinner with the current step, one line per fetched
//! list with its count and the time since the sync started, then a bar (count, rate) for each long
//! phase of writing the file. Used only when stderr is a terminal; a sync whose stderr is a file or a
//! pipe reports its steps and the write phases (with their durations) as debug logs instead.

use crate::logging;
use crate::snapshot::Progress;
use baton_c1z::progress::{Phase, WriteProgress};
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

impl TerminalProgress {
    /// The bars of the write phases, drawn where the spinner is.
    pub fn write_phases(&self) -> TerminalWritePhases {
        TerminalWritePhases {
            bar: self.bar.clone(),
        }
    }
}

/// The write phases of a sync on the terminal: a bar with position, total and rate where the total is
/// known, a counter with its rate where it is not, and one line per finished phase.
pub struct TerminalWritePhases {
    bar: ProgressBar,
}

impl WriteProgress for TerminalWritePhases {
    fn started(&mut self, phase: Phase, total: Option<u64>) {
        let bytes = phase.unit() == "bytes";
        let template = match (total, bytes) {
            (Some(_), true) => "{spinner} {msg} {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec})",
            (Some(_), false) => "{spinner} {msg} {wide_bar} {human_pos}/{human_len} ({per_sec})",
            (None, _) if phase.unit().is_empty() => "{spinner} {msg} [{elapsed}]",
            (None, _) => "{spinner} {msg} {human_pos} ({per_sec})",
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        self.bar.set_message(phase.label());
        self.bar.reset();
        self.bar.set_length(total.unwrap_or(0));
        self.bar.set_style(style);
    }

    fn advanced(&mut self, _phase: Phase, done: u64) {
        self.bar.set_position(done);
    }

    fn finished(&mut self, phase: Phase, done: u64, elapsed: Duration) {
        self.bar.println(phase_line(phase, done, elapsed));
    }
}

/// One line for a finished write phase: what it did, its count and unit, and its seconds.
pub fn phase_line(phase: Phase, done: u64, elapsed: Duration) -> String {
    let count = if phase.unit().is_empty() {
        String::new()
    } else if phase.unit() == "bytes" {
        indicatif::HumanBytes(done).to_string()
    } else {
        format!("{done} {}", phase.unit())
    };
    format!(
        "  {:<24}{count:>18}  {:>7.1} s",
        phase.label(),
        elapsed.as_secs_f64()
    )
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
    fn progress_phase_lines_show_count_unit_and_duration() {
        assert_eq!(
            phase_line(Phase::Expansion, 12, Duration::from_millis(1500)),
            "  expanding grants                  12 edges      1.5 s"
        );
        assert_eq!(
            phase_line(Phase::Indexes, 0, Duration::from_millis(200)),
            "  building indexes                                0.2 s"
        );
        assert_eq!(
            phase_line(Phase::Compression, 3 << 20, Duration::from_millis(200)),
            "  compressing                       3.00 MiB      0.2 s"
        );
    }

    #[test]
    fn progress_step_lines_show_count_and_elapsed_time() {
        assert_eq!(
            step_line("role mappings", 15, Duration::from_millis(2345)),
            "  role mappings          15      2.3 s"
        );
    }
}
