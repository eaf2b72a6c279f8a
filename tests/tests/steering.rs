//! Steering the student computer, on the installed student side (service as
//! root, helper in a real non-root student's X session with two monitors):
//! message windows, the lock screen (R20) and the notice that goes with it
//! (R1), each audited.
//!
//! The student is played by `xdotool`: it types into the student's xterm
//! through the X server's XTEST extension, as a real keyboard would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use pult_e2e::student::{Service, StudentSession, as_student, school, wait_until};
use pult_e2e::{audit_entries, binary, pultctl};
use pult_screen::{Frame, decode_png};

/// The student's terminal: an xterm on the left monitor that writes what is
/// typed into it to a file.
struct Typing {
    xterm: Child,
    file: PathBuf,
    display: String,
}

impl Typing {
    fn start(session: &StudentSession) -> Self {
        let file = session.dir().join("typed.txt");
        std::fs::write(&file, "").unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .unwrap();
        let command = format!("cat > '{}'", file.display());
        let xterm = as_student(
            "xterm",
            &[
                "-T",
                "typing",
                "-geometry",
                "60x10+40+100",
                "-e",
                "sh",
                "-c",
                &command,
            ],
            &[("DISPLAY", &session.xvfb.display)],
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
    fn type_line(&self, line: &str) {
        self.xdotool(&["type", "--delay", "15", line]);
        self.xdotool(&["key", "Return"]);
    }

    fn typed(&self) -> String {
        std::fs::read_to_string(&self.file).unwrap()
    }

    fn xdotool(&self, args: &[&str]) {
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

/// What the teacher sees: a screenshot of R101-PC01, kept in
/// target/steering/NAME for people to look at.
fn teachers_view(cert: &Path, name: &str) -> Frame {
    let dir = binary("pultctl")
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("steering");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(name);
    let ctl = pultctl(
        cert,
        &["screenshot", "R101-PC01", "--out", out.to_str().unwrap()],
    );
    assert!(ctl.success, "{}", ctl.stderr);
    decode_png(&std::fs::read(&out).unwrap()).unwrap()
}

fn audit_of(audit: &Path, action: &str) -> Vec<serde_json::Value> {
    audit_entries(audit)
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

#[test]
fn a_message_window_shows_the_teachers_words_until_the_student_closes_it() {
    let session = StudentSession::start();
    let school = school();
    let service = Service::start(&school, &session);
    let cert = school.room_cert("101", "mueller", "1h");

    let ctl = pultctl(
        &cert,
        &[
            "message",
            "Bitte schlagt das Heft auf: Seite 12, Aufgabe 3 (äöüß €).",
            "R101-PC01",
            "--title",
            "Hausaufgabe",
        ],
    );
    assert!(ctl.success, "{}", ctl.stderr);
    assert!(
        ctl.stdout.contains("R101-PC01: message shown"),
        "{}",
        ctl.stdout
    );
    // Shown means on the screen when pultctl returns: no waiting here.
    let windows = session.xvfb.windows_named("Hausaufgabe");
    assert_eq!(windows.len(), 1, "one message window");
    let (x, _, width, _) = windows[0];
    assert!(
        x >= 0 && x + i32::try_from(width).unwrap() <= 800,
        "in the middle of the first monitor: {windows:?}"
    );
    // The teacher sees it too: white among the test desktop's black.
    let view = teachers_view(&cert, "message.png");
    let (x, y, _, _) = windows[0];
    let inside = view
        .pixel(u32::try_from(x).unwrap() + 5, u32::try_from(y).unwrap() + 5)
        .unwrap();
    assert_eq!(inside, [255, 255, 255, 255], "the message window's white");
    let entry = &audit_of(&service.audit, "message")[0];
    assert_eq!(entry["result"], "ok");
    assert_eq!(entry["user"], "mueller");
    assert!(
        entry["detail"]
            .as_str()
            .unwrap()
            .starts_with("Hausaufgabe: Bitte schlagt"),
        "{entry}"
    );

    // Without a title the window is named after its sender; the student
    // closes it with Escape.
    let ctl = pultctl(&cert, &["message", "Pause!"]);
    assert!(ctl.success, "{}", ctl.stderr);
    let from = "Nachricht von mueller (Raum 101)";
    assert_eq!(session.xvfb.windows_named(from).len(), 1);
    // xdotool's --name is a regular expression; the key goes through XTEST,
    // as from the keyboard, to the window with the focus.
    for args in [
        &[
            "search",
            "--name",
            r"^Nachricht von mueller \(Raum 101\)$",
            "windowfocus",
            "--sync",
        ][..],
        &["key", "Escape"],
    ] {
        let xdotool = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &session.xvfb.display)
            .output()
            .unwrap();
        assert!(
            xdotool.status.success(),
            "xdotool {args:?}: {}",
            String::from_utf8_lossy(&xdotool.stderr)
        );
    }
    wait_until("the message closed by the student", || {
        session.xvfb.windows_named(from).is_empty()
    });
    assert_eq!(
        session.xvfb.windows_named("Hausaufgabe").len(),
        1,
        "the other message stays until it is closed"
    );

    // Refused before anything is shown: empty, too long, control characters.
    for (text, says) in [
        (" ", "the message is empty"),
        (&"x".repeat(2001) as &str, "at most 2000"),
        ("\u{1b}[2J", "control character U+001B"),
    ] {
        let ctl = pultctl(&cert, &["message", text]);
        assert!(!ctl.success);
        assert!(ctl.stderr.contains(says), "{}", ctl.stderr);
    }
}

#[test]
fn r20_the_lock_covers_every_monitor_blocks_typing_and_outlives_console_and_helper() {
    let session = StudentSession::start();
    let school = school();
    let service = Service::start(&school, &session);
    let cert = school.room_cert("101", "mueller", "1h");
    let typing = Typing::start(&session);
    typing.type_line("vorher");
    wait_until("the student's typing in the file", || {
        typing.typed() == "vorher\n"
    });

    let ctl = pultctl(
        &cert,
        &["lock", "R101-PC01", "--message", "Augen nach vorn"],
    );
    assert!(ctl.success, "{}", ctl.stderr);
    assert!(ctl.stdout.contains("R101-PC01: locked"), "{}", ctl.stdout);
    // Locked means locked when pultctl returns.
    let mut locks = session.xvfb.windows_named("pult-lock");
    locks.sort_unstable();
    assert_eq!(
        locks,
        vec![(0, 0, 800, 600), (800, 0, 800, 600)],
        "a lock window over each monitor"
    );
    wait_until("the notice saying who locked the screen", || {
        session.bars().len() == 2
            && session
                .tray_tooltip()
                .contains("Ihr Bildschirm ist gesperrt von mueller (Raum 101)")
    });
    // The teacher's view shows the lock screen on both monitors, the
    // notice bar above it.
    let view = teachers_view(&cert, "locked.png");
    for x in [10, 790, 810, 1590] {
        assert_eq!(
            view.pixel(x, 590).unwrap(),
            [0x19, 0x22, 0x33, 255],
            "x = {x}"
        );
    }
    let status = pultctl(&cert, &["status", "--seconds", "2"]);
    assert!(
        status.stdout.contains("locked by mueller"),
        "{}",
        status.stdout
    );

    typing.type_line("gesperrt");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        typing.typed(),
        "vorher\n",
        "nothing typed while locked arrives"
    );

    // The helper dies (the student's session ends and begins again): the
    // new helper is locked too.
    let helper = service.helper_pid().unwrap();
    let _ = Command::new("kill")
        .args(["-KILL", &helper.to_string()])
        .status();
    wait_until("a new helper", || {
        service.helper_pid().is_some_and(|pid| pid != helper)
    });
    wait_until("the lock windows back with the new helper", || {
        session.xvfb.windows_named("pult-lock").len() == 2
    });

    let ctl = pultctl(&cert, &["unlock"]);
    assert!(ctl.success, "{}", ctl.stderr);
    assert!(ctl.stdout.contains("R101-PC01: unlocked"), "{}", ctl.stdout);
    assert!(
        session.xvfb.windows_named("pult-lock").is_empty(),
        "unlocked means unlocked when pultctl returns"
    );
    typing.xdotool(&["search", "--name", "typing", "windowfocus", "--sync"]);
    typing.type_line("nachher");
    wait_until("typing works again", || {
        typing.typed() == "vorher\nnachher\n"
    });
    wait_until("the notice gone with the lock", || {
        session.bars().is_empty()
    });

    let locks = audit_of(&service.audit, "lock");
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0]["result"], "ok");
    assert_eq!(locks[0]["user"], "mueller");
    assert_eq!(locks[0]["detail"], "Augen nach vorn");
    assert_eq!(audit_of(&service.audit, "unlock")[0]["result"], "ok");
}

#[test]
fn r20_a_lock_nobody_ends_ends_by_itself_after_the_timeout() {
    let session = StudentSession::start();
    let school = school();
    let _service = Service::start_with(&school, &session, &["--lock-timeout", "3"]);
    let cert = school.room_cert("101", "mueller", "1h");
    let ctl = pultctl(&cert, &["lock"]);
    assert!(ctl.success, "{}", ctl.stderr);
    assert_eq!(session.xvfb.windows_named("pult-lock").len(), 2);
    let after = wait_until("the lock gone after its timeout", || {
        session.xvfb.windows_named("pult-lock").is_empty()
    });
    println!(
        "the lock ended {:.1} s after pultctl returned",
        after.as_secs_f64()
    );
    wait_until("the notice gone with the lock", || {
        session.bars().is_empty()
    });
    let status = pultctl(&cert, &["status", "--seconds", "2"]);
    assert!(!status.stdout.contains("locked"), "{}", status.stdout);
}
