//! The admin's pages and API against attacks a school's network sees: a
//! forged form from another site (CSRF), a session secret planted before the
//! sign-in (session fixation), and a teacher who is not an admin trying the
//! admin's pages and calls. Plus the steerable switch per device, per
//! selection and per room (R10), over real HTTPS.

use pult_e2e::{RegistryServer, School};
use serde_json::Value;

const ADMIN_PASSWORD: &str = "Verwaltung-2026!";
const TEACHER_PASSWORD: &str = "Tafel-und-Kreide-2026";

struct Site {
    school: School,
    server: RegistryServer,
    http: ureq::Agent,
}

fn site() -> Site {
    let school = School::with_teacher("Realschule Süd");
    school.import("name,room\nPC-01,101\nPC-02,101\nPC-03,102\n");
    school.registry(&["user", "add", "admin", "--group", "admins"]);
    school.registry(&["group", "admins", "admins"]);
    school.registry_with_input(
        &["user", "password", "admin"],
        &format!("{ADMIN_PASSWORD}\n"),
    );
    school.registry_with_input(
        &["user", "password", "mueller"],
        &format!("{TEACHER_PASSWORD}\n"),
    );
    let server = RegistryServer::start(&school, &[]);
    let http = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .disable_verification(true)
                .build(),
        )
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    Site {
        school,
        server,
        http,
    }
}

/// An answer: status, headers we look at, body.
struct Answer {
    status: u16,
    set_cookies: Vec<String>,
    location: String,
    body: String,
}

impl Site {
    fn get(&self, path: &str, cookies: &str) -> Answer {
        let mut request = self.http.get(format!("{}{path}", self.server.url));
        if !cookies.is_empty() {
            request = request.header("Cookie", cookies);
        }
        answer(request.call().unwrap())
    }

    fn post(
        &self,
        path: &str,
        cookies: &str,
        origin: Option<&str>,
        form: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.http.post(format!("{}{path}", self.server.url));
        if !cookies.is_empty() {
            request = request.header("Cookie", cookies);
        }
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        answer(request.send_form(form.iter().copied()).unwrap())
    }

    /// Signs in through the form, sending `planted` as a session cookie
    /// beforehand; returns the session cookie the server set.
    fn sign_in(&self, user: &str, password: &str, planted: Option<&str>) -> Answer {
        let page = self.get("/sign-in", "");
        let pre = cookie_value(&page.set_cookies, "__Host-pult-pre").unwrap();
        let csrf = csrf_of(&page.body);
        let mut cookies = format!("__Host-pult-pre={pre}");
        if let Some(planted) = planted {
            cookies.push_str(&format!("; __Host-pult={planted}"));
        }
        self.post(
            "/sign-in",
            &cookies,
            Some(&self.server.url),
            &[("csrf", &csrf), ("user", user), ("password", password)],
        )
    }

    fn admin(&self) -> (String, String) {
        let signed_in = self.sign_in("admin", ADMIN_PASSWORD, None);
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        let session = format!(
            "__Host-pult={}",
            cookie_value(&signed_in.set_cookies, "__Host-pult").unwrap()
        );
        let page = self.get("/admin/devices", &session);
        assert_eq!(page.status, 200);
        let csrf = csrf_of(&page.body);
        (session, csrf)
    }

    fn steerable(&self) -> Vec<(String, bool)> {
        let listed = self.school.registry(&["device", "list", "--json"]);
        let devices: Vec<Value> = serde_json::from_str(&listed).unwrap();
        devices
            .iter()
            .map(|d| {
                (
                    d["name"].as_str().unwrap().to_owned(),
                    d["steerable"].as_bool().unwrap(),
                )
            })
            .collect()
    }
}

