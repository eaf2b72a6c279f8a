//! Sign-in in a browser with the school's OpenID Connect provider, for the
//! admin's pages and for the teacher's app (R9, R16).
//!
//! The registry is the provider's only client: the admin registers one
//! redirect address (`/oidc/callback`) and one secret, and neither the app
//! nor `pultctl` ever sees the provider's tokens.
//!
//! - **Admin's pages**: `/oidc/start` sends the browser to the provider; the
//!   callback opens a web session as a password sign-in does.
//! - **The app** (RFC 8252, native apps): the app listens on a loopback
//!   address, opens the system browser at `/oidc/start` with that address, a
//!   state and a PKCE challenge of its own. After the provider's callback the
//!   registry sends the browser to the app's address with a one-time code,
//!   which only the holder of the PKCE verifier can exchange for tokens
//!   (`POST /api/v1/sign-in/code`), from the teacher PC that shows its
//!   certificate, as a password sign-in is.
//!
//! Every sign-in that reaches the callback is logged, whatever its outcome.
//! A wrong password never reaches the registry: the provider asks again.
//! Sign-ins in progress and one-time codes are kept in memory, bounded
//! and short-lived: a restart only means signing in again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use pult_protocol::registry_api::{CodeExchange, Pkce, SignInMethods, Tokens};
use serde::Deserialize;

use super::api::{ApiError, hold_back, issue_tokens, lock, teacher_pc};
use super::web::{self, LangQuery};
use super::{Peer, Server};
use crate::oidc::{OidcSettings, Provider};
use crate::secret;
use crate::store::{EventKind, Outcome};
use crate::{Actor, Identity, RegistryError};

/// The cookie that ties the provider's callback to the browser that started the sign-in.
const STATE_COOKIE: &str = "__Host-pult-oidc";
/// How long a sign-in at the provider may take.
const SIGN_IN_TIME: Duration = Duration::from_secs(5 * 60);
/// How long a provider that could not be reached is not asked again.
const FAILED_DISCOVERY_TIME: Duration = Duration::from_secs(30);
/// How long the app has to exchange its one-time code.
const CODE_TIME: Duration = Duration::from_secs(120);
/// The most sign-ins in progress (and codes waiting) at once.
const MAX_WAITING: usize = 10_000;
/// How long the provider's endpoints and keys are kept before they are read again.
const PROVIDER_TIME: Duration = Duration::from_secs(5 * 60);

/// What the browser sign-in keeps between its steps.
#[derive(Default)]
pub struct BrowserSignIns {
    pending: HashMap<String, Pending>,
    codes: HashMap<String, AppCode>,
    provider: Option<(Instant, Arc<Provider>)>,
    /// The last discovery that failed, and why: not tried again for a while,
    /// so a provider that is down does not tie up a thread per request.
    failed: Option<(Instant, String)>,
}

/// A sign-in sent to the provider, by its state.
struct Pending {
    nonce: String,
    verifier: String,
    started: Instant,
    app: Option<AppRequest>,
}

/// What the app asked for when it sent the browser.
#[derive(Clone)]
struct AppRequest {
    redirect_uri: url::Url,
    state: String,
    challenge: String,
}

/// A one-time code for the app, by its hash.
struct AppCode {
    identity: Identity,
    request: AppRequest,
    made: Instant,
}

impl BrowserSignIns {
    fn forget_old(&mut self, now: Instant) {
        self.pending
            .retain(|_, p| now.duration_since(p.started) < SIGN_IN_TIME);
        self.codes
            .retain(|_, c| now.duration_since(c.made) < CODE_TIME);
    }
}

/// The routes of the browser sign-in.
pub fn routes() -> axum::Router<Arc<Server>> {
    axum::Router::new()
        .route("/oidc/start", axum::routing::get(start))
        .route("/oidc/callback", axum::routing::get(callback))
        .route("/api/v1/sign-in/methods", axum::routing::get(methods))
        .route("/api/v1/sign-in/code", axum::routing::post(exchange))
}

async fn methods(State(server): State<Arc<Server>>) -> Result<Json<SignInMethods>, ApiError> {
    let oidc = lock(&server.registry).oidc_settings()?;
    Ok(Json(SignInMethods {
        password: true,
        browser: oidc.map(|s| s.label),
    }))
}

