//! README's first command, `bash scripts/demo.sh`, runs the demo classroom
//! from start to end: screenshots of room 101, refusals for the rest.

use std::process::Command;

use pult_e2e::binary;

#[test]
fn the_demo_classroom_script_runs_through() {
    let bin_dir = binary("pult-agent").parent().unwrap().to_owned();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/demo.sh");
    let output = Command::new("bash")
        .arg(script)
        .env("PULT_BIN_DIR", &bin_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for device in ["R101-PC01", "R101-PC02", "R101-PC03"] {
        assert!(
            stdout.contains(&format!("{device}: saved a 1280x720 screenshot")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!(
                "{device}: opened https://example.org/arbeitsblatt"
            )),
            "{stdout}"
        );
    }
    assert!(
        stderr.contains("'R102-PC01' is not in room 101"),
        "{stderr}"
    );
    assert!(
        stderr.contains("R101-LEHRER: the agent refused this certificate"),
        "{stderr}"
    );
    assert!(
        stdout.contains("Screenshots:") && stdout.contains("(3 files)"),
        "{stdout}"
    );
}
