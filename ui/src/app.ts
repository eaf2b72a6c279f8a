// The room view: a wall of live thumbnails with selection, a big view of one
// device, the actions that exist (screenshot, run program, open website) with
// favourites, and the gallery of saved screenshots. It talks to nothing but
// the Backend interface.
import type {
  ActionResult,
  Backend,
  BroadcastFrom,
  BroadcastState,
  ControlInput,
  ControlProblem,
  DeviceStatus,
  DeviceTransfer,
  Favourites,
  HomeFolder,
  PowerAction,
  RoomInfo,
  SavedShot,
  SignedIn,
  SignInMethods,
  UnknownDevice,
  ScreenFrame,
  TransferEvent,
} from "./backend";
import { buttonNumber, InputQueue, KeyTranslator, pictureFraction, SHORTCUTS, WheelNotches } from "./control";
import { Compositor } from "./frames";
import { I18n, type Key, type Language } from "./i18n";
import { icons } from "./icons";
import { Selection } from "./selection";

/** Thumbnail width range (CSS pixels) of the zoom slider. */
const ZOOM = { min: 160, max: 720, step: 20, initial: 260 };

/** The device under the teacher's control and how its input goes there. */
interface Control {
  device: string;
  queue: InputQueue;
  keys: KeyTranslator;
  wheel: WheelNotches;
  /** Mouse buttons pressed on the student's computer and not yet released. */
  buttons: Set<number>;
}

interface Card {
  status: DeviceStatus;
  element: HTMLElement;
  canvas: HTMLCanvasElement;
  compositor: Compositor;
}

export interface AppOptions {
  /** Decodes tile images; the web view's createImageBitmap by default. */
  decode?: (blob: Blob) => Promise<CanvasImageSource>;
  storage?: Storage | null;
}

/** How often the room asks for unknown devices on the network (R14). */
const UNKNOWN_EVERY_MS = 10_000;

export class App {
  readonly root: HTMLElement;
  private room!: RoomInfo;
  private i18n!: I18n;
  private cards: Card[] = [];
  private selection = new Selection(() => this.cards.map((c) => c.status.name));
  private spotlight: string | null = null;
  /** The device in the big view while the teacher controls it (R3). */
  private controlling: Control | null = null;
  /** Whether the window's key listeners for control are in place (once, whatever renders). */
  private windowWired = false;
  private favourites: Favourites = { programs: [], websites: [] };
  private zoomTimer: ReturnType<typeof setTimeout> | undefined;
  /** The broadcast under way (R7), as last asked, and the timer asking again. */
  private broadcasting: BroadcastState | null = null;
  private broadcastTimer: ReturnType<typeof setInterval> | undefined;
  private readonly storage: Storage | null;

  constructor(
    root: HTMLElement,
    private readonly backend: Backend,
    private readonly options: AppOptions = {},
  ) {
    this.root = root;
    this.storage = options.storage === undefined ? (globalThis.localStorage ?? null) : options.storage;
  }

  /** Loads the room, draws the view and starts the live flow; on a teacher
   * PC at a registry, the teacher signs in first. */
  async start(): Promise<void> {
    try {
      this.room = await this.backend.room();
    } catch (error) {
      const locale = await this.backend.locale().catch(() => globalThis.navigator?.language ?? "en");
      if (codeOf(error) === "sign-in-required") {
        await this.showSignIn(locale);
      } else {
        this.showProblem(locale, error);
      }
      return;
    }
    await this.enter();
  }

  /** The room is there: draw it and start the live flow. */
  private async enter(): Promise<void> {
    this.i18n = new I18n(this.room.locale, this.storage);
    this.favourites = await this.backend.favourites().catch(() => ({ programs: [], websites: [] }));
    this.render();
    await this.backend.subscribe(
      (status) => this.updateStatus(status),
      (frame) => this.drawFrame(frame),
    );
    await this.sendThumbnailSize();
    await this.showUnknownDevices();
    // For as long as the window shows the room.
    setInterval(() => void this.showUnknownDevices(), UNKNOWN_EVERY_MS);
  }

  /** Agents on the network this room does not know (R14): how many, and
   * their names and addresses when opened. Asked for again every few
   * seconds; nothing of it is kept. */
  async showUnknownDevices(): Promise<void> {
    const unknown = await this.backend.unknownDevices().catch(() => [] as UnknownDevice[]);
    const box = this.root.querySelector<HTMLDetailsElement>(".unknown-devices");
    if (!box) return;
    box.hidden = unknown.length === 0;
    box.querySelector("summary")!.textContent = this.t("unknownDevices", { count: unknown.length });
    box.querySelector("ul")!.innerHTML = unknown
      .map((device) => `<li><strong>${escape(device.name)}</strong> <span class="muted">${escape(device.address)}</span></li>`)
      .join("");
  }

  // ---- signing in -------------------------------------------------------

