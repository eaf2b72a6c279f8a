//! QUIC endpoints for both ends: TLS 1.3 only, ALPN `pult/1`, mutual authentication.
//!
//! There is no plaintext path and no switch to accept any certificate.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{ConnectionError, TransportConfig};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};

use crate::DeviceId;
use crate::pki::Fingerprint;
use crate::udp::{self, SocketPath};
use crate::verify::{AgentClientVerifier, Refusal, console_server_verifier};

/// The ALPN protocol name; a peer without it cannot complete the handshake.
pub const ALPN: &[u8] = b"pult/1";

/// The agent's UDP port unless an address names another.
pub const DEFAULT_PORT: u16 = 11500;

/// Why TLS or QUIC could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A PEM file did not hold what it should.
    #[error("could not read the {what}: {detail}")]
    Pem {
        /// Which file: "CA certificate", "certificate", "private key".
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// rustls refused the configuration (e.g. the key does not match the certificate).
    #[error("TLS set-up failed: {0}")]
    Tls(#[from] rustls::Error),
    /// quinn refused the TLS configuration.
    #[error("QUIC set-up failed: {0}")]
    Quic(String),
    /// The UDP socket could not be opened.
    #[error("could not open UDP socket on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// The crypto provider both ends use (ring).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How long a silent connection lives. It is long on purpose: forty
/// students' files through a 100 Mbit/s uplink (the files benchmark, a
/// drop-tail switch queue) starve one connection now and then for several
/// seconds, and QUIC backs off its probes as TCP does; at 1.5 s and at 5 s
/// such a connection died mid-transfer. What must not wait that long for
/// a peer that is gone, a teacher's view of a switched-off computer or keys
/// held by a console that crashed, watches [`silence`] instead. A peer that
/// ends properly closes its connections at once.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a peer may send nothing at all before it counts as gone for
/// what must not wait: the console shows the device as offline, the agent
/// lets go of the keys a console held and ends its broadcast. With a
/// keep-alive every half second each way, a live peer is heard from six
/// times in this; the connection itself lives on to [`IDLE_TIMEOUT`].
pub const SILENCE: Duration = Duration::from_secs(3);

/// How often an idle connection says it is alive: sent when nothing has
/// been heard for this long, and answered at once by a live peer.
const KEEP_ALIVE: Duration = Duration::from_millis(500);

/// Resolves once nothing has arrived on `connection` for `limit`: the peer
/// is switched off, cut off, or crashed (a closed connection is silent
/// too). Counts the UDP datagrams the connection received, which the
/// keep-alives above keep coming from a live peer.
pub async fn silence(connection: &quinn::Connection, limit: Duration) {
    let step = limit / 6;
    let mut heard = connection.stats().udp_rx.datagrams;
    let mut last = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(step).await;
        let now = connection.stats().udp_rx.datagrams;
        if now != heard {
            heard = now;
            last = tokio::time::Instant::now();
        } else if last.elapsed() >= limit {
            return;
        }
    }
}

/// The console's transport settings: keep-alives so a dead peer is noticed
/// by [`silence`] (the teacher sees a switched-off computer as offline
/// within seconds), and windows large enough for a screenshot in one go, since
/// screenshots and screen updates flow to the console.
pub fn transport_config() -> Arc<TransportConfig> {
    let mut transport = TransportConfig::default();
    keep_alive(&mut transport);
    transport.stream_receive_window((16u32 * 1024 * 1024).into());
    transport.receive_window((32u32 * 1024 * 1024).into());
    transport.send_window(32 * 1024 * 1024);
    Arc::new(transport)
}

/// How many two-way streams one console may have open at an agent at once:
/// a request stream, two screen streams and room for a few requests side by
/// side. More wait until one closes; they do not cost the agent anything.
pub const AGENT_MAX_STREAMS: u32 = 8;

/// The agent's own transport settings. Its receive windows are small, so
/// one console cannot make it buffer megabytes: requests are at most
/// 64 KiB, and a file sent to the class (R6) is read as it comes and
/// passed on to the student's side a megabyte at a time. A window of
/// 256 KiB per connection carries 256 KiB per round trip: 2 Gbit/s at a
/// classroom's 1 ms, and the files benchmark fills 92 % of a gigabit
/// uplink with one agent. It accepts no one-way streams at all (nothing in
/// the protocol uses them, and unread ones would only hold memory), a
/// handful of two-way streams, and a small buffer for pointer datagrams.
/// The send window stays large: screenshots and screen updates go out from
/// here. Keep-alive and idle time as the console.
pub fn agent_transport_config() -> Arc<TransportConfig> {
    let mut transport = TransportConfig::default();
    keep_alive(&mut transport);
    transport.max_concurrent_uni_streams(0u32.into());
    transport.max_concurrent_bidi_streams(AGENT_MAX_STREAMS.into());
    transport.stream_receive_window((64u32 * 1024).into());
    transport.receive_window((256u32 * 1024).into());
    transport.send_window(32 * 1024 * 1024);
    // Pointer moves while a console controls (R3): a few dozen bytes each,
    // read at once; what waits beyond this is old and dropped.
    transport.datagram_receive_buffer_size(Some(16 * 1024));
    Arc::new(transport)
}

fn keep_alive(transport: &mut TransportConfig) {
    transport.keep_alive_interval(Some(KEEP_ALIVE));
    // 30 s fits in a VarInt; the conversion cannot fail.
    transport.max_idle_timeout(IDLE_TIMEOUT.try_into().ok());
}

/// An agent's TLS identity and trust: its device certificate and key, and the school CA.
#[derive(Debug, Clone)]
pub struct AgentTls {
    device: DeviceId,
    provider: Arc<CryptoProvider>,
    client_verifier: Arc<dyn ClientCertVerifier>,
    certified_key: Arc<CertifiedKey>,
}

impl AgentTls {
    /// Loads the identity of `device` from PEM: the CA certificate, its certificate, its key.
    pub fn new(
        device: DeviceId,
        ca_pem: &str,
        certificate_pem: &str,
        key_pem: &str,
    ) -> Result<Self, SetupError> {
        let provider = crypto_provider();
        let ca = parse_certificate(ca_pem, "CA certificate")?;
        let chain = vec![parse_certificate(certificate_pem, "certificate")?];
        let key = parse_key(key_pem)?;
        let certified_key = Arc::new(CertifiedKey::from_der(chain, key, &provider)?);
        let client_verifier = AgentClientVerifier::webpki(ca, provider.clone())?;
        Ok(Self {
            device,
            provider,
            client_verifier,
            certified_key,
        })
    }

    /// The device this identity belongs to.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// A server configuration for one incoming connection. If the console's
    /// certificate is refused, the returned cell holds who and why.
    pub fn connection_config(
        &self,
    ) -> Result<(quinn::ServerConfig, Arc<OnceLock<Refusal>>), SetupError> {
        let refusal = Arc::new(OnceLock::new());
        let verifier =
            AgentClientVerifier::new(self.client_verifier.clone(), self.device, refusal.clone());
        let mut tls = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(self.certified_key.clone())));
        tls.alpn_protocols = vec![ALPN.to_vec()];
        // No session resumption: a resumed session skips the certificate check,
        // and the room rule (R8, R10) and the audit line of every connection
        // depend on it. Neither a session cache nor tickets.
        tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        tls.send_tls13_tickets = 0;
        let crypto =
            QuicServerConfig::try_from(tls).map_err(|e| SetupError::Quic(e.to_string()))?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        config.transport_config(agent_transport_config());
        Ok((config, refusal))
    }

    /// Opens the agent's endpoint on `listen`. Accept each incoming connection
    /// with [`quinn::Incoming::accept_with`] and a fresh [`Self::connection_config`].
    pub fn endpoint(&self, listen: SocketAddr) -> Result<quinn::Endpoint, SetupError> {
        let socket = std::net::UdpSocket::bind(listen).map_err(|source| SetupError::Bind {
            address: listen,
            source,
        })?;
        self.endpoint_on(socket)
    }

    /// Opens the agent's endpoint on a socket bound beforehand.
    pub fn endpoint_on(&self, socket: std::net::UdpSocket) -> Result<quinn::Endpoint, SetupError> {
        let address = socket.local_addr().map_err(|source| SetupError::Bind {
            address: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })?;
        let (config, _) = self.connection_config()?;
        open(Some(config), socket)
            .map(|(endpoint, _)| endpoint)
            .map_err(|source| SetupError::Bind { address, source })
    }
}

