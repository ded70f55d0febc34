//! Interruption (Ctrl-C, SIGTERM, SIGHUP): removes the temporary files of a write in progress (see
//! [`baton_c1z::temp`]), says what the interruption means for the command that was running, then exits
//! with status 130. An interrupted sync leaves the previous `.c1z` untouched and nothing behind; an
//! interrupted grant or revoke may already have sent its write.

use std::sync::atomic::{AtomicU8, Ordering};

/// What the running command does to the outside world, for the message printed on interruption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// Writes only the `.c1z` file, atomically (sync), or nothing at all (inspect and the rest).
    FileOnly,
    /// Sends a change to Elastic (grant, revoke).
    Provisioning,
}

static ACTIVITY: AtomicU8 = AtomicU8::new(0);

/// Records what the running command does; the message on interruption follows it.
pub fn set_activity(activity: Activity) {
    let value = match activity {
        Activity::FileOnly => 0,
        Activity::Provisioning => 1,
    };
    ACTIVITY.store(value, Ordering::SeqCst);
}

/// The line printed when the process is interrupted during `activity`.
pub fn message(activity: Activity) -> &'static str {
    match activity {
        Activity::FileOnly => "error: interrupted; the previous file is unchanged",
        Activity::Provisioning => {
            "error: interrupted; the change may or may not have been applied: run the same command again \
             (grant and revoke are idempotent) or sync to see the current state"
        }
    }
}

fn current() -> Activity {
    match ACTIVITY.load(Ordering::SeqCst) {
        1 => Activity::Provisioning,
        _ => Activity::FileOnly,
    }
}

/// Installs the handler; the process then exits on the first signal, after cleanup.
pub fn install() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        baton_c1z::temp::remove_all();
        eprintln!("{}", message(current()));
        std::process::exit(130);
    })
    .map_err(|e| anyhow::anyhow!("cannot install the interrupt handler: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_follows_the_activity() {
        assert!(message(Activity::FileOnly).contains("previous file is unchanged"));
        let provisioning = message(Activity::Provisioning);
        assert!(provisioning.contains("may or may not have been applied"));
        assert!(!provisioning.contains("unchanged"));
    }
}