  /** The sign-in (R9): user name and password, or the school's identity
   * provider in the system browser; then the room of this PC (or one of the
   * rooms it may serve). The certificate is the app's business, never the
   * teacher's. */
  private async showSignIn(locale: string): Promise<void> {
    this.i18n = new I18n(locale, this.storage);
    document.documentElement.lang = this.i18n.language;
    const methods = await this.backend.signInMethods().catch((error) => error as unknown);
    const browser = methods && typeof methods === "object" && "browser" in methods ? (methods as SignInMethods).browser : null;
    this.root.innerHTML = `
      <header class="topbar"><div class="brand">${icons.desk}<span>${this.t("appTitle")}</span></div></header>
      <main class="problem sign-in">
        <h1>${this.t("signInTitle")}</h1>
        <p class="muted">${this.t("signInHint")}</p>
        <form class="sign-in-form">
          <label>${this.t("user")} <input name="user" id="sign-in-user" autocomplete="username" required maxlength="256"></label>
          <label>${this.t("password")} <input name="password" id="sign-in-password" type="password" autocomplete="current-password" required maxlength="1024"></label>
          <div class="buttons"><button type="submit" class="primary" id="sign-in">${this.t("signIn")}</button></div>
        </form>
        ${browser ? `<p class="muted sign-in-or">${this.t("or")}</p>
        <div class="buttons"><button type="button" id="sign-in-browser">${escape(this.t("signInWith", { provider: browser }))}</button></div>` : ""}
        <form class="room-choice" hidden>
          <p class="signed-in-as"></p>
          <label>${this.t("chooseRoom")} <select id="room-choice"></select></label>
          <div class="buttons"><button type="submit" class="primary" id="open-room">${this.t("openRoom")}</button></div>
        </form>
        <p class="sign-in-status muted" role="status"></p>
        <p class="sign-in-problem problem-detail" role="alert" hidden></p>
      </main>`;
    const form = this.root.querySelector<HTMLFormElement>(".sign-in-form")!;
    const status = this.root.querySelector<HTMLElement>(".sign-in-status")!;
    const problem = this.root.querySelector<HTMLElement>(".sign-in-problem")!;
    const say = (text: string, error: unknown = null) => {
      status.textContent = error ? "" : text;
      problem.hidden = !error;
      problem.textContent = error ? this.explain(error) : "";
    };
    if (methods && !browser && codeOf(methods)) say("", methods);
    const busy = (on: boolean) => {
      for (const button of this.root.querySelectorAll<HTMLButtonElement>(".sign-in button")) button.disabled = on;
    };
    const signedIn = async (signingIn: Promise<SignedIn>, waiting: string) => {
      busy(true);
      say(waiting);
      try {
        const who = await signingIn;
        if (who.rooms.length > 1) {
          this.chooseRoom(who);
          busy(false);
          say("");
          return;
        }
        await this.openRoom(null);
      } catch (error) {
        busy(false);
        say("", error);
      }
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(form);
      void signedIn(this.backend.signIn(String(data.get("user") ?? "").trim(), String(data.get("password") ?? "")), this.t("signingIn"));
    });
    this.root.querySelector("#sign-in-browser")?.addEventListener("click", () => {
      void signedIn(this.backend.signInBrowser(), this.t("waitingForBrowser"));
    });
    const choice = this.root.querySelector<HTMLFormElement>(".room-choice")!;
    choice.addEventListener("submit", (event) => {
      event.preventDefault();
      const room = this.root.querySelector<HTMLSelectElement>("#room-choice")!.value;
      busy(true);
      say(this.t("signingIn"));
      this.openRoom(room).catch((error) => {
        busy(false);
        say("", error);
        // The sign-in is gone (it ended meanwhile): sign in again.
        if (codeOf(error) === "sign-in-required") {
          choice.hidden = true;
          form.hidden = false;
        }
      });
    });
    this.root.querySelector<HTMLInputElement>("#sign-in-user")?.focus();
  }

  /** After a sign-in on a PC that serves several rooms: which one now. */
  private chooseRoom(who: SignedIn): void {
    this.root.querySelector<HTMLFormElement>(".sign-in-form")!.hidden = true;
    const choice = this.root.querySelector<HTMLFormElement>(".room-choice")!;
    choice.hidden = false;
    choice.querySelector(".signed-in-as")!.textContent = this.t("signedInAs", { user: who.user });
    choice.querySelector("select")!.innerHTML = who.rooms.map((room) => `<option value="${escape(room)}">${escape(room)}</option>`).join("");
  }

  private async openRoom(room: string | null): Promise<void> {
    this.room = await this.backend.openRoom(room);
    await this.enter();
  }

  // ---- rendering -------------------------------------------------------

  /** No room to show: say why (the backend's words) and what to do. */
  private showProblem(locale: string, error: unknown): void {
    this.i18n = new I18n(locale, this.storage);
    document.documentElement.lang = this.i18n.language;
    const detail = error instanceof Error ? error.message : String(error);
    this.root.innerHTML = `
      <header class="topbar"><div class="brand">${icons.desk}<span>${this.t("appTitle")}</span></div></header>
      <main class="problem" role="alert">
        <h1>${this.t("noRoom")}</h1>
        <p class="problem-detail">${escape(detail)}</p>
        <p class="muted">${this.t("noRoomHint")}</p>
      </main>`;
  }

  private t(key: Key, params?: Record<string, string | number>): string {
    return this.i18n.t(key, params);
  }

  private render(): void {
    document.documentElement.lang = this.i18n.language;
    const validUntil = new Date(this.room.validUntil).toLocaleTimeString(this.i18n.language, { hour: "2-digit", minute: "2-digit" });
    this.root.innerHTML = `
      <header class="topbar">
        <div class="brand">${icons.desk}<span>${this.t("appTitle")}</span></div>
        <div class="room-info">
          <strong class="room-name">${escape(this.t("room", { room: this.room.room }))}</strong>
          <span>${escape(this.room.organisation)}</span>
          <span>${escape(this.t("teacher", { name: this.room.teacher }))}</span>
          <span class="valid">${escape(this.t("validUntil", { time: validUntil }))}</span>
        </div>
        <details class="unknown-devices" hidden>
          <summary></summary>
          <p class="muted">${this.t("unknownDevicesHint")}</p>
          <ul></ul>
        </details>
        <label class="zoom">${this.t("zoom")}
          <input type="range" class="zoom-slider" min="${ZOOM.min}" max="${ZOOM.max}" step="${ZOOM.step}" value="${this.zoom()}" aria-label="${this.t("zoom")}">
        </label>
        <div class="language" role="group" aria-label="${this.t("language")}">
          <button type="button" data-language="de" title="Deutsch" aria-pressed="${this.i18n.language === "de"}">DE</button>
          <button type="button" data-language="en" title="English" aria-pressed="${this.i18n.language === "en"}">EN</button>
        </div>
      </header>
      <nav class="toolbar" role="toolbar">
        <button type="button" class="select-all">${this.t("selectAll")}</button>
        <button type="button" class="clear-selection">${this.t("clearSelection")}</button>
        <span class="selection-count" aria-live="polite"></span>
        <span class="spacer"></span>
        <button type="button" class="action" data-action="screenshot">${icons.camera}<span>${this.t("screenshot")}</span></button>
        <button type="button" class="action" data-action="run">${icons.play}<span>${this.t("runProgram")}</span></button>
        <button type="button" class="action" data-action="open-url">${icons.globe}<span>${this.t("openWebsite")}</span></button>
        <button type="button" class="action" data-action="send-files">${icons.send}<span>${this.t("sendFiles")}</span></button>
        <button type="button" class="action" data-action="collect">${icons.collect}<span>${this.t("collectFiles")}</span></button>
        <button type="button" class="action" data-action="message" title="${escape(this.t("shortcut", { keys: "Ctrl+M" }))}">${icons.message}<span>${this.t("message")}</span></button>
        <button type="button" class="action" data-action="lock" title="${escape(this.t("shortcut", { keys: "Ctrl+L" }))}">${icons.lock}<span>${this.t("lock")}</span></button>
        <button type="button" class="action" data-action="unlock" title="${escape(this.t("shortcut", { keys: "Ctrl+Shift+L" }))}">${icons.unlock}<span>${this.t("unlock")}</span></button>
        <button type="button" class="action" data-action="power">${icons.power}<span>${this.t("power")}</span></button>
        <button type="button" class="action" data-action="broadcast">${icons.broadcast}<span>${this.t("broadcast")}</span></button>
        <button type="button" class="lock-all">${icons.lock}<span>${this.t("lockAll")}</span></button>
        <button type="button" class="gallery-button">${icons.images}<span>${this.t("gallery")}</span></button>
      </nav>
      <div class="broadcast-bar" role="status" hidden><span class="broadcast-text"></span>
        <button type="button" class="broadcast-stop">${icons.close}<span>${this.t("broadcastStop")}</span></button></div>
      <main class="grid" role="listbox" aria-multiselectable="true" aria-label="${escape(this.t("room", { room: this.room.room }))}"></main>
      <div class="toast" role="status" aria-live="polite" hidden></div>
      <section class="overlay spotlight" hidden role="dialog" aria-modal="true">
        <header><h2 class="spotlight-title"></h2><span class="spotlight-user"></span><span class="spacer"></span>
          <select class="shortcut-menu" hidden aria-label="${this.t("sendShortcut")}"><option value="">${this.t("sendShortcut")}</option>${SHORTCUTS.map((s) => `<option value="${s.keys}">${s[this.i18n.language]}</option>`).join("")}</select>
          <button type="button" class="spotlight-clipboard" hidden>${icons.clipboard}<span>${this.t("clipboard")}</span></button>
          <button type="button" class="spotlight-control" aria-pressed="false">${icons.mouse}<span>${this.t("control")}</span></button>
          <button type="button" class="spotlight-show">${icons.broadcast}<span>${this.t("showToClass")}</span></button>
          <button type="button" class="spotlight-shot">${icons.camera}<span>${this.t("screenshot")}</span></button>
          <button type="button" class="close" aria-label="${this.t("close")}">${icons.close}</button></header>
        <div class="spotlight-screen"></div>
      </section>
      <section class="overlay panel dialog" hidden role="dialog" aria-modal="true"></section>
      <section class="overlay panel gallery" hidden role="dialog" aria-modal="true"></section>
      <section class="overlay panel results" hidden role="dialog" aria-modal="true"></section>`;
    this.root.style.setProperty("--card-width", `${this.zoom()}px`);

    const grid = this.root.querySelector<HTMLElement>(".grid")!;
    const previous = new Map(this.cards.map((c) => [c.status.name, c]));
    this.cards = this.room.devices.map((status) => {
      const card = previous.get(status.name) ?? this.makeCard(status);
      card.status = previous.get(status.name)?.status ?? status;
      grid.append(card.element);
      this.paintCard(card);
      return card;
    });
    if (this.cards.length > 0) this.cards[0].element.tabIndex = 0;
    this.wire();
    this.paintSelection();
    this.paintBroadcast();
  }

  private makeCard(status: DeviceStatus): Card {
    const element = document.createElement("article");
    element.className = "device";
    element.setAttribute("role", "option");
    element.tabIndex = -1;
    element.dataset.name = status.name;
    element.innerHTML = `
      <div class="screen"><span class="badge"></span><span class="tick">${icons.check}</span>
        <button type="button" class="expand" tabindex="-1" title="${escape(this.t("bigView", { name: status.name }))}" aria-label="${escape(this.t("bigView", { name: status.name }))}">${icons.expand}</button></div>
      <div class="label"><span class="name"></span><span class="position"></span></div>
      <div class="user"></div>
      <div class="lock-state" hidden>${icons.lock}<span></span></div>`;
    const canvas = document.createElement("canvas");
    canvas.className = "thumbnail";
    element.querySelector(".screen")!.prepend(canvas);
    return { status, element, canvas, compositor: new Compositor(canvas, this.options.decode) };
  }

  private paintCard(card: Card): void {
    const { status, element } = card;
    element.dataset.state = status.state.kind;
    element.querySelector(".name")!.textContent = status.name;
    element.querySelector(".position")!.textContent = status.position ?? "";
    element.querySelector(".user")!.textContent = status.state.kind === "online" ? (status.user ?? this.t("noUser")) : "";
    const locked = status.state.kind === "online" && status.locked !== null && status.locked !== undefined;
    element.classList.toggle("locked", locked);
    const lockState = element.querySelector<HTMLElement>(".lock-state")!;
    lockState.hidden = !locked;
    lockState.querySelector("span")!.textContent = locked ? this.t("lockedBy", { name: status.locked! }) : "";
    const badge = element.querySelector<HTMLElement>(".badge")!;
    badge.textContent = this.stateText(status);
    const reason = "reason" in status.state ? this.explain(status.state) : "";
    badge.title = reason;
    element.title = [status.name, status.position, this.stateText(status), reason].filter(Boolean).join(" · ");
  }

  private stateText(status: DeviceStatus): string {
    const keys: Record<DeviceStatus["state"]["kind"], Key> = {
      online: "online",
      offline: "offline",
      connecting: "connecting",
      refused: "refused",
      "not-steerable": "notSteerable",
    };
    return this.t(keys[status.state.kind]);
  }

  private paintSelection(): void {
    for (const card of this.cards) {
      const selected = this.selection.has(card.status.name);
      card.element.classList.toggle("selected", selected);
      card.element.setAttribute("aria-selected", String(selected));
    }
    const count = this.root.querySelector(".selection-count")!;
    count.textContent = this.selection.size > 0 ? this.t("selected", { count: this.selection.size }) : this.t("noneSelected");
    const none = this.selection.size === 0;
    this.root.querySelectorAll<HTMLButtonElement>(".action").forEach((button) => (button.disabled = none));
  }

  // ---- events ----------------------------------------------------------

  private wire(): void {
    const grid = this.root.querySelector<HTMLElement>(".grid")!;
    grid.addEventListener("click", (event) => {
      const card = (event.target as HTMLElement).closest<HTMLElement>(".device");
      if (!card) return;
      if ((event.target as HTMLElement).closest(".expand")) {
        void this.openSpotlight(card.dataset.name!);
        return;
      }
      this.selection.click(card.dataset.name!, { shift: event.shiftKey, ctrl: event.ctrlKey || event.metaKey });
      this.focusCard(card);
      this.paintSelection();
    });
    grid.addEventListener("dblclick", (event) => {
      const card = (event.target as HTMLElement).closest<HTMLElement>(".device");
      if (card) void this.openSpotlight(card.dataset.name!);
    });
    grid.addEventListener("keydown", (event) => this.onGridKey(event));
    this.root.querySelector(".select-all")!.addEventListener("click", () => {
      this.selection.selectAll();
      this.paintSelection();
    });
    this.root.querySelector(".clear-selection")!.addEventListener("click", () => {
      this.selection.clear();
      this.paintSelection();
    });
    this.root.querySelector('[data-action="screenshot"]')!.addEventListener("click", () => void this.screenshots(this.selection.values()));
    this.root.querySelector('[data-action="run"]')!.addEventListener("click", () => this.openRunDialog());
    this.root.querySelector('[data-action="open-url"]')!.addEventListener("click", () => this.openUrlDialog());
    this.root.querySelector('[data-action="send-files"]')!.addEventListener("click", () => void this.openSendDialog());
    this.root.querySelector('[data-action="collect"]')!.addEventListener("click", () => this.openCollectDialog());
    this.root.querySelector('[data-action="message"]')!.addEventListener("click", () => this.openMessageDialog());
    this.root.querySelector('[data-action="lock"]')!.addEventListener("click", () => this.openLockDialog(this.selection.values()));
    this.root.querySelector('[data-action="unlock"]')!.addEventListener("click", () => void this.unlock(this.selection.values()));
    this.root.querySelector('[data-action="power"]')!.addEventListener("click", () => this.openPowerDialog(this.selection.values()));
    this.root.querySelector('[data-action="broadcast"]')!.addEventListener("click", () => void this.openBroadcastDialog(this.selection.values(), null));
    this.root.querySelector(".broadcast-stop")!.addEventListener("click", () => void this.stopBroadcast());
    this.root.querySelector(".spotlight-show")!.addEventListener("click", () => {
      const from = this.spotlight;
      if (from) void this.openBroadcastDialog(this.steerable().filter((d) => d !== from), from);
    });
    this.root.querySelector(".lock-all")!.addEventListener("click", () => this.openLockDialog(this.steerable()));
    this.root.querySelector(".gallery-button")!.addEventListener("click", () => void this.openGallery());
    this.root.querySelector(".spotlight .close")!.addEventListener("click", () => void this.closeSpotlight());
    this.root.querySelector(".spotlight-shot")!.addEventListener("click", () => {
      if (this.spotlight) void this.screenshots([this.spotlight]);
    });
    this.root.querySelector(".spotlight-control")!.addEventListener("click", () => void this.toggleControl());
    this.root.querySelector(".spotlight-clipboard")!.addEventListener("click", () => void this.openClipboardDialog());
    const shortcuts = this.root.querySelector<HTMLSelectElement>(".shortcut-menu")!;
    shortcuts.addEventListener("change", () => {
      if (shortcuts.value) this.controlling?.queue.push({ kind: "shortcut", keys: shortcuts.value });
      shortcuts.value = "";
      // Keys go to the student again, not to the menu.
      shortcuts.blur();
    });
    this.wireControl();
    const slider = this.root.querySelector<HTMLInputElement>(".zoom-slider")!;
    slider.addEventListener("input", () => {
      this.root.style.setProperty("--card-width", `${slider.value}px`);
      this.storage?.setItem("pult.zoom", slider.value);
      clearTimeout(this.zoomTimer);
      this.zoomTimer = setTimeout(() => void this.sendThumbnailSize(), 200);
    });
    this.root.querySelectorAll<HTMLButtonElement>(".language button").forEach((button) =>
      button.addEventListener("click", () => {
        this.i18n.switchTo(button.dataset.language as Language);
        this.render();
        this.root.querySelector<HTMLButtonElement>(`.language [data-language="${button.dataset.language}"]`)?.focus();
      }),
    );
    // Until the teacher picks a size, thumbnails follow the window's size.
    window.onresize = () => {
      if (this.storage?.getItem("pult.zoom")) return;
      slider.value = String(this.zoom());
      this.root.style.setProperty("--card-width", `${this.zoom()}px`);
      clearTimeout(this.zoomTimer);
      this.zoomTimer = setTimeout(() => void this.sendThumbnailSize(), 200);
    };
    this.root.addEventListener("keydown", (event) => {
      if (this.controlling) return;
      if (event.key === "Escape") this.onEscape();
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "a" && !isTyping(event)) {
        event.preventDefault();
        this.selection.selectAll();
        this.paintSelection();
      }
      this.onShortcut(event);
    });
  }

  /** Ctrl+M message, Ctrl+L lock, Ctrl+Shift+L unlock, on the selection
   * (or the device in the big view); not while a dialog is open. */
  private onShortcut(event: KeyboardEvent): void {
    if (!(event.ctrlKey || event.metaKey) || event.altKey || isTyping(event)) return;
    const dialogOpen = [...this.root.querySelectorAll<HTMLElement>(".overlay.panel")].some((o) => !o.hidden);
    if (dialogOpen) return;
    const devices = this.spotlight ? [this.spotlight] : this.selection.values();
    const key = event.key.toLowerCase();
    if (key !== "m" && key !== "l") return;
    event.preventDefault();
    if (devices.length === 0) return;
    if (key === "m") this.openMessageDialog(devices);
    else if (event.shiftKey) void this.unlock(devices);
    else this.openLockDialog(devices);
  }

  /** Every device the room may steer. */
  private steerable(): string[] {
    return this.cards.filter((c) => c.status.state.kind !== "not-steerable").map((c) => c.status.name);
  }

  private onGridKey(event: KeyboardEvent): void {
    const cards = this.cards.map((c) => c.element);
    const current = cards.indexOf(document.activeElement as HTMLElement);
    if (current < 0) return;
    const columns = Math.max(1, cards.filter((c) => c.offsetTop === cards[0].offsetTop).length);
    const moves: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns, Home: -current, End: cards.length - 1 - current };
    if (event.key in moves) {
      event.preventDefault();
      const next = Math.min(cards.length - 1, Math.max(0, current + moves[event.key]));
      this.focusCard(cards[next]);
      if (event.shiftKey) {
        this.selection.click(cards[next].dataset.name!, { shift: true });
        this.paintSelection();
      }
    } else if (event.key === " ") {
      event.preventDefault();
      this.selection.toggle(cards[current].dataset.name!);
      this.paintSelection();
    } else if (event.key === "Enter") {
      event.preventDefault();
      void this.openSpotlight(cards[current].dataset.name!);
    }
  }

  private focusCard(card: HTMLElement): void {
    this.cards.forEach((c) => (c.element.tabIndex = -1));
    card.tabIndex = 0;
    card.focus();
  }

  private onEscape(): void {
    const open = [...this.root.querySelectorAll<HTMLElement>(".overlay")].filter((o) => !o.hidden);
    if (open.length === 0) {
      this.selection.clear();
      this.paintSelection();
      return;
    }
    for (const overlay of open) {
      if (overlay.classList.contains("spotlight")) void this.closeSpotlight();
      else overlay.hidden = true;
    }
  }

  // ---- live data -------------------------------------------------------

  updateStatus(status: DeviceStatus): void {
    const card = this.cards.find((c) => c.status.name === status.name);
    if (!card) return;
    card.status = status;
    this.paintCard(card);
    if (this.spotlight === status.name) this.paintSpotlightHeader();
  }

  /** Draws `frame` and then reports it shown, which lets its stream go on:
   * a web view that draws slowly slows the agents instead of queueing. */
  drawFrame(frame: ScreenFrame): void {
    const card = this.cards[frame.device];
    if (!card) return;
    void card.compositor.draw(frame).finally(() => this.backend.frameShown(card.status.name).catch(() => undefined));
  }

  /** The thumbnail width: the teacher's last choice, else the largest that
   * shows the whole room in the window. */
  private zoom(): number {
    const stored = Number(this.storage?.getItem("pult.zoom"));
    if (stored >= ZOOM.min && stored <= ZOOM.max) return stored;
    return fittingZoom(window.innerWidth, window.innerHeight, this.room?.devices.length ?? 0);
  }

  private async sendThumbnailSize(): Promise<void> {
    const width = Math.round(this.zoom() * (globalThis.devicePixelRatio || 1));
    await this.backend.setThumbnailSize(width, Math.round((width * 9) / 16));
  }

  // ---- big view ---------------------------------------------------------

  async openSpotlight(name: string): Promise<void> {
    const card = this.cards.find((c) => c.status.name === name);
    if (!card) return;
    if (this.spotlight) await this.closeSpotlight();
    this.spotlight = name;
    const overlay = this.root.querySelector<HTMLElement>(".spotlight")!;
    overlay.hidden = false;
    overlay.querySelector(".spotlight-screen")!.append(card.canvas);
    card.element.classList.add("in-spotlight");
    this.paintSpotlightHeader();
    const ratio = globalThis.devicePixelRatio || 1;
    const width = Math.round((window.innerWidth || 1280) * ratio);
    const height = Math.round((window.innerHeight || 720) * ratio);
    overlay.querySelector<HTMLButtonElement>(".close")!.focus();
    await this.backend.focus(name, width, height);
  }

  private paintSpotlightHeader(): void {
    const card = this.cards.find((c) => c.status.name === this.spotlight);
    if (!card) return;
    const overlay = this.root.querySelector<HTMLElement>(".spotlight")!;
    overlay.setAttribute("aria-label", this.t("bigView", { name: card.status.name }));
    overlay.querySelector(".spotlight-title")!.textContent = [card.status.name, card.status.position].filter(Boolean).join(" · ");
    overlay.querySelector(".spotlight-user")!.textContent = `${card.status.user ?? ""} · ${this.stateText(card.status)}`;
    const toggle = overlay.querySelector<HTMLButtonElement>(".spotlight-control")!;
    const on = this.controlling?.device === card.status.name;
    const why = card.status.state.kind !== "online" ? this.stateText(card.status) : card.status.locked ? this.t("controlLocked") : null;
    toggle.disabled = !on && why !== null;
    toggle.setAttribute("aria-pressed", String(on));
    toggle.title = why ?? this.t(on ? "controlStop" : "controlHint", { name: card.status.name });
    overlay.querySelector<HTMLElement>(".shortcut-menu")!.hidden = !on;
    overlay.querySelector<HTMLElement>(".spotlight-clipboard")!.hidden = !on;
    overlay.classList.toggle("controlling", on);
  }

  async closeSpotlight(): Promise<void> {
    const name = this.spotlight;
    if (!name) return;
    await this.endControl();
    this.spotlight = null;
    const card = this.cards.find((c) => c.status.name === name)!;
    card.element.querySelector(".screen")!.prepend(card.canvas);
    card.element.classList.remove("in-spotlight");
    this.root.querySelector<HTMLElement>(".spotlight")!.hidden = true;
    card.element.focus();
    await this.backend.focus(null, 0, 0);
  }

  // ---- remote control (R3) ----------------------------------------------

  /** Takes over mouse and keyboard of the device in the big view, or gives them back. */
  async toggleControl(): Promise<void> {
    if (this.controlling) return this.endControl();
    const device = this.spotlight;
    if (!device) return;
    try {
      await this.backend.control(device);
    } catch (error) {
      this.toast(this.t("controlRefused", { name: device, reason: this.explain(error) }), true);
      return;
    }
    if (this.spotlight !== device) {
      await this.backend.control(null).catch(() => undefined);
      return;
    }
    const queue = new InputQueue(async (inputs) => {
      try {
        const problems = await this.backend.controlInput(device, inputs);
        if (problems.length > 0) this.toast(this.t("controlFailed", { name: device, reason: this.explain(problems[0]) }), true);
      } catch (error) {
        if (this.controlling?.queue !== queue) return;
        this.controlling = null;
        // The desk may still hold the session: give it up, the agent lets go of every key.
        await this.backend.control(null).catch(() => undefined);
        this.paintSpotlightHeader();
        this.toast(this.t("controlLost", { name: device, reason: this.explain(error) }), true);
      }
    });
    this.controlling = { device, queue, keys: new KeyTranslator(), wheel: new WheelNotches(), buttons: new Set() };
    (document.activeElement as HTMLElement | null)?.blur();
    this.paintSpotlightHeader();
  }

  /** The student's clipboard both ways: the dialog shows what the student
   * copied (the teacher copies it from there) and sends what the teacher
   * puts in (pasted with Ctrl+V), for the student to paste. */
  private async openClipboardDialog(): Promise<void> {
    const control = this.controlling;
    if (!control) return;
    this.showDialog(
      this.t("clipboard"),
      [control.device],
      `<p class="muted">${this.t("clipboardHint")}</p>
       <label>${this.t("clipboardText")}<textarea name="text" class="clipboard-input" rows="8"></textarea></label>`,
      this.t("clipboardSend"),
      async (form) => {
        if (this.controlling !== control) return this.t("controlStopped");
        // What the agent takes: 32 KiB of UTF-8, no control characters but line breaks and tabs.
        const text = (form.get("text") as string).replace(/[^\P{Cc}\n\r\t]/gu, "");
        if (new TextEncoder().encode(text).length > 32768) return this.t("clipboardTooLong");
        control.queue.push({ kind: "clipboard", text });
        await control.queue.drained();
        this.toast(this.t("clipboardSent", { name: control.device }));
        return null;
      },
      () => undefined,
    );
    const input = this.root.querySelector<HTMLTextAreaElement>(".clipboard-input")!;
    input.disabled = true;
    try {
      input.value = await this.backend.readClipboard(control.device);
    } catch (error) {
      this.root.querySelector(".dialog .error")!.textContent = this.explain(error);
    }
    input.disabled = false;
    input.select();
    input.focus();
  }

  /** Gives mouse and keyboard back: held keys are let go on the student's computer. */
  private async endControl(): Promise<void> {
    const control = this.controlling;
    if (!control) return;
    this.controlling = null;
    if (control.keys.releaseAll().length > 0 || control.buttons.size > 0) control.queue.push({ kind: "releaseAll" });
    await control.queue.drained();
    await this.backend.control(null).catch(() => undefined);
    this.paintSpotlightHeader();
  }

  /** The big view's picture takes the pointer and the window's keys go to
   * the student's computer while the teacher controls it. */
  private wireControl(): void {
    const screen = this.root.querySelector<HTMLElement>(".spotlight-screen")!;
    const point = (event: MouseEvent): { x: number; y: number } | null => {
      const canvas = screen.querySelector("canvas");
      if (!canvas) return null;
      return pictureFraction(canvas.getBoundingClientRect(), canvas.width, canvas.height, event.clientX, event.clientY);
    };
    const send = (...inputs: ControlInput[]) => this.controlling?.queue.push(...inputs);
    screen.addEventListener("pointermove", (event) => {
      const at = this.controlling && point(event);
      if (at) send({ kind: "glide", ...at });
    });
    const press = (event: PointerEvent, down: boolean) => {
      const at = this.controlling && point(event);
      const button = buttonNumber(event.button);
      const control = this.controlling;
      if (!control || button === null || (down && !at) || (!down && !control.buttons.has(button))) return;
      event.preventDefault();
      if (down) {
        screen.setPointerCapture?.(event.pointerId);
        control.buttons.add(button);
      } else {
        control.buttons.delete(button);
      }
      send(...(at ? [{ kind: "move" as const, ...at }] : []), { kind: "button", button, down });
    };
    screen.addEventListener("pointerdown", (event) => press(event, true));
    screen.addEventListener("pointerup", (event) => press(event, false));
    // A drag the system broke off (a window switch, a touch cancelled) lets go.
    screen.addEventListener("pointercancel", (event) => {
      const button = buttonNumber(event.button);
      const control = this.controlling;
      if (!control) return;
      for (const held of button !== null && control.buttons.has(button) ? [button] : [...control.buttons]) {
        control.buttons.delete(held);
        send({ kind: "button", button: held, down: false });
      }
    });
    screen.addEventListener("contextmenu", (event) => {
      if (this.controlling) event.preventDefault();
    });
    screen.addEventListener(
      "wheel",
      (event) => {
        if (!this.controlling) return;
        event.preventDefault();
        const notches = this.controlling.wheel.add(event);
        if (notches) send({ kind: "wheel", ...notches });
      },
      { passive: false },
    );
    if (this.windowWired) return;
    this.windowWired = true;
    // Before the page's own shortcuts: Ctrl+L, Escape and the rest are the student's now.
    const key = (event: KeyboardEvent, down: boolean) => {
      // A dialog over the big view (the clipboard) keeps its own keys.
      const dialogOpen = [...this.root.querySelectorAll<HTMLElement>(".overlay.panel")].some((o) => !o.hidden);
      if (!this.controlling || isTyping(event) || dialogOpen) return;
      event.preventDefault();
      event.stopPropagation();
      const keys = this.controlling.keys;
      send(...(down ? keys.down(event) : keys.up(event)));
    };
    window.addEventListener("keydown", (event) => key(event, true), { capture: true });
    window.addEventListener("keyup", (event) => key(event, false), { capture: true });
    window.addEventListener("blur", () => {
      const control = this.controlling;
      if (!control) return;
      const keys = control.keys.releaseAll();
      if (keys.length > 0 || control.buttons.size > 0) send({ kind: "releaseAll" });
      control.buttons.clear();
    });
  }

  // ---- actions ----------------------------------------------------------

  /** An error in the teacher's language where its code is one the UI words itself. */
  private explain(error: unknown): string {
    const code = codeOf(error);
    const key = `error.${code}`;
    const holder = typeof error === "object" && error && "holder" in error ? (error as ControlProblem).holder : undefined;
    if (holder) return this.t("inUseBy", { user: holder.user, room: holder.room });
    if (code && this.i18n.has(key)) return this.t(key);
    if (typeof error === "object" && error && "reason" in error) return String((error as { reason: unknown }).reason);
    if (typeof error === "object" && error && "ok" in error) {
      const result = error as { message?: string; code?: string };
      return result.message ?? result.code ?? "";
    }
    return message(error);
  }

  async screenshots(devices: string[]): Promise<void> {
    const saved: SavedShot[] = [];
    for (const device of devices) {
      try {
        saved.push(await this.backend.screenshot(device));
      } catch (error) {
        this.toast(this.t("shotFailed", { name: device, reason: this.explain(error) }), true);
      }
    }
    if (saved.length > 0) this.toast(this.t("saved", { file: saved.map((s) => s.fileName).join(", ") }));
  }

  private openRunDialog(): void {
    const devices = this.selection.values();
    this.showDialog(
      this.t("runProgram"),
      devices,
      `<label>${this.t("program")}<input name="program" class="program-input" autocomplete="off" required></label>
       <label>${this.t("arguments")}<input name="args" class="args-input" autocomplete="off"></label>
       ${this.favouritesSection(this.favourites.programs)}`,
      this.t("run"),
      async (form) => {
        const program = (form.get("program") as string).trim();
        if (!program) return this.t("programMissing");
        const args = (form.get("args") as string).split(/\s+/).filter(Boolean);
        if (form.get("keep")) {
          this.favourites.programs.push({ label: [program, ...args].join(" "), program, args });
          await this.backend.saveFavourites(this.favourites);
        }
        this.showResults(this.t("runProgram"), await this.backend.runProgram(devices, program, args));
        return null;
      },
      (panel) =>
        this.wireFavourites(panel, this.favourites.programs, () => this.openRunDialog(), (favourite) => {
          panel.querySelector<HTMLInputElement>(".program-input")!.value = favourite.program;
          panel.querySelector<HTMLInputElement>(".args-input")!.value = favourite.args.join(" ");
        }),
    );
  }

  private openUrlDialog(): void {
    const devices = this.selection.values();
    this.showDialog(
      this.t("openWebsite"),
      devices,
      `<label>${this.t("url")}<input name="url" class="url-input" type="url" autocomplete="off" placeholder="https://" required></label>
       ${this.favouritesSection(this.favourites.websites)}`,
      this.t("open"),
      async (form) => {
        const url = (form.get("url") as string).trim();
        if (!/^https?:\/\/\S+$/i.test(url)) return this.t("urlInvalid");
        if (form.get("keep")) {
          this.favourites.websites.push({ label: url.replace(/^https?:\/\//i, ""), url });
          await this.backend.saveFavourites(this.favourites);
        }
        this.showResults(this.t("openWebsite"), await this.backend.openUrl(devices, url));
        return null;
      },
      (panel) =>
        this.wireFavourites(panel, this.favourites.websites, () => this.openUrlDialog(), (favourite) => {
          panel.querySelector<HTMLInputElement>(".url-input")!.value = favourite.url;
        }),
    );
  }

  /** Send files (R6): files and folders picked from the teacher's home
   * folder go to the selected devices; progress per device and per file. */
  async openSendDialog(): Promise<void> {
    const devices = this.selection.values();
    if (devices.length === 0) return;
    const picked = new Set<string>();
    let folder: HomeFolder;
    try {
      folder = await this.backend.homeFolder("");
    } catch (error) {
      this.toast(this.explain(error), true);
      return;
    }
    this.showDialog(
      this.t("sendFiles"),
      devices,
      `<div class="picker"><nav class="picker-path"></nav><ul class="picker-list"></ul></div>
       <p class="muted picked"></p>
       <label class="check"><input type="checkbox" name="overwrite" class="overwrite-input"> ${this.t("overwrite")}</label>
       <label class="check"><input type="checkbox" name="open" class="open-input"> ${this.t("openAfter")}</label>
       <p class="muted">${this.t("sendHint")}</p>`,
      this.t("send"),
      async (form) => {
        if (picked.size === 0) return this.t("nothingPicked");
        const panel = this.root.querySelector<HTMLElement>(".dialog")!;
        const view = this.showTransfer(this.t("sendFiles"), devices, "sentOk");
        panel.hidden = true;
        try {
          view.finish(await this.backend.sendFiles(devices, [...picked], form.get("overwrite") === "on", form.get("open") === "on", view.event));
        } catch (error) {
          // Nothing went: a name or a file the console refused before sending.
          view.close();
          panel.hidden = false;
          return this.explain(error);
        }
        return null;
      },
      (panel) => {
        const paint = () => {
          const parts = folder.path ? folder.path.split("/") : [];
          const crumbs = [`<button type="button" class="crumb" data-path="">${icons.folder}${escape(this.t("homeFolder"))}</button>`]
            .concat(parts.map((part, i) => `<button type="button" class="crumb" data-path="${escape(parts.slice(0, i + 1).join("/"))}">${escape(part)}</button>`))
            .join("<span>/</span>");
          panel.querySelector(".picker-path")!.innerHTML = crumbs;
          const at = (name: string) => (folder.path ? `${folder.path}/${name}` : name);
          panel.querySelector(".picker-list")!.innerHTML =
            folder.entries.length === 0
              ? `<li class="muted">${this.t("emptyFolder")}</li>`
              : folder.entries
                  .map((entry) => {
                    const path = escape(at(entry.name));
                    const name = entry.folder
                      ? `<button type="button" class="enter" data-path="${path}">${icons.folder}${escape(entry.name)}</button>`
                      : `<span class="file-name">${escape(entry.name)}</span><span class="muted size">${escape(size(entry.size))}</span>`;
                    return `<li><input type="checkbox" class="pick" data-path="${path}" aria-label="${escape(entry.name)}"${picked.has(at(entry.name)) ? " checked" : ""}>${name}</li>`;
                  })
                  .join("");
          panel.querySelector(".picked")!.textContent = picked.size > 0 ? this.t("selected", { count: picked.size }) : this.t("nothingPicked");
        };
        const go = async (path: string) => {
          try {
            folder = await this.backend.homeFolder(path);
            paint();
          } catch (error) {
            panel.querySelector(".error")!.textContent = this.explain(error);
          }
        };
        panel.querySelector(".picker")!.addEventListener("click", (event) => {
          const target = (event.target as HTMLElement).closest<HTMLElement>("[data-path]");
          if (!target) return;
          if (target.matches(".pick")) {
            const path = target.dataset.path!;
            if ((target as HTMLInputElement).checked) picked.add(path);
            else picked.delete(path);
            paint();
          } else void go(target.dataset.path!);
        });
        paint();
      },
    );
  }

  /** Collect (R6): the selected devices' hand-in folders, or only files
   * like a pattern, into the teacher's collect folder. */
  private openCollectDialog(): void {
    const devices = this.selection.values();
    if (devices.length === 0) return;
    this.showDialog(
      this.t("collectFiles"),
      devices,
      `<label>${this.t("collectPattern")}<input name="pattern" class="pattern-input" autocomplete="off" placeholder="*.pdf"></label>
       <p class="muted">${this.t("collectHint")}</p>
       <p class="muted">${escape(this.t("savedIn", { path: this.room.collectDir }))}</p>`,
      this.t("collectFiles"),
      async (form) => {
        const pattern = (form.get("pattern") as string).trim() || null;
        const panel = this.root.querySelector<HTMLElement>(".dialog")!;
        const view = this.showTransfer(this.t("collectFiles"), devices, "collectedOk", this.room.collectDir);
        panel.hidden = true;
        try {
          view.finish(await this.backend.collectFiles(devices, pattern, view.event));
        } catch (error) {
          view.close();
          panel.hidden = false;
          return this.explain(error);
        }
        return null;
      },
      () => undefined,
    );
  }

  /** The transfer panel: a row per device with a progress bar and its
   * files, each with how it went; the result per device at the end. */
  private showTransfer(title: string, devices: string[], okKey: Key, folder?: string) {
    const panel = this.root.querySelector<HTMLElement>(".results")!;
    const rows = devices
      .map(
        (d) => `<li class="running" data-device="${escape(d)}"><strong>${escape(d)}</strong><div class="transfer">
          <progress max="1" value="0"></progress><span class="transfer-state">${this.t("transferWaiting")}</span>
          <details><summary></summary><div class="transfer-files"></div></details></div></li>`,
      )
      .join("");
    panel.innerHTML = `<div class="sheet"><h2>${escape(title)} …</h2>${folder ? `<p class="muted folder">${escape(this.t("savedIn", { path: folder }))}</p>` : ""}
      <ul class="result-list transfer-list">${rows}</ul>
      <div class="buttons"><button type="button" class="primary close-results">${this.t("close")}</button></div></div>`;
    panel.hidden = false;
    panel.querySelector<HTMLButtonElement>(".close-results")!.addEventListener("click", () => (panel.hidden = true));
    // This transfer's own sheet: a later one may take the panel while this runs.
    const sheet = panel.querySelector<HTMLElement>(".sheet")!;
    const state = new Map<string, { sizes: number[]; bytes: number[]; over: number }>();
    const row = (device: string) => [...sheet.querySelectorAll<HTMLElement>(".transfer-list > li")].find((li) => li.dataset.device === device);
    const fileRow = (device: string, index: number) => row(device)?.querySelector<HTMLElement>(`.file[data-index="${index}"]`);
    const paintDevice = (device: string) => {
      const s = state.get(device);
      const li = row(device);
      if (!s || !li) return;
      const total = s.sizes.reduce((a, b) => a + b, 0);
      const moved = s.bytes.reduce((a, b) => a + b, 0);
      const bar = li.querySelector("progress")!;
      bar.value = total > 0 ? moved / total : s.over === s.sizes.length ? 1 : 0;
      li.querySelector(".transfer-state")!.textContent = this.t("transferRunning", {
        done: s.over,
        count: s.sizes.length,
        percent: Math.floor(bar.value * 100),
      });
    };
    const event = (news: TransferEvent) => {
      const li = row(news.device);
      if (!li) return;
      switch (news.kind) {
        case "started":
          state.set(news.device, { sizes: news.sizes, bytes: news.sizes.map(() => 0), over: 0 });
          li.querySelector("summary")!.textContent = this.t("filesCount", { count: news.files.length });
          li.querySelector(".transfer-files")!.innerHTML = news.files
            .map((f, i) => `<div class="file" data-index="${i}" data-state="waiting"><span>${escape(f)}</span><span class="file-state">${this.t("transferWaiting")}</span></div>`)
            .join("");
          paintDevice(news.device);
          break;
        case "progress": {
          const s = state.get(news.device);
          if (s) s.bytes[news.index] = news.bytes;
          const file = fileRow(news.device, news.index);
          if (file && news.size > 0) file.querySelector(".file-state")!.textContent = `${Math.floor((news.bytes / news.size) * 100)} %`;
          paintDevice(news.device);
          break;
        }
        case "file": {
          const s = state.get(news.device);
          if (s) {
            s.over += 1;
            if (news.outcome.kind === "done") s.bytes[news.index] = s.sizes[news.index];
          }
          const file = fileRow(news.device, news.index);
          if (file) {
            file.dataset.state = news.outcome.kind;
            file.querySelector(".file-state")!.textContent = this.outcome(news.outcome.kind, "reason" in news.outcome ? news.outcome.reason : "");
          }
          paintDevice(news.device);
          break;
        }
        case "finished":
          this.paintTransferResult(li, { device: news.device, ok: false, ...news.result }, okKey);
          break;
      }
    };
    return {
      event,
      finish: (results: DeviceTransfer[]) => {
        for (const result of results) {
          const li = row(result.device);
          if (li) this.paintTransferResult(li, result, okKey);
        }
        sheet.querySelector("h2")!.textContent = `${title}: ${this.t("results")}`;
        if (sheet.isConnected) sheet.querySelector<HTMLButtonElement>(".close-results")!.focus();
      },
      close: () => {
        if (sheet.isConnected) panel.hidden = true;
      },
    };
  }

  private outcome(kind: "done" | "exists" | "refused" | "failed", reason: string): string {
    const keys = { done: "fileDone", exists: "fileExists", refused: "fileRefused", failed: "fileFailed" } as const;
    return this.t(keys[kind], { reason });
  }

  /** A device's row once its transfer is over: ok, or what went wrong. */
  private paintTransferResult(li: HTMLElement, result: DeviceTransfer, okKey: Key): void {
    const ok =
      result.error === null &&
      result.exists.length === 0 &&
      result.refused.length === 0 &&
      result.failed.length === 0 &&
      result.skipped === 0;
    li.className = ok ? "ok" : "failed";
    const parts = result.error
      ? [result.error]
      : [
          this.t(okKey, { count: result.done.length }),
          ...result.exists.map((path) => `${path}: ${this.outcome("exists", "")}`),
          ...result.refused.map(([path, why]) => `${path}: ${this.outcome("refused", why)}`),
          ...result.failed.map(([path, why]) => `${path}: ${this.outcome("failed", why)}`),
          ...(result.skipped > 0 ? [this.t("filesSkipped", { count: result.skipped })] : []),
        ];
    li.querySelector(".transfer-state")!.textContent = parts.join(" · ");
    const bar = li.querySelector("progress")!;
    if (ok) bar.value = 1;
  }

  private openMessageDialog(devices = this.selection.values()): void {
    this.showDialog(
      this.t("message"),
      devices,
      `<label>${this.t("messageTitle")}<input name="title" class="title-input" autocomplete="off" maxlength="100"></label>
       <label>${this.t("messageText")}<textarea name="text" class="text-input" rows="5" maxlength="2000" required></textarea></label>`,
      this.t("send"),
      async (form) => {
        const text = (form.get("text") as string).trim();
        if (!text) return this.t("messageMissing");
        const title = (form.get("title") as string).trim() || null;
        this.showResults(this.t("message"), await this.backend.message(devices, title, text));
        return null;
      },
      () => undefined,
    );
  }

  private openLockDialog(devices: string[]): void {
    this.showDialog(
      this.t("lock"),
      devices,
      `<p class="muted">${this.t("lockHint")}</p>
       <label>${this.t("lockMessage")}<textarea name="message" class="lock-message-input" rows="3" maxlength="300"></textarea></label>`,
      this.t("lock"),
      async (form) => {
        const text = (form.get("message") as string).trim() || null;
        this.showResults(this.t("lock"), await this.backend.lock(devices, text));
        return null;
      },
      () => undefined,
    );
  }

  /** Wake, restart, shut down or log off: the dialog is the confirmation,
   * and the students are told before it happens (default in a minute). */
  private openPowerDialog(devices: string[]): void {
    const actions: [PowerAction, Key][] = [
      ["on", "powerOn"],
      ["reboot", "powerReboot"],
      ["shutdown", "powerShutdown"],
      ["logoff", "powerLogoff"],
      ["cancel", "powerCancel"],
    ];
    const delays: [number, string][] = [
      [0, this.t("now")],
      [60, this.t("inMinutes", { count: 1 })],
      [120, this.t("inMinutes", { count: 2 })],
      [300, this.t("inMinutes", { count: 5 })],
      [600, this.t("inMinutes", { count: 10 })],
    ];
    this.showDialog(
      this.t("power"),
      devices,
      `<fieldset class="power-actions">${actions
        .map(([value, key]) => `<label class="check"><input type="radio" name="what" value="${value}"> ${this.t(key)}</label>`)
        .join("")}</fieldset>
       <label>${this.t("powerDelay")}<select name="delay" class="delay-input">${delays
         .map(([seconds, label]) => `<option value="${seconds}"${seconds === 60 ? " selected" : ""}>${escape(label)}</option>`)
         .join("")}</select></label>
       <p class="muted">${this.t("powerHint")}</p>`,
      this.t("carryOut"),
      async (form) => {
        const what = form.get("what") as PowerAction | null;
        if (!what) return this.t("powerMissing");
        const label = actions.find(([value]) => value === what)![1];
        this.showResults(this.t(label), await this.backend.power(devices, what, Number(form.get("delay"))));
        return null;
      },
      () => undefined,
    );
  }

  /** Broadcast (R7): what to show — the whole screen, a monitor, a region
   * drawn on a live preview, or the student `from`'s screen — on `devices`,
   * over their whole screen (input blocked) or in a window. */
  async openBroadcastDialog(devices: string[], from: string | null): Promise<void> {
    if (devices.length === 0) return;
    const screen = await this.backend.teacherScreen().catch(() => null);
    const monitors = screen?.monitors ?? [];
    const choices = [
      from ? `<label class="check"><input type="radio" name="source" value="device" checked> ${escape(this.t("broadcastFromDevice", { name: from }))}</label>` : "",
      `<label class="check"><input type="radio" name="source" value="desktop"${from ? "" : " checked"}> ${this.t("broadcastDesktop")}</label>`,
      monitors.length > 1
        ? `<label class="check"><input type="radio" name="source" value="monitor"> ${this.t("broadcastMonitor")}
           <select name="monitor" class="monitor-input">${monitors.map(([, , w, h], i) => `<option value="${i}">${escape(this.t("monitorN", { n: i + 1, width: w, height: h }))}</option>`).join("")}</select></label>`
        : "",
      screen ? `<label class="check"><input type="radio" name="source" value="region"> ${this.t("broadcastRegion")}</label>` : "",
    ].join("");
    let region: { x: number; y: number; width: number; height: number } | null = null;
    let previewTimer: ReturnType<typeof setInterval> | undefined;
    let previewUrl = "";
    const stopPreview = () => {
      clearInterval(previewTimer);
      previewTimer = undefined;
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      previewUrl = "";
    };
    this.showDialog(
      this.t("broadcast"),
      devices,
      `<fieldset class="broadcast-source">${choices}</fieldset>
       <div class="region-picker" hidden><div class="region-frame"><img class="region-preview" alt=""><div class="region-box" hidden></div></div>
         <p class="muted">${this.t("broadcastRegionHint")}</p></div>
       <label class="check"><input type="checkbox" name="window" class="window-input"> ${this.t("broadcastWindow")}</label>
       <p class="muted">${this.t("broadcastHint")}</p>`,
      this.t("broadcastStart"),
      async (form) => {
        const kind = form.get("source") as string;
        let source: BroadcastFrom;
        if (kind === "device" && from) source = { kind: "device", device: from };
        else if (kind === "monitor") source = { kind: "monitor", index: Number(form.get("monitor")) };
        else if (kind === "region") {
          if (!region) return this.t("broadcastRegionMissing");
          source = { kind: "region", ...region };
        } else source = { kind: "desktop" };
        const state = await this.backend.broadcast({ source, window: form.get("window") === "on", devices });
        stopPreview();
        this.showBroadcast(state);
        return null;
      },
      (panel) => {
        const picker = panel.querySelector<HTMLElement>(".region-picker")!;
        const image = panel.querySelector<HTMLImageElement>(".region-preview")!;
        const box = panel.querySelector<HTMLElement>(".region-box")!;
        const refresh = async () => {
          const bytes = await this.backend.teacherScreenPreview().catch(() => null);
          if (!bytes || picker.hidden || panel.hidden) return;
          const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: "image/png" }));
          image.src = url;
          if (previewUrl) URL.revokeObjectURL(previewUrl);
          previewUrl = url;
        };
        panel.querySelectorAll<HTMLInputElement>('input[name="source"]').forEach((radio) =>
          radio.addEventListener("change", () => {
            picker.hidden = radio.value !== "region" || !radio.checked;
            if (!picker.hidden && previewTimer === undefined) {
              void refresh();
              // A live preview: what the class will see changes as the teacher works.
              previewTimer = setInterval(() => void refresh(), 1000);
            }
          }),
        );
        panel.querySelector(".cancel")!.addEventListener("click", stopPreview);
        // The frame is drawn on the preview and kept in the desktop's pixels.
        let start: { x: number; y: number } | null = null;
        const at = (event: PointerEvent) => {
          const rect = image.getBoundingClientRect();
          return {
            x: Math.min(Math.max(event.clientX - rect.left, 0), rect.width),
            y: Math.min(Math.max(event.clientY - rect.top, 0), rect.height),
          };
        };
        const draw = (a: { x: number; y: number }, b: { x: number; y: number }) => {
          const [left, top] = [Math.min(a.x, b.x), Math.min(a.y, b.y)];
          const [width, height] = [Math.abs(a.x - b.x), Math.abs(a.y - b.y)];
          Object.assign(box.style, { left: `${left}px`, top: `${top}px`, width: `${width}px`, height: `${height}px` });
          box.hidden = false;
          const rect = image.getBoundingClientRect();
          const scale = screen && rect.width > 0 ? screen.width / rect.width : 1;
          region = { x: Math.round(left * scale), y: Math.round(top * scale), width: Math.round(width * scale), height: Math.round(height * scale) };
          if (region.width < 16 || region.height < 16) region = null;
        };
        image.addEventListener("pointerdown", (event) => {
          event.preventDefault();
          image.setPointerCapture?.(event.pointerId);
          start = at(event);
        });
        image.addEventListener("pointermove", (event) => {
          if (start) draw(start, at(event));
        });
        image.addEventListener("pointerup", (event) => {
          if (start) draw(start, at(event));
          start = null;
        });
      },
    );
  }

  /** Shows the broadcast bar and keeps it current while the broadcast runs. */
  private showBroadcast(state: BroadcastState | null): void {
    this.broadcasting = state;
    this.paintBroadcast();
    clearInterval(this.broadcastTimer);
    this.broadcastTimer = undefined;
    if (state && !state.ended) {
      this.broadcastTimer = setInterval(async () => {
        const now = await this.backend.broadcastState().catch(() => null);
        if (now?.ended) this.toast(this.t("broadcastEnded", { reason: now.ended }));
        this.showBroadcast(now?.ended ? null : now);
      }, 1000);
    }
  }

  private paintBroadcast(): void {
    const bar = this.root.querySelector<HTMLElement>(".broadcast-bar");
    if (!bar) return;
    const state = this.broadcasting;
    bar.hidden = !state;
    const showing = new Set(state?.devices.filter((d) => d.showing).map((d) => d.device) ?? []);
    for (const card of this.cards) card.element.classList.toggle("receiving", showing.has(card.status.name));
    if (!state) return;
    const from = state.from ? this.t("screenOf", { name: state.from }) : this.t("myScreen");
    bar.querySelector(".broadcast-text")!.textContent = this.t("broadcasting", { from, showing: showing.size, count: state.devices.length });
    bar.title = state.devices
      .filter((d) => d.problem)
      .map((d) => `${d.device}: ${this.explain(d.problem)}`)
      .join("\n");
  }

  private async stopBroadcast(): Promise<void> {
    await this.backend.stopBroadcast();
    this.showBroadcast(null);
  }

  private async unlock(devices: string[]): Promise<void> {
    if (devices.length === 0) return;
    this.showResults(this.t("unlock"), await this.backend.unlock(devices));
  }

  /** The "keep as favourite" box and the list of favourites of a dialog. */
  private favouritesSection(list: { label: string }[]): string {
    const items = list
      .map((f, i) => `<li><button type="button" class="use-favourite" data-index="${i}">${icons.star}${escape(f.label)}</button><button type="button" class="remove-favourite" data-index="${i}" aria-label="${this.t("removeFavourite")}">${icons.close}</button></li>`)
      .join("");
    return `<label class="check"><input type="checkbox" name="keep"> ${this.t("saveFavourite")}</label>
      <h3>${this.t("favourites")}</h3>${items ? `<ul class="favourites">${items}</ul>` : `<p class="muted">${this.t("noFavourites")}</p>`}`;
  }

  /** Favourite buttons fill the form; their remove buttons drop them and reopen the dialog. */
  private wireFavourites<T>(panel: HTMLElement, list: T[], reopen: () => void, use: (favourite: T) => void): void {
    panel.querySelectorAll<HTMLButtonElement>(".use-favourite").forEach((b) =>
      b.addEventListener("click", () => use(list[Number(b.dataset.index)])),
    );
    panel.querySelectorAll<HTMLButtonElement>(".remove-favourite").forEach((b) =>
      b.addEventListener("click", async () => {
        list.splice(Number(b.dataset.index), 1);
        await this.backend.saveFavourites(this.favourites);
        reopen();
      }),
    );
  }

  /** A small form dialog; `submit` returns an error text to show, or null to close. */
  private showDialog(
    title: string,
    devices: string[],
    fields: string,
    confirm: string,
    submit: (form: FormData) => Promise<string | null>,
    extra: (panel: HTMLElement) => void,
  ): void {
    const panel = this.root.querySelector<HTMLElement>(".dialog")!;
    panel.innerHTML = `
      <form class="dialog-form sheet">
        <h2>${escape(title)} <small>${escape(devices.length === 1 ? this.t("onOne", { name: devices[0] }) : this.t("on", { count: devices.length }))}</small></h2>
        ${fields}
        <p class="error" role="alert"></p>
        <div class="buttons"><button type="button" class="cancel">${this.t("cancel")}</button><button type="submit" class="primary confirm">${escape(confirm)}</button></div>
      </form>`;
    panel.hidden = false;
    const form = panel.querySelector<HTMLFormElement>("form")!;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = await submit(new FormData(form)).catch((e) => message(e));
      if (error) {
        panel.querySelector(".error")!.textContent = error;
      } else {
        panel.hidden = true;
      }
    });
    panel.querySelector(".cancel")!.addEventListener("click", () => (panel.hidden = true));
    extra(panel);
    panel.querySelector<HTMLElement>("input, textarea")?.focus();
  }

  private showResults(title: string, results: ActionResult[]): void {
    const panel = this.root.querySelector<HTMLElement>(".results")!;
    const rows = results
      .map((r) => `<li class="${r.ok ? "ok" : "failed"}" data-device="${escape(r.device)}"><strong>${escape(r.device)}</strong><span>${r.ok ? this.t("resultOk") : escape(this.explain(r))}</span></li>`)
      .join("");
    panel.innerHTML = `<div class="sheet"><h2>${escape(title)}: ${this.t("results")}</h2><ul class="result-list">${rows}</ul>
      <div class="buttons"><button type="button" class="primary close-results">${this.t("close")}</button></div></div>`;
    panel.hidden = false;
    panel.querySelector<HTMLButtonElement>(".close-results")!.addEventListener("click", () => (panel.hidden = true));
    panel.querySelector<HTMLButtonElement>(".close-results")!.focus();
  }

  async openGallery(): Promise<void> {
    const panel = this.root.querySelector<HTMLElement>(".gallery")!;
    const shots = await this.backend.gallery();
    panel.innerHTML = `<div class="sheet"><h2>${this.t("gallery")}</h2><p class="muted folder">${escape(this.t("folder", { path: this.room.galleryDir }))}</p>
      ${shots.length === 0 ? `<p class="muted">${this.t("galleryEmpty")}</p>` : `<ul class="shots">${shots.map((s, i) => `<li><figure><img data-index="${i}" alt="${escape(s.fileName)}"><figcaption>${escape(s.device)} · ${escape(new Date(s.time).toLocaleString(this.i18n.language))}</figcaption></figure></li>`).join("")}</ul>`}
      <div class="buttons"><button type="button" class="primary close-gallery">${this.t("close")}</button></div></div>`;
    panel.hidden = false;
    const urls: string[] = [];
    panel.querySelector<HTMLButtonElement>(".close-gallery")!.addEventListener("click", () => {
      panel.hidden = true;
      urls.forEach((url) => URL.revokeObjectURL(url));
    });
    for (const image of panel.querySelectorAll<HTMLImageElement>("img")) {
      const shot = shots[Number(image.dataset.index)];
      this.backend
        .galleryImage(shot.path)
        .then(async (bytes) => {
          image.src = URL.createObjectURL(new Blob([bytes as BlobPart], { type: "image/png" }));
          urls.push(image.src);
          await image.decode();
          image.dataset.shown = "yes";
        })
        .catch(() => undefined);
    }
  }

  private toast(text: string, error = false): void {
    const toast = this.root.querySelector<HTMLElement>(".toast")!;
    toast.textContent = text;
    toast.classList.toggle("error", error);
    toast.hidden = false;
    setTimeout(() => (toast.hidden = true), 5000);
  }
}

