//! Packaging: Tauri's bundler turns the built app into a .deb with the
//! program, its menu entry and icons, and the program inside it runs.
//!
//! The bundle is made from the test build of `pult` (`tauri bundle --debug`)
//! in a target folder of its own, so the bundler, which patches the binary it
//! packs, never touches the one other tests are running.

// Test helpers: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Bundles the test build of `pult` as a .deb; returns the package's path.
fn bundle_deb(work: &Path) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = work.join("target");
    std::fs::create_dir_all(target.join("debug")).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_pult"), target.join("debug/pult")).unwrap();
    run(Command::new(repo.join("ui/node_modules/.bin/tauri"))
        .args(["bundle", "--debug", "--bundles", "deb", "--ci"])
        .current_dir(&repo)
        .env("CARGO_TARGET_DIR", &target));
    let folder = target.join("debug/bundle/deb");
    let debs: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    assert_eq!(
        debs.len(),
        1,
        "one package in {}: {debs:?}",
        folder.display()
    );
    debs.into_iter().next().unwrap()
}

#[test]
fn the_deb_holds_the_app_its_menu_entry_and_icons_and_the_app_runs() {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package");
    let _ = std::fs::remove_dir_all(&work);
    let deb = bundle_deb(&work);
    assert!(
        deb.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("Pult_0.1.0_"),
        "{}",
        deb.display()
    );

    let fields = text(&run(Command::new("dpkg-deb").arg("--field").arg(&deb)));
    for field in [
        "Package: pult",
        "Version: 0.1.0",
        "libwebkit2gtk-4.1-0",
        "libgtk-3-0",
    ] {
        assert!(fields.contains(field), "{field} in:\n{fields}");
    }

    let root = work.join("root");
    run(Command::new("dpkg-deb")
        .arg("--extract")
        .arg(&deb)
        .arg(&root));
    let entry = std::fs::read_to_string(root.join("usr/share/applications/Pult.desktop"))
        .expect("a menu entry");
    for line in ["Exec=pult", "Icon=pult", "Categories=Education;"] {
        assert!(entry.lines().any(|l| l == line), "{line} in:\n{entry}");
    }
    for size in ["32x32", "128x128"] {
        let icon = root.join(format!("usr/share/icons/hicolor/{size}/apps/pult.png"));
        assert!(icon.is_file(), "{}", icon.display());
    }
    // The maintainer scripts: an installation with the registry and a
    // teacher token enrols the PC; a purge forgets it.
    let control = work.join("control");
    run(Command::new("dpkg-deb")
        .arg("--control")
        .arg(&deb)
        .arg(&control));
    let postinst = std::fs::read_to_string(control.join("postinst")).expect("a postinst");
    assert!(postinst.contains("/usr/bin/pult enroll"), "{postinst}");
    assert!(
        !postinst.contains("--token"),
        "the token goes by the environment"
    );
    let postrm = std::fs::read_to_string(control.join("postrm")).expect("a postrm");
    assert!(postrm.contains("/etc/pult/teacher-pc"), "{postrm}");

    // The packed program is the app: its headless demo brings a room online.
    // (This is the test build, where the feature `demo` is on for the app's
    // tests; the release build `tauri build` makes has not got it, see below.)
    let demo = run(Command::new(root.join("usr/bin/pult"))
        .args(["demo", "--headless", "--devices", "2", "--seconds", "4"])
        .env_remove("DISPLAY"));
    let said = text(&demo);
    assert!(
        said.lines().any(|l| l.starts_with("2 of 2 online")),
        "{said}"
    );
    std::fs::remove_dir_all(&work).ok();
}

/// The app as `tauri build` compiles it (default features) contains neither
/// the student agent nor the registry: the demo classroom that needs them is
/// behind the feature `demo` (DESIGN.md). Fails if either comes back as a
/// dependency of the app, directly or through another crate.
#[test]
fn the_packaged_app_contains_neither_agent_nor_registry() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tree = text(&run(Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            "pult",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(&repo)));
    assert!(tree.contains("pult-console"), "{tree}");
    for crate_name in ["pult-agent", "pult-registry", "pult-demo", "rusqlite"] {
        assert!(
            !tree
                .lines()
                .any(|l| l.starts_with(&format!("{crate_name} "))),
            "the app depends on {crate_name}:\n{tree}"
        );
    }
}
