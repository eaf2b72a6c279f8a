//! Screen streams on the console side: credit returned for every update the
//! caller has taken, settings changed on the live stream.

use std::sync::Arc;
use std::time::Duration;

use pult_protocol::frame::{FrameKind, read_frame, write_message};
use pult_protocol::message::{Reply, Request};
use pult_protocol::watch::{ScreenUpdate, TileEncoding, WatchControl, WatchSettings};
use pult_screen::codec::{EncodedFrame, EncodedTile, TileFormat, TileRect};
use quinn::{RecvStream, SendStream};
use tokio::sync::Mutex;

use crate::ConsoleError;
use crate::session::Link;

/// A live screen stream from one device.
pub struct ScreenStream {
    link: Link,
    control: StreamControl,
    recv: RecvStream,
    /// An update was handed out and its credit not yet returned.
    owed_credit: bool,
}

/// Changes or ends a screen stream from anywhere, while another task reads it.
#[derive(Clone)]
pub struct StreamControl {
    link: Link,
    send: Arc<Mutex<SendStream>>,
}

impl StreamControl {
    /// Changes size, frame rate, quality or monitor from the next update on.
    pub async fn adjust(&self, settings: WatchSettings) -> Result<(), ConsoleError> {
        self.send(&WatchControl::Adjust(settings)).await
    }

    /// Ends the stream; the agent stops capturing for it.
    pub async fn stop(&self) {
        let _ = self.send.lock().await.finish();
    }

    async fn send(&self, message: &WatchControl) -> Result<(), ConsoleError> {
        let written = write_message(&mut *self.send.lock().await, message).await;
        self.link.check(written)
    }
}

impl ScreenStream {
    pub(crate) async fn open(
        link: Link,
        settings: WatchSettings,
        credit: u16,
    ) -> Result<Self, ConsoleError> {
        let (mut send, recv, _) = link.open_stream().await?;
        let request = Request::Watch {
            settings,
            credit: credit.max(1),
        };
        link.check(write_message(&mut send, &request).await)?;
        Ok(Self {
            control: StreamControl {
                link: link.clone(),
                send: Arc::new(Mutex::new(send)),
            },
            link,
            recv,
            owed_credit: false,
        })
    }

    /// The next update; `Ok(None)` when the agent ended the stream. Calling it
    /// again returns the credit of the previous update: a caller that stops
    /// calling stops the agent.
    pub async fn next_update(&mut self) -> Result<Option<ScreenUpdate>, ConsoleError> {
        if std::mem::take(&mut self.owed_credit) {
            self.control.send(&WatchControl::Credit(1)).await?;
        }
        let Some(frame) = self.link.check(read_frame(&mut self.recv).await)? else {
            return Ok(None);
        };
        if frame.kind == FrameKind::Reply {
            let reply = self.link.check(frame.decode::<Reply>())?;
            return Err(self.link.unexpected(reply));
        }
        let update = self.link.check(frame.decode::<ScreenUpdate>())?;
        self.owed_credit = true;
        Ok(Some(update))
    }

    /// Changes size, frame rate, quality or monitor from the next update on.
    pub async fn adjust(&mut self, settings: WatchSettings) -> Result<(), ConsoleError> {
        self.control.adjust(settings).await
    }

    /// A handle to change or end the stream from another task.
    pub fn control(&self) -> StreamControl {
        self.control.clone()
    }

    /// The connection's current round-trip time.
    pub fn rtt(&self) -> Duration {
        self.link.connection.rtt()
    }

    /// Bytes received on this stream's connection so far, in UDP datagrams.
    pub fn bytes_received(&self) -> u64 {
        self.link.connection.stats().udp_rx.bytes
    }

    /// Ends the stream; the agent stops capturing for it.
    pub async fn stop(self) {
        self.control.stop().await;
    }
}

/// The tiles of an update as the screen codec's encoded frame, to decode.
pub fn encoded_frame(update: ScreenUpdate) -> EncodedFrame {
    EncodedFrame {
        width: update.width,
        height: update.height,
        tiles: update
            .tiles
            .into_iter()
            .map(|tile| EncodedTile {
                rect: TileRect {
                    x: tile.x,
                    y: tile.y,
                    width: tile.width,
                    height: tile.height,
                },
                format: match tile.encoding {
                    TileEncoding::Png => TileFormat::Png,
                    TileEncoding::Jpeg => TileFormat::Jpeg,
                },
                data: tile.data,
            })
            .collect(),
    }
}
