//! Teachers and admins sign in with the school's own identity systems,
//! real servers started here: OpenLDAP (search, then bind; the groups from
//! the directory) and an OpenID Connect provider (panva's certified
//! `oidc-provider`; the authorization code flow with PKCE, the groups from a
//! claim). A teacher in the authorised group gets the room certificate of
//! the room their PC stands in and reaches its computers only; one outside
//! the group is refused (R9); every attempt that reaches the registry is in
//! its log (R16).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pult_e2e::identity::{Browser, LDAP_SERVICE, OIDC_CLIENT, OidcAccount, OidcProvider, Slapd};
use pult_e2e::{Agent, RegistryServer, School, binary, free_address, pultctl, pultctl_login};
use serde_json::Value;

/// A school whose users live in the school's identity system, not in the
/// registry: rooms 101 (PC-01) and 102 (PC-02) with running agents, the
/// teacher PC LEHRER-101, "lehrer" the authorised group, "it-admins" the admins.
struct Campus {
    school: School,
    server: RegistryServer,
    setting: PathBuf,
    _agents: [Agent; 2],
}

fn campus() -> Campus {
    let school = School::new("Gymnasium am Wall");
    school.registry(&["group", "authorize", "lehrer"]);
    school.registry(&["group", "admins", "it-admins"]);
    school.import(&format!(
        "name,room,ip\nPC-01,101,{}\nPC-02,102,{}\n",
        free_address(),
        free_address()
    ));
    let server = RegistryServer::start(&school, &[]);
    let pc01 = Agent::synthetic(
        &server.enrol_agent(&school, "PC-01", "101", "pc01"),
        "320x240",
    );
    let pc02 = Agent::synthetic(
        &server.enrol_agent(&school, "PC-02", "102", "pc02"),
        "320x240",
    );
    let setting = server.enrol_teacher_pc(&school, "LEHRER-101", "101");
    Campus {
        school,
        server,
        setting,
        _agents: [pc01, pc02],
    }
}

