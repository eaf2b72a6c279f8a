//! Writing output files so that nothing is half-written: each file goes to a
//! temporary name first and is renamed into place once all are complete.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("could not write {}: {source}", path.display())]
pub struct WriteError {
    /// The file or directory.
    pub path: PathBuf,
    /// The operating system's error.
    pub source: std::io::Error,
}

/// Writes `files` (name, contents, secret) into `dir`. Secret files are
/// readable by their owner only.
pub fn write_files(dir: &Path, files: &[(&str, &[u8], bool)]) -> Result<(), WriteError> {
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |source| WriteError { path, source }
    };
    std::fs::create_dir_all(dir).map_err(failed(dir))?;
    let mut staged = Vec::with_capacity(files.len());
    for (name, contents, secret) in files {
        let temporary = dir.join(format!(".{name}.partial"));
        write_file(&temporary, contents, *secret).map_err(failed(&temporary))?;
        staged.push((temporary, dir.join(name)));
    }
    for (temporary, path) in staged {
        std::fs::rename(&temporary, &path).map_err(failed(&path))?;
    }
    Ok(())
}

/// Writes one file atomically (temporary name, then rename).
pub fn write_file_atomically(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    write_files(dir, &[(&name, contents, false)])
}

fn write_file(path: &Path, contents: &[u8], secret: bool) -> std::io::Result<()> {
    // A leftover from an interrupted run may have other permissions; start afresh.
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Pretty JSON with a final newline, as people read these files too.
pub fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Manifests are plain data; serialising them cannot fail.
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}
