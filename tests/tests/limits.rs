//! What one console may ask of an agent is bounded, and a console that asks
//! too much cannot stop it serving another: from one valid room certificate,
//! 1,000 connections, 100 screen-stream requests on one connection, streams
//! that never say hello and one-way streams nobody reads — while a second
//! console takes screenshots and status throughout (issue 7, part 5).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pult_console::{Console, ConsoleError, RoomCertificate};
use pult_e2e::{Agent, School, free_address};
use pult_protocol::credentials::RoomDevice;
use pult_protocol::message::ErrorCode;
use pult_protocol::watch::WatchSettings;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_asking_too_much_does_not_stop_the_agent_serving_another() {
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!("name,room,ip\nR101-PC01,101,{}\n", free_address()));
    let agent = Agent::synthetic(&school.agent_bundle("R101-PC01"), "320x200");
    let cert = school.room_cert("101", "mueller", "1h");
    let room = RoomCertificate::load(&cert).unwrap();
    let device = room.manifest.devices[0].clone();
    let rss_before = agent.rss_kib();

    // The well-behaved console: status all along, a screenshot now and then.
    let done = Arc::new(AtomicBool::new(false));
    let well_behaved = {
        let (done, device) = (done.clone(), device.clone());
        let console = Console::new(RoomCertificate::load(&cert).unwrap()).unwrap();
        tokio::spawn(async move {
            let session = console.connect(&device).await.unwrap();
            let (mut polls, mut screenshots) = (0u32, 0u32);
            while !done.load(Ordering::Relaxed) || screenshots == 0 {
                session
                    .status()
                    .await
                    .expect("status served during the abuse");
                if polls % 10 == 0 {
                    let shot = session.screenshot().await.expect("screenshot served");
                    assert_eq!((shot.width, shot.height), (320, 200));
                    screenshots += 1;
                }
                polls += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (polls, screenshots)
        })
    };

    let abuser = Console::new(RoomCertificate::load(&cert).unwrap()).unwrap();

    // 1,000 connections, one after the other, each closed again.
    for _ in 0..1000 {
        let session = abuser.connect(&device).await;
        session.expect("a valid certificate connects").close();
    }

    // 100 screen streams asked for on one connection: two are served.
    let session = abuser.connect(&device).await.unwrap();
    let mut served = Vec::new();
    let mut too_many = 0;
    for _ in 0..100 {
        let mut stream = session.watch(WatchSettings::THUMBNAIL, 2).await.unwrap();
        match stream.next_update().await {
            Ok(Some(_)) => served.push(stream),
            Err(ConsoleError::Agent { error, .. }) if error.code == ErrorCode::TooManyStreams => {
                too_many += 1;
            }
            other => panic!(
                "neither served nor refused: {:?}",
                other.map(|u| u.is_some())
            ),
        }
    }
    assert_eq!(served.len(), 2, "two screen streams per connection");
    assert_eq!(too_many, 98);
    // Screenshots beyond the burst are refused, not queued.
    let screenshots = session_for_screenshots(&abuser, &device).await;
    let mut limited = 0;
    for _ in 0..10 {
        match screenshots.screenshot().await {
            Ok(_) => {}
            Err(ConsoleError::Agent { error, .. }) if error.code == ErrorCode::RateLimited => {
                limited += 1;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert!(limited > 0, "ten screenshots at once were all taken");

    // Streams that never say hello: the agent drops them, and they do not
    // count against the connection afterwards.
    let (_endpoint, connection) = pult_e2e::raw_connection(&room, &device).await;
    let mut silent = Vec::new();
    for _ in 0..8 {
        let (mut send, recv) = connection.open_bi().await.unwrap();
        // Half a frame header: the agent sees the stream, but never a hello.
        send.write_all(&[1, 0]).await.unwrap();
        silent.push((send, recv));
    }
    for (_send, mut recv) in silent {
        // Each ends: reset or finished by the agent.
        let _ = recv.read_to_end(1 << 16).await;
    }
    // One-way streams: the agent grants none, so none can be opened.
    let one_way = tokio::time::timeout(Duration::from_secs(1), connection.open_uni()).await;
    assert!(one_way.is_err(), "the agent accepted a one-way stream");
    // The same connection, its silent streams gone, is served.
    let (mut send, mut recv) = tokio::time::timeout(Duration::from_secs(60), connection.open_bi())
        .await
        .expect("the silent streams still hold the connection's streams")
        .unwrap();
    let hello =
        pult_protocol::message::Hello::current("test", &pult_protocol::message::Feature::ALL);
    pult_protocol::frame::write_message(&mut send, &hello)
        .await
        .unwrap();
    let answer: Option<pult_protocol::message::Hello> =
        pult_protocol::frame::read_message(&mut recv).await.unwrap();
    assert!(
        answer.is_some(),
        "a hello after the silent streams is answered"
    );

    done.store(true, Ordering::Relaxed);
    let (polls, shots) = well_behaved.await.unwrap();
    drop(served);
    let rss_after = agent.rss_kib();
    eprintln!(
        "second console: {polls} status polls, {shots} screenshots; agent RSS {rss_before} KiB \
         before, {rss_after} KiB after"
    );

    let audit = agent.audit();
    let count = |action: &str, result: &str| {
        audit
            .iter()
            .filter(|e| e["action"] == action && e["result"] == result)
            .count()
    };
    assert!(count("connect", "accepted") >= 1000);
    assert_eq!(count("watch", "refused"), 98);
    // Status polls are audited as status, not as watching (R16).
    assert!(count("status", "ok") >= polls as usize);
    assert_eq!(count("watch", "ok"), 2);
}

/// A fresh connection for screenshots, with a full allowance.
async fn session_for_screenshots(
    console: &Console,
    device: &RoomDevice,
) -> pult_console::DeviceSession {
    console.connect(device).await.unwrap()
}

/// Anyone can be refused, as often as they like: a source gets ten refusal
/// lines a minute in the audit log, and its names are only claimed when the
/// certificate is not of this school (R16).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_from_one_source_get_ten_lines_a_minute() {
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!("name,room,ip\nR101-PC01,101,{}\n", free_address()));
    let agent = Agent::synthetic(&school.agent_bundle("R101-PC01"), "320x200");
    let ours = school.room_cert("101", "mueller", "1h");
    // Another school's certificate for "101", with this school's CA and room list.
    let other = School::with_teacher("Realschule Am See");
    other.import(&format!("name,room,ip\nR101-PC01,101,{}\n", agent.address));
    let theirs = other.room_cert("101", "mueller", "1h");
    let forged = other.path("forged");
    std::fs::create_dir_all(&forged).unwrap();
    for file in ["room.crt", "room.key"] {
        std::fs::copy(theirs.join(file), forged.join(file)).unwrap();
    }
    for file in ["ca.crt", "room.json"] {
        std::fs::copy(ours.join(file), forged.join(file)).unwrap();
    }
    let console = Console::new(RoomCertificate::load(&forged).unwrap()).unwrap();
    let device = console.room().manifest.devices[0].clone();
    for _ in 0..40 {
        let refused = console.connect(&device).await;
        assert!(
            matches!(refused, Err(ConsoleError::Refused { .. })),
            "{:?}",
            refused.err()
        );
    }
    // The tenth line is there; wait a moment for any beyond it.
    agent.wait_for_audit(|e| e["action"] == "connect" && e["result"] == "refused");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refusals: Vec<_> = agent
        .audit()
        .into_iter()
        .filter(|e| e["action"] == "connect" && e["result"] == "refused")
        .collect();
    assert_eq!(
        refusals.len(),
        10,
        "ten lines, the rest summed after the minute"
    );
    for entry in refusals {
        assert!(entry["user"].is_null(), "{entry}");
        assert_eq!(entry["claimed_user"], "mueller");
        assert!(entry["reason"].as_str().unwrap().starts_with("unknown-ca"));
    }
}
