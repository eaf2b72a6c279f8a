//! The school's record of processing for classroom control (Art. 30 GDPR),
//! written from the registry's live configuration: what Pult keeps about
//! whom, where, for what and for how long, and that it sends nothing to
//! anyone (R19). German or English, as Markdown, for `pult-registry
//! privacy-report` and the admin's page.

use std::fmt::Write as _;

use crate::store::Store;
use crate::{DELETED_USER_KEPT, Registry, RegistryError};

/// The language of the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportLanguage {
    /// Deutsch (the default: the record is the school's document).
    German,
    /// English.
    English,
}

/// What the record is written from: the live configuration and counts.
struct Facts {
    school: String,
    users: usize,
    local_passwords: usize,
    deleted_users: usize,
    rooms: usize,
    devices: usize,
    owned_devices: usize,
    log_lines: usize,
    log_kept: std::time::Duration,
    authorised: String,
    admins: String,
    directory: Option<String>,
    provider: Option<String>,
}

/// The record of processing for the school of `registry`, in `language`.
pub fn report<S: Store>(
    registry: &Registry<S>,
    language: ReportLanguage,
) -> Result<String, RegistryError> {
    let organisation = registry.organisation()?;
    let users = registry.users()?;
    let devices = registry.devices(None)?;
    let facts = Facts {
        school: organisation.name,
        users: users.len(),
        local_passwords: users.iter().filter(|u| u.local_password).count(),
        deleted_users: users.iter().filter(|u| u.deleted.is_some()).count(),
        rooms: registry.rooms()?.len(),
        devices: devices.len(),
        owned_devices: devices.iter().filter(|d| d.fields.owner.is_some()).count(),
        log_lines: registry.log_lines()?,
        log_kept: registry.log_retention()?,
        authorised: organisation.authorized_group.unwrap_or_else(|| "–".into()),
        admins: organisation.admin_group.unwrap_or_else(|| "–".into()),
        directory: registry.ldap_settings()?.map(|s| s.url),
        provider: registry.oidc_settings()?.map(|s| s.issuer),
    };
    Ok(match language {
        ReportLanguage::German => german(&facts),
        ReportLanguage::English => english(&facts),
    })
}