#[derive(Deserialize, Default)]
struct StartQuery {
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    lang: Option<String>,
}

async fn start(
    State(server): State<Arc<Server>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    query: Result<Query<StartQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(query) = query.unwrap_or_default();
    let (language, _) = web::language(
        &headers,
        &LangQuery {
            lang: query.lang.clone(),
        },
    );
    let app = match app_request(&query) {
        Ok(app) => app,
        Err(problem) => {
            return web::problem_page(language, StatusCode::BAD_REQUEST, &problem);
        }
    };
    // Starting sign-ins costs memory until they end: slowed per source as
    // failed passwords are, and forgiven when one comes back signed in.
    let source_key = start_key(&peer);
    if hold_back(&server, &[&source_key], "sign-ins in the browser").is_err() {
        return web::problem_page(
            language,
            StatusCode::TOO_MANY_REQUESTS,
            language.texts().too_many,
        );
    }
    let provider = match provider(&server).await {
        Ok(provider) => provider,
        Err(error) => {
            let _ = log(&server, &peer.anonymous(), None, &Err(error.to_string()));
            return web::problem_page(
                language,
                status_of(&error),
                &format!("{}: {error}", language.texts().provider_unavailable),
            );
        }
    };
    let state = secret::random_hex(32);
    let nonce = secret::random_hex(16);
    let pkce = Pkce::new();
    // For the app the provider asks for the password even when the browser
    // is signed in there: a link someone else on this PC made (with their
    // own loopback address) then cannot quietly sign the teacher in for them.
    let for_app = app.is_some();
    {
        let mut waiting = lock(&server.browser);
        waiting.forget_old(Instant::now());
        if waiting.pending.len() >= MAX_WAITING {
            return web::problem_page(
                language,
                StatusCode::SERVICE_UNAVAILABLE,
                language.texts().provider_busy,
            );
        }
        waiting.pending.insert(
            state.clone(),
            Pending {
                nonce: nonce.clone(),
                verifier: pkce.verifier,
                started: Instant::now(),
                app,
            },
        );
    }
    let mut response =
        Redirect::to(&provider.authorization_url(&state, &nonce, &pkce.challenge, for_app))
            .into_response();
    // Lax, not Strict: the provider's redirect back is a navigation from its site.
    web::set_cookie_with(
        &mut response,
        STATE_COOKIE,
        &state,
        SIGN_IN_TIME.as_secs(),
        "Lax",
    );
    response
}

/// The app's part of a start: its loopback address, state and PKCE challenge, if it sent them.
fn app_request(query: &StartQuery) -> Result<Option<AppRequest>, String> {
    let Some(redirect) = &query.redirect_uri else {
        return Ok(None);
    };
    let redirect_uri = url::Url::parse(redirect)
        .map_err(|e| format!("the app's redirect address '{redirect}': {e}"))?;
    // RFC 8252, 7.3 and 8.3: http to a loopback IP literal, any port.
    let loopback = match redirect_uri.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    if redirect_uri.scheme() != "http"
        || !loopback
        || redirect_uri.port().is_none()
        || redirect_uri.fragment().is_some()
        || !redirect_uri.username().is_empty()
    {
        return Err(format!(
            "the app's redirect address must be http://127.0.0.1:PORT/… or http://[::1]:PORT/…, not {redirect}"
        ));
    }
    let state = query.state.clone().unwrap_or_default();
    if state.is_empty() || state.len() > 256 || !state.chars().all(|c| c.is_ascii_graphic()) {
        return Err("the app's state must be 1 to 256 visible ASCII characters".into());
    }
    let challenge = query.code_challenge.clone().unwrap_or_default();
    if query.code_challenge_method.as_deref() != Some("S256")
        || challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(
            "the app must send a PKCE code_challenge of 43 characters with code_challenge_method S256"
                .into(),
        );
    }
    Ok(Some(AppRequest {
        redirect_uri,
        state,
        challenge,
    }))
}

