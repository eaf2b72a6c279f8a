//! The room rule enforced in the TLS handshake, over real QUIC on loopback:
//! an agent admits a console only with a room certificate of its own school
//! that is in date and lists the agent's device as steerable (R8, R10).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Resumption};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};

use pult_protocol::DeviceId;
use pult_protocol::endpoint::{ALPN, AgentTls, ConsoleTls, RefusalAlert, crypto_provider};
use pult_protocol::grant::RoomGrant;
use pult_protocol::pki::{Fingerprint, IssuedCertificate, SchoolCa};
use pult_protocol::verify::{AgentClientVerifier, Refusal, RefusalReason, console_server_verifier};

struct Agent {
    address: SocketAddr,
    device: DeviceId,
    fingerprint: Fingerprint,
    refusals: tokio::sync::mpsc::UnboundedReceiver<Option<Refusal>>,
}

/// Starts an agent endpoint for a new device of `ca`; reports each handshake's refusal (or None).
fn start_agent(ca: &SchoolCa) -> Agent {
    let device = DeviceId::random();
    let issued = ca.issue_device_certificate(device, "PC-01").unwrap();
    let issued_pem = issued.certificate_pem.clone();
    let tls = AgentTls::new(
        device,
        ca.certificate_pem(),
        &issued.certificate_pem,
        &issued.key_pem,
    )
    .unwrap();
    let endpoint = tls.endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = endpoint.local_addr().unwrap();
    let (report, refusals) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            let (config, refusal): (_, Arc<OnceLock<Refusal>>) = tls.connection_config().unwrap();
            let report = report.clone();
            tokio::spawn(async move {
                let outcome = incoming.accept_with(Arc::new(config)).unwrap().await;
                if let Ok(connection) = &outcome {
                    // Serve one stream: echo a byte so the console sees it was admitted.
                    if let Ok((mut send, mut recv)) = connection.accept_bi().await {
                        let mut byte = [0u8];
                        let _ = recv.read_exact(&mut byte).await;
                        let _ = send.write_all(&byte).await;
                        let _ = send.finish();
                        let _ = connection.closed().await;
                    }
                }
                let _ = report.send(refusal.get().cloned());
            });
        }
    });
    Agent {
        address,
        device,
        fingerprint: Fingerprint::of_pem(&issued_pem).unwrap(),
        refusals,
    }
}

fn room_certificate(
    ca: &SchoolCa,
    steerable: &[DeviceId],
    not_steerable: &[DeviceId],
    valid: Duration,
) -> IssuedCertificate {
    let grant = RoomGrant {
        organisation: "Schule".into(),
        room: "101".into(),
        user: "mueller".into(),
        features: vec!["screenshot".into()],
        steerable: steerable.to_vec(),
        not_steerable: not_steerable.to_vec(),
        wake: vec![],
    };
    ca.issue_room_certificate(&grant, valid).unwrap()
}

/// Connects with `certificate` (trusting `ca`) and exchanges one byte.
async fn exchange(
    ca: &SchoolCa,
    certificate: &IssuedCertificate,
    agent: &Agent,
) -> Result<(), quinn::ConnectionError> {
    exchange_pinned(ca, certificate, agent, HashMap::new()).await
}

/// Like [`exchange`], with the console knowing the devices' current certificates.
async fn exchange_pinned(
    ca: &SchoolCa,
    certificate: &IssuedCertificate,
    agent: &Agent,
    pins: HashMap<DeviceId, Fingerprint>,
) -> Result<(), quinn::ConnectionError> {
    let tls = ConsoleTls::new(
        ca.certificate_pem(),
        &certificate.certificate_pem,
        &certificate.key_pem,
        pins,
    )
    .unwrap();
    let endpoint = tls.endpoint().unwrap();
    let connection = endpoint
        .connect(agent.address, &agent.device.server_name())
        .unwrap()
        .await?;
    let (mut send, mut recv) = connection.open_bi().await?;
    send.write_all(&[7]).await.map_err(|e| match e {
        quinn::WriteError::ConnectionLost(e) => e,
        other => panic!("{other}"),
    })?;
    let mut byte = [0u8];
    match recv.read_exact(&mut byte).await {
        Ok(()) => {
            assert_eq!(byte, [7]);
            connection.close(0u32.into(), b"done");
            Ok(())
        }
        Err(quinn::ReadExactError::ReadError(quinn::ReadError::ConnectionLost(e))) => Err(e),
        Err(other) => panic!("{other}"),
    }
}

