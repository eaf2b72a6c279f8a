//! Live screens (R1): watching through pultctl and the console engine, with
//! the real X11 capture under Xvfb and the synthetic desktop.

use std::path::PathBuf;
use std::time::Duration;

use pult_console::{
    Console, ConsoleError, DeviceSession, RoomCertificate, ScreenStream, encoded_frame,
};
use pult_e2e::{Agent, School, Xvfb, free_address, pultctl};
use pult_protocol::message::ErrorCode;
use pult_protocol::watch::{ScreenUpdate, WatchSettings};
use pult_screen::codec::{FrameDecoder, TILE_SIZE, TileRect};
use pult_screen::{Frame, decode_png, encode_png};

/// One device in room 101 with its agent started with `args` and `env`.
struct Desk {
    school: School,
    agent: Agent,
    cert: PathBuf,
}

fn desk(args: &[&str], env: &[(&str, &str)]) -> Desk {
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!("name,room,ip\nR101-PC01,101,{}\n", free_address()));
    let agent = Agent::start(&school.agent_bundle("R101-PC01"), args, env);
    let cert = school.room_cert("101", "mueller", "1h");
    Desk {
        school,
        agent,
        cert,
    }
}

async fn session(desk: &Desk) -> (Console, DeviceSession) {
    let room = RoomCertificate::load(&desk.cert).unwrap();
    let device = room.manifest.devices[0].clone();
    let console = Console::new(room).unwrap();
    let session = console.connect(&device).await.unwrap();
    (console, session)
}

fn settings(width: u32, height: u32, monitor: Option<u32>) -> WatchSettings {
    WatchSettings {
        max_width: width,
        max_height: height,
        max_fps: 10,
        quality: 80,
        monitor,
    }
}

/// The next update that changes something (keep-alives are skipped).
async fn next_change(stream: &mut ScreenStream) -> ScreenUpdate {
    loop {
        let update = tokio::time::timeout(Duration::from_secs(10), stream.next_update())
            .await
            .expect("an update within 10 s")
            .unwrap()
            .expect("the stream goes on");
        if !update.tiles.is_empty() {
            return update;
        }
    }
}

/// A picture with flat, text-like parts and a photo-like gradient.
fn scene(width: u32, height: u32, accent: [u8; 4]) -> Frame {
    let mut frame = Frame::filled(width, height, [240, 240, 236, 255]);
    for line in 0..20 {
        frame.fill_rect(
            20,
            20 + line * 12,
            150 + (line * 37) % 200,
            6,
            [40, 44, 52, 255],
        );
    }
    frame.fill_rect(400, 40, 120, 80, accent);
    for y in 300..460 {
        for x in 40..600 {
            let (r, g) = ((x * 255 / 600) as u8, (y * 255 / 480) as u8);
            frame.fill_rect(
                i64::from(x),
                i64::from(y),
                1,
                1,
                [r, g, ((x + y) % 256) as u8, 255],
            );
        }
    }
    frame
}

/// The height of the notice bar the agent draws at the top of the screen
/// while it is viewed (R1): it is on the captured picture, not the drawn one.
const NOTICE_BAR: usize = 30;

/// The mean difference per channel below the notice bar.
fn mean_error(a: &Frame, b: &Frame) -> f64 {
    let skip = NOTICE_BAR * a.width() as usize * 4;
    let total: u64 = a.pixels()[skip..]
        .iter()
        .zip(&b.pixels()[skip..])
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    total as f64 / (a.pixels().len() - skip) as f64
}

fn covered_area(update: &ScreenUpdate) -> u64 {
    update
        .tiles
        .iter()
        .map(|t| u64::from(t.width) * u64::from(t.height))
        .sum()
}