#[derive(Deserialize, Default)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(server): State<Arc<Server>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(query) = query.unwrap_or_default();
    let (language, _) = web::language(&headers, &LangQuery::default());
    let texts = language.texts();
    let state = query.state.unwrap_or_default();
    let pending = if state.is_empty() || state.len() > 128 {
        None
    } else {
        let mut waiting = lock(&server.browser);
        waiting.forget_old(Instant::now());
        waiting.pending.remove(&state)
    };
    let Some(pending) = pending else {
        let _ = log(
            &server,
            &peer.anonymous(),
            None,
            &Err("the provider came back with a sign-in that is unknown or expired".into()),
        );
        return web::problem_page(language, StatusCode::BAD_REQUEST, texts.sign_in_expired);
    };
    let outcome: Result<Identity, String> = 'outcome: {
        // The browser that comes back must be the one that started (no
        // login CSRF: nobody signs a victim's browser into their account).
        if !web::cookie(&headers, STATE_COOKIE).is_some_and(|c| secret::equal(c, &state)) {
            break 'outcome Err(
                "the browser that came back from the provider is not the one that started the sign-in"
                    .into(),
            );
        }
        if let Some(error) = query.error {
            let description = query.error_description.unwrap_or_default();
            break 'outcome Err(format!(
                "the provider said: {} {}",
                cut(&error),
                cut(&description)
            ));
        }
        let Some(code) = query.code.filter(|c| !c.is_empty() && c.len() <= 2048) else {
            break 'outcome Err("the provider sent no code".into());
        };
        let provider = match provider(&server).await {
            Ok(provider) => provider,
            Err(error) => break 'outcome Err(error.to_string()),
        };
        let now = lock(&server.registry).now();
        let (verifier, nonce) = (pending.verifier.clone(), pending.nonce.clone());
        let signed_in =
            tokio::task::spawn_blocking(move || provider.sign_in(&code, &verifier, &nonce, now))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
        match signed_in {
            Ok(identity) => lock(&server.registry)
                .directory_identity(identity)
                .map_err(|e| e.to_string()),
            Err(error) => Err(error),
        }
    };
    let by = match &outcome {
        Ok(identity) => {
            lock(&server.throttle).forgive(&start_key(&peer));
            peer.actor(identity.user.clone())
        }
        Err(problem) => {
            // The provider turned its keys over: read them again next time.
            if problem.contains(crate::oidc::UNKNOWN_KEY) {
                lock(&server.browser).provider = None;
            }
            peer.anonymous()
        }
    };
    // A sign-in that cannot be written down does not happen (R16).
    if let Err(error) = log(&server, &by, pending.app.as_ref(), &outcome) {
        tracing::error!("a sign-in could not be logged: {error}");
        return web::problem_page(
            language,
            StatusCode::INTERNAL_SERVER_ERROR,
            &error.to_string(),
        );
    }
    let mut response = match (outcome, pending.app) {
        (Ok(identity), Some(app)) => {
            let code = secret::random_hex(32);
            let mut waiting = lock(&server.browser);
            if waiting.codes.len() >= MAX_WAITING {
                web::problem_page(
                    language,
                    StatusCode::SERVICE_UNAVAILABLE,
                    texts.provider_busy,
                )
            } else {
                waiting.codes.insert(
                    secret::hash(&code),
                    AppCode {
                        identity,
                        request: app.clone(),
                        made: Instant::now(),
                    },
                );
                back_to_app(&app, &[("code", &code)])
            }
        }
        (Err(problem), Some(app)) => back_to_app(
            &app,
            &[("error", "access_denied"), ("error_description", &problem)],
        ),
        (Ok(identity), None) => web::open_web_session(&server, &headers, &identity, language, true),
        (Err(problem), None) => web::problem_page(
            language,
            StatusCode::FORBIDDEN,
            &format!("{}: {problem}", texts.sign_in_refused),
        ),
    };
    web::set_cookie_with(&mut response, STATE_COOKIE, "", 0, "Lax");
    response
}

/// Sends the browser back to the app's loopback address with `fields` and the app's state.
fn back_to_app(app: &AppRequest, fields: &[(&str, &str)]) -> Response {
    let mut address = app.redirect_uri.clone();
    {
        let mut query = address.query_pairs_mut();
        for (name, value) in fields {
            query.append_pair(name, value);
        }
        query.append_pair("state", &app.state);
    }
    Redirect::to(address.as_str()).into_response()
}

