//! Builds the web front end (ui/, with npm) when it is missing or older than
//! its sources, so that `cargo build` alone yields a working app; then lets
//! Tauri embed it.

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

fn main() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui");
    for watched in [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ] {
        println!("cargo:rerun-if-changed={}", ui.join(watched).display());
    }
    let built = ui.join("dist/index.html");
    if newest(&ui.join("src")).max(newest(&ui.join("index.html"))) > modified(&built) {
        if !ui.join("node_modules").is_dir() {
            // Not `npm ci`: it insists that the lock list every platform's
            // optional binary (esbuild, rollup, the Tauri CLI), and a registry
            // mirror that carries only this platform's makes it refuse. A
            // `--no-save` install still takes every version from the lock.
            npm(&ui, &["install", "--no-save", "--no-audit", "--no-fund"]);
        }
        npm(&ui, &["run", "build"]);
    }
    tauri_build::build();
}

fn npm(dir: &Path, args: &[&str]) {
    let status = Command::new("npm")
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| panic!("the app's web front end needs Node.js and npm ({e}); install them, or build ui/ yourself"));
    assert!(
        status.success(),
        "npm {} failed in {}",
        args.join(" "),
        dir.display()
    );
}

/// The newest modification time of a file or of anything below a folder.
fn newest(path: &Path) -> Option<SystemTime> {
    let mut times = vec![modified(path)];
    if let Ok(entries) = std::fs::read_dir(path) {
        times.extend(entries.flatten().map(|e| newest(&e.path())));
    }
    times.into_iter().flatten().max()
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
