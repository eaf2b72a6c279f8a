//! The admin's pages in German and English. Every text is a field, so a
//! text missing in one language is a build error, not a blank on a page.

/// The languages of the admin's pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// Deutsch.
    German,
    /// English.
    English,
}

impl Language {
    /// The language a browser asks for first, German when it asks for neither.
    pub fn from_accept_language(header: Option<&str>) -> Self {
        for part in header.unwrap_or_default().split(',') {
            let tag = part
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if tag.starts_with("de") {
                return Self::German;
            }
            if tag.starts_with("en") {
                return Self::English;
            }
        }
        Self::German
    }

    /// The language named `code` ("de", "en").
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "de" => Some(Self::German),
            "en" => Some(Self::English),
            _ => None,
        }
    }

    /// The code for `lang` attributes and the language cookie.
    pub fn code(self) -> &'static str {
        match self {
            Self::German => "de",
            Self::English => "en",
        }
    }

    /// The texts.
    pub fn texts(self) -> &'static Texts {
        match self {
            Self::German => &GERMAN,
            Self::English => &ENGLISH,
        }
    }
}

/// Every text on the admin's pages.
#[allow(missing_docs)]
pub struct Texts {
    pub title: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub user: &'static str,
    pub password: &'static str,
    pub sign_in_refused: &'static str,
    pub too_many: &'static str,
    pub sign_in_with: &'static str,
    pub deleted_until: &'static str,
    pub privacy: &'static str,
    pub privacy_hint: &'static str,
    pub restore: &'static str,
    pub or: &'static str,
    pub directory_unavailable: &'static str,
    pub provider_unavailable: &'static str,
    pub provider_busy: &'static str,
    pub sign_in_expired: &'static str,
    pub signed_in: &'static str,
    pub continue_to_pages: &'static str,
    pub not_admin: &'static str,
    pub devices: &'static str,
    pub tokens: &'static str,
    pub log: &'static str,
    pub room: &'static str,
    pub all_rooms: &'static str,
    pub name: &'static str,
    pub position: &'static str,
    pub inventory: &'static str,
    pub macs: &'static str,
    pub addresses: &'static str,
    pub description: &'static str,
    pub tags: &'static str,
    pub owner: &'static str,
    pub steerable: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub teacher_pc: &'static str,
    pub enrolled: &'static str,
    pub switch_on: &'static str,
    pub switch_off: &'static str,
    pub selection: &'static str,
    pub whole_room: &'static str,
    pub select_all: &'static str,
    pub no_devices: &'static str,
    pub changed: &'static str,
    pub new_token: &'static str,
    pub label: &'static str,
    pub uses: &'static str,
    pub uses_left: &'static str,
    pub valid_hours: &'static str,
    pub expires: &'static str,
    pub for_teacher_pcs: &'static str,
    pub any_registered: &'static str,
    pub create: &'static str,
    pub delete: &'static str,
    pub token_once: &'static str,
    pub no_tokens: &'static str,
    pub created_by: &'static str,
    pub time: &'static str,
    pub kind: &'static str,
    pub outcome: &'static str,
    pub actor: &'static str,
    pub source: &'static str,
    pub subject: &'static str,
    pub detail: &'static str,
    pub filter: &'static str,
    pub any: &'static str,
    pub search: &'static str,
    pub error: &'static str,
    pub csrf_refused: &'static str,
    pub import: &'static str,
    pub export: &'static str,
    pub file: &'static str,
    pub show_changes: &'static str,
    pub preview: &'static str,
    pub apply: &'static str,
    pub new_device: &'static str,
    pub field: &'static str,
    pub before: &'static str,
    pub after: &'static str,
    pub no_changes: &'static str,
    pub changed_meanwhile: &'static str,
    pub import_hint: &'static str,
    pub imported: &'static str,
    pub users: &'static str,
    pub groups: &'static str,
    pub local_password: &'static str,
    pub add_user: &'static str,
    pub groups_hint: &'static str,
    pub password_hint: &'static str,
    pub authorised_group: &'static str,
    pub authorised_hint: &'static str,
    pub none_yet: &'static str,
    pub admins_group: &'static str,
    pub save: &'static str,
    pub teacher_pcs: &'static str,
    pub own_room: &'static str,
    pub also_rooms: &'static str,
    pub no_teacher_pcs: &'static str,
}

