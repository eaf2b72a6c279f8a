//! Steering the student computer, on the installed student side (service as
//! root, helper in a real non-root student's X session with two monitors):
//! remote control (R3), message windows, the lock screen (R20) and the notice
//! that goes with each (R1), each audited.
//!
//! The student is played by `xdotool`: it types into the student's xterm
//! through the X server's XTEST extension, as a real keyboard would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use pult_e2e::student::{Service, StudentSession, Typing, school, wait_until};
use pult_e2e::{audit_entries, binary, pultctl};
use pult_screen::{Frame, decode_png};

/// What the teacher sees: a screenshot of R101-PC01, kept in
/// target/steering/NAME for people to look at.
fn teachers_view(cert: &Path, name: &str) -> Frame {
    let out = pult_e2e::artifacts("steering").join(name);
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
    // Nor does a teacher's remote control: it is refused, saying why.
    let ctl = pultctl(&cert, &["input", "R101-PC01", "--text", "x"]);
    assert!(!ctl.success);
    assert!(
        ctl.stderr.contains(
            "the screen is locked by mueller (room 101); unlock it to control the computer"
        ),
        "{}",
        ctl.stderr
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

/// Sets the student's keyboard layout on the session's X server.
fn layout(session: &StudentSession, name: &str) {
    let status = Command::new("setxkbmap")
        .args(["-layout", name])
        .env("DISPLAY", &session.xvfb.display)
        .status()
        .expect("setxkbmap is needed for this test; .ci/run installs it");
    assert!(status.success(), "setxkbmap -layout {name}");
}

/// An X client on the student's display that writes down every click it
/// gets (xev), in a window at `geometry`.
struct ClickWatcher {
    xev: Child,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ClickWatcher {
    fn start(session: &StudentSession, geometry: &str) -> Self {
        use std::io::BufRead;
        let mut xev = Command::new("stdbuf")
            .args(["-oL", "xev", "-geometry", geometry, "-event", "button"])
            .env("DISPLAY", &session.xvfb.display)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("xev (x11-utils) is needed for this test");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let lines = std::io::BufReader::new(xev.stdout.take().unwrap());
        let writing = seen.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                let mut seen = writing.lock().unwrap();
                seen.push_str(&line);
                seen.push('\n');
            }
        });
        wait_until("the click watcher's window", || {
            !session.xvfb.windows_named("Event Tester").is_empty()
        });
        Self { xev, seen }
    }

    /// The presses seen: where on the desktop, which button.
    fn presses(&self) -> Vec<((i32, i32), u32)> {
        let seen = self.seen.lock().unwrap().clone();
        seen.split("ButtonPress event")
            .skip(1)
            .map(|event| {
                let root = event.split("root:(").nth(1).unwrap();
                let (x, rest) = root.split_once(',').unwrap();
                let y = rest.split(')').next().unwrap();
                let button = event.split("button ").nth(1).unwrap();
                let button = button.split(',').next().unwrap().trim();
                (
                    (x.trim().parse().unwrap(), y.trim().parse().unwrap()),
                    button.parse().unwrap(),
                )
            })
            .collect()
    }
}

impl Drop for ClickWatcher {
    fn drop(&mut self) {
        let _ = self.xev.kill();
        let _ = self.xev.wait();
    }
}

