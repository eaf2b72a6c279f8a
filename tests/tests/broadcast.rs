//! Broadcast (R7): the teacher's screen — a real Xvfb showing a known
//! picture, captured by pultctl — on the students' real X screens, through
//! real agents: the installed service with its helper in a non-root
//! student's session on two monitors, and single-process agents on X
//! displays of their own. What each student's screen shows is captured
//! from its X server and compared with the teacher's picture.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pult_e2e::student::{Service, StudentSession, Typing, school};
use pult_e2e::{Agent, School, Xvfb, binary, free_address, pattern, wait_until};
use pult_screen::{CaptureSource, DesktopCapture, Frame, ScreenArea, encode_png};

/// The colour of the pattern's first rectangle.
const ACCENT: [u8; 4] = [255, 32, 0, 255];
/// The pattern's ground and second rectangle (see [`pattern`]).
const GROUND: [u8; 4] = [32, 48, 64, 255];
const BLUE: [u8; 4] = [0, 192, 255, 255];
const BLACK: [u8; 4] = [0, 0, 0, 255];
/// The teacher's screen.
const TEACHER: (u32, u32) = (1280, 720);

/// The teacher's screen, showing the pattern.
fn teachers_screen(school: &School) -> Xvfb {
    let xvfb = Xvfb::start(TEACHER.0, TEACHER.1);
    let png = school.path("teacher.png");
    let picture = pattern(TEACHER.0, TEACHER.1, ACCENT);
    std::fs::write(&png, encode_png(&picture).unwrap()).unwrap();
    xvfb.show(&png);
    xvfb
}

/// `pultctl broadcast` running in the background, capturing `teacher`.
struct Broadcasting {
    child: Child,
}

impl Broadcasting {
    fn start(cert: &Path, teacher: &Xvfb, args: &[&str]) -> Self {
        let child = Command::new(binary("pultctl"))
            .arg("--cert")
            .arg(cert)
            .arg("broadcast")
            .args(args)
            .env("DISPLAY", &teacher.display)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Self { child }
    }

    /// Waits for pultctl to end: whether it succeeded, stdout, stderr.
    fn finish(mut self) -> (bool, String, String) {
        let status = self.child.wait().unwrap();
        let (mut stdout, mut stderr) = (String::new(), String::new());
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status.success(), stdout, stderr)
    }
}

impl Drop for Broadcasting {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A student computer of its own: a single-process agent on an X display.
struct Student {
    xvfb: Xvfb,
    agent: Agent,
}

impl Student {
    fn start(school: &School, device: &str, width: u32, height: u32) -> Self {
        let xvfb = Xvfb::start(width, height);
        let agent = Agent::start(
            &school.agent_bundle(device),
            &["--screen", "x11"],
            &[("DISPLAY", &xvfb.display)],
        );
        Self { xvfb, agent }
    }

    fn screen(&self) -> Frame {
        screen_of(&self.xvfb.display)
    }

