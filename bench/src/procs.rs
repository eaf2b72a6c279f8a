//! The processes of a benchmark run: agents (single processes, or services
//! with their session helper), Xvfb, x11vnc, the painter; and their CPU time
//! and memory from /proc.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A child process, killed when dropped; for a service, also the session
/// helper it started (the latest one).
pub(crate) struct Process {
    child: Child,
    helper: Option<Arc<AtomicU32>>,
}

impl Process {
    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The session helper's process id, for a service.
    pub(crate) fn helper_pid(&self) -> Option<u32> {
        self.helper
            .as_ref()
            .map(|pid| pid.load(Ordering::Relaxed))
            .filter(|&pid| pid != 0)
    }

    /// CPU seconds (user and system) the process has used so far, with its
    /// session helper's.
    pub(crate) fn cpu_seconds(&self) -> Result<f64> {
        let helper = match self.helper_pid() {
            Some(pid) => cpu_seconds_of(pid)?,
            None => 0.0,
        };
        Ok(cpu_seconds_of(self.pid())? + helper)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds process `pid` has used so far.
pub(crate) fn cpu_seconds_of(pid: u32) -> Result<f64> {
    cpu_seconds(&format!("/proc/{pid}/stat"))
}

/// Resident memory of process `pid`, in MiB.
pub(crate) fn rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading the status of process {pid}"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .context("no VmRSS in /proc status")?;
    Ok(kib / 1024.0)
}

/// CPU seconds this benchmark process has used so far (all its threads).
pub(crate) fn own_cpu_seconds() -> Result<f64> {
    cpu_seconds("/proc/self/stat")
}

/// CPU seconds process `pid` has used so far (user and system).
pub(crate) fn process_cpu_seconds(pid: u32) -> Result<f64> {
    cpu_seconds(&format!("/proc/{pid}/stat"))
}

fn cpu_seconds(stat: &str) -> Result<f64> {
    let text = std::fs::read_to_string(stat).with_context(|| format!("reading {stat}"))?;
    // Fields after the command name (which may hold spaces) end with ')'.
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .context("odd /proc stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Ok((ticks(11) + ticks(12)) / clock_ticks())
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A free UDP address on loopback, outside the ephemeral port range and never
/// the same twice in this process (`pult_e2e::free_address`): ten agents
/// given ports the system picked at random could be given one twice.
pub(crate) fn free_address() -> Result<SocketAddr> {
    Ok(pult_e2e::free_address().parse()?)
}

/// Starts an agent (this binary in agent mode, one process) and waits until
/// it listens.
pub(crate) fn agent(bundle: &Path, args: &[&str], display: Option<&str>) -> Result<Process> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("agent").arg("--bundle").arg(bundle).args(args);
    match display {
        Some(display) => command.env("DISPLAY", display),
        None => command.env_remove("DISPLAY"),
    };
    start_agent(command, false)
}

/// Starts an agent (one process, no display) inside network namespace
/// `namespace`; `ip netns exec` becomes the agent, so its pid is the agent's.
pub(crate) fn agent_in(namespace: &str, bundle: &Path, args: &[&str]) -> Result<Process> {
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", namespace])
        .arg(std::env::current_exe()?)
        .arg("agent")
        .arg("--bundle")
        .arg(bundle)
        .args(args)
        .env_remove("DISPLAY");
    start_agent(command, false)
}

/// Starts an agent as the student side is installed: the service, which
/// starts its session helper for this user's session on `display`; waits
/// until it listens and the helper runs. The helper's socket lives in
/// `runtime_dir`.
pub(crate) fn service(bundle: &Path, display: &str, runtime_dir: &Path) -> Result<Process> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["agent", "service", "--bundle"])
        .arg(bundle)
        .arg("--runtime-dir")
        .arg(runtime_dir)
        .args(["--session-user", &own_user()?, "--session-display", display])
        .env_remove("DISPLAY");
    start_agent(command, true)
}

