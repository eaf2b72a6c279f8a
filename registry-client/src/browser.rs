//! Sign-in in the system browser for a native app (RFC 8252): this
//! computer listens on a loopback address, the browser signs in at the
//! school's identity provider through the registry, and comes back to that
//! address with a one-time code that only this process, holding the PKCE
//! verifier, can exchange for tokens.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use pult_protocol::registry_api::{BROWSER_SIGN_IN_PATH, Pkce, Tokens};

use crate::{ClientError, RegistryClient};

/// The path on the loopback address the browser comes back to.
const CALLBACK_PATH: &str = "/pult-sign-in";
/// The longest request line read from the browser.
const MAX_REQUEST_LINE: usize = 8 * 1024;

/// A browser sign-in under way: the address to open, and the loopback
/// listener that waits for the browser to come back.
pub struct BrowserSignIn {
    listener: TcpListener,
    redirect_uri: String,
    state: String,
    pkce: Pkce,
    url: String,
}

impl BrowserSignIn {
    /// Starts a sign-in at `client`'s registry: listens on a free loopback port.
    pub fn start(client: &RegistryClient) -> Result<Self, ClientError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| ClientError::Protocol(format!("could not listen on loopback: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| ClientError::Protocol(e.to_string()))?
            .port();
        let redirect_uri = format!("http://127.0.0.1:{port}{CALLBACK_PATH}");
        let state = pult_protocol::registry_api::base64url(Pkce::new().verifier.as_bytes());
        let pkce = Pkce::new();
        let mut url = url::Url::parse(&format!("{}{BROWSER_SIGN_IN_PATH}", client.url()))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("state", &state)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(Self {
            listener,
            redirect_uri,
            state,
            pkce,
            url: url.into(),
        })
    }

    /// The address to open in the browser.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Waits (at most `within`) for the browser to come back, tells it how
    /// the sign-in went (in German and English), and exchanges the code for
    /// tokens at `client`'s registry.
    pub fn finish(self, client: &RegistryClient, within: Duration) -> Result<Tokens, ClientError> {
        let deadline = Instant::now() + within;
        self.listener
            .set_nonblocking(true)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        loop {
            let (stream, _) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(ClientError::Protocol(format!(
                            "the browser did not come back within {} s; sign in again",
                            within.as_secs()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
            };
            // Anything but the callback (a favicon, a probe) gets a 404 and
            // we wait on, never longer than the deadline, however slowly
            // whoever connected sends.
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(query) = read_callback(&stream, left) else {
                answer(&stream, 404, "Not found.");
                if Instant::now() >= deadline {
                    return Err(ClientError::Protocol(format!(
                        "the browser did not come back within {} s; sign in again",
                        within.as_secs()
                    )));
                }
                continue;
            };
            let field = |name: &str| {
                url::form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
            };
            if field("state").as_deref() != Some(self.state.as_str()) {
                answer(
                    &stream,
                    400,
                    "Diese Anmeldung gehört nicht zu Pult. / This sign-in is not Pult's.",
                );
                continue;
            }
            if let Some(error) = field("error") {
                let description = field("error_description").unwrap_or_default();
                answer(
                    &stream,
                    403,
                    &format!(
                        "Die Anmeldung wurde abgelehnt. / The sign-in was refused.\n\n{description}"
                    ),
                );
                return Err(ClientError::Refused {
                    status: 403,
                    code: "sign-in-refused".into(),
                    message: format!("the sign-in was refused ({error}): {description}"),
                });
            }
            let Some(code) = field("code") else {
                answer(&stream, 400, "Kein Code. / No code.");
                continue;
            };
            let tokens = client.exchange_code(&code, &self.pkce.verifier, &self.redirect_uri);
            match &tokens {
                Ok(tokens) => answer(
                    &stream,
                    200,
                    &format!(
                        "Angemeldet als {0}. Dieses Fenster kann geschlossen werden.\n\
                         Signed in as {0}. You may close this window.",
                        tokens.user
                    ),
                ),
                Err(error) => answer(&stream, 502, &error.to_string()),
            }
            return tokens;
        }
    }
}

/// The query of a `GET /pult-sign-in?…` request, if that is what came.
fn read_callback(stream: &TcpStream, left: Duration) -> Option<String> {
    if left.is_zero() {
        return None;
    }
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(left.min(Duration::from_secs(5))));
    let mut reader = BufReader::new(std::io::Read::take(stream, MAX_REQUEST_LINE as u64));
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?, parts.next()?);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    (method == "GET" && path == CALLBACK_PATH).then(|| query.to_owned())
}

/// A plain-text page for the browser.
fn answer(mut stream: &TcpStream, status: u16, text: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Bad Gateway",
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.flush();
}
