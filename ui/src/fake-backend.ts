// A backend without Tauri: a made-up room whose screens are flat colours.
// The UI tests run against it, and `npm run dev` shows the view in a browser.
import type {
  ActionResult,
  Backend,
  BroadcastRequest,
  BroadcastState,
  ControlInput,
  ControlProblem,
  DeviceResult,
  DeviceStatus,
  DeviceTransfer,
  HomeFolder,
  PowerAction,
  Favourites,
  RoomInfo,
  SavedShot,
  SignedIn,
  SignInMethods,
  UnknownDevice,
  ScreenFrame,
  TeacherScreen,
  TransferEvent,
} from "./backend";

export class FakeBackend implements Backend {
  readonly calls: { method: string; args: unknown[] }[] = [];
  readonly shots: SavedShot[] = [];
  favouritesStored: Favourites = { programs: [], websites: [] };
  private onStatus: ((status: DeviceStatus) => void) | null = null;
  private onFrame: ((frame: ScreenFrame) => void) | null = null;
  /** Devices that fail actions, with the code they fail with. */
  failing = new Map<string, string>();
  /** Devices another console controls, with who. */
  controlledElsewhere = new Map<string, string>();
  /** The device under control, and every input it was sent. */
  controlled: string | null = null;
  readonly inputs: ControlInput[] = [];
  /** The controlled device's clipboard. */
  studentClipboard = "";
  /** What the next controlInput call reports the agent could not apply. */
  inputProblems: ControlProblem[] = [];
  /** Agents on the network that are not the room's (R14). */
  unknown: UnknownDevice[] = [];
  /** A teacher PC at a registry: no room until someone signs in. */
  registry: { methods: SignInMethods; accounts: Map<string, string>; rooms: string[] } | null = null;
  private signedIn: string | null = null;
  private roomOpen = true;

  constructor(
    readonly devices: DeviceStatus[] = FakeBackend.classroom(12),
    readonly systemLocale = "de-DE",
  ) {}

  static classroom(count: number): DeviceStatus[] {
    return Array.from({ length: count }, (_, i) => ({
      name: `PC-${String(i + 1).padStart(2, "0")}`,
      position: `Reihe ${Math.floor(i / 4) + 1} Platz ${(i % 4) + 1}`,
      state: { kind: "online" as const },
      user: `schueler${String(i + 1).padStart(2, "0")}`,
      locked: null,
      address: `127.0.0.${101 + i}`,
    }));
  }

  /** Makes this a teacher PC at a registry where `accounts` (user → password) sign in. */
  atRegistry(accounts: Record<string, string>, rooms = ["101"], browser: string | null = null): this {
    this.registry = { methods: { password: true, browser }, accounts: new Map(Object.entries(accounts)), rooms };
    this.roomOpen = false;
    return this;
  }

  async unknownDevices(): Promise<UnknownDevice[]> {
    return this.unknown;
  }

  async signInMethods(): Promise<SignInMethods> {
    this.calls.push({ method: "signInMethods", args: [] });
    if (!this.registry) throw { code: "no-registry", message: "not enrolled" };
    return this.registry.methods;
  }

  async signIn(user: string, password: string): Promise<SignedIn> {
    this.calls.push({ method: "signIn", args: [user] });
    if (!this.registry) throw { code: "no-registry", message: "not enrolled" };
    if (this.registry.accounts.get(user) !== password) {
      throw { code: "sign-in-refused", message: "the user name or the password is wrong" };
    }
    this.signedIn = user;
    return { user, rooms: this.registry.rooms };
  }

  async signInBrowser(): Promise<SignedIn> {
    this.calls.push({ method: "signInBrowser", args: [] });
    if (!this.registry?.methods.browser) throw { code: "no-registry", message: "no provider" };
    this.signedIn = "mueller";
    return { user: "mueller", rooms: this.registry.rooms };
  }

  async openRoom(room: string | null): Promise<RoomInfo> {
    this.calls.push({ method: "openRoom", args: [room] });
    if (!this.signedIn) throw { code: "sign-in-required", message: "sign in first" };
    this.roomOpen = true;
    const info = await this.room();
    return { ...info, room: room ?? this.registry?.rooms[0] ?? info.room, teacher: this.signedIn };
  }

  async room(): Promise<RoomInfo> {
    this.calls.push({ method: "room", args: [] });
    if (!this.roomOpen) throw { code: "sign-in-required", message: "sign in to open the room" };
    return {
      organisation: "Gymnasium Am Park",
      room: "101",
      teacher: "mueller",
      validUntil: "2026-11-23T18:00:00Z",
      locale: this.systemLocale,
      galleryDir: "/home/t/Bilder/Pult/101",
      homeDir: "/home/t",
      collectDir: "/home/t/Dokumente/Pult",
      devices: this.devices,
    };
  }

  /** Frames reported drawn, per device. */
  readonly shown = new Map<string, number>();

  async frameShown(device: string): Promise<void> {
    this.shown.set(device, (this.shown.get(device) ?? 0) + 1);
  }