async fn refused(
    ca: &SchoolCa,
    certificate: &IssuedCertificate,
    agent: &mut Agent,
) -> (RefusalAlert, Refusal) {
    let error = exchange(ca, certificate, agent).await.unwrap_err();
    let alert =
        RefusalAlert::from_error(&error).unwrap_or_else(|| panic!("not a refusal: {error}"));
    let refusal = agent
        .refusals
        .recv()
        .await
        .unwrap()
        .expect("the agent recorded why");
    (alert, refusal)
}

#[tokio::test]
async fn a_console_refuses_a_device_certificate_that_was_replaced_by_a_new_enrolment() {
    let ca = SchoolCa::generate("Schule").unwrap();
    let agent = start_agent(&ca);
    let certificate = room_certificate(&ca, &[agent.device], &[], Duration::from_secs(600));
    // The registry knows the agent's certificate: admitted.
    let current = HashMap::from([(agent.device, agent.fingerprint)]);
    exchange_pinned(&ca, &certificate, &agent, current)
        .await
        .unwrap();
    // The device was enrolled again; the agent still shows the old one.
    let newer = ca.issue_device_certificate(agent.device, "PC-01").unwrap();
    let replaced = HashMap::from([(
        agent.device,
        Fingerprint::of_pem(&newer.certificate_pem).unwrap(),
    )]);
    let error = exchange_pinned(&ca, &certificate, &agent, replaced)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("enrolled again"),
        "the error says why: {error}"
    );
    // A pin for another device does not touch this one.
    let other = HashMap::from([(DeviceId::random(), agent.fingerprint)]);
    exchange_pinned(&ca, &certificate, &agent, other)
        .await
        .unwrap();
}

#[tokio::test]
async fn r8_a_steerable_device_of_the_room_admits_the_room_certificate() {
    let ca = SchoolCa::generate("Schule").unwrap();
    let mut agent = start_agent(&ca);
    let certificate = room_certificate(
        &ca,
        &[DeviceId::random(), agent.device],
        &[],
        Duration::from_secs(600),
    );
    exchange(&ca, &certificate, &agent).await.unwrap();
    assert_eq!(agent.refusals.recv().await.unwrap(), None);
}

#[tokio::test]
async fn r8_a_device_of_another_room_refuses() {
    let ca = SchoolCa::generate("Schule").unwrap();
    let mut agent = start_agent(&ca);
    let certificate = room_certificate(&ca, &[DeviceId::random()], &[], Duration::from_secs(600));
    let (alert, refusal) = refused(&ca, &certificate, &mut agent).await;
    assert_eq!(alert, RefusalAlert::AccessDenied);
    assert_eq!(refusal.reason, RefusalReason::OtherRoom);
    assert_eq!(refusal.user.as_deref(), Some("mueller"));
    assert_eq!(refusal.room.as_deref(), Some("101"));
    assert!(
        refusal.chained_to_ca,
        "the school's CA vouches for the names"
    );
}

#[tokio::test]
async fn r10_a_device_marked_not_steerable_refuses() {
    let ca = SchoolCa::generate("Schule").unwrap();
    let mut agent = start_agent(&ca);
    let certificate = room_certificate(
        &ca,
        &[DeviceId::random()],
        &[agent.device],
        Duration::from_secs(600),
    );
    let (alert, refusal) = refused(&ca, &certificate, &mut agent).await;
    assert_eq!(alert, RefusalAlert::AccessDenied);
    assert_eq!(refusal.reason, RefusalReason::NotSteerable);
}

