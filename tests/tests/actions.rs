//! Opening web pages and starting programs really happen on the student
//! computer (R4, R5), and only http and https pages are opened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pult_console::{Console, ConsoleError, RoomCertificate};
use pult_e2e::{Agent, School, free_address, pultctl, recording_opener};
use pult_protocol::message::{ErrorCode, Request, WebUrl};

fn wait_for_file(path: &Path) -> String {
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.is_empty()
        {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} did not appear", path.display());
}

/// Room 101 with two steerable devices and one that is not; agents with recording openers.
struct Room {
    school: School,
    agents: Vec<(Agent, PathBuf)>,
    cert: PathBuf,
}

fn room() -> Room {
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!(
        "name,room,ip,steerable\nR101-PC01,101,{},yes\nR101-PC02,101,{},yes\nR101-LEHRER,101,{},no\n",
        free_address(),
        free_address(),
        free_address()
    ));
    let agents = ["R101-PC01", "R101-PC02", "R101-LEHRER"]
        .iter()
        .map(|name| {
            let bundle = school.agent_bundle(name);
            let opener = recording_opener(&bundle);
            let agent = Agent::start(
                &bundle,
                &[
                    "--screen",
                    "synthetic",
                    "--url-opener",
                    opener.to_str().unwrap(),
                ],
                &[],
            );
            (agent, bundle.join("opened.txt"))
        })
        .collect();
    let cert = school.room_cert("101", "mueller", "1h");
    Room {
        school,
        agents,
        cert,
    }
}

#[test]
fn r5_open_url_runs_the_opener_with_the_url_on_every_steerable_device() {
    let room = room();
    let url = "https://example.org/aufgabe?klasse=7b&x=1";
    let ctl = pultctl(&room.cert, &["open-url", url]);
    assert!(ctl.success, "{}", ctl.stderr);
    assert!(ctl.stdout.contains("R101-PC01: opened"), "{}", ctl.stdout);
    assert!(
        ctl.stdout.contains("R101-LEHRER: skipped, not steerable"),
        "{}",
        ctl.stdout
    );
    for (agent, opened) in &room.agents[..2] {
        assert_eq!(wait_for_file(opened), format!("{url}\n"));
        let entry = agent.wait_for_audit(|e| e["action"] == "open-url");
        assert_eq!(entry["result"], "ok");
        assert_eq!(entry["detail"], url);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !room.agents[2].1.exists(),
        "the not steerable device opened nothing"
    );

    // One device by name.
    let ctl = pultctl(
        &room.cert,
        &["open-url", "http://example.org/zwei", "R101-PC02"],
    );
    assert!(ctl.success, "{}", ctl.stderr);
    for _ in 0..100 {
        if std::fs::read_to_string(&room.agents[1].1)
            .unwrap()
            .lines()
            .count()
            == 2
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read_to_string(&room.agents[1].1)
            .unwrap()
            .lines()
            .nth(1),
        Some("http://example.org/zwei")
    );
    assert_eq!(
        std::fs::read_to_string(&room.agents[0].1)
            .unwrap()
            .lines()
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_and_javascript_urls_are_refused_by_pultctl_and_by_the_agent() {
    let room = room();
    for url in ["file:///etc/passwd", "javascript:alert(1)"] {
        let ctl = pultctl(&room.cert, &["open-url", url, "R101-PC01"]);
        assert!(!ctl.success);
        assert!(ctl.stderr.contains("only http and https"), "{}", ctl.stderr);
    }
    // A console that skips its own check still meets the agent's.
    let certificate = RoomCertificate::load(&room.cert).unwrap();
    let device = certificate.manifest.device("R101-PC01").unwrap().clone();
    let console = Console::new(certificate).unwrap();
    for url in [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/html,<b>x</b>",
    ] {
        let session = console.connect(&device).await.unwrap();
        let request = Request::OpenUrl {
            url: url.to_owned(),
        };
        let error = session.call(&request).await.unwrap_err();
        match error {
            ConsoleError::Agent { error, .. } => {
                assert_eq!(error.code, ErrorCode::UrlRefused, "{url}")
            }
            other => panic!("{url}: {other}"),
        }
        session.close();
    }
    let (agent, opened) = &room.agents[0];
    let refused: Vec<_> = agent
        .audit()
        .into_iter()
        .filter(|e| e["action"] == "open-url" && e["result"] == "error")
        .collect();
    assert_eq!(refused.len(), 3);
    assert!(!opened.exists(), "the opener never ran");
    assert!(WebUrl::parse("file:///etc/passwd").is_err());
}

#[test]
fn r4_run_starts_the_program_detached_and_never_through_a_shell() {
    let room = room();
    let marker = room.school.path("made by the agent; rm -rf nothing");
    let ctl = pultctl(
        &room.cert,
        &[
            "run",
            "touch",
            marker.to_str().unwrap(),
            "--on",
            "R101-PC02",
        ],
    );
    assert!(ctl.success, "{}", ctl.stderr);
    assert!(
        ctl.stdout.contains("R101-PC02: started touch"),
        "{}",
        ctl.stdout
    );
    for _ in 0..100 {
        if marker.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        marker.exists(),
        "the file named with a ';' exists: no shell split the line"
    );
    let entry = room.agents[1]
        .0
        .wait_for_audit(|e| e["action"] == "run-program");
    assert_eq!(entry["result"], "ok");
    assert!(entry["detail"].as_str().unwrap().starts_with("touch "));

    // A program that keeps running does not hold the request up: pultctl is
    // answered while the program still runs.
    let script = room.school.path("long.sh");
    let pid_file = room.school.path("long.pid");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ > '{}'\nexec sleep 600\n",
            pid_file.display()
        ),
    )
    .unwrap();
    let ctl = pultctl(
        &room.cert,
        &[
            "run",
            "/bin/sh",
            script.to_str().unwrap(),
            "--on",
            "R101-PC01",
        ],
    );
    assert!(ctl.success, "{}", ctl.stderr);
    let pid = wait_for_file(&pid_file).trim().to_owned();
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the program is still running"
    );
    let _ = std::process::Command::new("kill").arg(&pid).status();
}

#[test]
fn a_missing_program_is_reported_per_device() {
    let room = room();
    let ctl = pultctl(
        &room.cert,
        &[
            "run",
            "pult-no-such-program",
            "--on",
            "R101-PC01",
            "--on",
            "R101-PC02",
        ],
    );
    assert!(!ctl.success);
    for device in ["R101-PC01", "R101-PC02"] {
        assert!(
            ctl.stderr.contains(&format!(
                "{device}: 'pult-no-such-program' is not installed"
            )),
            "{}",
            ctl.stderr
        );
    }
}
