//! The console engine over a room of real agents: every device comes online
//! with its user, a killed agent goes offline and comes back streaming by
//! itself, a not steerable device is shown as such, and an action on a
//! selection reports per device; one console at a time controls a device.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pult_console::{
    Action, DeviceState, DeviceStatus, RoomCertificate, RoomEvent, RoomSession, SessionOptions,
};
use pult_e2e::{Agent, School, free_address, recording_opener};
use pult_protocol::input::{InputEvent, KeyCombo, ScreenPoint};
use pult_protocol::message::WebUrl;
use pult_protocol::watch::WatchSettings;
use tokio::sync::mpsc;

const DEVICES: usize = 12;

struct Room {
    school: School,
    bundles: Vec<PathBuf>,
    agents: Vec<Option<Agent>>,
    cert: PathBuf,
}

fn start(bundle: &Path, user: &str) -> Agent {
    let opener = recording_opener(bundle);
    Agent::start(
        bundle,
        &[
            "--screen",
            "synthetic",
            "--synthetic-size",
            "320x180",
            "--session-user",
            user,
            "--url-opener",
            opener.to_str().unwrap(),
        ],
        &[],
    )
}

fn room() -> Room {
    let school = School::with_teacher("Gymnasium Am Park");
    let mut csv = String::from("name,room,position,ip,steerable\n");
    for i in 1..=DEVICES {
        csv.push_str(&format!(
            "R101-PC{i:02},101,Platz {i},{},yes\n",
            free_address()
        ));
    }
    csv.push_str(&format!("R101-LEHRER,101,Pult,{},no\n", free_address()));
    school.import(&csv);
    let mut bundles = Vec::new();
    let mut agents = Vec::new();
    for i in 1..=DEVICES {
        let bundle = school.agent_bundle(&format!("R101-PC{i:02}"));
        agents.push(Some(start(&bundle, &format!("schueler{i:02}"))));
        bundles.push(bundle);
    }
    let teacher = school.agent_bundle("R101-LEHRER");
    agents.push(Some(start(&teacher, "lehrerin")));
    bundles.push(teacher);
    let cert = school.room_cert("101", "mueller", "1h");
    Room {
        school,
        bundles,
        agents,
        cert,
    }
}

/// Follows the events, keeping the latest status per device and counting screen updates.
struct Watcher {
    events: mpsc::Receiver<RoomEvent>,
    statuses: HashMap<String, DeviceStatus>,
    updates: HashMap<String, usize>,
}

