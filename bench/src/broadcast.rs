//! The broadcast benchmark (R7): the teacher's 1920x1080 Xvfb screen — slides
//! or a full-screen film — captured and encoded once by the console (this
//! process) and fanned out to 1, 10 and 40 real agents on loopback, each
//! its own process. Two of them show the broadcast on an Xvfb of their own;
//! the others decode every picture and show it nowhere (a synthetic
//! screen). Figures come from the console's report and from each agent's
//! audit line at the end of its broadcast (pictures shown, capture to
//! screen latency). One more run sends the film to 40 where all but the
//! two shown are wire sinks ([`crate::sink`]): what the teacher's side
//! delivers when the students' decoding is not on this machine's cores.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use pult_console::{Broadcast, Console, RoomCertificate, ScreenSource};
use pult_protocol::broadcast::BroadcastMode;
use pult_screen::DesktopCapture;

use crate::measure::{Length, machine};
use crate::procs::{self, Process};

/// Receivers that show the broadcast on an X display of their own.
const SHOWN_IN_XVFB: usize = 2;

/// One run: a scene to a number of receivers.
struct Run {
    scene: &'static str,
    receivers: usize,
    /// One receiver stops reading (SIGSTOP) for the whole measured time.
    stalled: bool,
    /// A film may go as H.264 (the default); without, everything is tiles
    /// (the baseline for the film).
    video: bool,
    /// All receivers but the two shown in Xvfb are wire sinks that check
    /// each picture and decode nothing.
    sinks: bool,
}

/// What one run measured.
struct Figures {
    run: String,
    fps_p50: f64,
    fps_worst: f64,
    kb_per_receiver: f64,
    mbit_total: f64,
    console_cpu: f64,
    receivers_cpu: f64,
    encoded: u64,
    video_frames: u64,
    sent: u64,
    latency_p50: f64,
    latency_p95: f64,
}

/// One agent's audit line at the end of its broadcast.
struct Shown {
    pictures: f64,
    seconds: f64,
    p50: f64,
    p95: f64,
}

