// German and English. The language follows the system locale unless the
// teacher switched it; the choice is remembered in the web view's storage.

export type Language = "de" | "en";

const de = {
  appTitle: "Pult",
  room: "Raum {room}",
  teacher: "Lehrkraft: {name}",
  validUntil: "Zertifikat gültig bis {time}",
  online: "Online",
  offline: "Offline",
  connecting: "Verbinde …",
  refused: "Abgelehnt",
  notSteerable: "Nicht steuerbar",
  noUser: "niemand angemeldet",
  selectAll: "Alle auswählen",
  clearSelection: "Auswahl aufheben",
  selected: "{count} ausgewählt",
  noneSelected: "Keine Geräte ausgewählt",
  zoom: "Größe",
  screenshot: "Bildschirmfoto",
  runProgram: "Programm starten",
  openWebsite: "Webseite öffnen",
  gallery: "Galerie",
  program: "Programm",
  arguments: "Argumente (durch Leerzeichen getrennt)",
  url: "Adresse (http oder https)",
  run: "Starten",
  open: "Öffnen",
  cancel: "Abbrechen",
  close: "Schließen",
  favourites: "Favoriten",
  noFavourites: "Noch keine Favoriten",
  saveFavourite: "Als Favorit merken",
  removeFavourite: "Favorit entfernen",
  results: "Ergebnis",
  resultOk: "erledigt",
  saved: "Gespeichert: {file}",
  galleryEmpty: "Noch keine Bildschirmfotos in diesem Raum",
  noRoom: "Pult kann keinen Raum öffnen",
  noRoomHint: "Pult braucht das Raumzertifikat Ihres Raums. Ihre Schul-IT stellt es bereit; zum Ausprobieren zeigt „pult demo“ ein Klassenzimmer auf diesem Rechner.",
  folder: "Ordner: {path}",
  language: "Sprache",
  bigView: "Großansicht von {name}",
  on: "auf {count} Geräten",
  urlInvalid: "Bitte eine http- oder https-Adresse eingeben",
  programMissing: "Bitte ein Programm angeben",
  shotFailed: "Bildschirmfoto von {name} fehlgeschlagen: {reason}",
  message: "Nachricht",
  messageTitle: "Überschrift (freiwillig)",
  messageText: "Nachricht an die Klasse",
  messageMissing: "Bitte eine Nachricht schreiben",
  send: "Senden",
  lock: "Sperren",
  lockAll: "Alle sperren",
  unlock: "Entsperren",
  lockMessage: "Text auf dem Sperrbildschirm (freiwillig)",
  lockHint: "Tastatur und Maus sind gesperrt, bis Sie entsperren (spätestens nach 30 Minuten).",
  lockedBy: "Gesperrt ({name})",
  control: "Steuern",
  controlHint: "Maus und Tastatur von {name} übernehmen",
  controlStop: "Steuerung von {name} beenden; Maus und Tastatur gehören wieder dem Schüler",
  controlLocked: "Der Bildschirm ist gesperrt: erst entsperren, dann steuern",
  controlRefused: "{name} kann nicht gesteuert werden: {reason}",
  controlFailed: "{name}: {reason}",
  controlLost: "Steuerung von {name} beendet: {reason}",
  sendShortcut: "Tastenkürzel senden …",
  inUseBy: "{user} (Raum {room}) steuert dieses Gerät gerade",
  power: "Ein/Aus",
  powerOn: "Einschalten",
  powerReboot: "Neu starten",
  powerShutdown: "Herunterfahren",
  powerLogoff: "Abmelden",
  powerCancel: "Geplantes Neustarten, Herunterfahren oder Abmelden abbrechen",
  powerDelay: "Wann",
  powerHint: "Die Schüler sehen vorher eine Nachricht und können ihre Arbeit speichern. Einschalten braucht eine MAC-Adresse im Geräteverzeichnis.",
  powerMissing: "Bitte wählen, was geschehen soll",
  carryOut: "Ausführen",
  now: "sofort",
  inMinutes: "in {count} Min.",
  "error.no-mac": "Im Geräteverzeichnis steht keine MAC-Adresse; das Gerät kann nicht eingeschaltet werden",
  shortcut: "Tastenkürzel: {keys}",
  // Errors the UI words itself, by their stable code (never English from Rust).
  "error.cannot-notify": "Am Schülerrechner kann niemand benachrichtigt werden; der Bildschirm wird nicht gezeigt",
  "error.bad-picture": "Das Gerät hat ein ungültiges Bild geschickt",
  "error.rate-limited": "Zu viele Bildschirmfotos in kurzer Zeit; gleich noch einmal versuchen",
  "error.too-many-streams": "Zu viele Bildschirm-Übertragungen zu diesem Gerät",
  "error.unreachable": "Der Schülerrechner antwortet nicht (ausgeschaltet oder nicht im Netz)",
  "error.no-address": "Für dieses Gerät ist keine Adresse bekannt",
  "error.agent-not-verified": "Das Gerät konnte nicht beweisen, dass es dieses Gerät dieser Schule ist",
  "error.text-refused": "Der Text wurde abgelehnt (leer, zu lang oder mit Steuerzeichen)",
  "error.bad-input": "Der Text wurde abgelehnt (leer, zu lang oder mit Steuerzeichen)",
  "error.input-refused": "Diese Eingabe wurde vom Schülerrechner abgelehnt",
} as const;

