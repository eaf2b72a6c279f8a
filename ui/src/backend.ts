// The one interface between the room view and whatever runs the room: the
// Tauri shell over pult-console in the app, a fake in tests and in a browser.

/** Where a device stands, as pult-console reports it. */
export type DeviceState =
  | { kind: "connecting" }
  | { kind: "online" }
  | { kind: "not-steerable" }
  | { kind: "offline"; reason: string; code: string }
  | { kind: "refused"; reason: string; code: string };

/** What the teacher sees of one device. */
export interface DeviceStatus {
  name: string;
  position: string | null;
  state: DeviceState;
  user: string | null;
  /** Who locked the screen (R20), while it is locked. */
  locked: string | null;
  address: string | null;
}

/** The room this window shows. */
export interface RoomInfo {
  organisation: string;
  room: string;
  teacher: string;
  /** When the room certificate ends (RFC 3339). */
  validUntil: string;
  /** The system's locale, e.g. "de-DE". */
  locale: string;
  /** Where screenshots are saved. */
  galleryDir: string;
  /** The teacher's home folder: files to send are picked there (R6). */
  homeDir: string;
  /** Where collected files are saved, as ROOM/DEVICE-USER/… below it. */
  collectDir: string;
  devices: DeviceStatus[];
}

/** How a teacher signs in at the school's registry. */
export interface SignInMethods {
  /** User name and password (the registry's own accounts or the school's directory). */
  password: boolean;
  /** The school's identity provider, by the name its button shows; null if none. */
  browser: string | null;
}

/** Who signed in, and the rooms this teacher PC is for (the one it stands in first). */
export interface SignedIn {
  user: string;
  rooms: string[];
}

/** A Pult agent on the network that the room's certificate does not list (R14). */
export interface UnknownDevice {
  /** The name it announces (its own word). */
  name: string;
  address: string;
}

/** One changed rectangle of a screen, as an image file. */
export interface Tile {
  x: number;
  y: number;
  width: number;
  height: number;
  format: "png" | "jpeg";
  data: Uint8Array;
}

/** What changed on one device's screen. */
export interface ScreenFrame {
  /** The device's index in RoomInfo.devices. */
  device: number;
  width: number;
  height: number;
  tiles: Tile[];
}

/** The outcome of an action on one device. */
export interface ActionResult {
  device: string;
  ok: boolean;
  /** A stable code when it failed ("unreachable", "program-not-found", ...). */
  code?: string;
  message?: string;
}

/** One input while the teacher controls a device (R3). Points are fractions
 * (0 to 1) of the big view's picture; keys are KeyboardEvent.code names. */
export type ControlInput =
  | { kind: "move"; x: number; y: number }
  | { kind: "glide"; x: number; y: number }
  | { kind: "button"; button: number; down: boolean }
  | { kind: "wheel"; dx: number; dy: number }
  | { kind: "key"; code: string; down: boolean }
  | { kind: "text"; text: string }
  | { kind: "shortcut"; keys: string }
  | { kind: "releaseAll" }
  | { kind: "clipboard"; text: string };

/** Something the agent could not apply, or why control is not possible. */
export interface ControlProblem {
  code: string;
  message: string;
  /** For "in-use": who controls the device. */
  holder?: { user: string; room: string };
}

/** What the power dialog does: wake, restart, shut down, log off, or call a waiting one off. */
export type PowerAction = "on" | "reboot" | "shutdown" | "logoff" | "cancel";

/** What a broadcast shows (R7): the teacher's desktop, one monitor, a
 * region of the desktop (its pixels), or one student's screen. */
export type BroadcastFrom =
  | { kind: "desktop" }
  | { kind: "monitor"; index: number }
  | { kind: "region"; x: number; y: number; width: number; height: number }
  | { kind: "device"; device: string };

export interface BroadcastRequest {
  source: BroadcastFrom;
  /** In a window the students move, instead of over their whole screen. */
  window: boolean;
  devices: string[];
}

/** A broadcast under way, device by device. */
export interface BroadcastState {
  /** The student whose screen is shown; null for the teacher's own. */
  from: string | null;
  /** Why it ended by itself (the student shown went away). */
  ended: string | null;
  devices: { device: string; showing: boolean; problem: ControlProblem | null }[];
}

/** The teacher's desktop: its size and monitors as [x, y, width, height]. */
export interface TeacherScreen {
  width: number;
  height: number;
  monitors: [number, number, number, number][];
}

/** A screenshot saved in the teacher's pictures folder. */
export interface SavedShot {
  device: string;
  /** When it was taken (RFC 3339). */
  time: string;
  path: string;
  fileName: string;
}

/** A program or web page the teacher keeps at hand. */
export interface ProgramFavourite {
  label: string;
  program: string;
  args: string[];
}

export interface WebsiteFavourite {
  label: string;
  url: string;
}

/** A teacher's favourites, kept per teacher. */
export interface Favourites {
  programs: ProgramFavourite[];
  websites: WebsiteFavourite[];
}

/** Everything the room view asks of its backend. */
/** A folder of the teacher's home for the file picker. */
export interface HomeFolder {
  /** Below the home folder, "/"-separated; "" for home itself. */
  path: string;
  /** Folders first, then files; hidden ones left out. */
  entries: { name: string; folder: boolean; size: number }[];
}