fn german(f: &Facts) -> String {
    let agent_kept = spoken(pult_audit::RETENTION, ReportLanguage::German);
    let deleted_kept = spoken(DELETED_USER_KEPT, ReportLanguage::German);
    let log_kept = spoken(f.log_kept, ReportLanguage::German);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# Verzeichnis von Verarbeitungstätigkeiten (Art. 30 DSGVO): Pult\n\n\
         Schule: **{}**. Erstellt aus der laufenden Konfiguration der Pult-Registry.\n\n\
         **Zweck:** Unterrichtssteuerung im eigenen Raum: Lehrkräfte sehen und steuern die \
         Schülerrechner des Raums, in dem ihr Lehrer-PC steht (R1–R8). \
         **Verantwortlich:** die Schule. **Empfänger:** keine. Pult übermittelt keine Daten \
         und keine Protokolle automatisch an Dritte (R19); die Registry verbindet sich nur mit \
         dem Verzeichnisdienst und dem Anmeldedienst, die die Schule selbst einträgt.\n",
        f.school
    );
    let _ = writeln!(
        text,
        "| Daten | Betroffene | Wo | Zweck | Speicherdauer |\n|---|---|---|---|---|"
    );
    let _ = writeln!(
        text,
        "| Benutzername, Gruppen, bei lokalen Konten ein Passwort-Hash (Argon2id): {} Konten, \
         davon {} mit lokalem Passwort, {} gelöscht und gesperrt | Lehrkräfte, Administration \
         | Registry | Zugang nur für die berechtigte Gruppe „{}“ (R9); Verwaltung: „{}“ \
         | bis zur Löschung, dann {} gesperrt, danach endgültig entfernt (R18) |",
        f.users, f.local_passwords, f.deleted_users, f.authorised, f.admins, deleted_kept
    );
    let _ = writeln!(
        text,
        "| Anmeldungen (Sitzungen): Benutzer, Gruppen, Anmeldeweg, Lehrer-PC \
         | Lehrkräfte, Administration | Registry | angemeldet bleiben \
         | Verwaltungsseiten 8 Stunden, Zugriffsschlüssel 15 Minuten, Erneuerung höchstens \
         12 Stunden (ein Schultag) |"
    );
    let _ = writeln!(
        text,
        "| Geräte: Name, Raum, Platz, Inventarnummer, MAC- und IP-Adressen, Beschreibung, \
         Markierungen, steuerbar, bei Privatgeräten der Eigentümer: {} Geräte in {} Räumen, \
         davon {} mit Eigentümer | Eigentümer privater Geräte | Registry \
         | Zuordnung zum Raum (R8, R10, R12) | bis zur Löschung; Geräte eines endgültig \
         gelöschten Kontos werden mit ihm gelöscht (R13) |",
        f.devices, f.rooms, f.owned_devices
    );
    let _ = writeln!(
        text,
        "| Protokoll: An- und Abmeldungen (auch fehlgeschlagene), ausgestellte Zertifikate, \
         Registrierungen, Änderungen, mit Benutzer und Adresse: {} Einträge, unveränderbar \
         verkettet | Lehrkräfte, Administration | Registry | Nachvollziehbarkeit (R16) \
         | {log_kept} (R17, R25), danach automatisch gelöscht |",
        f.log_lines
    );
    let _ = writeln!(
        text,
        "| Zugriffsprotokoll: welche Lehrkraft aus welchem Raum wann zugegriffen hat \
         (ansehen, Bildschirmfoto, steuern, Dateien) | Schülerinnen und Schüler, Lehrkräfte \
         | Schülerrechner (nur für die Administration lesbar) | Nachvollziehbarkeit (R16) \
         | {agent_kept}, danach automatisch gelöscht (R17) |"
    );
    let _ = writeln!(
        text,
        "| Bildschirminhalte | Schülerinnen und Schüler | werden übertragen, nicht gespeichert; \
         die Schülerin oder der Schüler sieht jede Ansicht (R1) | Unterricht | nicht \
         gespeichert; Bildschirmfotos nur, wenn die Lehrkraft eines aufnimmt (R2), in ihrem \
         eigenen Ordner |"
    );
    let _ = writeln!(
        text,
        "| Gesendete und eingesammelte Dateien, mit Namen und Größen im Protokoll der Lehrkraft \
         | Schülerinnen und Schüler, Lehrkräfte | Schüler- und Lehrer-PC | Unterricht (R6) \
         | Dateien bis die Nutzer sie löschen; das Protokoll {agent_kept} |"
    );
    let _ = writeln!(
        text,
        "| Unbekannte Geräte im Netz (Name, Adresse) | – | nur in der geöffneten App | Hinweis \
         (R14) | nicht gespeichert |\n"
    );
    let sign_in = match (&f.directory, &f.provider) {
        (None, None) => "Nur lokale Konten der Registry.".to_owned(),
        (directory, provider) => {
            let mut ways = Vec::new();
            if let Some(url) = directory {
                ways.push(format!("Verzeichnisdienst {url} (LDAP)"));
            }
            if let Some(issuer) = provider {
                ways.push(format!("Anmeldedienst {issuer} (OpenID Connect)"));
            }
            format!(
                "{}. Von dort kommen bei jeder Anmeldung Name und Gruppen; sie werden nur in der \
                 Sitzung gehalten, nicht dauerhaft gespeichert.",
                ways.join(" und ")
            )
        }
    };
    let _ = writeln!(text, "**Anmeldung:** {sign_in}\n");
    let _ = writeln!(
        text,
        "**Kein Profil aus Protokollen (R24):** Die Protokollansichten zeigen einzelne \
         Ereignisse mit Filtern; Pult wertet keine Protokolle zu Personen aus.\n\n\
         **Technische Maßnahmen:** TLS 1.3 mit schuleigener Zertifizierungsstelle; \
         raumgebundene Zertifikate (R8); Schlüssel werden auf dem Gerät erzeugt und verlassen es \
         nicht; Passwörter nur als Argon2id-Hash; fehlgeschlagene Anmeldungen werden gebremst; \
         Protokolle hash-verkettet."
    );
    text
}

