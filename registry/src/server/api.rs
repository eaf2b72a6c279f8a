//! The JSON API: enrolment, sign-in and tokens, a teacher PC's room
//! certificate, and the admin's calls. Errors are JSON with a stable `code`
//! and a `message` in words; the UI words the code, never the message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use pult_protocol::pki::{CertificateRequest, PkiError};
use pult_protocol::registry_api::{
    CaBody, EnrolRequest, Enrolment, ErrorBody, NewToken, NewTokenRequest, RefreshRequest,
    RoomCertificateBody, RoomCertificateRequest, Rooms, SignInRequest, SteerableRequest, Tokens,
};
use serde::Deserialize;

use super::{Peer, Server};
use crate::model::{DeviceName, DeviceRecord, RoomName};
use crate::store::{EnrolmentToken, Event, EventFilter, EventKind, Outcome, Session, SessionKind};
use crate::{Actor, Identity, RegistryError};
use pult_protocol::registry_api::EnrolmentTokenText;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
/// How long an access token is valid.
pub const ACCESS_VALIDITY: Duration = Duration::from_secs(15 * 60);
/// How long a refresh token is valid: a school day, then the teacher signs in again.
pub const REFRESH_VALIDITY: Duration = Duration::from_secs(12 * 3600);
/// The longest text field the API reads (a certificate request is about 500 bytes).
const MAX_FIELD: usize = 16 * 1024;

/// The API's routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/api/v1/ca", get(ca))
        .route("/api/v1/enrol", post(enrol))
        .route("/api/v1/sign-in", post(sign_in))
        .route("/api/v1/token", post(refresh))
        .route("/api/v1/sign-out", post(sign_out))
        .route("/api/v1/rooms", get(rooms))
        .route("/api/v1/room-certificate", post(room_certificate))
        .route("/api/v1/devices", get(devices))
        .route("/api/v1/devices/{name}/steerable", put(set_steerable))
        .route("/api/v1/enrolment-tokens", get(tokens).post(create_token))
        .route(
            "/api/v1/enrolment-tokens/{id}",
            axum::routing::delete(delete_token),
        )
        .route("/api/v1/events", get(events))
        .route(OPENAPI_PATH, get(openapi))
}

/// The answer for a path that does not exist.
pub(super) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such page")
}

