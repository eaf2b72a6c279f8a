//! A hostile agent: a real device certificate and the real protocol, but
//! pictures a console must refuse, and screenshots held until the test lets
//! them go. It runs as tasks in the test's own tokio runtime.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use pult_protocol::credentials::{
    CA_CERTIFICATE_FILE, DEVICE_CERTIFICATE_FILE, DEVICE_KEY_FILE, DEVICE_MANIFEST_FILE,
    DeviceManifest,
};
use pult_protocol::endpoint::AgentTls;
use pult_protocol::files::{FileEntry, FilesNews};
use pult_protocol::frame::{read_message, write_message};
use pult_protocol::message::{AgentStatus, Feature, Hello, Reply, Request, Screenshot};
use pult_protocol::watch::{ScreenTile, ScreenUpdate, TileEncoding, WatchControl, WatchSettings};
use pult_screen::{Frame, encode_png};
use quinn::{RecvStream, SendStream};
use tokio::sync::{Semaphore, watch};

/// What the agent sends on a screen stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamBehaviour {
    /// One honest 64×64 picture, then nothing.
    Honest,
    /// A picture of 4000×3000 whatever was asked.
    Oversized,
    /// A 64×64 picture with a tile reaching beyond its right edge.
    TileOutOfBounds,
    /// A 64×64 picture whose one PNG tile claims 20,000×20,000 pixels.
    HugePngTile,
}

/// What the agent answers to a screenshot request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScreenshotBehaviour {
    /// An honest 64×64 PNG.
    Honest,
    /// A PNG header alone, claiming 20,000×20,000 pixels.
    HugeHeader,
    /// 150 MB: a PNG header claiming 20,000×20,000 pixels, then garbage.
    Huge150Mb,
}

/// The hand-in folder the hostile agent claims when collected from: names
/// that climb out, absolute paths, a name that is another's but for case,
/// and one honest file.
pub const HOSTILE_HAND_IN: [(&str, &[u8]); 7] = [
    ("../../x", b"climbs out"),
    ("Aufgabe/../../../y", b"climbs out too"),
    ("/tmp/pult-hostile-absolute", b"absolute"),
    ("C:\\Windows\\evil.dll", b"a drive"),
    ("ehrlich.txt", b"an honest hand-in"),
    ("EHRLICH.TXT", b"the same name but for case"),
    ("nul.txt", b"a device on Windows"),
];

/// The size the hostile agent's honest pictures have.
pub const HONEST_SIZE: u32 = 64;

struct Behaviour {
    stream: StreamBehaviour,
    screenshot: ScreenshotBehaviour,
}

/// A running hostile agent; it stops when dropped.
pub struct HostileAgent {
    /// Where it listens (the address in its bundle).
    pub address: SocketAddr,
    behaviour: Arc<Mutex<Behaviour>>,
    /// Permits to answer a screenshot; `None` answers at once.
    gate: Arc<Mutex<Option<Arc<Semaphore>>>>,
    screenshots_asked: watch::Sender<usize>,
    connections: Arc<Mutex<Vec<quinn::Connection>>>,
    endpoint: quinn::Endpoint,
}

