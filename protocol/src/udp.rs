//! The UDP socket under a QUIC endpoint.
//!
//! quinn's own socket layer (quinn-udp) sets options for its fast path when it
//! takes a socket over: ECN, packet information, segmentation offload and, on
//! an IPv6 socket, dual stack. Real Windows, Linux and macOS accept them.
//! Wine does not (it refuses IPV6_V6ONLY on an IPv4 socket and IP_RECVECN with
//! WSAENOPROTOOPT or WSAEOPNOTSUPP: 10042, 10045), and there quinn could not open an endpoint at all.
//!
//! So [`endpoint`] first gives the socket to quinn as usual, and only where
//! that set-up fails runs the endpoint on [`PlainUdpSocket`]: one datagram per
//! call through tokio, no ECN, no offload. It is slower per packet but speaks
//! the same QUIC; the hosts that take the fast path never see it.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, EndpointConfig, Runtime, ServerConfig, UdpPoller};

/// Which socket layer an endpoint runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketPath {
    /// quinn's own (quinn-udp), with its offloads.
    Fast,
    /// [`PlainUdpSocket`], because quinn's set-up of the socket failed.
    Plain,
}

/// Opens a QUIC endpoint on `socket`: quinn's fast path where the system
/// accepts it, otherwise [`PlainUdpSocket`]. Says which it took and, for the
/// plain path, why.
pub fn endpoint(
    config: EndpointConfig,
    server: Option<ServerConfig>,
    socket: UdpSocket,
) -> io::Result<(quinn::Endpoint, SocketPath, Option<io::Error>)> {
    let runtime = runtime()?;
    let (wrapped, path, reason) = match runtime.wrap_udp_socket(socket.try_clone()?) {
        Ok(fast) => (fast, SocketPath::Fast, None),
        Err(reason) => {
            let plain: Arc<dyn AsyncUdpSocket> = Arc::new(PlainUdpSocket::new(socket)?);
            (plain, SocketPath::Plain, Some(reason))
        }
    };
    let endpoint = quinn::Endpoint::new_with_abstract_socket(config, server, wrapped, runtime)?;
    Ok((endpoint, path, reason))
}

/// Binds a UDP socket on `address` and opens an endpoint on it as [`endpoint`]
/// does: a server with `server`, a client without.
pub fn bind(address: SocketAddr, server: Option<ServerConfig>) -> io::Result<quinn::Endpoint> {
    let socket = UdpSocket::bind(address)?;
    endpoint(EndpointConfig::default(), server, socket).map(|(endpoint, _, _)| endpoint)
}

fn runtime() -> io::Result<Arc<dyn Runtime>> {
    quinn::default_runtime()
        .ok_or_else(|| io::Error::other("no async runtime to run the endpoint on (outside tokio)"))
}

/// A UDP socket for quinn without any of quinn-udp's options: each datagram
/// sent and received on its own through tokio.
pub struct PlainUdpSocket {
    io: tokio::net::UdpSocket,
}

impl PlainUdpSocket {
    /// Takes over `socket` (made non-blocking here); needs a tokio runtime.
    pub fn new(socket: UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(Self {
            io: tokio::net::UdpSocket::from_std(socket)?,
        })
    }
}

impl fmt::Debug for PlainUdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainUdpSocket")
            .field("local", &self.io.local_addr().ok())
            .finish()
    }
}

impl AsyncUdpSocket for PlainUdpSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(Writable(self))
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        // max_transmit_segments is 1, so quinn sends one datagram a call;
        // split anyway should a batch ever arrive.
        let size = transmit
            .segment_size
            .unwrap_or(transmit.contents.len())
            .max(1);
        for datagram in transmit.contents.chunks(size) {
            match self.io.try_send_to(datagram, transmit.destination) {
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Err(error),
                // As quinn-udp does: a datagram that cannot go (no route, too
                // large) is lost like any other, not the end of the endpoint.
                Err(error) => {
                    tracing::debug!(
                        "a datagram to {} was not sent: {error}",
                        transmit.destination
                    );
                }
            }
        }
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let (Some(buf), Some(slot)) = (bufs.first_mut(), meta.first_mut()) else {
            return Poll::Ready(Ok(0));
        };
        loop {
            let mut read = tokio::io::ReadBuf::new(&mut buf[..]);
            let addr = match self.io.poll_recv_from(cx, &mut read) {
                Poll::Ready(Ok(addr)) => addr,
                // Windows reports an ICMP "port unreachable" for an earlier
                // datagram, or a datagram cut short, on the next receive:
                // about one peer or one datagram, not the socket.
                Poll::Ready(Err(error)) if one_datagram_only(&error) => continue,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            };
            let len = read.filled().len();
            *slot = RecvMeta {
                addr,
                len,
                stride: len,
                ecn: None,
                dst_ip: None,
            };
            return Poll::Ready(Ok(1));
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }
}

