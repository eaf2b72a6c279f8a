//! Screen streams on the console side: credit returned for every update the
//! caller has taken, settings changed on the live stream, and every update
//! checked before the caller sees it (the console trusts no agent).

use std::sync::Arc;
use std::time::Duration;

use pult_protocol::frame::{FrameKind, read_frame, write_message};
use pult_protocol::message::{Reply, Request};
use pult_protocol::watch::{ScreenUpdate, WatchControl, WatchSettings};
use pult_screen::inspect::{PictureSize, check_update};
use pult_screen::wire::tile_views;
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
    /// The sending half, and what it has granted and asked for: kept under
    /// one lock so the allowance changes in the order the agent reads them.
    send: Arc<Mutex<(SendStream, SizeAllowance)>>,
}

impl StreamControl {
    /// Changes size, frame rate, quality or monitor from the next update on.
    pub async fn adjust(&self, settings: WatchSettings) -> Result<(), ConsoleError> {
        let mut sending = self.send.lock().await;
        let (send, allowance) = &mut *sending;
        allowance.adjusted(settings);
        let written = write_message(send, &WatchControl::Adjust(settings)).await;
        self.link.check(written)
    }

    /// Ends the stream; the agent stops capturing for it.
    pub async fn stop(&self) {
        let _ = self.send.lock().await.0.finish();
    }

    /// Returns one credit: the agent may send one more update.
    async fn return_credit(&self) -> Result<(), ConsoleError> {
        let mut sending = self.send.lock().await;
        let (send, allowance) = &mut *sending;
        allowance.granted(1);
        let written = write_message(send, &WatchControl::Credit(1)).await;
        self.link.check(written)
    }

    /// The largest picture the next update may be, counting it as arrived.
    async fn receive(&self) -> Result<PictureSize, ConsoleError> {
        self.send.lock().await.1.receive().ok_or_else(|| {
            self.link
                .protocol("the agent sent more screen updates than the console granted credit for")
        })
    }
}

/// The largest picture an agent may send at each point of a screen stream.
///
/// The agent scales to fit the settings in force, so an update larger than
/// them is refused. After an Adjust the updates the agent sent before it read
/// the Adjust are still on their way: at most as many as the console had
/// granted credit for and not yet received. For that many updates the larger
/// of the old and the new settings is allowed, then only the new ones. The
/// bound is exact (credit returned after the Adjust reaches the agent after
/// it), so it neither refuses an honest agent nor depends on timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SizeAllowance {
    /// What the settings in force allow.
    current: PictureSize,
    /// What earlier settings allowed, while their updates may still arrive.
    earlier: PictureSize,
    /// How many more updates may still be of earlier settings.
    grace: u64,
    /// Updates granted by credit and not yet received.
    in_flight: u64,
}

impl SizeAllowance {
    fn new(settings: WatchSettings, credit: u16) -> Self {
        let current = allowed_size(settings);
        Self {
            current,
            earlier: current,
            grace: 0,
            in_flight: u64::from(credit),
        }
    }

    /// `count` credits were returned to the agent.
    fn granted(&mut self, count: u16) {
        self.in_flight += u64::from(count);
    }

    /// New settings were sent to the agent.
    fn adjusted(&mut self, settings: WatchSettings) {
        self.earlier = if self.grace > 0 {
            self.earlier.union(self.current)
        } else {
            self.current
        };
        self.current = allowed_size(settings);
        self.grace = self.in_flight;
    }

    /// An update arrived: the largest picture it may be, or `None` if the
    /// agent had no credit for it.
    fn receive(&mut self) -> Option<PictureSize> {
        self.in_flight = self.in_flight.checked_sub(1)?;
        if self.grace > 0 {
            self.grace -= 1;
            Some(self.current.union(self.earlier))
        } else {
            Some(self.current)
        }
    }
}

/// The largest picture `settings` ask for, as the agent reads them.
fn allowed_size(settings: WatchSettings) -> PictureSize {
    let settings = settings.clamped();
    PictureSize::new(settings.max_width, settings.max_height)
}