static GERMAN: Texts = Texts {
    title: "Pult – Verwaltung",
    sign_in: "Anmelden",
    sign_out: "Abmelden",
    user: "Benutzername",
    password: "Passwort",
    sign_in_refused: "Benutzername oder Passwort ist falsch.",
    too_many: "Zu viele Fehlversuche. Bitte später erneut versuchen.",
    sign_in_with: "Anmelden mit",
    deleted_until: "gelöscht und gesperrt; endgültig entfernt am",
    privacy: "Verarbeitungsverzeichnis",
    privacy_hint: "Aus der laufenden Konfiguration; auch mit „pult-registry privacy-report“ (Markdown).",
    restore: "Wiederherstellen",
    or: "oder",
    directory_unavailable: "Der Verzeichnisdienst der Schule ist nicht erreichbar. Bitte später erneut versuchen oder die IT fragen.",
    provider_unavailable: "Der Anmeldedienst der Schule ist nicht erreichbar",
    provider_busy: "Gerade melden sich zu viele an. Bitte gleich erneut versuchen.",
    sign_in_expired: "Diese Anmeldung ist abgelaufen oder unbekannt. Bitte erneut anmelden.",
    signed_in: "Angemeldet.",
    continue_to_pages: "Weiter zur Verwaltung",
    not_admin: "Diese Seiten sind Administratorinnen und Administratoren vorbehalten.",
    devices: "Geräte",
    tokens: "Registrierungsschlüssel",
    log: "Protokoll",
    room: "Raum",
    all_rooms: "Alle Räume",
    name: "Name",
    position: "Platz",
    inventory: "Inventarnummer",
    macs: "MAC-Adressen",
    addresses: "IP-Adressen",
    description: "Beschreibung",
    tags: "Markierungen",
    owner: "Eigentümer",
    steerable: "Steuerbar",
    yes: "ja",
    no: "nein",
    teacher_pc: "Lehrer-PC",
    enrolled: "registriert",
    switch_on: "Steuerbar einschalten",
    switch_off: "Steuerbar ausschalten",
    selection: "Auswahl",
    whole_room: "Ganzer Raum",
    select_all: "Alle auswählen",
    no_devices: "Keine Geräte.",
    changed: "Gespeichert.",
    new_token: "Neuer Registrierungsschlüssel",
    label: "Bezeichnung",
    uses: "Anzahl Geräte",
    uses_left: "Verbleibend",
    valid_hours: "Gültig (Stunden)",
    expires: "Gültig bis",
    for_teacher_pcs: "für Lehrer-PCs",
    any_registered: "nur bereits eingetragene Geräte",
    create: "Erstellen",
    delete: "Löschen",
    token_once: "Dieser Schlüssel wird nur jetzt angezeigt:",
    no_tokens: "Keine Registrierungsschlüssel.",
    created_by: "Erstellt von",
    time: "Zeit",
    kind: "Art",
    outcome: "Ergebnis",
    actor: "Wer",
    source: "Von",
    subject: "Betrifft",
    detail: "Einzelheiten",
    filter: "Filtern",
    any: "alle",
    search: "Suche",
    error: "Fehler",
    csrf_refused: "Die Anfrage kam nicht von dieser Seite und wurde abgelehnt. Bitte die Seite neu laden.",
    import: "Import",
    export: "Export (CSV)",
    file: "CSV-Datei",
    show_changes: "Änderungen anzeigen",
    preview: "Vorschau: Das würde sich ändern",
    apply: "Übernehmen",
    new_device: "neu",
    field: "Feld",
    before: "bisher",
    after: "neu",
    no_changes: "Die Datei ändert nichts.",
    changed_meanwhile: "Die Geräteliste hat sich seit der Vorschau geändert. Bitte die Vorschau neu prüfen.",
    import_hint: "Komma, Semikolon oder Tabulator; UTF-8 oder Windows-1252 (Excel). Nur die Spalten der Datei werden geändert.",
    imported: "Importiert.",
    users: "Benutzer und Gruppen",
    groups: "Gruppen",
    local_password: "Lokales Passwort",
    add_user: "Benutzer hinzufügen",
    groups_hint: "Gruppen, durch Komma getrennt",
    password_hint: "Passwort (mindestens 10 Zeichen; leer lassen für Anmeldung über LDAP oder OpenID Connect)",
    authorised_group: "Berechtigte Gruppe",
    authorised_hint: "Nur Mitglieder dieser einen Gruppe dürfen Pult benutzen; ohne Gruppe funktioniert Pult nicht.",
    none_yet: "keine",
    admins_group: "Gruppe der Administratoren",
    save: "Speichern",
    teacher_pcs: "Lehrer-PCs",
    own_room: "Eigener Raum",
    also_rooms: "Auch für",
    no_teacher_pcs: "Keine Lehrer-PCs. Ein Lehrer-PC wird mit einem Registrierungsschlüssel „für Lehrer-PCs“ registriert.",
};