#[tokio::test]
async fn an_expired_room_certificate_is_refused() {
    let ca = SchoolCa::generate("Schule").unwrap();
    let mut agent = start_agent(&ca);
    let certificate = room_certificate(&ca, &[agent.device], &[], Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (alert, refusal) = refused(&ca, &certificate, &mut agent).await;
    assert_eq!(alert, RefusalAlert::Expired);
    assert_eq!(refusal.reason, RefusalReason::Expired);
    assert_eq!(refusal.user.as_deref(), Some("mueller"));
    assert!(
        refusal.chained_to_ca,
        "expired, but issued by the school's CA"
    );
}

#[tokio::test]
async fn a_room_certificate_of_another_school_is_refused_even_under_the_same_name() {
    let ca = SchoolCa::generate("Schule").unwrap();
    let mut agent = start_agent(&ca);
    // Another school's CA, and a forger's CA that copies this school's name.
    for other in [
        SchoolCa::generate("Andere Schule").unwrap(),
        SchoolCa::generate("Schule").unwrap(),
    ] {
        let certificate = room_certificate(&other, &[agent.device], &[], Duration::from_secs(600));
        // The console trusts the real CA, so the agent's own certificate still checks out.
        let (alert, refusal) = refused(&ca, &certificate, &mut agent).await;
        assert_eq!(alert, RefusalAlert::UnknownCa);
        assert_eq!(refusal.reason, RefusalReason::UnknownCa);
        // The names are only claimed: anyone can write them into a certificate.
        assert_eq!(refusal.user.as_deref(), Some("mueller"));
        assert!(!refusal.chained_to_ca);
    }
}

#[tokio::test]
async fn a_device_certificate_is_no_room_certificate() {
    let ca = SchoolCa::generate("Schule").unwrap();
    let mut agent = start_agent(&ca);
    let stolen = ca.issue_device_certificate(agent.device, "PC-01").unwrap();
    let error = exchange(&ca, &stolen, &agent).await.unwrap_err();
    assert!(RefusalAlert::from_error(&error).is_some(), "{error}");
    let refusal = agent.refusals.recv().await.unwrap().unwrap();
    assert!(
        matches!(refusal.reason, RefusalReason::Invalid(_)),
        "{refusal}"
    );
}

#[tokio::test]
async fn the_console_refuses_an_agent_that_is_not_the_expected_device() {
    let ca = SchoolCa::generate("Schule").unwrap();
    let agent = start_agent(&ca);
    let certificate = room_certificate(&ca, &[agent.device], &[], Duration::from_secs(600));
    let tls = ConsoleTls::new(
        ca.certificate_pem(),
        &certificate.certificate_pem,
        &certificate.key_pem,
        HashMap::new(),
    )
    .unwrap();
    let endpoint = tls.endpoint().unwrap();
    let error = endpoint
        .connect(agent.address, &DeviceId::random().server_name())
        .unwrap()
        .await
        .unwrap_err();
    // Refused locally, not by the agent.
    assert!(RefusalAlert::from_error(&error).is_none(), "{error}");
    assert!(error.to_string().contains("certificate"), "{error}");
}

/// A client session store that counts the tickets it is given and asked for.
#[derive(Debug)]
struct CountingClientStore {
    inner: ClientSessionMemoryCache,
    tickets_received: AtomicUsize,
    tickets_offered: AtomicUsize,
}

impl ClientSessionStore for CountingClientStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(server_name, group);
    }
    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(server_name)
    }
    fn set_tls12_session(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(server_name, value);
    }
    fn tls12_session(
        &self,
        server_name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }
    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name);
    }
    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.tickets_received.fetch_add(1, Ordering::SeqCst);
        self.inner.insert_tls13_ticket(server_name, value);
    }
    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        let ticket = self.inner.take_tls13_ticket(server_name);
        if ticket.is_some() {
            self.tickets_offered.fetch_add(1, Ordering::SeqCst);
        }
        ticket
    }
}

/// A server session store that counts sessions stored and looked up.
#[derive(Debug)]
struct CountingServerStore {
    inner: Arc<ServerSessionMemoryCache>,
    stored: AtomicUsize,
    looked_up: AtomicUsize,
}

impl StoresServerSessions for CountingServerStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.stored.fetch_add(1, Ordering::SeqCst);
        self.inner.put(key, value)
    }
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.looked_up.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key)
    }
    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.looked_up.fetch_add(1, Ordering::SeqCst);
        self.inner.take(key)
    }
    fn can_cache(&self) -> bool {
        true
    }
}

