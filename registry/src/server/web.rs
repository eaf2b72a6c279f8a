//! The admin's web pages, rendered here (no second front-end build).
//!
//! - Sessions are `__Host-` cookies: Secure, HttpOnly, SameSite=Strict, for
//!   this host only. A sign-in always makes a new session secret, so a
//!   secret planted before the sign-in opens nothing (session fixation).
//! - Every form that changes something carries the session's CSRF token,
//!   compared in constant time; a request whose Origin is another site is
//!   refused as well. The sign-in form has its own pre-session token.
//! - A page answers only a member of the admins' group; anyone else who
//!   signed in sees that the pages are for admins, and nothing else.
//! - German or English: `?lang=`, then the language cookie, then the browser's.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::api::{check_password, lock};
use super::texts::{Language, Texts};
use super::{Peer, Server};
use crate::model::{DeviceName, RoomName};
use crate::secret;
use crate::store::{EventFilter, EventKind, Outcome, Session, SessionKind};
use crate::{Actor, RegistryError, rfc3339};

/// The session cookie.
const SESSION_COOKIE: &str = "__Host-pult";
/// The sign-in form's own CSRF cookie, before there is a session.
const PRE_COOKIE: &str = "__Host-pult-pre";
/// The language cookie.
const LANGUAGE_COOKIE: &str = "pult-lang";
/// The largest device list an admin uploads (a district's 8500 devices are about 1 MB).
const MAX_IMPORT: usize = 4 * 1024 * 1024;
/// How long an admin stays signed in.
const WEB_SESSION: Duration = Duration::from_secs(8 * 3600);

/// The pages' routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/admin/devices") }))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/admin/devices", get(devices_page))
        .route("/admin/devices/steerable", post(devices_steerable))
        .route("/admin/rooms/steerable", post(room_steerable))
        .route("/admin/tokens", get(tokens_page).post(create_token))
        .route("/admin/tokens/{id}/delete", post(delete_token))
        .route("/admin/log", get(log_page))
        .route("/admin/privacy", get(privacy_page))
        .route("/admin/import", get(import_page))
        .route(
            "/admin/import/preview",
            post(import_preview)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_IMPORT + 64 * 1024)),
        )
        .route(
            "/admin/import/apply",
            post(import_apply).layer(axum::extract::DefaultBodyLimit::max(3 * MAX_IMPORT)),
        )
        .route("/admin/export", get(export))
        .route("/admin/users", get(users_page).post(add_user))
        .route("/admin/users/authorised-group", post(set_authorised_group))
        .route("/admin/users/delete", post(delete_user))
        .route("/admin/users/restore", post(restore_user))
        .route("/admin/teacher-pcs", post(set_teacher_pc))
        .route(
            "/static/pult.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css")],
                    include_str!("../../static/pult.css"),
                )
            }),
        )
        .route(
            "/static/pult.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript")],
                    include_str!("../../static/pult.js"),
                )
            }),
        )
}

/// What every page shows around its content.
struct Frame {
    lang: &'static str,
    t: &'static Texts,
    signed_in: bool,
    page: &'static str,
    csrf: String,
    user: String,
    notice: String,
    problem: String,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    f: Frame,
    oidc_label: String,
}

#[derive(Template)]
#[template(path = "continue.html")]
struct ContinuePage {
    f: Frame,
}

#[derive(Template)]
#[template(path = "privacy.html")]
struct PrivacyPage {
    f: Frame,
    report: String,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    f: Frame,
    heading: String,
}

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesPage {
    f: Frame,
    rooms: Vec<String>,
    selected_room: String,
    devices: Vec<DeviceRow>,
}

struct DeviceRow {
    name: String,
    room: String,
    position: String,
    inventory: String,
    macs: String,
    addresses: String,
    description: String,
    tags: String,
    owner: String,
    steerable: bool,
    teacher: bool,
    enrolled: bool,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    f: Frame,
    rooms: Vec<String>,
    tokens: Vec<TokenRow>,
    new_token: String,
}

struct TokenRow {
    id: i64,
    label: String,
    room: String,
    teacher: bool,
    uses_left: u32,
    expires: String,
    created_by: String,
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    f: Frame,
    previewed: bool,
    changes: Vec<crate::ImportChange>,
    source: String,
    expected: String,
    text: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    f: Frame,
    authorised: String,
    admins: String,
    users: Vec<UserRow>,
    teacher_pcs: Vec<TeacherPcRow>,
}

struct UserRow {
    name: String,
    groups: String,
    local_password: bool,
    /// When a deleted user is purged for good ("" for a user not deleted).
    purge: String,
}

struct TeacherPcRow {
    name: String,
    room: String,
    /// Every other room, and whether the PC may be used for it.
    choices: Vec<(String, bool)>,
}

#[derive(Template)]
#[template(path = "log.html")]
struct LogPage {
    f: Frame,
    kinds: Vec<String>,
    selected_kind: String,
    selected_outcome: String,
    text: String,
    events: Vec<EventRow>,
}

