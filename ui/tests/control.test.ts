import { buttonNumber, InputQueue, KeyTranslator, pictureFraction, WheelNotches, type KeyEventLike } from "../src/control";
import type { ControlInput } from "../src/backend";

function key(code: string, key: string, init: Partial<KeyEventLike> & { altGraph?: boolean } = {}): KeyEventLike {
  const { altGraph, ...rest } = init;
  return { code, key, ctrlKey: false, altKey: false, metaKey: false, getModifierState: (m) => m === "AltGraph" && !!altGraph, ...rest };
}

describe("where a pointer falls on the picture", () => {
  it("follows the picture at any scale, letterboxed in its box", () => {
    // 2560x720 (two monitors side by side) shown in a 1280x720 box: 1280x360, 180 px bars above and below.
    const box = { left: 100, top: 50, width: 1280, height: 720 };
    expect(pictureFraction(box, 2560, 720, 100, 230)).toEqual({ x: 0, y: 0 });
    expect(pictureFraction(box, 2560, 720, 100 + 960, 50 + 180 + 180)).toEqual({ x: 0.75, y: 0.5 });
    expect(pictureFraction(box, 2560, 720, 1380, 590)).toEqual({ x: 1, y: 1 });
    // On the bars, or outside, is not on the picture.
    expect(pictureFraction(box, 2560, 720, 500, 100)).toBeNull();
    expect(pictureFraction(box, 2560, 720, 99, 300)).toBeNull();
    // A picture narrower than its box: bars left and right.
    expect(pictureFraction({ left: 0, top: 0, width: 400, height: 100 }, 100, 100, 200, 50)).toEqual({ x: 0.5, y: 0.5 });
    expect(pictureFraction({ left: 0, top: 0, width: 400, height: 100 }, 100, 100, 100, 50)).toBeNull();
    expect(pictureFraction(box, 0, 0, 200, 200)).toBeNull();
  });

  it("counts buttons as the agent does and turns the wheel in notches", () => {
    expect([0, 1, 2, 3, 4, 5].map(buttonNumber)).toEqual([1, 2, 3, 4, 5, null]);
    const wheel = new WheelNotches();
    expect(wheel.add({ deltaX: 0, deltaY: 40, deltaMode: 0 })).toBeNull();
    expect(wheel.add({ deltaX: 0, deltaY: 70, deltaMode: 0 })).toEqual({ dx: 0, dy: 1 });
    expect(wheel.add({ deltaX: 0, deltaY: -6, deltaMode: 1 })).toEqual({ dx: 0, dy: -1 });
    expect(wheel.add({ deltaX: 0, deltaY: 99999, deltaMode: 0 })).toEqual({ dx: 0, dy: 20 });
  });
});

describe("the teacher's keys", () => {
  it("types characters as text, whatever the modifiers that made them", () => {
    const keys = new KeyTranslator();
    expect(keys.down(key("ShiftLeft", "Shift"))).toEqual([]);
    expect(keys.down(key("KeyA", "A"))).toEqual([{ kind: "text", text: "A" }]);
    expect(keys.up(key("KeyA", "A"))).toEqual([]);
    expect(keys.up(key("ShiftLeft", "Shift"))).toEqual([]);
    expect(keys.down(key("Semicolon", "ö"))).toEqual([{ kind: "text", text: "ö" }]);
    // AltGr+Q on Windows sets Ctrl and Alt too; it is still the character.
    expect(keys.down(key("AltRight", "AltGraph", { ctrlKey: true, altKey: true, altGraph: true }))).toEqual([]);
    expect(keys.down(key("KeyQ", "@", { ctrlKey: true, altKey: true, altGraph: true }))).toEqual([{ kind: "text", text: "@" }]);
    expect(keys.down(key("KeyE", "€", { altGraph: true }))).toEqual([{ kind: "text", text: "€" }]);
    // A dead key waits for the character it makes.
    expect(keys.down(key("Backquote", "Dead"))).toEqual([]);
    expect(keys.down(key("KeyE", "ê"))).toEqual([{ kind: "text", text: "ê" }]);
  });

  it("sends other keys and combinations by position, modifiers first, and lets go of them", () => {
    const keys = new KeyTranslator();
    expect(keys.down(key("ControlLeft", "Control", { ctrlKey: true }))).toEqual([]);
    expect(keys.down(key("KeyC", "c", { ctrlKey: true }))).toEqual([
      { kind: "key", code: "ControlLeft", down: true },
      { kind: "key", code: "KeyC", down: true },
    ]);
    expect(keys.up(key("KeyC", "c", { ctrlKey: true }))).toEqual([{ kind: "key", code: "KeyC", down: false }]);
    // Still held: the next combination needs no second press.
    expect(keys.down(key("KeyV", "v", { ctrlKey: true }))).toEqual([{ kind: "key", code: "KeyV", down: true }]);
    expect(keys.up(key("KeyV", "v", { ctrlKey: true }))).toEqual([{ kind: "key", code: "KeyV", down: false }]);
    expect(keys.up(key("ControlLeft", "Control"))).toEqual([{ kind: "key", code: "ControlLeft", down: false }]);
    expect(keys.down(key("Enter", "Enter"))).toEqual([{ kind: "key", code: "Enter", down: true }]);
    expect(keys.up(key("Enter", "Enter"))).toEqual([{ kind: "key", code: "Enter", down: false }]);
    expect(keys.down(key("F5", "F5"))).toEqual([{ kind: "key", code: "F5", down: true }]);
    expect(keys.releaseAll()).toEqual([{ kind: "releaseAll" }]);
    expect(keys.releaseAll()).toEqual([]);
    expect(keys.up(key("F5", "F5"))).toEqual([]);
  });

  it("presses a modifier tapped alone (the Windows key opens the start menu)", () => {
    const keys = new KeyTranslator();
    expect(keys.down(key("MetaLeft", "Meta", { metaKey: true }))).toEqual([]);
    expect(keys.up(key("MetaLeft", "Meta"))).toEqual([
      { kind: "key", code: "MetaLeft", down: true },
      { kind: "key", code: "MetaLeft", down: false },
    ]);
    // Shift with a character is not pressed: the character has it.
    keys.down(key("ShiftLeft", "Shift"));
    keys.down(key("KeyB", "B"));
    keys.up(key("KeyB", "B"));
    expect(keys.up(key("ShiftLeft", "Shift"))).toEqual([]);
  });
});

describe("the input queue", () => {
  it("sends in order, one call at a time, keeping only the last of glides in a row", async () => {
    const sent: ControlInput[][] = [];
    let release: () => void = () => undefined;
    const queue = new InputQueue(async (inputs) => {
      sent.push(inputs);
      if (sent.length === 1) await new Promise<void>((resolve) => (release = resolve));
    });
    queue.push({ kind: "glide", x: 0.1, y: 0.1 });
    queue.push({ kind: "glide", x: 0.2, y: 0.2 }, { kind: "glide", x: 0.3, y: 0.3 });
    queue.push({ kind: "button", button: 1, down: true }, { kind: "glide", x: 0.4, y: 0.4 }, { kind: "glide", x: 0.5, y: 0.5 });
    release();
    await queue.drained();
    expect(sent).toEqual([
      [{ kind: "glide", x: 0.1, y: 0.1 }],
      [{ kind: "glide", x: 0.3, y: 0.3 }, { kind: "button", button: 1, down: true }, { kind: "glide", x: 0.5, y: 0.5 }],
    ]);
  });
});