async fn exchange(
    State(server): State<Arc<Server>>,
    Extension(peer): Extension<Peer>,
    body: Result<Json<CodeExchange>, JsonRejection>,
) -> Result<Json<Tokens>, ApiError> {
    let Json(body) = body?;
    let invalid = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "sign-in-required",
            "the sign-in code is not valid (used, expired, unknown, or for another verifier); sign in again",
        )
    };
    if body.code.len() > 128 || body.code_verifier.len() > 128 || body.redirect_uri.len() > 2048 {
        return Err(invalid());
    }
    let code = {
        let mut waiting = lock(&server.browser);
        waiting.forget_old(Instant::now());
        // Used once, whatever follows.
        waiting.codes.remove(&secret::hash(&body.code))
    };
    let code = code.ok_or_else(invalid)?;
    let challenge = Pkce::challenge_of(&body.code_verifier);
    if !secret::equal(&challenge, &code.request.challenge)
        || body.redirect_uri != code.request.redirect_uri.as_str()
    {
        return Err(invalid());
    }
    let mut registry = lock(&server.registry);
    let device = teacher_pc(&registry, &peer).ok().map(|d| d.uuid);
    issue_tokens(&mut registry, &code.identity, device, None).map(Json)
}

/// The provider, as discovered at most [`PROVIDER_TIME`] ago with the
/// settings of now. One discovery runs at a time; one that failed is not
/// tried again for [`FAILED_DISCOVERY_TIME`].
async fn provider(server: &Arc<Server>) -> Result<Arc<Provider>, RegistryError> {
    let settings: OidcSettings = lock(&server.registry).oidc_settings()?.ok_or_else(|| {
        RegistryError::SignInSettings(
            "no identity provider is set up; an admin sets one with `pult-registry sign-in oidc`"
                .into(),
        )
    })?;
    let cached = || -> Option<Result<Arc<Provider>, RegistryError>> {
        let waiting = lock(&server.browser);
        if let Some((read, provider)) = &waiting.provider
            && read.elapsed() < PROVIDER_TIME
            && provider.settings() == &settings
        {
            return Some(Ok(provider.clone()));
        }
        match &waiting.failed {
            Some((when, why)) if when.elapsed() < FAILED_DISCOVERY_TIME => {
                Some(Err(RegistryError::IdentityProvider(why.clone())))
            }
            _ => None,
        }
    };
    if let Some(known) = cached() {
        return known;
    }
    let _one_at_a_time = server.discovery.lock().await;
    // Another request may have found it meanwhile.
    if let Some(known) = cached() {
        return known;
    }
    let discovered = tokio::task::spawn_blocking({
        let settings = settings.clone();
        move || settings.discover()
    })
    .await
    .map_err(|e| RegistryError::IdentityProvider(e.to_string()))?;
    let mut waiting = lock(&server.browser);
    match discovered {
        Ok(provider) => {
            let provider = Arc::new(provider);
            waiting.provider = Some((Instant::now(), provider.clone()));
            waiting.failed = None;
            Ok(provider)
        }
        Err(error) => {
            waiting.failed = Some((Instant::now(), error.to_string()));
            Err(RegistryError::IdentityProvider(error.to_string()))
        }
    }
}

/// The throttle's key for sign-ins in the browser started from `peer`'s address.
fn start_key(peer: &Peer) -> String {
    format!("browser:{}", peer.address.ip())
}

fn status_of(error: &RegistryError) -> StatusCode {
    match error {
        RegistryError::SignInSettings(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Logs a browser sign-in (R16): who, from where, for the app or the pages, and how it ended.
fn log(
    server: &Arc<Server>,
    by: &Actor,
    app: Option<&AppRequest>,
    outcome: &Result<Identity, String>,
) -> Result<(), RegistryError> {
    let place = if app.is_some() {
        "for the app"
    } else {
        "to the admin's pages"
    };
    let (result, detail) = match outcome {
        Ok(identity) => (
            Outcome::Ok,
            format!(
                "signed in with the identity provider {place}; groups: {}",
                identity.groups.join(", ")
            ),
        ),
        Err(problem) => (
            Outcome::Refused,
            format!("sign-in with the identity provider {place}: {problem}"),
        ),
    };
    let subject = outcome.as_ref().ok().map(|i| i.user.as_str());
    lock(&server.registry).log(EventKind::SignIn, by, subject, None, result, &detail)
}

/// At most 200 characters of a provider's words.
fn cut(text: &str) -> String {
    text.chars().take(200).collect()
}