struct EventRow {
    time: String,
    kind: &'static str,
    outcome: &'static str,
    actor: String,
    source: String,
    subject: String,
    room: String,
    detail: String,
}

/// A page, with the headers every page gets.
fn page(status: StatusCode, template: &impl Template, language: Option<Language>) -> Response {
    let body = match template.render() {
        Ok(body) => body,
        Err(error) => {
            tracing::error!("a page could not be rendered: {error}");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response();
        }
    };
    let mut response = (status, Html(body)).into_response();
    if let Some(language) = language {
        set_cookie(
            &mut response,
            LANGUAGE_COOKIE,
            language.code(),
            365 * 24 * 3600,
            false,
        );
    }
    response
}

/// The language of this request, and whether `?lang=` chose it (to be remembered).
pub(super) fn language(headers: &HeaderMap, query: &LangQuery) -> (Language, Option<Language>) {
    if let Some(chosen) = query.lang.as_deref().and_then(Language::from_code) {
        return (chosen, Some(chosen));
    }
    if let Some(kept) = cookie(headers, LANGUAGE_COOKIE).and_then(Language::from_code) {
        return (kept, None);
    }
    let header = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    (Language::from_accept_language(header), None)
}

/// `?lang=` on any page.
#[derive(Deserialize, Default)]
pub(super) struct LangQuery {
    /// "de" or "en".
    pub(super) lang: Option<String>,
}

fn frame(language: Language, page: &'static str, session: Option<&Session>) -> Frame {
    Frame {
        lang: language.code(),
        t: language.texts(),
        signed_in: session.is_some(),
        page,
        csrf: session.and_then(|s| s.csrf.clone()).unwrap_or_default(),
        user: session.map(|s| s.user.clone()).unwrap_or_default(),
        notice: String::new(),
        problem: String::new(),
    }
}

async fn sign_in_page(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    Query(query): Query<LangQuery>,
) -> Response {
    let (language, chosen) = language(&headers, &query);
    let pre = cookie(&headers, PRE_COOKIE)
        .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
        .unwrap_or_else(|| secret::random_hex(32));
    let mut f = frame(language, "sign-in", None);
    f.csrf = pre.clone();
    let oidc_label = oidc_label(&server);
    let mut response = page(StatusCode::OK, &SignInPage { f, oidc_label }, chosen);
    set_cookie(&mut response, PRE_COOKIE, &pre, 3600, true);
    response
}

/// The sign-in button's label for the school's identity provider, or "" if there is none.
fn oidc_label(server: &Arc<Server>) -> String {
    lock(&server.registry)
        .oidc_settings()
        .ok()
        .flatten()
        .map(|s| s.label)
        .unwrap_or_default()
}

async fn sign_in(
    State(server): State<Arc<Server>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (language, _) = language(&headers, &LangQuery::default());
    let form = Form::parse(&body);
    let pre = cookie(&headers, PRE_COOKIE).unwrap_or_default();
    if pre.is_empty() || !secret::equal(pre, form.get("csrf")) || !same_origin(&headers) {
        return csrf_refused(language, None);
    }
    let user = form.get("user").trim().to_owned();
    let password = form.get("password").to_owned();
    if user.is_empty() || user.len() > 256 || password.len() > 1024 {
        return sign_in_again(&server, language, language.texts().sign_in_refused);
    }
    let by = peer.actor(user.clone());
    let identity = match check_password(&server, &user, password, &by).await {
        Ok(identity) => identity,
        Err(error) if error.code() == "too-many-attempts" => {
            return sign_in_again(&server, language, language.texts().too_many);
        }
        Err(error) if error.code() == "identity-provider-unavailable" => {
            return sign_in_again(&server, language, language.texts().directory_unavailable);
        }
        Err(_) => return sign_in_again(&server, language, language.texts().sign_in_refused),
    };
    open_web_session(&server, &headers, &identity, language, false)
}

/// Opens a web session for `identity` after a sign-in: a new secret every
/// time, and a session cookie sent along is ended, never taken over (no
/// fixation). `from_elsewhere`: the browser comes from the identity
/// provider's site, and a redirect in that chain would not carry the new
/// SameSite=Strict cookie, so a page of ours leads on to the admin's pages.
pub(super) fn open_web_session(
    server: &Arc<Server>,
    headers: &HeaderMap,
    identity: &crate::Identity,
    language: Language,
    from_elsewhere: bool,
) -> Response {
    let opened = {
        let mut registry = lock(&server.registry);
        if let Some(old) = cookie(headers, SESSION_COOKIE) {
            let _ = registry.close_session(old);
        }
        registry.open_session(SessionKind::Web, identity, None, WEB_SESSION)
    };
    match opened {
        Ok((secret, session)) => {
            let mut response = if from_elsewhere {
                let f = frame(language, "", Some(&session));
                page(StatusCode::OK, &ContinuePage { f }, None)
            } else {
                Redirect::to("/admin/devices").into_response()
            };
            set_cookie(
                &mut response,
                SESSION_COOKIE,
                &secret,
                WEB_SESSION.as_secs(),
                true,
            );
            set_cookie(&mut response, PRE_COOKIE, "", 0, true);
            response
        }
        Err(error) => failed(language, None, &error),
    }
}