    fn broadcast_windows(&self) -> usize {
        self.xvfb.windows_named("pult-broadcast").len()
    }
}

fn screen_of(display: &str) -> Frame {
    DesktopCapture::x11(display)
        .capture(ScreenArea::Desktop)
        .unwrap()
}

/// Whether two colours agree within what scaling and JPEG leave.
fn close(a: [u8; 4], b: [u8; 4]) -> bool {
    (0..3).all(|c| a[c].abs_diff(b[c]) <= 16)
}

/// Where the teacher's point lands on a monitor at (left, top) of
/// `width` × `height` that shows the teacher's picture scaled to fit.
fn on_monitor(point: (u32, u32), (left, top, width, height): (u32, u32, u32, u32)) -> (u32, u32) {
    let scale = f64::min(
        f64::from(width) / f64::from(TEACHER.0),
        f64::from(height) / f64::from(TEACHER.1),
    );
    let (shown_width, shown_height) = (f64::from(TEACHER.0) * scale, f64::from(TEACHER.1) * scale);
    let x = f64::from(left) + (f64::from(width) - shown_width) / 2.0 + f64::from(point.0) * scale;
    let y = f64::from(top) + (f64::from(height) - shown_height) / 2.0 + f64::from(point.1) * scale;
    (x as u32, y as u32)
}

/// Whether `screen` shows the teacher's pattern on the monitor given, with
/// black bars where the shapes differ.
fn shows_pattern(screen: &Frame, monitor: (u32, u32, u32, u32)) -> bool {
    let samples = [
        ((200, 100), ACCENT),
        ((450, 350), BLUE),
        ((900, 600), GROUND),
        ((1200, 100), GROUND),
    ];
    let letterboxed = samples.iter().all(|&(point, colour)| {
        let (x, y) = on_monitor(point, monitor);
        screen.pixel(x, y).is_some_and(|p| close(p, colour))
    });
    // The bar: below the picture when the monitor is taller than 16:9.
    let (left, top, width, height) = monitor;
    let bar_ok = if height * TEACHER.0 > width * TEACHER.1 + width {
        screen
            .pixel(left + width / 2, top + height - 2)
            .is_some_and(|p| close(p, BLACK))
    } else {
        true
    };
    letterboxed && bar_ok
}

/// Whether another program holds the keyboard of `display` (as the
/// full-screen broadcast does): `xdotool key` still works through XTEST,
/// so ask the server directly by trying to grab it.
fn keyboard_taken(display: &str) -> bool {
    let (connection, screen) = xcb::Connection::connect(Some(display)).unwrap();
    let root = connection
        .get_setup()
        .roots()
        .nth(usize::try_from(screen).unwrap())
        .unwrap()
        .root();
    let cookie = connection.send_request(&xcb::x::GrabKeyboard {
        owner_events: false,
        grab_window: root,
        time: xcb::x::CURRENT_TIME,
        pointer_mode: xcb::x::GrabMode::Async,
        keyboard_mode: xcb::x::GrabMode::Async,
    });
    let status = connection.wait_for_reply(cookie).unwrap().status();
    connection.send_request(&xcb::x::UngrabKeyboard {
        time: xcb::x::CURRENT_TIME,
    });
    connection.flush().unwrap();
    status != xcb::x::GrabStatus::Success
}

fn audit_of(dir: &Path, action: &str) -> Vec<serde_json::Value> {
    pult_e2e::audit_entries(dir)
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

#[test]
fn r7_the_teachers_screen_covers_every_monitor_blocks_typing_and_goes_with_the_end() {
    let session = StudentSession::start();
    let school = school();
    school.import(&format!("name,room,ip\nR101-PC02,101,{}\n", free_address()));
    let service = Service::start(&school, &session);
    let second = Student::start(&school, "R101-PC02", 1024, 768);
    let cert = school.room_cert("101", "mueller", "1h");
    let typing = Typing::start(&session);
    let teacher = teachers_screen(&school);

    let broadcasting = Broadcasting::start(&cert, &teacher, &["--seconds", "8"]);
    wait_until(
        Duration::from_secs(15),
        "the broadcast over both monitors of R101-PC01",
        || session.xvfb.windows_named("pult-broadcast").len() == 2,
    );
    wait_until(
        Duration::from_secs(10),
        "the teacher's picture on both monitors",
        || {
            let screen = screen_of(&session.xvfb.display);
            shows_pattern(&screen, (0, 0, 800, 600)) && shows_pattern(&screen, (800, 0, 800, 600))
        },
    );
    wait_until(Duration::from_secs(10), "the picture on R101-PC02", || {
        second.broadcast_windows() == 1 && shows_pattern(&second.screen(), (0, 0, 1024, 768))
    });
    // R1: the student is told whose broadcast it is.
    wait_until(
        Duration::from_secs(10),
        "the notice of the broadcast",
        || {
            session.bars().len() == 2
                && session
                    .tray_tooltip()
                    .contains("Übertragung der Lehrkraft: mueller (Raum 101)")
        },
    );
    // Full screen blocks keyboard and mouse: typing goes nowhere.
    assert!(keyboard_taken(&session.xvfb.display));
    assert!(keyboard_taken(&second.xvfb.display));
    typing.type_line("waehrend");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        typing.typed(),
        "",
        "nothing typed during the broadcast arrives"
    );

    let (success, stdout, stderr) = broadcasting.finish();
    assert!(success, "{stdout}\n{stderr}");
    assert!(stdout.contains("R101-PC01: shown"), "{stdout}");
    assert!(stdout.contains("R101-PC02: shown"), "{stdout}");
    let back = wait_until(Duration::from_secs(10), "the desktops back", || {
        session.xvfb.windows_named("pult-broadcast").is_empty() && second.broadcast_windows() == 0
    });
    println!(
        "the broadcast windows were gone {:.2} s after pultctl ended",
        back.as_secs_f64()
    );
    assert!(!keyboard_taken(&session.xvfb.display));
    typing.type_line("danach");
    wait_until(Duration::from_secs(10), "typing again", || {
        typing.typed() == "danach\n"
    });
    wait_until(Duration::from_secs(10), "the notice gone", || {
        session.bars().is_empty()
    });

    let started = audit_of(&service.audit, "broadcast");
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["user"], "mueller");
    assert_eq!(started[0]["detail"], "full-screen");
    let ended = audit_of(&service.audit, "broadcast-end");
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert!(
        ended[0]["detail"]
            .as_str()
            .unwrap()
            .contains("pictures shown"),
        "{ended:?}"
    );
    assert_eq!(audit_of(&second.agent.audit_dir, "broadcast-end").len(), 1);
}