  async locale(): Promise<string> {
    return this.systemLocale;
  }

  async subscribe(onStatus: (status: DeviceStatus) => void, onFrame: (frame: ScreenFrame) => void): Promise<void> {
    this.calls.push({ method: "subscribe", args: [] });
    this.onStatus = onStatus;
    this.onFrame = onFrame;
  }

  /** Reports a status as if a device changed. */
  emitStatus(status: DeviceStatus): void {
    this.onStatus?.(status);
  }

  /** Sends a frame as if a device's screen changed. */
  emitFrame(frame: ScreenFrame): void {
    this.onFrame?.(frame);
  }

  async setThumbnailSize(width: number, height: number): Promise<void> {
    this.calls.push({ method: "setThumbnailSize", args: [width, height] });
  }

  async focus(device: string | null, width: number, height: number): Promise<void> {
    this.calls.push({ method: "focus", args: [device, width, height] });
  }

  async screenshot(device: string): Promise<SavedShot> {
    this.calls.push({ method: "screenshot", args: [device] });
    if (this.failing.has(device)) throw { code: this.failing.get(device), message: `${device} is offline` };
    const shot = { device, time: "2026-11-23T10:15:00Z", path: `/home/t/Bilder/Pult/101/${device}-2026-11-23-101500.png`, fileName: `${device}-2026-11-23-101500.png` };
    this.shots.push(shot);
    return shot;
  }

  async openUrl(devices: string[], url: string): Promise<ActionResult[]> {
    this.calls.push({ method: "openUrl", args: [devices, url] });
    return devices.map((device) => this.result(device));
  }

  async runProgram(devices: string[], program: string, args: string[]): Promise<ActionResult[]> {
    this.calls.push({ method: "runProgram", args: [devices, program, args] });
    return devices.map((device) => this.result(device));
  }

  async message(devices: string[], title: string | null, text: string): Promise<ActionResult[]> {
    this.calls.push({ method: "message", args: [devices, title, text] });
    return devices.map((device) => this.result(device));
  }

  async lock(devices: string[], message: string | null): Promise<ActionResult[]> {
    this.calls.push({ method: "lock", args: [devices, message] });
    return devices.map((device) => this.setLocked(device, "mueller"));
  }

  async unlock(devices: string[]): Promise<ActionResult[]> {
    this.calls.push({ method: "unlock", args: [devices] });
    return devices.map((device) => this.setLocked(device, null));
  }

  /** As an agent does: the result, and the device's new status. */
  private setLocked(device: string, locked: string | null): ActionResult {
    const result = this.result(device);
    const status = this.devices.find((d) => d.name === device);
    if (result.ok && status) this.emitStatus({ ...status, locked });
    return result;
  }

  private result(device: string): ActionResult {
    const code = this.failing.get(device);
    return code ? { device, ok: false, code, message: `${device}: ${code}` } : { device, ok: true };
  }

  async power(devices: string[], action: PowerAction, delaySeconds: number): Promise<ActionResult[]> {
    this.calls.push({ method: "power", args: [devices, action, delaySeconds] });
    return devices.map((device) => this.result(device));
  }

  async control(device: string | null): Promise<void> {
    this.calls.push({ method: "control", args: [device] });
    this.controlled = null;
    if (device === null) return;
    const who = this.controlledElsewhere.get(device);
    if (who) throw { code: "in-use", message: `${device}: ${who} (room 101) controls this computer now`, holder: { user: who, room: "101" } };
    this.controlled = device;
  }

  async controlInput(device: string, inputs: ControlInput[]): Promise<ControlProblem[]> {
    if (this.controlled !== device) throw { code: "bad-input", message: `${device} is not under control from this window` };
    this.inputs.push(...inputs);
    for (const input of inputs) if (input.kind === "clipboard") this.studentClipboard = input.text;
    return this.inputProblems.splice(0);
  }

  async readClipboard(device: string): Promise<string> {
    if (this.controlled !== device) throw { code: "bad-input", message: `${device} is not under control from this window` };
    return this.studentClipboard;
  }

  /** The teacher's home: folder path → entries (sizes in bytes; 0 for a folder). */
  home = new Map<string, HomeFolder["entries"]>([
    ["", [{ name: "Arbeitsblätter", folder: true, size: 0 }, { name: "Aufgabe.pdf", folder: false, size: 2_000_000 }]],
    ["Arbeitsblätter", [{ name: "Blatt 1.pdf", folder: false, size: 1000 }, { name: "Blatt 2.pdf", folder: false, size: 3000 }]],
  ]);
  /** Files on the students' side already (sent without overwrite: "exists"). */
  existing = new Set<string>();
  /** What a device has in its hand-in folder. */
  handIn = new Map<string, { path: string; size: number }[]>();
  /** Per device: files its agent leaves out of a collection (over 1000, names unfit). */
  leftOut = new Map<string, number>();

  async homeFolder(path: string): Promise<HomeFolder> {
    this.calls.push({ method: "homeFolder", args: [path] });
    const entries = this.home.get(path);
    if (!entries) throw { code: "storage", message: `${path} is not in your home folder` };
    return { path, entries };
  }