/// `pult-bench broadcast [--quick | --smoke]`: runs every case and prints the table.
pub(crate) fn main(length: Length) -> Result<()> {
    let (seconds, counts): (u64, &[usize]) = match length {
        Length::Full => (12, &[1, 10, 40]),
        Length::Quick => (5, &[1, 10, 40]),
        Length::Smoke => (2, &[1, 3]),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!("{}", machine());
    let mut rows = Vec::new();
    for scene in ["slides", "video"] {
        let teacher = procs::xvfb(1920, 1080)?;
        let _painter = procs::scene(&teacher.display, scene, 25)?;
        std::thread::sleep(Duration::from_millis(800));
        let mut runs: Vec<Run> = counts
            .iter()
            .map(|&receivers| Run {
                scene,
                receivers,
                stalled: false,
                video: true,
                sinks: false,
            })
            .collect();
        let some = counts[counts.len().min(2) - 1];
        runs.push(Run {
            scene,
            receivers: some,
            stalled: true,
            video: true,
            sinks: false,
        });
        if scene == "video" {
            // The baseline: the same film as tiles only.
            runs.push(Run {
                scene,
                receivers: some,
                stalled: false,
                video: false,
                sinks: false,
            });
            // The class's decoding off this machine: the console to 40.
            runs.push(Run {
                scene,
                receivers: counts[counts.len() - 1],
                stalled: false,
                video: true,
                sinks: true,
            });
        }
        for run in runs {
            let figures = runtime
                .block_on(measure(
                    &run,
                    &teacher.display,
                    Duration::from_secs(seconds),
                ))
                .with_context(|| format!("{} to {}", run.scene, run.receivers))?;
            println!(
                "{}",
                render(std::slice::from_ref(&figures))
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            rows.push(figures);
        }
    }
    println!("\n{}", render(&rows));
    Ok(())
}

async fn measure(run: &Run, teacher: &str, duration: Duration) -> Result<Figures> {
    let addresses = (0..run.receivers)
        .map(|_| procs::free_address())
        .collect::<Result<Vec<_>>>()?;
    let mut school = pult_demo::School::new("Benchmark-Schule", &addresses)?;
    let mut agents: Vec<(Process, PathBuf)> = Vec::new();
    let mut screens = Vec::new();
    let mut sink_bundles = Vec::new();
    for index in 0..run.receivers {
        let bundle = school.bundle(index)?;
        if run.sinks && index >= SHOWN_IN_XVFB {
            sink_bundles.push(bundle);
            continue;
        }
        let agent = if index < SHOWN_IN_XVFB {
            let screen = procs::xvfb(1280, 720)?;
            let agent = procs::agent(
                &bundle,
                &["--mdns", "off", "--screen", "x11"],
                Some(&screen.display),
            )?;
            screens.push(screen);
            agent
        } else {
            procs::agent(
                &bundle,
                &[
                    "--mdns",
                    "off",
                    "--screen",
                    "synthetic",
                    "--synthetic-size",
                    "320x180",
                    "--synthetic-speed",
                    "0",
                ],
                None,
            )?
        };
        agents.push((agent, bundle.join("audit")));
    }
    let sinks = if sink_bundles.is_empty() {
        None
    } else {
        Some(procs::sinks(&sink_bundles)?)
    };
    let room = RoomCertificate::load(&school.certificate()?)?;
    let devices = room.manifest.devices.clone();
    let console = Arc::new(Console::new(room)?);
    let display = teacher.to_owned();
    let video = run.video;
    let broadcast = tokio::task::spawn_blocking(move || {
        Broadcast::from_screen(
            Box::new(DesktopCapture::x11(&display)),
            ScreenSource {
                video_bitrate: if video {
                    ScreenSource::default().video_bitrate
                } else {
                    0
                },
                ..ScreenSource::default()
            },
        )
    })
    .await??;
    for device in devices {
        let console = console.clone();
        let name = device.name.clone();
        broadcast
            .send_to(&name, BroadcastMode::FullScreen, move || {
                let (console, device) = (console.clone(), device.clone());
                async move { console.connect(&device).await.map(Arc::new) }
            })
            .await;
    }
    let started = Instant::now();
    while !broadcast.report().receivers.iter().all(|r| r.showing) {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("not every agent showed the broadcast within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Settle, then measure; a film must have been found first (about a
    // second of pictures; longer where the scene paints slowly).
    tokio::time::sleep(Duration::from_secs(1)).await;
    if run.scene == "video" && run.video {
        while broadcast.report().fanout.video_frames == 0 {
            if started.elapsed() > Duration::from_secs(40) {
                bail!("the film was not found within 40 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let stalled = run
        .stalled
        .then(|| agents.last().map(|(a, _)| a.pid()))
        .flatten();
    if let Some(pid) = stalled {
        signal(pid, "-STOP")?;
    }
    let receivers_cpu = || -> f64 {
        agents
            .iter()
            .map(|(a, _)| a.pid())
            .chain(sinks.as_ref().map(|s| s.process.pid()))
            .filter_map(|pid| procs::process_cpu_seconds(pid).ok())
            .sum()
    };
    let receivers_before = receivers_cpu();
    let (cpu_before, before, clock) = (
        procs::own_cpu_seconds()?,
        broadcast.report(),
        Instant::now(),
    );
    tokio::time::sleep(duration).await;
    let (cpu_after, after, seconds) = (
        procs::own_cpu_seconds()?,
        broadcast.report(),
        clock.elapsed().as_secs_f64(),
    );
    let receivers_after = receivers_cpu();
    broadcast.stop().await;
    if let Some(pid) = stalled {
        signal(pid, "-CONT")?;
    }
    // Each agent's own account, from its audit log.
    let mut shown = Vec::new();
    for (index, (agent, audit)) in agents.iter().enumerate() {
        if Some(agent.pid()) == stalled {
            continue;
        }
        shown.push(
            wait_for_account(audit)
                .with_context(|| format!("agent {}", pult_demo::device_name(index)))?,
        );
    }
    if let Some(sinks) = &sinks {
        for line in sinks.accounts(sink_bundles.len())? {
            shown.push(parse_sink_account(&line).with_context(|| format!("reading '{line}'"))?);
        }
    }
    let mut fps: Vec<f64> = shown
        .iter()
        .map(|s| s.pictures / s.seconds.max(0.1))
        .collect();
    fps.sort_by(f64::total_cmp);
    let mut p50s: Vec<f64> = shown.iter().map(|s| s.p50).collect();
    p50s.sort_by(f64::total_cmp);
    let worst_p95 = shown.iter().map(|s| s.p95).fold(0.0, f64::max);
    let mut per_receiver: Vec<f64> = after
        .receivers
        .iter()
        .zip(&before.receivers)
        .map(|(a, b)| (a.bytes - b.bytes) as f64 / seconds / 1000.0)
        .collect();
    per_receiver.sort_by(f64::total_cmp);
    let total_bytes = (after.fanout.bytes_sent - before.fanout.bytes_sent) as f64;
    Ok(Figures {
        run: format!(
            "{} to {}{}{}{}",
            run.scene,
            run.receivers,
            if run.stalled { ", one stalled" } else { "" },
            if run.video { "" } else { ", tiles only" },
            if sink_bundles.is_empty() {
                String::new()
            } else {
                format!(", {} wire sinks", sink_bundles.len())
            }
        ),
        fps_p50: median(&fps),
        fps_worst: fps.first().copied().unwrap_or(0.0),
        kb_per_receiver: median(&per_receiver),
        mbit_total: total_bytes * 8.0 / seconds / 1e6,
        console_cpu: (cpu_after - cpu_before) / seconds * 100.0,
        receivers_cpu: (receivers_after - receivers_before) / seconds * 100.0,
        encoded: after.pictures_encoded - before.pictures_encoded,
        video_frames: after.fanout.video_frames - before.fanout.video_frames,
        sent: after.fanout.updates_sent - before.fanout.updates_sent,
        latency_p50: median(&p50s),
        latency_p95: worst_p95,
    })
}

/// Waits for the agent's broadcast-end line and reads its figures.
fn wait_for_account(audit: &std::path::Path) -> Result<Shown> {
    let started = Instant::now();
    loop {
        let line = pult_e2e::audit_entries(audit)
            .into_iter()
            .rev()
            .find(|e| e["action"] == "broadcast-end")
            .and_then(|e| e["detail"].as_str().map(str::to_owned));
        if let Some(line) = line {
            return parse_account(&line).with_context(|| format!("reading '{line}'"));
        }
        if started.elapsed() > Duration::from_secs(10) {
            bail!("no broadcast-end line in {}", audit.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// "312 pictures shown, 1234 bytes, in 13.1 s; capture to screen p50 38 ms, p95 61 ms"
fn parse_account(line: &str) -> Option<Shown> {
    let number = |after: &str| -> Option<f64> {
        let rest = line.split(after).nth(1)?;
        rest.trim_start()
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()?
            .parse()
            .ok()
    };
    Some(Shown {
        pictures: line.split_whitespace().next()?.parse().ok()?,
        seconds: number(" in ")?,
        p50: number("p50")?,
        p95: number("p95")?,
    })
}

/// A sink's line (`NAME PICTURES SECONDS P50 P95`, see [`crate::sink`]).
fn parse_sink_account(line: &str) -> Option<Shown> {
    let mut fields = line.split_whitespace().skip(1).map(str::parse::<f64>);
    Some(Shown {
        pictures: fields.next()?.ok()?,
        seconds: fields.next()?.ok()?,
        p50: fields.next()?.ok()?,
        p95: fields.next()?.ok()?,
    })
}

fn signal(pid: u32, signal: &str) -> Result<()> {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()?;
    if !status.success() {
        bail!("kill {signal} {pid} failed");
    }
    Ok(())
}

fn median(sorted: &[f64]) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[sorted.len() / 2]
}

fn render(rows: &[Figures]) -> String {
    let mut out = String::from(
        "| broadcast 1920x1080 | fps p50 / worst | KB/s per receiver | Mbit/s total | console CPU % | receivers' CPU % | pictures encoded (H.264) / updates sent | capture to screen p50 / p95 ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {:.1} / {:.1} | {:.0} | {:.1} | {:.0} | {:.0} | {} ({}) / {} | {:.0} / {:.0} |\n",
            r.run,
            r.fps_p50,
            r.fps_worst,
            r.kb_per_receiver,
            r.mbit_total,
            r.console_cpu,
            r.receivers_cpu,
            r.encoded,
            r.video_frames,
            r.sent,
            r.latency_p50,
            r.latency_p95
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agents_account_is_read_from_its_audit_line() {
        let shown = parse_account(
            "312 pictures shown, 1234 bytes, in 13.1 s; capture to screen p50 38 ms, p95 61 ms",
        )
        .unwrap();
        assert_eq!(
            (shown.pictures, shown.seconds, shown.p50, shown.p95),
            (312.0, 13.1, 38.0, 61.0)
        );
        assert!(parse_account("0 pictures shown, 0 bytes, in 1.0 s").is_none());
        let sink = parse_sink_account("R101-PC07 298 12.004 9.5 31.0").unwrap();
        assert_eq!(
            (sink.pictures, sink.seconds, sink.p50, sink.p95),
            (298.0, 12.004, 9.5, 31.0)
        );
        assert!(parse_sink_account("R101-PC07 298 12.004").is_none());
    }
}
