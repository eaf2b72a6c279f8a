//! The notice on the student's D-Bus session bus (R1): a desktop notification
//! when something starts, and a tray icon (StatusNotifierItem) whose tooltip
//! says who does what, for as long as it lasts.
//!
//! A session bus admits only its own user, so this part runs as a small
//! process of the student's (`pult-agent notice-bridge`), started by the
//! helper. It reads one line per change on standard input — the notice's
//! text, or an empty line for "nothing" — and ends with its input. If the
//! student ends it, the bar the helper draws itself stays, and the helper
//! starts the bridge again.

use std::collections::HashMap;
use std::io::BufRead;

use zbus::zvariant::Value;

/// The tray item's object path, as StatusNotifierItem hosts expect it.
const ITEM_PATH: &str = "/StatusNotifierItem";

/// Runs the bridge until standard input ends.
pub fn run(title: String) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (lines, mut texts) = tokio::sync::mpsc::channel::<String>(16);
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if lines.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        let bus = zbus::Connection::session().await?;
        let mut bridge = Bridge {
            bus,
            title,
            shown: None,
            notification: None,
            tray: None,
        };
        while let Some(text) = texts.recv().await {
            let text = Some(text.trim().to_owned()).filter(|t| !t.is_empty());
            if let Err(error) = bridge.show(text).await {
                eprintln!("pult-agent notice-bridge: {error}");
            }
        }
        bridge.show(None).await?;
        Ok(())
    })
}

struct Bridge {
    bus: zbus::Connection,
    title: String,
    /// The words shown now.
    shown: Option<String>,
    /// The id of the notification on screen.
    notification: Option<u32>,
    /// The tray item's own connection: closing it removes the item.
    tray: Option<(zbus::Connection, String)>,
}

impl Bridge {
    async fn show(&mut self, text: Option<String>) -> zbus::Result<()> {
        let Some(text) = text else {
            self.shown = None;
            if let Some(id) = self.notification.take() {
                let _ = self.notifications("CloseNotification", &(id,)).await;
            }
            if let Some((tray, _)) = self.tray.take() {
                let _ = tray.close().await;
            }
            return Ok(());
        };
        // The same words again (the service shows the notice at every
        // change of state) are no new notification.
        if self.shown.as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        self.shown = Some(text.clone());
        // A notification when it starts or changes (another teacher).
        let hints: HashMap<&str, Value<'_>> = HashMap::from([("urgency", Value::U8(1))]);
        let reply = self
            .notifications(
                "Notify",
                &(
                    "Pult",
                    self.notification.unwrap_or(0),
                    "camera-web",
                    self.title.as_str(),
                    text.as_str(),
                    Vec::<&str>::new(),
                    hints,
                    -1i32,
                ),
            )
            .await;
        match reply {
            Ok(message) => self.notification = message.body().deserialize::<u32>().ok(),
            Err(error) => eprintln!("pult-agent notice-bridge: no desktop notification: {error}"),
        }
        match &mut self.tray {
            Some((tray, shown)) => {
                *shown = text.clone();
                let item = tray
                    .object_server()
                    .interface::<_, TrayItem>(ITEM_PATH)
                    .await?;
                item.get_mut().await.tooltip = text;
                TrayItem::new_tool_tip(item.signal_emitter()).await?;
                TrayItem::new_title(item.signal_emitter()).await?;
            }
            None => match self.register_tray(&text).await {
                Ok(tray) => self.tray = Some((tray, text)),
                Err(error) => eprintln!("pult-agent notice-bridge: no tray icon: {error}"),
            },
        }
        Ok(())
    }

    async fn notifications<B>(&self, method: &str, body: &B) -> zbus::Result<zbus::Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.bus
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                method,
                body,
            )
            .await
    }

    async fn register_tray(&self, text: &str) -> zbus::Result<zbus::Connection> {
        let name = format!("org.kde.StatusNotifierItem-{}-1", std::process::id());
        let item = TrayItem {
            title: self.title.clone(),
            tooltip: text.to_owned(),
        };
        let tray = zbus::connection::Builder::session()?
            .name(name.as_str())?
            .serve_at(ITEM_PATH, item)?
            .build()
            .await?;
        tray.call_method(
            Some("org.kde.StatusNotifierWatcher"),
            "/StatusNotifierWatcher",
            Some("org.kde.StatusNotifierWatcher"),
            "RegisterStatusNotifierItem",
            &(name.as_str(),),
        )
        .await?;
        Ok(tray)
    }
}

/// The tray item; a module of its own because zbus's macro adds
/// undocumented helpers that the crate's `missing_docs` would flag.
mod tray {
    #![allow(missing_docs)]

    use zbus::object_server::SignalEmitter;

    use super::dot;

    /// The tray item: an icon that needs attention, with the notice as tooltip.
    pub(super) struct TrayItem {
        pub(super) title: String,
        pub(super) tooltip: String,
    }

    /// An icon as (width, height, ARGB32 in network byte order).
    pub(super) type Pixmap = (i32, i32, Vec<u8>);

    #[zbus::interface(name = "org.kde.StatusNotifierItem")]
    impl TrayItem {
        #[zbus(property)]
        fn category(&self) -> &str {
            "ApplicationStatus"
        }

        #[zbus(property)]
        fn id(&self) -> &str {
            "pult"
        }

        #[zbus(property)]
        fn title(&self) -> String {
            self.title.clone()
        }

        #[zbus(property)]
        fn status(&self) -> &str {
            "NeedsAttention"
        }

        #[zbus(property)]
        fn icon_name(&self) -> &str {
            "camera-web"
        }

        /// A red dot, for hosts without the icon theme.
        #[zbus(property)]
        fn icon_pixmap(&self) -> Vec<Pixmap> {
            vec![dot(22)]
        }

        #[zbus(property)]
        fn tool_tip(&self) -> (String, Vec<Pixmap>, String, String) {
            (
                "camera-web".into(),
                Vec::new(),
                self.title.clone(),
                self.tooltip.clone(),
            )
        }

        #[zbus(property)]
        fn item_is_menu(&self) -> bool {
            false
        }

        fn activate(&self, _x: i32, _y: i32) {}

        fn secondary_activate(&self, _x: i32, _y: i32) {}

        fn context_menu(&self, _x: i32, _y: i32) {}

        fn scroll(&self, _delta: i32, _orientation: String) {}

        /// Tells the host that the tooltip changed.
        #[zbus(signal)]
        pub(super) async fn new_tool_tip(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

        /// Tells the host that the title changed.
        #[zbus(signal)]
        pub(super) async fn new_title(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;
    }
}

use tray::{Pixmap, TrayItem};

fn dot(size: i32) -> Pixmap {
    let radius = size as f32 / 2.0;
    let mut argb = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let dx = x as f32 + 0.5 - radius;
            let dy = y as f32 + 0.5 - radius;
            let inside = dx * dx + dy * dy <= (radius - 1.0) * (radius - 1.0);
            argb.extend_from_slice(if inside {
                &[0xFF, 0xB0, 0x00, 0x20]
            } else {
                &[0, 0, 0, 0]
            });
        }
    }
    (size, size, argb)
}
