//! `pult demo --headless`: the demo classroom without a window, as CI and
//! people without a display run it — every device comes online with its user.

use std::process::Command;

#[test]
fn the_headless_demo_brings_the_whole_room_online() {
    let output = Command::new(env!("CARGO_BIN_EXE_pult"))
        .args(["demo", "--headless", "--devices", "6", "--seconds", "6"])
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for i in 1..=6 {
        assert!(
            stdout.contains(&format!("PC-0{i} at 127.0.0.10{i}:")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("online, user schueler0{i}")),
            "{stdout}"
        );
    }
    let last = stdout
        .lines()
        .rfind(|l| l.contains(" online, "))
        .unwrap_or_default();
    assert!(last.starts_with("6 of 6 online"), "{stdout}");
    let updates: u32 = last
        .split(", ")
        .nth(1)
        .and_then(|p| p.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(updates > 0, "screens are streaming: {last}");
}

#[test]
fn without_a_room_certificate_pult_says_where_it_looked_and_how_to_start() {
    let config = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pult-without-room");
    let output = Command::new(env!("CARGO_BIN_EXE_pult"))
        .env("XDG_CONFIG_HOME", &config)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    let looked = config.join("pult/room");
    assert!(
        said.contains(&format!(
            "the room certificate in {} cannot be used: there is none",
            looked.display()
        )) && said.contains("pult [--cert DIR]")
            && said.contains("pult demo"),
        "{said}"
    );
}