#[test]
fn r7_a_region_is_shown_alone_scaled_to_fit() {
    let school = school();
    let student = Student::start(&school, "R101-PC01", 1024, 768);
    let cert = school.room_cert("101", "mueller", "1h");
    let teacher = teachers_screen(&school);
    // Exactly the accent rectangle of the pattern: 200x100, scaled to 1024x512.
    let broadcasting = Broadcasting::start(
        &cert,
        &teacher,
        &["--region", "100,50,200,100", "--seconds", "30"],
    );
    wait_until(
        Duration::from_secs(15),
        "the region on the student's screen",
        || {
            let screen = student.screen();
            [(512, 384), (8, 140), (1015, 630)]
                .iter()
                .all(|&(x, y)| screen.pixel(x, y).is_some_and(|p| close(p, ACCENT)))
                && [(512, 60), (512, 700)]
                    .iter()
                    .all(|&(x, y)| screen.pixel(x, y).is_some_and(|p| close(p, BLACK)))
        },
    );
    drop(broadcasting);
}

#[test]
fn r7_in_a_window_the_student_keeps_keyboard_and_mouse() {
    let school = school();
    let student = Student::start(&school, "R101-PC01", 1200, 900);
    let cert = school.room_cert("101", "mueller", "1h");
    let teacher = teachers_screen(&school);
    let broadcasting = Broadcasting::start(&cert, &teacher, &["--window", "--seconds", "30"]);
    wait_until(Duration::from_secs(15), "the broadcast window", || {
        student.broadcast_windows() == 1
    });
    // Two thirds of the screen, in the middle; the picture fits inside.
    let window = student.xvfb.windows_named("pult-broadcast")[0];
    assert_eq!(window, (200, 150, 800, 600));
    wait_until(Duration::from_secs(10), "the picture in the window", || {
        shows_pattern(&student.screen(), (200, 150, 800, 600))
    });
    assert!(
        !keyboard_taken(&student.xvfb.display),
        "a window leaves the keyboard to the student"
    );
    let started = audit_of(&student.agent.audit_dir, "broadcast");
    assert_eq!(started[0]["detail"], "window");
    drop(broadcasting);
}

