import { App } from "../src/app";
import { FakeBackend } from "../src/fake-backend";

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

async function start(backend = new FakeBackend(), decode = async (): Promise<CanvasImageSource> => ({}) as CanvasImageSource) {
  localStorage.clear();
  document.body.innerHTML = `<div id="app"></div>`;
  const root = document.getElementById("app")!;
  const app = new App(root, backend, { decode, storage: localStorage });
  await app.start();
  const cards = () => [...root.querySelectorAll<HTMLElement>(".device")];
  const card = (name: string) => root.querySelector<HTMLElement>(`.device[data-name="${name}"]`)!;
  const click = (element: Element, init: MouseEventInit = {}) =>
    element.dispatchEvent(new MouseEvent("click", { bubbles: true, ...init }));
  const key = (element: Element, key: string, init: KeyboardEventInit = {}) =>
    element.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true, ...init }));
  return { app, backend, root, cards, card, click, key };
}

describe("the room view", () => {
  it("shows every device with name, position, user and status", async () => {
    const { root, cards, card } = await start();
    expect(cards()).toHaveLength(12);
    expect(card("PC-07").querySelector(".name")!.textContent).toBe("PC-07");
    expect(card("PC-07").querySelector(".position")!.textContent).toBe("Reihe 2 Platz 3");
    expect(card("PC-07").querySelector(".user")!.textContent).toBe("schueler07");
    expect(card("PC-07").querySelector(".badge")!.textContent).toBe("Online");
    expect(root.querySelector(".room-name")!.textContent).toBe("Raum 101");
  });

  it("follows status changes: offline, not steerable, a new user", async () => {
    const { backend, card } = await start();
    backend.emitStatus({ name: "PC-03", position: null, state: { kind: "offline", reason: "timed out", code: "protocol" }, user: null, locked: null, address: null });
    expect(card("PC-03").dataset.state).toBe("offline");
    expect(card("PC-03").querySelector(".badge")!.textContent).toBe("Offline");
    expect(card("PC-03").querySelector(".user")!.textContent).toBe("");
    expect(card("PC-03").title).toContain("timed out");
    // A reason with a code of its own is worded in the teacher's language.
    backend.emitStatus({ name: "PC-03", position: null, state: { kind: "offline", reason: "R101-PC03: cannot reach the agent at 10.0.0.3: timed out", code: "unreachable" }, user: null, locked: null, address: null });
    expect(card("PC-03").querySelector<HTMLElement>(".badge")!.title).toBe("Der Schülerrechner antwortet nicht (ausgeschaltet oder nicht im Netz)");
    expect(card("PC-03").title).not.toContain("cannot reach");
    backend.emitStatus({ name: "PC-04", position: "Pult", state: { kind: "not-steerable" }, user: null, locked: null, address: null });
    expect(card("PC-04").querySelector(".badge")!.textContent).toBe("Nicht steuerbar");
    backend.emitStatus({ name: "PC-05", position: null, state: { kind: "online" }, user: "schueler99", locked: null, address: null });
    expect(card("PC-05").querySelector(".user")!.textContent).toBe("schueler99");
  });

  it("draws frames on the device's canvas", async () => {
    const { backend, card } = await start();
    backend.emitFrame({ device: 2, width: 320, height: 180, tiles: [{ x: 0, y: 0, width: 64, height: 64, format: "png", data: new Uint8Array([1]) }] });
    await flush();
    const canvas = card("PC-03").querySelector("canvas")!;
    expect([canvas.width, canvas.height]).toEqual([320, 180]);
    expect(backend.shown.get("PC-03")).toBe(1);
  });

  it("reports each frame shown only once it is drawn, even when a tile cannot be decoded", async () => {
    let release: () => void = () => undefined;
    const decoded = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const decode = async () => {
      calls += 1;
      await decoded;
      if (calls === 2) throw new Error("not a PNG");
      return {} as CanvasImageSource;
    };
    const { backend } = await start(new FakeBackend(), decode);
    const frame = { device: 0, width: 320, height: 180, tiles: [{ x: 0, y: 0, width: 64, height: 64, format: "png" as const, data: new Uint8Array([1]) }] };
    backend.emitFrame(frame);
    backend.emitFrame(frame);
    await flush();
    expect(backend.shown.get("PC-01")).toBeUndefined();
    release();
    await flush();
    expect(backend.shown.get("PC-01")).toBe(2);
  });

  it("selects with click, shift-click, ctrl-click and select all; actions need a selection", async () => {
    const { root, card, click } = await start();
    const screenshot = root.querySelector<HTMLButtonElement>('[data-action="screenshot"]')!;
    expect(screenshot.disabled).toBe(true);
    click(card("PC-02"));
    click(card("PC-04"), { shiftKey: true });
    click(card("PC-09"), { ctrlKey: true });
    const selected = [...root.querySelectorAll(".device.selected")].map((e) => (e as HTMLElement).dataset.name);
    expect(selected).toEqual(["PC-02", "PC-03", "PC-04", "PC-09"]);
    expect(card("PC-03").getAttribute("aria-selected")).toBe("true");
    expect(root.querySelector(".selection-count")!.textContent).toBe("4 ausgewählt");
    expect(screenshot.disabled).toBe(false);
    click(root.querySelector(".select-all")!);
    expect(root.querySelectorAll(".device.selected")).toHaveLength(12);
    click(root.querySelector(".clear-selection")!);
    expect(root.querySelectorAll(".device.selected")).toHaveLength(0);
  });

  it("is usable by keyboard: arrows move, space selects, enter opens the big view, escape closes", async () => {
    const { backend, root, card, key } = await start();
    card("PC-01").focus();
    key(card("PC-01"), "ArrowRight");
    expect(document.activeElement).toBe(card("PC-02"));
    key(card("PC-02"), " ");
    expect(card("PC-02").classList.contains("selected")).toBe(true);
    key(card("PC-02"), "a", { ctrlKey: true });
    expect(root.querySelectorAll(".device.selected")).toHaveLength(12);
    key(card("PC-02"), "Enter");
    await flush();
    const spotlight = root.querySelector<HTMLElement>(".spotlight")!;
    expect(spotlight.hidden).toBe(false);
    expect(spotlight.querySelector("canvas")).not.toBeNull();
    expect(backend.calls.find((c) => c.method === "focus")!.args[0]).toBe("PC-02");
    key(spotlight, "Escape");
    await flush();
    expect(spotlight.hidden).toBe(true);
    expect(card("PC-02").querySelector("canvas")).not.toBeNull();
    expect(backend.calls.filter((c) => c.method === "focus").at(-1)!.args[0]).toBeNull();
  });

  it("opens the big view from the card's expand button, without changing the selection", async () => {
    const { backend, root, card, click } = await start();
    click(card("PC-06").querySelector(".expand")!);
    await flush();
    expect(root.querySelector<HTMLElement>(".spotlight")!.hidden).toBe(false);
    expect(root.querySelector(".spotlight-title")!.textContent).toContain("PC-06");
    expect(backend.calls.find((c) => c.method === "focus")!.args[0]).toBe("PC-06");
    expect(root.querySelectorAll(".device.selected")).toHaveLength(0);
  });

  it("takes screenshots of the selection and says where they went", async () => {
    const { backend, root, card, click } = await start();
    click(card("PC-01"));
    click(card("PC-02"), { ctrlKey: true });
    click(root.querySelector('[data-action="screenshot"]')!);
    await flush();
    expect(backend.shots.map((s) => s.device)).toEqual(["PC-01", "PC-02"]);
    expect(root.querySelector(".toast")!.textContent).toContain("PC-01-2026-11-23-101500.png");
  });

  it("words the agent's refusals by their code in the teacher's language, never Rust's English", async () => {
    const backend = new FakeBackend();
    backend.failing.set("PC-01", "cannot-notify");
    const { root, card, click } = await start(backend);
    click(card("PC-01"));
    click(root.querySelector('[data-action="screenshot"]')!);
    await flush();
    const toast = root.querySelector(".toast")!.textContent!;
    expect(toast).toContain("Am Schülerrechner kann niemand benachrichtigt werden");
    expect(toast).not.toContain("is offline");
  });

  it("runs a program on the selection, keeps it as a favourite and reports per device", async () => {
    const backend = new FakeBackend();
    backend.failing.set("PC-03", "program-not-found");
    const { root, card, click } = await start(backend);
    click(card("PC-02"));
    click(card("PC-03"), { shiftKey: true });
    click(root.querySelector('[data-action="run"]')!);
    const dialog = root.querySelector<HTMLElement>(".dialog")!;
    expect(dialog.hidden).toBe(false);
    dialog.querySelector<HTMLInputElement>(".program-input")!.value = "geogebra";
    dialog.querySelector<HTMLInputElement>(".args-input")!.value = "--file  aufgabe.ggb";
    dialog.querySelector<HTMLInputElement>('input[name="keep"]')!.checked = true;
    dialog.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    await flush();
    expect(backend.calls.find((c) => c.method === "runProgram")!.args).toEqual([["PC-02", "PC-03"], "geogebra", ["--file", "aufgabe.ggb"]]);
    expect(backend.favouritesStored.programs).toEqual([{ label: "geogebra --file aufgabe.ggb", program: "geogebra", args: ["--file", "aufgabe.ggb"] }]);
    const results = root.querySelector<HTMLElement>(".results")!;
    expect(results.hidden).toBe(false);
    expect(results.querySelector('[data-device="PC-02"]')!.className).toBe("ok");
    expect(results.querySelector('[data-device="PC-03"]')!.className).toBe("failed");
    expect(results.querySelector('[data-device="PC-03"]')!.textContent).toContain("program-not-found");

    // The favourite is offered next time and fills the form.
    click(root.querySelector('[data-action="run"]')!);
    click(dialog.querySelector(".use-favourite")!);
    expect(dialog.querySelector<HTMLInputElement>(".program-input")!.value).toBe("geogebra");
  });

  it("opens only http and https addresses", async () => {
    const { backend, root, card, click } = await start();
    click(card("PC-01"));
    click(root.querySelector('[data-action="open-url"]')!);
    const dialog = root.querySelector<HTMLElement>(".dialog")!;
    const input = dialog.querySelector<HTMLInputElement>(".url-input")!;
    input.value = "file:///etc/passwd";
    dialog.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    await flush();
    expect(dialog.querySelector(".error")!.textContent).toContain("http");
    expect(backend.calls.some((c) => c.method === "openUrl")).toBe(false);
    input.value = "https://example.org/aufgabe";
    dialog.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    await flush();
    expect(dialog.hidden).toBe(true);
    expect(backend.calls.find((c) => c.method === "openUrl")!.args).toEqual([["PC-01"], "https://example.org/aufgabe"]);
  });

  it("sends files and folders picked from the home folder, with progress and a result per device and per file (R6)", async () => {
    const backend = new FakeBackend();
    backend.failing.set("PC-03", "unreachable");
    backend.existing.add("Aufgabe.pdf");
    const { root, card, click } = await start(backend);
    click(card("PC-01"));
    click(card("PC-03"), { shiftKey: true });
    click(root.querySelector('[data-action="send-files"]')!);
    await flush();
    const dialog = root.querySelector<HTMLElement>(".dialog")!;
    const submit = () => dialog.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    submit();
    await flush();
    expect(dialog.querySelector(".error")!.textContent).toBe("Keine Dateien ausgewählt");
    const names = () => [...dialog.querySelectorAll(".picker-list li")].map((li) => li.textContent!.trim());
    expect(names()).toEqual(["Arbeitsblätter", "Aufgabe.pdf2.0 MB"]);
    // Into the folder and back by the path: the choices stay.
    click(dialog.querySelector('.enter[data-path="Arbeitsblätter"]')!);
    await flush();
    expect(names()).toEqual(["Blatt 1.pdf1 kB", "Blatt 2.pdf3 kB"]);
    // A click ticks the box, as in the browser.
    const pick = (path: string) => click(dialog.querySelector(`.pick[data-path="${path}"]`)!);
    pick("Arbeitsblätter/Blatt 2.pdf");
    click(dialog.querySelector('.crumb[data-path=""]')!);
    await flush();
    pick("Aufgabe.pdf");
    expect(dialog.querySelector(".picked")!.textContent).toBe("2 ausgewählt");
    dialog.querySelector<HTMLInputElement>(".open-input")!.checked = true;
    submit();
    await flush();
    expect(backend.calls.find((c) => c.method === "sendFiles")!.args).toEqual([["PC-01", "PC-02", "PC-03"], ["Arbeitsblätter/Blatt 2.pdf", "Aufgabe.pdf"], false, true]);
    expect(dialog.hidden).toBe(true);
    const results = root.querySelector<HTMLElement>(".results")!;
    expect(results.hidden).toBe(false);
    expect(results.querySelector("h2")!.textContent).toBe("Dateien senden: Ergebnis");
    const row = (device: string) => results.querySelector<HTMLElement>(`li[data-device="${device}"]`)!;
    // The existing file is left alone without overwrite: the device says so, by file.
    expect(row("PC-01").className).toBe("failed");
    expect(row("PC-01").querySelector(".transfer-state")!.textContent).toBe("1 Dateien angekommen · Aufgabe.pdf: gibt es dort schon (nicht ersetzt)");
    const files = [...row("PC-01").querySelectorAll<HTMLElement>(".file")].map((f) => [f.textContent, f.dataset.state]);
    expect(files).toEqual([
      // A file picked inside a folder goes by its name alone, as the console sends it.
      ["Blatt 2.pdffertig", "done"],
      ["Aufgabe.pdfgibt es dort schon (nicht ersetzt)", "exists"],
    ]);
    expect(row("PC-01").querySelector("progress")!.value).toBeCloseTo(3000 / 2_003_000);
    expect(row("PC-03").className).toBe("failed");
    expect(row("PC-03").querySelector(".transfer-state")!.textContent).toBe("PC-03: unreachable");

    // With overwrite every device is done.
    backend.failing.clear();
    click(root.querySelector('[data-action="send-files"]')!);
    await flush();
    pick("Aufgabe.pdf");
    dialog.querySelector<HTMLInputElement>(".overwrite-input")!.checked = true;
    submit();
    await flush();
    expect(row("PC-02").className).toBe("ok");
    expect(row("PC-02").querySelector(".transfer-state")!.textContent).toBe("1 Dateien angekommen");
    expect(row("PC-02").querySelector("progress")!.value).toBe(1);
  });

  it("says why a send went nowhere, and keeps the dialog open", async () => {
    const backend = new FakeBackend();
    backend.sendFiles = async () => {
      throw { code: "storage", message: "a:b is refused: a colon names an alternate data stream" };
    };
    const { root, card, click } = await start(backend);
    click(card("PC-01"));
    click(root.querySelector('[data-action="send-files"]')!);
    await flush();
    const dialog = root.querySelector<HTMLElement>(".dialog")!;
    click(dialog.querySelector('.pick[data-path="Aufgabe.pdf"]')!);
    dialog.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    await flush();
    expect(dialog.hidden).toBe(false);
    expect(dialog.querySelector(".error")!.textContent).toContain("alternate data stream");
    expect(root.querySelector<HTMLElement>(".results")!.hidden).toBe(true);
  });

  it("collects the hand-in folders of the selection into the collect folder (R6)", async () => {
    const backend = new FakeBackend();
    backend.handIn.set("PC-01", [{ path: "Aufsatz <b>.odt", size: 5000 }, { path: "Bild.png", size: 100 }]);
    const { root, card, click } = await start(backend);
    click(card("PC-01"));
    click(card("PC-02"), { ctrlKey: true });
    click(root.querySelector('[data-action="collect"]')!);
    const dialog = root.querySelector<HTMLElement>(".dialog")!;
    expect(dialog.textContent).toContain("Gespeichert in /home/t/Dokumente/Pult");
    dialog.querySelector<HTMLInputElement>(".pattern-input")!.value = " *.odt ";
    dialog.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    await flush();
    expect(backend.calls.find((c) => c.method === "collectFiles")!.args).toEqual([["PC-01", "PC-02"], "*.odt"]);
    const results = root.querySelector<HTMLElement>(".results")!;
    expect(results.querySelector("h2")!.textContent).toBe("Einsammeln: Ergebnis");
    expect(results.querySelector('li[data-device="PC-01"] .transfer-state')!.textContent).toBe("1 Dateien eingesammelt");
    // A name an agent claims is shown as text, never as markup.
    expect(results.querySelector('li[data-device="PC-01"] .file span')!.textContent).toBe("Aufsatz <b>.odt");
    expect(results.querySelector('li[data-device="PC-02"] .transfer-state')!.textContent).toBe("0 Dateien eingesammelt");
    expect(results.querySelectorAll("li.ok").length).toBe(2);
  });

  it("says how many files a student's side left out of a collection (R6)", async () => {
    const backend = new FakeBackend();
    backend.handIn.set("PC-01", [{ path: "Aufsatz.odt", size: 5000 }]);
    backend.leftOut.set("PC-01", 3);
    const { root, card, click } = await start(backend);
    click(card("PC-01"));
    click(root.querySelector('[data-action="collect"]')!);
    root.querySelector<HTMLElement>(".dialog")!.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    await flush();
    const row = root.querySelector<HTMLElement>('.results li[data-device="PC-01"]')!;
    expect(row.querySelector(".transfer-state")!.textContent).toBe(
      "1 Dateien eingesammelt · 3 beim Schüler ausgelassen (über 1000 Dateien, Namen, die nicht übertragbar sind, oder zu tief)",
    );
    expect(row.className).toBe("failed");
  });

  it("sends a message with an optional title to the selection", async () => {
    const { backend, root, card, click } = await start();
    click(card("PC-01"));
    click(card("PC-02"), { ctrlKey: true });
    click(root.querySelector('[data-action="message"]')!);
    const dialog = root.querySelector<HTMLElement>(".dialog")!;
    const submit = () => dialog.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    submit();
    await flush();
    expect(dialog.querySelector(".error")!.textContent).toBe("Bitte eine Nachricht schreiben");
    dialog.querySelector<HTMLTextAreaElement>(".text-input")!.value = "  Heft auf Seite 12\nDanke  ";
    submit();
    await flush();
    expect(backend.calls.find((c) => c.method === "message")!.args).toEqual([["PC-01", "PC-02"], null, "Heft auf Seite 12\nDanke"]);
    expect(root.querySelector<HTMLElement>(".results")!.hidden).toBe(false);
  });

  it("locks and unlocks the selection, locks all steerable devices, and shows the lock on the cards", async () => {
    const { backend, root, card, click } = await start();
    backend.emitStatus({ ...backend.devices[3], state: { kind: "not-steerable" } });
    click(card("PC-02"));
    click(root.querySelector('[data-action="lock"]')!);
    const dialog = root.querySelector<HTMLElement>(".dialog")!;
    dialog.querySelector<HTMLTextAreaElement>(".lock-message-input")!.value = "Augen nach vorn";
    dialog.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    await flush();
    expect(backend.calls.find((c) => c.method === "lock")!.args).toEqual([["PC-02"], "Augen nach vorn"]);
    expect(card("PC-02").classList.contains("locked")).toBe(true);
    expect(card("PC-02").querySelector(".lock-state")!.textContent).toBe("Gesperrt (mueller)");
    expect(card("PC-01").querySelector<HTMLElement>(".lock-state")!.hidden).toBe(true);

    click(root.querySelector('[data-action="unlock"]')!);
    await flush();
    expect(backend.calls.find((c) => c.method === "unlock")!.args).toEqual([["PC-02"]]);
    expect(card("PC-02").classList.contains("locked")).toBe(false);

    // "Lock all" needs no selection and leaves out what may not be steered.
    click(root.querySelector(".clear-selection")!);
    click(root.querySelector(".lock-all")!);
    dialog.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    await flush();
    const all = backend.calls.filter((c) => c.method === "lock")[1].args;
    expect(all[0]).toHaveLength(11);
    expect(all[0]).not.toContain("PC-04");
    expect(all[1]).toBeNull();
  });

  it("has keyboard shortcuts: Ctrl+M message, Ctrl+L lock, Ctrl+Shift+L unlock", async () => {
    const { backend, root, card, click, key } = await start();
    key(root, "l", { ctrlKey: true });
    expect(root.querySelector<HTMLElement>(".dialog")!.hidden).toBe(true);
    click(card("PC-05"));
    key(card("PC-05"), "m", { ctrlKey: true });
    const dialog = root.querySelector<HTMLElement>(".dialog")!;
    expect(dialog.hidden).toBe(false);
    expect(dialog.querySelector(".text-input")).not.toBeNull();
    // Not while a dialog is open.
    key(dialog, "l", { ctrlKey: true });
    expect(dialog.querySelector(".text-input")).not.toBeNull();
    dialog.hidden = true;
    key(card("PC-05"), "L", { ctrlKey: true });
    expect(dialog.querySelector(".lock-message-input")).not.toBeNull();
    dialog.hidden = true;
    key(card("PC-05"), "L", { ctrlKey: true, shiftKey: true });
    await flush();
    expect(backend.calls.find((c) => c.method === "unlock")!.args).toEqual([["PC-05"]]);
  });

  it("wakes, restarts, shuts down or logs off the selection after a confirmation, a minute ahead by default", async () => {
    const { backend, root, card, click } = await start();
    click(card("PC-02"));
    click(card("PC-03"), { ctrlKey: true });
    click(root.querySelector('[data-action="power"]')!);
    const dialog = root.querySelector<HTMLElement>(".dialog")!;
    const submit = () => dialog.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    expect(dialog.querySelector<HTMLSelectElement>(".delay-input")!.value).toBe("60");
    // Nothing happens until the teacher says what.
    submit();
    await flush();
    expect(dialog.querySelector(".error")!.textContent).toBe("Bitte wählen, was geschehen soll");
    expect(backend.calls.filter((c) => c.method === "power")).toHaveLength(0);
    dialog.querySelector<HTMLInputElement>('input[value="reboot"]')!.checked = true;
    submit();
    await flush();
    expect(backend.calls.find((c) => c.method === "power")!.args).toEqual([["PC-02", "PC-03"], "reboot", 60]);
    expect(root.querySelector(".results h2")!.textContent).toBe("Neu starten: Ergebnis");

    // Switching on a device without a MAC says why, in the teacher's words.
    backend.failing.set("PC-03", "no-mac");
    click(root.querySelector('[data-action="power"]')!);
    dialog.querySelector<HTMLInputElement>('input[value="on"]')!.checked = true;
    dialog.querySelector<HTMLSelectElement>(".delay-input")!.value = "0";
    submit();
    await flush();
    expect(backend.calls.filter((c) => c.method === "power")[1].args).toEqual([["PC-02", "PC-03"], "on", 0]);
    expect(root.querySelector('.result-list li[data-device="PC-03"]')!.textContent).toContain("keine MAC-Adresse");
  });

  it("broadcasts the teacher's screen to the selection, says who shows it, and stops (R7)", async () => {
    const backend = new FakeBackend();
    backend.failing.set("PC-03", "cannot-notify");
    const { root, card, click } = await start(backend);
    click(card("PC-02"));
    click(card("PC-03"), { ctrlKey: true });
    click(root.querySelector('[data-action="broadcast"]')!);
    await flush();
    const dialog = root.querySelector<HTMLElement>(".dialog")!;
    expect(dialog.hidden).toBe(false);
    expect(dialog.querySelector<HTMLInputElement>('input[value="desktop"]')!.checked).toBe(true);
    expect(dialog.querySelector<HTMLInputElement>(".window-input")!.checked).toBe(false);
    dialog.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    await flush();
    expect(backend.calls.find((c) => c.method === "broadcast")!.args).toEqual([
      { source: { kind: "desktop" }, window: false, devices: ["PC-02", "PC-03"] },
    ]);
    const bar = root.querySelector<HTMLElement>(".broadcast-bar")!;
    expect(bar.hidden).toBe(false);
    expect(bar.textContent).toContain("Übertragung läuft: Ihr Bildschirm – 1 von 2 Geräten zeigen sie");
    expect(bar.title).toContain("PC-03: Am Schülerrechner kann niemand benachrichtigt werden");
    expect(card("PC-02").classList.contains("receiving")).toBe(true);
    expect(card("PC-03").classList.contains("receiving")).toBe(false);
    click(bar.querySelector(".broadcast-stop")!);
    await flush();
    expect(backend.calls.some((c) => c.method === "stopBroadcast")).toBe(true);
    expect(bar.hidden).toBe(true);
    expect(card("PC-02").classList.contains("receiving")).toBe(false);
  });

  it("broadcasts a region drawn on the preview, in the desktop's pixels, and in a window when asked", async () => {
    const { backend, root, card, click } = await start();
    click(card("PC-01"));
    click(root.querySelector('[data-action="broadcast"]')!);
    await flush();
    const dialog = root.querySelector<HTMLElement>(".dialog")!;
    const submit = () => dialog.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    const region = dialog.querySelector<HTMLInputElement>('input[value="region"]')!;
    region.checked = true;
    region.dispatchEvent(new Event("change"));
    await flush();
    expect(dialog.querySelector<HTMLElement>(".region-picker")!.hidden).toBe(false);
    expect(dialog.querySelector<HTMLImageElement>(".region-preview")!.src).toMatch(/^blob:/);
    submit();
    await flush();
    expect(dialog.querySelector(".error")!.textContent).toBe("Bitte ziehen Sie zuerst einen Rahmen um den Ausschnitt");
    // The preview is shown at half the desktop's 1920x1080.
    const image = dialog.querySelector<HTMLImageElement>(".region-preview")!;
    image.getBoundingClientRect = () => ({ left: 10, top: 20, width: 960, height: 540, right: 970, bottom: 560, x: 10, y: 20, toJSON: () => ({}) });
    const pointer = (type: string, x: number, y: number) =>
      image.dispatchEvent(new MouseEvent(type, { clientX: x, clientY: y, bubbles: true }));
    pointer("pointerdown", 110, 70);
    pointer("pointermove", 300, 200);
    pointer("pointerup", 410, 320);
    expect(dialog.querySelector<HTMLElement>(".region-box")!.hidden).toBe(false);
    dialog.querySelector<HTMLInputElement>(".window-input")!.checked = true;
    submit();
    await flush();
    expect(backend.calls.find((c) => c.method === "broadcast")!.args).toEqual([
      { source: { kind: "region", x: 200, y: 100, width: 600, height: 500 }, window: true, devices: ["PC-01"] },
    ]);
    await (root.querySelector(".broadcast-stop") as HTMLButtonElement).click();
  });

  it("shows a student's screen to the class from the big view (R7)", async () => {
    const { backend, root, card, click } = await start();
    click(card("PC-04").querySelector(".expand")!);
    await flush();
    click(root.querySelector(".spotlight-show")!);
    await flush();
    const dialog = root.querySelector<HTMLElement>(".dialog")!;
    expect(dialog.querySelector<HTMLInputElement>('input[value="device"]')!.checked).toBe(true);
    dialog.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    await flush();
    const [request] = backend.calls.find((c) => c.method === "broadcast")!.args as [{ source: unknown; devices: string[] }];
    expect(request.source).toEqual({ kind: "device", device: "PC-04" });
    expect(request.devices).toHaveLength(11);
    expect(request.devices).not.toContain("PC-04");
    expect(root.querySelector(".broadcast-bar")!.textContent).toContain("Bildschirm von PC-04 – 11 von 11");
    click(root.querySelector(".broadcast-stop")!);
    await flush();
  });

  it("controls the device in the big view: pointer, clicks, text, combinations and the shortcut menu go to it, not to the app (R3)", async () => {
    const { app, backend, root } = await start();
    backend.emitFrame({ device: 2, width: 1280, height: 720, tiles: [] });
    await app.openSpotlight("PC-03");
    const overlay = root.querySelector<HTMLElement>(".spotlight")!;
    const toggle = overlay.querySelector<HTMLButtonElement>(".spotlight-control")!;
    expect(toggle.getAttribute("aria-pressed")).toBe("false");
    expect(toggle.textContent).toBe("Steuern");
    // View only until the teacher switches control on: nothing is sent.
    const canvas = overlay.querySelector("canvas")!;
    canvas.getBoundingClientRect = () => ({ left: 0, top: 0, width: 640, height: 360, right: 640, bottom: 360, x: 0, y: 0, toJSON: () => ({}) });
    const screen = overlay.querySelector(".spotlight-screen")!;
    const pointer = (type: string, x: number, y: number, button = 0) =>
      screen.dispatchEvent(new MouseEvent(type, { bubbles: true, cancelable: true, clientX: x, clientY: y, button }));
    const press = (type: "keydown" | "keyup", key: string, code: string, init: KeyboardEventInit = {}) =>
      document.body.dispatchEvent(new KeyboardEvent(type, { key, code, bubbles: true, cancelable: true, ...init }));
    pointer("pointermove", 320, 180);
    expect(backend.calls.filter((c) => c.method === "control")).toHaveLength(0);

    toggle.click();
    await flush();
    expect(backend.controlled).toBe("PC-03");
    expect(toggle.getAttribute("aria-pressed")).toBe("true");
    expect(overlay.classList.contains("controlling")).toBe(true);
    expect(overlay.querySelector<HTMLElement>(".shortcut-menu")!.hidden).toBe(false);

    pointer("pointermove", 160, 90);
    pointer("pointerdown", 320, 180, 2);
    pointer("pointerup", 320, 180, 2);
    press("keydown", "ä", "Quote");
    press("keyup", "ä", "Quote");
    // Ctrl+L and Escape are the student's now: no lock dialog, the big view stays.
    press("keydown", "Control", "ControlLeft", { ctrlKey: true });
    press("keydown", "l", "KeyL", { ctrlKey: true });
    press("keyup", "l", "KeyL", { ctrlKey: true });
    press("keyup", "Control", "ControlLeft");
    press("keydown", "Escape", "Escape");
    press("keyup", "Escape", "Escape");
    const menu = overlay.querySelector<HTMLSelectElement>(".shortcut-menu")!;
    menu.value = "alt+Tab";
    menu.dispatchEvent(new Event("change"));
    await flush();
    expect(root.querySelector<HTMLElement>(".dialog")!.hidden).toBe(true);
    expect(overlay.hidden).toBe(false);
    expect(backend.inputs).toEqual([
      { kind: "glide", x: 0.25, y: 0.25 },
      { kind: "move", x: 0.5, y: 0.5 },
      { kind: "button", button: 3, down: true },
      { kind: "move", x: 0.5, y: 0.5 },
      { kind: "button", button: 3, down: false },
      { kind: "text", text: "ä" },
      { kind: "key", code: "ControlLeft", down: true },
      { kind: "key", code: "KeyL", down: true },
      { kind: "key", code: "KeyL", down: false },
      { kind: "key", code: "ControlLeft", down: false },
      { kind: "key", code: "Escape", down: true },
      { kind: "key", code: "Escape", down: false },
      { kind: "shortcut", keys: "alt+Tab" },
    ]);
    expect(menu.value).toBe("");

    // What the agent could not apply is said; a key still held is let go when the big view closes.
    backend.inputProblems = [{ code: "input-refused", message: "key code 116 is not a key of the keyboard a console may press" }];
    press("keydown", "F5", "F5");
    await flush();
    expect(root.querySelector(".toast")!.textContent).toBe("PC-03: Diese Eingabe wurde vom Schülerrechner abgelehnt");
    overlay.querySelector<HTMLButtonElement>(".close")!.click();
    await flush();
    expect(backend.inputs.slice(-2)).toEqual([{ kind: "key", code: "F5", down: true }, { kind: "releaseAll" }]);
    expect(backend.calls.filter((c) => c.method === "control").map((c) => c.args[0])).toEqual(["PC-03", null]);
    expect(backend.controlled).toBeNull();
    // The app's own keys work again.
    press("keydown", "l", "KeyL", { ctrlKey: true });
    expect(backend.inputs.at(-1)).toEqual({ kind: "releaseAll" });
  });

  it("shows the student's clipboard and sends the teacher's while controlling, without sending the dialog's keys", async () => {
    const { app, backend, root } = await start();
    await app.openSpotlight("PC-04");
    const clipboardButton = root.querySelector<HTMLButtonElement>(".spotlight-clipboard")!;
    expect(clipboardButton.hidden).toBe(true);
    root.querySelector<HTMLButtonElement>(".spotlight-control")!.click();
    await flush();
    expect(clipboardButton.hidden).toBe(false);
    backend.studentClipboard = "Lösung: 42";
    clipboardButton.click();
    await flush();
    const dialog = root.querySelector<HTMLElement>(".dialog")!;
    const text = dialog.querySelector<HTMLTextAreaElement>(".clipboard-input")!;
    expect(dialog.hidden).toBe(false);
    expect(text.value).toBe("Lösung: 42");
    // Keys in the dialog stay in the dialog.
    text.dispatchEvent(new KeyboardEvent("keydown", { key: "v", code: "KeyV", ctrlKey: true, bubbles: true, cancelable: true }));
    expect(backend.inputs).toEqual([]);
    text.value = "https://example.org/aufgabe";
    dialog.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    await flush();
    expect(backend.inputs).toEqual([{ kind: "clipboard", text: "https://example.org/aufgabe" }]);
    expect(dialog.hidden).toBe(true);
    expect(root.querySelector(".toast")!.textContent).toBe("Text liegt in der Zwischenablage von PC-04");
    await app.closeSpotlight();
  });

  it("lets go of a held button when the window loses focus, and gives control up when it is lost", async () => {
    const { app, backend, root } = await start();
    backend.emitFrame({ device: 4, width: 1280, height: 720, tiles: [] });
    await app.openSpotlight("PC-05");
    root.querySelector<HTMLButtonElement>(".spotlight-control")!.click();
    await flush();
    const canvas = root.querySelector<HTMLCanvasElement>(".spotlight canvas")!;
    canvas.getBoundingClientRect = () => ({ left: 0, top: 0, width: 640, height: 360, right: 640, bottom: 360, x: 0, y: 0, toJSON: () => ({}) });
    const screen = root.querySelector(".spotlight-screen")!;
    screen.dispatchEvent(new MouseEvent("pointerdown", { bubbles: true, cancelable: true, clientX: 10, clientY: 10, button: 0 }));
    window.dispatchEvent(new Event("blur"));
    await flush();
    expect(backend.inputs.slice(-2)).toEqual([{ kind: "button", button: 1, down: true }, { kind: "releaseAll" }]);
    // The button is no longer held: its release after the blur sends nothing.
    screen.dispatchEvent(new MouseEvent("pointerup", { bubbles: true, cancelable: true, clientX: 10, clientY: 10, button: 0 }));
    await flush();
    expect(backend.inputs.at(-1)).toEqual({ kind: "releaseAll" });

    // The device went away: control ends in the app and at the desk.
    backend.controlled = null;
    screen.dispatchEvent(new MouseEvent("pointermove", { bubbles: true, clientX: 20, clientY: 20 }));
    await flush();
    expect(root.querySelector(".spotlight-control")!.getAttribute("aria-pressed")).toBe("false");
    expect(backend.calls.filter((c) => c.method === "control").map((c) => c.args[0])).toEqual(["PC-05", null]);
    expect(root.querySelector(".toast")!.textContent).toContain("Steuerung von PC-05 beendet");
    await app.closeSpotlight();
  });

  it("says who controls a device already, and offers no control of a locked or offline one", async () => {
    const { app, backend, root } = await start();
    backend.controlledElsewhere.set("PC-02", "schmidt");
    await app.openSpotlight("PC-02");
    const toggle = root.querySelector<HTMLButtonElement>(".spotlight-control")!;
    toggle.click();
    await flush();
    expect(root.querySelector(".toast")!.textContent).toBe("PC-02 kann nicht gesteuert werden: schmidt (Raum 101) steuert dieses Gerät gerade");
    expect(toggle.getAttribute("aria-pressed")).toBe("false");
    expect(backend.controlled).toBeNull();

    backend.emitStatus({ ...backend.devices[1], locked: "mueller" });
    expect(toggle.disabled).toBe(true);
    expect(toggle.title).toBe("Der Bildschirm ist gesperrt: erst entsperren, dann steuern");
    backend.emitStatus({ ...backend.devices[1], locked: null, state: { kind: "offline", reason: "timed out", code: "protocol" } });
    expect(toggle.disabled).toBe(true);
    backend.emitStatus({ ...backend.devices[1] });
    expect(toggle.disabled).toBe(false);
    await app.closeSpotlight();
  });

  it("tells the backend the thumbnail size the zoom shows", async () => {
    const { backend, root } = await start();
    const sizes = () => backend.calls.filter((c) => c.method === "setThumbnailSize").map((c) => c.args);
    expect(sizes()).toHaveLength(1);
    const slider = root.querySelector<HTMLInputElement>(".zoom-slider")!;
    slider.value = "400";
    slider.dispatchEvent(new Event("input"));
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(sizes().at(-1)).toEqual([400, 225]);
    expect(root.style.getPropertyValue("--card-width")).toBe("400px");
  });

  it("switches between German and English", async () => {
    const { root, click } = await start();
    expect(root.querySelector('[data-action="run"]')!.textContent).toContain("Programm starten");
    click(root.querySelector('.language [data-language="en"]')!);
    expect(root.querySelector('[data-action="run"]')!.textContent).toContain("Run program");
    expect(root.querySelector(".room-name")!.textContent).toBe("Room 101");
    expect(document.documentElement.lang).toBe("en");
    expect(root.querySelectorAll(".device")).toHaveLength(12);
    expect(root.querySelector('.language [data-language="en"]')!.getAttribute("aria-pressed")).toBe("true");
  });

  it("follows an English system locale", async () => {
    const { root } = await start(new FakeBackend(FakeBackend.classroom(3), "en-US"));
    expect(root.querySelector(".select-all")!.textContent).toBe("Select all");
  });

  it("shows the gallery of saved screenshots", async () => {
    const { backend, root, card, click } = await start();
    click(root.querySelector(".gallery-button")!);
    await flush();
    expect(root.querySelector(".gallery")!.textContent).toContain("Noch keine Bildschirmfotos");
    click(card("PC-05"));
    click(root.querySelector('[data-action="screenshot"]')!);
    await flush();
    click(root.querySelector(".gallery-button")!);
    await flush();
    const figures = root.querySelectorAll(".gallery figure");
    expect(figures).toHaveLength(1);
    expect(figures[0].textContent).toContain("PC-05");
    expect(backend.calls.some((c) => c.method === "galleryImage")).toBe(true);
  });

  it("says why when there is no room to open, and subscribes to nothing", async () => {
    const backend = new FakeBackend();
    backend.room = () => Promise.reject("no room certificate given with --cert, and none in /home/l/.config/pult/room");
    const { root, cards } = await start(backend);
    expect(cards()).toHaveLength(0);
    expect(root.querySelector(".problem h1")!.textContent).toBe("Pult kann keinen Raum öffnen");
    expect(root.querySelector(".problem-detail")!.textContent).toBe(
      "no room certificate given with --cert, and none in /home/l/.config/pult/room",
    );
    expect(backend.calls.some((c) => c.method === "subscribe")).toBe(false);
  });
});

describe("the first zoom", () => {
  it("shows a room of twelve whole at 1366x768 and grows on a 4K screen", async () => {
    const { fittingZoom } = await import("../src/app");
    const small = fittingZoom(1366, 768, 12);
    const columns = Math.floor((1366 - 22) / (small + 14));
    const rows = Math.ceil(12 / columns);
    expect(rows * ((small * 9) / 16 + 54) + (rows - 1) * 14 + 150).toBeLessThanOrEqual(768);
    expect(fittingZoom(3840, 2160, 12)).toBeGreaterThanOrEqual(600);
    expect(fittingZoom(1366, 768, 40)).toBe(160);
    expect(fittingZoom(0, 0, 12)).toBe(260);
  });
});