impl Watcher {
    /// Reads events until `done` holds (or panics after `limit`); returns how long it took.
    async fn until(
        &mut self,
        limit: Duration,
        what: &str,
        done: impl Fn(&Watcher) -> bool,
    ) -> Duration {
        let started = Instant::now();
        while !done(self) {
            let left = limit
                .checked_sub(started.elapsed())
                .unwrap_or_else(|| panic!("{what}: not within {limit:?}; {:#?}", self.statuses));
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(RoomEvent::Status(status))) => {
                    self.statuses.insert(status.name.clone(), status);
                }
                Ok(Some(RoomEvent::Screen { device, update })) => {
                    if !update.tiles.is_empty() {
                        *self.updates.entry(device).or_default() += 1;
                    }
                }
                Ok(None) => panic!("the session ended"),
                Err(_) => {}
            }
        }
        started.elapsed()
    }

    fn state(&self, device: &str) -> Option<&DeviceState> {
        self.statuses.get(device).map(|s| &s.state)
    }

    fn online(&self) -> usize {
        self.statuses
            .values()
            .filter(|s| s.state == DeviceState::Online)
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_of_twelve_comes_online_survives_a_dead_agent_and_acts_per_device() {
    let mut room = room();
    let certificate = RoomCertificate::load(&room.cert).unwrap();
    let options = SessionOptions {
        thumbnail: WatchSettings {
            max_width: 160,
            max_height: 90,
            ..WatchSettings::THUMBNAIL
        },
        discover: false,
        viewer_credit: None,
    };
    let (session, events) = RoomSession::start(certificate, options).unwrap();
    let mut watcher = Watcher {
        events,
        statuses: HashMap::new(),
        updates: HashMap::new(),
    };

    // Everyone online, with the user logged on (R15); the teacher's PC not steerable.
    watcher
        .until(Duration::from_secs(30), "all online", |w| {
            w.online() == DEVICES
        })
        .await;
    watcher
        .until(Duration::from_secs(10), "thumbnails from all", |w| {
            w.updates.len() == DEVICES
        })
        .await;
    assert_eq!(
        watcher.statuses["R101-PC07"].user.as_deref(),
        Some("schueler07")
    );
    assert_eq!(
        watcher.statuses["R101-PC07"].position.as_deref(),
        Some("Platz 7")
    );
    assert_eq!(
        watcher.state("R101-LEHRER"),
        Some(&DeviceState::NotSteerable)
    );
    assert_eq!(session.statuses().len(), DEVICES + 1);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        room.agents[DEVICES].as_ref().unwrap().audit().is_empty(),
        "the not steerable device was never contacted"
    );

    // A dead agent goes offline by itself (R1: the teacher sees it at once).
    room.agents[4] = None; // killed
    let took = watcher
        .until(Duration::from_secs(10), "PC05 offline", |w| {
            matches!(w.state("R101-PC05"), Some(DeviceState::Offline { .. }))
        })
        .await;
    eprintln!("a killed agent showed as offline after {took:?}");
    assert!(watcher.statuses["R101-PC05"].user.is_none());

    // Restarted, it is online and streaming again without anyone doing anything.
    room.agents[4] = Some(start(&room.bundles[4], "schueler05"));
    let before = watcher.updates.get("R101-PC05").copied().unwrap_or(0);
    watcher
        .until(Duration::from_secs(15), "PC05 back", |w| {
            w.state("R101-PC05") == Some(&DeviceState::Online)
        })
        .await;
    watcher
        .until(Duration::from_secs(10), "PC05 streaming", |w| {
            w.updates.get("R101-PC05").copied().unwrap_or(0) > before
        })
        .await;

    // An action on a selection: two online, the teacher's PC, and one that is off.
    room.agents[8] = None;
    watcher
        .until(Duration::from_secs(10), "PC09 offline", |w| {
            matches!(w.state("R101-PC09"), Some(DeviceState::Offline { .. }))
        })
        .await;
    let selection: Vec<String> = ["R101-PC01", "R101-PC02", "R101-LEHRER", "R101-PC09"]
        .map(String::from)
        .to_vec();
    let url = WebUrl::parse("https://example.org/aufgabe-3").unwrap();
    let results = session.act(&selection, &Action::OpenUrl(url)).await;
    let outcome: Vec<(&str, bool)> = results
        .iter()
        .map(|(d, r)| (d.as_str(), r.is_ok()))
        .collect();
    assert_eq!(
        outcome,
        [
            ("R101-PC01", true),
            ("R101-PC02", true),
            ("R101-LEHRER", false),
            ("R101-PC09", false)
        ]
    );
    assert!(
        results[2]
            .1
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("not steerable")
    );
    for bundle in &room.bundles[..2] {
        // The opener runs detached; give it a moment to write its whole line
        // (the file exists as soon as the shell opens it, before the line).
        let file = bundle.join("opened.txt");
        for _ in 0..100 {
            if std::fs::read_to_string(&file).is_ok_and(|text| text.ends_with('\n')) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            std::fs::read_to_string(file).unwrap(),
            "https://example.org/aufgabe-3\n"
        );
    }
    assert!(!room.bundles[DEVICES].join("opened.txt").exists());

    // Remote control (R3) through the session: one console at a time, the
    // device free again when control ends; a not steerable device refused.
    let mut control = session.control("R101-PC03").await.unwrap();
    control
        .send_all(&KeyCombo::parse("ctrl+alt+t").unwrap().events())
        .await
        .unwrap();
    control
        .send(&InputEvent::Text("Grüße".into()))
        .await
        .unwrap();
    control
        .glide_to(ScreenPoint::fraction(None, 0.5, 0.5))
        .await
        .unwrap();
    let (second, _events) = RoomSession::start(
        RoomCertificate::load(&room.cert).unwrap(),
        SessionOptions::default(),
    )
    .unwrap();
    let mut attempts = 0;
    let busy = loop {
        match second.control("R101-PC03").await {
            Err(error) if error.code() == "in-use" => break error,
            // The second session is still connecting.
            Err(_) if attempts < 100 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("the second console: {error}"),
            Ok(_) => panic!("a second console took control"),
        }
    };
    assert!(
        busy.to_string()
            .contains("mueller (room 101) controls this computer now"),
        "{busy}"
    );
    assert_eq!(control.end().await.unwrap(), vec![]);
    let again = second.control("R101-PC03").await.unwrap();
    assert_eq!(again.end().await.unwrap(), vec![]);
    assert!(session.control("R101-LEHRER").await.is_err());

    // A screenshot through the session, and a bigger view of one device.
    let shot = session.screenshot("R101-PC03").await.unwrap();
    assert_eq!((shot.width, shot.height), (320, 180));
    session
        .watch(
            "R101-PC03",
            WatchSettings {
                max_width: 320,
                max_height: 180,
                ..WatchSettings::FULL_VIEW
            },
        )
        .await
        .unwrap();
    let _ = room.school.path("done");
}

