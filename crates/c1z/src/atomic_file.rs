//! Replacing a file as a whole: the new content goes into a temp file beside the target (removed on an
//! error or an interruption), is flushed to disk, and is renamed over the target, whose folder is then
//! flushed too. Readers see the old file or the complete new one, never a part.

use anyhow::Context;
use std::ffi::OsString;
use std::fs::{self, File, Permissions};
use std::path::{Path, PathBuf};

/// Writes `target` through `write` (given the temp file) and renames it into place. A new file gets the
/// usual permissions (read/write for everyone minus the umask); a replaced one keeps its own. Returns the
/// file as renamed.
pub fn replace(
    target: &Path,
    write: impl FnOnce(&mut File) -> anyhow::Result<()>,
) -> anyhow::Result<File> {
    let dir = target_dir(target);
    let name = target
        .file_name()
        .with_context(|| format!("{} has no file name", target.display()))?;
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    if let Some(permissions) = output_permissions(target) {
        builder.permissions(permissions);
    }
    let (mut temp, _guard) = crate::temp::create_registered(
        || builder.tempfile_in(&dir),
        |temp| temp.path().to_path_buf(),
    )
    .with_context(|| format!("cannot create a temp file in {}", dir.display()))?;
    write(temp.as_file_mut()).with_context(|| format!("cannot write {}", temp.path().display()))?;
    temp.as_file()
        .sync_all()
        .with_context(|| format!("cannot flush {}", temp.path().display()))?;
    let file = temp
        .persist(target)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot replace {}", target.display()))?;
    sync_dir(&dir)?;
    Ok(file)
}

/// The folder `target` is in (`.` for a bare file name).
pub fn target_dir(target: &Path) -> PathBuf {
    match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The existing target's permissions, or (on unix) read/write for everyone minus the umask for a new file.
fn output_permissions(target: &Path) -> Option<Permissions> {
    match fs::metadata(target) {
        Ok(meta) => Some(meta.permissions()),
        Err(_) => default_permissions(),
    }
}

#[cfg(unix)]
fn default_permissions() -> Option<Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(Permissions::from_mode(0o666))
}

#[cfg(not(unix))]
fn default_permissions() -> Option<Permissions> {
    None
}

/// Makes a rename in `dir` durable.
#[cfg(unix)]
pub fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot flush the folder {}", dir.display()))
}

#[cfg(not(unix))]
pub fn sync_dir(_dir: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_file_name_is_in_the_current_folder() {
        assert_eq!(target_dir(Path::new("out.c1z")), PathBuf::from("."));
        assert_eq!(
            target_dir(Path::new("/tmp/x/out.c1z")),
            PathBuf::from("/tmp/x")
        );
    }

    #[test]
    fn a_failed_write_leaves_the_target_and_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.csv");
        fs::write(&target, b"old").expect("write");
        let err = replace(&target, |file| {
            use std::io::Write;
            file.write_all(b"partial")?;
            anyhow::bail!("disk full")
        })
        .expect_err("fails");
        assert!(format!("{err:#}").contains("disk full"));
        assert_eq!(fs::read(&target).expect("read"), b"old");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, [OsString::from("out.csv")]);
    }
}
