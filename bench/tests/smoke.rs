//! The benchmark runs through in its shortest form, so it cannot rot unseen:
//! every scene, the VNC baseline, the service with its session helper and the
//! many-agents cases and the input latency produce their rows.
//! Its figures are not checked here (tests never assert timings).

use std::process::Command;
use std::sync::Mutex;

/// The two runs start agents, Xvfbs and painters by the dozen: one at a
/// time, or on two cores they starve each other's agents of their start.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn the_benchmark_runs_every_case() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let output = Command::new(env!("CARGO_BIN_EXE_pult-bench"))
        .arg("--smoke")
        .output()
        .expect("runs pult-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for row in [
        "| synthetic 1920x1080 ",
        "| synthetic, still ",
        "| Xvfb scene 1920x1080 ",
        "VNC (x11vnc, ZRLE) full updates @5",
        "| Xvfb scene, still ",
        "service + helper: thumbnail 320x180 @5",
        "service + helper: full view @max",
        "service + helper: full view @30, still screen",
        "| 10 agents, synthetic 1280x720 ",
        "| 40 agents, synthetic 1280x720 ",
        "| 10 agents, Xvfb scene 1280x720 ",
        "one console, service + helper each",
        "Idle (a console connected, nobody watching",
        "Notice (R1)",
        "Helper hop, service + helper against one process",
        "Ratios ours:VNC",
        "Target thumbnail",
        "Per 1920x1080 frame",
        "Input latency (R3)",
        "Target input p95",
    ] {
        assert!(stdout.contains(row), "no '{row}' in\n{stdout}");
    }
    assert!(!stdout.contains("streams failed"), "{stdout}");
}

/// The broadcast benchmark (R7) in its shortest form: every row is there,
/// and the film reached real agents as H.264 while the slides went as
/// tiles (what is encoded is behaviour, not a timing).
#[test]
fn the_broadcast_benchmark_runs_every_case() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let output = Command::new(env!("CARGO_BIN_EXE_pult-bench"))
        .args(["broadcast", "--smoke"])
        .output()
        .expect("runs pult-bench broadcast");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // "| video to 1 | 25.1 / 25.1 | ... | 27 | 50 (50) / 50 | 34 / 43 |": the
    // H.264 frames among the pictures encoded.
    let h264_frames = |run: &str| -> u64 {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {run} |")))
            .unwrap_or_else(|| panic!("no row '{run}' in\n{stdout}"));
        let cell = row.split('|').nth(7).unwrap_or_default();
        cell.split(['(', ')'])
            .nth(1)
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("'{row}'"))
    };
    for run in ["slides to 1", "slides to 3", "slides to 3, one stalled"] {
        assert_eq!(h264_frames(run), 0, "{run}: slides go as tiles");
    }
    for run in ["video to 1", "video to 3", "video to 3, one stalled"] {
        assert!(
            h264_frames(run) > 0,
            "{run}: the film goes as H.264\n{stdout}"
        );
    }
    assert_eq!(h264_frames("video to 3, tiles only"), 0);
}

/// The files benchmark (R6) in its shortest form: namespaces, a shaped
/// uplink, real agents writing every copy (the run fails if one copy is
/// missing or its hash is wrong), and the run with one slow student ending
/// once the others have their file.
#[test]
fn the_files_benchmark_runs_every_case() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let output = Command::new(env!("CARGO_BIN_EXE_pult-bench"))
        .args(["files", "--smoke"])
        .output()
        .expect("runs pult-bench files");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for row in [
        "| 4 MB to 1, uplink 100 Mbit/s |",
        "| 4 MB to 3, uplink 100 Mbit/s |",
        "| 4 MB to 3, one at 10 Mbit/s, uplink 100 Mbit/s (the slow one",
        "4 MB to 3, one at 10 Mbit/s, uplink 100 Mbit/s: the others' p50 ",
    ] {
        assert!(stdout.contains(row), "no '{row}' in\n{stdout}");
    }
}