fn sign_in_again(server: &Arc<Server>, language: Language, problem: &str) -> Response {
    let pre = secret::random_hex(32);
    let mut f = frame(language, "sign-in", None);
    f.csrf = pre.clone();
    f.problem = problem.to_owned();
    let oidc_label = oidc_label(server);
    let mut response = page(
        StatusCode::UNAUTHORIZED,
        &SignInPage { f, oidc_label },
        None,
    );
    set_cookie(&mut response, PRE_COOKIE, &pre, 3600, true);
    response
}

async fn sign_out(
    State(server): State<Arc<Server>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (language, _) = language(&headers, &LangQuery::default());
    let Some((secret, session)) = web_session(&server, &headers) else {
        return Redirect::to("/sign-in").into_response();
    };
    if !csrf_ok(&session, &Form::parse(&body), &headers) {
        return csrf_refused(language, Some(&session));
    }
    let mut registry = lock(&server.registry);
    let _ = registry.close_session(&secret);
    let _ = registry.log(
        EventKind::SignOut,
        &peer.actor(session.user.clone()),
        Some(&session.user),
        None,
        Outcome::Ok,
        "signed out of the admin's pages",
    );
    let mut response = Redirect::to("/sign-in").into_response();
    set_cookie(&mut response, SESSION_COOKIE, "", 0, true);
    response
}

#[derive(Deserialize)]
struct DevicesQuery {
    room: Option<String>,
    lang: Option<String>,
    done: Option<String>,
}

async fn devices_page(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    Query(query): Query<DevicesQuery>,
) -> Response {
    let (language, chosen, session) = match admin_page(&server, &headers, query.lang.clone()) {
        Ok(page) => page,
        Err(response) => return response,
    };
    let registry = lock(&server.registry);
    let selected = query.room.filter(|r| !r.is_empty());
    let room = match selected.as_deref().map(str::parse::<RoomName>).transpose() {
        Ok(room) => room,
        Err(error) => {
            return failed(
                language,
                Some(&session),
                &RegistryError::BadName(error.to_string()),
            );
        }
    };
    let listed = registry.devices(room.as_ref()).and_then(|devices| {
        let rooms = registry.rooms()?;
        Ok((devices, rooms))
    });
    let (devices, rooms) = match listed {
        Ok(listed) => listed,
        Err(error) => return failed(language, Some(&session), &error),
    };
    let join = |items: Vec<String>| items.join(" ");
    let mut f = frame(language, "devices", Some(&session));
    if query.done.is_some() {
        f.notice = f.t.changed.to_owned();
    }
    page(
        StatusCode::OK,
        &DevicesPage {
            f,
            rooms: rooms.iter().map(ToString::to_string).collect(),
            selected_room: selected.unwrap_or_default(),
            devices: devices
                .into_iter()
                .map(|d| DeviceRow {
                    name: d.fields.name.to_string(),
                    room: d.fields.room.to_string(),
                    position: d.fields.position.unwrap_or_default(),
                    inventory: d.fields.inventory.unwrap_or_default(),
                    macs: join(d.fields.macs.iter().map(ToString::to_string).collect()),
                    addresses: join(d.fields.addresses.iter().map(ToString::to_string).collect()),
                    description: d.fields.description.unwrap_or_default(),
                    tags: d.fields.tags.join(", "),
                    owner: d.fields.owner.unwrap_or_default(),
                    steerable: d.fields.steerable,
                    teacher: d.teacher,
                    enrolled: d.fingerprint.is_some(),
                })
                .collect(),
        },
        chosen,
    )
}

/// The bulk form: one device's toggle, or the selection switched on or off (R10).
async fn devices_steerable(
    State(server): State<Arc<Server>>,
    AdminForm {
        language,
        form,
        session,
        by,
    }: AdminForm,
) -> Response {
    let mut registry = lock(&server.registry);
    let outcome = (|| -> Result<(), RegistryError> {
        let parse = |name: &str| {
            name.parse::<DeviceName>()
                .map_err(|_| RegistryError::UnknownDevice(name.to_owned()))
        };
        let toggle = form.get("toggle");
        if !toggle.is_empty() {
            let name = parse(toggle)?;
            let device = registry
                .devices(None)?
                .into_iter()
                .find(|d| d.fields.name == name)
                .ok_or_else(|| RegistryError::UnknownDevice(name.to_string()))?;
            return registry.set_steerable(&name, !device.fields.steerable, &by);
        }
        let steerable = on_off(form.get("steerable"))?;
        let names = form
            .all("device")
            .map(parse)
            .collect::<Result<Vec<_>, _>>()?;
        registry.set_steerable_all(&names, steerable, &by)
    })();
    drop(registry);
    done(
        outcome,
        &back_to_devices(form.get("back")),
        language,
        &session,
    )
}