#[test]
fn r1_pultctl_watch_shows_the_x11_screen_within_the_lossy_bound() {
    let xvfb = Xvfb::start(640, 480);
    let desk = desk(&["--screen", "x11"], &[("DISPLAY", xvfb.display.as_str())]);
    let drawn = scene(640, 480, [200, 60, 20, 255]);
    let png = desk.school.path("drawn.png");
    std::fs::write(&png, encode_png(&drawn).unwrap()).unwrap();
    xvfb.show(&png);

    let saved = desk.school.path("last.png");
    let ctl = pultctl(
        &desk.cert,
        &[
            "watch",
            "R101-PC01",
            "--size",
            "640x480",
            "--fps",
            "5",
            "--seconds",
            "2",
            "--save-last",
            saved.to_str().unwrap(),
        ],
    );
    assert!(ctl.success, "{}", ctl.stderr);
    assert!(
        ctl.stdout.contains("R101-PC01: ") && ctl.stdout.contains("latency p50"),
        "{}",
        ctl.stdout
    );
    let seen = decode_png(&std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!((seen.width(), seen.height()), (640, 480));
    let error = mean_error(&seen, &drawn);
    assert!(error < 2.0, "mean error {error}");
    // The text-like part travels losslessly.
    for (x, y) in [(20, 20), (25, 22), (100, 200), (450, 60), (630, 10)] {
        assert_eq!(seen.pixel(x, y), drawn.pixel(x, y), "({x}, {y})");
    }

    let watch = desk.agent.wait_for_audit(|e| e["action"] == "watch-end");
    assert_eq!(watch["user"], "mueller");
    desk.agent.wait_for_line("watched: yes");
    desk.agent.wait_for_line("watched: no");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_tiles_of_a_changed_region_travel() {
    let xvfb = Xvfb::start(640, 480);
    let desk = desk(&["--screen", "x11"], &[("DISPLAY", xvfb.display.as_str())]);
    let before = scene(640, 480, [200, 60, 20, 255]);
    let png = desk.school.path("before.png");
    std::fs::write(&png, encode_png(&before).unwrap()).unwrap();
    xvfb.show(&png);

    let (_console, session) = session(&desk).await;
    let mut stream = session.watch(settings(640, 480, None), 2).await.unwrap();
    let mut decoder = FrameDecoder::new();
    let first = next_change(&mut stream).await;
    assert_eq!(
        covered_area(&first),
        640 * 480,
        "the first update is the whole picture"
    );
    decoder.apply(&encoded_frame(first)).unwrap();

    // Change a 60x60 square that straddles four tiles.
    let mut after = before.clone();
    after.fill_rect(230, 100, 60, 60, [20, 160, 220, 255]);
    let png = desk.school.path("after.png");
    std::fs::write(&png, encode_png(&after).unwrap()).unwrap();
    xvfb.show(&png);
    let update = next_change(&mut stream).await;
    let region = TileRect {
        x: 192,
        y: 64,
        width: 2 * TILE_SIZE,
        height: 2 * TILE_SIZE,
    };
    for tile in &update.tiles {
        let rect = TileRect {
            x: tile.x,
            y: tile.y,
            width: tile.width,
            height: tile.height,
        };
        assert!(
            rect.x >= region.x
                && rect.y >= region.y
                && rect.x + rect.width <= region.x + region.width
                && rect.y + rect.height <= region.y + region.height,
            "{rect:?} lies outside the changed tiles"
        );
    }
    assert_eq!(
        covered_area(&update),
        4 * u64::from(TILE_SIZE * TILE_SIZE),
        "exactly the four tiles travel"
    );
    let picture = decoder.apply(&encoded_frame(update)).unwrap();
    assert_eq!(picture.pixel(250, 120), Some([20, 160, 220, 255]));
    assert!(mean_error(picture, &after) < 2.0);

    // A viewer that lost its picture (a reloaded page) asks with the same
    // settings again, and the still screen comes whole.
    stream.adjust(settings(640, 480, None)).await.unwrap();
    let again = next_change(&mut stream).await;
    assert_eq!(covered_area(&again), 640 * 480, "the whole picture again");
    let mut fresh = FrameDecoder::new();
    assert!(mean_error(fresh.apply(&encoded_frame(again)).unwrap(), &after) < 2.0);
    stream.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_changes_size_midway_without_reconnecting() {
    let desk = desk(
        &["--screen", "synthetic", "--synthetic-size", "1280x720"],
        &[],
    );
    let (_console, session) = session(&desk).await;
    let mut stream = session.watch(WatchSettings::THUMBNAIL, 2).await.unwrap();
    let thumbnail = next_change(&mut stream).await;
    assert_eq!((thumbnail.width, thumbnail.height), (320, 180));

    stream.adjust(settings(1280, 720, None)).await.unwrap();
    let mut decoder = FrameDecoder::new();
    let full = loop {
        let update = next_change(&mut stream).await;
        if update.width == 1280 {
            break update;
        }
        assert_eq!(update.width, 320, "only the two sizes");
    };
    assert_eq!(full.height, 720);
    assert_eq!(
        covered_area(&full),
        1280 * 720,
        "a new size starts with the whole picture"
    );
    decoder.apply(&encoded_frame(full)).unwrap();
    // Back to a thumbnail of another size, on the same stream.
    stream.adjust(settings(160, 90, None)).await.unwrap();
    loop {
        let update = next_change(&mut stream).await;
        if update.width == 160 {
            assert_eq!(update.height, 90);
            break;
        }
    }
    let watches = desk
        .agent
        .audit()
        .into_iter()
        .filter(|e| e["action"] == "watch")
        .count();
    assert_eq!(watches, 1, "one stream throughout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_with_two_monitors_streams_either_monitor_or_the_whole_desktop() {
    let xvfb = Xvfb::start(1280, 480);
    xvfb.run(
        "xrandr",
        &["--setmonitor", "left", "640/170x480/130+0+0", "screen"],
    );
    xvfb.run(
        "xrandr",
        &["--setmonitor", "right", "640/170x480/130+640+0", "none"],
    );
    let desk = desk(&["--screen", "x11"], &[("DISPLAY", xvfb.display.as_str())]);
    let mut drawn = Frame::filled(1280, 480, [200, 40, 40, 255]);
    drawn.fill_rect(640, 0, 640, 480, [40, 40, 200, 255]);
    drawn.fill_rect(700, 100, 50, 50, [250, 250, 250, 255]);
    let png = desk.school.path("two.png");
    std::fs::write(&png, encode_png(&drawn).unwrap()).unwrap();
    xvfb.show(&png);

    let (_console, session) = session(&desk).await;
    for (monitor, width, sample, colour) in [
        (None, 1280, (720, 120), [250, 250, 250, 255]),
        (Some(0), 640, (300, 300), [200, 40, 40, 255]),
        (Some(1), 640, (80, 120), [250, 250, 250, 255]),
    ] {
        let mut stream = session
            .watch(settings(1280, 480, monitor), 2)
            .await
            .unwrap();
        let mut decoder = FrameDecoder::new();
        let update = next_change(&mut stream).await;
        assert_eq!(
            (update.width, update.height),
            (width, 480),
            "monitor {monitor:?}"
        );
        let picture = decoder.apply(&encoded_frame(update)).unwrap();
        assert_eq!(
            picture.pixel(sample.0, sample.1),
            Some(colour),
            "monitor {monitor:?}"
        );
        stream.stop().await;
    }
    let mut stream = session
        .watch(settings(1280, 480, Some(2)), 2)
        .await
        .unwrap();
    match stream.next_update().await {
        Err(ConsoleError::Agent { error, .. }) => {
            assert_eq!(error.code, ErrorCode::CaptureFailed);
            assert!(error.message.contains("no monitor 2"), "{}", error.message);
        }
        other => panic!(
            "expected the agent's error, got {:?}",
            other.map(|u| u.map(|u| u.sequence))
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_viewer_does_not_grow_the_agents_memory() {
    let desk = desk(
        &["--screen", "synthetic", "--synthetic-size", "1920x1080"],
        &[],
    );
    let (_console, session) = session(&desk).await;
    let mut stream = session.watch(WatchSettings::FULL_VIEW, 2).await.unwrap();
    // Take a few updates, then stop reading while keeping the stream open.
    let mut last = 0;
    for _ in 0..3 {
        last = next_change(&mut stream).await.sequence;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline = desk.agent.rss_kib();
    let mut highest = baseline;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        highest = highest.max(desk.agent.rss_kib());
    }
    eprintln!(
        "agent RSS: {baseline} KiB after the viewer stalled, at most {highest} KiB over 20 s"
    );
    assert!(
        highest < baseline + 16 * 1024,
        "the agent grew from {baseline} to {highest} KiB"
    );

    // Nothing queued up: of the two updates in flight one had arrived, so one
    // more was sent during the stall, and the next was captured only after
    // the viewer came back.
    let resumed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let waiting = stream.next_update().await.unwrap().unwrap();
    assert_eq!(waiting.sequence, last + 1);
    assert!(
        waiting.captured_at_micros < resumed,
        "sent during the stall"
    );
    let fresh = stream.next_update().await.unwrap().unwrap();
    assert_eq!(fresh.sequence, last + 2);
    assert!(
        fresh.captured_at_micros >= resumed,
        "captured only once credit came back"
    );
    stream.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_screen_sends_only_rare_keep_alives() {
    let xvfb = Xvfb::start(640, 480);
    let desk = desk(&["--screen", "x11"], &[("DISPLAY", xvfb.display.as_str())]);
    let drawn = scene(640, 480, [200, 60, 20, 255]);
    let png = desk.school.path("still.png");
    std::fs::write(&png, encode_png(&drawn).unwrap()).unwrap();
    xvfb.show(&png);

    let (_console, session) = session(&desk).await;
    let mut stream = session.watch(settings(640, 480, None), 2).await.unwrap();
    next_change(&mut stream).await;
    let bytes_before = stream.bytes_received();
    let (mut with_tiles, mut keep_alives) = (0, 0);
    let watching = tokio::time::Instant::now();
    while let Ok(update) =
        tokio::time::timeout_at(watching + Duration::from_secs(6), stream.next_update()).await
    {
        match update.unwrap().unwrap().tiles.len() {
            0 => keep_alives += 1,
            _ => with_tiles += 1,
        }
    }
    assert_eq!(with_tiles, 0, "nothing changed, so nothing was sent");
    assert!(keep_alives <= 2, "{keep_alives} keep-alives in 6 s");
    let bytes = stream.bytes_received() - bytes_before;
    assert!(bytes < 6 * 1024, "{bytes} bytes in 6 s of a still screen");

    // A change after the quiet spell still arrives.
    let mut changed = drawn.clone();
    changed.fill_rect(0, 0, 10, 10, [0, 0, 0, 255]);
    std::fs::write(&png, encode_png(&changed).unwrap()).unwrap();
    xvfb.show(&png);
    let update = next_change(&mut stream).await;
    assert_eq!(covered_area(&update), u64::from(TILE_SIZE * TILE_SIZE));
}
