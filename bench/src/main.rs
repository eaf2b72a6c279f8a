//! pult-bench: measures Pult's screen streams and prints a table.
//!
//! Scenes: the synthetic classroom desktop (the agent draws it), and a scripted
//! Xvfb scene (a painter process draws the same desktop into an X display that
//! the agent captures through X11), captured by a single-process agent and by
//! the agent as it is installed, a service with its session helper. The VNC baseline reads the Xvfb scene
//! through x11vnc with an RFB client built in here, asking for full updates at
//! the same rate. Every agent and the painter run as processes of their own
//! (this binary, started as `pult-bench agent ...` or `pult-bench paint ...`),
//! so CPU time is measured per process from /proc.
//!
//! `cargo run --release -p pult-bench [-- --quick | --smoke]`
//!
//! The broadcast benchmark (R7) is a command of its own, since it starts up
//! to 40 agents: `cargo run --release -p pult-bench -- broadcast [--quick | --smoke]`.
//! So is the files benchmark (R6), in network namespaces with a shaped
//! uplink: `cargo run --release -p pult-bench -- files [--quick | --smoke]`.

mod broadcast;
mod files;
mod measure;
mod notice;
mod paint;
mod procs;
mod rfb;
mod scene;
mod sink;
mod target;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match args.get(1).and_then(|a| a.to_str()) {
        // The agent, as a process of its own.
        Some("agent") => pult_agent::cli::main(
            std::iter::once("pult-agent".into()).chain(args.into_iter().skip(2)),
        ),
        // What an agent service starts of itself: its session helper, and
        // the helper's notice bridge.
        Some("helper" | "notice-bridge") => pult_agent::cli::main(args),
        // The Xvfb scene's painter, as a process of its own.
        Some("paint") => report(paint::main(&args[2..])),
        // The broadcast benchmark's teacher screen, as a process of its own.
        Some("scene") => report(scene::main(&args[2..])),
        // The broadcast benchmark's wire sinks, in a process of their own.
        Some("sink") => report(sink::main(&args[2..])),
        // The files benchmark's console, in the teacher's namespace.
        Some("files-teacher") => report(files::teacher(&args[2..])),
        Some(command @ ("broadcast" | "files")) => {
            let length = match args.get(2).and_then(|a| a.to_str()) {
                None => measure::Length::Full,
                Some("--quick") => measure::Length::Quick,
                Some("--smoke") => measure::Length::Smoke,
                Some(other) => {
                    eprintln!("usage: pult-bench {command} [--quick | --smoke]   (not '{other}')");
                    return ExitCode::from(2);
                }
            };
            report(if command == "files" {
                files::main(length)
            } else {
                broadcast::main(length)
            })
        }
        None => report(measure::main(measure::Length::Full)),
        Some("--quick") => report(measure::main(measure::Length::Quick)),
        Some("--smoke") => report(measure::main(measure::Length::Smoke)),
        Some(other) => {
            eprintln!(
                "usage: pult-bench [broadcast | files] [--quick | --smoke]   (not '{other}')"
            );
            ExitCode::from(2)
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pult-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}
