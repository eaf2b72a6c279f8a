//! The web front end's own tests (vitest, against the fake backend), run as
//! part of `cargo test --workspace`. The app's build script has installed
//! ui/node_modules by now.

use std::path::Path;
use std::process::Command;

#[test]
fn the_room_view_passes_its_unit_tests() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui");
    if !ui.join("node_modules").is_dir() {
        let status = Command::new("npm")
            .args(["install", "--no-save", "--no-audit", "--no-fund"])
            .current_dir(&ui)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "npm install failed in ui/ (see src-tauri/build.rs for why not npm ci)"
        );
    }
    let output = Command::new("npm")
        .args(["test"])
        .current_dir(&ui)
        .output()
        .expect("npm is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("passed"), "{text}");
}
