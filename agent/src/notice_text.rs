//! The words of the notice (R1), in German or English after the session's
//! language.

use pult_protocol::local::{
    Activity, BroadcastView, FilesNotice, LockScreen, Notice, PowerNotice, TeacherMessage,
};
use pult_protocol::power::PowerAction;

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
    for activity in [
        Activity::Viewing,
        Activity::Controlled,
        Activity::Locked,
        Activity::Broadcasting,
    ] {
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
            (Language::German, Activity::Broadcasting) => {
                format!("Übertragung der Lehrkraft: {who}")
            }
            (Language::English, Activity::Broadcasting) => format!("Teacher broadcast: {who}"),
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

/// The broadcast window's title (R7): "Übertragung der Lehrkraft – mueller (Raum 101)".
pub fn broadcast_title(view: &BroadcastView, language: Language) -> String {
    match language {
        Language::German => format!(
            "Übertragung der Lehrkraft – {} (Raum {})",
            view.teacher, view.room
        ),
        Language::English => format!("Teacher broadcast – {} (room {})", view.teacher, view.room),
    }
}

/// Who a message is from: "Nachricht von mueller (Raum 101)".
pub fn message_heading(message: &TeacherMessage, language: Language) -> String {
    match language {
        Language::German => format!("Nachricht von {} (Raum {})", message.teacher, message.room),
        Language::English => format!("Message from {} (room {})", message.teacher, message.room),
    }
}

/// The message as the student reads it: a power notice gets its title and
/// text in `language` ("Neustart in 60 Sekunden"); others are as they came.
pub fn worded(message: &TeacherMessage, language: Language) -> TeacherMessage {
    let Some(power) = message.power else {
        return message.clone();
    };
    let (title, text) = power_words(power, language);
    TeacherMessage {
        title: Some(title),
        text,
        ..message.clone()
    }
}

fn power_words(power: PowerNotice, language: Language) -> (String, String) {
    if power.cancelled {
        let title = match (language, power.action) {
            (Language::German, PowerAction::Reboot) => "Neustart abgesagt",
            (Language::German, PowerAction::Shutdown) => "Herunterfahren abgesagt",
            (Language::German, PowerAction::Logoff) => "Abmelden abgesagt",
            (Language::English, PowerAction::Reboot) => "Restart called off",
            (Language::English, PowerAction::Shutdown) => "Shutdown called off",
            (Language::English, PowerAction::Logoff) => "Log-off called off",
        };
        let text = match language {
            Language::German => "Sie können weiterarbeiten.",
            Language::English => "You can go on working.",
        };
        return (title.to_owned(), text.to_owned());
    }
    let seconds = power.seconds;
    let when = match (language, seconds) {
        (Language::German, 0) => "jetzt".to_owned(),
        (Language::German, 1..120) => format!("in {seconds} Sekunden"),
        (Language::German, _) => format!("in {} Minuten", seconds.div_ceil(60)),
        (Language::English, 0) => "now".to_owned(),
        (Language::English, 1..120) => format!("in {seconds} seconds"),
        (Language::English, _) => format!("in {} minutes", seconds.div_ceil(60)),
    };
    let save = match (language, seconds) {
        (_, 0) => "",
        (Language::German, _) => " Bitte speichern Sie jetzt Ihre Arbeit.",
        (Language::English, _) => " Please save your work now.",
    };
    let (title, sentence) = match (language, power.action) {
        (Language::German, PowerAction::Reboot) => (
            format!("Neustart {when}"),
            format!("Dieser Computer wird {when} neu gestartet."),
        ),
        (Language::German, PowerAction::Shutdown) => (
            format!("Herunterfahren {when}"),
            format!("Dieser Computer wird {when} heruntergefahren."),
        ),
        (Language::German, PowerAction::Logoff) => (
            format!("Abmelden {when}"),
            format!("Sie werden {when} abgemeldet."),
        ),
        (Language::English, PowerAction::Reboot) => (
            format!("Restart {when}"),
            format!("This computer restarts {when}."),
        ),
        (Language::English, PowerAction::Shutdown) => (
            format!("Shutdown {when}"),
            format!("This computer shuts down {when}."),
        ),
        (Language::English, PowerAction::Logoff) => (
            format!("Log-off {when}"),
            format!("You will be logged off {when}."),
        ),
    };
    (title, format!("{sentence}{save}"))
}

/// What the student reads about files (R6): which arrived from whom and
/// where they are, or which the teacher collected; the heading names the
/// teacher. At most twelve names, each cut to 60 characters.
pub fn files_message(files: &FilesNotice, language: Language) -> TeacherMessage {
    const LISTED: usize = 12;
    let count = files.files.len();
    let folder = cut(&files.folder, 120);
    // Only names and sizes seen, nothing taken: an access all the same.
    if !files.sent && count == 0 {
        let (title, text) = match language {
            Language::German => (
                "Ordner angesehen".to_owned(),
                format!(
                    "Die Lehrkraft hat die Dateien im Ordner „{folder}“ angesehen (Namen und Größen); eingesammelt wurde keine."
                ),
            ),
            Language::English => (
                "Folder looked at".to_owned(),
                format!(
                    "The teacher looked at the files in the folder “{folder}” (names and sizes); none was collected."
                ),
            ),
        };
        return TeacherMessage {
            teacher: files.teacher.clone(),
            room: files.room.clone(),
            title: Some(title),
            text,
            power: None,
        };
    }
    let title = match (language, files.sent, count) {
        (Language::German, true, 1) => "1 Datei erhalten".to_owned(),
        (Language::German, true, _) => format!("{count} Dateien erhalten"),
        (Language::German, false, 1) => "1 Datei eingesammelt".to_owned(),
        (Language::German, false, _) => format!("{count} Dateien eingesammelt"),
        (Language::English, true, 1) => "1 file received".to_owned(),
        (Language::English, true, _) => format!("{count} files received"),
        (Language::English, false, 1) => "1 file collected".to_owned(),
        (Language::English, false, _) => format!("{count} files collected"),
    };
    let mut text = match (language, files.sent) {
        (Language::German, true) => format!("Im Ordner „{folder}“:"),
        (Language::German, false) => format!("Aus dem Ordner „{folder}“:"),
        (Language::English, true) => format!("In the folder “{folder}”:"),
        (Language::English, false) => format!("From the folder “{folder}”:"),
    };
    for name in files.files.iter().take(LISTED) {
        text.push_str("\n• ");
        text.push_str(&cut(name, 60));
    }
    if count > LISTED {
        text.push_str(&match language {
            Language::German => format!("\n… und {} weitere", count - LISTED),
            Language::English => format!("\n… and {} more", count - LISTED),
        });
    }
    TeacherMessage {
        teacher: files.teacher.clone(),
        room: files.room.clone(),
        title: Some(title),
        text,
        power: None,
    }
}

/// `text` with at most `chars` characters, control characters left out.
fn cut(text: &str, chars: usize) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= chars {
        return clean;
    }
    let mut short: String = clean.chars().take(chars - 1).collect();
    short.push('…');
    short
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
    fn a_power_notice_is_worded_in_the_sessions_language() {
        let message = |action, seconds| TeacherMessage {
            teacher: "mueller".into(),
            room: "101".into(),
            title: None,
            text: String::new(),
            power: Some(PowerNotice {
                action,
                seconds,
                cancelled: false,
            }),
        };
        let german = worded(&message(PowerAction::Reboot, 60), Language::German);
        assert_eq!(german.title.as_deref(), Some("Neustart in 60 Sekunden"));
        assert_eq!(
            german.text,
            "Dieser Computer wird in 60 Sekunden neu gestartet. Bitte speichern Sie jetzt Ihre Arbeit."
        );
        assert_eq!(
            message_heading(&german, Language::German),
            "Nachricht von mueller (Raum 101)"
        );
        let english = worded(&message(PowerAction::Shutdown, 300), Language::English);
        assert_eq!(english.title.as_deref(), Some("Shutdown in 5 minutes"));
        let now = worded(&message(PowerAction::Logoff, 0), Language::German);
        assert_eq!(now.text, "Sie werden jetzt abgemeldet.");
        let mut off = message(PowerAction::Shutdown, 60);
        off.power = off.power.map(|p| PowerNotice {
            cancelled: true,
            ..p
        });
        let off = worded(&off, Language::German);
        assert_eq!(off.title.as_deref(), Some("Herunterfahren abgesagt"));
        assert_eq!(off.text, "Sie können weiterarbeiten.");
        // A teacher's message stays as it came.
        let plain = TeacherMessage {
            power: None,
            text: "Seite 12".into(),
            ..message(PowerAction::Reboot, 1)
        };
        assert_eq!(worded(&plain, Language::German), plain);
    }

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

    #[test]
    fn r7_the_notice_and_the_window_say_whose_broadcast_is_shown() {
        let notice = Notice {
            entries: vec![NoticeEntry {
                teacher: "mueller".into(),
                room: "101".into(),
                activity: Activity::Broadcasting,
            }],
        };
        assert_eq!(
            describe(&notice, Language::German).unwrap(),
            "Übertragung der Lehrkraft: mueller (Raum 101)"
        );
        assert_eq!(
            describe(&notice, Language::English).unwrap(),
            "Teacher broadcast: mueller (room 101)"
        );
        let view = BroadcastView {
            teacher: "mueller".into(),
            room: "101".into(),
            mode: pult_protocol::broadcast::BroadcastMode::Window,
        };
        assert_eq!(
            broadcast_title(&view, Language::German),
            "Übertragung der Lehrkraft – mueller (Raum 101)"
        );
    }

    #[test]
    fn r6_the_student_reads_which_files_arrived_from_whom_and_where() {
        let mut files = FilesNotice {
            teacher: "mueller".into(),
            room: "101".into(),
            folder: "/home/s/Schreibtisch/Von der Lehrkraft".into(),
            files: (1..=14).map(|n| format!("Blatt {n}.pdf")).collect(),
            sent: true,
            open: false,
        };
        files.files[0] = format!("{}\u{1b}.pdf", "x".repeat(100));
        let message = files_message(&files, Language::German);
        assert_eq!(message.teacher, "mueller");
        assert_eq!(message.title.as_deref(), Some("14 Dateien erhalten"));
        let lines: Vec<&str> = message.text.lines().collect();
        assert_eq!(
            lines[0],
            "Im Ordner „/home/s/Schreibtisch/Von der Lehrkraft“:"
        );
        assert_eq!(lines[1], format!("• {}…", "x".repeat(59)));
        assert_eq!(lines[2], "• Blatt 2.pdf");
        assert_eq!(lines.len(), 14);
        assert_eq!(lines[13], "… und 2 weitere");
        let kind = pult_protocol::message::TextKind::Message;
        assert!(pult_protocol::message::ScreenText::new(&message.text, kind).is_ok());
        files.sent = false;
        files.files.truncate(1);
        let message = files_message(&files, Language::English);
        assert_eq!(message.title.as_deref(), Some("1 file collected"));
        assert!(message.text.starts_with("From the folder “/home/s/"));
        // Listed, nothing collected: told all the same.
        files.files.clear();
        let message = files_message(&files, Language::German);
        assert_eq!(message.title.as_deref(), Some("Ordner angesehen"));
        assert!(
            message
                .text
                .contains("„/home/s/Schreibtisch/Von der Lehrkraft“ angesehen")
        );
        assert!(message.text.ends_with("eingesammelt wurde keine."));
    }
}