/// An API error: a status, a stable code, and what was wrong in words.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The error's stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }

    fn sign_in_required() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "sign-in-required",
            "this call needs a valid access token (Authorization: Bearer …); sign in again",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorBody {
                code: self.code.to_owned(),
                message: self.message,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        let (status, code) = match &error {
            RegistryError::NoAuthorisedGroup => (StatusCode::FORBIDDEN, "no-authorised-group"),
            RegistryError::NotAuthorised { .. } => (StatusCode::FORBIDDEN, "not-authorised"),
            RegistryError::UnknownUser(_) => (StatusCode::NOT_FOUND, "unknown-user"),
            RegistryError::UnknownRoom { .. } => (StatusCode::NOT_FOUND, "unknown-room"),
            RegistryError::UnknownDevice(_) => (StatusCode::NOT_FOUND, "unknown-device"),
            RegistryError::BadName(_) => (StatusCode::BAD_REQUEST, "bad-name"),
            RegistryError::Password(_) => (StatusCode::BAD_REQUEST, "bad-password"),
            RegistryError::SignInRefused => (StatusCode::UNAUTHORIZED, "sign-in-refused"),
            RegistryError::Token(_) => (StatusCode::FORBIDDEN, "token-refused"),
            RegistryError::NotTeacherDevice => (StatusCode::FORBIDDEN, "not-teacher-device"),
            RegistryError::RoomNotAllowed { .. } => (StatusCode::FORBIDDEN, "room-not-allowed"),
            RegistryError::SignInSettings(_) => (StatusCode::BAD_REQUEST, "bad-settings"),
            RegistryError::NameTaken(_) => (StatusCode::FORBIDDEN, "name-taken"),
            RegistryError::UserLocked(_) => (StatusCode::FORBIDDEN, "user-locked"),
            RegistryError::IdentityProvider(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "identity-provider-unavailable",
            ),
            RegistryError::Pki(PkiError::BadRequest(_)) => {
                (StatusCode::BAD_REQUEST, "bad-certificate-request")
            }
            RegistryError::Pki(_) | RegistryError::Store(_) | RegistryError::Write(_) => {
                tracing::error!("{error}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        Self::new(status, code, error.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            format!(
                "the request body is not what this call takes: {}",
                rejection.body_text()
            ),
        )
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

async fn ca(State(server): State<Arc<Server>>) -> ApiResult<CaBody> {
    let registry = lock(&server.registry);
    Ok(Json(CaBody {
        ca_pem: registry.organisation()?.ca_certificate_pem,
        fingerprint: registry.ca_fingerprint()?.to_string(),
    }))
}

async fn enrol(
    State(server): State<Arc<Server>>,
    Extension(peer): Extension<Peer>,
    body: Result<Json<EnrolRequest>, JsonRejection>,
) -> ApiResult<Enrolment> {
    let Json(body) = body?;
    let token: EnrolmentTokenText = body
        .token
        .parse()
        .map_err(|e: String| ApiError::new(StatusCode::BAD_REQUEST, "bad-token", e))?;
    let name: DeviceName = body.name.parse().map_err(|e: crate::model::NameError| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-name", e.to_string())
    })?;
    let request = certificate_request(&body.request_pem)?;
    let by = peer.actor(name.to_string());
    // Guessing tokens from one address is slowed as guessing passwords is.
    let key = format!("enrol:{}", by.source);
    hold_back(&server, &[&key], "enrolments")?;
    let enrolled = lock(&server.registry).enroll(&token, &name, &request, &by)?;
    lock(&server.throttle).forgive(&key);
    Ok(Json(Enrolment {
        manifest: enrolled.manifest,
        ca_pem: enrolled.ca_pem,
        certificate_pem: enrolled.certificate.certificate_pem,
        teacher: enrolled.teacher,
    }))
}

async fn sign_in(
    State(server): State<Arc<Server>>,
    Extension(peer): Extension<Peer>,
    body: Result<Json<SignInRequest>, JsonRejection>,
) -> ApiResult<Tokens> {
    let Json(body) = body?;
    if body.user.len() > 256 || body.password.len() > 1024 {
        return Err(ApiError::bad_request(
            "the user name or the password is too long",
        ));
    }
    let user = body.user.trim().to_owned();
    let by = peer.actor(user.clone());
    let identity = check_password(&server, &user, body.password, &by).await?;
    let mut registry = lock(&server.registry);
    let device = teacher_pc(&registry, &peer).ok().map(|d| d.uuid);
    issue_tokens(&mut registry, &identity, device, None).map(Json)
}

/// Checks a password, slowed per account and per source after failures
/// (R16), and logs the attempt: against the registry's own account if it
/// keeps a password for the user, otherwise against the school's directory
/// if one is set (search, then bind), otherwise it fails as a wrong password does.
///
/// An attempt counts as failed from its start and is forgiven if it
/// succeeds, so guesses sent side by side meet the wait as guesses one after
/// another do. Attempts refused by the wait are not checked and not logged
/// (the failures that led to it are); a flood of them writes nothing. At
/// most [`super::PARALLEL_HASHES`] passwords are hashed at once, each taking
/// Argon2's memory.
pub(super) async fn check_password(
    server: &Arc<Server>,
    user: &str,
    password: String,
    by: &Actor,
) -> Result<Identity, ApiError> {
    let [account_key, source_key] = [
        format!("user:{}", user.to_lowercase()),
        format!("source:{}", by.source),
    ];
    hold_back(server, &[&account_key, &source_key], "sign-ins")?;
    let (account, directory) = {
        let registry = lock(&server.registry);
        let account = registry.local_account(user)?;
        let directory = match account.has_password() {
            true => None,
            false => registry.ldap_settings()?,
        };
        (account, directory)
    };
    let (checked, how) = match directory {
        Some(directory) => {
            let checked = match directory.sign_in(user, &password).await {
                Ok(identity) => lock(&server.registry).directory_identity(identity),
                Err(crate::ldap::LdapError::Refused) => Err(RegistryError::SignInRefused),
                Err(other) => Err(RegistryError::IdentityProvider(other.to_string())),
            };
            (checked, format!("through the directory {}", directory.url))
        }
        None => {
            let _permit = server.hashing.acquire().await.map_err(|e| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            })?;
            let checked = tokio::task::spawn_blocking(move || account.check(&password))
                .await
                .map_err(|e| {
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
                })?;
            (checked, "with a local password".to_owned())
        }
    };
    let (outcome, detail) = match &checked {
        Ok(identity) => {
            let mut throttle = lock(&server.throttle);
            throttle.succeeded(&account_key);
            throttle.forgive(&source_key);
            (
                Outcome::Ok,
                format!("signed in {how}; groups: {}", identity.groups.join(", ")),
            )
        }
        Err(error) => (Outcome::Refused, format!("{error} ({how})")),
    };
    // The directory's name for the user, if it gave one, is the name logged.
    let subject = checked.as_ref().map_or(user, |i| i.user.as_str());
    lock(&server.registry).log(EventKind::SignIn, by, Some(subject), None, outcome, &detail)?;
    Ok(checked?)
}