/// A receive error that concerns one peer or one datagram: connection reset
/// (WSAECONNRESET, an ICMP answer), WSAENETRESET, WSAEMSGSIZE.
fn one_datagram_only(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::ConnectionReset
        || matches!(error.raw_os_error(), Some(10040 | 10052)) && cfg!(windows)
}

/// Tells quinn when the socket can take the next datagram.
#[derive(Debug)]
struct Writable(Arc<PlainUdpSocket>);

impl UdpPoller for Writable {
    fn poll_writable(self: Pin<&mut Self>, cx: &mut Context) -> Poll<io::Result<()>> {
        self.0.io.poll_send_ready(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain path carries a whole QUIC connection: a client on a plain
    /// socket and a server on a plain socket exchange a stream both ways.
    #[tokio::test]
    async fn quic_runs_on_the_plain_socket() -> Result<(), Box<dyn std::error::Error>> {
        let key = rcgen::generate_simple_self_signed(vec!["plain.test".into()])?;
        let certificate = key.cert.der().clone();
        let private = rustls::pki_types::PrivateKeyDer::try_from(key.signing_key.serialize_der())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_tls = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(vec![certificate.clone()], private)?;
        let server_config = ServerConfig::with_crypto(Arc::new(
            quinn::crypto::rustls::QuicServerConfig::try_from(server_tls)?,
        ));
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certificate)?;
        let client_tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client_config = quinn::ClientConfig::new(Arc::new(
            quinn::crypto::rustls::QuicClientConfig::try_from(client_tls)?,
        ));

        let plain = |bind: &str| -> io::Result<quinn::Endpoint> {
            let socket = UdpSocket::bind(bind)?;
            let wrapped: Arc<dyn AsyncUdpSocket> = Arc::new(PlainUdpSocket::new(socket)?);
            quinn::Endpoint::new_with_abstract_socket(
                EndpointConfig::default(),
                None,
                wrapped,
                runtime()?,
            )
        };
        let server = plain("127.0.0.1:0")?;
        server.set_server_config(Some(server_config));
        let address = server.local_addr()?;
        let serving = tokio::spawn(async move {
            let connection = server.accept().await?.await.ok()?;
            let (mut send, mut recv) = connection.accept_bi().await.ok()?;
            let asked = recv.read_to_end(1 << 20).await.ok()?;
            send.write_all(&asked.iter().rev().copied().collect::<Vec<_>>())
                .await
                .ok()?;
            send.finish().ok()?;
            connection.closed().await;
            Some(asked.len())
        });

        let client = plain("127.0.0.1:0")?;
        let connection = client
            .connect_with(client_config, address, "plain.test")?
            .await?;
        let (mut send, mut recv) = connection.open_bi().await?;
        // Larger than one datagram, so it takes many packets each way.
        let message: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        send.write_all(&message).await?;
        send.finish()?;
        let answer = recv.read_to_end(1 << 20).await?;
        connection.close(0u32.into(), b"done");
        assert_eq!(answer.len(), message.len());
        assert!(answer.iter().eq(message.iter().rev()));
        assert_eq!(serving.await?, Some(message.len()));
        Ok(())
    }

    /// Where the system accepts quinn's options (this host), the fast path is taken.
    #[tokio::test]
    async fn the_fast_path_is_taken_where_quinn_can_set_up_its_socket() -> io::Result<()> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        let (endpoint, path, reason) = endpoint(EndpointConfig::default(), None, socket)?;
        if cfg!(windows) && reason.is_some() {
            // Under Wine quinn's set-up fails, which is what the plain path is for.
            assert_eq!(path, SocketPath::Plain);
        } else {
            assert_eq!(path, SocketPath::Fast, "{reason:?}");
        }
        assert!(endpoint.local_addr()?.port() > 0);
        Ok(())
    }
}