  /** The files below `path` of the fake home, with their sizes. */
  private filesOf(path: string): { path: string; size: number }[] {
    const slash = path.lastIndexOf("/");
    const [parent, name] = slash < 0 ? ["", path] : [path.slice(0, slash), path.slice(slash + 1)];
    const entry = this.home.get(parent)?.find((e) => e.name === name);
    if (!entry) return [];
    if (!entry.folder) return [{ path: name, size: entry.size }];
    return (this.home.get(path) ?? []).flatMap((child) => this.filesOf(`${path}/${child.name}`).map((f) => ({ ...f, path: `${name}/${f.path}` })));
  }

  async sendFiles(devices: string[], paths: string[], overwrite: boolean, open: boolean, onEvent: (event: TransferEvent) => void): Promise<DeviceTransfer[]> {
    this.calls.push({ method: "sendFiles", args: [devices, paths, overwrite, open] });
    const files = paths.flatMap((p) => this.filesOf(p));
    return devices.map((device) =>
      this.transfer(device, "Schreibtisch/Von der Lehrkraft", files, (f) => (this.existing.has(f) && !overwrite ? "exists" : "done"), onEvent),
    );
  }

  async collectFiles(devices: string[], pattern: string | null, onEvent: (event: TransferEvent) => void): Promise<DeviceTransfer[]> {
    this.calls.push({ method: "collectFiles", args: [devices, pattern] });
    // The pattern as the agent takes it, for the patterns the tests use ("*.odt").
    const matches = (path: string) => !pattern || (pattern.startsWith("*") && path.toLowerCase().endsWith(pattern.slice(1).toLowerCase()));
    return devices.map((device) =>
      this.transfer(
        device,
        "Schreibtisch/Abgabe",
        (this.handIn.get(device) ?? []).filter((f) => matches(f.path)),
        () => "done",
        onEvent,
        this.leftOut.get(device) ?? 0,
      ),
    );
  }

  /** One device's transfer as the console reports it: started, progress and
   * an outcome per file, finished; a failing device fails as a whole. */
  private transfer(
    device: string,
    folder: string,
    files: { path: string; size: number }[],
    outcome: (path: string) => "done" | "exists",
    onEvent: (event: TransferEvent) => void,
    skipped = 0,
  ): DeviceTransfer {
    const result: DeviceResult = { done: [], exists: [], refused: [], failed: [], skipped, bytes: 0, error: null };
    const code = this.failing.get(device);
    if (code) result.error = `${device}: ${code}`;
    else {
      onEvent({ kind: "started", device, folder, files: files.map((f) => f.path), sizes: files.map((f) => f.size) });
      files.forEach((file, index) => {
        const how = outcome(file.path);
        if (how === "done") {
          onEvent({ kind: "progress", device, index, bytes: file.size, size: file.size });
          result.done.push(file.path);
          result.bytes += file.size;
        } else result.exists.push(file.path);
        onEvent({ kind: "file", device, index, outcome: { kind: how } });
      });
    }
    onEvent({ kind: "finished", device, result: structuredClone(result) });
    return { device, ok: !code && result.exists.length === 0 && skipped === 0, ...result };
  }

  async gallery(): Promise<SavedShot[]> {
    this.calls.push({ method: "gallery", args: [] });
    return [...this.shots].reverse();
  }

  /** The broadcast under way, as the fake runs it: every device shows it
   * unless it fails actions. */
  broadcasting: BroadcastState | null = null;

  async broadcast(request: BroadcastRequest): Promise<BroadcastState> {
    this.calls.push({ method: "broadcast", args: [request] });
    const from = request.source.kind === "device" ? request.source.device : null;
    this.broadcasting = {
      from,
      ended: null,
      devices: request.devices
        .filter((device) => device !== from)
        .map((device) => {
          const code = this.failing.get(device);
          return { device, showing: !code, problem: code ? { code, message: `${device}: ${code}` } : null };
        }),
    };
    return structuredClone(this.broadcasting);
  }

  async stopBroadcast(): Promise<void> {
    this.calls.push({ method: "stopBroadcast", args: [] });
    this.broadcasting = null;
  }

  async broadcastState(): Promise<BroadcastState | null> {
    return structuredClone(this.broadcasting);
  }

  async teacherScreen(): Promise<TeacherScreen> {
    return { width: 1920, height: 1080, monitors: [[0, 0, 1920, 1080]] };
  }

  async teacherScreenPreview(): Promise<Uint8Array> {
    return new Uint8Array([137, 80, 78, 71]);
  }

  async galleryImage(path: string): Promise<Uint8Array> {
    this.calls.push({ method: "galleryImage", args: [path] });
    return new Uint8Array([137, 80, 78, 71]);
  }

  async favourites(): Promise<Favourites> {
    return structuredClone(this.favouritesStored);
  }

  async saveFavourites(favourites: Favourites): Promise<void> {
    this.calls.push({ method: "saveFavourites", args: [favourites] });
    this.favouritesStored = structuredClone(favourites);
  }
}