#[test]
fn r3_the_teacher_types_as_typed_on_a_german_layout_and_clicks_on_either_monitor() {
    let session = StudentSession::start();
    let school = school();
    let service = Service::start(&school, &session);
    let cert = school.room_cert("101", "mueller", "1h");
    layout(&session, "de");
    let typing = Typing::start(&session);

    // Umlauts on their own keys, @ € ~ { [ ] } behind AltGr on this layout:
    // all arrive as typed; Ctrl+D then ends the student's `cat`.
    let line = "Grüße, ÄÖÜ äöüß @ € ~ {[]} \\ 1+1=2";
    let ctl = pultctl(
        &cert,
        &[
            "input",
            "R101-PC01",
            "--text",
            line,
            "--key",
            "Return",
            "--text",
            "Zeile 2",
            "--key",
            "return",
            "--key",
            "ctrl+d",
        ],
    );
    assert!(ctl.success, "{}", ctl.stderr);
    assert!(
        ctl.stdout.contains("R101-PC01: 5 steps done"),
        "{}",
        ctl.stdout
    );
    wait_until("the typed lines in the student's file", || {
        typing.typed() == format!("{line}\nZeile 2\n")
    });
    wait_until("the student's cat ended by Ctrl+D", || {
        session.xvfb.windows_named("typing").is_empty()
    });
    drop(typing);

    // Clicks land where the teacher's pixels say, on the second monitor too.
    let clicks = ClickWatcher::start(&session, "400x300+1000+100");
    let ctl = pultctl(
        &cert,
        &[
            "input",
            "R101-PC01",
            "--click",
            "1100,150",
            "--click",
            "1350,380,3",
            "--move",
            "1500,500",
        ],
    );
    assert!(ctl.success, "{}", ctl.stderr);
    wait_until("two clicks in the watcher", || clicks.presses().len() == 2);
    assert_eq!(clicks.presses(), vec![((1100, 150), 1), ((1350, 380), 3)]);
    let location = Command::new("xdotool")
        .arg("getmouselocation")
        .env("DISPLAY", &session.xvfb.display)
        .output()
        .unwrap();
    let location = String::from_utf8_lossy(&location.stdout);
    assert!(location.starts_with("x:1500 y:500 "), "{location}");

    // Refused, and said why: no such key (before anything is sent), a point
    // off the desktop (by the agent).
    let ctl = pultctl(&cert, &["input", "R101-PC01", "--key", "ctrl+power"]);
    assert!(!ctl.success);
    assert!(
        ctl.stderr.contains("'power' is not a key"),
        "{}",
        ctl.stderr
    );
    let ctl = pultctl(&cert, &["input", "R101-PC01", "--click", "1600,10"]);
    assert!(!ctl.success);
    assert!(
        ctl.stderr
            .contains("point 1600,10 is off the desktop of 1600x600 pixels")
            && ctl.stderr.contains("input-refused"),
        "{}",
        ctl.stderr
    );

    // Audited, without what was typed: it may be a password.
    // Three controls: the unknown key never left pultctl.
    let began = audit_of(&service.audit, "control");
    assert_eq!(began.len(), 3);
    assert!(
        began
            .iter()
            .all(|e| e["result"] == "ok" && e["user"] == "mueller")
    );
    let ended = audit_of(&service.audit, "control-end");
    assert_eq!(ended.len(), 3);
    assert!(
        ended[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("10 events applied, 0 failed"),
        "{}",
        ended[0]
    );
    let log = serde_json::to_string(&audit_entries(&service.audit)).unwrap();
    assert!(!log.contains("Grüße") && !log.contains("Zeile"), "{log}");
}

#[test]
fn r3_one_console_controls_at_a_time_and_a_dead_one_lets_go_of_its_keys() {
    let session = StudentSession::start();
    let school = school();
    let service = Service::start(&school, &session);
    let cert = school.room_cert("101", "mueller", "1h");
    let typing = Typing::start(&session);

    // mueller holds Shift down and then his console dies.
    let mut holder = Command::new(binary("pultctl"))
        .args(["--cert", cert.to_str().unwrap()])
        .args(["input", "R101-PC01", "--down", "shift", "--wait", "120"])
        .spawn()
        .unwrap();
    wait_until("the student told who controls", || {
        session
            .tray_tooltip()
            .contains("Maus und Tastatur werden gesteuert von mueller (Raum 101)")
    });
    // Another teacher is told who has the device.
    school.registry(&["user", "add", "schmidt", "--group", "lehrer"]);
    let other = school.room_cert("101", "schmidt", "1h");
    let ctl = pultctl(&other, &["input", "R101-PC01", "--text", "x"]);
    assert!(!ctl.success);
    assert!(
        ctl.stderr
            .contains("mueller (room 101) controls this computer now")
            && ctl.stderr.contains("in-use"),
        "{}",
        ctl.stderr
    );
    // Shift is down: the student's own keys come out in capitals (xdotool
    // key presses the keys as they are; its type would work around Shift).
    // The terminal hands a line to cat at Return.
    typing.xdotool(&["key", "a", "b", "c", "Return"]);
    wait_until("capitals while Shift is held", || typing.typed() == "ABC\n");

    holder.kill().unwrap();
    holder.wait().unwrap();
    wait_until("control ended by the agent", || {
        !audit_of(&service.audit, "control-end").is_empty()
    });
    typing.type_line("def");
    wait_until("Shift let go", || typing.typed() == "ABC\ndef\n");
    wait_until("the notice no longer says controlled", || {
        !session.tray_tooltip().contains("gesteuert")
    });
    // Now schmidt may.
    let ctl = pultctl(&other, &["input", "R101-PC01", "--text", "ghi\n"]);
    assert!(ctl.success, "{}", ctl.stderr);
    wait_until("schmidt's typing", || typing.typed() == "ABC\ndef\nghi\n");
}

/// Runs `xclip` as the student on `display` and returns what it printed.
/// `xclip -i` stays in the background holding the clipboard: its output is
/// not waited for.
fn student_xclip(display: &str, args: &[&str]) -> String {
    let mut command = Command::new("runuser");
    command
        .args(["-u", pult_e2e::student::STUDENT, "--", "env"])
        .arg(format!("DISPLAY={display}"))
        .arg("xclip")
        .args(args);
    if args.contains(&"-i") {
        command.stdout(std::process::Stdio::null());
        command.stderr(std::process::Stdio::null());
    }
    let output = command
        .output()
        .expect("xclip is needed; .ci/run installs it");
    assert!(
        output.status.success(),
        "xclip {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn r3_clipboard_text_goes_both_ways_while_controlling() {
    let session = StudentSession::start();
    let school = school();
    let service = Service::start(&school, &session);
    let cert = school.room_cert("101", "mueller", "1h");
    let display = session.xvfb.display.clone();

    // The teacher's text is what the student pastes.
    let text = "Grüße @ € {[]} \\ ✓\nzweite Zeile";
    let ctl = pultctl(&cert, &["input", "R101-PC01", "--clipboard", text]);
    assert!(ctl.success, "{}", ctl.stderr);
    assert_eq!(
        student_xclip(&display, &["-o", "-selection", "clipboard"]),
        text
    );

    // What the student copies, the teacher reads.
    let copied = tempfile::Builder::new().tempfile_in("/tmp").unwrap();
    std::fs::write(copied.path(), "Lösung: 42 ✓").unwrap();
    std::fs::set_permissions(
        copied.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    student_xclip(
        &display,
        &[
            "-i",
            "-selection",
            "clipboard",
            copied.path().to_str().unwrap(),
        ],
    );
    let ctl = pultctl(&cert, &["input", "R101-PC01", "--read-clipboard"]);
    assert!(ctl.success, "{}", ctl.stderr);
    assert_eq!(ctl.stdout, "Lösung: 42 ✓\nR101-PC01: 1 steps done\n");

    // Too much text is refused before it leaves the console.
    let long = "x".repeat(40_000);
    let ctl = pultctl(&cert, &["input", "R101-PC01", "--clipboard", &long]);
    assert!(!ctl.success);
    assert!(
        ctl.stderr.contains("at most 32768 are carried"),
        "{}",
        ctl.stderr
    );
    // Neither text is in the audit log; reading the student's clipboard is
    // logged as an access of its own, with the size of what was read.
    let log = serde_json::to_string(&audit_entries(&service.audit)).unwrap();
    assert!(!log.contains("Grüße") && !log.contains("Lösung"), "{log}");
    let reads = audit_of(&service.audit, "clipboard-read");
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(
        reads[0]["detail"],
        format!("{} bytes", "Lösung: 42 ✓".len())
    );
}

#[test]
fn the_student_is_told_of_a_restart_before_it_happens_and_when_it_is_called_off() {
    let session = StudentSession::start();
    let school = school();
    let _service = Service::start(&school, &session);
    let cert = school.room_cert("101", "mueller", "1h");
    let ctl = pultctl(&cert, &["power", "reboot", "R101-PC01", "--delay", "60"]);
    assert!(ctl.success, "{}", ctl.stderr);
    // The message window is up when the console hears "done", in German.
    assert_eq!(
        session.xvfb.windows_named("Neustart in 60 Sekunden").len(),
        1
    );
    let ctl = pultctl(&cert, &["power", "cancel", "R101-PC01"]);
    assert!(ctl.success, "{}", ctl.stderr);
    assert_eq!(session.xvfb.windows_named("Neustart abgesagt").len(), 1);
    // The service records instead of restarting this machine: nothing recorded.
    std::thread::sleep(Duration::from_millis(500));
    assert!(!school.path("power.txt").exists());
}