async fn room_steerable(
    State(server): State<Arc<Server>>,
    AdminForm {
        language,
        form,
        session,
        by,
    }: AdminForm,
) -> Response {
    let outcome = (|| -> Result<(), RegistryError> {
        let room: RoomName = form
            .get("room")
            .parse()
            .map_err(|e: crate::model::NameError| RegistryError::BadName(e.to_string()))?;
        let steerable = on_off(form.get("steerable"))?;
        let mut registry = lock(&server.registry);
        let names: Vec<DeviceName> = registry
            .devices(Some(&room))?
            .into_iter()
            .map(|d| d.fields.name)
            .collect();
        registry.set_steerable_all(&names, steerable, &by)
    })();
    done(
        outcome,
        &back_to_devices(form.get("room")),
        language,
        &session,
    )
}

/// After a change: back to `to`, or the error page.
fn done(
    outcome: Result<(), RegistryError>,
    to: &str,
    language: Language,
    session: &Session,
) -> Response {
    match outcome {
        Ok(()) => Redirect::to(to).into_response(),
        Err(error) => failed(language, Some(session), &error),
    }
}

fn on_off(value: &str) -> Result<bool, RegistryError> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(RegistryError::BadName(format!(
            "'steerable' is on or off, not '{}'",
            other.escape_debug()
        ))),
    }
}

fn back_to_devices(room: &str) -> String {
    if room.is_empty() {
        "/admin/devices?done=1".to_owned()
    } else {
        let room: String = url::form_urlencoded::byte_serialize(room.as_bytes()).collect();
        format!("/admin/devices?room={room}&done=1")
    }
}

#[derive(Deserialize)]
struct TokensQuery {
    lang: Option<String>,
}

async fn tokens_page(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    Query(query): Query<TokensQuery>,
) -> Response {
    let (language, chosen) = language(&headers, &LangQuery { lang: query.lang });
    let session = match admin_session(&server, &headers, language) {
        Ok(session) => session,
        Err(response) => return response,
    };
    render_tokens(&server, language, &session, String::new(), chosen)
}

fn render_tokens(
    server: &Arc<Server>,
    language: Language,
    session: &Session,
    new_token: String,
    chosen: Option<Language>,
) -> Response {
    let registry = lock(&server.registry);
    let listed = registry
        .enrolment_tokens()
        .and_then(|tokens| Ok((tokens, registry.rooms()?)));
    let (tokens, rooms) = match listed {
        Ok(listed) => listed,
        Err(error) => return failed(language, Some(session), &error),
    };
    page(
        StatusCode::OK,
        &TokensPage {
            f: frame(language, "tokens", Some(session)),
            rooms: rooms.iter().map(ToString::to_string).collect(),
            tokens: tokens
                .into_iter()
                .map(|t| TokenRow {
                    id: t.id,
                    label: t.label,
                    room: t.room.map(|r| r.to_string()).unwrap_or_default(),
                    teacher: t.teacher,
                    uses_left: t.uses_left,
                    expires: rfc3339(t.expires),
                    created_by: t.created_by,
                })
                .collect(),
            new_token,
        },
        chosen,
    )
}

async fn create_token(
    State(server): State<Arc<Server>>,
    AdminForm {
        language,
        form,
        session,
        by,
    }: AdminForm,
) -> Response {
    let created = (|| -> Result<String, RegistryError> {
        let number = |field: &str| {
            form.get(field).trim().parse::<u32>().map_err(|_| {
                RegistryError::Token(format!(
                    "'{field}' must be a whole number, not '{}'",
                    form.get(field).escape_debug()
                ))
            })
        };
        let room = match form.get("room").trim() {
            "" => None,
            room => Some(
                room.parse::<RoomName>()
                    .map_err(|e| RegistryError::BadName(e.to_string()))?,
            ),
        };
        let (text, _) = lock(&server.registry).create_enrolment_token(
            form.get("label"),
            room.as_ref(),
            form.get("teacher") == "on",
            number("uses")?,
            Duration::from_secs(u64::from(number("hours")?) * 3600),
            &by,
        )?;
        Ok(text.to_string())
    })();
    match created {
        Ok(text) => render_tokens(&server, language, &session, text, None),
        Err(error) => failed(language, Some(&session), &error),
    }
}

async fn delete_token(
    State(server): State<Arc<Server>>,
    Path(id): Path<i64>,
    AdminForm {
        language,
        form: _,
        session,
        by,
    }: AdminForm,
) -> Response {
    match lock(&server.registry).delete_enrolment_token(id, &by) {
        Ok(()) => Redirect::to("/admin/tokens").into_response(),
        Err(error) => failed(language, Some(&session), &error),
    }
}