fn english(f: &Facts) -> String {
    let agent_kept = spoken(pult_audit::RETENTION, ReportLanguage::English);
    let deleted_kept = spoken(DELETED_USER_KEPT, ReportLanguage::English);
    let log_kept = spoken(f.log_kept, ReportLanguage::English);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# Record of processing activities (Art. 30 GDPR): Pult\n\n\
         School: **{}**. Written from the live configuration of the Pult registry.\n\n\
         **Purpose:** classroom control in one's own room: teachers see and steer the student \
         computers of the room their teacher PC stands in (R1–R8). **Controller:** the school. \
         **Recipients:** none. Pult sends no data and no logs to third parties automatically \
         (R19); the registry connects only to the directory and identity provider the school \
         itself sets up.\n",
        f.school
    );
    let _ = writeln!(
        text,
        "| Data | Whose | Where | Purpose | Kept for |\n|---|---|---|---|---|"
    );
    let _ = writeln!(
        text,
        "| User name, groups, for local accounts a password hash (Argon2id): {} accounts, \
         {} with a local password, {} deleted and locked | teachers, admins | registry \
         | access for the authorised group \"{}\" only (R9); administration: \"{}\" \
         | until deleted, then locked for {}, then removed for good (R18) |",
        f.users, f.local_passwords, f.deleted_users, f.authorised, f.admins, deleted_kept
    );
    let _ = writeln!(
        text,
        "| Sign-ins (sessions): user, groups, how they signed in, teacher PC | teachers, admins \
         | registry | staying signed in | admin pages 8 hours, access tokens 15 minutes, \
         renewal at most 12 hours (a school day) |"
    );
    let _ = writeln!(
        text,
        "| Devices: name, room, position, inventory number, MAC and IP addresses, description, \
         tags, steerable, for private devices the owner: {} devices in {} rooms, {} with an \
         owner | owners of private devices | registry | knowing each device's room (R8, R10, \
         R12) | until deleted; the devices of an account removed for good go with it (R13) |",
        f.devices, f.rooms, f.owned_devices
    );
    let _ = writeln!(
        text,
        "| Log: sign-ins and sign-outs (failed ones too), certificates issued, enrolments, \
         changes, with user and address: {} lines, hash-chained | teachers, admins | registry \
         | accountability (R16) | {log_kept} (R17, R25), then deleted automatically |",
        f.log_lines
    );
    let _ = writeln!(
        text,
        "| Access log: which teacher of which room did what when (view, screenshot, control, \
         files) | students, teachers | student computer (readable by administrators only) \
         | accountability (R16) | {agent_kept}, then deleted automatically (R17) |"
    );
    let _ = writeln!(
        text,
        "| Screen contents | students | sent, not stored; the student sees every view (R1) \
         | teaching | not stored; screenshots only when a teacher takes one (R2), in their \
         own folder |"
    );
    let _ = writeln!(
        text,
        "| Files sent and collected, with names and sizes in the teacher's log | students, \
         teachers | student and teacher PCs | teaching (R6) | files until their users delete \
         them; the log {agent_kept} |"
    );
    let _ = writeln!(
        text,
        "| Unknown devices on the network (name, address) | – | only in the open app | a hint \
         (R14) | not stored |\n"
    );
    let sign_in = match (&f.directory, &f.provider) {
        (None, None) => "The registry's local accounts only.".to_owned(),
        (directory, provider) => {
            let mut ways = Vec::new();
            if let Some(url) = directory {
                ways.push(format!("the directory {url} (LDAP)"));
            }
            if let Some(issuer) = provider {
                ways.push(format!("the identity provider {issuer} (OpenID Connect)"));
            }
            format!(
                "{}. At each sign-in the name and groups come from there; they are held in the \
                 session only, not stored.",
                ways.join(" and ")
            )
        }
    };
    let _ = writeln!(text, "**Sign-in:** {sign_in}\n");
    let _ = writeln!(
        text,
        "**No profiles from logs (R24):** the log views show single events with filters; Pult \
         does not evaluate logs by person.\n\n\
         **Technical measures:** TLS 1.3 with the school's own CA; room-scoped certificates \
         (R8); keys are made on the device and never leave it; passwords only as Argon2id \
         hashes; failed sign-ins are slowed; logs are hash-chained."
    );
    text
}

