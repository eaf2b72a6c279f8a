//! A hostile or broken console cannot stop the agent: 1,000 malformed or
//! oversized frames on one connection are each answered with an error (or a
//! closed stream), while a second console is served the whole time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pult_console::{Console, RoomCertificate};
use pult_e2e::{Agent, School, free_address};
use pult_protocol::frame::{FrameKind, encode, read_frame, read_message};
use pult_protocol::message::{ErrorCode, Feature, Hello, Reply};

/// One broken conversation; `needs_hello` sends a proper hello first.
struct Abuse {
    needs_hello: bool,
    bytes: Vec<u8>,
    expected: ErrorCode,
}

fn abuses() -> Vec<Abuse> {
    let header = |kind: u8, len: u32| {
        let mut bytes = vec![kind];
        bytes.extend(len.to_be_bytes());
        bytes
    };
    let with_payload = |mut bytes: Vec<u8>, payload: &[u8]| {
        bytes.extend_from_slice(payload);
        bytes
    };
    vec![
        // An unknown frame kind.
        Abuse {
            needs_hello: false,
            bytes: with_payload(header(0xee, 3), b"abc"),
            expected: ErrorCode::Malformed,
        },
        // A request announcing 4 GiB.
        Abuse {
            needs_hello: true,
            bytes: header(FrameKind::Request as u8, u32::MAX),
            expected: ErrorCode::TooLarge,
        },
        // A hello just over its limit.
        Abuse {
            needs_hello: false,
            bytes: header(FrameKind::Hello as u8, 4097),
            expected: ErrorCode::TooLarge,
        },
        // A hello whose payload is garbage.
        Abuse {
            needs_hello: false,
            bytes: with_payload(header(FrameKind::Hello as u8, 4), &[0xff; 4]),
            expected: ErrorCode::Malformed,
        },
        // A request whose payload is garbage.
        Abuse {
            needs_hello: true,
            bytes: with_payload(header(FrameKind::Request as u8, 3), &[0x09, 0xff, 0xff]),
            expected: ErrorCode::Malformed,
        },
        // A frame cut short: 100 bytes announced, 10 sent, then the stream ends.
        Abuse {
            needs_hello: true,
            bytes: with_payload(header(FrameKind::Request as u8, 100), &[0; 10]),
            expected: ErrorCode::Malformed,
        },
        // A request before the hello.
        Abuse {
            needs_hello: false,
            bytes: encode(&pult_protocol::message::Request::Screenshot).unwrap(),
            expected: ErrorCode::UnexpectedMessage,
        },
        // A reply sent to the agent.
        Abuse {
            needs_hello: true,
            bytes: encode(&Reply::Done).unwrap(),
            expected: ErrorCode::UnexpectedMessage,
        },
        // Half a header.
        Abuse {
            needs_hello: false,
            bytes: vec![FrameKind::Hello as u8, 0],
            expected: ErrorCode::Malformed,
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_bad_frames_end_only_their_own_streams() {
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!("name,room,ip\nR101-PC01,101,{}\n", free_address()));
    let agent = Agent::synthetic(&school.agent_bundle("R101-PC01"), "320x200");
    let cert = school.room_cert("101", "mueller", "1h");
    let room = RoomCertificate::load(&cert).unwrap();
    let device = room.manifest.devices[0].clone();

    // The well-behaved console takes screenshots for as long as the abuse goes on.
    let done = Arc::new(AtomicBool::new(false));
    let well_behaved = {
        let (done, device) = (done.clone(), device.clone());
        let console = Console::new(RoomCertificate::load(&cert).unwrap()).unwrap();
        tokio::spawn(async move {
            let session = console.connect(&device).await.unwrap();
            let mut screenshots = 0u32;
            while !done.load(Ordering::Relaxed) || screenshots == 0 {
                let shot = session.screenshot().await.expect("served during the abuse");
                assert_eq!((shot.width, shot.height), (320, 200));
                screenshots += 1;
                // Within the agent's screenshot rate (a burst of 3, then one a second).
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            screenshots
        })
    };

    // The abusive console: one connection, a thousand streams.
    let (_endpoint, connection) = pult_e2e::raw_connection(&room, &device).await;
    let abuses = abuses();
    let mut answered = 0;
    for i in 0..1000 {
        let abuse = &abuses[i % abuses.len()];
        let (mut send, mut recv) = connection.open_bi().await.unwrap();
        if abuse.needs_hello {
            send.write_all(&encode(&Hello::current("abuser", &Feature::ALL)).unwrap())
                .await
                .unwrap();
            let hello: Hello = read_message(&mut recv).await.unwrap().unwrap();
            assert!(hello.supports(Feature::Screenshot));
        }
        // The agent may stop reading once it has seen enough; that is fine.
        let _ = send.write_all(&abuse.bytes).await;
        let _ = send.finish();
        // A closed or reset stream (no frame) is an acceptable answer too.
        if let Ok(Some(frame)) = read_frame(&mut recv).await {
            let Reply::Error(error) = frame.decode::<Reply>().unwrap() else {
                panic!("abuse {} was answered with success", i % abuses.len());
            };
            assert_eq!(
                error.code,
                abuse.expected,
                "abuse {}: {}",
                i % abuses.len(),
                error.message
            );
            answered += 1;
        }
    }
    eprintln!("answered {answered}");
    assert!(
        answered >= 900,
        "only {answered} of 1000 bad frames got an error reply"
    );
    assert!(
        connection.close_reason().is_none(),
        "the connection itself survived"
    );

    // The same connection still serves a proper request.
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&encode(&Hello::current("abuser", &Feature::ALL)).unwrap())
        .await
        .unwrap();
    let _: Hello = read_message(&mut recv).await.unwrap().unwrap();
    send.write_all(&encode(&pult_protocol::message::Request::Screenshot).unwrap())
        .await
        .unwrap();
    let frame = read_frame(&mut recv).await.unwrap().unwrap();
    assert_eq!(frame.kind, FrameKind::Screenshot);

    done.store(true, Ordering::Relaxed);
    let screenshots = well_behaved.await.unwrap();
    assert!(screenshots > 0);
    let malformed = agent
        .audit()
        .iter()
        .filter(|e| e["action"] == "malformed")
        .count();
    assert_eq!(
        malformed, answered,
        "every rejected frame is in the audit log"
    );
}
