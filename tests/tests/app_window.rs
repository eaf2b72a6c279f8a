//! The real app window, driven through WebDriver (tauri-driver with
//! WebKitWebDriver) under Xvfb: `pult demo` shows twelve live thumbnails that
//! change, a click on a device's expand button opens its big view, and
//! "Screenshot" saves a PNG in the gallery folder, "Steuern" there controls the
//! device (R3), lock and message work, files go to three devices and are
//! collected from them (R6). Window screenshots are kept
//! under target/webdriver/ for a person to look at.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pult_e2e::webdriver::{Session, TauriDriver};
use pult_e2e::{Agent, RegistryServer, School, Xvfb, binary, free_address};
use pult_screen::decode_png;

/// Where the window screenshots go: target/webdriver/.
fn artifacts() -> PathBuf {
    pult_e2e::artifacts("webdriver")
}

fn save(session: &Session, name: &str) -> Vec<u8> {
    // WebKitWebDriver's first screenshot of a page can come back blank.
    let mut png = session.screenshot();
    for _ in 0..10 {
        if colours(&png) > 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        png = session.screenshot();
    }
    std::fs::write(artifacts().join(name), &png).unwrap();
    png
}

/// How many colours a window screenshot has (a blank one has one or two).
fn colours(png: &[u8]) -> usize {
    let frame = decode_png(png).unwrap();
    frame
        .pixels()
        .chunks(4)
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// How many pixels differ between two window screenshots.
fn changed_pixels(a: &[u8], b: &[u8]) -> usize {
    let (a, b) = (decode_png(a).unwrap(), decode_png(b).unwrap());
    assert_eq!((a.width(), a.height()), (b.width(), b.height()));
    a.pixels()
        .chunks(4)
        .zip(b.pixels().chunks(4))
        .filter(|(p, q)| p != q)
        .count()
}

/// A script that is true once the results panel of `title` is shown with
/// `count` devices done (a hidden earlier panel does not count).
fn results_ok(title: &str, count: usize) -> String {
    format!(
        "return !document.querySelector('.results').hidden && document.querySelector('.results h2').textContent === '{title}: Ergebnis' && document.querySelectorAll('.result-list li.ok').length === {count}"
    )
}

/// The lines the demo classroom's agents wrote, under `tmp`.
fn demo_actions(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("pult-demo-"))
        .filter_map(|e| std::fs::read_to_string(e.path().join("actions.txt")).ok())
        .flat_map(|text| text.lines().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// The demo classroom's directory under `tmp` (each student's folders are there).
fn demo_dir(tmp: &Path) -> PathBuf {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("pult-demo-"))
        .expect("the demo classroom's directory")
        .path()
}

/// A home of its own, with German user folders, so the gallery goes to
/// ~/Bilder and collected files to ~/Dokumente.
fn home(dir: &Path) -> Vec<(String, String)> {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("user-dirs.dirs"),
        "XDG_PICTURES_DIR=\"$HOME/Bilder\"\nXDG_DOCUMENTS_DIR=\"$HOME/Dokumente\"\n",
    )
    .unwrap();
    // The demo classroom's files (and what its agents were asked to do) go here.
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    vec![
        ("TMPDIR".into(), dir.join("tmp").display().to_string()),
        ("HOME".into(), dir.display().to_string()),
        ("XDG_CONFIG_HOME".into(), config.display().to_string()),
        (
            "XDG_CACHE_HOME".into(),
            dir.join("cache").display().to_string(),
        ),
        (
            "XDG_DATA_HOME".into(),
            dir.join("data").display().to_string(),
        ),
        ("LANG".into(), "de_DE.UTF-8".into()),
    ]
}

/// The app, started with `args` through WebDriver on an Xvfb screen of
/// `width` × `height` with a home of its own; its output goes to `log`.
struct Window {
    session: Session,
    _driver: TauriDriver,
    _xvfb: Xvfb,
    home: tempfile::TempDir,
}

fn open(width: u32, height: u32, args: &[&str], log: &str) -> Window {
    open_in(tempfile::tempdir().unwrap(), width, height, args, log)
}