/** How one file went on one device. */
export type FileOutcome =
  | { kind: "done" }
  | { kind: "exists" }
  | { kind: "refused"; reason: string }
  | { kind: "failed"; reason: string };

/** How a transfer went on one device. */
export interface DeviceResult {
  done: string[];
  exists: string[];
  refused: [string, string][];
  failed: [string, string][];
  /** Files the student's side left out of a collection. */
  skipped: number;
  bytes: number;
  /** The device failed as a whole, and why. */
  error: string | null;
}

/** The result of a send or collect on one device. */
export interface DeviceTransfer extends DeviceResult {
  device: string;
  ok: boolean;
}

/** News of a send or collect while it runs. */
export type TransferEvent =
  | { kind: "started"; device: string; folder: string; files: string[]; sizes: number[] }
  | { kind: "progress"; device: string; index: number; bytes: number; size: number }
  | { kind: "file"; device: string; index: number; outcome: FileOutcome }
  | { kind: "finished"; device: string; result: DeviceResult };

export interface Backend {
  /** The room, or a rejection saying why there is none; with the code
   * "sign-in-required" on a teacher PC where the teacher signs in first. */
  room(): Promise<RoomInfo>;
  /** How teachers sign in at this PC's registry. */
  signInMethods(): Promise<SignInMethods>;
  /** Signs in with a user name and password. */
  signIn(user: string, password: string): Promise<SignedIn>;
  /** Signs in with the school's identity provider in the system browser. */
  signInBrowser(): Promise<SignedIn>;
  /** Opens `room` (null: the PC's own) for the teacher who signed in; the
   * room certificate is installed and renewed by the app, never by the teacher. */
  openRoom(room: string | null): Promise<RoomInfo>;
  /** Agents found on the network that are not this room's (R14); stored nowhere. */
  unknownDevices(): Promise<UnknownDevice[]>;
  /** The system's locale ("de-DE"); the room carries it too. */
  locale(): Promise<string>;
  /** Starts the flow of statuses and screen frames; call once. */
  subscribe(onStatus: (status: DeviceStatus) => void, onFrame: (frame: ScreenFrame) => void): Promise<void>;
  /** A screen frame of `device` is drawn (or dropped): its stream may send
   * the next. Every frame handed to `onFrame` must be reported once. */
  frameShown(device: string): Promise<void>;
  /** The size thumbnails are shown at, in device pixels. */
  setThumbnailSize(width: number, height: number): Promise<void>;
  /** Shows one device in the big view (full-size stream), or none. */
  focus(device: string | null, width: number, height: number): Promise<void>;
  screenshot(device: string): Promise<SavedShot>;
  openUrl(devices: string[], url: string): Promise<ActionResult[]>;
  runProgram(devices: string[], program: string, args: string[]): Promise<ActionResult[]>;
  /** A message window on each device; the students close it. */
  message(devices: string[], title: string | null, text: string): Promise<ActionResult[]>;
  /** Locks the screens (R20), with `message` on them. */
  lock(devices: string[], message: string | null): Promise<ActionResult[]>;
  unlock(devices: string[]): Promise<ActionResult[]>;
  /** Wakes devices ("on"), or restarts, shuts down or logs them off after
   * `delaySeconds` in which the students are told; "cancel" calls it off. */
  power(devices: string[], action: PowerAction, delaySeconds: number): Promise<ActionResult[]>;
  /** Takes over mouse and keyboard of `device` (R3), or gives control back
   * (null). Rejects with a ControlProblem ("in-use" naming who controls it). */
  control(device: string | null): Promise<void>;
  /** Sends inputs in order to the controlled device; resolves with what the
   * agent could not apply, rejects when control was lost. */
  controlInput(device: string, inputs: ControlInput[]): Promise<ControlProblem[]>;
  /** The text on the controlled device's clipboard. */
  readClipboard(device: string): Promise<string>;
  /** Starts a broadcast (R7); one under way ends first. */
  broadcast(request: BroadcastRequest): Promise<BroadcastState>;
  /** Ends the broadcast: the students' desktops come back. */
  stopBroadcast(): Promise<void>;
  /** The broadcast under way, or null. */
  broadcastState(): Promise<BroadcastState | null>;
  /** The teacher's desktop size and monitors. */
  teacherScreen(): Promise<TeacherScreen>;
  /** The teacher's desktop now, scaled down, as PNG: the region preview. */
  teacherScreenPreview(): Promise<Uint8Array>;
  /** A folder of the teacher's home, for picking files to send. */
  homeFolder(path: string): Promise<HomeFolder>;
  /** Sends files and folders (paths below home) to the devices (R6); news on the way. */
  sendFiles(devices: string[], paths: string[], overwrite: boolean, open: boolean, onEvent: (event: TransferEvent) => void): Promise<DeviceTransfer[]>;
  /** Collects the devices' hand-in folders into collectDir; news on the way. */
  collectFiles(devices: string[], pattern: string | null, onEvent: (event: TransferEvent) => void): Promise<DeviceTransfer[]>;
  gallery(): Promise<SavedShot[]>;
  galleryImage(path: string): Promise<Uint8Array>;
  favourites(): Promise<Favourites>;
  saveFavourites(favourites: Favourites): Promise<void>;
}
