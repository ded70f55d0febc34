//! Temporary files and folders that must not outlive an interrupted process: the writer's working copy,
//! the reader's decompressed copy and the temp file of an atomic replacement register here, and a
//! program's signal handler calls [`remove_all`] before it exits. This crate installs no handler itself.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Temporary paths to remove if the process is interrupted.
#[derive(Debug)]
pub struct Registry {
    paths: Mutex<BTreeMap<u64, PathBuf>>,
    next_id: AtomicU64,
}

/// The process-wide registry a signal handler empties with [`remove_all`].
static GLOBAL: Registry = Registry::new();

impl Registry {
    /// An empty registry.
    pub const fn new() -> Self {
        Registry {
            paths: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
        }
    }

    /// Registers a file or folder until the returned guard is dropped.
    pub fn register(&self, path: impl Into<PathBuf>) -> TempGuard<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, path.into());
        TempGuard { registry: self, id }
    }

    /// Creates a temporary file or folder with `create` and registers the path `path_of` gives for it,
    /// as one step: the signal handler waits for the registry, so an interruption during `create` still
    /// sees the new path and removes it.
    pub fn create_registered<T, E>(
        &self,
        create: impl FnOnce() -> Result<T, E>,
        path_of: impl FnOnce(&T) -> PathBuf,
    ) -> Result<(T, TempGuard<'_>), E> {
        let mut paths = self.lock();
        let created = create()?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        paths.insert(id, path_of(&created));
        drop(paths);
        Ok((created, TempGuard { registry: self, id }))
    }

    /// Removes every registered path.
    pub fn remove_all(&self) {
        for path in self.lock().values() {
            if path.is_dir() {
                let _ = std::fs::remove_dir_all(path);
            } else {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, PathBuf>> {
        self.paths.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// Keeps a temporary path registered for removal on interruption until dropped.
#[derive(Debug)]
pub struct TempGuard<'a> {
    registry: &'a Registry,
    id: u64,
}

impl Drop for TempGuard<'_> {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

/// Registers a temporary file or folder for removal if the process is interrupted.
pub fn register(path: impl Into<PathBuf>) -> TempGuard<'static> {
    GLOBAL.register(path)
}

/// Removes every path registered in the process-wide registry (for a signal handler).
pub fn remove_all() {
    GLOBAL.remove_all();
}

/// Creates a temporary file or folder and registers it for removal on interruption as one step (see
/// [`Registry::create_registered`]).
pub fn create_registered<T, E>(
    create: impl FnOnce() -> Result<T, E>,
    path_of: impl FnOnce(&T) -> PathBuf,
) -> Result<(T, TempGuard<'static>), E> {
    GLOBAL.create_registered(create, path_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_paths_are_removed_and_guards_unregister() {
        let registry = Registry::new();
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.tmp");
        let sub = dir.path().join("work");
        std::fs::write(&file, b"x").expect("write");
        std::fs::create_dir(&sub).expect("mkdir");
        let kept = dir.path().join("kept.tmp");
        std::fs::write(&kept, b"x").expect("write");
        let _a = registry.register(&file);
        let _b = registry.register(&sub);
        drop(registry.register(&kept));
        registry.remove_all();
        assert!(!file.exists() && !sub.exists());
        assert!(kept.exists(), "a dropped guard no longer removes its path");
    }

    #[test]
    fn a_path_created_while_registering_is_removed() {
        let registry = Registry::new();
        let dir = tempfile::tempdir().expect("tempdir");
        let (created, _guard) = registry
            .create_registered(
                || tempfile::Builder::new().tempdir_in(dir.path()),
                |d| d.path().to_path_buf(),
            )
            .expect("create");
        let path = created.path().to_path_buf();
        assert!(path.exists());
        registry.remove_all();
        assert!(!path.exists());
        let failed = registry.create_registered(
            || Err::<tempfile::TempDir, _>("no room"),
            |d| d.path().to_path_buf(),
        );
        assert!(failed.is_err());
        assert!(
            registry.lock().len() == 1,
            "a failed creation registers nothing"
        );
    }
}
