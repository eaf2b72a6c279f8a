//! The installed student side for tests: `pult-agent service` as root and a
//! real non-root test user's X session (Xvfb with two monitors, a D-Bus
//! session bus, dunst as the notification daemon, Debian's
//! status-notifier-watcher as the tray's watcher). Linux only; the tests
//! that use it run as root (CI does).

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{School, Xvfb, binary, free_address};

pub const STUDENT: &str = "pultstudent";

/// One student session at a time: the tests share the one test user, and
/// two sessions of one user side by side confuse what the notification
/// daemon shows (seen: the notification of a parallel test's session).
static ONE_SESSION: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The test user's session: X, D-Bus, notification daemon, tray watcher.
pub struct StudentSession {
    _one: std::sync::MutexGuard<'static, ()>,
    /// The session's X display (two monitors of 800x600 side by side).
    pub xvfb: Xvfb,
    bus: String,
    daemons: Vec<Child>,
    dir: tempfile::TempDir,
}

impl StudentSession {
    pub fn start() -> Self {
        let one = ONE_SESSION
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert_eq!(
            std::fs::metadata("/proc/self").unwrap().uid(),
            0,
            "this test starts the agent's service as root and a student session as a \
             non-root user: run it as root (CI does)"
        );
        if Command::new("id")
            .arg(STUDENT)
            .output()
            .unwrap()
            .status
            .success()
        {
        } else {
            let status = Command::new("useradd")
                .args(["--create-home", "--shell", "/bin/sh", STUDENT])
                .status()
                .unwrap();
            assert!(status.success(), "could not create the test user {STUDENT}");
        }
        end_students_processes();
        let dir = tempfile::Builder::new()
            .prefix("pult-session")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        // Two monitors side by side, as in a classroom with a projector.
        let xvfb = Xvfb::start(1600, 600);
        xvfb.run(
            "xrandr",
            &["--setmonitor", "left", "800/200x600/150+0+0", "screen"],
        );
        xvfb.run(
            "xrandr",
            &["--setmonitor", "right", "800/200x600/150+800+0", "none"],
        );
        let bus_path = dir.path().join("bus");
        let bus = format!("unix:path={}", bus_path.display());
        let mut daemons = vec![as_student(
            "dbus-daemon",
            &["--session", "--nofork", &format!("--address={bus}")],
            &[],
        )];
        wait_until("the session bus", || bus_path.exists());
        let env = [
            ("DISPLAY", xvfb.display.as_str()),
            ("DBUS_SESSION_BUS_ADDRESS", bus.as_str()),
            ("LANG", "de_DE.UTF-8"),
        ];
        daemons.push(as_student("dunst", &[], &env));
        daemons.push(as_student("status-notifier-watcher", &[], &env));
        let session = Self {
            _one: one,
            xvfb,
            bus,
            daemons,
            dir,
        };
        wait_until("dunst and the tray watcher on the bus", || {
            let names = session.gdbus(&[
                "call",
                "--dest",
                "org.freedesktop.DBus",
                "--object-path",
                "/org/freedesktop/DBus",
                "--method",
                "org.freedesktop.DBus.ListNames",
            ]);
            names.contains("org.freedesktop.Notifications")
                && names.contains("org.kde.StatusNotifierWatcher")
        });
        session
    }