/// [`open`] with the home `home_dir`, kept from an earlier window.
fn open_in(
    home_dir: tempfile::TempDir,
    width: u32,
    height: u32,
    args: &[&str],
    log: &str,
) -> Window {
    let xvfb = Xvfb::start(width, height);
    let mut env = home(home_dir.path());
    env.push(("DISPLAY".into(), xvfb.display.clone()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let driver = TauriDriver::start(&env, &artifacts().join(log));
    Window {
        session: driver.session(&binary("pult"), args),
        _driver: driver,
        _xvfb: xvfb,
        home: home_dir,
    }
}

#[test]
fn the_demo_classroom_window_is_live_and_usable() {
    // A 4K screen; the window starts at 1366x768 and is made 4K at the end.
    let window = open(3840, 2160, &["demo"], "app.log");
    let (session, home_dir) = (&window.session, &window.home);

    // Twelve devices come online with their users, in German (the locale).
    session.wait_for(
        "twelve devices online",
        Duration::from_secs(60),
        "return document.querySelectorAll('.device[data-state=\"online\"]').length === 12",
    );
    session.wait_for(
        "a user on every card",
        Duration::from_secs(20),
        "return [...document.querySelectorAll('.device .user')].every(u => u.textContent.startsWith('schueler'))",
    );
    assert_eq!(
        session.execute(
            "return document.querySelector('.room-name').textContent",
            &[]
        ),
        "Raum 101"
    );
    // Thumbnails arrive, labels fit in their cards, nothing spills out of the window.
    session.wait_for(
        "every thumbnail drawn",
        Duration::from_secs(30),
        "return [...document.querySelectorAll('.device canvas')].every(c => c.width > 0)",
    );
    let layout = session.execute(
        "const cards = [...document.querySelectorAll('.device')];
         const fits = cards.every(card => { const c = card.getBoundingClientRect();
           return [...card.querySelectorAll('.name, .position, .user')].every(l => { const r = l.getBoundingClientRect();
             return r.bottom <= c.bottom + 0.5 && r.right <= c.right + 0.5; }); });
         return { fits, overflowX: document.documentElement.scrollWidth > window.innerWidth };",
        &[],
    );
    assert_eq!(
        layout["fits"], true,
        "a label spills out of its card: {layout}"
    );
    assert_eq!(
        layout["overflowX"], false,
        "the page is wider than the window: {layout}"
    );

    let first = save(session, "room-1366x768-a.png");
    assert!(
        colours(&first) > 1000,
        "the window screenshot shows the room"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let second = save(session, "room-1366x768-b.png");
    let changed = changed_pixels(&first, &second);
    assert!(
        changed > 1000,
        "the thumbnails did not change ({changed} pixels)"
    );
    let whole = session.execute(
        "return [...document.querySelectorAll('.device')].every(c => c.getBoundingClientRect().bottom <= window.innerHeight)",
        &[],
    );
    assert_eq!(
        whole, true,
        "all twelve devices are visible at 1366x768 without scrolling"
    );

    // A click on the expand button of PC-03 opens its big view.
    session.click(&session.find(".device[data-name=\"PC-03\"] .expand"));
    session.wait_for(
        "the big view",
        Duration::from_secs(10),
        "return !document.querySelector('.spotlight').hidden",
    );
    session.wait_for(
        "the big view at full size",
        Duration::from_secs(20),
        "return document.querySelector('.spotlight canvas').width >= 1000",
    );
    save(session, "big-view-PC-03.png");

    // "Screenshot" in the big view saves a PNG of PC-03 in ~/Bilder/Pult/101/.
    session.click(&session.find(".spotlight-shot"));
    let gallery = home_dir.path().join("Bilder/Pult/101");
    let mut saved = Vec::new();
    for _ in 0..100 {
        saved = std::fs::read_dir(&gallery)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "png"))
                    .collect()
            })
            .unwrap_or_default();
        if !saved.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(saved.len(), 1, "one screenshot in {}", gallery.display());
    let name = saved[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("PC-03-") && name.ends_with(".png"),
        "{name}"
    );
    let png = std::fs::read(&saved[0]).unwrap();
    std::fs::write(artifacts().join("saved-screenshot-PC-03.png"), &png).unwrap();
    let shot = decode_png(&png).unwrap();
    assert_eq!((shot.width(), shot.height()), (1280, 720));
    assert!(
        colours(&png) > 50,
        "the saved screenshot shows PC-03's desktop, not a blank picture"
    );
    session.wait_for(
        "the toast",
        Duration::from_secs(5),
        &format!("return document.querySelector('.toast').textContent.includes('{name}')"),
    );

    // Control PC-03 (R3): a click in the middle of the big view lands in the
    // middle of its 1280x720 desktop, typed characters arrive as text, Enter
    // and Ctrl+A by position, Alt+Tab from the shortcut menu; Escape is the
    // student's while controlling. The demo's agents write it all down.
    session.click(&session.find(".spotlight-control"));
    session.wait_for(
        "control on",
        Duration::from_secs(10),
        "return document.querySelector('.spotlight-control').getAttribute('aria-pressed') === 'true'",
    );
    session.click(&session.find(".spotlight-screen canvas"));
    session.keys("Hallo Welt\u{E007}\u{E009}+a\u{E00C}");
    session.execute(
        "const m = document.querySelector('.shortcut-menu'); m.value = 'alt+Tab'; m.dispatchEvent(new Event('change'))",
        &[],
    );
    let actions = home_dir.path().join("tmp");
    let mut controlled = Vec::new();
    for _ in 0..100 {
        controlled = demo_actions(&actions)
            .into_iter()
            .filter_map(|line| line.strip_prefix("input PC-03 ").map(str::to_owned))
            .collect();
        if controlled.last().is_some_and(|l| l == "key Tab") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    save(session, "control-PC-03.png");
    let click = controlled
        .iter()
        .find_map(|l| l.strip_prefix("click Left at "))
        .unwrap_or_else(|| panic!("no click in {controlled:?}"));
    let (x, y) = click.split_once(',').unwrap();
    let (x, y): (i32, i32) = (x.parse().unwrap(), y.parse().unwrap());
    assert!(
        (x - 640).abs() <= 2 && (y - 360).abs() <= 2,
        "the click landed at {x},{y}, not in the middle of 1280x720"
    );
    let typed: String = controlled
        .iter()
        .filter_map(|l| l.strip_prefix("text "))
        .map(|t| t.trim_matches('"'))
        .collect();
    assert_eq!(typed, "Hallo Welt", "{controlled:?}");
    let keys: Vec<&str> = controlled
        .iter()
        .filter_map(|l| l.strip_prefix("key "))
        .collect();
    assert_eq!(
        keys,
        ["Enter", "ControlLeft", "KeyA", "Escape", "AltLeft", "Tab"],
        "{controlled:?}"
    );
    assert!(
        !session
            .execute("return document.querySelector('.spotlight').hidden", &[])
            .as_bool()
            .unwrap(),
        "Escape went to the student, the big view stays open"
    );
    // Clipboard both ways: the teacher's text goes to PC-03's clipboard, and
    // the dialog shows it when read back from there.
    session.click(&session.find(".spotlight-clipboard"));
    session.wait_for(
        "the clipboard dialog",
        Duration::from_secs(10),
        "return !document.querySelector('.dialog').hidden && !document.querySelector('.clipboard-input').disabled",
    );
    session.execute(
        "document.querySelector('.clipboard-input').value = 'Seite 12, Aufgabe 3'",
        &[],
    );
    session.click(&session.find(".dialog .confirm"));
    session.wait_for(
        "the clipboard sent",
        Duration::from_secs(10),
        "return document.querySelector('.dialog').hidden",
    );
    session.click(&session.find(".spotlight-clipboard"));
    session.wait_for(
        "the student's clipboard read back",
        Duration::from_secs(10),
        "return document.querySelector('.clipboard-input').value === 'Seite 12, Aufgabe 3'",
    );
    save(session, "clipboard-PC-03.png");
    session.click(&session.find(".dialog .cancel"));
    assert!(
        demo_actions(&actions)
            .contains(&"input PC-03 clipboard \"Seite 12, Aufgabe 3\"".to_owned()),
        "{:?}",
        demo_actions(&actions)
    );

    session.click(&session.find(".spotlight-control"));
    session.wait_for(
        "control off",
        Duration::from_secs(10),
        "return document.querySelector('.spotlight-control').getAttribute('aria-pressed') === 'false'",
    );

    // Back to the room; the gallery lists the screenshot.
    session.click(&session.find(".spotlight .close"));
    session.wait_for(
        "the big view closed",
        Duration::from_secs(5),
        "return document.querySelector('.spotlight').hidden",
    );
    session.click(&session.find(".gallery-button"));
    session.wait_for(
        "the gallery",
        Duration::from_secs(10),
        "return document.querySelectorAll('.gallery figure').length === 1 && document.querySelector('.gallery img').dataset.shown === 'yes'",
    );
    save(session, "gallery.png");
    session.click(&session.find(".close-gallery"));

    // Select three devices and open a web page on them; results per device.
    session.click(&session.find(".device[data-name=\"PC-01\"]"));
    session.execute(
        "document.querySelector('.device[data-name=\"PC-03\"]').dispatchEvent(new MouseEvent('click', {bubbles: true, shiftKey: true}))",
        &[],
    );
    // The toolbar follows the selection: click its button once it has.
    session.wait_for(
        "three devices selected",
        Duration::from_secs(5),
        "return document.querySelectorAll('.device.selected').length === 3",
    );
    session.click(&session.find("[data-action=\"open-url\"]"));
    session.execute(
        "document.querySelector('.url-input').value = 'https://example.org/arbeitsblatt'",
        &[],
    );
    std::thread::sleep(Duration::from_millis(500));
    eprintln!(
        "dialog: {}",
        session.execute("return document.querySelector('.dialog').hidden", &[])
    );
    save(session, "open-website-dialog.png");
    session.click(&session.find(".dialog .confirm"));
    session.wait_for(
        "results for three devices",
        Duration::from_secs(20),
        &results_ok("Webseite öffnen", 3),
    );
    save(session, "results.png");
    session.click(&session.find(".close-results"));

    // Lock the same three (R20): the cards say so, and unlock takes it back.
    session.click(&session.find("[data-action=\"lock\"]"));
    session.execute(
        "document.querySelector('.lock-message-input').value = 'Augen nach vorn'",
        &[],
    );
    save(session, "lock-dialog.png");
    session.click(&session.find(".dialog .confirm"));
    session.wait_for(
        "three locked cards",
        Duration::from_secs(20),
        &format!(
            "{} && document.querySelectorAll('.device.locked').length === 3",
            results_ok("Sperren", 3)
        ),
    );
    session.click(&session.find(".close-results"));
    let locked = session.execute(
        "return [...document.querySelectorAll('.device.locked')].map(c => c.dataset.name + ': ' + c.querySelector('.lock-state').textContent)",
        &[],
    );
    assert_eq!(
        locked,
        serde_json::json!([
            "PC-01: Gesperrt (demo-lehrkraft)",
            "PC-02: Gesperrt (demo-lehrkraft)",
            "PC-03: Gesperrt (demo-lehrkraft)"
        ])
    );
    save(session, "locked-cards.png");

    // A message to them, then unlock with the keyboard (Ctrl+Shift+L).
    session.click(&session.find("[data-action=\"message\"]"));
    session.execute(
        "document.querySelector('.title-input').value = 'Hausaufgabe'; document.querySelector('.text-input').value = 'Seite 12, Aufgabe 3'",
        &[],
    );
    save(session, "message-dialog.png");
    session.click(&session.find(".dialog .confirm"));
    session.wait_for(
        "the message sent to three",
        Duration::from_secs(20),
        &results_ok("Nachricht", 3),
    );
    session.click(&session.find(".close-results"));
    session.execute(
        "document.querySelector('.device[data-name=\"PC-01\"]').dispatchEvent(new KeyboardEvent('keydown', {key: 'L', ctrlKey: true, shiftKey: true, bubbles: true}))",
        &[],
    );
    session.wait_for(
        "no locked card",
        Duration::from_secs(20),
        &format!(
            "{} && document.querySelectorAll('.device.locked').length === 0",
            results_ok("Entsperren", 3)
        ),
    );
    session.click(&session.find(".close-results"));

    // Files (R6): a worksheet and a folder picked from the teacher's home
    // go to the three and open there; progress and result per device and file.
    let worksheet: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(home_dir.path().join("Arbeitsblatt.txt"), &worksheet).unwrap();
    std::fs::create_dir(home_dir.path().join("Aufgaben")).unwrap();
    std::fs::write(home_dir.path().join("Aufgaben/Teil 1.txt"), "Aufgabe 1").unwrap();
    std::fs::write(home_dir.path().join("Aufgaben/Teil 2.txt"), "Aufgabe 2").unwrap();
    // The send dialog, with the worksheet picked from the home folder.
    let send_worksheet = || {
        session.click(&session.find("[data-action=\"send-files\"]"));
        session.wait_for(
            "the home folder in the send dialog",
            Duration::from_secs(10),
            "return !document.querySelector('.dialog').hidden && !!document.querySelector('.pick[data-path=\"Arbeitsblatt.txt\"]')",
        );
        session.click(&session.find(".pick[data-path=\"Arbeitsblatt.txt\"]"));
    };
    send_worksheet();
    session.click(&session.find(".pick[data-path=\"Aufgaben\"]"));
    session.click(&session.find(".open-input"));
    session.wait_for(
        "two picked",
        Duration::from_secs(5),
        "return document.querySelector('.picked').textContent === '2 ausgewählt'",
    );
    save(session, "send-files-dialog.png");
    session.click(&session.find(".dialog .confirm"));
    session.wait_for(
        "the files sent to three",
        Duration::from_secs(30),
        &results_ok("Dateien senden", 3),
    );
    let rows = session.execute(
        "return [...document.querySelectorAll('.transfer-list > li')].map(li => [li.dataset.device, li.querySelector('.transfer-state').textContent, li.querySelector('progress').value, li.querySelectorAll('.file[data-state=\"done\"]').length])",
        &[],
    );
    assert_eq!(
        rows,
        serde_json::json!([
            ["PC-01", "3 Dateien angekommen", 1, 3],
            ["PC-02", "3 Dateien angekommen", 1, 3],
            ["PC-03", "3 Dateien angekommen", 1, 3]
        ])
    );
    session.execute(
        "document.querySelectorAll('.transfer-list details').forEach(d => d.open = true)",
        &[],
    );
    save(session, "send-files-results.png");
    session.click(&session.find(".close-results"));
    let demo = demo_dir(&home_dir.path().join("tmp"));
    for device in ["PC-01", "PC-02", "PC-03"] {
        let received = demo.join(device).join("Von der Lehrkraft");
        assert_eq!(
            std::fs::read(received.join("Arbeitsblatt.txt")).unwrap(),
            worksheet
        );
        assert_eq!(
            std::fs::read_to_string(received.join("Aufgaben/Teil 2.txt")).unwrap(),
            "Aufgabe 2"
        );
        let opened = format!("open-file {}", received.join("Arbeitsblatt.txt").display());
        assert!(
            demo_actions(&home_dir.path().join("tmp")).contains(&opened),
            "{device} did not open the worksheet"
        );
    }
    assert!(!demo.join("PC-04/Von der Lehrkraft").exists());
    // Again without overwrite: the students' copies stay, each device says so.
    std::fs::write(home_dir.path().join("Arbeitsblatt.txt"), "changed").unwrap();
    send_worksheet();
    session.click(&session.find(".dialog .confirm"));
    session.wait_for(
        "three devices that have the worksheet",
        Duration::from_secs(30),
        "return document.querySelector('.results h2').textContent === 'Dateien senden: Ergebnis' && [...document.querySelectorAll('.transfer-list > li.failed')].filter(li => li.textContent.includes('Arbeitsblatt.txt: gibt es dort schon')).length === 3",
    );
    session.click(&session.find(".close-results"));
    assert_eq!(
        std::fs::read(demo.join("PC-02/Von der Lehrkraft/Arbeitsblatt.txt")).unwrap(),
        worksheet
    );

    // Collect the hand-in folders' text files into ~/Dokumente/Pult/101/.
    std::fs::create_dir_all(demo.join("PC-02/Abgabe")).unwrap();
    std::fs::write(demo.join("PC-02/Abgabe/Aufsatz.txt"), "Mein Aufsatz").unwrap();
    std::fs::write(demo.join("PC-02/Abgabe/Entwurf.odt"), "nicht dies").unwrap();
    session.click(&session.find("[data-action=\"collect\"]"));
    session.execute(
        "document.querySelector('.pattern-input').value = '*.txt'",
        &[],
    );
    save(session, "collect-dialog.png");
    session.click(&session.find(".dialog .confirm"));
    session.wait_for(
        "collected from three",
        Duration::from_secs(30),
        &results_ok("Einsammeln", 3),
    );
    save(session, "collect-results.png");
    session.click(&session.find(".close-results"));
    let room = home_dir.path().join("Dokumente/Pult/101");
    let collected: Vec<PathBuf> = std::fs::read_dir(&room)
        .unwrap_or_else(|e| panic!("{}: {e}", room.display()))
        .flatten()
        .flat_map(|device| std::fs::read_dir(device.path()).unwrap().flatten())
        .map(|file| file.path())
        .collect();
    assert_eq!(collected.len(), 1, "{collected:?}");
    assert_eq!(
        std::fs::read_to_string(&collected[0]).unwrap(),
        "Mein Aufsatz"
    );
    let folder = collected[0].parent().unwrap().file_name().unwrap();
    assert!(folder.to_string_lossy().starts_with("PC-02-"), "{folder:?}");

    // Restart the three now, confirmed in the power dialog: the demo's
    // agents write it down instead of restarting this machine.
    session.click(&session.find("[data-action=\"power\"]"));
    session.execute(
        "document.querySelector('.dialog input[value=\"reboot\"]').checked = true; document.querySelector('.delay-input').value = '0'",
        &[],
    );
    save(session, "power-dialog.png");
    session.click(&session.find(".dialog .confirm"));
    session.wait_for(
        "three restarts",
        Duration::from_secs(20),
        &results_ok("Neu starten", 3),
    );
    session.click(&session.find(".close-results"));
    let mut restarts = 0;
    for _ in 0..50 {
        restarts = demo_actions(&home_dir.path().join("tmp"))
            .iter()
            .filter(|l| *l == "reboot")
            .count();
        if restarts == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(restarts, 3, "each of the three devices restarts once");

    // Broadcast this screen (the teacher's Xvfb, the app on it) to the three
    // (R7); the region choice shows a live preview of the screen first.
    session.click(&session.find("[data-action=\"broadcast\"]"));
    session.wait_for(
        "the broadcast dialog",
        Duration::from_secs(10),
        "return !document.querySelector('.dialog').hidden && document.querySelector('.dialog input[value=\"desktop\"]').checked",
    );
    session.execute(
        "const r = document.querySelector('.dialog input[value=\"region\"]'); r.checked = true; r.dispatchEvent(new Event('change'))",
        &[],
    );
    session.wait_for(
        "the live preview of the teacher's screen",
        Duration::from_secs(10),
        "const i = document.querySelector('.region-preview'); return i.complete && i.naturalWidth === 960",
    );
    save(session, "broadcast-region.png");
    session.execute(
        "const d = document.querySelector('.dialog input[value=\"desktop\"]'); d.checked = true; d.dispatchEvent(new Event('change'))",
        &[],
    );
    session.click(&session.find(".dialog .confirm"));
    session.wait_for(
        "three devices showing the broadcast",
        Duration::from_secs(20),
        "return !document.querySelector('.broadcast-bar').hidden && document.querySelector('.broadcast-text').textContent.includes('3 von 3 Geräten') && document.querySelectorAll('.device.receiving').length === 3",
    );
    save(session, "broadcasting.png");
    session.click(&session.find(".broadcast-stop"));
    session.wait_for(
        "the broadcast ended",
        Duration::from_secs(10),
        "return document.querySelector('.broadcast-bar').hidden && document.querySelectorAll('.device.receiving').length === 0",
    );

    // At 4K the thumbnails grow with the window and still fit.
    session.resize(3840, 2160);
    session.wait_for(
        "the window at 4K",
        Duration::from_secs(10),
        "return window.innerWidth > 3000",
    );
    session.wait_for(
        "thumbnails at 4K size",
        Duration::from_secs(20),
        "return document.querySelector('.device').getBoundingClientRect().width >= 400 && document.querySelector('.device canvas').width >= 400",
    );
    let layout = session.execute(
        "return { overflowX: document.documentElement.scrollWidth > window.innerWidth,
                  visible: [...document.querySelectorAll('.device')].every(c => c.getBoundingClientRect().bottom <= window.innerHeight) };",
        &[],
    );
    assert_eq!(layout["overflowX"], false, "{layout}");
    assert_eq!(layout["visible"], true, "{layout}");
    save(session, "room-3840x2160.png");
    window.session.end();
}

/// Started from the menu without a room certificate, the window says why and
/// what to do, instead of the app vanishing with a message nobody reads.
#[test]
fn without_a_room_certificate_the_window_says_why() {
    let window = open(1366, 768, &[], "app-no-room.log");
    let session = &window.session;
    session.wait_for(
        "the reason",
        Duration::from_secs(30),
        "return document.querySelector('.problem-detail') !== null",
    );
    let looked = window.home.path().join("config/pult/room");
    let said = session.execute(
        "return [document.querySelector('.problem h1').textContent, document.querySelector('.problem-detail').textContent]",
        &[],
    );
    assert_eq!(said[0], "Pult kann keinen Raum öffnen", "{said}");
    assert_eq!(
        said[1],
        format!(
            "the room certificate in {} cannot be used: there is none; sign in with `pultctl login`, or put the directory pult-registry room-cert wrote there",
            looked.display()
        ),
        "{said}"
    );
    save(session, "no-room.png");
    window.session.end();
}

/// On a teacher PC enrolled at the registry, the app asks the teacher to
/// sign in (R9), refuses a wrong password in German, opens the room the PC
/// stands in with a certificate it got itself (the teacher never sees a
/// file), renews that certificate before it runs out (a minute's validity
/// here: after 40 s) and reaches a restarted student PC with the renewed
/// one after the first has run out, and the next start opens the room at
/// once with it.
#[test]
fn on_a_teacher_pc_the_teacher_signs_in_in_the_window() {
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!(
        "name,room,ip\nR101-PC01,101,{}\nR102-PC01,102,{}\n",
        free_address(),
        free_address()
    ));
    school.registry_with_input(&["user", "password", "mueller"], "Tafel-und-Kreide-2026\n");
    let bundle = school.agent_bundle("R101-PC01");
    let agent = Agent::synthetic(&bundle, "640x360");
    let server = RegistryServer::start(&school, &["--room-validity", "60s"]);
    // The app's own installer step enrols the PC (the token by the environment).
    let setting = school.path("registry.json");
    let enrolled = std::process::Command::new(binary("pult"))
        .args(["enroll", "--registry", &server.url, "--name", "LEHRER-101"])
        .arg("--dir")
        .arg(school.path("teacher-pc"))
        .arg("--setting")
        .arg(&setting)
        .env("PULT_TOKEN", school.token(&["--room", "101", "--teacher"]))
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    assert!(
        enrolled.status.success(),
        "pult enroll: {}",
        String::from_utf8_lossy(&enrolled.stderr)
    );
    let setting = setting.to_str().unwrap();

    let window = open(1366, 768, &["--setting", setting], "app-sign-in.log");
    let session = &window.session;
    session.wait_for(
        "the sign-in",
        Duration::from_secs(30),
        "return document.querySelector('#sign-in-user') !== null",
    );
    assert_eq!(
        session.execute("return document.querySelector('h1').textContent", &[]),
        "Anmelden"
    );
    // The room choice waits for a PC with several rooms: not shown here.
    assert_eq!(
        session.execute(
            "return getComputedStyle(document.querySelector('.room-choice')).display",
            &[]
        ),
        "none"
    );
    save(session, "sign-in.png");
    let sign_in = |password: &str| {
        session.execute(
            "document.querySelector('#sign-in-user').value = '';\
             document.querySelector('#sign-in-password').value = '';",
            &[],
        );
        session.type_into(&session.find("#sign-in-user"), "mueller");
        session.type_into(&session.find("#sign-in-password"), password);
        session.click(&session.find("#sign-in"));
    };
    sign_in("falsch");
    session.wait_for(
        "the refusal",
        Duration::from_secs(30),
        "return !document.querySelector('.sign-in-problem').hidden",
    );
    assert_eq!(
        session.execute(
            "return document.querySelector('.sign-in-problem').textContent",
            &[]
        ),
        "Benutzername oder Passwort ist falsch"
    );
    save(session, "sign-in-refused.png");
    sign_in("Tafel-und-Kreide-2026");
    session.wait_for(
        "the room, its one student PC online",
        Duration::from_secs(60),
        "return document.querySelectorAll('.device').length === 1 \
         && document.querySelector('.device').dataset.state === 'online'",
    );
    assert_eq!(
        session.execute(
            "return document.querySelector('.room-name').textContent",
            &[]
        ),
        "Raum 101"
    );
    // The certificate was issued before this: it ends within 60 s from now.
    let signed_in_at = std::time::Instant::now();
    save(session, "signed-in.png");
    let room = window.home.path().join("config/pult/room");
    assert!(
        room.join("room.crt").is_file(),
        "the app installed the certificate"
    );
    assert!(
        window
            .home
            .path()
            .join("config/pult/room.session.json")
            .is_file()
    );
    let log = school.log("sign-in");
    assert_eq!(log[0]["subject"], "mueller");
    assert_eq!(log[0]["outcome"], "ok");
    assert_eq!(log[1]["outcome"], "refused");
    // Renewed while the window is open, without a sign-in; the room stays live.
    let first = std::fs::read(room.join("room.crt")).unwrap();
    pult_e2e::wait_until(
        Duration::from_secs(90),
        "the app renews the room certificate",
        || std::fs::read(room.join("room.crt")).is_ok_and(|now| now != first),
    );
    let issued = school
        .log("certificate")
        .iter()
        .filter(|e| e["subject"] == "mueller" && e["outcome"] == "ok")
        .count();
    assert!(issued >= 2, "{issued} certificates issued");
    assert_eq!(
        school.log("sign-in").len(),
        2,
        "no new sign-in for a renewal"
    );
    // The first certificate has run out by now; a new connection (the
    // student PC restarted) can only be made with the renewed one.
    let first_ended = signed_in_at + Duration::from_secs(62);
    while std::time::Instant::now() < first_ended {
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(agent);
    session.wait_for(
        "the restarted student PC offline",
        Duration::from_secs(20),
        "return document.querySelector('.device').dataset.state === 'offline'",
    );
    let _agent = Agent::synthetic(&bundle, "640x360");
    session.wait_for(
        "the student PC back, reached with the renewed certificate",
        Duration::from_secs(30),
        "return document.querySelector('.device').dataset.state === 'online'",
    );
    // The app ends; its home, with the certificate, stays.
    let Window {
        session,
        _driver,
        _xvfb,
        home,
    } = window;
    session.end();
    drop(_driver);
    drop(_xvfb);

    // The next start: the room at once, no sign-in.
    let again = open_in(
        home,
        1366,
        768,
        &["--setting", setting],
        "app-signed-in-again.log",
    );
    again.session.wait_for(
        "the room without a sign-in",
        Duration::from_secs(60),
        "return document.querySelectorAll('.device').length === 1",
    );
    assert!(
        again
            .session
            .execute(
                "return document.querySelector('#sign-in-user') === null",
                &[]
            )
            .as_bool()
            .unwrap()
    );
    again.session.end();
}

/// The app controls a real student desktop: an agent that captures an X
/// display and injects through XTEST, a terminal on it; what the teacher
/// clicks and types in the big view arrives in the terminal (R3).
#[test]
fn the_app_controls_a_real_student_desktop_on_x11() {
    let student = Xvfb::start(1280, 720);
    let dir = tempfile::tempdir().unwrap();
    let typed = dir.path().join("typed.txt");
    let mut terminal = std::process::Command::new("xterm")
        .args(["-geometry", "300x100+0+0", "-e", "sh", "-c"])
        .arg(format!("cat > '{}'", typed.display()))
        .env("DISPLAY", &student.display)
        .spawn()
        .expect("xterm is needed; .ci/run installs it");
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!("name,room,ip\nR101-PC01,101,{}\n", free_address()));
    let _agent = Agent::start(
        &school.agent_bundle("R101-PC01"),
        &["--screen", "x11", "--session-user", "schueler01"],
        &[("DISPLAY", &student.display)],
    );
    let cert = school.room_cert("101", "mueller", "1h");
    let window = open(
        1366,
        768,
        &["--cert", cert.to_str().unwrap()],
        "app-x11.log",
    );
    let session = &window.session;
    session.wait_for(
        "the device online",
        Duration::from_secs(60),
        "return document.querySelector('.device[data-name=\"R101-PC01\"]').dataset.state === 'online'",
    );
    session.click(&session.find(".device[data-name=\"R101-PC01\"] .expand"));
    session.wait_for(
        "the big view of the real desktop",
        Duration::from_secs(20),
        "return document.querySelector('.spotlight canvas').width === 1280",
    );
    session.click(&session.find(".spotlight-control"));
    session.wait_for(
        "control on",
        Duration::from_secs(10),
        "return document.querySelector('.spotlight-control').getAttribute('aria-pressed') === 'true'",
    );
    // A click in the middle of the picture puts the pointer over the
    // terminal (and the keyboard with it), then the keys go there.
    session.click(&session.find(".spotlight-screen canvas"));
    session.keys("Hallo Welt\u{E007}");
    let mut arrived = String::new();
    for _ in 0..100 {
        arrived = std::fs::read_to_string(&typed).unwrap_or_default();
        if arrived == "Hallo Welt\n" {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    save(session, "control-x11.png");
    assert_eq!(arrived, "Hallo Welt\n");
    session.click(&session.find(".spotlight-control"));
    session.wait_for(
        "control off",
        Duration::from_secs(10),
        "return document.querySelector('.spotlight-control').getAttribute('aria-pressed') === 'false'",
    );
    let _ = terminal.kill();
    let _ = terminal.wait();
}
