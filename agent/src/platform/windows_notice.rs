//! The notice (R1) on a Windows desktop: the helper's own bar on every
//! monitor, which decides "shown", and the notification-area icon with a
//! balloon when something starts (pult-agent-windows' `notice`); the lock
//! screen and the teacher's broadcast on the same windows' thread.

use std::sync::Mutex;

use pult_agent_windows::broadcast::BroadcastShape;
use pult_agent_windows::notice::{LockText, Notice as Windows};
use pult_protocol::broadcast::BroadcastMode;
use pult_protocol::local::{BroadcastView, LockScreen, Notice, TeacherMessage};
use pult_screen::Frame;
use pult_screen::codec::TileRect;

use crate::helper::SessionDisplay;
use crate::notice_text::{
    Language, broadcast_title, describe, lock_heading, message_heading, title, worded,
};

/// The notice on this session's desktop.
pub struct WindowsNotice {
    windows: Windows,
    language: Language,
    last: Mutex<Option<String>>,
}

impl WindowsNotice {
    /// Starts the notice's windows in the system's language (the helper is
    /// SYSTEM and shows it to whoever is logged on); nothing is shown until asked.
    pub fn start() -> std::io::Result<Self> {
        let locale = pult_agent_windows::session::system_locale();
        Self::in_language(Language::from_locale(locale.as_deref()))
    }

    /// Starts the notice's windows speaking `language`.
    pub fn in_language(language: Language) -> std::io::Result<Self> {
        Ok(Self {
            windows: Windows::start(title(language))?,
            language,
            last: Mutex::new(None),
        })
    }
}

impl SessionDisplay for WindowsNotice {
    fn language(&self) -> Language {
        self.language
    }

    fn show(&self, notice: &Notice) -> Result<(), String> {
        let text = describe(notice, self.language);
        let mut last = self
            .last
            .lock()
            .map_err(|_| "the notice broke".to_owned())?;
        // A balloon when something starts, not on every change.
        let balloon = text.as_deref().filter(|_| last.is_none());
        self.windows.show(text.as_deref(), balloon)?;
        *last = text;
        Ok(())
    }

    fn message(&self, message: &TeacherMessage) -> Result<(), String> {
        let message = &worded(message, self.language);
        let heading = message_heading(message, self.language);
        let (title, text) = match &message.title {
            Some(title) => (title.clone(), format!("{heading}\n\n{}", message.text)),
            None => (heading, message.text.clone()),
        };
        pult_agent_windows::dialog::show_message(&title, &text)
    }

    fn lock(&self, lock: Option<&LockScreen>) -> Result<(), String> {
        let text = lock.map(|lock| LockText {
            heading: lock_heading(lock, self.language),
            message: lock.message.clone(),
        });
        let locked = self.windows.lock(text)?;
        if lock.is_some() && !locked.input_blocked {
            // Wine has no BlockInput; on Windows it fails only without the
            // rights the helper has. The lock window still has the keyboard.
            tracing::warn!("keyboard and mouse could not be blocked (BlockInput failed)");
        }
        Ok(())
    }

    fn broadcast(&self, view: Option<&BroadcastView>) -> Result<(), String> {
        let shape = view.map(|view| BroadcastShape {
            full_screen: view.mode == BroadcastMode::FullScreen,
            title: broadcast_title(view, self.language),
        });
        let full_screen = shape.as_ref().is_some_and(|s| s.full_screen);
        let shown = self.windows.broadcast(shape)?;
        if full_screen && !shown.input_blocked {
            // As for the lock: Wine has no BlockInput; the broadcast still
            // has the foreground, so typing reaches it, not the programs.
            tracing::warn!("keyboard and mouse could not be blocked (BlockInput failed)");
        }
        Ok(())
    }

    fn broadcast_picture(&self, picture: &Frame, changed: TileRect) -> Result<(), String> {
        self.windows.broadcast_picture(picture, changed)
    }
}
