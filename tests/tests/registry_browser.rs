//! The admin's pages in a real browser (Debian's Chromium through
//! chromedriver): an admin signs in, switches a device and a whole room to
//! not steerable (R10), imports a German spreadsheet's CSV after looking at
//! what it changes (R12), and makes an enrolment token. Each step is checked
//! in the registry itself, not only on the page, and the screenshots are
//! kept in target/registry-web/ for a person to look at.

use std::path::Path;
use std::time::Duration;

use pult_e2e::identity::{OidcAccount, OidcProvider};
use pult_e2e::webdriver::{ChromeDriver, Session};
use pult_e2e::{RegistryServer, School, artifacts};
use serde_json::Value;

const ADMIN_PASSWORD: &str = "Verwaltung-2026!";

fn shot(browser: &Session, name: &str) {
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(artifacts("registry-web").join(format!("{name}.png")), png).unwrap();
}

/// Clicks what `selector` finds and waits until the browser shows the next page.
fn submit(browser: &Session, selector: &str) {
    browser.execute("window.pultOldPage = true;", &[]);
    browser.click(&browser.find(selector));
    browser.wait_for(
        &format!("a new page after clicking {selector}"),
        Duration::from_secs(20),
        "return !window.pultOldPage && document.readyState === 'complete';",
    );
}

/// Waits until the page shows `text`; otherwise keeps a screenshot and says what it shows.
fn shows(browser: &Session, text: &str) {
    let script = format!(
        "return document.readyState === 'complete' && document.body.innerText.includes({});",
        serde_json::to_string(text).unwrap()
    );
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if browser.execute(&script, &[]) == Value::Bool(true) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    shot(browser, "failed");
    panic!(
        "the page at {} does not show {text:?} but: {}",
        browser.url(),
        browser.text()
    );
}

