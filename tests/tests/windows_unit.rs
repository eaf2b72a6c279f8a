//! The agent's crates built for Windows, and their unit tests run there:
//! under Wine on an Xvfb display (issue 8), through the runner in
//! `.cargo/config.toml`. Part of `cargo test --workspace`, so that one
//! command tests the Windows agent too.

use std::process::Command;

use pult_e2e::Xvfb;
use pult_e2e::wine::{WINDOWS_TARGET, project_root};

#[test]
fn the_agents_unit_tests_pass_on_windows() {
    let xvfb = Xvfb::start(1024, 768);
    let prefix = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO"))
        .args(["test", "--target", WINDOWS_TARGET])
        .args([
            "-p",
            "pult-agent-windows",
            "-p",
            "pult-protocol",
            "-p",
            "pult-agent",
            // H.264 (a broadcast's film, R7) decodes on Windows too.
            "-p",
            "pult-screen",
        ])
        .current_dir(project_root())
        .env("DISPLAY", &xvfb.display)
        // A prefix of its own, made by scripts/wine-run on first use.
        .env("WINEPREFIX", prefix.path())
        .output()
        .expect("cargo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let _ = Command::new("wineserver")
        .arg("-k")
        .env("WINEPREFIX", prefix.path())
        .status();
    assert!(
        output.status.success(),
        "the Windows unit tests failed:\n{stdout}\n{stderr}"
    );
    // Each test binary prints "test result: ok. N passed; ..."; the sum shows
    // the tests really ran (an empty build would pass too).
    let passed: u32 = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("test result: ok. "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<u32>().ok())
        .sum();
    println!("{passed} unit tests passed under Wine");
    assert!(
        passed >= 50,
        "only {passed} Windows unit tests ran:\n{stdout}"
    );
}
