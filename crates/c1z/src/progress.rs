//! Progress of the long phases of [`crate::SyncWriter`]: writing rows, grant expansion, the index
//! build, cleanup and compression. A caller that shows progress (a bar on a terminal) implements
//! [`WriteProgress`]; whatever the caller does, the end of each phase is logged at debug level with its
//! count and duration, so a slow run can be diagnosed from a log.

use std::time::{Duration, Instant};

/// A phase of writing a sync, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Records inserted as they arrive (no total: the writer streams).
    Rows,
    /// Expandable grants followed into new and updated grants; counted in edges, with a total.
    Expansion,
    /// Secondary indexes rebuilt after the bulk insert.
    Indexes,
    /// Free pages removed (`VACUUM`) after older syncs were deleted.
    Cleanup,
    /// The database compressed into the new file; counted in bytes of the database, with a total.
    Compression,
}

impl Phase {
    /// What the phase does, for a progress line.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Rows => "writing rows",
            Phase::Expansion => "expanding grants",
            Phase::Indexes => "building indexes",
            Phase::Cleanup => "compacting the database",
            Phase::Compression => "compressing",
        }
    }

    /// What the phase counts: `rows`, `edges`, `bytes`, or empty for a phase without a count.
    pub fn unit(self) -> &'static str {
        match self {
            Phase::Rows => "rows",
            Phase::Expansion => "edges",
            Phase::Indexes | Phase::Cleanup => "",
            Phase::Compression => "bytes",
        }
    }
}

/// Receives the writer's progress. Every method has an empty default.
pub trait WriteProgress {
    /// `phase` begins; `total` is known for expansion and compression.
    fn started(&mut self, _phase: Phase, _total: Option<u64>) {}
    /// `done` items (rows, edges or bytes) of the current phase are complete; called every few
    /// thousand rows or megabytes, not per item.
    fn advanced(&mut self, _phase: Phase, _done: u64) {}
    /// `phase` ended after `done` items in `elapsed`.
    fn finished(&mut self, _phase: Phase, _done: u64, _elapsed: Duration) {}
}

/// Shows nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl WriteProgress for NoProgress {}

/// Items between two [`WriteProgress::advanced`] calls of a counted phase.
const ROWS_PER_TICK: u64 = 4096;
/// Bytes between two calls while compressing.
pub(crate) const BYTES_PER_TICK: u64 = 8 << 20;

/// The writer's side: the current phase, its start and count, and the receiver.
pub(crate) struct Tracker {
    sink: Box<dyn WriteProgress>,
    current: Option<(Phase, Instant, u64)>,
}

impl Tracker {
    pub(crate) fn new(sink: Box<dyn WriteProgress>) -> Tracker {
        Tracker {
            sink,
            current: None,
        }
    }

    /// Ends the current phase (if any) and starts `phase`.
    pub(crate) fn start(&mut self, phase: Phase, total: Option<u64>) {
        self.end();
        self.current = Some((phase, Instant::now(), 0));
        self.sink.started(phase, total);
    }

    /// Starts `phase` unless it is already the current one.
    pub(crate) fn ensure(&mut self, phase: Phase) {
        if self.current.map(|(p, _, _)| p) != Some(phase) {
            self.start(phase, None);
        }
    }

    /// One more item of the current phase.
    pub(crate) fn tick(&mut self) {
        if let Some((phase, _, done)) = &mut self.current {
            *done += 1;
            if *done % ROWS_PER_TICK == 0 {
                self.sink.advanced(*phase, *done);
            }
        }
    }

    /// The current phase has `done` items complete.
    pub(crate) fn set(&mut self, done: u64) {
        if let Some((phase, _, count)) = &mut self.current {
            *count = done;
            self.sink.advanced(*phase, done);
        }
    }

    /// Ends the current phase: logs its count and duration and tells the receiver.
    pub(crate) fn end(&mut self) {
        if let Some((phase, started, done)) = self.current.take() {
            let elapsed = started.elapsed();
            log::debug!(
                phase = phase.label(),
                count = done,
                duration_s = elapsed.as_secs_f64();
                "write phase finished"
            );
            self.sink.finished(phase, done, elapsed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[derive(Clone, Default)]
    struct Recorder(Rc<RefCell<Vec<String>>>);

    impl WriteProgress for Recorder {
        fn started(&mut self, phase: Phase, total: Option<u64>) {
            self.0
                .borrow_mut()
                .push(format!("start {} {total:?}", phase.label()));
        }
        fn advanced(&mut self, phase: Phase, done: u64) {
            self.0
                .borrow_mut()
                .push(format!("at {} {done}", phase.label()));
        }
        fn finished(&mut self, phase: Phase, done: u64, _elapsed: Duration) {
            self.0
                .borrow_mut()
                .push(format!("end {} {done}", phase.label()));
        }
    }

    #[test]
    fn a_tracker_reports_every_few_thousand_items_and_ends_each_phase_once() {
        let recorder = Recorder::default();
        let mut tracker = Tracker::new(Box::new(recorder.clone()));
        tracker.ensure(Phase::Rows);
        for _ in 0..(ROWS_PER_TICK * 2 + 1) {
            tracker.ensure(Phase::Rows);
            tracker.tick();
        }
        tracker.start(Phase::Compression, Some(10));
        tracker.set(10);
        tracker.end();
        tracker.end();
        assert_eq!(
            *recorder.0.borrow(),
            vec![
                "start writing rows None".to_owned(),
                format!("at writing rows {ROWS_PER_TICK}"),
                format!("at writing rows {}", ROWS_PER_TICK * 2),
                format!("end writing rows {}", ROWS_PER_TICK * 2 + 1),
                "start compressing Some(10)".to_owned(),
                "at compressing 10".to_owned(),
                "end compressing 10".to_owned(),
            ]
        );
    }
}