fn steerable(school: &School) -> Vec<(String, bool)> {
    let listed: Value =
        serde_json::from_str(&school.registry(&["device", "list", "--json"])).unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_owned(),
                d["steerable"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn an_admin_keeps_the_registry_in_a_real_browser() {
    let school = School::with_teacher("Grundschule am See");
    school.import("name,room\nPC-01,101\nPC-02,101\nPC-03,102\nPC-04,102\n");
    school.registry(&["user", "add", "admin", "--group", "admins"]);
    school.registry(&["group", "admins", "admins"]);
    school.registry_with_input(
        &["user", "password", "admin"],
        &format!("{ADMIN_PASSWORD}\n"),
    );
    let server = RegistryServer::start(&school, &[]);
    let driver = ChromeDriver::start(&artifacts("registry-web").join("chromedriver.log"));
    let browser = &driver.session;

    // Sign in, in German.
    browser.navigate(&format!("{}/sign-in?lang=de", server.url));
    shows(browser, "Benutzername");
    shot(browser, "01-sign-in");
    browser.type_into(&browser.find("#user"), "admin");
    browser.type_into(&browser.find("#password"), ADMIN_PASSWORD);
    submit(browser, "#sign-in");
    shows(browser, "PC-04");
    assert!(
        browser.url().ends_with("/admin/devices"),
        "{}",
        browser.url()
    );
    shot(browser, "02-devices");

    // One device off (R10).
    submit(browser, "#toggle-PC-02");
    shows(browser, "Gespeichert");
    assert_eq!(
        browser.execute(
            "return document.getElementById('toggle-PC-02').getAttribute('aria-pressed');",
            &[]
        ),
        "false"
    );
    assert_eq!(
        steerable(&school),
        [
            ("PC-01".into(), true),
            ("PC-02".into(), false),
            ("PC-03".into(), true),
            ("PC-04".into(), true)
        ]
    );
    shot(browser, "03-one-device-off");

    // A whole room off: pick room 102, then switch it off.
    browser.navigate(&format!("{}/admin/devices?room=102", server.url));
    shows(browser, "PC-03");
    submit(browser, "#room-off");
    shows(browser, "Gespeichert");
    assert_eq!(
        steerable(&school),
        [
            ("PC-01".into(), true),
            ("PC-02".into(), false),
            ("PC-03".into(), false),
            ("PC-04".into(), false)
        ]
    );
    shot(browser, "04-room-off");

    // A selection back on with "select all" in room 102.
    browser.click(&browser.find("#select-all"));
    submit(browser, "#selection-on");
    shows(browser, "Gespeichert");
    assert!(steerable(&school)[2].1 && steerable(&school)[3].1);

    // Import a German Excel CSV: the preview first, nothing written yet.
    let csv = school.path("Geräteliste.csv");
    write_german_excel_csv(&csv);
    browser.navigate(&format!("{}/admin/import", server.url));
    shows(browser, "Änderungen");
    browser.type_into(&browser.find("#import-file"), csv.to_str().unwrap());
    submit(browser, "#show-changes");
    shows(browser, "PC-05");
    shot(browser, "05-import-preview");
    let preview = browser.text();
    assert!(preview.contains("Fensterreihe 2"), "{preview}");
    assert!(
        !school.registry(&["device", "list"]).contains("PC-05"),
        "the preview writes nothing"
    );
    submit(browser, "#apply");
    shows(browser, "Neu im Rollwagen");
    shot(browser, "06-import-applied");
    let listed = school.registry(&["device", "list", "--json"]);
    assert!(
        listed.contains("PC-05") && listed.contains("Fensterreihe 2"),
        "{listed}"
    );

    // An enrolment token for room 101, shown once.
    browser.navigate(&format!("{}/admin/tokens", server.url));
    shows(browser, "Registrierungsschlüssel");
    browser.execute("document.getElementById('token-room').value = '101';", &[]);
    browser.type_into(&browser.find("input[name=label]"), "Rollwagen 101");
    submit(browser, "#create-token");
    shows(browser, "Rollwagen 101");
    let token = browser
        .execute(
            "return document.getElementById('new-token').innerText;",
            &[],
        )
        .as_str()
        .unwrap()
        .to_owned();
    shot(browser, "07-token");
    let tokens = school.registry(&["token", "list"]);
    assert!(tokens.contains("Rollwagen 101"), "{tokens}");
    // The token works: an agent enrols with it.
    let enrolled = server.agent_enroll(&token, "PC-06", &school.path("pc06"));
    assert!(
        enrolled.status.success(),
        "{}",
        String::from_utf8_lossy(&enrolled.stderr)
    );

    // A teacher leaves: deleted on the users page (locked, purged in 90
    // days, R18), and restored, as a slip of the hand would need.
    browser.navigate(&format!("{}/admin/users", server.url));
    shows(browser, "mueller");
    submit(browser, "#user-mueller .delete-user");
    shows(browser, "gelöscht und gesperrt");
    shot(browser, "08-user-deleted");
    let account = school.registry(&["log", "--kind", "change", "--text", "mueller"]);
    assert!(account.contains("deleted: locked"), "{account}");
    submit(browser, "#user-mueller .restore-user");
    shows(browser, "Benutzer");
    assert!(!browser.text().contains("gelöscht und gesperrt"));

    // The school's record of processing, from what the registry holds now.
    browser.navigate(&format!("{}/admin/privacy", server.url));
    shows(browser, "Verzeichnis von Verarbeitungstätigkeiten");
    assert!(browser.text().contains("Grundschule am See"));
    shot(browser, "10-privacy");

    // The log page shows what was done, by whom.
    browser.navigate(&format!("{}/admin/log", server.url));
    shows(browser, "admin");
    shot(browser, "09-log");
    let log = browser.text();
    assert!(
        log.contains("PC-02") && log.contains("Geräteliste.csv") && log.contains("token"),
        "{log}"
    );
}

/// An admin whose account is at the school's OpenID Connect provider signs
/// in with the page's button: the browser goes to the provider, comes back,
/// and the admin's pages open (the session cookie is SameSite=Strict, and
/// the way back from the provider is a redirect chain from another site).
#[test]
fn an_admin_signs_in_with_the_school_s_identity_provider_in_a_real_browser() {
    let school = School::new("Grundschule am See");
    school.import("name,room\nPC-01,101\n");
    school.registry(&["group", "admins", "it-admins"]);
    let server = RegistryServer::start(&school, &[]);
    let callback = format!("{}/oidc/callback", server.url);
    let provider = OidcProvider::start(
        &callback,
        &[OidcAccount {
            user: "admin-it",
            password: "admin-idp-secret",
            groups: &["it-admins"],
        }],
    );
    provider.register_at(&school, &callback, "Schulportal");
    let driver = ChromeDriver::start(&artifacts("registry-web").join("chromedriver-oidc.log"));
    let browser = &driver.session;
    browser.navigate(&format!("{}/sign-in?lang=de", server.url));
    shows(browser, "Anmelden mit Schulportal");
    shot(browser, "10-sign-in-with-provider");
    submit(browser, "#oidc");
    shows(browser, "Test IdP login");
    assert!(
        browser.url().starts_with(&provider.issuer),
        "{}",
        browser.url()
    );
    browser.type_into(&browser.find("#login"), "admin-it");
    browser.type_into(&browser.find("#password"), "admin-idp-secret");
    browser.click(&browser.find("#submit"));
    shows(browser, "PC-01");
    assert!(
        browser.url().ends_with("/admin/devices"),
        "{}",
        browser.url()
    );
    shot(browser, "11-signed-in-with-provider");
    let signed_in = school.log("sign-in");
    assert_eq!(signed_in[0]["subject"], "admin-it");
    assert_eq!(signed_in[0]["outcome"], "ok");
}

/// What Excel in a German locale saves as "CSV (Trennzeichen-getrennt)":
/// semicolons, Windows-1252, German column names, CRLF.
fn write_german_excel_csv(path: &Path) {
    let text = "Name;Raum;Position;Beschreibung\r\n\
                PC-01;101;Fensterreihe 2;Lehrerpult nah\r\n\
                PC-05;103;Tür;Neu im Rollwagen\r\n";
    let bytes: Vec<u8> = text
        .chars()
        .map(|c| match c {
            'ü' => 0xFC,
            'ä' => 0xE4,
            'ö' => 0xF6,
            c => u8::try_from(c).unwrap(),
        })
        .collect();
    std::fs::write(path, bytes).unwrap();
}
