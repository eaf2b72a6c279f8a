//! Shared helpers for Pult's end-to-end tests: a temporary school made with the
//! real `pult-registry`, real `pult-agent` processes, `pultctl`, and an Xvfb display.
//!
//! The binaries are the ones `cargo test --workspace` builds next to the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

pub mod hostile;
pub mod identity;
#[cfg(target_os = "linux")]
pub mod student;
pub mod webdriver;
pub mod wine;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::Value;

/// The path of one of Pult's binaries, built by `cargo test --workspace`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing; run the tests with `cargo test --workspace`, which builds it",
        path.display()
    );
    path
}

/// A folder under `target/` (beside the test binaries' profile folder)
/// for what a person should look at after a run: screenshots, logs.
pub fn artifacts(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/<name>
    let dir = exe.ancestors().nth(3).unwrap().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A URL opener script in `dir` that appends each URL it is given to
/// `opened.txt` beside itself, to see what an agent opened.
pub fn recording_opener(dir: &Path) -> PathBuf {
    let opener = dir.join("opener.sh");
    std::fs::write(
        &opener,
        "#!/bin/sh\nprintf '%s\\n' \"$@\" >> \"$(dirname \"$0\")/opened.txt\"\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    opener
}

/// Every entry of the agent audit log in `dir`, oldest file first; none if
/// there is no log yet.
pub fn audit_entries(dir: &Path) -> Vec<Value> {
    let mut entries = Vec::new();
    let Ok(files) = std::fs::read_dir(dir) else {
        return entries;
    };
    let mut paths: Vec<PathBuf> = files.map(|f| f.unwrap().path()).collect();
    paths.sort();
    for path in paths {
        for line in std::fs::read_to_string(path).unwrap().lines() {
            entries.push(serde_json::from_str(line).unwrap());
        }
    }
    entries
}

/// Waits (up to `within`) until `done` holds and returns how long it took;
/// panics naming `what` otherwise.
pub fn wait_until(within: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = std::time::Instant::now();
    while start.elapsed() < within {
        if done() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within {within:?}");
}

/// A UDP address on loopback that nothing listens on right now, with a port
/// outside the range the system hands to client sockets (Linux's ephemeral
/// range, read from the kernel): the client sockets of parallel tests and of
/// the console never take it between this check and the agent's start, and an
/// agent killed and started again finds its port still free. No port is given
/// twice in one process, even before the first is bound.
pub fn free_address() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // One seed per process: the ports of one process are then a walk that
    // repeats none before it has used them all. (A seed drawn per call once
    // gave two agents of one school the same port before either listened.)
    static SEED: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let (first, count) = ports_outside_ephemeral();
    let seed = *SEED.get_or_init(|| {
        std::process::id().wrapping_mul(7919)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
    });
    for _ in 0..1000 {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = first + (seed.wrapping_add(step.wrapping_mul(104_729)) % count);
        let port = u16::try_from(port).unwrap();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return format!("127.0.0.1:{port}");
        }
    }
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().to_string()
}

/// The first port and the number of ports of the larger span between 10000
/// and 65535 that lies outside the kernel's ephemeral port range.
fn ports_outside_ephemeral() -> (u32, u32) {
    let (low, high) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| {
            let mut ends = range.split_whitespace().map(|end| end.parse::<u32>().ok());
            Some((ends.next()??, ends.next()??))
        })
        .unwrap_or((32_768, 60_999));
    let below = low.saturating_sub(10_000);
    let above = 65_535u32.saturating_sub(high.max(10_000));
    if below >= above {
        (10_000, below.max(1))
    } else {
        (high.max(10_000) + 1, above)
    }
}

/// A school in a temporary directory, set up through the real `pult-registry`.
pub struct School {
    dir: tempfile::TempDir,
    db: PathBuf,
}

impl School {
    /// A new school called `organisation`.
    pub fn new(organisation: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("registry.db");
        let school = Self { dir, db };
        school.registry(&["init", "--org", organisation]);
        school
    }

    /// A school with the group "lehrer" authorised and the teacher "mueller" in it.
    pub fn with_teacher(organisation: &str) -> Self {
        let school = Self::new(organisation);
        school.registry(&["group", "authorize", "lehrer"]);
        school.registry(&["user", "add", "mueller", "--group", "lehrer"]);
        school
    }