#[test]
fn r7_when_the_teachers_console_vanishes_the_students_desktop_comes_back() {
    let school = school();
    let student = Student::start(&school, "R101-PC01", 800, 600);
    let cert = school.room_cert("101", "mueller", "1h");
    let teacher = teachers_screen(&school);
    let mut broadcasting = Broadcasting::start(&cert, &teacher, &["--seconds", "60"]);
    wait_until(Duration::from_secs(15), "the broadcast", || {
        shows_pattern(&student.screen(), (0, 0, 800, 600))
    });
    // The teacher's computer goes away without a word.
    broadcasting.child.kill().unwrap();
    let killed = Instant::now();
    wait_until(Duration::from_secs(10), "the desktop back", || {
        student.broadcast_windows() == 0
    });
    println!(
        "the student's desktop came back {:.2} s after the console was killed",
        killed.elapsed().as_secs_f64()
    );
    assert!(!keyboard_taken(&student.xvfb.display));
    let ended = student
        .agent
        .wait_for_audit(|e| e["action"] == "broadcast-end");
    assert_eq!(ended["user"], "mueller");
}

#[test]
fn r7_a_late_student_gets_the_picture_at_once_and_a_stalled_one_holds_up_nobody() {
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!(
        "name,room,ip\nR101-PC01,101,{}\nR101-PC02,101,{}\nR101-PC03,101,{}\n",
        free_address(),
        free_address(),
        free_address()
    ));
    let cert = school.room_cert("101", "mueller", "1h");
    let teacher = Xvfb::start(TEACHER.0, TEACHER.1);
    let fast = Student::start(&school, "R101-PC01", 640, 480);
    let stalled = Student::start(&school, "R101-PC02", 640, 480);
    let colour_of = |student: &Student| student.screen().pixel(320, 240).unwrap();
    let solid = |colour: &str| teacher.run("xsetroot", &["-solid", colour]);
    solid("#ff0000");
    let broadcasting = Broadcasting::start(&cert, &teacher, &["--seconds", "60", "--fps", "20"]);
    wait_until(
        Duration::from_secs(15),
        "both students show the teacher",
        || {
            close(colour_of(&fast), [255, 0, 0, 255])
                && close(colour_of(&stalled), [255, 0, 0, 255])
        },
    );

    // One student's computer stops reading; the teacher's screen changes on.
    let stop = |signal: &str, agent: &Agent| {
        let status = Command::new("kill")
            .args([signal, &agent.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    stop("-STOP", &stalled.agent);
    let mut changes = 0;
    let mut last = colour_of(&fast);
    for round in 0..8 {
        let (name, colour) = if round % 2 == 0 {
            ("#00ff00", [0, 255, 0, 255])
        } else {
            ("#ff0000", [255, 0, 0, 255])
        };
        solid(name);
        wait_until(Duration::from_secs(5), "the other student keeps up", || {
            close(colour_of(&fast), colour)
        });
        let now = colour_of(&fast);
        changes += usize::from(now != last);
        last = now;
    }
    assert_eq!(changes, 8, "every change reached the student who reads");
    stop("-CONT", &stalled.agent);

    // A student who comes late sees the picture as it is now, though the
    // teacher's screen no longer changes.
    solid("#0000ff");
    wait_until(Duration::from_secs(10), "the blue screen shown", || {
        close(colour_of(&fast), [0, 0, 255, 255])
    });
    std::thread::sleep(Duration::from_millis(500));
    let late = Student::start(&school, "R101-PC03", 640, 480);
    let came = wait_until(
        Duration::from_secs(15),
        "the late student shows the picture",
        || close(colour_of(&late), [0, 0, 255, 255]),
    );
    println!(
        "the late student showed the picture {:.2} s after its agent started",
        came.as_secs_f64()
    );
    // And the stalled one, awake again, catches up with the same picture.
    wait_until(
        Duration::from_secs(15),
        "the stalled student catches up",
        || close(colour_of(&stalled), [0, 0, 255, 255]),
    );
    drop(broadcasting);
}

#[test]
fn r7_a_students_screen_is_relayed_to_the_class_as_it_came() {
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!(
        "name,room,ip\nR101-PC01,101,{}\nR101-PC02,101,{}\n",
        free_address(),
        free_address()
    ));
    let cert = school.room_cert("101", "mueller", "1h");
    // The student whose work is shown: a still synthetic desktop.
    let source = Agent::start(
        &school.agent_bundle("R101-PC01"),
        &[
            "--screen",
            "synthetic",
            "--synthetic-size",
            "1280x720",
            "--synthetic-speed",
            "0",
        ],
        &[],
    );
    let viewer = Student::start(&school, "R101-PC02", 1280, 720);
    let shot = school.path("source.png");
    let ctl = pult_e2e::pultctl(
        &cert,
        &["screenshot", "R101-PC01", "--out", shot.to_str().unwrap()],
    );
    assert!(ctl.success, "{}", ctl.stderr);
    let expected = pult_screen::decode_png(&std::fs::read(&shot).unwrap()).unwrap();

    // No teacher's display at all: nothing of this computer is captured.
    let relay = Command::new(binary("pultctl"))
        .arg("--cert")
        .arg(&cert)
        .args(["broadcast", "--from", "R101-PC01", "--seconds", "10"])
        .env_remove("DISPLAY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let relay = Broadcasting { child: relay };
    wait_until(
        Duration::from_secs(10),
        "the source's screen on the viewer",
        || {
            let screen = viewer.screen();
            // The notice bar covers the top; compare below it.
            [(100, 200), (640, 400), (1200, 700), (300, 650)]
                .iter()
                .all(|&(x, y)| close(screen.pixel(x, y).unwrap(), expected.pixel(x, y).unwrap()))
        },
    );
    let (success, stdout, stderr) = relay.finish();
    assert!(success, "{stdout}\n{stderr}");
    assert!(stdout.contains("R101-PC02: shown"), "{stdout}");
    assert!(
        stdout.starts_with("broadcasting R101-PC01") && stdout.contains("\n0 pictures encoded"),
        "relayed as the agent encoded it, nothing encoded again: {stdout}"
    );
    assert!(
        !stdout.contains("R101-PC01: shown"),
        "the source is not sent its own screen"
    );
    drop(source);
}

#[test]
fn r7_a_broadcast_is_refused_for_another_rooms_device_and_one_not_steerable() {
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!(
        "name,room,ip\nR101-PC01,101,{}\nR102-PC01,102,{}\n",
        free_address(),
        free_address()
    ));
    let pc101 = Student::start(&school, "R101-PC01", 640, 480);
    let teacher = teachers_screen(&school);
    let cert = school.room_cert("101", "mueller", "1h");
    let (success, _, stderr) =
        Broadcasting::start(&cert, &teacher, &["--to", "R102-PC01", "--seconds", "1"]).finish();
    assert!(!success);
    assert!(
        stderr.contains("device 'R102-PC01' is not in room 101"),
        "{stderr}"
    );

    school.registry(&["device", "set", "R101-PC01", "--steerable", "no"]);
    let cert = school.room_cert("101", "mueller", "1h");
    let (success, _, stderr) =
        Broadcasting::start(&cert, &teacher, &["--to", "R101-PC01", "--seconds", "2"]).finish();
    assert!(!success);
    assert!(stderr.contains("not steerable"), "{stderr}");
    assert_eq!(pc101.broadcast_windows(), 0);
    let refused = pc101.agent.wait_for_audit(|e| {
        e["action"] == "connect"
            && e["result"] == "refused"
            && e["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("not-steerable"))
    });
    assert_eq!(refused["user"], "mueller");
}
