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
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pult_e2e::student::{STUDENT, Service, StudentSession, school, wait_until};
use pult_e2e::{Xvfb, pultctl};

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
    // Each state seen is printed, so that a failure shows what stayed.
    let mut seen = String::new();
    let gone = wait_until(
        "bars, notification and tray item gone after the view",
        || {
            let (bars, shown, tray) = (
                session.bars(),
                session.notifications_shown(),
                session.tray_items(),
            );
            let now = format!("bars {bars:?}, notifications {shown}, tray {}", tray.trim());
            if now != seen {
                println!("after the view: {now}");
                seen = now;
            }
            bars.is_empty() && shown == 0 && !tray.contains("StatusNotifierItem")
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
    let made = session.dir().join("made-by-run-program");
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