/// A console's TLS identity and trust: its room certificate and key, and the school CA.
#[derive(Debug, Clone)]
pub struct ConsoleTls {
    client_config: quinn::ClientConfig,
}

impl ConsoleTls {
    /// Loads a room certificate, its key and the CA from PEM. `pins` holds
    /// the fingerprint of each device's current certificate, as far as the
    /// room's manifest knows it; an agent showing another is refused.
    pub fn new(
        ca_pem: &str,
        certificate_pem: &str,
        key_pem: &str,
        pins: HashMap<DeviceId, Fingerprint>,
    ) -> Result<Self, SetupError> {
        let provider = crypto_provider();
        let ca = parse_certificate(ca_pem, "CA certificate")?;
        let chain = vec![parse_certificate(certificate_pem, "certificate")?];
        let key = parse_key(key_pem)?;
        let verifier = console_server_verifier(ca, provider.clone(), pins)?;
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(chain, key)?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        // Every connection is a full handshake with the room certificate (see
        // the agent's side); the console neither keeps nor offers tickets.
        tls.resumption = rustls::client::Resumption::disabled();
        let crypto =
            QuicClientConfig::try_from(tls).map_err(|e| SetupError::Quic(e.to_string()))?;
        let mut client_config = quinn::ClientConfig::new(Arc::new(crypto));
        client_config.transport_config(transport_config());
        Ok(Self { client_config })
    }

