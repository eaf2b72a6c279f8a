//! The files benchmark (R6): one large file to 1, 10 and 40 real agents in
//! a network namespace of their own (the classroom), from a console in
//! another (the teacher's PC), the teacher's uplink shaped by `tc` to
//! 1 Gbit/s and to 100 Mbit/s. Each agent is its own process and writes
//! every byte to disk, hash checked, as it does in a classroom. The
//! console runs in a process of its own in the teacher's namespace
//! (`pult-bench files-teacher`), so its CPU time is its own.
//!
//! A second run of 10 shapes one student's link to 10 Mbit/s: the others
//! should finish as fast as without it (each device has its own flow
//! control; the slow one holds back nobody). That run ends when the others
//! are done; the slow one's rate is shown.
//!
//! `cargo run --release -p pult-bench -- files [--quick | --smoke]`

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use pult_console::transfer::{Outgoing, SendOptions, TransferEvent};
use pult_console::{Console, RoomCertificate, at_once};

use crate::measure::{Length, machine};
use crate::procs::{self, Process};

/// The slow student's link (Mbit/s).
const SLOW_MBIT: u32 = 10;
/// The agents' network: the teacher is .0.1, student `n` (from 1) is .1.n.
const SUBNET: &str = "10.78";

/// One student's agent, its process and folders.
struct Student {
    name: String,
    process: Process,
    /// Its receive and hand-in folders are in here.
    folder: PathBuf,
    audit: PathBuf,
}

/// One measured send.
struct Run {
    agents: usize,
    uplink_mbit: u32,
    /// The last of the agents sits behind a 10 Mbit/s link.
    slow: bool,
}

/// What one run measured.
struct Figures {
    run: String,
    agents: usize,
    uplink_mbit: u32,
    /// Bytes arrived per second, all agents together, against the uplink.
    share: f64,
    mbit: f64,
    p50: f64,
    worst: f64,
    console_cpu: f64,
    agents_cpu: f64,
    /// The slow student's own rate (Mbit/s), in the run with one.
    slow_mbit: Option<f64>,
    /// Devices (not the slow one) that did not get the file, with why.
    missed: Vec<String>,
}