async fn import_page(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    Query(query): Query<LangQuery>,
) -> Response {
    let (language, chosen, session) = match admin_page(&server, &headers, query.lang) {
        Ok(page) => page,
        Err(response) => return response,
    };
    page(
        StatusCode::OK,
        &ImportPage {
            f: frame(language, "import", Some(&session)),
            previewed: false,
            changes: vec![],
            source: String::new(),
            expected: String::new(),
            text: String::new(),
        },
        chosen,
    )
}

/// The uploaded file shown as the changes it would make; nothing is written.
async fn import_preview(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    mut multipart: axum::extract::Multipart,
) -> Response {
    let (language, _) = language(&headers, &LangQuery::default());
    let session = match admin_session(&server, &headers, language) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let mut csrf = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => {
                return failed(
                    language,
                    Some(&session),
                    &RegistryError::BadName(format!("the upload could not be read: {error}")),
                );
            }
        };
        match field.name() {
            Some("csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("file") => {
                let name = field.file_name().unwrap_or("devices.csv").to_owned();
                match field.bytes().await {
                    Ok(bytes) if bytes.len() <= MAX_IMPORT => file = Some((name, bytes.to_vec())),
                    _ => {
                        return failed(
                            language,
                            Some(&session),
                            &RegistryError::BadName(format!(
                                "the file could not be read, or it is larger than {} MB",
                                MAX_IMPORT / 1024 / 1024
                            )),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    let form = Form(vec![("csrf".to_owned(), csrf)]);
    if !csrf_ok(&session, &form, &headers) {
        return csrf_refused(language, Some(&session));
    }
    let Some((source, bytes)) = file else {
        return failed(
            language,
            Some(&session),
            &RegistryError::BadName("no file was sent".into()),
        );
    };
    let source = file_label(&source);
    let text = crate::devices_csv::decode(&bytes);
    show_import(
        &server,
        language,
        &session,
        source,
        text,
        StatusCode::OK,
        "",
    )
}

/// A file's name as the browser sent it, fit to show and log: no control
/// characters, at most 100 of the rest.
fn file_label(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(100).collect()
}

/// The preview of `text`, or the import page with the file's fault.
fn show_import(
    server: &Arc<Server>,
    language: Language,
    session: &Session,
    source: String,
    text: String,
    status: StatusCode,
    problem: &str,
) -> Response {
    let mut f = frame(language, "import", Some(session));
    f.problem = problem.to_owned();
    let previewed = crate::devices_csv::read_device_file(text.as_bytes(), &source)
        .map_err(|e| e.to_string())
        .and_then(|list| {
            lock(&server.registry)
                .preview_import(&list)
                .map_err(|e| e.to_string())
        });
    let changes = match previewed {
        Ok(changes) => changes,
        Err(problem) => {
            f.problem = problem;
            let empty = ImportPage {
                f,
                previewed: false,
                changes: vec![],
                source: String::new(),
                expected: String::new(),
                text: String::new(),
            };
            return page(StatusCode::BAD_REQUEST, &empty, None);
        }
    };
    let expected = change_digest(&changes);
    page(
        status,
        &ImportPage {
            f,
            previewed: true,
            changes,
            source,
            expected,
            text,
        },
        None,
    )
}

/// What a preview showed, in a few characters: apply goes ahead only if the
/// same file would still make the same changes.
fn change_digest(changes: &[crate::ImportChange]) -> String {
    secret::hash(&format!("{changes:?}"))
}

/// Applies a previewed import, if it would still make the changes shown.
async fn import_apply(
    State(server): State<Arc<Server>>,
    AdminForm {
        language,
        form,
        session,
        by,
    }: AdminForm,
) -> Response {
    let source = file_label(form.get("source"));
    let text = form.get("text").to_owned();
    let outcome = (|| -> Result<bool, String> {
        let list = crate::devices_csv::read_device_file(text.as_bytes(), &source)
            .map_err(|e| e.to_string())?;
        let mut registry = lock(&server.registry);
        let changes = registry.preview_import(&list).map_err(|e| e.to_string())?;
        if !secret::equal(&change_digest(&changes), form.get("expected")) {
            return Ok(false);
        }
        registry
            .import_list(&list, &source, &by)
            .map_err(|e| e.to_string())?;
        Ok(true)
    })();
    match outcome {
        Ok(true) => Redirect::to("/admin/devices?done=1").into_response(),
        Ok(false) => show_import(
            &server,
            language,
            &session,
            source,
            text,
            StatusCode::CONFLICT,
            language.texts().changed_meanwhile,
        ),
        Err(problem) => failed(language, Some(&session), &RegistryError::BadName(problem)),
    }
}

async fn users_page(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    Query(query): Query<LangQuery>,
) -> Response {
    let (language, chosen, session) = match admin_page(&server, &headers, query.lang) {
        Ok(page) => page,
        Err(response) => return response,
    };
    match users(&server, language, &session) {
        Ok(users) => page(StatusCode::OK, &users, chosen),
        Err(error) => failed(language, Some(&session), &error),
    }
}

fn users(
    server: &Arc<Server>,
    language: Language,
    session: &Session,
) -> Result<UsersPage, RegistryError> {
    let registry = lock(&server.registry);
    let organisation = registry.organisation()?;
    let rooms = registry.rooms()?;
    let mut teacher_pcs = Vec::new();
    for device in registry.devices(None)?.into_iter().filter(|d| d.teacher) {
        let allowed = registry.teacher_rooms(&device)?;
        teacher_pcs.push(TeacherPcRow {
            name: device.fields.name.to_string(),
            room: device.fields.room.to_string(),
            choices: rooms
                .iter()
                .filter(|r| **r != device.fields.room)
                .map(|r| (r.to_string(), allowed.contains(r)))
                .collect(),
        });
    }
    Ok(UsersPage {
        f: frame(language, "users", Some(session)),
        authorised: organisation.authorized_group.unwrap_or_default(),
        admins: organisation.admin_group.unwrap_or_default(),
        users: registry
            .users()?
            .into_iter()
            .map(|u| UserRow {
                name: u.name,
                groups: u.groups.join(", "),
                local_password: u.local_password,
                purge: u
                    .deleted
                    .map(|d| {
                        rfc3339(d + crate::DELETED_USER_KEPT)
                            .chars()
                            .take(10)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect(),
        teacher_pcs,
    })
}

/// Deletes a user: locked now, purged with the devices they own in 90 days (R13, R18).
async fn delete_user(
    State(server): State<Arc<Server>>,
    AdminForm {
        language,
        form,
        session,
        by,
    }: AdminForm,
) -> Response {
    // An admin does not lock themselves out by a slip of the hand.
    if form.get("user").trim() == session.user {
        return failed(
            language,
            Some(&session),
            &RegistryError::BadName("you cannot delete the account you are signed in with".into()),
        );
    }
    let deleted = lock(&server.registry).delete_user(form.get("user"), &by);
    done(deleted, "/admin/users", language, &session)
}

/// Takes back a deletion before the user is purged.
async fn restore_user(
    State(server): State<Arc<Server>>,
    AdminForm {
        language,
        form,
        session,
        by,
    }: AdminForm,
) -> Response {
    let restored = lock(&server.registry).restore_user(form.get("user"), &by);
    done(restored, "/admin/users", language, &session)
}

async fn add_user(
    State(server): State<Arc<Server>>,
    AdminForm {
        language,
        form,
        session,
        by,
    }: AdminForm,
) -> Response {
    let user = form.get("user").trim().to_owned();
    let groups: Vec<String> = form
        .get("groups")
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect();
    let password = Some(form.get("password")).filter(|p| !p.is_empty());
    if password.is_some_and(|p| p.len() > 1024) {
        return failed(
            language,
            Some(&session),
            &RegistryError::BadName("the password is too long".into()),
        );
    }
    let outcome = (|| -> Result<(), RegistryError> {
        if groups.is_empty() {
            return Err(RegistryError::BadName(
                "a user needs at least one group".into(),
            ));
        }
        Ok(())
    })();
    if let Err(error) = outcome {
        return failed(language, Some(&session), &error);
    }
    // Hashed once, off the registry's lock: a refused password adds nobody.
    let hash = match password.map(str::to_owned) {
        None => None,
        Some(password) => {
            match tokio::task::spawn_blocking(move || crate::password::hash(&password)).await {
                Ok(Ok(hash)) => Some(hash),
                Ok(Err(error)) => return failed(language, Some(&session), &error.into()),
                Err(error) => {
                    return failed(
                        language,
                        Some(&session),
                        &RegistryError::BadName(error.to_string()),
                    );
                }
            }
        }
    };
    let added = lock(&server.registry).add_user(&user, &groups, hash.as_deref(), &by);
    done(added.map(|_| ()), "/admin/users", language, &session)
}

async fn set_authorised_group(
    State(server): State<Arc<Server>>,
    AdminForm {
        language,
        form,
        session,
        by,
    }: AdminForm,
) -> Response {
    let group = form.get("group").trim().to_owned();
    let outcome = lock(&server.registry).authorize_group(&group, &by);
    done(outcome.map(|_| ()), "/admin/users", language, &session)
}

async fn set_teacher_pc(
    State(server): State<Arc<Server>>,
    AdminForm {
        language,
        form,
        session,
        by,
    }: AdminForm,
) -> Response {
    let outcome = (|| -> Result<(), RegistryError> {
        let device: DeviceName = form
            .get("device")
            .parse()
            .map_err(|_| RegistryError::UnknownDevice(form.get("device").to_owned()))?;
        let rooms = form
            .all("also")
            .map(|r| {
                r.parse::<RoomName>()
                    .map_err(|e| RegistryError::BadName(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut registry = lock(&server.registry);
        // Only a teacher PC's rooms are set here; a student PC stays one.
        if !registry
            .devices(None)?
            .iter()
            .any(|d| d.fields.name == device && d.teacher)
        {
            return Err(RegistryError::NotTeacherDevice);
        }
        registry.set_teacher_device(&device, true, &rooms, &by)
    })();
    done(outcome, "/admin/users", language, &session)
}

/// Every device as CSV, in the format import reads.
async fn export(State(server): State<Arc<Server>>, headers: HeaderMap) -> Response {
    let (language, _) = language(&headers, &LangQuery::default());
    let session = match admin_session(&server, &headers, language) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let devices = match lock(&server.registry).devices(None) {
        Ok(devices) => devices,
        Err(error) => return failed(language, Some(&session), &error),
    };
    let mut csv = Vec::new();
    if let Err(error) = crate::devices_csv::write_devices(&mut csv, &devices) {
        return failed(
            language,
            Some(&session),
            &RegistryError::BadName(error.to_string()),
        );
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"devices.csv\"",
            ),
        ],
        csv,
    )
        .into_response()
}

#[derive(Deserialize)]
struct LogQuery {
    kind: Option<String>,
    outcome: Option<String>,
    text: Option<String>,
    lang: Option<String>,
}

/// The school's record of processing (Art. 30 GDPR), from the live configuration.
async fn privacy_page(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    Query(query): Query<LangQuery>,
) -> Response {
    let (language, chosen, session) = match admin_page(&server, &headers, query.lang) {
        Ok(page) => page,
        Err(response) => return response,
    };
    let report_language = match language {
        Language::German => crate::privacy::ReportLanguage::German,
        Language::English => crate::privacy::ReportLanguage::English,
    };
    let report = crate::privacy::report(&lock(&server.registry), report_language);
    match report {
        Ok(report) => page(
            StatusCode::OK,
            &PrivacyPage {
                f: frame(language, "privacy", Some(&session)),
                // Escaped by the renderer: the record holds names admins typed.
                report: crate::privacy::to_html(&report),
            },
            chosen,
        ),
        Err(error) => failed(language, Some(&session), &error),
    }
}

async fn log_page(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    Query(query): Query<LogQuery>,
) -> Response {
    let (language, chosen, session) = match admin_page(&server, &headers, query.lang.clone()) {
        Ok(page) => page,
        Err(response) => return response,
    };
    let kind = EventKind::ALL
        .into_iter()
        .find(|k| Some(k.as_str()) == query.kind.as_deref());
    let outcome = [Outcome::Ok, Outcome::Refused]
        .into_iter()
        .find(|o| Some(o.as_str()) == query.outcome.as_deref());
    let text = query
        .text
        .unwrap_or_default()
        .chars()
        .take(100)
        .collect::<String>();
    let events = lock(&server.registry).events(&EventFilter {
        kind,
        outcome,
        text: Some(text.clone()).filter(|t| !t.is_empty()),
        limit: 500,
    });
    let events = match events {
        Ok(events) => events,
        Err(error) => return failed(language, Some(&session), &error),
    };
    page(
        StatusCode::OK,
        &LogPage {
            f: frame(language, "log", Some(&session)),
            kinds: EventKind::ALL
                .iter()
                .map(|k| k.as_str().to_owned())
                .collect(),
            selected_kind: kind.map(|k| k.as_str().to_owned()).unwrap_or_default(),
            selected_outcome: outcome.map(|o| o.as_str().to_owned()).unwrap_or_default(),
            text,
            events: events
                .into_iter()
                .map(|e| EventRow {
                    time: rfc3339(e.time),
                    kind: e.kind.as_str(),
                    outcome: e.outcome.as_str(),
                    actor: e.actor.unwrap_or_default(),
                    source: e.source.unwrap_or_default(),
                    subject: e.subject.unwrap_or_default(),
                    room: e.room.unwrap_or_default(),
                    detail: e.detail,
                })
                .collect(),
        },
        chosen,
    )
}

/// The language, the language to remember, and the admin of a page request,
/// or the response to give instead.
#[allow(clippy::result_large_err)]
fn admin_page(
    server: &Arc<Server>,
    headers: &HeaderMap,
    lang: Option<String>,
) -> Result<(Language, Option<Language>, Session), Response> {
    let (language, chosen) = language(headers, &LangQuery { lang });
    let session = admin_session(server, headers, language)?;
    Ok((language, chosen, session))
}

/// A form an admin sent to change something, its CSRF token checked; any
/// other request gets the sign-in page or a refusal instead.
struct AdminForm {
    language: Language,
    form: Form,
    session: Session,
    /// The admin, from the client's address, for the log.
    by: Actor,
}

impl axum::extract::FromRequest<Arc<Server>> for AdminForm {
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        server: &Arc<Server>,
    ) -> Result<Self, Response> {
        let headers = request.headers().clone();
        // Every connection's requests carry their peer (see `Bound::serve`).
        let peer = request
            .extensions()
            .get::<Peer>()
            .copied()
            .ok_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
        let (language, _) = language(&headers, &LangQuery::default());
        // Bytes keeps to the route's body limit (an import is larger than a form).
        let body = Bytes::from_request(request, server)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = Form::parse(&body);
        let by = |session: &Session| peer.actor(session.user.clone());
        let session = admin_change(server, &headers, &form, language, &peer)?;
        let by = by(&session);
        Ok(Self {
            language,
            form,
            session,
            by,
        })
    }
}

/// The signed-in admin of a page request, or the response to give instead:
/// the sign-in page for nobody, a refusal for someone who is not an admin.
#[allow(clippy::result_large_err)]
fn admin_session(
    server: &Arc<Server>,
    headers: &HeaderMap,
    language: Language,
) -> Result<Session, Response> {
    let Some((_, session)) = web_session(server, headers) else {
        return Err(Redirect::to("/sign-in").into_response());
    };
    let registry = lock(&server.registry);
    match registry
        .identity(&session)
        .and_then(|i| registry.is_admin(&i))
    {
        Ok(true) => Ok(session),
        Ok(false) => {
            let f = frame(language, "", Some(&session));
            let heading = f.t.not_admin.to_owned();
            Err(page(
                StatusCode::FORBIDDEN,
                &MessagePage { f, heading },
                None,
            ))
        }
        Err(error) => Err(failed(language, Some(&session), &error)),
    }
}

/// Like [`admin_session`], for a form that changes something: its CSRF token must match.
#[allow(clippy::result_large_err)]
fn admin_change(
    server: &Arc<Server>,
    headers: &HeaderMap,
    form: &Form,
    language: Language,
    peer: &Peer,
) -> Result<Session, Response> {
    let session = admin_session(server, headers, language)?;
    if csrf_ok(&session, form, headers) {
        Ok(session)
    } else {
        let _ = lock(&server.registry).log(
            EventKind::Change,
            &peer.actor(session.user.clone()),
            None,
            None,
            Outcome::Refused,
            "a form without this session's CSRF token (another site's request?)",
        );
        Err(csrf_refused(language, Some(&session)))
    }
}

fn csrf_ok(session: &Session, form: &Form, headers: &HeaderMap) -> bool {
    let expected = session.csrf.as_deref().unwrap_or_default();
    !expected.is_empty() && secret::equal(expected, form.get("csrf")) && same_origin(headers)
}

/// False when the browser says the request comes from another site.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    origin.strip_prefix("https://") == Some(host)
}

fn csrf_refused(language: Language, session: Option<&Session>) -> Response {
    let f = frame(language, "", session);
    let heading = f.t.csrf_refused.to_owned();
    page(StatusCode::FORBIDDEN, &MessagePage { f, heading }, None)
}

fn failed(language: Language, session: Option<&Session>, error: &RegistryError) -> Response {
    let status = match error {
        RegistryError::Store(_) | RegistryError::Pki(_) | RegistryError::Write(_) => {
            tracing::error!("{error}");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        RegistryError::UnknownDevice(_) | RegistryError::UnknownRoom { .. } => {
            StatusCode::NOT_FOUND
        }
        _ => StatusCode::BAD_REQUEST,
    };
    let mut f = frame(language, "", session);
    f.problem = error.to_string();
    let heading = f.t.error.to_owned();
    page(status, &MessagePage { f, heading }, None)
}

/// The web session of this request's cookie, with its secret.
fn web_session(server: &Arc<Server>, headers: &HeaderMap) -> Option<(String, Session)> {
    let secret = cookie(headers, SESSION_COOKIE)?;
    if secret.len() > 128 {
        return None;
    }
    let session = lock(&server.registry)
        .session(secret, SessionKind::Web)
        .ok()
        .flatten()?;
    Some((secret.to_owned(), session))
}

/// The value of cookie `name`.
pub(super) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Sets a cookie for this host only, over HTTPS only; `http_only` hides it from scripts.
fn set_cookie(response: &mut Response, name: &str, value: &str, max_age: u64, http_only: bool) {
    let mut text = format!("{name}={value}; Path=/; Secure; SameSite=Strict; Max-Age={max_age}");
    if http_only {
        text.push_str("; HttpOnly");
    }
    if let Ok(value) = HeaderValue::from_str(&text) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Sets a cookie hidden from scripts for this host only, over HTTPS only, with `same_site`.
pub(super) fn set_cookie_with(
    response: &mut Response,
    name: &str,
    value: &str,
    max_age: u64,
    same_site: &str,
) {
    let text = format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite={same_site}; Max-Age={max_age}"
    );
    if let Ok(value) = HeaderValue::from_str(&text) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A page that says what went wrong, in words.
pub(super) fn problem_page(language: Language, status: StatusCode, problem: &str) -> Response {
    let mut f = frame(language, "", None);
    f.problem = problem.to_owned();
    let heading = f.t.error.to_owned();
    page(status, &MessagePage { f, heading }, None)
}

/// A form body: every field, in order, repeated names kept.
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, or "".
    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value)
    }

    /// Every value of `name`.
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}
