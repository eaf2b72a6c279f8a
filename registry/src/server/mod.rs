//! `pult-registry serve`: the registry over HTTPS.
//!
//! - TLS is rustls with the registry's own certificate (issued by the school
//!   CA at start, or one the admin gives). A client may show a certificate of
//!   the school CA: a teacher PC does, and that is how the registry knows
//!   which PC (and so which room) asks for a room certificate.
//! - The JSON API under `/api/v1/` is described by the OpenAPI document at
//!   [`api::OPENAPI_PATH`].
//! - Every handler takes the registry's lock for a few database statements
//!   only; password hashing runs outside it, on a blocking thread.

pub mod api;
pub mod browser;
pub mod texts;
pub mod throttle;
pub mod web;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use pult_protocol::pki::{Fingerprint, IssuedCertificate, SchoolCa};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::Registry;
use crate::store::SqliteStore;

/// How many passwords are hashed at once: Argon2 takes about 19 MiB each,
/// so a flood of sign-ins waits in line instead of taking the memory.
pub const PARALLEL_HASHES: usize = 4;

/// How often the server removes what may not be kept any longer.
const EXPIRE_EVERY: Duration = Duration::from_secs(3600);

/// How long a client may take for the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What `serve` is told.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The names (host names, IP addresses) the registry is reached by, for
    /// the certificate the school CA issues it.
    pub names: Vec<String>,
    /// The admin's own certificate chain and key (PEM), instead of one from the school CA.
    pub certificate: Option<(String, String)>,
    /// How long a room certificate is valid.
    pub room_validity: Duration,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] crate::RegistryError),
    /// The TLS setup failed.
    #[error("the TLS setup failed: {0}")]
    Tls(String),
    /// The address could not be bound.
    #[error("could not listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// What every handler shares.
pub struct Server {
    /// The registry; lock it for database work only.
    pub registry: Mutex<Registry<SqliteStore>>,
    /// Failed sign-ins per account and per source address.
    pub throttle: Mutex<throttle::Throttle<String>>,
    /// Permits to hash a password (see [`PARALLEL_HASHES`]).
    pub hashing: tokio::sync::Semaphore,
    /// How long a room certificate is valid.
    pub room_validity: Duration,
    /// Sign-ins in a browser under way, and the app's one-time codes.
    pub browser: Mutex<browser::BrowserSignIns>,
    /// Held while the identity provider is being discovered: one at a time.
    pub discovery: tokio::sync::Mutex<()>,
}

/// Who is on the other end of a connection: its address, and the
/// fingerprint of the certificate it showed, if it showed one.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// The client's address.
    pub address: SocketAddr,
    /// The client's certificate (a teacher PC's), if any.
    pub certificate: Option<Fingerprint>,
}

impl Peer {
    /// `name` acting from this peer's address, for the log.
    pub fn actor(&self, name: String) -> crate::Actor {
        crate::Actor {
            name: Some(name),
            source: self.address.ip().to_string(),
        }
    }

    /// Someone not known yet, at this peer's address, for the log.
    pub fn anonymous(&self) -> crate::Actor {
        crate::Actor {
            name: None,
            source: self.address.ip().to_string(),
        }
    }
}

/// A bound server, ready to serve.
pub struct Bound {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    server: Arc<Server>,
}

