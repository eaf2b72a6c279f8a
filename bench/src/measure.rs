//! The benchmark runs and the table they print.

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use pult_console::{Console, DeviceSession, RoomCertificate, ScreenStream, encoded_frame};
use pult_protocol::input::{InputEvent, KeyCode, ScreenPoint};
use pult_protocol::watch::WatchSettings;
use pult_screen::codec::{FrameDecoder, TileEncoder};
use pult_screen::scale::Scaler;
use pult_screen::{CaptureSource, DesktopCapture, ScreenArea, SyntheticDesktop};

use crate::notice::NoticeWatcher;
use crate::procs::{self, Process};
use crate::rfb::RfbClient;
use crate::target;
use pult_demo::School;

/// How long each run lasts.
struct Durations {
    run: Duration,
    still: Duration,
    /// Keys pressed, and pointer moves made, for the input latency.
    presses: usize,
}

/// How long the runs are.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Length {
    /// 10 s a run, 30 s for still screens: the figures for README.
    Full,
    /// 3 s and 6 s: a quick look.
    Quick,
    /// 1 s and 2 s: only to see that every part runs (the test suite).
    Smoke,
}

/// Runs every measurement and prints the table.
pub(crate) fn main(length: Length) -> Result<()> {
    let (run_seconds, still_seconds) = match length {
        Length::Full => (10, 30),
        Length::Quick => (3, 6),
        Length::Smoke => (1, 2),
    };
    let durations = Durations {
        run: Duration::from_secs(run_seconds),
        still: Duration::from_secs(still_seconds),
        presses: match length {
            Length::Full => 200,
            Length::Quick => 50,
            Length::Smoke => 5,
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!("{}", machine());
    let mut table = Table::default();
    runtime.block_on(run(&durations, &mut table))?;
    println!("{}", table.render());
    Ok(())
}

/// One row of the table.
#[derive(Default, Clone)]
struct Row {
    scene: String,
    case: String,
    fps: Option<f64>,
    kb_per_second: Option<f64>,
    agent_ms_per_frame: Option<f64>,
    agent_cpu_percent: Option<f64>,
    console_cpu_percent: Option<f64>,
    p50_ms: Option<f64>,
    p95_ms: Option<f64>,
    note: String,
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
    lines: Vec<String>,
}

impl Table {
    fn render(&self) -> String {
        let header = [
            "scene",
            "case",
            "fps",
            "KB/s",
            "agent ms/frame",
            "agent CPU %",
            "console CPU %",
            "p50 ms",
            "p95 ms",
            "note",
        ];
        let cell =
            |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
        let rows: Vec<[String; 10]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.scene.clone(),
                    r.case.clone(),
                    cell(r.fps, 1),
                    cell(
                        r.kb_per_second,
                        if r.kb_per_second.is_some_and(|k| k < 10.0) {
                            2
                        } else {
                            1
                        },
                    ),
                    cell(r.agent_ms_per_frame, 2),
                    cell(r.agent_cpu_percent, 1),
                    cell(r.console_cpu_percent, 1),
                    cell(r.p50_ms, 1),
                    cell(r.p95_ms, 1),
                    r.note.clone(),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let line = |cells: Vec<String>| -> String {
            let joined: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            format!("| {} |", joined.join(" | "))
        };
        let _ = writeln!(
            out,
            "{}",
            line(header.iter().map(|h| (*h).to_owned()).collect())
        );
        let _ = writeln!(
            out,
            "|{}|",
            widths
                .iter()
                .map(|w| "-".repeat(w + 2))
                .collect::<Vec<_>>()
                .join("|")
        );
        for row in rows {
            let _ = writeln!(out, "{}", line(row.to_vec()));
        }
        for extra in &self.lines {
            let _ = writeln!(out, "{extra}");
        }
        out
    }
}

async fn run(durations: &Durations, table: &mut Table) -> Result<()> {
    // The pieces of a frame on this machine, in this process.
    pieces(table)?;

    // The synthetic desktop, drawn by the agent itself.
    let synthetic = ["--screen", "synthetic", "--synthetic-size", "1920x1080"];
    let thumbnail = WatchSettings::THUMBNAIL;
    let full = WatchSettings {
        max_fps: 60,
        ..WatchSettings::FULL_VIEW
    };
    let mut rig = Rig::new(1, &synthetic, None).await?;
    let thumb = rig.watch(thumbnail, durations.run).await?;
    table
        .rows
        .push(thumb.row("synthetic 1920x1080", "thumbnail 320x180 @5"));
    let full_view = rig.watch(full, durations.run).await?;
    table
        .rows
        .push(full_view.row("synthetic 1920x1080", "full view @max"));
    drop(rig);
    let mut rig = Rig::new(
        1,
        &[
            "--screen",
            "synthetic",
            "--synthetic-size",
            "1920x1080",
            "--synthetic-speed",
            "0",
        ],
        None,
    )
    .await?;
    let still = rig.watch(full, durations.still).await?;
    table
        .rows
        .push(still.row("synthetic, still", "full view @30, still screen"));
    drop(rig);

    // The Xvfb scene: the same desktop painted into X at 30 fps, so that a
    // full view at 30 fps has a new picture each time. Captured by an agent
    // in one process, and by the agent as it is installed: the service, with
    // capture, scaling and encoding in its session helper (one more hop).
    let xvfb = procs::xvfb(1920, 1080)?;
    let display = xvfb.display.clone();
    let painter = procs::painter(&display, 1920, 1080, 30, 1.0)?;
    std::thread::sleep(Duration::from_millis(500));
    let mut rig = Rig::new(1, &["--screen", "x11"], Some(&display)).await?;
    let mut served = Rig::service(1, &display).await?;
    table.lines.push(idle(&rig, &served, durations.run).await?);
    let watcher = NoticeWatcher::new(&display)?;
    let rounds = durations.run.as_secs() as usize * 2;
    let notice_single = rig.notice(&watcher, rounds).await?;
    let notice_served = served.notice(&watcher, rounds).await?;
    table.lines.push(format!(
        "Notice (R1), {rounds} watch requests: request to the notice bar on screen p50/p95 {} ms one process, {} ms service + helper; to the first picture {} ms, {}; bar gone after the stream ends {} ms, {}",
        notice_single.shown.p50_p95(),
        notice_served.shown.p50_p95(),
        notice_single.first_picture.p50_p95(),
        notice_served.first_picture.p50_p95(),
        notice_single.gone.p50_p95(),
        notice_served.gone.p50_p95(),
    ));
    let x_thumb = rig.watch(thumbnail, durations.run).await?;
    table
        .rows
        .push(x_thumb.row("Xvfb scene 1920x1080", "thumbnail 320x180 @5"));
    let x_full = rig.watch(full, durations.run).await?;
    table
        .rows
        .push(x_full.row("Xvfb scene 1920x1080", "full view @max"));
    let s_thumb = served.watch(thumbnail, durations.run).await?;
    table.rows.push(s_thumb.row(
        "Xvfb scene 1920x1080",
        "service + helper: thumbnail 320x180 @5",
    ));
    let s_full = served.watch(full, durations.run).await?;
    table
        .rows
        .push(s_full.row("Xvfb scene 1920x1080", "service + helper: full view @max"));

    // The VNC baseline on the same scene, full updates at the same rates.
    let (_vnc, port) = procs::x11vnc(&display)?;
    let vnc_pid = _vnc.pid();
    let vnc_at = |fps: f64| -> Result<(Row, f64, f64)> {
        let mut client = RfbClient::connect(port)?;
        let (width, height) = client.size();
        let cpu_before = procs::cpu_seconds_of(vnc_pid)?;
        let figures = client.full_updates(fps, durations.run)?;
        let cpu = procs::cpu_seconds_of(vnc_pid)? - cpu_before;
        let kb = figures.bytes as f64 / 1000.0 / figures.seconds;
        let row = Row {
            scene: format!("Xvfb scene {width}x{height}"),
            case: format!("VNC (x11vnc, ZRLE) full updates @{fps:.0}"),
            fps: Some(figures.updates as f64 / figures.seconds),
            kb_per_second: Some(kb),
            agent_ms_per_frame: Some(cpu * 1000.0 / figures.updates.max(1) as f64),
            agent_cpu_percent: Some(cpu * 100.0 / figures.seconds),
            note: "x11vnc as the agent".into(),
            ..Row::default()
        };
        Ok((row, kb, cpu * 100.0 / figures.seconds))
    };
    let (vnc_thumb_row, vnc_thumb_kb, vnc_thumb_cpu) = vnc_at(5.0)?;
    table.rows.push(vnc_thumb_row);
    let full_rate = x_full.fps().clamp(1.0, 30.0).round();
    let (vnc_full_row, vnc_full_kb, vnc_full_cpu) = vnc_at(full_rate)?;
    table.rows.push(vnc_full_row);
    drop(painter);

    // The still Xvfb screen (the painter has stopped).
    std::thread::sleep(Duration::from_millis(500));
    let x_still = rig.watch(full, durations.still).await?;
    table
        .rows
        .push(x_still.row("Xvfb scene, still", "full view @30, still screen"));
    let s_still = served.watch(full, durations.still).await?;
    table.rows.push(s_still.row(
        "Xvfb scene, still",
        "service + helper: full view @30, still screen",
    ));
    drop((rig, served, watcher, xvfb));

    // Input latency (R3): keys and pointer moves on a control stream, to the
    // pixels they change arriving in the full view at 30 fps.
    let xvfb = procs::xvfb(1920, 1080)?;
    crate::target::start(&xvfb.display)?;
    let mut rig = Rig::new(1, &["--screen", "x11"], Some(&xvfb.display)).await?;
    let single = rig.input_latency(durations.presses).await?;
    drop(rig);
    let mut served = Rig::service(1, &xvfb.display).await?;
    let service = served.input_latency(durations.presses).await?;
    drop((served, xvfb));
    table.lines.push(format!(
        "Input latency (R3), full view @30 on a still 1920x1080 Xvfb screen, send to changed pixels in the stream p50/p95: key {} ms one process, {} ms service + helper ({} keys); pointer move {} ms, {} ms ({} moves)",
        single.keys.p50_p95(),
        service.keys.p50_p95(),
        durations.presses,
        single.moves.p50_p95(),
        service.moves.p50_p95(),
        durations.presses,
    ));

    // Many agents, one console.
    for agents in [10, 40] {
        let mut rig = Rig::new(
            agents,
            &["--screen", "synthetic", "--synthetic-size", "1280x720"],
            None,
        )
        .await?;
        let many = rig
            .watch_all(
                thumbnail,
                durations.run,
                "synthetic 1280x720",
                "one process each",
            )
            .await?;
        table.rows.push(many);
    }
    // A wall of ten on one Xvfb scene: one process each, then service and
    // helper each.
    let xvfb = procs::xvfb(1280, 720)?;
    let painter = procs::painter(&xvfb.display, 1280, 720, 30, 1.0)?;
    let mut rig = Rig::new(10, &["--screen", "x11"], Some(&xvfb.display)).await?;
    let wall_single = rig
        .watch_all(
            thumbnail,
            durations.run,
            "Xvfb scene 1280x720",
            "one process each",
        )
        .await?;
    drop(rig);
    let mut served = Rig::service(10, &xvfb.display).await?;
    let wall_served = served
        .watch_all(
            thumbnail,
            durations.run,
            "Xvfb scene 1280x720",
            "service + helper each",
        )
        .await?;
    drop((served, painter, xvfb));
    table.lines.push(format!(
        "Helper hop, service + helper against one process: thumbnail {}; full view {}; wall of 10 thumbnails {}",
        hop(&x_thumb.hop_figures(), &s_thumb.hop_figures()),
        hop(&x_full.hop_figures(), &s_full.hop_figures()),
        hop(&wall_single.hop_figures(), &wall_served.hop_figures()),
    ));
    table.rows.push(wall_single);
    table.rows.push(wall_served);

    // Ratios and targets.
    let ratio = |ours: f64, theirs: f64| {
        if ours > 0.0 {
            format!("1:{:.0}", theirs / ours)
        } else {
            "-".into()
        }
    };
    table.lines.push(String::new());
    table.lines.push(format!(
        "Ratios ours:VNC on the Xvfb scene — thumbnail @5 vs full updates @5: bytes {}, agent CPU {}; full view @{full_rate:.0} vs full updates @{full_rate:.0}: bytes {}, agent CPU {}",
        ratio(x_thumb.kb_per_second(), vnc_thumb_kb),
        ratio(x_thumb.agent_cpu_percent(), vnc_thumb_cpu),
        ratio(x_full.kb_per_second(), vnc_full_kb),
        ratio(x_full.agent_cpu_percent(), vnc_full_cpu),
    ));
    let check = |ok: bool| if ok { "met" } else { "NOT met" };
    table.lines.push(format!(
        "Target thumbnail >= 5 fps at <= 1/20 of VNC's bytes: {} ({:.1} fps, {:.1} KB/s vs {:.1} KB/s)",
        check(x_thumb.fps() >= 4.9 && x_thumb.kb_per_second() * 20.0 <= vnc_thumb_kb),
        x_thumb.fps(),
        x_thumb.kb_per_second(),
        vnc_thumb_kb
    ));
    for (scene, figures) in [
        ("synthetic", &full_view),
        ("Xvfb", &x_full),
        ("Xvfb, service + helper", &s_full),
    ] {
        table.lines.push(format!(
            "Target full view >= 30 fps at 1920x1080, p95 <= 50 ms ({scene}): {} ({:.1} fps, p95 {:.1} ms; per frame: agent {:.1} ms capture to send, console {:.1} ms decode)",
            check(figures.fps() >= 29.5 && figures.percentile(0.95) <= 50.0),
            figures.fps(),
            figures.percentile(0.95),
            figures.mean_agent_ms(),
            figures.mean_decode_ms()
        ));
    }
    for (case, samples) in [
        ("key, one process", &single.keys),
        ("key, service + helper", &service.keys),
        ("pointer, one process", &single.moves),
        ("pointer, service + helper", &service.moves),
    ] {
        let p95 = samples.percentile(0.95);
        table.lines.push(format!(
            "Target input p95 <= 50 ms on loopback ({case}): {} ({p95:.1} ms)",
            check(p95 <= 50.0)
        ));
    }
    for (scene, figures) in [
        ("synthetic", &still),
        ("Xvfb", &x_still),
        ("Xvfb, service + helper", &s_still),
    ] {
        table.lines.push(format!(
            "Target still screen < 1 KB/s and < 1 % of a core on the agent ({scene}): {} ({:.2} KB/s, {:.2} %)",
            check(figures.kb_per_second() < 1.0 && figures.agent_cpu_percent() < 1.0),
            figures.kb_per_second(),
            figures.agent_cpu_percent()
        ));
    }
    Ok(())
}

/// Capture, scaling and encoding of one frame, timed in this process.
fn pieces(table: &mut Table) -> Result<()> {
    let desktop = SyntheticDesktop::new(1920, 1080).with_seed(7);
    let frames: Vec<_> = (0..31)
        .map(|i| desktop.render(Duration::from_millis(10_000 + i * 33)))
        .collect();
    let time = |work: &mut dyn FnMut()| {
        let started = Instant::now();
        work();
        started.elapsed().as_secs_f64() * 1000.0 / 30.0
    };
    let mut encoder = TileEncoder::new(80);
    encoder.encode(frames[0].clone());
    let encode = time(&mut || {
        for frame in &frames[1..] {
            encoder.encode(frame.clone());
        }
    });
    let mut scaler = Scaler::new();
    let scale = time(&mut || {
        for frame in &frames[1..] {
            scaler.fit(frame.clone(), 320, 180);
        }
    });
    let render = time(&mut || {
        for i in 0..30 {
            desktop.render(Duration::from_millis(10_000 + i * 33));
        }
    });
    let xvfb = procs::xvfb(1920, 1080)?;
    let display = &xvfb.display;
    let mut capture = DesktopCapture::x11(display);
    capture.capture(ScreenArea::Desktop)?;
    let started = Instant::now();
    for _ in 0..30 {
        capture.capture(ScreenArea::Desktop)?;
    }
    let capture = started.elapsed().as_secs_f64() * 1000.0 / 30.0;
    table.lines.push(format!(
        "Per 1920x1080 frame in one thread: X11 capture {capture:.1} ms, synthetic render {render:.1} ms, scale to 320x180 {scale:.1} ms, encode changes at 30 fps {encode:.1} ms"
    ));
    Ok(())
}

/// Agents for one room and a console connected to all of them.
struct Rig {
    _school: School,
    agents: Vec<Process>,
    _console: Console,
    sessions: Vec<DeviceSession>,
    _runtime: Option<tempfile::TempDir>,
}

impl Rig {
    /// `count` agents, one process each, started with `args`.
    async fn new(count: usize, args: &[&str], display: Option<&str>) -> Result<Self> {
        Self::start(count, |_, bundle| procs::agent(bundle, args, display), None).await
    }

    /// `count` agents as installed: a service each, with its session helper
    /// in this user's session on `display`.
    async fn service(count: usize, display: &str) -> Result<Self> {
        let runtime = tempfile::tempdir()?;
        let dirs = runtime.path().to_owned();
        Self::start(
            count,
            |index, bundle| procs::service(bundle, display, &dirs.join(index.to_string())),
            Some(runtime),
        )
        .await
    }

    async fn start(
        count: usize,
        mut agent: impl FnMut(usize, &std::path::Path) -> Result<Process>,
        runtime: Option<tempfile::TempDir>,
    ) -> Result<Self> {
        let addresses = (0..count)
            .map(|_| procs::free_address())
            .collect::<Result<Vec<_>>>()?;
        let mut school = School::new("Benchmark-Schule", &addresses)?;
        let mut agents = Vec::with_capacity(count);
        for index in 0..count {
            let bundle = school.bundle(index)?;
            agents.push(agent(index, &bundle)?);
        }
        let room = RoomCertificate::load(&school.certificate()?)?;
        let devices = room.manifest.devices.clone();
        let console = Console::new(room)?;
        let mut sessions = Vec::with_capacity(count);
        for device in &devices {
            sessions.push(console.connect(device).await?);
        }
        Ok(Self {
            _school: school,
            agents,
            _console: console,
            sessions,
            _runtime: runtime,
        })
    }

    /// Asks the first agent for a thumbnail stream `rounds` times and times
    /// the notice bar the X server maps, the first picture, and the bar's
    /// going after the stream ends.
    async fn notice(&mut self, watcher: &NoticeWatcher, rounds: usize) -> Result<NoticeFigures> {
        let mut figures = NoticeFigures::default();
        let within = Duration::from_secs(10);
        for _ in 0..rounds {
            watcher.drain();
            let asked = Instant::now();
            let mut stream = self.sessions[0].watch(WatchSettings::THUMBNAIL, 2).await?;
            tokio::time::timeout(within, stream.next_update())
                .await
                .context("no first picture within 10 s")??
                .context("the stream ended before its first picture")?;
            figures.first_picture.push(asked.elapsed());
            let shown = watcher.mapped(within)?;
            figures.shown.push(shown - asked);
            let stopped = Instant::now();
            stream.stop().await;
            let gone = watcher.gone(within)?;
            figures.gone.push(gone.saturating_duration_since(stopped));
        }
        Ok(figures)
    }

    /// Presses a key `presses` times and moves the pointer as often on the
    /// first agent's screen (where [`crate::target`] shows both), each time
    /// timing the send to the change arriving in a full view at 30 fps.
    async fn input_latency(&mut self, presses: usize) -> Result<InputFigures> {
        let settings = WatchSettings {
            max_fps: 30,
            ..WatchSettings::FULL_VIEW
        };
        let mut stream = self.sessions[0].watch(settings, 2).await?;
        let mut decoder = FrameDecoder::new();
        let first = tokio::time::timeout(Duration::from_secs(10), stream.next_update())
            .await
            .context("no first picture within 10 s")??
            .context("the stream ended")?;
        decoder.apply(&encoded_frame(first))?;
        let mut control = self.sessions[0].control().await?;
        let frame = decoder.frame().context("no picture")?;
        // The stream may show the screen smaller than its 1920x1080.
        let scale = f64::from(frame.width()) / 1920.0;
        let at = |x: u32, y: u32| ((f64::from(x) * scale) as u32, (f64::from(y) * scale) as u32);
        let bright = |frame: &pult_screen::Frame, (x, y): (u32, u32)| {
            frame
                .pixel(x, y)
                .is_some_and(|p| p[..3].iter().all(|&c| c > 160))
        };
        let mut figures = InputFigures::default();
        let key = KeyCode::from_dom("KeyA").context("no key A")?;
        let square = at(
            u32::from(target::KEY_SQUARE.2) / 2,
            u32::from(target::KEY_SQUARE.3) / 2,
        );
        // A send right after a picture would always wait a whole capture
        // period; people press keys at any moment, so the sends are spread
        // over the period (0 to 33 ms after the picture before).
        let spread = |i: usize| Duration::from_millis((i as u64 * 7) % 34);
        for i in 0..presses {
            tokio::time::sleep(spread(i)).await;
            let was = bright(decoder.frame().context("no picture")?, square);
            let sent = Instant::now();
            control
                .send_all(&[
                    InputEvent::Key {
                        code: key,
                        down: true,
                    },
                    InputEvent::Key {
                        code: key,
                        down: false,
                    },
                ])
                .await?;
            changed(&mut stream, &mut decoder, |f| bright(f, square) != was).await?;
            figures.keys.push(sent.elapsed());
        }
        for i in 0..presses {
            let (x, y) = (400 + (i % 10) as u32 * 120, 500 + (i % 2) as u32 * 200);
            tokio::time::sleep(spread(i)).await;
            let sent = Instant::now();
            control.glide_to(ScreenPoint::Pixel { x, y }).await?;
            changed(&mut stream, &mut decoder, |f| bright(f, at(x, y))).await?;
            figures.moves.push(sent.elapsed());
        }
        control.end().await?;
        stream.stop().await;
        Ok(figures)
    }

    /// Watches the first agent with `settings` for `duration`.
    async fn watch(&mut self, settings: WatchSettings, duration: Duration) -> Result<Figures> {
        let stream = self.sessions[0].watch(settings, 2).await?;
        let agent_cpu = self.agents[0].cpu_seconds()?;
        let console_cpu = procs::own_cpu_seconds()?;
        let figures = measure(stream, duration).await?;
        Ok(Figures {
            agent_cpu: self.agents[0].cpu_seconds()? - agent_cpu,
            console_cpu: procs::own_cpu_seconds()? - console_cpu,
            ..figures
        })
    }

    /// Watches every agent at once with `settings`; one summary row.
    async fn watch_all(
        &mut self,
        settings: WatchSettings,
        duration: Duration,
        scene: &str,
        case: &str,
    ) -> Result<Row> {
        let mut streams = Vec::with_capacity(self.sessions.len());
        for session in &self.sessions {
            streams.push(session.watch(settings, 2).await?);
        }
        let agent_cpu: f64 = self
            .agents
            .iter()
            .map(|a| a.cpu_seconds().unwrap_or(0.0))
            .sum();
        let console_cpu = procs::own_cpu_seconds()?;
        let started = Instant::now();
        let mut runs = tokio::task::JoinSet::new();
        for stream in streams {
            runs.spawn(measure(stream, duration));
        }
        let results = runs.join_all().await;
        let seconds = started.elapsed().as_secs_f64();
        let console = (procs::own_cpu_seconds()? - console_cpu) * 100.0 / seconds;
        let agents: f64 = self
            .agents
            .iter()
            .map(|a| a.cpu_seconds().unwrap_or(0.0))
            .sum::<f64>()
            - agent_cpu;
        let mut rates: Vec<f64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(Figures::fps)
            .collect();
        rates.sort_by(f64::total_cmp);
        let failed = results.iter().filter(|r| r.is_err()).count();
        let bytes: f64 = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(Figures::kb_per_second)
            .sum();
        let median = rates.get(rates.len() / 2).copied();
        Ok(Row {
            scene: format!("{} agents, {scene}", self.agents.len()),
            case: format!("thumbnails 320x180 @5, one console, {case}"),
            fps: median,
            kb_per_second: Some(bytes),
            agent_cpu_percent: Some(agents * 100.0 / seconds / self.agents.len() as f64),
            console_cpu_percent: Some(console),
            note: format!(
                "fps per stream min {:.1}, median {:.1}, max {:.1}; KB/s for all; agent CPU per agent{}",
                rates.first().copied().unwrap_or(0.0),
                median.unwrap_or(0.0),
                rates.last().copied().unwrap_or(0.0),
                if failed > 0 {
                    format!("; {failed} streams failed")
                } else {
                    String::new()
                }
            ),
            ..Row::default()
        })
    }
}

/// Figures of one watched stream.
#[derive(Default, Clone)]
struct Figures {
    /// From the first update (not counted) to the last one received.
    seconds: f64,
    updates: u64,
    wire_bytes: u64,
    latencies: Vec<f64>,
    agent_ms: Vec<f64>,
    decode_ms: Vec<f64>,
    agent_cpu: f64,
    console_cpu: f64,
}

impl Figures {
    fn fps(&self) -> f64 {
        self.updates as f64 / self.seconds.max(1e-9)
    }

    fn kb_per_second(&self) -> f64 {
        self.wire_bytes as f64 / 1000.0 / self.seconds.max(1e-9)
    }

    fn agent_cpu_percent(&self) -> f64 {
        self.agent_cpu * 100.0 / self.seconds.max(1e-9)
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_by(f64::total_cmp);
        let last = sorted.len().saturating_sub(1);
        sorted
            .get(((last as f64) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    }

    fn mean_agent_ms(&self) -> f64 {
        mean(&self.agent_ms)
    }

    fn mean_decode_ms(&self) -> f64 {
        mean(&self.decode_ms)
    }

    fn row(&self, scene: &str, case: &str) -> Row {
        let has_latency = !self.latencies.is_empty();
        Row {
            scene: scene.into(),
            case: case.into(),
            fps: Some(self.fps()),
            kb_per_second: Some(self.kb_per_second()),
            agent_ms_per_frame: (self.updates > 0)
                .then(|| self.agent_cpu * 1000.0 / self.updates as f64),
            agent_cpu_percent: Some(self.agent_cpu_percent()),
            console_cpu_percent: Some(self.console_cpu * 100.0 / self.seconds.max(1e-9)),
            p50_ms: has_latency.then(|| self.percentile(0.5)),
            p95_ms: has_latency.then(|| self.percentile(0.95)),
            note: format!("{} updates in {:.0} s", self.updates, self.seconds),
        }
    }
}

impl Row {
    /// The figures the helper hop is judged by, for a wall of agents.
    fn hop_figures(&self) -> HopFigures {
        HopFigures {
            fps: self.fps.unwrap_or(0.0),
            kb_per_second: self.kb_per_second.unwrap_or(0.0),
            agent_cpu_percent: self.agent_cpu_percent.unwrap_or(0.0),
            p95_ms: None,
        }
    }
}

impl Figures {
    /// The figures the helper hop is judged by.
    fn hop_figures(&self) -> HopFigures {
        HopFigures {
            fps: self.fps(),
            kb_per_second: self.kb_per_second(),
            agent_cpu_percent: self.agent_cpu_percent(),
            p95_ms: (!self.latencies.is_empty()).then(|| self.percentile(0.95)),
        }
    }
}

/// One stream (or wall) in one process or through service and helper.
struct HopFigures {
    fps: f64,
    kb_per_second: f64,
    agent_cpu_percent: f64,
    p95_ms: Option<f64>,
}

/// "before → after" for each figure, with the change in per cent.
fn hop(single: &HopFigures, served: &HopFigures) -> String {
    let change = |before: f64, after: f64| {
        if before > 0.0 {
            format!(" ({:+.0} %)", (after - before) * 100.0 / before)
        } else {
            String::new()
        }
    };
    let mut text = format!(
        "fps {:.1} → {:.1}{}, KB/s {:.1} → {:.1}, agent CPU {:.1} → {:.1} %{}",
        single.fps,
        served.fps,
        change(single.fps, served.fps),
        single.kb_per_second,
        served.kb_per_second,
        single.agent_cpu_percent,
        served.agent_cpu_percent,
        change(single.agent_cpu_percent, served.agent_cpu_percent),
    );
    if let (Some(before), Some(after)) = (single.p95_ms, served.p95_ms) {
        let _ = write!(text, ", p95 {before:.1} → {after:.1} ms");
    }
    text
}

/// Times around the notice, one per watch request.
#[derive(Default)]
struct NoticeFigures {
    shown: Samples,
    first_picture: Samples,
    gone: Samples,
}

/// Durations, for their median and 95th percentile.
#[derive(Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn push(&mut self, duration: Duration) {
        self.0.push(duration);
    }

    /// The `p` quantile in milliseconds (NaN without samples).
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort();
        let last = sorted.len().saturating_sub(1);
        sorted
            .get(((last as f64) * p).round() as usize)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    }

    /// "p50/p95" in milliseconds.
    fn p50_p95(&self) -> String {
        let mut sorted = self.0.clone();
        sorted.sort();
        let at = |p: f64| {
            let last = sorted.len().saturating_sub(1);
            sorted
                .get(((last as f64) * p).round() as usize)
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
        };
        format!("{:.1}/{:.1}", at(0.5), at(0.95))
    }
}

/// Reads `stream` until the decoded picture satisfies `done` (at most 5 s).
async fn changed(
    stream: &mut ScreenStream,
    decoder: &mut FrameDecoder,
    done: impl Fn(&pult_screen::Frame) -> bool,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let update = tokio::time::timeout_at(deadline.into(), stream.next_update())
            .await
            .context("the input did not show within 5 s")??
            .context("the stream ended")?;
        if done(decoder.apply(&encoded_frame(update))?) {
            return Ok(());
        }
    }
}