impl HostileAgent {
    /// Starts the agent of `bundle` (from `School::agent_bundle`) on its
    /// registered address; it behaves honestly until told otherwise.
    pub fn start(bundle: &Path) -> Self {
        let read = |name: &str| std::fs::read_to_string(bundle.join(name)).unwrap();
        let manifest: DeviceManifest = serde_json::from_str(&read(DEVICE_MANIFEST_FILE)).unwrap();
        let tls = AgentTls::new(
            manifest.uuid,
            &read(CA_CERTIFICATE_FILE),
            &read(DEVICE_CERTIFICATE_FILE),
            &read(DEVICE_KEY_FILE),
        )
        .unwrap();
        let address = manifest
            .listen
            .expect("the device needs an address in the registry")
            .socket_addr();
        let endpoint = tls.endpoint(address).unwrap();
        let agent = Self {
            address,
            behaviour: Arc::new(Mutex::new(Behaviour {
                stream: StreamBehaviour::Honest,
                screenshot: ScreenshotBehaviour::Honest,
            })),
            gate: Arc::default(),
            screenshots_asked: watch::Sender::new(0),
            connections: Arc::default(),
            endpoint: endpoint.clone(),
        };
        let connections = agent.connections.clone();
        let shared = Shared {
            behaviour: agent.behaviour.clone(),
            gate: agent.gate.clone(),
            screenshots_asked: agent.screenshots_asked.clone(),
        };
        tokio::spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                let (config, _) = tls.connection_config().unwrap();
                let Ok(connecting) = incoming.accept_with(Arc::new(config)) else {
                    continue;
                };
                let (shared, connections) = (shared.clone(), connections.clone());
                tokio::spawn(async move {
                    let Ok(connection) = connecting.await else {
                        return;
                    };
                    connections.lock().unwrap().push(connection.clone());
                    while let Ok((send, recv)) = connection.accept_bi().await {
                        tokio::spawn(serve_stream(send, recv, shared.clone()));
                    }
                });
            }
        });
        agent
    }

    /// What to send on screen streams opened from now on.
    pub fn set_stream(&self, stream: StreamBehaviour) {
        self.behaviour.lock().unwrap().stream = stream;
    }

    /// Closes every connection, so consoles connect anew.
    pub fn drop_connections(&self) {
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.close(0u32.into(), b"dropped");
        }
    }

    /// What to answer to screenshot requests from now on.
    pub fn set_screenshot(&self, screenshot: ScreenshotBehaviour) {
        self.behaviour.lock().unwrap().screenshot = screenshot;
    }

    /// Holds every screenshot request from now on until [`Self::release_screenshot`].
    pub fn hold_screenshots(&self) {
        *self.gate.lock().unwrap() = Some(Arc::new(Semaphore::new(0)));
    }

    /// Lets one held screenshot request be answered.
    pub fn release_screenshot(&self) {
        if let Some(gate) = &*self.gate.lock().unwrap() {
            gate.add_permits(1);
        }
    }

    /// Waits until `count` screenshot requests have reached the agent in all.
    pub async fn screenshots_asked(&self, count: usize) {
        let mut asked = self.screenshots_asked.subscribe();
        let _ = asked.wait_for(|asked| *asked >= count).await;
    }
}

impl Drop for HostileAgent {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"bye");
    }
}

#[derive(Clone)]
struct Shared {
    behaviour: Arc<Mutex<Behaviour>>,
    gate: Arc<Mutex<Option<Arc<Semaphore>>>>,
    screenshots_asked: watch::Sender<usize>,
}

async fn serve_stream(mut send: SendStream, mut recv: RecvStream, shared: Shared) {
    if !matches!(read_message::<Hello>(&mut recv).await, Ok(Some(_))) {
        return;
    }
    let hello = Hello::current("hostile-agent", &Feature::ALL);
    if write_message(&mut send, &hello).await.is_err() {
        return;
    }
    while let Ok(Some(request)) = read_message::<Request>(&mut recv).await {
        let written = match request {
            Request::Status => {
                let status = AgentStatus {
                    user: Some("mallory".into()),
                    watched: false,
                    monitors: vec![(HONEST_SIZE, HONEST_SIZE)],
                    locked: None,
                };
                write_message(&mut send, &Reply::Status(status)).await
            }
            Request::Screenshot => {
                shared.screenshots_asked.send_modify(|asked| *asked += 1);
                let gate = shared.gate.lock().unwrap().clone();
                if let Some(gate) = gate {
                    gate.acquire().await.unwrap().forget();
                }
                let behaviour = shared.behaviour.lock().unwrap().screenshot;
                write_message(&mut send, &screenshot(behaviour)).await
            }
            Request::Watch { settings, .. } => {
                let behaviour = shared.behaviour.lock().unwrap().stream;
                return serve_watch(send, recv, settings, behaviour).await;
            }
            Request::CollectFiles { .. } => {
                let listing = FilesNews::Listing {
                    batch: 1,
                    folder: "/home/mallory/Desktop/Abgabe".into(),
                    files: HOSTILE_HAND_IN
                        .iter()
                        .map(|(path, bytes)| FileEntry {
                            path: (*path).into(),
                            size: bytes.len() as u64,
                        })
                        .collect(),
                    skipped: 0,
                };
                if write_message(&mut send, &listing).await.is_err() {
                    return;
                }
                // Until the console is done fetching.
                while let Ok(Some(_)) = read_message::<Request>(&mut recv).await {}
                let _ = write_message(&mut send, &FilesNews::Finished { stored: 0 }).await;
                let _ = send.finish();
                return;
            }
            Request::FetchFile { index, .. } => {
                // Whatever was asked for, the bytes and hash of the file listed there.
                let Some((_, bytes)) = HOSTILE_HAND_IN.get(index as usize) else {
                    return;
                };
                let _ = write_message(&mut send, &Reply::Done).await;
                let _ = send.write_all(bytes).await;
                let _ = send.write_all(blake3::hash(bytes).as_bytes()).await;
                let _ = send.finish();
                return;
            }
            _ => write_message(&mut send, &Reply::Done).await,
        };
        if written.is_err() {
            return;
        }
    }
    let _ = send.finish();
}

