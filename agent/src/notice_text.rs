//! The words of the notice (R1), in German or English after the session's
//! language.

use pult_protocol::local::{Activity, LockScreen, Notice, TeacherMessage};

/// The languages the notice speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// Deutsch.
    German,
    /// English.
    English,
}

impl Language {
    /// The language of a locale such as `LANG=de_DE.UTF-8`: German for `de`,
    /// English otherwise.
    pub fn from_locale(locale: Option<&str>) -> Self {
        match locale {
            Some(locale) if locale.starts_with("de") => Self::German,
            _ => Self::English,
        }
    }

    /// The session's language from its environment (LC_ALL, LC_MESSAGES, LANG).
    pub fn from_environment(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .into_iter()
            .find_map(|name| lookup(name).filter(|v| !v.is_empty()));
        Self::from_locale(locale.as_deref())
    }
}

/// The sentences that tell the student what is happening, one per activity;
/// `None` when nothing is. "Ihr Bildschirm wird angesehen von mueller (Raum
/// 101)", "Your screen is locked by mueller (room 101)".
pub fn describe(notice: &Notice, language: Language) -> Option<String> {
    let mut sentences = Vec::new();
    for activity in [Activity::Viewing, Activity::Controlled, Activity::Locked] {
        let parts: Vec<String> = notice
            .entries
            .iter()
            .filter(|entry| entry.activity == activity)
            .map(|entry| match language {
                Language::German => format!("{} (Raum {})", entry.teacher, entry.room),
                Language::English => format!("{} (room {})", entry.teacher, entry.room),
            })
            .collect();
        if parts.is_empty() {
            continue;
        }
        let who = match language {
            Language::German => parts.join(" und "),
            Language::English => parts.join(" and "),
        };
        sentences.push(match (language, activity) {
            (Language::German, Activity::Viewing) => {
                format!("Ihr Bildschirm wird angesehen von {who}")
            }
            (Language::English, Activity::Viewing) => {
                format!("Your screen is being viewed by {who}")
            }
            (Language::German, Activity::Locked) => {
                format!("Ihr Bildschirm ist gesperrt von {who}")
            }
            (Language::English, Activity::Locked) => format!("Your screen is locked by {who}"),
            (Language::German, Activity::Controlled) => {
                format!("Maus und Tastatur werden gesteuert von {who}")
            }
            (Language::English, Activity::Controlled) => {
                format!("Your mouse and keyboard are controlled by {who}")
            }
        });
    }
    (!sentences.is_empty()).then(|| sentences.join(" · "))
}

/// The lock screen's heading (R20): "Gesperrt von mueller (Raum 101)".
pub fn lock_heading(lock: &LockScreen, language: Language) -> String {
    match language {
        Language::German => format!("Gesperrt von {} (Raum {})", lock.teacher, lock.room),
        Language::English => format!("Locked by {} (room {})", lock.teacher, lock.room),
    }
}

/// Who a message is from: "Nachricht von mueller (Raum 101)".
pub fn message_heading(message: &TeacherMessage, language: Language) -> String {
    match language {
        Language::German => format!("Nachricht von {} (Raum {})", message.teacher, message.room),
        Language::English => format!("Message from {} (room {})", message.teacher, message.room),
    }
}

/// The label of the button that closes a message.
pub fn close_label(language: Language) -> &'static str {
    match language {
        Language::German => "Schließen",
        Language::English => "Close",
    }
}

/// The notice's title (the notification's summary, the tray item's title).
pub fn title(language: Language) -> &'static str {
    match language {
        Language::German => "Pult: Ihr Bildschirm wird angesehen",
        Language::English => "Pult: your screen is being viewed",
    }
}

#[cfg(test)]
mod tests {
    use pult_protocol::local::NoticeEntry;

    use super::*;

    #[test]
    fn r1_the_notice_names_teacher_and_room_in_the_sessions_language() {
        let notice = Notice {
            entries: vec![NoticeEntry {
                teacher: "mueller".into(),
                room: "101".into(),
                activity: Activity::Viewing,
            }],
        };
        let german = Language::from_locale(Some("de_DE.UTF-8"));
        assert_eq!(
            describe(&notice, german).unwrap(),
            "Ihr Bildschirm wird angesehen von mueller (Raum 101)"
        );
        assert_eq!(
            describe(&notice, Language::from_locale(Some("en_GB.UTF-8"))).unwrap(),
            "Your screen is being viewed by mueller (room 101)"
        );
        assert_eq!(describe(&Notice::default(), german), None);
        let locked_and_viewed = Notice {
            entries: vec![
                NoticeEntry {
                    teacher: "mueller".into(),
                    room: "101".into(),
                    activity: Activity::Viewing,
                },
                NoticeEntry {
                    teacher: "schmidt".into(),
                    room: "101".into(),
                    activity: Activity::Viewing,
                },
                NoticeEntry {
                    teacher: "mueller".into(),
                    room: "101".into(),
                    activity: Activity::Locked,
                },
            ],
        };
        assert_eq!(
            describe(&locked_and_viewed, german).unwrap(),
            "Ihr Bildschirm wird angesehen von mueller (Raum 101) und schmidt (Raum 101) · \
             Ihr Bildschirm ist gesperrt von mueller (Raum 101)"
        );
        assert_eq!(
            describe(&locked_and_viewed, Language::English).unwrap(),
            "Your screen is being viewed by mueller (room 101) and schmidt (room 101) · \
             Your screen is locked by mueller (room 101)"
        );
        assert_eq!(Language::from_locale(None), Language::English);
        let lookup = |name: &str| (name == "LANG").then(|| "de_AT.UTF-8".to_owned());
        assert_eq!(Language::from_environment(lookup), Language::German);
    }

    #[test]
    fn r3_the_notice_says_who_controls_mouse_and_keyboard() {
        let notice = Notice {
            entries: vec![
                NoticeEntry {
                    teacher: "mueller".into(),
                    room: "101".into(),
                    activity: Activity::Viewing,
                },
                NoticeEntry {
                    teacher: "mueller".into(),
                    room: "101".into(),
                    activity: Activity::Controlled,
                },
            ],
        };
        assert_eq!(
            describe(&notice, Language::German).unwrap(),
            "Ihr Bildschirm wird angesehen von mueller (Raum 101) · \
             Maus und Tastatur werden gesteuert von mueller (Raum 101)"
        );
        assert!(
            describe(&notice, Language::English)
                .unwrap()
                .ends_with("Your mouse and keyboard are controlled by mueller (room 101)")
        );
    }
}