/// With viewer credit, a device's stream hands out only that many updates
/// until the viewer reports them shown: a slow web view slows the agent
/// instead of collecting pictures. The next comes once one is shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_shows_nothing_gets_no_more_than_its_credit() {
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!("name,room,ip\nR101-PC01,101,{}\n", free_address()));
    let bundle = school.agent_bundle("R101-PC01");
    let _agent = start(&bundle, "schueler01");
    let certificate = RoomCertificate::load(&school.room_cert("101", "mueller", "1h")).unwrap();
    let options = SessionOptions {
        thumbnail: WatchSettings {
            max_fps: 30,
            ..WatchSettings::THUMBNAIL
        },
        discover: false,
        viewer_credit: Some(2),
    };
    let (session, mut events) = RoomSession::start(certificate, options).unwrap();

    // Screen updates until none has come for `quiet` (or `limit` has passed).
    async fn screens(
        events: &mut mpsc::Receiver<RoomEvent>,
        quiet: Duration,
        limit: Duration,
    ) -> usize {
        let started = Instant::now();
        let mut count = 0;
        while started.elapsed() < limit {
            match tokio::time::timeout(quiet, events.recv()).await {
                Ok(Some(RoomEvent::Screen { .. })) => count += 1,
                Ok(Some(RoomEvent::Status(_))) => {}
                Ok(None) => panic!("the session ended"),
                Err(_) => break,
            }
        }
        count
    }

    // The synthetic desktop changes at 30 fps, yet only the credit arrives.
    let first = screens(&mut events, Duration::from_secs(3), Duration::from_secs(30)).await;
    assert_eq!(first, 2, "updates handed out without being shown");
    // One shown, one more; both shown, two more.
    session.shown("R101-PC01");
    assert_eq!(
        screens(&mut events, Duration::from_secs(3), Duration::from_secs(30)).await,
        1
    );
    session.shown("R101-PC01");
    session.shown("R101-PC01");
    assert_eq!(
        screens(&mut events, Duration::from_secs(3), Duration::from_secs(30)).await,
        2
    );
    // A new page: the old one's updates are forgotten and the stream goes on.
    session.viewer_replaced();
    assert_eq!(
        screens(&mut events, Duration::from_secs(3), Duration::from_secs(30)).await,
        2
    );
}