    /// The client configuration to connect to agents with.
    pub fn client_config(&self) -> quinn::ClientConfig {
        self.client_config.clone()
    }

    /// Opens a client endpoint (dual-stack where the host has IPv6).
    pub fn endpoint(&self) -> Result<quinn::Endpoint, SetupError> {
        let dual_stack = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0));
        let v4 = SocketAddr::from(([0, 0, 0, 0], 0));
        let client = |address: SocketAddr| {
            std::net::UdpSocket::bind(address)
                .and_then(|socket| open(None, socket))
                .map_err(|source| SetupError::Bind { address, source })
        };
        let mut endpoint = match client(dual_stack) {
            Ok((endpoint, SocketPath::Fast)) => endpoint,
            // The plain socket does not make an IPv6 socket dual-stack, and
            // agents are mostly reached over IPv4: take an IPv4 socket.
            Ok((_, SocketPath::Plain)) | Err(_) => client(v4)?.0,
        };
        endpoint.set_default_client_config(self.client_config());
        Ok(endpoint)
    }
}

/// A QUIC endpoint on `socket` (see [`crate::udp`]); the plain path is logged.
fn open(
    server: Option<quinn::ServerConfig>,
    socket: std::net::UdpSocket,
) -> std::io::Result<(quinn::Endpoint, SocketPath)> {
    let (endpoint, path, reason) = udp::endpoint(quinn::EndpointConfig::default(), server, socket)?;
    if let Some(reason) = reason {
        tracing::warn!(
            "quinn could not set up its UDP socket ({reason}); QUIC runs on a plain socket instead"
        );
    }
    Ok((endpoint, path))
}

/// The room grant of the console on the other end of an accepted connection.
pub fn peer_grant(connection: &quinn::Connection) -> Option<crate::grant::RoomGrant> {
    let chain = connection
        .peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()?;
    crate::grant::RoomGrant::from_certificate(chain.first()?).ok()
}

/// How an agent refused a console's certificate, as the console sees it: the
/// TLS alert in the QUIC close. The agent's log has the full reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalAlert {
    /// The device is not in the certificate's room, or not steerable.
    AccessDenied,
    /// The certificate expired (or is not valid yet).
    Expired,
    /// The certificate is not from the agent's school CA.
    UnknownCa,
    /// The certificate is not a room certificate.
    Unsupported,
    /// Another certificate alert, by its TLS number.
    Other(u8),
}

impl RefusalAlert {
    /// The alert a connection closed *by the agent* reports, if it was closed for
    /// a TLS alert. (A local TLS error means the console refused the agent.)
    pub fn from_error(error: &ConnectionError) -> Option<Self> {
        let ConnectionError::ConnectionClosed(close) = error else {
            return None;
        };
        let code = u64::from(close.error_code);
        // QUIC carries TLS alerts as transport errors 0x100 + alert (RFC 9001, 4.8).
        let alert = u8::try_from(code.checked_sub(0x100)?).ok()?;
        Some(match alert {
            49 => Self::AccessDenied,
            45 => Self::Expired,
            48 | 51 => Self::UnknownCa,
            43 => Self::Unsupported,
            other => Self::Other(other),
        })
    }
}

fn parse_certificate(pem: &str, what: &'static str) -> Result<CertificateDer<'static>, SetupError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| SetupError::Pem {
        what,
        detail: e.to_string(),
    })
}

fn parse_key(pem: &str) -> Result<PrivateKeyDer<'static>, SetupError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| SetupError::Pem {
        what: "private key",
        detail: e.to_string(),
    })
}