    /// A directory of the session's that everyone may write to.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Runs gdbus as the student on the session bus; its output.
    pub fn gdbus(&self, args: &[&str]) -> String {
        let output = Command::new("runuser")
            .args(["-u", STUDENT, "--", "env"])
            .arg(format!("DBUS_SESSION_BUS_ADDRESS={}", self.bus))
            .arg("gdbus")
            .args(args)
            .args(if args.first() == Some(&"call") {
                &["--session"][..]
            } else {
                &[][..]
            })
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The tray items the watcher knows.
    pub fn tray_items(&self) -> String {
        self.gdbus(&[
            "call",
            "--dest",
            "org.kde.StatusNotifierWatcher",
            "--object-path",
            "/StatusNotifierWatcher",
            "--method",
            "org.freedesktop.DBus.Properties.Get",
            "org.kde.StatusNotifierWatcher",
            "RegisteredStatusNotifierItems",
        ])
    }

    /// The tooltip of the first tray item, as gdbus prints it.
    pub fn tray_tooltip(&self) -> String {
        let items = self.tray_items();
        let Some(item) = items.split('\'').nth(1) else {
            return String::new();
        };
        let (service, path) = match item.split_once('/') {
            Some((service, path)) => (service.to_owned(), format!("/{path}")),
            None => (item.to_owned(), "/StatusNotifierItem".to_owned()),
        };
        self.gdbus(&[
            "call",
            "--dest",
            &service,
            "--object-path",
            &path,
            "--method",
            "org.freedesktop.DBus.Properties.Get",
            "org.kde.StatusNotifierItem",
            "ToolTip",
        ])
    }

    /// What dunst has shown and closed (its history, as JSON).
    pub fn notification_history(&self) -> String {
        self.dunstctl(&["history"])
    }

    /// How many notifications dunst shows now.
    pub fn notifications_shown(&self) -> usize {
        self.dunstctl(&["count", "displayed"])
            .trim()
            .parse()
            .unwrap_or(0)
    }

    pub fn dunstctl(&self, args: &[&str]) -> String {
        let output = Command::new("runuser")
            .args(["-u", STUDENT, "--", "env"])
            .arg(format!("DBUS_SESSION_BUS_ADDRESS={}", self.bus))
            .arg("dunstctl")
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The notice bars on the screen, as (x, y, width, height).
    pub fn bars(&self) -> Vec<(i32, i32, u32, u32)> {
        self.xvfb.windows_named("pult-notice")
    }
}

impl Drop for StudentSession {
    fn drop(&mut self) {
        for daemon in &mut self.daemons {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
        end_students_processes();
    }
}

/// Ends every process of the test user: killing `runuser` leaves the
/// program it started running, and a leftover daemon of an earlier session
/// on a reused display number would be taken for this session's.
pub fn end_students_processes() {
    let _ = Command::new("pkill")
        .args(["-KILL", "-u", STUDENT])
        .status();
    for _ in 0..100 {
        let left = Command::new("pgrep").args(["-u", STUDENT]).output();
        if left.is_ok_and(|o| o.stdout.is_empty()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn as_student(program: &str, args: &[&str], env: &[(&str, &str)]) -> Child {
    Command::new("runuser")
        .args(["-u", STUDENT, "--", "env"])
        .args(env.iter().map(|(k, v)| format!("{k}={v}")))
        .arg(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// Waits up to 20 s for `done`; how long it took.
pub fn wait_until(what: &str, done: impl FnMut() -> bool) -> Duration {
    crate::wait_until(Duration::from_secs(20), what, done)
}

/// The service, as an installer sets it up: bundle and audit log owned by
/// root, a runtime directory for the helpers' socket.
pub struct Service {
    /// The service process.
    pub child: Child,
    /// Its standard output, line by line.
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The agent bundle it serves.
    pub bundle: std::path::PathBuf,
    /// Its audit log directory.
    pub audit: std::path::PathBuf,
}

impl Service {
    /// The service for the test user's session on the session's display.
    pub fn start(school: &School, session: &StudentSession) -> Self {
        Self::start_with(school, session, &[])
    }

    /// The service for the test user's session, with `extra` arguments.
    pub fn start_with(school: &School, session: &StudentSession, extra: &[&str]) -> Self {
        let mut args = vec![
            "--session-user",
            STUDENT,
            "--session-display",
            &session.xvfb.display,
        ];
        args.extend_from_slice(extra);
        let service = Self::spawn(school, &args, &[]);
        let start = Instant::now();
        while service.helper_pid().is_none() || service.line_starting("listening on ").is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the service did not start with a helper; it printed {:?} and {}",
                service.stdout.lock().unwrap(),
                std::fs::read_to_string(school.path("service.stderr")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        service
    }

    /// The service with `session` arguments (none: it follows logind) and
    /// `env`; it may still be starting.
    pub fn spawn(school: &School, session: &[&str], env: &[(&str, &str)]) -> Self {
        let bundle = school.agent_bundle("R101-PC01");
        std::fs::set_permissions(&bundle, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let audit = school.path("audit");
        let runtime = school.path("run");
        let mut child = Command::new(binary("pult-agent"))
            .args(["service", "--mdns", "off", "--bundle"])
            .arg(&bundle)
            .arg("--audit-dir")
            .arg(&audit)
            .arg("--runtime-dir")
            .arg(&runtime)
            // Restarts and shutdowns are written down: never this machine's.
            .arg("--power-record")
            .arg(school.path("power.txt"))
            .args(session)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(school.path("service.stderr")).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let collected = lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                collected.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            stdout: lines,
            bundle,
            audit,
        }
    }

    pub fn line_starting(&self, prefix: &str) -> Option<String> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
    }

    /// The newest helper's process id.
    pub fn helper_pid(&self) -> Option<u32> {
        self.line_starting("helper started: pid ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The student's terminal: an xterm on the left monitor that writes what is
/// typed into it to a file.
pub struct Typing {
    xterm: Child,
    file: PathBuf,
    display: String,
}

impl Typing {
    /// Starts it and gives it the keyboard focus.
    pub fn start(session: &StudentSession) -> Self {
        let file = session.dir().join("typed.txt");
        std::fs::write(&file, "").unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .unwrap();
        let command = format!("cat > '{}'", file.display());
        let xterm = as_student(
            "xterm",
            &[
                "-u8",
                "-T",
                "typing",
                "-geometry",
                "60x10+40+100",
                "-e",
                "sh",
                "-c",
                &command,
            ],
            &[("DISPLAY", &session.xvfb.display), ("LANG", "C.UTF-8")],
        );
        let typing = Self {
            xterm,
            file,
            display: session.xvfb.display.clone(),
        };
        wait_until("the student's xterm", || {
            !session.xvfb.windows_named("typing").is_empty()
        });
        typing.xdotool(&[
            "search",
            "--sync",
            "--name",
            "typing",
            "windowfocus",
            "--sync",
        ]);
        typing
    }

    /// Types `line` and Return, as the student at the keyboard.
    pub fn type_line(&self, line: &str) {
        self.xdotool(&["type", "--delay", "15", line]);
        self.xdotool(&["key", "Return"]);
    }

    /// What arrived in the terminal so far.
    pub fn typed(&self) -> String {
        std::fs::read_to_string(&self.file).unwrap()
    }

    /// Runs xdotool on the session's display.
    pub fn xdotool(&self, args: &[&str]) {
        let status = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.display)
            .status()
            .expect("xdotool is needed for this test; .ci/run installs it");
        assert!(status.success(), "xdotool {args:?}");
    }
}

impl Drop for Typing {
    fn drop(&mut self) {
        let _ = self.xterm.kill();
        let _ = self.xterm.wait();
    }
}

/// A school with one device, R101-PC01, and teacher mueller.
pub fn school() -> School {
    let school = School::with_teacher("Gymnasium Am Park");
    let address = free_address();
    school.import(&format!("name,room,ip\nR101-PC01,101,{address}\n"));
    school
}
