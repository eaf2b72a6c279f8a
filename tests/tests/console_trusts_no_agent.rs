//! The console trusts no agent: a hostile agent with a valid device
//! certificate, speaking the real protocol, sends pictures larger than asked,
//! tiles outside the picture, a PNG tile claiming 20,000×20,000 pixels and a
//! 150 MB screenshot claiming as much. `pultctl watch`, `pultctl screenshot`
//! and the room session answer each with an error naming the problem, and
//! stay up: the room session keeps serving an honest agent meanwhile.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use pult_console::{DeviceState, RoomCertificate, RoomEvent, RoomSession, SessionOptions};
use pult_e2e::hostile::{HostileAgent, ScreenshotBehaviour, StreamBehaviour};
use pult_e2e::{Agent, Ctl, School, free_address, pultctl};
use pult_protocol::watch::WatchSettings;

/// A school whose room 101 has the hostile PC01 and an honest PC02.
fn school() -> (School, std::path::PathBuf, std::path::PathBuf) {
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!(
        "name,room,ip\nR101-PC01,101,{}\nR101-PC02,101,{}\n",
        free_address(),
        free_address()
    ));
    let hostile = school.agent_bundle("R101-PC01");
    let honest = school.agent_bundle("R101-PC02");
    (school, hostile, honest)
}

async fn run_pultctl(cert: &Path, args: &[&str]) -> Ctl {
    let cert = cert.to_owned();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        pultctl(&cert, &args)
    })
    .await
    .unwrap()
}

/// pultctl failed with a message naming `problem`, and did not panic.
fn assert_refused(ctl: &Ctl, problem: &str) {
    assert!(!ctl.success, "pultctl succeeded: {}", ctl.stdout);
    assert!(
        ctl.stderr
            .contains("the agent sent a picture the console refuses")
            && ctl.stderr.contains(problem),
        "pultctl should name '{problem}'; it said: {}",
        ctl.stderr
    );
    assert!(!ctl.stderr.contains("panicked"), "{}", ctl.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pultctl_watch_refuses_what_was_not_asked_for() {
    let (school, hostile_bundle, _) = school();
    let cert = school.room_cert("101", "mueller", "1h");
    let hostile = HostileAgent::start(&hostile_bundle);
    let watch = ["watch", "R101-PC01", "--size", "320x180", "--seconds", "5"];

    // The honest case first, so what follows fails for its own reason.
    let ctl = run_pultctl(&cert, &watch).await;
    assert!(ctl.success, "{}", ctl.stderr);

    let cases = [
        (
            StreamBehaviour::Oversized,
            "the picture is 4000x3000, larger than the 320x180 asked for",
        ),
        (
            StreamBehaviour::TileOutOfBounds,
            "a tile at (32, 0) of 64x64 lies outside the 64x64 picture",
        ),
        (
            StreamBehaviour::HugePngTile,
            "a PNG tile at (0, 0) of 64x64 holds a 20000x20000 image",
        ),
    ];
    for (behaviour, problem) in cases {
        hostile.set_stream(behaviour);
        let ctl = run_pultctl(&cert, &watch).await;
        assert_refused(&ctl, problem);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pultctl_screenshot_refuses_a_png_claiming_20000_by_20000_from_its_header() {
    let (school, hostile_bundle, _) = school();
    let cert = school.room_cert("101", "mueller", "1h");
    let hostile = HostileAgent::start(&hostile_bundle);
    let out = school.path("shot.png");
    let screenshot = ["screenshot", "R101-PC01", "--out", out.to_str().unwrap()];

    let ctl = run_pultctl(&cert, &screenshot).await;
    assert!(ctl.success, "{}", ctl.stderr);
    std::fs::remove_file(&out).unwrap();

    for behaviour in [
        ScreenshotBehaviour::HugeHeader,
        ScreenshotBehaviour::Huge150Mb,
    ] {
        hostile.set_screenshot(behaviour);
        let ctl = run_pultctl(&cert, &screenshot).await;
        assert_refused(&ctl, "the screenshot claims 20000x20000, beyond the limit");
        assert!(!out.exists(), "nothing is saved of a refused screenshot");
    }
}

/// Follows a room session's events: each device's latest state and how many
/// screen updates it sent.
struct Follower {
    events: tokio::sync::mpsc::Receiver<RoomEvent>,
    states: HashMap<String, DeviceState>,
    updates: HashMap<String, usize>,
}

impl Follower {
    /// Reads events until `done` holds; panics if nothing happens for 30 s.
    async fn until(&mut self, what: &str, done: impl Fn(&Follower) -> bool) {
        while !done(self) {
            let event = tokio::time::timeout(Duration::from_secs(30), self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("{what}: nothing happened for 30 s; {:#?}", self.states))
                .expect("the session ended");
            match event {
                RoomEvent::Status(status) => {
                    self.states.insert(status.name, status.state);
                }
                RoomEvent::Screen { device, .. } => *self.updates.entry(device).or_default() += 1,
            }
        }
    }

    fn online(&self, device: &str) -> bool {
        self.states.get(device) == Some(&DeviceState::Online)
    }

    fn updates(&self, device: &str) -> usize {
        self.updates.get(device).copied().unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_session_refuses_a_hostile_agent_and_keeps_serving_an_honest_one() {
    let (school, hostile_bundle, honest_bundle) = school();
    let hostile = HostileAgent::start(&hostile_bundle);
    hostile.set_screenshot(ScreenshotBehaviour::Huge150Mb);
    let _honest = Agent::synthetic(&honest_bundle, "320x180");
    let certificate = RoomCertificate::load(&school.room_cert("101", "mueller", "1h")).unwrap();
    let options = SessionOptions {
        thumbnail: WatchSettings::THUMBNAIL,
        discover: false,
        viewer_credit: None,
    };
    let (session, events) = RoomSession::start(certificate, options).unwrap();
    let mut room = Follower {
        events,
        states: HashMap::new(),
        updates: HashMap::new(),
    };
    room.until("both online and streaming", |r| {
        r.online("R101-PC01") && r.online("R101-PC02") && r.updates.len() == 2
    })
    .await;

    // A 150 MB screenshot claiming 20,000×20,000 pixels: refused with its own code.
    let error = session.screenshot("R101-PC01").await.unwrap_err();
    assert_eq!(error.code(), "bad-picture");
    assert!(
        error
            .to_string()
            .contains("the screenshot claims 20000x20000"),
        "{error}"
    );
    let shot = session.screenshot("R101-PC02").await.unwrap();
    assert_eq!((shot.width, shot.height), (320, 180));

    // A stream with a PNG tile claiming 20,000×20,000 pixels (on the
    // connection the session makes after this one is dropped): the device
    // shows why it has no picture, and the honest device streams on.
    hostile.set_stream(StreamBehaviour::HugePngTile);
    hostile.drop_connections();
    room.until("PC01 refused", |r| {
        matches!(
            r.states.get("R101-PC01"),
            // The code lets the app word it in the teacher's language.
            Some(DeviceState::Offline { reason, code: "bad-picture" }) if reason.contains("holds a 20000x20000 image")
        )
    })
    .await;
    let before = room.updates("R101-PC02");
    room.until("PC02 streaming on", |r| {
        r.online("R101-PC02") && r.updates("R101-PC02") > before + 2
    })
    .await;
    assert!(session.screenshot("R101-PC02").await.is_ok());
}
