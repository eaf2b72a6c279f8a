//! A screenshot through the real X11 capture shows what is on the screen: a
//! picture drawn on an Xvfb display comes back pixel for pixel (R2), with
//! the student's notice bar (R1) at the top, as the student sees it.

use pult_e2e::{Agent, School, Xvfb, free_address, pattern, pultctl};
use pult_screen::{decode_png, encode_png};

/// The height of the notice bar at the top of the screen.
const NOTICE_BAR: u32 = 30;

#[test]
fn r2_a_screenshot_of_the_x11_desktop_shows_what_was_drawn() {
    let xvfb = Xvfb::start(640, 480);
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!("name,room,ip\nR101-PC01,101,{}\n", free_address()));
    let agent = Agent::start(
        &school.agent_bundle("R101-PC01"),
        &["--screen", "x11"],
        &[("DISPLAY", xvfb.display.as_str())],
    );
    let cert = school.room_cert("101", "mueller", "1h");

    for (round, accent) in [[255, 128, 0, 255], [40, 200, 90, 255]]
        .into_iter()
        .enumerate()
    {
        let drawn = pattern(640, 480, accent);
        let png = school.path(&format!("drawn-{round}.png"));
        std::fs::write(&png, encode_png(&drawn).unwrap()).unwrap();
        xvfb.show(&png);

        let out = school.path(&format!("shot-{round}.png"));
        let ctl = pultctl(
            &cert,
            &["screenshot", "R101-PC01", "--out", out.to_str().unwrap()],
        );
        assert!(ctl.success, "{}", ctl.stderr);
        let shot = decode_png(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!((shot.width(), shot.height()), (640, 480));
        for (x, y) in [
            (150, 100),
            (450, 350),
            (10, 40),
            (40, 200),
            (41, 200),
            (299, 149),
        ] {
            assert_eq!(
                shot.pixel(x, y),
                drawn.pixel(x, y),
                "pixel ({x}, {y}) in round {round}"
            );
        }
        // Below the notice bar, every pixel is the drawn one.
        for y in NOTICE_BAR..480 {
            for x in 0..640 {
                assert_eq!(
                    shot.pixel(x, y),
                    drawn.pixel(x, y),
                    "pixel ({x}, {y}) in round {round}"
                );
            }
        }
        // The notice bar is on the screen while the screenshot is taken (R1).
        assert_eq!(
            shot.pixel(320, 1),
            Some([0xB0, 0x00, 0x20, 255]),
            "the notice bar"
        );
    }
    let entries: Vec<_> = agent
        .audit()
        .into_iter()
        .filter(|e| e["action"] == "screenshot")
        .collect();
    assert_eq!(entries.len(), 2);
    assert!(
        entries
            .iter()
            .all(|e| e["result"] == "ok" && e["detail"] == "640x480")
    );
}
