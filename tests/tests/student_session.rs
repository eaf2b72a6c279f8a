//! The installed student side: `pult-agent service` as root, a session
//! helper in a real non-root test user's X session (Xvfb with two monitors,
//! a D-Bus session bus, dunst as the notification daemon, Debian's
//! status-notifier-watcher as the tray's watcher).
//!
//! R1: the student sees the notice — bar on every monitor, notification,
//! tray item — while the screen is viewed, and for 10 s after a screenshot;
//! no notice, no view; the helper comes back when killed; the student can
//! neither read the key, nor write the audit log, nor stop the helper; what
//! the teacher starts runs as the student (R4); the service follows
//! logind's sessions through log-on, user switching and log-off (R15).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pult_e2e::{School, Xvfb, binary, free_address, pultctl};

const STUDENT: &str = "pultstudent";

/// One student session at a time: the tests share the one test user, and
/// two sessions of one user side by side confuse what the notification
/// daemon shows (seen: the notification of a parallel test's session).
static ONE_SESSION: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The test user's session: X, D-Bus, notification daemon, tray watcher.
struct StudentSession {
    _one: std::sync::MutexGuard<'static, ()>,
    xvfb: Xvfb,
    bus: String,
    daemons: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl StudentSession {
    fn start() -> Self {
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
            _dir: dir,
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

    /// Runs gdbus as the student on the session bus; its output.
    fn gdbus(&self, args: &[&str]) -> String {
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
    fn tray_items(&self) -> String {
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
    fn tray_tooltip(&self) -> String {
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
    fn notification_history(&self) -> String {
        self.dunstctl(&["history"])
    }

    /// How many notifications dunst shows now.
    fn notifications_shown(&self) -> usize {
        self.dunstctl(&["count", "displayed"])
            .trim()
            .parse()
            .unwrap_or(0)
    }

    fn dunstctl(&self, args: &[&str]) -> String {
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
    fn bars(&self) -> Vec<(i32, i32, u32, u32)> {
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
fn end_students_processes() {
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

fn as_student(program: &str, args: &[&str], env: &[(&str, &str)]) -> Child {
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

fn wait_until(what: &str, done: impl FnMut() -> bool) -> Duration {
    pult_e2e::wait_until(Duration::from_secs(20), what, done)
}

/// The service, as an installer sets it up: bundle and audit log owned by
/// root, a runtime directory for the helpers' socket.
struct Service {
    child: Child,
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    bundle: std::path::PathBuf,
    audit: std::path::PathBuf,
}

impl Service {
    /// The service for the test user's session on the session's display.
    fn start(school: &School, session: &StudentSession) -> Self {
        let service = Self::spawn(
            school,
            &[
                "--session-user",
                STUDENT,
                "--session-display",
                &session.xvfb.display,
            ],
            &[],
        );
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
    fn spawn(school: &School, session: &[&str], env: &[(&str, &str)]) -> Self {
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

    fn line_starting(&self, prefix: &str) -> Option<String> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
    }

    /// The newest helper's process id.
    fn helper_pid(&self) -> Option<u32> {
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

fn school() -> School {
    let school = School::with_teacher("Gymnasium Am Park");
    let address = free_address();
    school.import(&format!("name,room,ip\nR101-PC01,101,{address}\n"));
    school
}

#[test]
fn r1_the_student_sees_the_notice_while_watched_and_it_goes_when_the_view_ends() {
    let session = StudentSession::start();
    let school = school();
    let service = Service::start(&school, &session);
    let cert = school.room_cert("101", "mueller", "1h");
    assert!(session.bars().is_empty(), "no notice before anyone looks");

    let watch_cert = cert.clone();
    let watching = std::thread::spawn(move || {
        pultctl(
            &watch_cert,
            &[
                "watch",
                "R101-PC01",
                "--size",
                "320x180",
                "--fps",
                "5",
                "--seconds",
                "4",
            ],
        )
    });
    let shown_after = wait_until("the notice bar on both monitors", || {
        session.bars().len() == 2
    });
    println!(
        "notice bars shown {:.0} ms after pultctl watch started",
        shown_after.as_secs_f64() * 1000.0
    );
    let bars = session.bars();
    assert!(
        bars.iter()
            .any(|&(x, y, w, _)| y == 0 && x >= 0 && x + i32::try_from(w).unwrap() <= 800),
        "a bar on the left monitor: {bars:?}"
    );
    assert!(
        bars.iter()
            .any(|&(x, y, w, _)| y == 0 && x >= 800 && x + i32::try_from(w).unwrap() <= 1600),
        "a bar on the right monitor: {bars:?}"
    );
    let text = "Ihr Bildschirm wird angesehen von mueller (Raum 101)";
    wait_until("the desktop notification", || {
        session.notifications_shown() == 1
    });
    wait_until("the tray item with the notice as tooltip", || {
        session.tray_tooltip().contains(text)
    });

    let watched = watching.join().unwrap();
    assert!(watched.success, "pultctl watch: {}", watched.stderr);
    let gone = wait_until(
        "bars, notification and tray item gone after the view",
        || {
            session.bars().is_empty()
                && session.notifications_shown() == 0
                && !session.tray_items().contains("StatusNotifierItem")
        },
    );
    println!(
        "notice gone {:.0} ms after the stream ended",
        gone.as_secs_f64() * 1000.0
    );
    assert!(
        session.notification_history().contains(text),
        "the notification said who watched: {}",
        session.notification_history()
    );

    // After a screenshot the notice stays at least 10 s (R1, R2).
    // The hold starts when the agent takes the picture, after this instant
    // (pultctl returns later still, after saving it).
    let taken = Instant::now();
    let shot = pultctl(
        &cert,
        &[
            "screenshot",
            "R101-PC01",
            "--out",
            school.path("shot.png").to_str().unwrap(),
        ],
    );
    assert!(shot.success, "pultctl screenshot: {}", shot.stderr);
    assert_eq!(
        session.bars().len(),
        2,
        "the notice is there after the screenshot"
    );
    std::thread::sleep(Duration::from_secs(9).saturating_sub(taken.elapsed()));
    assert_eq!(
        session.bars().len(),
        2,
        "the notice is still there 9 s after the screenshot"
    );
    wait_until("the notice gone after the screenshot's 10 s", || {
        session.bars().is_empty()
    });
    assert!(
        taken.elapsed() >= Duration::from_secs(10),
        "the notice stayed 10 s"
    );
    drop(service);
}

#[test]
fn a_killed_helper_comes_back_and_meanwhile_the_screen_is_not_served() {
    let session = StudentSession::start();
    let school = school();
    let service = Service::start(&school, &session);
    let cert = school.room_cert("101", "mueller", "1h");

    // The student cannot stop the helper: it is root's.
    let helper = service.helper_pid().unwrap();
    let kill = Command::new("runuser")
        .args(["-u", STUDENT, "--", "kill", "-9", &helper.to_string()])
        .output()
        .unwrap();
    assert!(!kill.status.success(), "the student could kill the helper");

    // A helper that hangs cannot show the notice: no notice, no view (R1).
    Command::new("kill")
        .args(["-STOP", &helper.to_string()])
        .status()
        .unwrap();
    let refused = pultctl(
        &cert,
        &[
            "screenshot",
            "R101-PC01",
            "--out",
            school.path("no.png").to_str().unwrap(),
        ],
    );
    Command::new("kill")
        .args(["-CONT", &helper.to_string()])
        .status()
        .unwrap();
    assert!(!refused.success, "a screenshot without a notice");
    assert!(
        refused.stderr.contains("cannot be notified"),
        "pultctl says why: {}",
        refused.stderr
    );
    assert!(!school.path("no.png").exists());

    // Killed by root (a crash): a new helper within moments.
    Command::new("kill")
        .args(["-9", &helper.to_string()])
        .status()
        .unwrap();
    let back = wait_until("a new helper", || {
        service.helper_pid().is_some_and(|pid| pid != helper)
    });
    println!(
        "helper restarted {:.0} ms after it was killed",
        back.as_secs_f64() * 1000.0
    );
    wait_until("the screen served again", || {
        pultctl(
            &cert,
            &[
                "screenshot",
                "R101-PC01",
                "--out",
                school.path("yes.png").to_str().unwrap(),
            ],
        )
        .success
    });

    // The student can read neither the key nor write the audit log.
    let key = service.bundle.join("device.key");
    let read = Command::new("runuser")
        .args(["-u", STUDENT, "--", "cat"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(!read.status.success(), "the student read the device key");
    let write = Command::new("runuser")
        .args(["-u", STUDENT, "--", "touch"])
        .arg(service.audit.join("forged.jsonl"))
        .output()
        .unwrap();
    assert!(
        !write.status.success(),
        "the student wrote into the audit directory"
    );
    let mode = std::fs::metadata(&service.audit).unwrap().mode() & 0o777;
    assert_eq!(
        mode & 0o077,
        0,
        "the audit directory is the service's alone: {mode:o}"
    );
}

#[test]
fn r4_programs_the_teacher_starts_run_as_the_student_never_as_root() {
    let session = StudentSession::start();
    let school = school();
    let _service = Service::start(&school, &session);
    let cert = school.room_cert("101", "mueller", "1h");
    let made = session._dir.path().join("made-by-run-program");
    let ran = pultctl(
        &cert,
        &[
            "run",
            "touch",
            "--on",
            "R101-PC01",
            "--",
            made.to_str().unwrap(),
        ],
    );
    assert!(ran.success, "pultctl run: {} {}", ran.stdout, ran.stderr);
    wait_until("the program's file", || made.exists());
    let owner = std::fs::metadata(&made).unwrap().uid();
    let student_uid: u32 = String::from_utf8(
        Command::new("id")
            .args(["-u", STUDENT])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    assert_eq!(owner, student_uid, "the program ran as the student");
    assert_ne!(owner, 0);
}

/// A stand-in for systemd-logind on a private bus. logind itself runs only
/// under systemd as PID 1, which neither this machine nor CI has; the
/// stand-in answers what the service asks of logind (ListSessions, a
/// session's Active, Remote, Class, Type and Display) and sends the signals
/// logind sends on log-on, log-off and user switching (SessionNew,
/// SessionRemoved, PropertiesChanged of Active), so the service's own
/// following code runs against a real D-Bus daemon.
mod logind {
    use zbus::object_server::SignalEmitter;
    use zbus::zvariant::{ObjectPath, OwnedObjectPath};

    const MANAGER: &str = "/org/freedesktop/login1";

    fn session_path(id: &str) -> OwnedObjectPath {
        OwnedObjectPath::try_from(format!("{MANAGER}/session/_3{id}")).unwrap()
    }

    /// One listed session: id, uid, user, seat, object path.
    type Listed = (String, u32, String, String, OwnedObjectPath);

    struct Manager {
        sessions: Vec<Listed>,
    }

    #[zbus::interface(name = "org.freedesktop.login1.Manager")]
    impl Manager {
        fn list_sessions(&self) -> Vec<Listed> {
            self.sessions.clone()
        }

        #[zbus(signal)]
        async fn session_new(
            emitter: &SignalEmitter<'_>,
            id: &str,
            path: ObjectPath<'_>,
        ) -> zbus::Result<()>;

        #[zbus(signal)]
        async fn session_removed(
            emitter: &SignalEmitter<'_>,
            id: &str,
            path: ObjectPath<'_>,
        ) -> zbus::Result<()>;
    }

    struct Session {
        active: bool,
        display: String,
    }

    #[zbus::interface(name = "org.freedesktop.login1.Session")]
    impl Session {
        #[zbus(property)]
        fn active(&self) -> bool {
            self.active
        }

        #[zbus(property)]
        fn remote(&self) -> bool {
            false
        }

        #[zbus(property)]
        fn class(&self) -> &str {
            "user"
        }

        #[zbus(property, name = "Type")]
        fn kind(&self) -> &str {
            "x11"
        }

        #[zbus(property)]
        fn display(&self) -> String {
            self.display.clone()
        }
    }

    /// logind's part of the bus, changed by the test.
    pub struct Logind {
        runtime: tokio::runtime::Runtime,
        bus: zbus::Connection,
    }

    impl Logind {
        /// Takes the name org.freedesktop.login1 on the bus at `address`,
        /// with nobody logged on.
        pub fn start(address: &str) -> Self {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let bus = runtime.block_on(async {
                zbus::connection::Builder::address(address)
                    .unwrap()
                    .name("org.freedesktop.login1")
                    .unwrap()
                    .serve_at(
                        MANAGER,
                        Manager {
                            sessions: Vec::new(),
                        },
                    )
                    .unwrap()
                    .build()
                    .await
                    .unwrap()
            });
            Self { runtime, bus }
        }

        /// A user logs on to `display`: the session is listed, and
        /// SessionNew goes out.
        pub fn log_on(&self, id: &str, uid: u32, user: &str, display: &str, active: bool) {
            let path = session_path(id);
            self.runtime.block_on(async {
                let server = self.bus.object_server();
                server
                    .at(
                        &path,
                        Session {
                            active,
                            display: display.to_owned(),
                        },
                    )
                    .await
                    .unwrap();
                let manager = server.interface::<_, Manager>(MANAGER).await.unwrap();
                manager.get_mut().await.sessions.push((
                    id.to_owned(),
                    uid,
                    user.to_owned(),
                    "seat0".to_owned(),
                    path.clone(),
                ));
                Manager::session_new(manager.signal_emitter(), id, path.as_ref())
                    .await
                    .unwrap();
            });
        }

        /// The seat switches to or away from session `id`: its Active
        /// property changes, and PropertiesChanged goes out.
        pub fn set_active(&self, id: &str, active: bool) {
            let path = session_path(id);
            self.runtime.block_on(async {
                let session = self
                    .bus
                    .object_server()
                    .interface::<_, Session>(&path)
                    .await
                    .unwrap();
                session.get_mut().await.active = active;
                session
                    .get()
                    .await
                    .active_changed(session.signal_emitter())
                    .await
                    .unwrap();
            });
        }

        /// The user logs off: the session goes, and SessionRemoved goes out.
        pub fn log_off(&self, id: &str) {
            let path = session_path(id);
            self.runtime.block_on(async {
                let server = self.bus.object_server();
                server.remove::<Session, _>(&path).await.unwrap();
                let manager = server.interface::<_, Manager>(MANAGER).await.unwrap();
                manager
                    .get_mut()
                    .await
                    .sessions
                    .retain(|listed| listed.0 != id);
                Manager::session_removed(manager.signal_emitter(), id, path.as_ref())
                    .await
                    .unwrap();
            });
        }
    }
}

/// A second test user, for user switching.
const SECOND_STUDENT: &str = "pultstudent2";

fn uid_of(user: &str) -> u32 {
    let output = Command::new("id").args(["-u", user]).output().unwrap();
    if !output.status.success() {
        let status = Command::new("useradd")
            .args(["--create-home", "--shell", "/bin/sh", user])
            .status()
            .unwrap();
        assert!(status.success(), "could not create the test user {user}");
        return uid_of(user);
    }
    String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn the_service_follows_logind_through_log_on_user_switching_and_log_off() {
    let session = StudentSession::start();
    let school = school();
    let cert = school.room_cert("101", "mueller", "1h");
    let second_uid = uid_of(SECOND_STUDENT);
    let second_display = Xvfb::start(800, 600);

    // A private bus in the role of the system bus, logind's stand-in on it.
    let bus_path = school.path("system_bus");
    let address = format!("unix:path={}", bus_path.display());
    let mut system_bus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", &format!("--address={address}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the private system bus", || bus_path.exists());
    let logind = logind::Logind::start(&address);
    let service = Service::spawn(&school, &[], &[("DBUS_SYSTEM_BUS_ADDRESS", &address)]);
    wait_until("the service listening", || {
        service.line_starting("listening on ").is_some()
    });
    let status = || pultctl(&cert, &["status"]).stdout;
    let screenshot = || {
        pultctl(
            &cert,
            &[
                "screenshot",
                "R101-PC01",
                "--out",
                school.path("shot.png").to_str().unwrap(),
            ],
        )
    };

    // Nobody logged on: no helper, no user (R15), no view without a notice (R1).
    assert_eq!(service.helper_pid(), None);
    assert!(status().contains("online, user (none)"), "{}", status());
    let refused = screenshot();
    assert!(
        !refused.success && refused.stderr.contains("cannot be notified"),
        "{}",
        refused.stderr
    );

    // The student logs on: a helper in their session, their name in the status.
    let student_uid = uid_of(STUDENT);
    logind.log_on("1", student_uid, STUDENT, &session.xvfb.display, true);
    let took = wait_until("a helper in the student's session", || {
        service
            .line_starting("helper started: pid ")
            .is_some_and(|line| {
                line.ends_with(&format!("for {STUDENT} on {}", session.xvfb.display))
            })
    });
    println!("log-on to helper: {:.0} ms", took.as_secs_f64() * 1000.0);
    let first_helper = service.helper_pid().unwrap();
    wait_until("the student named in the status", || {
        status().contains(&format!("online, user {STUDENT}"))
    });
    wait_until("a screenshot with the notice shown", || {
        screenshot().success
    });

    // User switching: a second user's session becomes the seat's active one.
    logind.log_on(
        "2",
        second_uid,
        SECOND_STUDENT,
        &second_display.display,
        false,
    );
    logind.set_active("1", false);
    logind.set_active("2", true);
    let took = wait_until("a helper in the second user's session", || {
        service
            .line_starting("helper started: pid ")
            .is_some_and(|line| {
                line.ends_with(&format!(
                    "for {SECOND_STUDENT} on {}",
                    second_display.display
                ))
            })
    });
    println!(
        "user switch to helper: {:.0} ms",
        took.as_secs_f64() * 1000.0
    );
    wait_until("the first session's helper ended", || {
        !process_alive(first_helper)
    });
    wait_until("the second user named in the status", || {
        status().contains(&format!("online, user {SECOND_STUDENT}"))
    });
    let second_helper = service.helper_pid().unwrap();
    assert_ne!(second_helper, first_helper);

    // Both log off: no helper, no user, and the screen is not served.
    logind.log_off("2");
    logind.log_off("1");
    wait_until("the helper ended at log-off", || {
        !process_alive(second_helper)
    });
    wait_until("nobody named in the status", || {
        status().contains("online, user (none)")
    });
    let refused = screenshot();
    assert!(
        !refused.success && refused.stderr.contains("cannot be notified"),
        "{}",
        refused.stderr
    );
    drop(service);
    let _ = Command::new("pkill")
        .args(["-KILL", "-u", SECOND_STUDENT])
        .status();
    let _ = system_bus.kill();
    let _ = system_bus.wait();
}