    /// A path inside the school's temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `pult-registry` on this school's database.
    pub fn registry_output(&self, args: &[&str]) -> Output {
        Command::new(binary("pult-registry"))
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs `pult-registry` and insists that it succeeds; returns its standard output.
    pub fn registry(&self, args: &[&str]) -> String {
        let output = self.registry_output(args);
        assert!(
            output.status.success(),
            "pult-registry {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs `pult-registry` with `input` on its standard input; insists that it succeeds.
    pub fn registry_with_input(&self, args: &[&str], input: &str) -> String {
        use std::io::Write;
        let mut child = Command::new(binary("pult-registry"))
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "pult-registry {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Makes an enrolment token with `args` (`--room 101`, `--teacher`, …) and returns its text.
    pub fn token(&self, args: &[&str]) -> String {
        let mut all = vec!["token", "create"];
        all.extend_from_slice(args);
        self.registry(&all).trim().to_owned()
    }

    /// The registry's log as JSON lines, newest first.
    pub fn log(&self, kind: &str) -> Vec<Value> {
        self.registry(&["log", "--kind", kind, "--json", "--limit", "1000"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Imports `csv` (header and lines).
    pub fn import(&self, csv: &str) {
        let path = self.path("import.csv");
        std::fs::write(&path, csv).unwrap();
        self.registry(&["device", "import", path.to_str().unwrap()]);
    }

    /// Writes the agent bundle of `device` and returns its directory.
    pub fn agent_bundle(&self, device: &str) -> PathBuf {
        let out = self.path(&format!("bundle-{device}"));
        self.registry(&["agent-bundle", device, "--out", out.to_str().unwrap()]);
        out
    }

    /// Issues a room certificate and returns its directory.
    pub fn room_cert(&self, room: &str, user: &str, valid: &str) -> PathBuf {
        self.room_cert_in(
            &format!("cert-{room}-{user}"),
            &[room, "--user", user, "--valid", valid],
        )
    }

    /// Issues a room certificate of `user` for `room` that grants only
    /// `features` (comma-separated) into `name` and returns its directory.
    pub fn room_cert_granting(
        &self,
        name: &str,
        room: &str,
        user: &str,
        features: &str,
    ) -> PathBuf {
        self.room_cert_in(name, &[room, "--user", user, "--features", features])
    }

    fn room_cert_in(&self, name: &str, args: &[&str]) -> PathBuf {
        let out = self.path(name);
        let mut all = vec!["room-cert", "--out", out.to_str().unwrap()];
        all.extend_from_slice(args);
        self.registry(&all);
        out
    }
}

/// A running `pult-registry serve` on a school's database, killed when dropped.
pub struct RegistryServer {
    child: Child,
    /// Its address, `https://127.0.0.1:PORT`.
    pub url: String,
}

impl RegistryServer {
    /// Serves `school` on a free loopback port with extra `args`.
    pub fn start(school: &School, args: &[&str]) -> Self {
        let stderr_path = school.path("registry-server.stderr");
        let mut child = Command::new(binary("pult-registry"))
            .arg("--db")
            .arg(&school.db)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("serving ") {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    let _ = sender.send(url.trim_end_matches('/').to_owned());
                }
            }
        });
        let Ok(url) = receiver.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!(
                "the registry server did not start: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        };
        Self { child, url }
    }
}

impl RegistryServer {
    /// `pult-agent enroll` as `name` with `token` into the bundle directory `dir`.
    pub fn agent_enroll(&self, token: &str, name: &str, dir: &Path) -> Output {
        Command::new(binary("pult-agent"))
            .args(["enroll", "--registry", &self.url, "--token", token])
            .args(["--name", name, "--bundle"])
            .arg(dir)
            .output()
            .unwrap()
    }

    /// Enrols `name` with a new token for `room` into the bundle directory
    /// `bundle` of `school`; returns the directory.
    pub fn enrol_agent(&self, school: &School, name: &str, room: &str, bundle: &str) -> PathBuf {
        let token = school.token(&["--room", room]);
        let dir = school.path(bundle);
        let output = self.agent_enroll(&token, name, &dir);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        dir
    }

    /// Enrols the teacher PC `name` in `room` with `pultctl enroll`; returns its setting file.
    pub fn enrol_teacher_pc(&self, school: &School, name: &str, room: &str) -> PathBuf {
        let token = school.token(&["--room", room, "--teacher"]);
        let setting = school.path(&format!("registry-{name}.json"));
        let output = Command::new(binary("pultctl"))
            .args(["enroll", "--registry", &self.url, "--token", &token])
            .args(["--name", name, "--dir"])
            .arg(school.path(&format!("teacher-pc-{name}")))
            .arg("--setting")
            .arg(&setting)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        setting
    }
}

/// `pultctl login` as `user` with `password` on the teacher PC of
/// `setting`, into the room certificate directory `room_dir`.
pub fn pultctl_login(setting: &Path, room_dir: &Path, user: &str, password: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(binary("pultctl"))
        .arg("--cert")
        .arg(room_dir)
        .args(["login", "--user", user, "--setting"])
        .arg(setting)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `pult-agent`, killed when dropped.
pub struct Agent {
    child: Child,
    /// Where it listens.
    pub address: String,
    /// Its audit log directory.
    pub audit_dir: PathBuf,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    /// Starts the agent of `bundle` with extra arguments and environment; waits until it listens.
    pub fn start(bundle: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(Command::new(binary("pult-agent")), bundle, args, env)
    }

    /// Starts the agent inside network namespace `namespace`.
    pub fn start_in(namespace: &Namespace, bundle: &Path, args: &[&str]) -> Self {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &namespace.name])
            .arg(binary("pult-agent"));
        Self::spawn(command, bundle, args, &[])
    }

    fn spawn(mut command: Command, bundle: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let audit_dir = bundle.join("audit");
        let stderr_path = bundle.join("agent.stderr");
        // Restarts and shutdowns are written down: never this machine's.
        if !args.contains(&"--power-record") {
            command.arg("--power-record").arg(bundle.join("power.txt"));
        }
        let mut child = command
            .arg("--bundle")
            .arg(bundle)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (sender, receiver) = mpsc::channel();
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("listening on ") {
                    let _ = sender.send(address.to_owned());
                }
                collected.lock().unwrap().push(line);
            }
        });
        let Ok(address) = receiver.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!(
                "the agent did not start: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        };
        Self {
            child,
            address,
            audit_dir,
            stdout: lines,
        }
    }

    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The agent's resident memory, in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// The lines the agent has printed on stdout so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Waits (up to 5 s) until the agent has printed `line`.
    pub fn wait_for_line(&self, line: &str) {
        for _ in 0..100 {
            if self.stdout().iter().any(|l| l == line) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the agent did not print '{line}'; it printed {:?}",
            self.stdout()
        );
    }

    /// Starts the agent of `bundle` on a synthetic screen of `size`.
    pub fn synthetic(bundle: &Path, size: &str) -> Self {
        Self::start(
            bundle,
            &["--screen", "synthetic", "--synthetic-size", size],
            &[],
        )
    }

    /// Every audit entry written so far.
    pub fn audit(&self) -> Vec<Value> {
        audit_entries(&self.audit_dir)
    }

    /// Waits (up to 5 s) for an audit entry that `matches`, and returns it.
    pub fn wait_for_audit(&self, matches: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..100 {
            if let Some(entry) = self.audit().into_iter().find(|e| matches(e)) {
                return entry;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no such audit entry; the log holds: {:#?}", self.audit());
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A network namespace with one end of a veth pair, removed when dropped:
/// a second host on this machine, for tests of what crosses a network.
pub struct Namespace {
    /// The namespace's name, for `ip netns exec`.
    pub name: String,
    /// Its address on the pair's subnet.
    pub address: String,
}

impl Namespace {
    /// Two namespaces joined by a veth pair on a /24 of their own, with
    /// addresses .1 and .2; `tag` keeps the names of parallel tests apart.
    pub fn pair(tag: &str) -> (Namespace, Namespace) {
        let unique = format!("{tag}{}", std::process::id() % 100_000);
        let subnet = format!("10.{}.{}", 100 + std::process::id() % 100, tag.len() % 250);
        let run = ip;
        let names = [format!("pult-{unique}-a"), format!("pult-{unique}-b")];
        let links = [format!("pv{unique}a"), format!("pv{unique}b")];
        for name in &names {
            run(&["netns", "add", name]);
        }
        run(&[
            "link", "add", &links[0], "type", "veth", "peer", "name", &links[1],
        ]);
        let mut pair = Vec::new();
        for (i, (name, link)) in names.iter().zip(&links).enumerate() {
            let address = format!("{subnet}.{}", i + 1);
            run(&["link", "set", link, "netns", name]);
            run(&[
                "-n",
                name,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                link,
            ]);
            run(&["-n", name, "link", "set", link, "up"]);
            run(&["-n", name, "link", "set", "lo", "up"]);
            pair.push(Namespace {
                name: name.clone(),
                address,
            });
        }
        let second = pair.pop().unwrap();
        (pair.pop().unwrap(), second)
    }

    /// Runs `program` inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Deleting the namespace also deletes its end of the veth pair.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Runs `ip` (iproute2) with `args`; it must succeed.
fn ip(args: &[&str]) {
    let status = Command::new("ip")
        .args(args)
        .status()
        .expect("ip (iproute2) is needed; .ci/run installs it");
    assert!(
        status.success(),
        "ip {args:?} failed (tests with network namespaces need root)"
    );
}

/// Two networks joined by a router, as a school's teacher network and a
/// room behind a router: `teacher` (10.1.1.2) and `room` (10.1.2.2), the
/// router at .1 on both, forwarding between them. Broadcasts on one
/// network never reach the other.
pub struct RoutedNetworks {
    /// A host on the teacher's network.
    pub teacher: Namespace,
    /// The router; its address here is the room side's.
    pub router: Namespace,
    /// A host on the room's network.
    pub room: Namespace,
    /// The router's interfaces: on the teacher's network, on the room's.
    pub router_links: [String; 2],
}

impl RoutedNetworks {
    /// Sets the three hosts up; `tag` keeps the names of parallel tests apart.
    pub fn new(tag: &str) -> Self {
        let unique = format!("{tag}{}", std::process::id() % 100_000);
        let names = ["t", "r", "s"].map(|n| format!("pult-{unique}-{n}"));
        for name in &names {
            ip(&["netns", "add", name]);
            ip(&["-n", name, "link", "set", "lo", "up"]);
        }
        // Each namespace is dropped (and its links with it) however the test ends.
        let host = |i: usize, address: &str| Namespace {
            name: names[i].clone(),
            address: address.to_owned(),
        };
        let networks = Self {
            teacher: host(0, "10.1.1.2"),
            router: host(1, "10.1.2.1"),
            room: host(2, "10.1.2.2"),
            router_links: [format!("pr{unique}a"), format!("pr{unique}b")],
        };
        let ends = [
            (
                format!("pt{unique}"),
                &names[0],
                "10.1.1.2/24",
                &networks.router_links[0],
                "10.1.1.1/24",
            ),
            (
                format!("ps{unique}"),
                &names[2],
                "10.1.2.2/24",
                &networks.router_links[1],
                "10.1.2.1/24",
            ),
        ];
        for (host_link, host, host_address, router_link, router_address) in &ends {
            ip(&[
                "link",
                "add",
                host_link,
                "type",
                "veth",
                "peer",
                "name",
                router_link,
            ]);
            ip(&["link", "set", host_link, "netns", host]);
            ip(&["link", "set", router_link, "netns", &names[1]]);
            ip(&["-n", host, "addr", "add", host_address, "dev", host_link]);
            ip(&[
                "-n",
                &names[1],
                "addr",
                "add",
                router_address,
                "dev",
                router_link,
            ]);
            ip(&["-n", host, "link", "set", host_link, "up"]);
            ip(&["-n", &names[1], "link", "set", router_link, "up"]);
        }
        ip(&[
            "-n", &names[0], "route", "add", "default", "via", "10.1.1.1",
        ]);
        ip(&[
            "-n", &names[2], "route", "add", "default", "via", "10.1.2.1",
        ]);
        let forward = Command::new("ip")
            .args([
                "netns",
                "exec",
                &names[1],
                "sysctl",
                "-q",
                "-w",
                "net.ipv4.ip_forward=1",
            ])
            .status()
            .unwrap();
        assert!(forward.success(), "the router does not forward");
        networks
    }
}

/// The result of one `pultctl` run.
pub struct Ctl {
    /// Whether it exited with success.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Where [`pultctl`] with room certificate `cert` keeps the console's audit
/// log: beside the certificate, never in the home of the user running tests.
pub fn console_audit(cert: &Path) -> PathBuf {
    cert.with_extension("audit")
}

/// Runs `pultctl --cert CERT --audit-dir CERT.audit ARGS...`.
pub fn pultctl(cert: &Path, args: &[&str]) -> Ctl {
    let output = Command::new(binary("pultctl"))
        .arg("--cert")
        .arg(cert)
        .arg("--audit-dir")
        .arg(console_audit(cert))
        .args(args)
        .output()
        .unwrap();
    Ctl {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A known picture to draw on a screen and find again: two rectangles, one in
/// `accent`, on a dark ground, and a one-pixel checkerboard that any scaling or
/// lossy step would blur. Fits 640x480 and larger.
pub fn pattern(width: u32, height: u32, accent: [u8; 4]) -> pult_screen::Frame {
    let mut frame = pult_screen::Frame::filled(width, height, [32, 48, 64, 255]);
    frame.fill_rect(100, 50, 200, 100, accent);
    frame.fill_rect(400, 300, 100, 100, [0, 192, 255, 255]);
    for y in 200..240 {
        for x in 40..80 {
            if (x + y) % 2 == 0 {
                frame.fill_rect(x, y, 1, 1, [255, 255, 255, 255]);
            }
        }
    }
    frame
}

/// A virtual X display (Xvfb), stopped when dropped.
pub struct Xvfb {
    child: Child,
    /// The DISPLAY value, e.g. ":7".
    pub display: String,
}

impl Xvfb {
    /// Starts Xvfb on a free display with one screen of `width` × `height`.
    pub fn start(width: u32, height: u32) -> Self {
        Self::try_start(width, height)
            .expect("Xvfb is needed for this test; .ci/run installs it (apt-get install xvfb)")
    }

    /// Like [`Self::start`], with an error instead of a panic.
    pub fn try_start(width: u32, height: u32) -> std::io::Result<Self> {
        let mut child = Command::new("Xvfb")
            // -noreset: without it the server resets when its last client leaves, and
            // a background drawn by a client that has exited is gone again.
            .args([
                "-displayfd",
                "1",
                "-nolisten",
                "tcp",
                "-noreset",
                "-screen",
                "0",
            ])
            .arg(format!("{width}x{height}x24"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        let number = line.trim().to_owned();
        if number.is_empty() {
            let _ = child.kill();
            return Err(std::io::Error::other("Xvfb did not report its display"));
        }
        Ok(Self {
            child,
            display: format!(":{number}"),
        })
    }

    /// Sets the root window's background to the picture in `png` (ImageMagick's
    /// `display`). It exits with 1 even when it has set the background, so its
    /// status is not checked; tests compare what they capture instead.
    pub fn show(&self, png: &Path) {
        let _ = Command::new("display")
            .args(["-window", "root"])
            .arg(png)
            .env("DISPLAY", &self.display)
            .status()
            .expect("ImageMagick's display is needed for this test; .ci/run installs imagemagick");
    }

    /// Runs an X client on this display and insists that it succeeds.
    pub fn run(&self, program: &str, args: &[&str]) {
        let status = Command::new(program)
            .args(args)
            .env("DISPLAY", &self.display)
            .status()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(status.success(), "{program} {args:?} failed");
    }
}

impl Xvfb {
    /// The top-level windows called `name` on this display, as (x, y,
    /// width, height): the agent's notice bars are called "pult-notice",
    /// on Linux and under Wine alike.
    pub fn windows_named(&self, name: &str) -> Vec<(i32, i32, u32, u32)> {
        let output = Command::new("xwininfo")
            .args(["-root", "-children"])
            .env("DISPLAY", &self.display)
            .output()
            .expect("xwininfo is needed for this test; .ci/run installs x11-utils");
        let quoted = format!("\"{name}\"");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| line.contains(&quoted))
            .filter_map(|line| {
                // 0x400001 "pult-notice": ()  420x30+590+0  +590+0
                let geometry = line.split_whitespace().rev().nth(1)?;
                let (size, position) = geometry.split_once('+')?;
                let (width, height) = size.split_once('x')?;
                let (x, y) = position.split_once('+')?;
                Some((
                    x.parse().ok()?,
                    y.parse().ok()?,
                    width.parse().ok()?,
                    height.parse().ok()?,
                ))
            })
            .collect()
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A QUIC connection to `device` with `room`'s certificate and nothing of
/// the console's checks: for tests that play a console breaking the rules.
/// The endpoint must live as long as the connection.
pub async fn raw_connection(
    room: &pult_console::RoomCertificate,
    device: &pult_protocol::credentials::RoomDevice,
) -> (quinn::Endpoint, quinn::Connection) {
    let endpoint = room.tls.endpoint().unwrap();
    let connection = endpoint
        .connect(
            device.address.unwrap().socket_addr(),
            &device.uuid.server_name(),
        )
        .unwrap()
        .await
        .unwrap();
    (endpoint, connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_addresses_of_one_process_differ_before_any_is_bound() {
        let (first, count) = ports_outside_ephemeral();
        let addresses: std::collections::HashSet<String> =
            (0..300).map(|_| free_address()).collect();
        assert_eq!(addresses.len(), 300, "an address was given twice");
        for address in &addresses {
            let port: u32 = address.rsplit(':').next().unwrap().parse().unwrap();
            assert!(
                (first..first + count).contains(&port),
                "{address} is outside {first}..{}",
                first + count
            );
        }
    }
}
