//! One device's commands run side by side in the console: a screenshot the
//! agent holds back does not delay a status request (R15) or an action to the
//! same device. The agent holds the screenshot until the test lets it go, so
//! the test checks order, not timings.

use std::sync::Arc;
use std::time::Duration;

use pult_console::{Action, DeviceState, RoomCertificate, RoomEvent, RoomSession, SessionOptions};
use pult_e2e::hostile::{HONEST_SIZE, HostileAgent};
use pult_e2e::{School, free_address};
use pult_protocol::message::WebUrl;
use pult_protocol::watch::WatchSettings;

/// Only a guard against hanging forever; nothing is measured against it.
const HANG: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screenshot_in_flight_does_not_delay_a_status_request_to_the_same_device() {
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!("name,room,ip\nR101-PC01,101,{}\n", free_address()));
    let agent = HostileAgent::start(&school.agent_bundle("R101-PC01"));
    agent.hold_screenshots();
    let certificate = RoomCertificate::load(&school.room_cert("101", "mueller", "1h")).unwrap();
    let options = SessionOptions {
        thumbnail: WatchSettings::THUMBNAIL,
        discover: false,
        viewer_credit: None,
    };
    let (session, mut events) = RoomSession::start(certificate, options).unwrap();
    let session = Arc::new(session);
    tokio::time::timeout(HANG, async {
        while let Some(event) = events.recv().await {
            if let RoomEvent::Status(status) = event
                && status.state == DeviceState::Online
            {
                return;
            }
        }
    })
    .await
    .expect("the device came online");
    // Keep the events flowing, as a viewer would.
    tokio::spawn(async move { while events.recv().await.is_some() {} });

    let screenshot = tokio::spawn({
        let session = session.clone();
        async move { session.screenshot("R101-PC01").await }
    });
    // The agent has the request and holds it: the screenshot is in flight.
    tokio::time::timeout(HANG, agent.screenshots_asked(1))
        .await
        .expect("the screenshot request reached the agent");

    let status = tokio::time::timeout(HANG, session.ask_status("R101-PC01"))
        .await
        .expect("the status answer does not wait for the screenshot")
        .unwrap();
    assert_eq!(status.user.as_deref(), Some("mallory"));
    let url = WebUrl::parse("https://example.org/").unwrap();
    let results = tokio::time::timeout(
        HANG,
        session.act(&["R101-PC01".to_owned()], &Action::OpenUrl(url)),
    )
    .await
    .expect("the action does not wait for the screenshot");
    assert!(results[0].1.is_ok(), "{results:?}");
    assert!(
        !screenshot.is_finished(),
        "the screenshot is still held by the agent"
    );

    // Let it go: the screenshot arrives, checked.
    agent.release_screenshot();
    let shot = tokio::time::timeout(HANG, screenshot)
        .await
        .expect("the released screenshot arrives")
        .unwrap()
        .unwrap();
    assert_eq!((shot.width, shot.height), (HONEST_SIZE, HONEST_SIZE));
}
