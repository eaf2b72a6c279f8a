//! Files the console writes for the teacher: whole or not at all.

use std::path::Path;

use pult_protocol::files::FilePath;

/// A name from elsewhere (a room, a device, a teacher, a user an agent
/// reports) as one safe file or folder name: letters, digits, space, `-`,
/// `_`, `.`, anything else `_`; never hidden, at most 100 characters and
/// 200 bytes, and never a name [`FilePath`] refuses (`CON` becomes `_CON`).
pub fn safe_name(text: &str) -> String {
    let mut cleaned = String::new();
    for c in text.chars().take(100) {
        let c = if c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.') {
            c
        } else {
            '_'
        };
        if cleaned.len() + c.len_utf8() > 200 {
            break;
        }
        cleaned.push(c);
    }
    let trimmed = cleaned
        .trim()
        .trim_start_matches('.')
        .trim_end_matches(['.', ' ']);
    if trimmed.is_empty() {
        "_".to_owned()
    } else if FilePath::parse(trimmed).is_err() {
        format!("_{trimmed}")
    } else {
        trimmed.to_owned()
    }
}

/// Writes `bytes` to `path` under a hidden temporary name beside it, then
/// renames it into place, so a reader never sees half a file; creates the
/// folder first.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_via_partial(path, bytes, false)
}

/// Like [`write_atomically`], for a secret (a key, a token): readable by its
/// owner only from the moment it exists.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_via_partial(path, bytes, true)
}

fn write_via_partial(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    use std::io::Write;
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let partial = path.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let _ = std::fs::remove_file(&partial);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let written = options
        .open(&partial)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&partial, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_a_file_whole_and_leaves_no_partial_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/folder/shot.png");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["shot.png"]);
        assert!(write_atomically(Path::new("/"), b"x").is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let key = dir.path().join("room.key");
            write_private(&key, b"secret").unwrap();
            let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn r6_a_name_from_elsewhere_becomes_one_safe_name() {
        assert_eq!(safe_name("a/b\\c"), "a_b_c");
        assert_eq!(safe_name(".."), "_");
        assert_eq!(safe_name("../../etc"), "_.._etc");
        assert_eq!(safe_name("R101-PC01-schüler"), "R101-PC01-schüler");
        assert_eq!(safe_name("CON"), "_CON");
        assert_eq!(safe_name("nul.txt"), "_nul.txt");
        assert_eq!(safe_name("a:b\u{7}. "), "a_b_");
        assert_eq!(safe_name(&"x".repeat(300)).len(), 100);
        // Three bytes a character: 66 of them, not 100 (300 bytes).
        let long = safe_name(&"語".repeat(100));
        assert_eq!(long.len(), 198);
        assert!(FilePath::parse(&long).is_ok());
        assert_eq!(safe_name(""), "_");
    }
}
