//! Interruption (Ctrl-C, SIGTERM, SIGHUP): removes the temporary files of a write in progress, then
//! exits with status 130, so an interrupted run leaves the previous `.c1z` untouched and nothing behind.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

static PATHS: Mutex<BTreeMap<u64, PathBuf>> = Mutex::new(BTreeMap::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Installs the handler; the process then exits on the first signal, after cleanup.
pub fn install() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        remove_registered();
        eprintln!("error: interrupted; the previous file is unchanged");
        std::process::exit(130);
    })
    .map_err(|e| anyhow::anyhow!("cannot install the interrupt handler: {e}"))
}

fn remove_registered() {
    let paths = PATHS.lock().unwrap_or_else(|e| e.into_inner());
    for path in paths.values() {
        if path.is_dir() {
            let _ = std::fs::remove_dir_all(path);
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Keeps a temporary path registered for removal on interruption until dropped.
#[derive(Debug)]
pub struct TempGuard {
    id: u64,
}

/// Registers a temporary file or folder for removal if the process is interrupted.
pub fn register(path: impl Into<PathBuf>) -> TempGuard {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    PATHS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, path.into());
    TempGuard { id }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        PATHS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_paths_are_removed_and_guards_unregister() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.tmp");
        let sub = dir.path().join("work");
        std::fs::write(&file, b"x").expect("write");
        std::fs::create_dir(&sub).expect("mkdir");
        let kept = dir.path().join("kept.tmp");
        std::fs::write(&kept, b"x").expect("write");
        let _a = register(&file);
        let _b = register(&sub);
        drop(register(&kept));
        remove_registered();
        assert!(!file.exists() && !sub.exists());
        assert!(kept.exists(), "a dropped guard no longer removes its path");
    }
}