/// `pult-bench files [--quick | --smoke]`: every case, then the table.
pub(crate) fn main(length: Length) -> Result<()> {
    let (megabytes, counts, uplinks): (u64, &[usize], &[u32]) = match length {
        Length::Full => (200, &[1, 10, 40], &[1000, 100]),
        Length::Quick => (20, &[1, 10, 40], &[1000, 100]),
        Length::Smoke => (4, &[1, 3], &[100]),
    };
    let most = counts.iter().copied().max().unwrap_or(1);
    let some = counts[counts.len().min(2) - 1];
    println!("{}", machine());
    let work = tempfile::Builder::new()
        .prefix("pult-files-bench")
        .tempdir()?;
    let file = work.path().join("Film.mp4");
    write_noise(&file, megabytes * 1_000_000)?;
    let classroom = Classroom::new(most)?;
    let mut school = pult_demo::School::new("Benchmark-Schule", &classroom.addresses)?;
    let certificate = school.certificate()?;
    let mut agents = Vec::new();
    for index in 0..most {
        let bundle = school.bundle(index)?;
        let folder = work.path().join(format!("student-{index}"));
        agents.push(Student {
            name: pult_demo::device_name(index),
            audit: bundle.join("audit"),
            process: procs::agent_in(
                &classroom.room,
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
                    "--receive-folder",
                    path_arg(&folder.join("Von der Lehrkraft"))?,
                    "--hand-in-folder",
                    path_arg(&folder.join("Abgabe"))?,
                ],
            )?,
            folder,
        });
    }
    let mut rows = Vec::new();
    for &uplink_mbit in uplinks {
        let mut runs: Vec<Run> = counts
            .iter()
            .map(|&agents| Run {
                agents,
                uplink_mbit,
                slow: false,
            })
            .collect();
        runs.push(Run {
            agents: some,
            uplink_mbit,
            slow: true,
        });
        for run in runs {
            let slow = run.slow.then(|| classroom.addresses[run.agents - 1]);
            classroom.shape(uplink_mbit, slow)?;
            let figures = measure(&run, megabytes, &certificate, &file, &agents, &classroom)
                .with_context(|| format!("{megabytes} MB to {}", run.agents))?;
            for student in &agents {
                let _ = std::fs::remove_dir_all(student.folder.join("Von der Lehrkraft"));
            }
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
    // Each run with a slow student against the same run without: the others' times.
    for slow in rows.iter().filter(|r| r.slow_mbit.is_some()) {
        let Some(plain) = rows.iter().find(|r| {
            r.slow_mbit.is_none() && r.agents == slow.agents && r.uplink_mbit == slow.uplink_mbit
        }) else {
            continue;
        };
        println!(
            "{}: the others' p50 {:.2} s against {:.2} s without the slow one ({:+.0} %), worst {:.2} s against {:.2} s ({:+.0} %)",
            slow.run,
            slow.p50,
            plain.p50,
            (slow.p50 / plain.p50 - 1.0) * 100.0,
            slow.worst,
            plain.worst,
            (slow.worst / plain.worst - 1.0) * 100.0
        );
    }
    drop(agents);
    let missed: Vec<&String> = rows.iter().flat_map(|r| &r.missed).collect();
    if !missed.is_empty() {
        bail!(
            "{} copies did not arrive: {}",
            missed.len(),
            missed
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    Ok(())
}

fn path_arg(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// Writes `len` bytes that no compression would shrink.
fn write_noise(path: &Path, len: u64) -> Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let take = left.min(block.len() as u64) as usize;
        file.write_all(&block[..take])?;
        left -= take as u64;
    }
    file.flush()?;
    // On disk before the first run: its write-back would otherwise compete
    // with the agents' writes in the first run measured.
    file.get_ref().sync_all()?;
    Ok(())
}

fn measure(
    run: &Run,
    megabytes: u64,
    certificate: &Path,
    file: &Path,
    agents: &[Student],
    classroom: &Classroom,
) -> Result<Figures> {
    let agents = &agents[..run.agents];
    let agents_cpu = || -> f64 {
        agents
            .iter()
            .filter_map(|a| procs::process_cpu_seconds(a.process.pid()).ok())
            .sum()
    };
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", &classroom.teacher])
        .arg(std::env::current_exe()?)
        .arg("files-teacher")
        .arg(certificate)
        .arg(file)
        .arg(run.agents.to_string());
    if run.slow {
        command.arg("--slow-last");
    }
    let mut teacher = command
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the console in the teacher's namespace")?;
    let stdout = teacher.stdout.take().context("the console's output")?;
    let mut lines = BufReader::new(stdout).lines();
    // The console connects to all first; the clock starts with its "sending".
    match lines.next() {
        Some(Ok(line)) if line == "sending" => {}
        other => {
            let _ = teacher.kill();
            let _ = teacher.wait();
            bail!("the console did not start sending: {other:?}");
        }
    }
    let before = agents_cpu();
    let mut devices = Vec::new();
    let mut report = None;
    for line in lines {
        let line = line?;
        if let Some(rest) = line.strip_prefix("device ") {
            devices.push(parse_device(rest).with_context(|| format!("reading '{line}'"))?);
        } else if let Some(rest) = line.strip_prefix("console ") {
            report = Some(parse_console(rest).with_context(|| format!("reading '{line}'"))?);
        }
    }
    let after = agents_cpu();
    let status = teacher.wait()?;
    let Some((wall, console_cpu)) = report else {
        bail!("the console gave no account of its send ({status})");
    };
    if devices.len() != run.agents {
        bail!(
            "the console named {} of {} devices",
            devices.len(),
            run.agents
        );
    }
    let (slow, others): (Vec<&Device>, Vec<&Device>) = devices
        .iter()
        .partition(|d| run.slow && d.name == pult_demo::device_name(run.agents - 1));
    let mut times = Vec::new();
    let mut missed = Vec::new();
    for device in &others {
        match device.seconds {
            Some(seconds) => times.push(seconds),
            None => {
                // What the agent wrote down of it names the reason on its
                // side; the run goes on, and the table counts it.
                let said: Vec<String> = agents
                    .iter()
                    .filter(|a| a.name == device.name)
                    .flat_map(|a| pult_e2e::audit_entries(&a.audit))
                    .rev()
                    .take(4)
                    .map(|e| e.to_string())
                    .collect();
                eprintln!(
                    "{} did not receive the file: {}; its audit log ends with {said:#?}",
                    device.name, device.verdict
                );
                missed.push(format!("{}: {}", device.name, device.verdict));
            }
        }
    }
    times.sort_by(f64::total_cmp);
    let bytes: f64 = devices.iter().map(|d| d.bytes as f64).sum();
    let mbit = bytes * 8.0 / wall / 1e6;
    Ok(Figures {
        run: format!(
            "{megabytes} MB to {}{}, uplink {}",
            run.agents,
            if run.slow {
                format!(", one at {SLOW_MBIT} Mbit/s")
            } else {
                String::new()
            },
            rate_name(run.uplink_mbit)
        ),
        share: mbit / f64::from(run.uplink_mbit) * 100.0,
        mbit,
        p50: median(&times),
        worst: times.last().copied().unwrap_or(0.0),
        console_cpu: console_cpu / wall * 100.0,
        agents_cpu: (after - before) / wall * 100.0,
        slow_mbit: slow.first().map(|d| d.bytes as f64 * 8.0 / wall / 1e6),
        missed,
        agents: run.agents,
        uplink_mbit: run.uplink_mbit,
    })
}

fn rate_name(mbit: u32) -> String {
    if mbit.is_multiple_of(1000) {
        format!("{} Gbit/s", mbit / 1000)
    } else {
        format!("{mbit} Mbit/s")
    }
}

/// One device's line from the console.
struct Device {
    name: String,
    /// Seconds until its file was in place; `None` if it was not.
    seconds: Option<f64>,
    bytes: u64,
    verdict: String,
}

/// `NAME SECONDS|- BYTES VERDICT…`
fn parse_device(line: &str) -> Option<Device> {
    let mut parts = line.splitn(4, ' ');
    let name = parts.next()?.to_owned();
    let seconds = match parts.next()? {
        "-" => None,
        seconds => Some(seconds.parse().ok()?),
    };
    let bytes = parts.next()?.parse().ok()?;
    let verdict = parts.next()?.to_owned();
    Some(Device {
        name,
        seconds,
        bytes,
        verdict,
    })
}

/// `WALL_SECONDS CPU_SECONDS`
fn parse_console(line: &str) -> Option<(f64, f64)> {
    let (wall, cpu) = line.split_once(' ')?;
    Some((wall.parse().ok()?, cpu.parse().ok()?))
}

fn median(sorted: &[f64]) -> f64 {
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

fn render(rows: &[Figures]) -> String {
    let mut table = String::from(
        "| files (R6) | of the uplink | Mbit/s | per agent p50 / worst s | console CPU % | agents' CPU % |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let slow = row
            .slow_mbit
            .map(|m| {
                if m > 0.0 {
                    format!(" (the slow one: {m:.1} Mbit/s)")
                } else {
                    " (the slow one: still on its first 4 MiB)".to_owned()
                }
            })
            .unwrap_or_default();
        let missed = if row.missed.is_empty() {
            String::new()
        } else {
            format!(" **{} did not get it**", row.missed.len())
        };
        table.push_str(&format!(
            "| {}{slow}{missed} | {:.0} % | {:.0} | {:.2} / {:.2} | {:.0} | {:.0} |\n",
            row.run, row.share, row.mbit, row.p50, row.worst, row.console_cpu, row.agents_cpu
        ));
    }
    table
}

/// `pult-bench files-teacher CERTIFICATE FILE COUNT [--slow-last]`: the
/// console in the teacher's namespace. Connects to the room's first COUNT
/// devices, prints `sending`, sends FILE to all at once and prints one line
/// per device (`device NAME SECONDS BYTES VERDICT`) and its own account
/// (`console WALL_SECONDS CPU_SECONDS`). With `--slow-last` it ends once
/// all but the last are done.
pub(crate) fn teacher(args: &[OsString]) -> Result<()> {
    let [certificate, file, count, rest @ ..] = args else {
        bail!("usage: pult-bench files-teacher CERTIFICATE FILE COUNT [--slow-last]");
    };
    let count: usize = count
        .to_str()
        .and_then(|c| c.parse().ok())
        .context("COUNT is a number")?;
    let slow_last = rest.iter().any(|a| a == "--slow-last");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let room = RoomCertificate::load(Path::new(certificate))?;
        let devices: Vec<_> = room.manifest.devices.iter().take(count).cloned().collect();
        let console = Arc::new(Console::new(room)?);
        let source = PathBuf::from(file);
        let outgoing =
            Arc::new(tokio::task::spawn_blocking(move || Outgoing::gather(&[source])).await??);
        let sessions = at_once(devices, |device| {
            let console = console.clone();
            async move {
                let session = console.connect(&device).await;
                (device.name, session)
            }
        })
        .await;
        let mut connected = Vec::new();
        for (name, session) in sessions {
            connected.push(session.with_context(|| format!("connecting to {name}"))?);
        }
        let names: Vec<String> = connected.iter().map(|s| s.device().name.clone()).collect();
        let slow = slow_last.then(|| names.last().cloned()).flatten();
        println!("sending");
        let (cpu_before, clock) = (procs::own_cpu_seconds()?, Instant::now());
        let (events, mut news) = tokio::sync::mpsc::unbounded_channel();
        for session in connected {
            let (outgoing, events) = (outgoing.clone(), events.clone());
            tokio::spawn(async move {
                pult_console::transfer::send(&session, outgoing, SendOptions::default(), &events)
                    .await;
            });
        }
        drop(events);
        let mut bytes: HashMap<String, u64> = HashMap::new();
        let mut finished: HashMap<String, (f64, String)> = HashMap::new();
        let waiting_for = count - usize::from(slow.is_some());
        while finished
            .keys()
            .filter(|n| Some(*n) != slow.as_ref())
            .count()
            < waiting_for
        {
            let Some(event) = news.recv().await else {
                break;
            };
            match event {
                TransferEvent::Progress {
                    device,
                    bytes: so_far,
                    ..
                } => {
                    bytes.insert(device, so_far);
                }
                TransferEvent::Finished { device, result } => {
                    let verdict = if result.is_complete() {
                        "done".to_owned()
                    } else {
                        result.summary()
                    };
                    if result.is_complete() {
                        bytes.insert(device.clone(), result.bytes);
                    }
                    finished.insert(device, (clock.elapsed().as_secs_f64(), verdict));
                }
                _ => {}
            }
        }
        let (wall, cpu) = (
            clock.elapsed().as_secs_f64(),
            procs::own_cpu_seconds()? - cpu_before,
        );
        let mut out = std::io::stdout().lock();
        for name in &names {
            let (seconds, verdict) = match finished.get(name) {
                Some((seconds, verdict)) if verdict == "done" => {
                    (format!("{seconds:.3}"), verdict.clone())
                }
                Some((_, verdict)) => ("-".to_owned(), verdict.clone()),
                None => ("-".to_owned(), "still sending".to_owned()),
            };
            let moved = bytes.get(name).copied().unwrap_or(0);
            writeln!(out, "device {name} {seconds} {moved} {verdict}")?;
        }
        writeln!(out, "console {wall:.3} {cpu:.3}")?;
        out.flush()?;
        // A slow device still sending is not waited for.
        std::process::exit(0)
    })
}

/// The teacher's PC and the classroom: two network namespaces joined by a
/// veth pair, the teacher's end the uplink that `tc` shapes. Every agent
/// has an address of its own on the classroom's end.
struct Classroom {
    teacher: String,
    room: String,
    uplink: String,
    addresses: Vec<SocketAddr>,
}

impl Classroom {
    fn new(agents: usize) -> Result<Self> {
        let unique = std::process::id() % 100_000;
        let classroom = Self {
            teacher: format!("pult-files-{unique}-t"),
            room: format!("pult-files-{unique}-r"),
            uplink: format!("pf{unique}t"),
            addresses: (1..=agents)
                .map(|n| format!("{SUBNET}.1.{n}:7{n:03}").parse())
                .collect::<Result<_, _>>()?,
        };
        let room_link = format!("pf{unique}r");
        for namespace in [&classroom.teacher, &classroom.room] {
            ip(&["netns", "add", namespace])?;
        }
        ip(&[
            "link",
            "add",
            &classroom.uplink,
            "type",
            "veth",
            "peer",
            "name",
            &room_link,
        ])?;
        ip(&[
            "link",
            "set",
            &classroom.uplink,
            "netns",
            &classroom.teacher,
        ])?;
        ip(&["link", "set", &room_link, "netns", &classroom.room])?;
        let teacher_address = format!("{SUBNET}.0.1/16");
        ip(&[
            "-n",
            &classroom.teacher,
            "addr",
            "add",
            &teacher_address,
            "dev",
            &classroom.uplink,
        ])?;
        for address in &classroom.addresses {
            ip(&[
                "-n",
                &classroom.room,
                "addr",
                "add",
                &format!("{}/16", address.ip()),
                "dev",
                &room_link,
            ])?;
        }
        for (namespace, link) in [
            (&classroom.teacher, &classroom.uplink),
            (&classroom.room, &room_link),
        ] {
            ip(&["-n", namespace, "link", "set", link, "up"])?;
            ip(&["-n", namespace, "link", "set", "lo", "up"])?;
        }
        Ok(classroom)
    }

    /// Shapes the teacher's uplink to `mbit`; with `slow`, that student's
    /// share of it to [`SLOW_MBIT`]. HTB, each class with a drop-tail queue
    /// of 5 ms at its rate (at least 64 KB), as a switch port buffers.
    fn shape(&self, mbit: u32, slow: Option<SocketAddr>) -> Result<()> {
        let dev = self.uplink.as_str();
        let _ = self.tc(&["qdisc", "del", "dev", dev, "root"]);
        let rate = format!("{mbit}mbit");
        // A burst of 1 ms at the rate (at least 15 KB): HTB reaches a
        // gigabit only with bursts above a timer tick's worth.
        let burst = format!("{}k", (mbit / 8).max(15));
        self.tc(&[
            "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10",
        ])?;
        self.tc(&[
            "class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", &rate,
            "ceil", &rate, "burst", &burst, "cburst", &burst,
        ])?;
        // With a slow student, the others are guaranteed what the slow
        // one's class is not, and may borrow up to the whole uplink: the
        // two together never pass it (HTB guarantees each class its rate,
        // whatever its parent's).
        let others = format!("{}mbit", mbit - slow.map_or(0, |_| SLOW_MBIT));
        self.tc(&[
            "class", "add", "dev", dev, "parent", "1:1", "classid", "1:10", "htb", "rate", &others,
            "ceil", &rate, "burst", &burst, "cburst", &burst,
        ])?;
        self.queue("1:10", mbit)?;
        if let Some(slow) = slow {
            let slow_rate = format!("{SLOW_MBIT}mbit");
            self.tc(&[
                "class", "add", "dev", dev, "parent", "1:1", "classid", "1:20", "htb", "rate",
                &slow_rate, "ceil", &slow_rate,
            ])?;
            self.queue("1:20", SLOW_MBIT)?;
            self.tc(&[
                "filter",
                "add",
                "dev",
                dev,
                "parent",
                "1:",
                "protocol",
                "ip",
                "prio",
                "1",
                "u32",
                "match",
                "ip",
                "dst",
                &format!("{}/32", slow.ip()),
                "flowid",
                "1:20",
            ])?;
        }
        Ok(())
    }

    /// A drop-tail queue under `class` holding 20 ms at `mbit` (at least 256 KB).
    fn queue(&self, class: &str, mbit: u32) -> Result<()> {
        let limit = (u64::from(mbit) * 1_000_000 / 8 / 50)
            .max(256 * 1024)
            .to_string();
        self.tc(&[
            "qdisc",
            "add",
            "dev",
            &self.uplink,
            "parent",
            class,
            "bfifo",
            "limit",
            &limit,
        ])
    }

    fn tc(&self, args: &[&str]) -> Result<()> {
        run(Command::new("ip")
            .args(["netns", "exec", &self.teacher, "tc"])
            .args(args))
    }
}

impl Drop for Classroom {
    fn drop(&mut self) {
        for namespace in [&self.teacher, &self.room] {
            let _ = Command::new("ip")
                .args(["netns", "del", namespace])
                .status();
        }
    }
}

fn ip(args: &[&str]) -> Result<()> {
    run(Command::new("ip").args(args))
}

fn run(command: &mut Command) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?} (iproute2 is needed)"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed (network namespaces need root): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consoles_lines_are_read() {
        let device = parse_device("R101-PC02 12.500 200000000 done").unwrap();
        assert_eq!(
            (
                device.name.as_str(),
                device.seconds,
                device.bytes,
                device.verdict.as_str()
            ),
            ("R101-PC02", Some(12.5), 200_000_000, "done")
        );
        let slow = parse_device("R101-PC10 - 1234 still sending").unwrap();
        assert_eq!(
            (slow.seconds, slow.verdict.as_str()),
            (None, "still sending")
        );
        assert!(parse_device("R101-PC02 12.5").is_none());
        assert_eq!(parse_console("3.25 0.5"), Some((3.25, 0.5)));
        assert_eq!(parse_console("3.25"), None);
        assert_eq!(rate_name(1000), "1 Gbit/s");
    }
}