/// Refuses the attempt if one of `keys` must still wait after earlier
/// failures; otherwise counts it as failed until it is forgiven.
pub(super) fn hold_back(
    server: &Arc<Server>,
    keys: &[&String],
    what: &str,
) -> Result<(), ApiError> {
    let now = Instant::now();
    let mut throttle = lock(&server.throttle);
    if let Some(wait) = keys.iter().filter_map(|k| throttle.wait(k, now)).max() {
        let seconds = wait.as_secs().max(1);
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-attempts",
            format!("too many failed {what}; try again in {seconds} s"),
        );
        error.retry_after = Some(seconds);
        return Err(error);
    }
    for key in keys {
        throttle.failed((*key).clone(), now);
    }
    Ok(())
}

/// An access token and a refresh token for `identity`; the refresh token ends
/// at `refresh_ends` (a refresh keeps the first sign-in's end) or a school day from now.
pub(super) fn issue_tokens(
    registry: &mut crate::Registry<crate::store::SqliteStore>,
    identity: &Identity,
    device: Option<pult_protocol::DeviceId>,
    refresh_ends: Option<time::OffsetDateTime>,
) -> Result<Tokens, ApiError> {
    let (access, _) =
        registry.open_session(SessionKind::Access, identity, device, ACCESS_VALIDITY)?;
    let refresh_for = match refresh_ends {
        Some(ends) => {
            let left = ends - registry.now();
            Duration::try_from(left)
                .unwrap_or(Duration::ZERO)
                .min(REFRESH_VALIDITY)
        }
        None => REFRESH_VALIDITY,
    };
    let (refresh, _) =
        registry.open_session(SessionKind::Refresh, identity, device, refresh_for)?;
    Ok(Tokens {
        access_token: access,
        expires_in: ACCESS_VALIDITY.as_secs(),
        refresh_token: refresh,
        user: identity.user.clone(),
        admin: registry.is_admin(identity)?,
    })
}

async fn refresh(
    State(server): State<Arc<Server>>,
    Extension(peer): Extension<Peer>,
    body: Result<Json<RefreshRequest>, JsonRejection>,
) -> ApiResult<Tokens> {
    let Json(body) = body?;
    let mut registry = lock(&server.registry);
    let session = registry
        .session(&body.refresh_token, SessionKind::Refresh)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "sign-in-required",
                "the refresh token is not valid (used, expired or unknown); sign in again",
            )
        })?;
    // A token made for a teacher PC works only from that PC.
    if let Some(device) = session.device
        && teacher_pc(&registry, &peer).map(|d| d.uuid).ok() != Some(device)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong-device",
            "this token belongs to another computer",
        ));
    }
    // Each refresh token is used once.
    registry.close_session(&body.refresh_token)?;
    let identity = registry.identity(&session)?;
    issue_tokens(
        &mut registry,
        &identity,
        session.device,
        Some(session.expires),
    )
    .map(Json)
}

