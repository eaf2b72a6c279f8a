//! The words of the notice (R1), in German or English after the session's
//! language.

use pult_protocol::local::{Activity, Notice};

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

/// The sentence that tells the student what is happening; `None` when
/// nothing is. "Ihr Bildschirm wird angesehen von mueller (Raum 101)".
pub fn describe(notice: &Notice, language: Language) -> Option<String> {
    let parts: Vec<String> = notice
        .entries
        .iter()
        .map(|entry| {
            let Activity::Viewing = entry.activity;
            match language {
                Language::German => format!("{} (Raum {})", entry.teacher, entry.room),
                Language::English => format!("{} (room {})", entry.teacher, entry.room),
            }
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    let who = match language {
        Language::German => parts.join(" und "),
        Language::English => parts.join(" and "),
    };
    Some(match language {
        Language::German => format!("Ihr Bildschirm wird angesehen von {who}"),
        Language::English => format!("Your screen is being viewed by {who}"),
    })
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
        assert_eq!(Language::from_locale(None), Language::English);
        let lookup = |name: &str| (name == "LANG").then(|| "de_AT.UTF-8".to_owned());
        assert_eq!(Language::from_environment(lookup), Language::German);
    }
}
