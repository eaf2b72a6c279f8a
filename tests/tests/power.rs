//! Power: wake-on-LAN across a router and restarts after a delay. A teacher
//! network and a room network joined by a router (network namespaces); the
//! router's tcpdump sees what crosses each network. The console's own
//! magic packets stay on the teacher's network; an awake agent of the room
//! sends them on the room's (the relay), and only for the room's MACs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pult_e2e::{Agent, RoutedNetworks, School, audit_entries, binary, wait_until};
use pult_protocol::power::Mac;

const AWAKE: &str = "02:00:00:00:01:01";
const ASLEEP: &str = "02:00:00:00:01:02";
const STRANGER: &str = "02:00:00:00:09:09";

/// tcpdump writing the magic packets (UDP port 9) on one interface of a namespace to a file.
struct Capture {
    child: Child,
    file: PathBuf,
}

impl Capture {
    fn start(namespace: &str, link: &str, file: PathBuf) -> Self {
        let log = file.with_extension("log");
        let child = Command::new("ip")
            .args([
                "netns", "exec", namespace, "tcpdump", "-i", link, "-n", "-U", "-w",
            ])
            .arg(&file)
            .args(["udp", "port", "9"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("tcpdump is needed; .ci/run installs it");
        wait_until(Duration::from_secs(10), "tcpdump listening", || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("listening on"))
        });
        Self { child, file }
    }

    /// The magic packets seen, as (source address, MAC woken), once
    /// `enough` holds of them or `within` has passed; then the capture stops.
    /// tcpdump hands packets over a moment after they cross, so a test that
    /// expects none waits its while.
    fn packets(
        mut self,
        within: Duration,
        enough: impl Fn(&[(String, Mac)]) -> bool,
    ) -> Vec<(String, Mac)> {
        let started = std::time::Instant::now();
        let read = || magic_packets(&std::fs::read(&self.file).unwrap_or_default());
        while !enough(&read()) && started.elapsed() < within {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        read()
    }
}

/// The magic packets in a pcap file of Ethernet frames.
fn magic_packets(pcap: &[u8]) -> Vec<(String, Mac)> {
    let u32_at = |at: usize| u32::from_le_bytes(pcap[at..at + 4].try_into().unwrap()) as usize;
    let mut found = Vec::new();
    if pcap.len() < 24 {
        return found; // not written yet
    }
    assert_eq!(u32_at(0), 0xa1b2c3d4, "a little-endian pcap file");
    assert_eq!(u32_at(20), 1, "Ethernet frames");
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let length = u32_at(at + 8);
        let Some(frame) = pcap.get(at + 16..at + 16 + length) else {
            break; // a record still being written
        };
        at += 16 + length;
        let ip = &frame[14..];
        let header = usize::from(ip[0] & 0x0f) * 4;
        let source = format!("{}.{}.{}.{}", ip[12], ip[13], ip[14], ip[15]);
        if let Some(mac) = Mac::from_magic_packet(&ip[header + 8..]) {
            found.push((source, mac));
        }
    }
    found
}

fn mac(text: &str) -> Mac {
    text.parse().unwrap()
}

fn start_agent(networks: &RoutedNetworks, bundle: &Path, power_file: &Path) -> Agent {
    Agent::start_in(
        &networks.room,
        bundle,
        &[
            "--screen",
            "synthetic",
            "--synthetic-size",
            "320x180",
            "--listen",
            &networks.room.address,
            "--session-user",
            "schueler01",
            "--power-record",
            power_file.to_str().unwrap(),
        ],
    )
}