async fn sign_out(
    State(server): State<Arc<Server>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    body: Result<Option<Json<RefreshRequest>>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let body = body?;
    let mut registry = lock(&server.registry);
    let session = caller(&registry, &headers)?;
    if let Some(token) = bearer(&headers) {
        registry.close_session(token)?;
    }
    if let Some(Json(body)) = body {
        registry.close_session(&body.refresh_token)?;
    }
    registry.log(
        EventKind::SignOut,
        &actor(&session, &peer),
        Some(&session.user),
        None,
        Outcome::Ok,
        "signed out",
    )?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rooms(
    State(server): State<Arc<Server>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> ApiResult<Rooms> {
    let registry = lock(&server.registry);
    let session = caller(&registry, &headers)?;
    let device = session_pc(&registry, &peer, &session)?;
    Ok(Json(Rooms {
        rooms: registry
            .teacher_rooms(&device)?
            .iter()
            .map(ToString::to_string)
            .collect(),
        device: device.fields.name.to_string(),
    }))
}

async fn room_certificate(
    State(server): State<Arc<Server>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    body: Result<Json<RoomCertificateRequest>, JsonRejection>,
) -> ApiResult<RoomCertificateBody> {
    let Json(body) = body?;
    let room = body
        .room
        .map(|r| r.parse::<RoomName>())
        .transpose()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad-name", e.to_string()))?;
    let request = certificate_request(&body.request_pem)?;
    let mut registry = lock(&server.registry);
    let session = caller(&registry, &headers)?;
    let device = session_pc(&registry, &peer, &session)?;
    let by = actor(&session, &peer);
    let identity = registry.identity(&session)?;
    let issued = registry.certify_room(
        &identity,
        &device,
        room.as_ref(),
        &request,
        server.room_validity,
        &by,
    )?;
    Ok(Json(RoomCertificateBody {
        manifest: issued.manifest,
        ca_pem: issued.ca_pem,
        certificate_pem: issued.certificate.certificate_pem,
    }))
}

async fn devices(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
) -> ApiResult<Vec<DeviceRecord>> {
    let registry = lock(&server.registry);
    admin(&registry, &headers)?;
    Ok(Json(registry.devices(None)?))
}

async fn set_steerable(
    State(server): State<Arc<Server>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<SteerableRequest>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(name) = name.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let Json(body) = body?;
    let mut registry = lock(&server.registry);
    let session = admin(&registry, &headers)?;
    let name: DeviceName = name.parse().map_err(|e: crate::model::NameError| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown-device", e.to_string())
    })?;
    registry.set_steerable(&name, body.steerable, &actor(&session, &peer))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tokens(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
) -> ApiResult<Vec<EnrolmentToken>> {
    let registry = lock(&server.registry);
    admin(&registry, &headers)?;
    Ok(Json(registry.enrolment_tokens()?))
}

async fn create_token(
    State(server): State<Arc<Server>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    body: Result<Json<NewTokenRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    let Json(body) = body?;
    let room = body
        .room
        .filter(|r| !r.trim().is_empty())
        .map(|r| r.parse::<RoomName>())
        .transpose()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad-name", e.to_string()))?;
    let mut registry = lock(&server.registry);
    let session = admin(&registry, &headers)?;
    let (text, token) = registry.create_enrolment_token(
        &body.label,
        room.as_ref(),
        body.teacher,
        body.uses,
        Duration::from_secs(u64::from(body.hours) * 3600),
        &actor(&session, &peer),
    )?;
    Ok((
        StatusCode::CREATED,
        Json(NewToken {
            token: text.to_string(),
            id: token.id,
        }),
    ))
}

async fn delete_token(
    State(server): State<Arc<Server>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    id: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id.map_err(|e| {
        ApiError::bad_request(format!(
            "a token's number is a whole number: {}",
            e.body_text()
        ))
    })?;
    let mut registry = lock(&server.registry);
    let session = admin(&registry, &headers)?;
    match registry.delete_enrolment_token(id, &actor(&session, &peer)) {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(RegistryError::Token(message)) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-token",
            message,
        )),
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    kind: Option<EventKind>,
    outcome: Option<Outcome>,
    text: Option<String>,
    limit: Option<usize>,
}

async fn events(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    query: Result<Query<EventQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Vec<Event>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let registry = lock(&server.registry);
    admin(&registry, &headers)?;
    Ok(Json(
        registry.events(&EventFilter {
            kind: query.kind,
            outcome: query.outcome,
            text: query
                .text
                .map(|t| t.chars().take(100).collect::<String>())
                .filter(|t| !t.is_empty()),
            limit: query.limit.unwrap_or(200).min(1000),
        })?,
    ))
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

/// The session an API call's bearer token stands for.
fn caller(
    registry: &crate::Registry<crate::store::SqliteStore>,
    headers: &HeaderMap,
) -> Result<Session, ApiError> {
    let token = bearer(headers).ok_or_else(ApiError::sign_in_required)?;
    registry
        .session(token, SessionKind::Access)?
        .ok_or_else(ApiError::sign_in_required)
}

/// The session of an admin's API call.
fn admin(
    registry: &crate::Registry<crate::store::SqliteStore>,
    headers: &HeaderMap,
) -> Result<Session, ApiError> {
    let session = caller(registry, headers)?;
    if registry.is_admin(&registry.identity(&session)?)? {
        Ok(session)
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not-admin",
            "only admins may do this",
        ))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 128)
}

/// The teacher PC whose certificate the connection showed.
pub(super) fn teacher_pc(
    registry: &crate::Registry<crate::store::SqliteStore>,
    peer: &Peer,
) -> Result<DeviceRecord, ApiError> {
    let fingerprint = peer.certificate.ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "not-teacher-device",
            "room certificates are issued to teacher PCs only, and this connection showed no PC's certificate",
        )
    })?;
    Ok(registry.teacher_device(&fingerprint)?)
}

/// The teacher PC of this connection, which must be the one the session was opened on.
fn session_pc(
    registry: &crate::Registry<crate::store::SqliteStore>,
    peer: &Peer,
    session: &Session,
) -> Result<DeviceRecord, ApiError> {
    let device = teacher_pc(registry, peer)?;
    if session.device != Some(device.uuid) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong-device",
            "this sign-in was made on another computer; sign in on this one",
        ));
    }
    Ok(device)
}

fn actor(session: &Session, peer: &Peer) -> Actor {
    peer.actor(session.user.clone())
}

fn certificate_request(pem: &str) -> Result<CertificateRequest, ApiError> {
    if pem.len() > MAX_FIELD {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-certificate-request",
            "the certificate request is too long",
        ));
    }
    CertificateRequest::from_pem(pem).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-certificate-request",
            e.to_string(),
        )
    })
}

/// Locks a mutex; a panic while holding it leaves the data as it was, as
/// every change is one database transaction.
pub(super) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