/// Latencies of keys and pointer moves.
#[derive(Default)]
struct InputFigures {
    keys: Samples,
    moves: Samples,
}

/// Memory and CPU of the agents while nobody watches, measured over
/// `duration`: the single-process agent, and the service and its helper.
async fn idle(single: &Rig, served: &Rig, duration: Duration) -> Result<String> {
    let service = &served.agents[0];
    let helper = service
        .helper_pid()
        .context("the service has no session helper")?;
    let processes = [
        ("one process", single.agents[0].pid()),
        ("service", service.pid()),
        ("helper", helper),
    ];
    let before = processes
        .iter()
        .map(|&(_, pid)| procs::cpu_seconds_of(pid))
        .collect::<Result<Vec<_>>>()?;
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    let seconds = started.elapsed().as_secs_f64();
    let mut text = format!("Idle (a console connected, nobody watching, {seconds:.0} s):");
    for (&(name, pid), cpu_before) in processes.iter().zip(before) {
        let cpu = (procs::cpu_seconds_of(pid)? - cpu_before) * 100.0 / seconds;
        let _ = write!(
            text,
            " {name} RSS {:.1} MiB, CPU {cpu:.2} %;",
            procs::rss_mib(pid)?
        );
    }
    text.pop();
    Ok(text)
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// Receives a stream for `duration`, decoding every update as a viewer would.
async fn measure(mut stream: ScreenStream, duration: Duration) -> Result<Figures> {
    let mut decoder = FrameDecoder::new();
    let mut figures = Figures::default();
    // The first update is the whole picture: not part of the steady state.
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next_update())
        .await
        .context("no first update within 10 s")??;
    decoder.apply(&encoded_frame(first.context("the stream ended")?))?;
    let bytes_before = stream.bytes_received();
    let started = Instant::now();
    let mut last = started;
    while let Ok(update) = tokio::time::timeout(
        duration.saturating_sub(started.elapsed()),
        stream.next_update(),
    )
    .await
    {
        let Some(update) = update? else { break };
        figures.updates += 1;
        last = Instant::now();
        let captured = update.captured_at_micros;
        let changed = !update.tiles.is_empty();
        figures
            .agent_ms
            .push(f64::from(update.agent_micros) / 1000.0);
        let decoding = Instant::now();
        decoder.apply(&encoded_frame(update))?;
        figures
            .decode_ms
            .push(decoding.elapsed().as_secs_f64() * 1000.0);
        if changed {
            figures
                .latencies
                .push(unix_micros().saturating_sub(captured) as f64 / 1000.0);
        }
        if started.elapsed() >= duration {
            break;
        }
    }
    // A still screen sends only keep-alives: its rate is over the whole run.
    let end = if figures.latencies.is_empty() {
        Instant::now()
    } else {
        last
    };
    figures.seconds = (end - started).as_secs_f64();
    figures.wire_bytes = stream.bytes_received() - bytes_before;
    stream.stop().await;
    Ok(figures)
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The machine the figures come from.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let debian = std::fs::read_to_string("/etc/debian_version").unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let date = time::OffsetDateTime::now_utc().date();
    format!(
        "Pult benchmark, {date}: {cores} cores ({cpu}), Debian {}, Linux {}, {} build",
        debian.trim(),
        kernel.trim(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    )
}