fn der_certificate(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

fn der_key(pem: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// Connects on `endpoint` with `config`, exchanges one byte and closes.
async fn exchange_with(
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    address: SocketAddr,
    device: DeviceId,
) {
    let connection = endpoint
        .connect_with(config, address, &device.server_name())
        .unwrap()
        .await
        .unwrap();
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&[7]).await.unwrap();
    let mut byte = [0u8];
    recv.read_exact(&mut byte).await.unwrap();
    connection.close(0u32.into(), b"done");
}

/// A resumed session would skip the certificate check, and with it the room
/// rule and the audit line of the connection: the agent issues no tickets.
#[tokio::test]
async fn the_agent_gives_a_console_no_session_to_resume() {
    let ca = SchoolCa::generate("Schule").unwrap();
    let mut agent = start_agent(&ca);
    let certificate = room_certificate(&ca, &[agent.device], &[], Duration::from_secs(600));
    let provider = crypto_provider();
    let store = Arc::new(CountingClientStore {
        inner: ClientSessionMemoryCache::new(16),
        tickets_received: AtomicUsize::new(0),
        tickets_offered: AtomicUsize::new(0),
    });
    // A console that would resume if it could.
    let verifier = console_server_verifier(
        der_certificate(ca.certificate_pem()),
        provider.clone(),
        HashMap::new(),
    )
    .unwrap();
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(
            vec![der_certificate(&certificate.certificate_pem)],
            der_key(&certificate.key_pem),
        )
        .unwrap();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.resumption = Resumption::store(store.clone());
    let config = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls).unwrap()));
    let endpoint = pult_protocol::udp::bind("127.0.0.1:0".parse().unwrap(), None).unwrap();
    for _ in 0..2 {
        exchange_with(&endpoint, config.clone(), agent.address, agent.device).await;
        // Each connection went through the certificate check.
        assert_eq!(agent.refusals.recv().await.unwrap(), None);
    }
    assert_eq!(store.tickets_received.load(Ordering::SeqCst), 0);
    assert_eq!(store.tickets_offered.load(Ordering::SeqCst), 0);
}

/// The console never offers to resume either, even to a server that hands out tickets.
#[tokio::test]
async fn the_console_offers_no_session_to_resume() {
    let ca = SchoolCa::generate("Schule").unwrap();
    let device = DeviceId::random();
    let issued = ca.issue_device_certificate(device, "PC-01").unwrap();
    let provider = crypto_provider();
    let client_verifier =
        AgentClientVerifier::webpki(der_certificate(ca.certificate_pem()), provider.clone())
            .unwrap();
    let store = Arc::new(CountingServerStore {
        inner: ServerSessionMemoryCache::new(16),
        stored: AtomicUsize::new(0),
        looked_up: AtomicUsize::new(0),
    });
    // A server with rustls' defaults: a session cache and two tickets per handshake.
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(
            vec![der_certificate(&issued.certificate_pem)],
            der_key(&issued.key_pem),
        )
        .unwrap();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.session_storage = store.clone();
    let config =
        quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls).unwrap()));
    let server = pult_protocol::udp::bind("127.0.0.1:0".parse().unwrap(), Some(config)).unwrap();
    let address = server.local_addr().unwrap();
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else {
                    return;
                };
                if let Ok((mut send, mut recv)) = connection.accept_bi().await {
                    let mut byte = [0u8];
                    let _ = recv.read_exact(&mut byte).await;
                    let _ = send.write_all(&byte).await;
                    let _ = send.finish();
                    let _ = connection.closed().await;
                }
            });
        }
    });
    let certificate = room_certificate(&ca, &[device], &[], Duration::from_secs(600));
    let console = ConsoleTls::new(
        ca.certificate_pem(),
        &certificate.certificate_pem,
        &certificate.key_pem,
        HashMap::new(),
    )
    .unwrap();
    let endpoint = console.endpoint().unwrap();
    for _ in 0..3 {
        exchange_with(&endpoint, console.client_config(), address, device).await;
    }
    assert!(
        store.stored.load(Ordering::SeqCst) > 0,
        "the server offered sessions to resume"
    );
    assert_eq!(
        store.looked_up.load(Ordering::SeqCst),
        0,
        "the console asked to resume a session"
    );
}