impl Bound {
    /// Binds `options.listen` and prepares TLS; the registry must be initialised.
    pub async fn new(
        registry: Registry<SqliteStore>,
        options: &ServeOptions,
    ) -> Result<Self, ServeError> {
        let organisation = registry.organisation()?;
        let ca = SchoolCa::from_pem(&organisation.ca_certificate_pem, &organisation.ca_key_pem)
            .map_err(crate::RegistryError::from)?;
        let (chain_pem, key_pem) = match &options.certificate {
            Some(given) => given.clone(),
            None => {
                let IssuedCertificate {
                    certificate_pem,
                    key_pem,
                    ..
                } = ca
                    .issue_server_certificate(&options.names)
                    .map_err(crate::RegistryError::from)?;
                (certificate_pem, key_pem)
            }
        };
        let acceptor = acceptor(&organisation.ca_certificate_pem, &chain_pem, &key_pem)?;
        let listener =
            TcpListener::bind(options.listen)
                .await
                .map_err(|source| ServeError::Bind {
                    address: options.listen,
                    source,
                })?;
        Ok(Self {
            listener,
            acceptor,
            server: Arc::new(Server {
                registry: Mutex::new(registry),
                throttle: Mutex::new(throttle::Throttle::default()),
                hashing: tokio::sync::Semaphore::new(PARALLEL_HASHES),
                room_validity: options.room_validity,
                browser: Mutex::default(),
                discovery: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the task is dropped. A failing connection ends alone.
    /// Every hour what may not be kept any longer goes (log lines, users
    /// deleted 90 days ago; R13, R17, R18, R25).
    pub async fn serve(self) -> std::io::Result<()> {
        let app = router(self.server.clone());
        let expiring = self.server.clone();
        // Ends with the server.
        let _expiry = EndOnDrop(tokio::spawn(async move {
            let mut every_hour = tokio::time::interval(EXPIRE_EVERY);
            loop {
                every_hour.tick().await;
                if let Err(error) = api::lock(&expiring.registry).expire() {
                    tracing::error!("expiring the registry's old data failed: {error}");
                }
            }
        }));
        loop {
            let (tcp, address) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a little, keep serving.
                    tracing::warn!("accepting a connection failed: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let acceptor = self.acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(error)) => {
                        tracing::debug!("TLS handshake with {address} failed: {error}");
                        return;
                    }
                    Err(_) => return,
                };
                let certificate = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(|c| Fingerprint::of_der(c));
                let peer = Peer {
                    address,
                    certificate,
                };
                let service = hyper::service::service_fn(move |mut request| {
                    request.extensions_mut().insert(peer);
                    tower_call(app.clone(), request)
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(tls), service);
                if let Err(error) = connection.await {
                    tracing::debug!("connection from {address} ended: {error}");
                }
            });
        }
    }
}

/// A task that ends when this is dropped.
struct EndOnDrop(tokio::task::JoinHandle<()>);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The API and the pages, with the headers every answer gets.
fn router(server: Arc<Server>) -> axum::Router {
    axum::Router::new()
        .merge(api::routes())
        .merge(browser::routes())
        .merge(web::routes())
        .fallback(api::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(server)
}

/// No framing, no sniffing, no referrers to other sites, scripts and styles
/// from here only, HTTPS only from now on, and nothing kept in caches (pages
/// show secrets). The referrer policy is `same-origin`, not `no-referrer`:
/// under `no-referrer` a browser sends `Origin: null` with the page's own
/// forms, and the CSRF check refused every change (seen in Chromium).
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Hands one request to the router.
async fn tower_call(
    mut app: axum::Router,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<axum::response::Response, std::convert::Infallible> {
    use tower_service::Service;
    app.call(request.map(axum::body::Body::new)).await
}

/// The TLS acceptor: the registry's chain and key; clients may show a
/// certificate of the school CA (teacher PCs) or none (browsers, agents enrolling).
fn acceptor(ca_pem: &str, chain_pem: &str, key_pem: &str) -> Result<TlsAcceptor, ServeError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| ServeError::Tls(format!("{what}: {e}"));
    let provider = pult_protocol::endpoint::crypto_provider();
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("the server certificate", &e))?;
    if chain.is_empty() {
        return Err(ServeError::Tls(
            "the server certificate file holds no certificate".into(),
        ));
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| bad("the server key", &e))?;
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|e| bad("the CA", &e))?;
    roots.add(ca).map_err(|e| bad("the CA", &e))?;
    let clients = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| bad("the client verifier", &e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("the protocol versions", &e))?
        .with_client_cert_verifier(clients)
        .with_single_cert(chain, key)
        .map_err(|e| bad("the server certificate and key", &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