export type Key = keyof typeof de;

const en: Record<Key, string> = {
  appTitle: "Pult",
  room: "Room {room}",
  teacher: "Teacher: {name}",
  validUntil: "Certificate valid until {time}",
  online: "Online",
  offline: "Offline",
  connecting: "Connecting …",
  refused: "Refused",
  notSteerable: "Not steerable",
  noUser: "nobody logged on",
  selectAll: "Select all",
  clearSelection: "Clear selection",
  selected: "{count} selected",
  noneSelected: "No devices selected",
  zoom: "Size",
  screenshot: "Screenshot",
  runProgram: "Run program",
  openWebsite: "Open website",
  gallery: "Gallery",
  program: "Program",
  arguments: "Arguments (separated by spaces)",
  url: "Address (http or https)",
  run: "Run",
  open: "Open",
  cancel: "Cancel",
  close: "Close",
  favourites: "Favourites",
  noFavourites: "No favourites yet",
  saveFavourite: "Keep as favourite",
  removeFavourite: "Remove favourite",
  results: "Result",
  resultOk: "done",
  saved: "Saved: {file}",
  galleryEmpty: "No screenshots in this room yet",
  noRoom: "Pult cannot open a room",
  noRoomHint: "Pult needs the room certificate of your room. Your school's IT provides it; to try Pult, “pult demo” shows a classroom on this computer.",
  folder: "Folder: {path}",
  language: "Language",
  bigView: "Big view of {name}",
  on: "on {count} devices",
  urlInvalid: "Please enter an http or https address",
  programMissing: "Please name a program",
  shotFailed: "Screenshot of {name} failed: {reason}",
  message: "Message",
  messageTitle: "Title (optional)",
  messageText: "Message to the class",
  messageMissing: "Please write a message",
  send: "Send",
  lock: "Lock",
  lockAll: "Lock all",
  unlock: "Unlock",
  lockMessage: "Text on the lock screen (optional)",
  lockHint: "Keyboard and mouse stay locked until you unlock (30 minutes at most).",
  lockedBy: "Locked ({name})",
  control: "Control",
  controlHint: "Take over mouse and keyboard of {name}",
  controlStop: "Stop controlling {name}; mouse and keyboard go back to the student",
  controlLocked: "The screen is locked: unlock it first to control it",
  controlRefused: "{name} cannot be controlled: {reason}",
  controlFailed: "{name}: {reason}",
  controlLost: "Control of {name} ended: {reason}",
  sendShortcut: "Send shortcut …",
  inUseBy: "{user} (room {room}) is controlling this computer",
  power: "Power",
  powerOn: "Switch on",
  powerReboot: "Restart",
  powerShutdown: "Shut down",
  powerLogoff: "Log off",
  powerCancel: "Call off a restart, shutdown or log-off still waiting",
  powerDelay: "When",
  powerHint: "The students see a message first and can save their work. Switching on needs a MAC address in the device registry.",
  powerMissing: "Please choose what is to happen",
  carryOut: "Carry out",
  now: "now",
  inMinutes: "in {count} min",
  "error.no-mac": "The device registry has no MAC address for it, so it cannot be switched on",
  shortcut: "Shortcut: {keys}",
  "error.cannot-notify": "The student cannot be notified, so the screen is not shown",
  "error.bad-picture": "The device sent an invalid picture",
  "error.rate-limited": "Too many screenshots in a short time; try again in a moment",
  "error.too-many-streams": "Too many screen streams to this device",
  "error.unreachable": "The student computer does not answer (switched off or not on the network)",
  "error.no-address": "No address is known for this device",
  "error.agent-not-verified": "The device could not prove it is this school's device",
  "error.text-refused": "The text was refused (empty, too long or with control characters)",
  "error.bad-input": "The text was refused (empty, too long or with control characters)",
  "error.input-refused": "The student computer refused this input",
};

const dictionaries: Record<Language, Record<Key, string>> = { de, en };
const STORAGE_KEY = "pult.language";

/** The language for a system locale: German for de-*, English otherwise. */
export function languageFor(locale: string): Language {
  return locale.toLowerCase().startsWith("de") ? "de" : "en";
}

export class I18n {
  language: Language;

  constructor(locale: string, private readonly storage: Storage | null = globalThis.localStorage ?? null) {
    const stored = this.storage?.getItem(STORAGE_KEY);
    this.language = stored === "de" || stored === "en" ? stored : languageFor(locale);
  }

  /** The text for `key`, with `{name}` placeholders filled from `params`. */
  t(key: Key, params: Record<string, string | number> = {}): string {
    return dictionaries[this.language][key].replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? `{${name}}`));
  }

  /** Whether `key` is a text of the dictionaries (for keys made from codes). */
  has(key: string): key is Key {
    return key in dictionaries[this.language];
  }

  switchTo(language: Language): void {
    this.language = language;
    this.storage?.setItem(STORAGE_KEY, language);
  }
}