fn start_agent(mut command: Command, with_helper: bool) -> Result<Process> {
    // What the agent says goes to a file, to name the reason if it ends.
    let said = tempfile::tempfile()?;
    command.stdout(Stdio::piped()).stderr(said.try_clone()?);
    let mut child = command.spawn().context("starting an agent")?;
    let stdout = child.stdout.take().context("agent stdout")?;
    let (ready, started) = mpsc::channel();
    let helper = Arc::new(AtomicU32::new(0));
    let helper_pid = helper.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("listening on ") {
                let _ = ready.send(());
            } else if let Some(pid) = line
                .strip_prefix("helper started: pid ")
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            {
                helper_pid.store(pid, Ordering::Relaxed);
            }
        }
    });
    let process = Process {
        child,
        helper: with_helper.then_some(helper),
    };
    if started.recv_timeout(Duration::from_secs(20)).is_err() {
        let mut reason = String::new();
        let mut said = said;
        let _ = std::io::Seek::rewind(&mut said);
        let _ = std::io::Read::read_to_string(&mut said, &mut reason);
        bail!("the agent did not start: {}", reason.trim());
    }
    if with_helper {
        let waited = Instant::now();
        while process.helper_pid().is_none() {
            if waited.elapsed() > Duration::from_secs(20) {
                bail!("the service started no session helper");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(process)
}

/// The name of the user this benchmark runs as: the service's session is
/// this user's.
fn own_user() -> Result<String> {
    let output = Command::new("id")
        .arg("-un")
        .output()
        .context("could not run id")?;
    let name = String::from_utf8(output.stdout)?.trim().to_owned();
    if name.is_empty() {
        bail!("id -un named no user");
    }
    Ok(name)
}

/// Starts Xvfb with one screen of `width` × `height` (the test suite's helper).
pub(crate) fn xvfb(width: u32, height: u32) -> Result<pult_e2e::Xvfb> {
    pult_e2e::Xvfb::try_start(width, height).context("starting Xvfb (apt-get install xvfb)")
}

/// Starts the painter of the Xvfb scene.
pub(crate) fn painter(
    display: &str,
    width: u32,
    height: u32,
    fps: u32,
    speed: f64,
) -> Result<Process> {
    let child = Command::new(std::env::current_exe()?)
        .args([
            "paint",
            display,
            &format!("{width}x{height}"),
            &fps.to_string(),
            &speed.to_string(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .context("starting the painter")?;
    Ok(Process {
        child,
        helper: None,
    })
}

/// Starts the painter of a broadcast scene (`slides` or `video`) at `fps`.
pub(crate) fn scene(display: &str, kind: &str, fps: u32) -> Result<Process> {
    let child = Command::new(std::env::current_exe()?)
        .args(["scene", display, kind, &fps.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .context("starting the scene's painter")?;
    Ok(Process {
        child,
        helper: None,
    })
}

/// Wire sinks for the broadcast benchmark, in a process of their own.
pub(crate) struct Sinks {
    pub(crate) process: Process,
    lines: mpsc::Receiver<String>,
}

impl Sinks {
    /// The accounts of `count` broadcasts ended, one line each.
    pub(crate) fn accounts(&self, count: usize) -> Result<Vec<String>> {
        (0..count)
            .map(|_| {
                self.lines
                    .recv_timeout(Duration::from_secs(10))
                    .context("a wire sink gave no account of its broadcast")
            })
            .collect()
    }
}

/// Starts one wire sink per bundle (`pult-bench sink`); returns once they listen.
pub(crate) fn sinks(bundles: &[std::path::PathBuf]) -> Result<Sinks> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("sink")
        .args(bundles)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the wire sinks")?;
    let stdout = child.stdout.take().context("the sinks' output")?;
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    let process = Process {
        child,
        helper: None,
    };
    match lines.recv_timeout(Duration::from_secs(10)) {
        Ok(line) if line == "listening" => Ok(Sinks { process, lines }),
        Ok(line) => bail!("the wire sinks said '{line}'"),
        Err(_) => bail!("the wire sinks did not start"),
    }
}

/// Starts x11vnc on `display`; returns it and its RFB port on loopback.
pub(crate) fn x11vnc(display: &str) -> Result<(Process, u16)> {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?.port()
    };
    let child = Command::new("x11vnc")
        .args(["-display", display, "-rfbport", &port.to_string()])
        .args([
            "-localhost",
            "-nopw",
            "-forever",
            "-shared",
            "-quiet",
            "-noxrecord",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting x11vnc (apt-get install x11vnc)")?;
    let process = Process {
        child,
        helper: None,
    };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            bail!("x11vnc did not open port {port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((process, port))
}