/** The widest card (a ZOOM step) with which `devices` cards fit a window of
 * `width` × `height`: header and toolbar take about 110 px, a card's labels
 * about 54 px, gaps 14 px, the grid's padding 36 px across and 40 px down. */
export function fittingZoom(width: number, height: number, devices: number): number {
  if (!width || !height || devices === 0) return ZOOM.initial;
  for (let card = ZOOM.max; card > ZOOM.min; card -= ZOOM.step) {
    const columns = Math.floor((width - 36 + 14) / (card + 14));
    if (columns < 1) continue;
    const rows = Math.ceil(devices / columns);
    const needed = rows * ((card * 9) / 16 + 54) + (rows - 1) * 14 + 40 + 110;
    if (needed <= height) return card;
  }
  return ZOOM.min;
}

/** A file size the way a teacher reads it. */
function size(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(0)} kB`;
  if (bytes < 1_000_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  return `${(bytes / 1_000_000_000).toFixed(1)} GB`;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** The stable code of an error from the backend, if it has one. */
function codeOf(error: unknown): string | undefined {
  return typeof error === "object" && error && "code" in error ? String((error as { code: unknown }).code) : undefined;
}

function message(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error && "message" in error) return String((error as { message: unknown }).message);
  return String(error);
}

function isTyping(event: KeyboardEvent): boolean {
  const target = event.target as HTMLElement;
  return target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT";
}