/// A duration as a person says it: "183 Tage", "24 hours".
fn spoken(duration: std::time::Duration, language: ReportLanguage) -> String {
    let seconds = duration.as_secs();
    let (count, one, many) = if seconds.is_multiple_of(86_400) {
        let words = match language {
            ReportLanguage::German => ("Tag", "Tage"),
            ReportLanguage::English => ("day", "days"),
        };
        (seconds / 86_400, words.0, words.1)
    } else {
        let words = match language {
            ReportLanguage::German => ("Stunde", "Stunden"),
            ReportLanguage::English => ("hour", "hours"),
        };
        (seconds.div_ceil(3600), words.0, words.1)
    };
    format!("{count} {}", if count == 1 { one } else { many })
}

/// The record as HTML for the admin's page: its headings, paragraphs and
/// tables, every text escaped (the record holds names an admin typed).
pub fn to_html(markdown: &str) -> String {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let inline = |text: &str| {
        let mut html = String::new();
        for (index, part) in escape(text).split("**").enumerate() {
            if index % 2 == 1 {
                let _ = write!(html, "<strong>{part}</strong>");
            } else {
                html.push_str(part);
            }
        }
        html
    };
    let mut html = String::new();
    let mut in_table = false;
    for line in markdown.lines() {
        let line = line.trim();
        if line.starts_with('|') {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            if cells.iter().all(|c| c.chars().all(|ch| ch == '-')) {
                continue;
            }
            let cell = if in_table { "td" } else { "th" };
            if !in_table {
                html.push_str("<table>");
                in_table = true;
            }
            html.push_str("<tr>");
            for text in cells {
                let _ = write!(html, "<{cell}>{}</{cell}>", inline(text));
            }
            html.push_str("</tr>");
            continue;
        }
        if in_table {
            html.push_str("</table>");
            in_table = false;
        }
        if let Some(heading) = line.strip_prefix("# ") {
            let _ = write!(html, "<h1>{}</h1>", inline(heading));
        } else if !line.is_empty() {
            let _ = write!(html, "<p>{}</p>", inline(line));
        }
    }
    if in_table {
        html.push_str("</table>");
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_said_as_people_say_them() {
        let day = std::time::Duration::from_secs(86_400);
        assert_eq!(spoken(day * 183, ReportLanguage::German), "183 Tage");
        assert_eq!(spoken(day, ReportLanguage::English), "1 day");
        assert_eq!(
            spoken(
                std::time::Duration::from_secs(36 * 3600),
                ReportLanguage::German
            ),
            "36 Stunden"
        );
    }

    #[test]
    fn the_page_escapes_what_the_record_holds() {
        let html = to_html(
            "# Titel\n\nSchule: **<b>Nord</b>**\n\n| a | b |\n|---|---|\n| x & y | **z** |\n",
        );
        assert_eq!(
            html,
            "<h1>Titel</h1><p>Schule: <strong>&lt;b&gt;Nord&lt;/b&gt;</strong></p>\
             <table><tr><th>a</th><th>b</th></tr><tr><td>x &amp; y</td><td><strong>z</strong></td></tr></table>"
        );
    }
}
