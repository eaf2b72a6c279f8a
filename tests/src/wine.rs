//! The Windows agent under Wine: a Wine prefix of its own on an Xvfb
//! display, the MSI built by `packaging/windows/build-msi.sh`, and ways to
//! look at what Windows would show (service state, registry, files).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The Rust target the Windows agent is built for.
pub const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";

/// The project's root directory (the workspace).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds `product` ("agent" or "app") for Windows (debug) and its MSI at
/// `out`, with the version `version` (the workspace's if `None`).
pub fn build_msi(product: &str, out: &Path, version: Option<&str>) {
    let mut command = Command::new(project_root().join("packaging/windows/build-msi.sh"));
    command.args([product, "debug"]).arg(out);
    command.args(version);
    let output = command.output().expect(
        "packaging/windows/build-msi.sh needs bash, cargo, mingw-w64 and msitools; .ci/run installs them",
    );
    assert!(
        output.status.success(),
        "building the MSI failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The rows of table `table` in `msi`, as columns (msitools' `msiinfo
/// export`; the three header lines left out).
pub fn msi_table(msi: &Path, table: &str) -> Vec<Vec<String>> {
    let output = Command::new("msiinfo")
        .args(["export"])
        .arg(msi)
        .arg(table)
        .output()
        .expect("msiinfo is needed; .ci/run installs msitools");
    assert!(output.status.success(), "msiinfo export {table} failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .skip(3)
        .map(|line| line.split('\t').map(|c| c.trim_end().to_owned()).collect())
        .collect()
}

/// A Wine prefix in a temporary directory with its own wineserver, kept
/// running (`wineserver -p`) so that services outlive the command that
/// started them; killed and removed when dropped.
pub struct WinePrefix {
    dir: tempfile::TempDir,
    display: String,
}

impl WinePrefix {
    /// A new prefix for X display `display`, made by `scripts/wine-prefix.sh`.
    pub fn new(display: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let prefix = Self {
            dir,
            display: display.to_owned(),
        };
        let status = prefix
            .command(&project_root().join("scripts/wine-prefix.sh"))
            .arg(prefix.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("scripts/wine-prefix.sh needs wine and mingw-w64; .ci/run installs them");
        assert!(status.success(), "scripts/wine-prefix.sh failed");
        let status = prefix
            .command(Path::new("wineserver"))
            .arg("-p")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "wineserver -p failed");
        prefix
    }

    /// `program` with this prefix's environment.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env("WINEPREFIX", self.dir.path())
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml,winemenubuilder.exe=")
            .env("DISPLAY", &self.display);
        command
    }

    /// Runs `wine ARGS` and returns what it did. Its output goes through
    /// files, not pipes: Wine's own processes (services.exe and the like,
    /// started on first use) inherit them and would keep pipes open.
    pub fn wine(&self, args: &[&str]) -> Output {
        let stdout = tempfile::tempfile().unwrap();
        let stderr = tempfile::tempfile().unwrap();
        let status = self
            .command(Path::new("wine"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout.try_clone().unwrap())
            .stderr(stderr.try_clone().unwrap())
            .status()
            .expect("wine is needed; .ci/run installs it");
        let read = |mut file: std::fs::File| {
            use std::io::{Read, Seek};
            let mut text = Vec::new();
            file.rewind().unwrap();
            file.read_to_end(&mut text).unwrap();
            text
        };
        Output {
            status,
            stdout: read(stdout),
            stderr: read(stderr),
        }
    }

    /// Runs `wine msiexec ARGS /l*v LOG` and returns what it did, and what
    /// failed and how Windows Installer's log ends when it failed: when msiexec fails
    /// before the custom actions run, only the log says why.
    pub fn msiexec(&self, args: &[&str]) -> (Output, String) {
        let log = tempfile::NamedTempFile::new_in(self.dir.path()).unwrap();
        let log_arg = windows_path(log.path());
        let mut all = vec!["msiexec"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["/l*v", &log_arg]);
        let output = self.wine(&all);
        if output.status.success() {
            return (output, String::new());
        }
        // Wine writes the log in UTF-16 or in the ANSI code page.
        let bytes = std::fs::read(log.path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).replace('\0', "");
        let lines: Vec<&str> = text.lines().collect();
        // What failed, and how the log ends.
        let failed = lines
            .iter()
            .filter(|l| l.contains("Return value 3") || l.contains("rror") || l.contains("Note:"));
        let tail = lines[lines.len().saturating_sub(10)..].iter();
        let said: Vec<&str> = failed.chain(tail).copied().collect();
        (
            output,
            format!("\n--- from msiexec's log:\n{}", said.join("\n")),
        )
    }

    /// Installs `msi` silently, enrolling at `registry` with `token` as
    /// `name` (the properties REGISTRY, TOKEN and NAME); see [`Self::msiexec`].
    pub fn msiexec_enrolling(
        &self,
        msi: &Path,
        registry: &str,
        token: &str,
        name: &str,
    ) -> (Output, String) {
        self.msiexec(&[
            "/i",
            &windows_path(msi),
            "/qn",
            &format!("REGISTRY={registry}"),
            &format!("TOKEN={token}"),
            &format!("NAME={name}"),
        ])
    }

    /// Starts `wine ARGS` without waiting; its standard error goes to `stderr`.
    pub fn spawn(&self, args: &[&str], stderr: &Path) -> std::process::Child {
        self.command(Path::new("wine"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(stderr).unwrap())
            .spawn()
            .expect("wine is needed; .ci/run installs it")
    }

    /// Where Windows path `path` (on drive C:) is on this machine.
    pub fn host_path(&self, path: &str) -> PathBuf {
        let rest = path
            .strip_prefix("C:\\")
            .unwrap_or_else(|| panic!("{path} is not on drive C:"));
        rest.split('\\')
            .fold(self.dir.path().join("drive_c"), |at, part| at.join(part))
    }

    /// The state `sc query` reports for service `name` ("RUNNING",
    /// "STOPPED", ...), or `None` if there is no such service.
    pub fn service_state(&self, name: &str) -> Option<String> {
        let output = self.wine(&["sc", "query", name]);
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|line| {
                // "        STATE              : 4  RUNNING"
                let (key, value) = line.split_once(':')?;
                (key.trim() == "STATE").then(|| value.split_whitespace().nth(1).map(str::to_owned))
            })
            .flatten()
    }

    /// Waits (up to `within`) until service `name` is in `state`; panics
    /// naming the state it was in.
    pub fn wait_for_service(&self, name: &str, state: Option<&str>, within: Duration) {
        let start = Instant::now();
        loop {
            let now = self.service_state(name);
            if now.as_deref() == state {
                return;
            }
            assert!(
                start.elapsed() < within,
                "service {name} is {now:?}, not {state:?} after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// A registry value as `reg query` prints it, or `None`.
    pub fn registry_value(&self, key: &str, value: &str) -> Option<String> {
        let output = self.wine(&["reg", "query", key, "/v", value]);
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|line| {
                let line = line.trim_start();
                let rest = line.strip_prefix(value)?;
                let rest = rest.trim_start().strip_prefix("REG_")?;
                let (_, data) = rest.split_once(char::is_whitespace)?;
                Some(data.trim().to_owned())
            })
    }

    /// The Windows processes running in this prefix whose command line
    /// contains `text` (they are Linux processes too).
    pub fn processes(&self, text: &str) -> Vec<String> {
        let output = Command::new("pgrep").args(["-af", text]).output().unwrap();
        let prefix = self.dir.path().to_string_lossy().into_owned();
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| {
                let pid = line.split_whitespace().next().unwrap_or("");
                std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                    environ
                        .split(|&b| b == 0)
                        .any(|entry| entry == format!("WINEPREFIX={prefix}").as_bytes())
                })
            })
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for WinePrefix {
    fn drop(&mut self) {
        let _ = self
            .command(Path::new("wineserver"))
            .arg("-k")
            .stderr(Stdio::null())
            .status();
        let _ = self.command(Path::new("wineserver")).arg("-w").status();
    }
}

/// `path` on this machine as Wine's programs see it (drive Z: is /).
pub fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}