impl ScreenStream {
    pub(crate) async fn open(
        link: Link,
        settings: WatchSettings,
        credit: u16,
    ) -> Result<Self, ConsoleError> {
        let (mut send, recv, _) = link.open_stream().await?;
        let credit = credit.max(1);
        let request = Request::Watch { settings, credit };
        link.check(write_message(&mut send, &request).await)?;
        Ok(Self {
            control: StreamControl {
                link: link.clone(),
                send: Arc::new(Mutex::new((send, SizeAllowance::new(settings, credit)))),
            },
            link,
            recv,
            owed_credit: false,
        })
    }

    /// The next update; `Ok(None)` when the agent ended the stream. Calling it
    /// again returns the credit of the previous update: a caller that stops
    /// calling stops the agent.
    ///
    /// Every update is checked first ([`pult_screen::inspect::check_update`]):
    /// one that breaks the rules is an error, and the stream should end.
    pub async fn next_update(&mut self) -> Result<Option<ScreenUpdate>, ConsoleError> {
        if std::mem::take(&mut self.owed_credit) {
            self.control.return_credit().await?;
        }
        let Some(frame) = self.link.check(read_frame(&mut self.recv).await)? else {
            return Ok(None);
        };
        if frame.kind == FrameKind::Reply {
            let reply = self.link.check(frame.decode::<Reply>())?;
            return Err(self.link.unexpected(reply));
        }
        let update = self.link.check(frame.decode::<ScreenUpdate>())?;
        let allowed = self.control.receive().await?;
        check_update(
            PictureSize::new(update.width, update.height),
            tile_views(&update.tiles),
            allowed,
        )
        .map_err(|problem| ConsoleError::BadPicture {
            device: self.link.device.name.clone(),
            problem,
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_width: u32, max_height: u32) -> WatchSettings {
        WatchSettings {
            max_width,
            max_height,
            ..WatchSettings::THUMBNAIL
        }
    }

    #[test]
    fn updates_may_be_as_large_as_asked_and_no_more_than_credit() {
        let mut allowance = SizeAllowance::new(settings(320, 180), 2);
        assert_eq!(allowance.receive(), Some(PictureSize::new(320, 180)));
        assert_eq!(allowance.receive(), Some(PictureSize::new(320, 180)));
        assert_eq!(allowance.receive(), None, "a third update without credit");
        allowance.granted(1);
        assert_eq!(allowance.receive(), Some(PictureSize::new(320, 180)));
    }

    #[test]
    fn after_an_adjust_the_updates_in_flight_may_still_be_of_the_old_size() {
        let full = PictureSize::new(1920, 1080);
        let thumbnail = PictureSize::new(320, 180);
        let mut allowance = SizeAllowance::new(settings(1920, 1080), 2);
        assert_eq!(allowance.receive(), Some(full));
        allowance.granted(1);
        // Two updates are in flight when the Adjust goes out: both may be old.
        allowance.adjusted(settings(320, 180));
        allowance.granted(1);
        assert_eq!(allowance.receive(), Some(full));
        assert_eq!(allowance.receive(), Some(full));
        // The credit returned after the Adjust buys only new pictures.
        assert_eq!(allowance.receive(), Some(thumbnail));
        allowance.granted(2);
        assert_eq!(allowance.receive(), Some(thumbnail));
    }

    #[test]
    fn adjusts_in_a_row_allow_every_size_still_in_flight() {
        let mut allowance = SizeAllowance::new(settings(1920, 1080), 3);
        allowance.adjusted(settings(320, 180));
        assert_eq!(allowance.receive(), Some(PictureSize::new(1920, 1080)));
        allowance.adjusted(settings(640, 100));
        assert_eq!(allowance.receive(), Some(PictureSize::new(1920, 1080)));
        assert_eq!(allowance.receive(), Some(PictureSize::new(1920, 1080)));
        allowance.granted(1);
        assert_eq!(allowance.receive(), Some(PictureSize::new(640, 100)));
    }

    #[test]
    fn sizes_are_read_as_the_agent_clamps_them() {
        let mut allowance = SizeAllowance::new(settings(0, 1_000_000), 1);
        assert_eq!(allowance.receive(), Some(PictureSize::new(16, 16_384)));
    }
}