fn answer(mut response: ureq::http::Response<ureq::Body>) -> Answer {
    let headers = response.headers();
    let set_cookies = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let location = headers
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    Answer {
        status: response.status().as_u16(),
        set_cookies,
        location,
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn cookie_value(set_cookies: &[String], name: &str) -> Option<String> {
    set_cookies.iter().find_map(|c| {
        let (pair, _) = c.split_once(';')?;
        let (key, value) = pair.split_once('=')?;
        (key == name && !value.is_empty()).then(|| value.to_owned())
    })
}

fn csrf_of(body: &str) -> String {
    let at = body
        .find("name=\"csrf\" value=\"")
        .expect("the page has a CSRF field")
        + 19;
    body[at..at + 64].to_owned()
}

fn state(site: &Site, name: &str) -> bool {
    site.steerable()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap()
        .1
}

#[test]
fn r10_an_admin_switches_steerable_for_a_device_a_selection_and_a_room() {
    let site = site();
    let (session, csrf) = site.admin();
    let origin = site.server.url.clone();
    let toggled = site.post(
        "/admin/devices/steerable",
        &session,
        Some(&origin),
        &[("csrf", &csrf), ("toggle", "PC-01")],
    );
    assert_eq!(toggled.status, 303, "{}", toggled.body);
    assert_eq!(
        site.steerable(),
        [
            ("PC-01".into(), false),
            ("PC-02".into(), true),
            ("PC-03".into(), true)
        ]
    );
    let selection = site.post(
        "/admin/devices/steerable",
        &session,
        Some(&origin),
        &[
            ("csrf", &csrf),
            ("device", "PC-02"),
            ("device", "PC-03"),
            ("steerable", "off"),
        ],
    );
    assert_eq!(selection.status, 303);
    assert!(site.steerable().iter().all(|(_, on)| !on));
    let room = site.post(
        "/admin/rooms/steerable",
        &session,
        Some(&origin),
        &[("csrf", &csrf), ("room", "101"), ("steerable", "on")],
    );
    assert_eq!(room.status, 303);
    assert_eq!(
        site.steerable(),
        [
            ("PC-01".into(), true),
            ("PC-02".into(), true),
            ("PC-03".into(), false)
        ]
    );
    // A selection with an unknown name changes nothing and says which.
    let bad = site.post(
        "/admin/devices/steerable",
        &session,
        Some(&origin),
        &[
            ("csrf", &csrf),
            ("device", "PC-01"),
            ("device", "PC-99"),
            ("steerable", "off"),
        ],
    );
    assert_eq!(bad.status, 404);
    assert!(bad.body.contains("PC-99"));
    assert!(state(&site, "PC-01"));
    // Each change is in the log with who made it.
    let changes = site.school.log("change");
    assert!(
        changes
            .iter()
            .any(|e| e["actor"] == "admin" && e["subject"] == "PC-01")
    );
}

#[test]
fn a_form_without_the_session_s_csrf_token_or_from_another_site_is_refused() {
    let site = site();
    let (session, csrf) = site.admin();
    let forged = site.post(
        "/admin/devices/steerable",
        &session,
        None,
        &[("toggle", "PC-01")],
    );
    assert_eq!(forged.status, 403);
    let wrong = site.post(
        "/admin/devices/steerable",
        &session,
        None,
        &[("csrf", &"0".repeat(64)), ("toggle", "PC-01")],
    );
    assert_eq!(wrong.status, 403);
    let elsewhere = site.post(
        "/admin/devices/steerable",
        &session,
        Some("https://evil.example"),
        &[("csrf", &csrf), ("toggle", "PC-01")],
    );
    assert_eq!(elsewhere.status, 403);
    assert!(state(&site, "PC-01"), "nothing changed");
    // The sign-in form has its own token.
    let page = site.get("/sign-in", "");
    let pre = cookie_value(&page.set_cookies, "__Host-pult-pre").unwrap();
    let forged_sign_in = site.post(
        "/sign-in",
        &format!("__Host-pult-pre={pre}"),
        None,
        &[
            ("csrf", &"1".repeat(64)),
            ("user", "admin"),
            ("password", ADMIN_PASSWORD),
        ],
    );
    assert_eq!(forged_sign_in.status, 403);
    assert!(cookie_value(&forged_sign_in.set_cookies, "__Host-pult").is_none());
}

#[test]
fn a_session_secret_planted_before_the_sign_in_opens_nothing() {
    let site = site();
    let planted = "a".repeat(64);
    let signed_in = site.sign_in("admin", ADMIN_PASSWORD, Some(&planted));
    assert_eq!(signed_in.status, 303);
    let issued = cookie_value(&signed_in.set_cookies, "__Host-pult").unwrap();
    assert_ne!(issued, planted);
    let cookie = signed_in
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-pult="))
        .unwrap();
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let with_planted = site.get("/admin/devices", &format!("__Host-pult={planted}"));
    assert_eq!(with_planted.status, 303);
    assert_eq!(with_planted.location, "/sign-in");
    assert_eq!(
        site.get("/admin/devices", &format!("__Host-pult={issued}"))
            .status,
        200
    );
    // Signed out, the secret is dead.
    let page = site.get("/admin/devices", &format!("__Host-pult={issued}"));
    let csrf = csrf_of(&page.body);
    let out = site.post(
        "/sign-out",
        &format!("__Host-pult={issued}"),
        None,
        &[("csrf", &csrf)],
    );
    assert_eq!(out.status, 303);
    assert_eq!(
        site.get("/admin/devices", &format!("__Host-pult={issued}"))
            .status,
        303
    );
}

#[test]
fn a_teacher_who_is_no_admin_reaches_neither_the_admin_pages_nor_the_admin_calls() {
    let site = site();
    let signed_in = site.sign_in("mueller", TEACHER_PASSWORD, None);
    assert_eq!(signed_in.status, 303);
    let session = format!(
        "__Host-pult={}",
        cookie_value(&signed_in.set_cookies, "__Host-pult").unwrap()
    );
    for path in ["/admin/devices", "/admin/tokens", "/admin/log"] {
        let page = site.get(path, &session);
        assert_eq!(page.status, 403, "{path}");
        assert!(!page.body.contains("PC-01"), "{path} shows no device");
    }
    // Even with his own session's CSRF token (on the refusal page) he changes nothing.
    let refusal = site.get("/admin/devices", &session);
    let csrf = csrf_of(&refusal.body);
    let tried = site.post(
        "/admin/devices/steerable",
        &session,
        None,
        &[("csrf", &csrf), ("toggle", "PC-01")],
    );
    assert_eq!(tried.status, 403);
    assert!(state(&site, "PC-01"));
    // The API: his token is refused for every admin call.
    let tokens: Value = serde_json::from_str(
        &answer(
            site.http
                .post(format!("{}/api/v1/sign-in", site.server.url))
                .send_json(serde_json::json!({"user": "mueller", "password": TEACHER_PASSWORD}))
                .unwrap(),
        )
        .body,
    )
    .unwrap();
    assert_eq!(tokens["admin"], false);
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    for (method, path) in [
        ("GET", "/api/v1/devices"),
        ("GET", "/api/v1/enrolment-tokens"),
        ("GET", "/api/v1/events"),
    ] {
        let response = site
            .http
            .get(format!("{}{path}", site.server.url))
            .header("Authorization", &bearer)
            .call()
            .unwrap();
        let status = response.status().as_u16();
        let body = answer(response).body;
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert!(body.contains("not-admin"), "{body}");
    }
    let put = site
        .http
        .put(format!(
            "{}/api/v1/devices/PC-01/steerable",
            site.server.url
        ))
        .header("Authorization", &bearer)
        .send_json(serde_json::json!({"steerable": false}))
        .unwrap();
    assert_eq!(put.status().as_u16(), 403);
    assert!(state(&site, "PC-01"));
}

#[test]
fn the_api_describes_itself_and_a_malformed_call_gets_a_json_error_naming_the_fault() {
    let site = site();
    let document: Value = serde_json::from_str(&site.get("/api/v1/openapi.json", "").body).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    for path in [
        "/api/v1/ca",
        "/api/v1/enrol",
        "/api/v1/sign-in",
        "/api/v1/sign-in/methods",
        "/api/v1/sign-in/code",
        "/api/v1/token",
        "/api/v1/sign-out",
        "/api/v1/rooms",
        "/api/v1/room-certificate",
        "/api/v1/devices",
        "/api/v1/devices/{name}/steerable",
        "/api/v1/enrolment-tokens",
        "/api/v1/enrolment-tokens/{id}",
        "/api/v1/events",
    ] {
        assert!(document["paths"][path].is_object(), "{path} is described");
    }
    let tokens: Value = serde_json::from_str(
        &answer(
            site.http
                .post(format!("{}/api/v1/sign-in", site.server.url))
                .send_json(serde_json::json!({"user": "admin", "password": ADMIN_PASSWORD}))
                .unwrap(),
        )
        .body,
    )
    .unwrap();
    assert_eq!(tokens["admin"], true);
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let bad_id = answer(
        site.http
            .delete(format!("{}/api/v1/enrolment-tokens/seven", site.server.url))
            .header("Authorization", &bearer)
            .call()
            .unwrap(),
    );
    assert_eq!(bad_id.status, 400);
    let error: Value = serde_json::from_str(&bad_id.body).unwrap();
    assert_eq!(error["code"], "bad-request");
    assert!(
        error["message"].as_str().unwrap().contains("whole number"),
        "{error}"
    );
    let bad_body = answer(
        site.http
            .post(format!("{}/api/v1/enrolment-tokens", site.server.url))
            .header("Authorization", &bearer)
            .send_json(serde_json::json!({"uses": "many", "hours": 1}))
            .unwrap(),
    );
    assert_eq!(bad_body.status, 400);
    let error: Value = serde_json::from_str(&bad_body.body).unwrap();
    assert!(
        error["message"].as_str().unwrap().contains("uses"),
        "{error}"
    );
    let unknown_room = answer(
        site.http
            .post(format!("{}/api/v1/enrolment-tokens", site.server.url))
            .header("Authorization", &bearer)
            .send_json(serde_json::json!({"uses": 1, "hours": 1, "room": "999"}))
            .unwrap(),
    );
    assert_eq!(unknown_room.status, 404, "{}", unknown_room.body);
    let made = answer(
        site.http
            .post(format!("{}/api/v1/enrolment-tokens", site.server.url))
            .header("Authorization", &bearer)
            .send_json(
                serde_json::json!({"uses": 2, "hours": 1, "room": "101", "label": "Wagen 1"}),
            )
            .unwrap(),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let listed = site
        .http
        .get(format!("{}/api/v1/enrolment-tokens", site.server.url))
        .header("Authorization", &bearer)
        .call()
        .unwrap();
    let listed: Value = serde_json::from_str(&answer(listed).body).unwrap();
    assert_eq!(listed[0]["label"], "Wagen 1");
    assert_eq!(listed[0]["uses_left"], 2);
    assert!(
        !listed.to_string().contains(
            serde_json::from_str::<Value>(&made.body).unwrap()["token"]
                .as_str()
                .unwrap()
        ),
        "a token's secret is never listed"
    );
}

impl Site {
    /// Uploads `file` to the import preview as a browser's multipart form.
    fn upload(&self, session: &str, csrf: &str, name: &str, file: &[u8]) -> Answer {
        let boundary = "----pult-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        answer(
            self.http
                .post(format!("{}/admin/import/preview", self.server.url))
                .header("Cookie", session)
                .header(
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .send(&body[..])
                .unwrap(),
        )
    }
}

/// The value of the hidden field or textarea `name` in a page (HTML-unescaped enough for tests).
fn hidden(body: &str, name: &str) -> String {
    if let Some(at) = body.find(&format!("<textarea name=\"{name}\" hidden>")) {
        let start = at + format!("<textarea name=\"{name}\" hidden>").len();
        let end = start + body[start..].find("</textarea>").unwrap();
        return body[start..end]
            .replace("&#13;", "\r")
            .replace("&#10;", "\n")
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
    }
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker).unwrap() + marker.len();
    let end = start + body[start..].find('"').unwrap();
    body[start..end].to_owned()
}

#[test]
fn r12_an_import_shows_its_changes_first_and_applies_only_what_it_showed() {
    let site = site();
    let (session, csrf) = site.admin();
    // Saved by a German Excel: semicolons, Windows-1252, German headers.
    let file = b"Ger\xe4t;Raum;Steuerbar\r\nPC-01;101;nein\r\nPC-09;109;ja\r\n";
    let preview = site.upload(&session, &csrf, "Geräte.csv", file);
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert!(preview.body.contains("id=\"preview\""), "{}", preview.body);
    assert!(preview.body.contains("PC-09"));
    assert!(state(&site, "PC-01"), "a preview changes nothing");
    assert!(!site.steerable().iter().any(|(n, _)| n == "PC-09"));

    let apply = |expected: &str| {
        site.post(
            "/admin/import/apply",
            &session,
            Some(&site.server.url),
            &[
                ("csrf", &csrf),
                ("source", &hidden(&preview.body, "source")),
                ("expected", expected),
                ("text", &hidden(&preview.body, "text")),
            ],
        )
    };
    // Changed meanwhile: PC-01 was switched off by someone else; the file
    // would now change less than the preview showed, so nothing is applied.
    site.school
        .registry(&["device", "set", "PC-01", "--steerable", "no"]);
    let stale = apply(&hidden(&preview.body, "expected"));
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert!(!site.steerable().iter().any(|(n, _)| n == "PC-09"));
    site.school
        .registry(&["device", "set", "PC-01", "--steerable", "yes"]);
    let applied = apply(&hidden(&preview.body, "expected"));
    assert_eq!(applied.status, 303, "{}", applied.body);
    assert!(!state(&site, "PC-01"));
    assert!(state(&site, "PC-09"));
    let log = site.school.log("change");
    assert!(
        log.iter().any(|e| e["actor"] == "admin"
            && e["detail"].as_str().unwrap().contains("imported 2 devices"))
    );

    // A broken file names line and column, and changes nothing.
    let broken = site.upload(
        &session,
        &csrf,
        "kaputt.csv",
        b"name,room,steerable\nPC-02,101,vielleicht\n",
    );
    assert_eq!(broken.status, 400);
    assert!(
        broken.body.contains("line 2, column 3 (steerable)"),
        "{}",
        broken.body
    );
    assert!(state(&site, "PC-02"));
    // Without the session's CSRF token the upload is refused.
    assert_eq!(
        site.upload(&session, &"0".repeat(64), "x.csv", file).status,
        403
    );

    let export = site.get("/admin/export", &session);
    assert_eq!(export.status, 200);
    assert!(export.body.starts_with("name,room,position"));
    assert!(export.body.contains("PC-09,109"));
}

#[test]
fn r9_an_admin_adds_a_teacher_with_a_password_sets_the_authorised_group_and_a_teacher_pc_s_rooms() {
    let site = site();
    let token = site.school.token(&["--room", "101", "--teacher"]);
    let enrolled = std::process::Command::new(pult_e2e::binary("pultctl"))
        .args([
            "enroll",
            "--registry",
            &site.server.url,
            "--token",
            &token,
            "--name",
            "LEHRER-101",
        ])
        .arg("--dir")
        .arg(site.school.path("teacher-pc"))
        .arg("--setting")
        .arg(site.school.path("registry.json"))
        .output()
        .unwrap();
    assert!(
        enrolled.status.success(),
        "{}",
        String::from_utf8_lossy(&enrolled.stderr)
    );
    let (session, csrf) = site.admin();
    let origin = site.server.url.clone();

    // A password too short adds nobody.
    let short = site.post(
        "/admin/users",
        &session,
        Some(&origin),
        &[
            ("csrf", &csrf),
            ("user", "weber"),
            ("groups", "kollegium"),
            ("password", "kurz"),
        ],
    );
    assert_eq!(short.status, 400);
    assert!(short.body.contains("at least 10"), "{}", short.body);
    let added = site.post(
        "/admin/users",
        &session,
        Some(&origin),
        &[
            ("csrf", &csrf),
            ("user", "weber"),
            ("groups", "kollegium, ag-robotik"),
            ("password", "Lange-Nacht-der-Physik"),
        ],
    );
    assert_eq!(added.status, 303, "{}", added.body);
    let page = site.get("/admin/users", &session);
    assert!(
        page.body
            .contains("weber</td><td>ag-robotik, kollegium</td>"),
        "{}",
        page.body
    );

    // R9: weber may use Pult only once his group is the authorised one.
    let try_sign_in = || {
        let answer = answer(
            site.http
                .post(format!("{}/api/v1/sign-in", site.server.url))
                .send_json(
                    serde_json::json!({"user": "weber", "password": "Lange-Nacht-der-Physik"}),
                )
                .unwrap(),
        );
        assert_eq!(answer.status, 200, "{}", answer.body);
    };
    try_sign_in();
    let switched = site.post(
        "/admin/users/authorised-group",
        &session,
        Some(&origin),
        &[("csrf", &csrf), ("group", "kollegium")],
    );
    assert_eq!(switched.status, 303);
    let listed = site
        .school
        .registry(&["log", "--kind", "change", "--text", "kollegium"]);
    assert!(listed.contains("authorised to use Pult"), "{listed}");

    // The teacher PC may serve room 102 too; a student PC's rooms cannot be set.
    let rooms = site.post(
        "/admin/teacher-pcs",
        &session,
        Some(&origin),
        &[("csrf", &csrf), ("device", "LEHRER-101"), ("also", "102")],
    );
    assert_eq!(rooms.status, 303, "{}", rooms.body);
    let page = site.get("/admin/users", &session);
    assert!(page.body.contains("value=\"102\" checked"), "{}", page.body);
    let student = site.post(
        "/admin/teacher-pcs",
        &session,
        Some(&origin),
        &[("csrf", &csrf), ("device", "PC-01"), ("also", "102")],
    );
    assert_eq!(student.status, 400);
    let listed: Value =
        serde_json::from_str(&site.school.registry(&["device", "list", "--json"])).unwrap();
    let pc01 = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "PC-01")
        .unwrap();
    assert_eq!(pc01["teacher"], false);
}

#[test]
fn an_import_of_a_whole_school_applies_through_the_page() {
    let site = site();
    let (session, csrf) = site.admin();
    // 3000 devices, about 280 KB and more once form-encoded: more than any
    // plain form the pages take (256 KiB).
    let mut file = String::from("name;room;position;description\n");
    for i in 0..3000 {
        file.push_str(&format!(
            "PC-{i:04};R{};Reihe {}, Platz {};Gerät im Fachraum, Ausleihe über das Sekretariat, Nummer {i}\n",
            i / 30,
            i % 30 / 6 + 1,
            i % 6 + 1
        ));
    }
    assert!(file.len() > 256 * 1024);
    let preview = site.upload(&session, &csrf, "schule.csv", file.as_bytes());
    assert_eq!(preview.status, 200);
    let applied = site.post(
        "/admin/import/apply",
        &session,
        Some(&site.server.url),
        &[
            ("csrf", &csrf),
            ("source", &hidden(&preview.body, "source")),
            ("expected", &hidden(&preview.body, "expected")),
            ("text", &hidden(&preview.body, "text")),
        ],
    );
    assert_eq!(
        applied.status,
        303,
        "{}",
        &applied.body[..applied.body.len().min(500)]
    );
    assert_eq!(site.steerable().len(), 3003);
}