impl Campus {
    /// The sign-in lines of the log, newest first, as (subject or "-", outcome, detail).
    fn sign_ins(&self) -> Vec<(String, String, String)> {
        self.school
            .log("sign-in")
            .iter()
            .map(|e| {
                (
                    e["subject"].as_str().unwrap_or("-").to_owned(),
                    e["outcome"].as_str().unwrap().to_owned(),
                    e["detail"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The teacher's room certificate reaches PC-01 in room 101, not PC-02 in 102 (R8).
    fn reaches_only_its_room(&self, room_dir: &Path) {
        let shot = self.school.path("pc01.png");
        let taken = pultctl(
            room_dir,
            &["screenshot", "PC-01", "--out", shot.to_str().unwrap()],
        );
        assert!(taken.success, "{}", taken.stderr);
        assert!(shot.is_file());
        let refused = pultctl(room_dir, &["screenshot", "PC-02", "--out", "/dev/null"]);
        assert!(!refused.success);
        assert!(refused.stderr.contains("PC-02"), "{}", refused.stderr);
    }
}

/// (subject, outcome) of each sign-in line.
fn outcomes(sign_ins: &[(String, String, String)]) -> Vec<(&str, &str)> {
    sign_ins
        .iter()
        .map(|(s, o, _)| (s.as_str(), o.as_str()))
        .collect()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn r9_r16_teachers_sign_in_against_the_school_s_ldap_directory() {
    let mut directory = Slapd::start();
    let campus = campus();
    campus.school.registry_with_input(
        &[
            "sign-in",
            "ldap",
            "--url",
            &directory.url,
            "--base-dn",
            "ou=people,dc=schule,dc=example",
            "--bind-dn",
            LDAP_SERVICE.0,
            "--group-base-dn",
            "ou=groups,dc=schule,dc=example",
        ],
        &format!("{}\n", LDAP_SERVICE.1),
    );
    // The settings are shown without the service account's password.
    let shown = campus.school.registry(&["sign-in", "show"]);
    assert!(shown.contains(&directory.url), "{shown}");
    assert!(!shown.contains(LDAP_SERVICE.1), "{shown}");
    // An admin tries a user before the teachers do.
    let tried = campus
        .school
        .registry_with_input(&["sign-in", "test", "mueller"], "mueller-secret\n");
    assert!(tried.contains("groups: lehrer"), "{tried}");
    assert!(tried.contains("may use Pult"), "{tried}");

    let room_dir = campus.school.path("room");
    let wrong = pultctl_login(&campus.setting, &room_dir, "mueller", "falsch");
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("user name or the password is wrong"),
        "{}",
        stderr(&wrong)
    );
    // A pupil's password is right; the directory says they are not a teacher.
    let pupil = pultctl_login(&campus.setting, &room_dir, "schmidt", "schmidt-secret");
    assert!(!pupil.status.success());
    assert!(
        stderr(&pupil).contains("not in the group 'lehrer'"),
        "{}",
        stderr(&pupil)
    );
    assert!(
        !room_dir.exists(),
        "nothing installed for a refused sign-in"
    );
    // No such user in the directory: refused like a wrong password.
    let nobody = pultctl_login(&campus.setting, &room_dir, "niemand", "niemand-secret");
    assert!(stderr(&nobody).contains("user name or the password is wrong"));
    // A filter's special characters in the user name are data, not filter.
    let injected = pultctl_login(&campus.setting, &room_dir, "*", "mueller-secret");
    assert!(
        stderr(&injected).contains("user name or the password is wrong"),
        "{}",
        stderr(&injected)
    );

    let login = pultctl_login(&campus.setting, &room_dir, "mueller", "mueller-secret");
    assert!(login.status.success(), "{}", stderr(&login));
    campus.reaches_only_its_room(&room_dir);

    // An admin of the directory's it-admins group gets into the admin's pages.
    let mut browser = Browser::new();
    let signed_in = web_sign_in(
        &mut browser,
        &campus.server.url,
        "admin-it",
        "admin-it-secret",
    );
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let devices = browser.get(&format!("{}/admin/devices", campus.server.url));
    assert_eq!(devices.status, 200);
    assert!(devices.body.contains("PC-01"), "{}", devices.body);

    // A directory user never becomes one of the registry's own accounts,
    // not even by another case of letters: "SCHMIDT" finds no local password,
    // the directory answers "schmidt", and that name has a local password.
    campus
        .school
        .registry(&["user", "add", "schmidt", "--group", "lehrer"]);
    campus
        .school
        .registry_with_input(&["user", "password", "schmidt"], "lokal-und-lang\n");
    let taken = pultctl_login(&campus.setting, &room_dir, "SCHMIDT", "schmidt-secret");
    assert!(!taken.status.success());
    assert!(
        stderr(&taken).contains("one of the registry's own accounts"),
        "{}",
        stderr(&taken)
    );

    // The directory gone: the sign-in says so, and the attempt is logged.
    directory.stop();
    let down = pultctl_login(&campus.setting, &room_dir, "mueller", "mueller-secret");
    assert!(!down.status.success());
    assert!(
        stderr(&down).contains("directory") && stderr(&down).contains("failed"),
        "{}",
        stderr(&down)
    );

    let sign_ins = campus.sign_ins();
    assert_eq!(
        outcomes(&sign_ins),
        [
            ("mueller", "refused"),
            ("SCHMIDT", "refused"),
            ("admin-it", "ok"),
            ("mueller", "ok"),
            ("*", "refused"),
            ("niemand", "refused"),
            ("schmidt", "ok"),
            ("mueller", "refused"),
        ],
        "newest first: {sign_ins:#?}"
    );
    assert!(
        sign_ins[3].2.contains("through the directory") && sign_ins[3].2.contains("lehrer"),
        "{sign_ins:#?}"
    );
    assert!(
        campus
            .school
            .log("certificate")
            .iter()
            .any(|e| e["subject"] == "schmidt" && e["outcome"] == "refused"),
        "the pupil's certificate refusal is logged"
    );
}

/// The admin's sign-in form, as a browser fills it in.
fn web_sign_in(
    browser: &mut Browser,
    url: &str,
    user: &str,
    password: &str,
) -> pult_e2e::identity::Page {
    let form = browser.get(&format!("{url}/sign-in"));
    assert_eq!(form.status, 200);
    let csrf = browser
        .cookie(url, "__Host-pult-pre")
        .expect("the sign-in form's token");
    browser.post_form(
        &format!("{url}/sign-in"),
        &[("csrf", &csrf), ("user", user), ("password", password)],
    )
}

/// `pultctl login --browser`, with a "browser" that writes down the address
/// it is asked to open, so the test can walk through the sign-in.
struct BrowserLogin {
    child: Child,
    opened: PathBuf,
}

impl BrowserLogin {
    fn start(campus: &Campus, room_dir: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap().keep();
        let opener = pult_e2e::recording_opener(&dir);
        let child = Command::new(binary("pultctl"))
            .arg("--cert")
            .arg(room_dir)
            .args(["login", "--browser", "--setting"])
            .arg(&campus.setting)
            .env("BROWSER", &opener)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Self {
            child,
            opened: dir.join("opened.txt"),
        }
    }

    /// The address pultctl opened.
    fn address(&self) -> String {
        pult_e2e::wait_until(Duration::from_secs(20), "pultctl opens the browser", || {
            self.opened.exists()
        });
        std::fs::read_to_string(&self.opened)
            .unwrap()
            .trim()
            .to_owned()
    }

    fn wait(self) -> std::process::Output {
        self.child.wait_with_output().unwrap()
    }
}

/// From the address pultctl opened to the provider's login form.
fn to_login_form(browser: &mut Browser, address: &str, issuer: &str) -> pult_e2e::identity::Page {
    let first = browser.get(address);
    assert_eq!(first.status, 303, "{}", first.body);
    assert!(first.location.starts_with(issuer), "{}", first.location);
    let form = browser.follow(first, |_| false);
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("id=\"password\""), "{}", form.body);
    form
}

fn login_action(form: &pult_e2e::identity::Page, ending: &str) -> String {
    let base = url::Url::parse(&form.url).unwrap();
    let path = form
        .body
        .split("action=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .find(|action| action.ends_with(ending))
        .unwrap();
    base.join(path).unwrap().to_string()
}

#[test]
fn r9_r16_teachers_sign_in_with_the_school_s_openid_connect_provider() {
    let campus = campus();
    let callback = format!("{}/oidc/callback", campus.server.url);
    let provider = OidcProvider::start(
        &callback,
        &[
            OidcAccount {
                user: "mueller",
                password: "mueller-idp",
                groups: &["lehrer", "fachschaft-physik"],
            },
            OidcAccount {
                user: "schmidt",
                password: "schmidt-idp",
                groups: &["schueler"],
            },
            OidcAccount {
                user: "admin-it",
                password: "admin-idp",
                groups: &["it-admins"],
            },
        ],
    );
    provider.register_at(&campus.school, &callback, "Schulportal");
    assert!(
        !campus
            .school
            .registry(&["sign-in", "show"])
            .contains(OIDC_CLIENT.1)
    );
    let room_dir = campus.school.path("room");

    // A teacher: a wrong password at the provider (the form again, the
    // registry hears nothing), then the right one; pultctl gets the room.
    let login = BrowserLogin::start(&campus, &room_dir);
    let mut browser = Browser::new();
    let form = to_login_form(&mut browser, &login.address(), &provider.issuer);
    let action = login_action(&form, "/login");
    let wrong = browser.post_form(&action, &[("login", "mueller"), ("password", "falsch")]);
    assert_eq!(wrong.status, 200);
    assert!(wrong.body.contains("wrong password"));
    let right = browser.post_form(
        &action,
        &[("login", "mueller"), ("password", "mueller-idp")],
    );
    let back = browser.follow(right, |_| false);
    assert_eq!(back.status, 200, "{back:?}");
    assert!(
        back.body.contains("Angemeldet als mueller"),
        "{}",
        back.body
    );
    assert!(
        back.url.starts_with("http://127.0.0.1:"),
        "pultctl's loopback address: {}",
        back.url
    );
    let done = login.wait();
    assert!(done.status.success(), "{}", stderr(&done));
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(room_dir.join("room.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["user"], "mueller");
    assert_eq!(manifest["room"], "101");
    campus.reaches_only_its_room(&room_dir);

    // A pupil: the provider signs them in, the registry refuses them a room (R9).
    let pupil_dir = campus.school.path("pupil-room");
    let login = BrowserLogin::start(&campus, &pupil_dir);
    let mut browser = Browser::new();
    let form = to_login_form(&mut browser, &login.address(), &provider.issuer);
    let signed_in = browser.post_form(
        &login_action(&form, "/login"),
        &[("login", "schmidt"), ("password", "schmidt-idp")],
    );
    browser.follow(signed_in, |_| false);
    let refused = login.wait();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("not in the group 'lehrer'"),
        "{}",
        stderr(&refused)
    );
    assert!(!pupil_dir.exists());

    // Someone who gives up at the provider: refused, and the registry logs it.
    let login = BrowserLogin::start(&campus, &pupil_dir);
    let mut browser = Browser::new();
    let form = to_login_form(&mut browser, &login.address(), &provider.issuer);
    let cancelled = browser.post_form(&login_action(&form, "/abort"), &[]);
    browser.follow(cancelled, |_| false);
    let cancelled = login.wait();
    assert!(!cancelled.status.success());
    assert!(
        stderr(&cancelled).contains("access_denied"),
        "{}",
        stderr(&cancelled)
    );

    // The admin's pages: the provider's button, then the devices for an
    // admin; a teacher signed in there sees that the pages are for admins.
    for (user, password, admin) in [
        ("admin-it", "admin-idp", true),
        ("mueller", "mueller-idp", false),
    ] {
        let mut browser = Browser::new();
        let page = browser.get(&format!("{}/sign-in", campus.server.url));
        assert!(page.body.contains("Schulportal"), "{}", page.body);
        let form = to_login_form(
            &mut browser,
            &format!("{}/oidc/start", campus.server.url),
            &provider.issuer,
        );
        let signed_in = browser.post_form(
            &login_action(&form, "/login"),
            &[("login", user), ("password", password)],
        );
        let landed = browser.follow(signed_in, |_| false);
        assert_eq!(landed.status, 200, "{landed:?}");
        let devices = browser.get(&format!("{}/admin/devices", campus.server.url));
        assert_eq!(
            devices.status == 200 && devices.body.contains("PC-01"),
            admin,
            "{user}: {}",
            devices.body
        );
    }

    // A callback nobody started: refused, logged.
    let mut stranger = Browser::new();
    let forged = stranger.get(&format!("{callback}?code=abc&state=0123456789abcdef"));
    assert_eq!(forged.status, 400);
    // A sign-in started and finished in one browser, its way back handed
    // to another (login CSRF: signing a victim's browser into one's own
    // account): refused, logged, and the other browser gets no session.
    let mut attacker = Browser::new();
    let form = to_login_form(
        &mut attacker,
        &format!("{}/oidc/start", campus.server.url),
        &provider.issuer,
    );
    let signed_in = attacker.post_form(
        &login_action(&form, "/login"),
        &[("login", "mueller"), ("password", "mueller-idp")],
    );
    let way_back = attacker.follow(signed_in, |next| next.starts_with(&callback));
    let mut victim = Browser::new();
    let planted = victim.get(&way_back.location);
    assert_eq!(planted.status, 403, "{}", planted.body);
    assert!(victim.cookie(&campus.server.url, "__Host-pult").is_none());

    let sign_ins = campus.sign_ins();
    assert_eq!(
        outcomes(&sign_ins),
        [
            ("-", "refused"),
            ("-", "refused"),
            ("mueller", "ok"),
            ("admin-it", "ok"),
            ("-", "refused"),
            ("schmidt", "ok"),
            ("mueller", "ok"),
        ],
        "newest first: {sign_ins:#?}"
    );
    assert!(
        sign_ins[0].2.contains("not the one that started"),
        "{sign_ins:#?}"
    );
    assert!(sign_ins[4].2.contains("access_denied"), "{sign_ins:#?}");
    assert!(sign_ins[6].2.contains("for the app") && sign_ins[6].2.contains("lehrer"));
}