static ENGLISH: Texts = Texts {
    title: "Pult – Administration",
    sign_in: "Sign in",
    sign_out: "Sign out",
    user: "User name",
    password: "Password",
    sign_in_refused: "The user name or the password is wrong.",
    too_many: "Too many failed attempts. Please try again later.",
    sign_in_with: "Sign in with",
    deleted_until: "deleted and locked; removed for good on",
    privacy: "Record of processing",
    privacy_hint: "From the live configuration; also with “pult-registry privacy-report” (Markdown).",
    restore: "Restore",
    or: "or",
    directory_unavailable: "The school's directory cannot be reached. Please try again later or ask IT.",
    provider_unavailable: "The school's identity provider cannot be reached",
    provider_busy: "Too many sign-ins at once. Please try again in a moment.",
    sign_in_expired: "This sign-in has expired or is unknown. Please sign in again.",
    signed_in: "Signed in.",
    continue_to_pages: "Continue to the admin's pages",
    not_admin: "These pages are for administrators only.",
    devices: "Devices",
    tokens: "Enrolment tokens",
    log: "Log",
    room: "Room",
    all_rooms: "All rooms",
    name: "Name",
    position: "Position",
    inventory: "Inventory number",
    macs: "MAC addresses",
    addresses: "IP addresses",
    description: "Description",
    tags: "Tags",
    owner: "Owner",
    steerable: "Steerable",
    yes: "yes",
    no: "no",
    teacher_pc: "Teacher PC",
    enrolled: "enrolled",
    switch_on: "Make steerable",
    switch_off: "Make not steerable",
    selection: "Selection",
    whole_room: "Whole room",
    select_all: "Select all",
    no_devices: "No devices.",
    changed: "Saved.",
    new_token: "New enrolment token",
    label: "Label",
    uses: "Number of devices",
    uses_left: "Left",
    valid_hours: "Valid (hours)",
    expires: "Valid until",
    for_teacher_pcs: "for teacher PCs",
    any_registered: "registered devices only",
    create: "Create",
    delete: "Delete",
    token_once: "This token is shown only now:",
    no_tokens: "No enrolment tokens.",
    created_by: "Created by",
    time: "Time",
    kind: "Kind",
    outcome: "Outcome",
    actor: "Who",
    source: "From",
    subject: "Concerns",
    detail: "Details",
    filter: "Filter",
    any: "any",
    search: "Search",
    error: "Error",
    csrf_refused: "The request did not come from this page and was refused. Please reload the page.",
    import: "Import",
    export: "Export (CSV)",
    file: "CSV file",
    show_changes: "Show changes",
    preview: "Preview: this would change",
    apply: "Apply",
    new_device: "new",
    field: "Field",
    before: "now",
    after: "after",
    no_changes: "The file changes nothing.",
    changed_meanwhile: "The device list changed since the preview. Please check the preview again.",
    import_hint: "Comma, semicolon or tab; UTF-8 or Windows-1252 (Excel). Only the file's columns are changed.",
    imported: "Imported.",
    users: "Users and groups",
    groups: "Groups",
    local_password: "Local password",
    add_user: "Add user",
    groups_hint: "Groups, separated by commas",
    password_hint: "Password (at least 10 characters; leave empty for sign-in by LDAP or OpenID Connect)",
    authorised_group: "Authorised group",
    authorised_hint: "Only members of this one group may use Pult; with no group Pult does not work.",
    none_yet: "none",
    admins_group: "Admins' group",
    save: "Save",
    teacher_pcs: "Teacher PCs",
    own_room: "Own room",
    also_rooms: "Also for",
    no_teacher_pcs: "No teacher PCs. A teacher PC is enrolled with a token \"for teacher PCs\".",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_s_first_language_counts_and_german_is_the_default() {
        assert_eq!(
            Language::from_accept_language(Some("en-GB,en;q=0.9,de;q=0.8")),
            Language::English
        );
        assert_eq!(
            Language::from_accept_language(Some("de-DE,de;q=0.9,en;q=0.8")),
            Language::German
        );
        assert_eq!(
            Language::from_accept_language(Some("fr-FR,en;q=0.5")),
            Language::English
        );
        assert_eq!(
            Language::from_accept_language(Some("fr-FR")),
            Language::German
        );
        assert_eq!(Language::from_accept_language(None), Language::German);
    }
}