/// Sends one update as `behaviour` says, then reads controls until the console ends the stream.
async fn serve_watch(
    mut send: SendStream,
    mut recv: RecvStream,
    settings: WatchSettings,
    behaviour: StreamBehaviour,
) {
    let tile = |x: u32, data: Vec<u8>| ScreenTile {
        x,
        y: 0,
        width: HONEST_SIZE,
        height: HONEST_SIZE,
        encoding: TileEncoding::Png,
        data,
    };
    let honest_png =
        encode_png(&Frame::filled(HONEST_SIZE, HONEST_SIZE, [30, 90, 200, 255])).unwrap();
    let (width, height, tiles) = match behaviour {
        StreamBehaviour::Honest => (HONEST_SIZE, HONEST_SIZE, vec![tile(0, honest_png)]),
        StreamBehaviour::Oversized => (
            settings.max_width.saturating_mul(2).max(4000),
            settings.max_height.saturating_mul(2).max(3000),
            Vec::new(),
        ),
        StreamBehaviour::TileOutOfBounds => (
            HONEST_SIZE,
            HONEST_SIZE,
            vec![tile(HONEST_SIZE / 2, honest_png)],
        ),
        StreamBehaviour::HugePngTile => (
            HONEST_SIZE,
            HONEST_SIZE,
            vec![tile(0, png_header(20_000, 20_000))],
        ),
    };
    let update = ScreenUpdate {
        sequence: 1,
        width,
        height,
        captured_at_micros: 0,
        agent_micros: 0,
        tiles,
    };
    if write_message(&mut send, &update).await.is_err() {
        return;
    }
    while let Ok(Some(_)) = read_message::<WatchControl>(&mut recv).await {}
    let _ = send.finish();
}

fn screenshot(behaviour: ScreenshotBehaviour) -> Screenshot {
    match behaviour {
        ScreenshotBehaviour::Honest => Screenshot {
            width: HONEST_SIZE,
            height: HONEST_SIZE,
            png: encode_png(&Frame::filled(HONEST_SIZE, HONEST_SIZE, [200, 90, 30, 255])).unwrap(),
        },
        ScreenshotBehaviour::HugeHeader => Screenshot {
            width: 20_000,
            height: 20_000,
            png: png_header(20_000, 20_000),
        },
        ScreenshotBehaviour::Huge150Mb => {
            let mut png = png_header(20_000, 20_000);
            png.resize(150_000_000, 0x5a);
            Screenshot {
                width: 20_000,
                height: 20_000,
                png,
            }
        }
    }
}

/// The start of a PNG file, signature and header chunk (with its CRC), that
/// claims `width` × `height` RGBA pixels.
pub fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut chunk = b"IHDR".to_vec();
    chunk.extend(width.to_be_bytes());
    chunk.extend(height.to_be_bytes());
    chunk.extend([8, 6, 0, 0, 0]);
    let mut png = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    png.extend(13u32.to_be_bytes());
    png.extend(&chunk);
    png.extend(crc32(&chunk).to_be_bytes());
    png
}

/// The CRC-32 of PNG chunks (ISO 3309), bit by bit: only a few bytes are summed.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