#[test]
fn magic_packets_reach_a_room_behind_a_router_through_an_awake_agent_of_the_room() {
    let networks = RoutedNetworks::new("wol");
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!(
        "name,room,ip,mac\nR101-PC01,101,10.1.2.2,{AWAKE}\nR101-PC02,101,10.1.2.3,{ASLEEP}\nR101-PC03,101,10.1.2.4,\n"
    ));
    let bundle = school.agent_bundle("R101-PC01");
    let _agent = start_agent(&networks, &bundle, &school.path("power.txt"));
    let cert = school.room_cert("101", "mueller", "1h");

    let router = &networks.router.name;
    let teacher_side = Capture::start(
        router,
        &networks.router_links[0],
        school.path("teacher.pcap"),
    );
    let room_side = Capture::start(router, &networks.router_links[1], school.path("room.pcap"));
    let woken = networks
        .teacher
        .command(&binary("pultctl"))
        .arg("--cert")
        .arg(&cert)
        .args(["power", "on", "R101-PC02", "R101-PC03"])
        .output()
        .unwrap();
    let (said, complaints) = (
        String::from_utf8_lossy(&woken.stdout),
        String::from_utf8_lossy(&woken.stderr),
    );
    assert_eq!(
        said.trim(),
        "R101-PC02: magic packets sent from here and from R101-PC01",
        "{complaints}"
    );
    assert!(
        complaints.contains("R101-PC03: the registry has no MAC address for this device"),
        "{complaints}"
    );
    assert!(!woken.status.success(), "a device could not be woken");

    // The teacher's broadcast stays on the teacher's network; the room's
    // network gets the relay's, for PC02 only.
    let sent = |from: &'static str| {
        move |seen: &[(String, Mac)]| seen.contains(&(from.to_owned(), mac(ASLEEP)))
    };
    let teacher_seen = teacher_side.packets(Duration::from_secs(10), sent("10.1.1.2"));
    let room_seen = room_side.packets(Duration::from_secs(10), sent("10.1.2.2"));
    assert!(
        teacher_seen.contains(&("10.1.1.2".into(), mac(ASLEEP))),
        "{teacher_seen:?}"
    );
    assert!(
        !room_seen.is_empty()
            && room_seen
                .iter()
                .all(|p| *p == ("10.1.2.2".into(), mac(ASLEEP))),
        "{room_seen:?}"
    );
    let audit = audit_entries(&bundle.join("audit"));
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "wake" && e["result"] == "ok" && e["detail"] == ASLEEP),
        "{audit:?}"
    );

    // A teacher who adds a MAC to their copy of the room's list wakes it at
    // most on their own network: the relay wakes only what the signed grant lists.
    let manifest_path = cert.join("room.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    for device in manifest["devices"].as_array_mut().unwrap() {
        if device["name"] == "R101-PC02" {
            device["macs"] = serde_json::json!([STRANGER]);
        }
    }
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let room_side = Capture::start(
        router,
        &networks.router_links[1],
        school.path("room-2.pcap"),
    );
    let tampered = networks
        .teacher
        .command(&binary("pultctl"))
        .arg("--cert")
        .arg(&cert)
        .args(["power", "on", "R101-PC02"])
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&tampered.stderr);
    assert!(
        complaints.contains(&format!(
            "{STRANGER} is not a steerable device of the certificate's room"
        )),
        "{complaints}"
    );
    assert_eq!(
        String::from_utf8_lossy(&tampered.stdout).trim(),
        "R101-PC02: magic packets sent from here"
    );
    let room_seen = room_side.packets(Duration::from_secs(2), |_| false);
    assert!(room_seen.is_empty(), "{room_seen:?}");
    let audit = audit_entries(&bundle.join("audit"));
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "wake" && e["result"] == "error" && e["detail"] == STRANGER),
        "{audit:?}"
    );
}

#[test]
fn a_restart_waits_for_its_delay_and_a_cancel_calls_a_shutdown_off() {
    let networks = RoutedNetworks::new("pwr");
    let school = School::with_teacher("Gymnasium Am Park");
    school.import("name,room,ip\nR101-PC01,101,10.1.2.2\n");
    let bundle = school.agent_bundle("R101-PC01");
    let power_file = school.path("power.txt");
    let _agent = start_agent(&networks, &bundle, &power_file);
    let cert = school.room_cert("101", "mueller", "1h");
    let pultctl = |args: &[&str]| {
        let output = networks
            .teacher
            .command(&binary("pultctl"))
            .arg("--cert")
            .arg(&cert)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let recorded = || std::fs::read_to_string(&power_file).unwrap_or_default();

    assert_eq!(
        pultctl(&["power", "shutdown", "--delay", "2"]),
        "R101-PC01: shutdown in 2 s"
    );
    assert_eq!(
        pultctl(&["power", "cancel"]),
        "R101-PC01: power action called off"
    );
    assert_eq!(
        pultctl(&["power", "reboot", "R101-PC01", "--delay", "1"]),
        "R101-PC01: reboot in 1 s"
    );
    wait_until(Duration::from_secs(10), "the restart", || {
        recorded() == "reboot\n"
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(recorded(), "reboot\n", "the shutdown was called off");

    // An hour is the longest delay.
    let refused = networks
        .teacher
        .command(&binary("pultctl"))
        .arg("--cert")
        .arg(&cert)
        .args(["power", "logoff", "--delay", "3601"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("longer than the 3600 s allowed"));

    let audit = audit_entries(&bundle.join("audit"));
    let power: Vec<(String, String)> = audit
        .iter()
        .filter(|e| e["action"] == "power" || e["action"] == "power-cancel")
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        power,
        [
            ("power".to_owned(), "shutdown in 2 s".to_owned()),
            ("power-cancel".to_owned(), "shutdown called off".to_owned()),
            ("power".to_owned(), "reboot in 1 s".to_owned()),
        ]
    );
}
