// Remote control from the big view (R3): the teacher's pointer, wheel and
// keys turned into the inputs pult-console sends to the agent. Characters go
// as text, so the student's keyboard layout does not matter (a German "ß" or
// an AltGr "@" arrives as typed); everything else goes by the key's position,
// with the modifiers pressed first, so Ctrl+C, Alt+F4 or the arrows work.
import type { ControlInput } from "./backend";

/** A rectangle of the page, as getBoundingClientRect gives it. */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Where `clientX`, `clientY` falls on a picture of `pictureWidth` ×
 * `pictureHeight` shown in `box` with `object-fit: contain` (centred, the
 * whole picture, any scale), as fractions from 0 to 1; null off the picture. */
export function pictureFraction(
  box: Box,
  pictureWidth: number,
  pictureHeight: number,
  clientX: number,
  clientY: number,
): { x: number; y: number } | null {
  if (pictureWidth <= 0 || pictureHeight <= 0 || box.width <= 0 || box.height <= 0) return null;
  const scale = Math.min(box.width / pictureWidth, box.height / pictureHeight);
  const shownWidth = pictureWidth * scale;
  const shownHeight = pictureHeight * scale;
  const left = box.left + (box.width - shownWidth) / 2;
  const top = box.top + (box.height - shownHeight) / 2;
  const x = (clientX - left) / shownWidth;
  const y = (clientY - top) / shownHeight;
  if (x < 0 || x > 1 || y < 0 || y > 1) return null;
  return { x, y };
}

/** The mouse buttons as the agent counts them (1 left, 2 middle, 3 right,
 * 4 back, 5 forward) for `MouseEvent.button`. */
export function buttonNumber(button: number): number | null {
  return ({ 0: 1, 1: 2, 2: 3, 3: 4, 4: 5 } as Record<number, number>)[button] ?? null;
}

/** Wheel notches from wheel events: a notch is 100 pixels or 3 lines; what
 * is left over waits for the next event. */
export class WheelNotches {
  private x = 0;
  private y = 0;

  add(event: { deltaX: number; deltaY: number; deltaMode: number }): { dx: number; dy: number } | null {
    const per = event.deltaMode === 0 ? 100 : event.deltaMode === 1 ? 3 : 1;
    this.x += event.deltaX / per;
    this.y += event.deltaY / per;
    const dx = Math.max(-20, Math.min(20, Math.trunc(this.x)));
    const dy = Math.max(-20, Math.min(20, Math.trunc(this.y)));
    if (dx === 0 && dy === 0) return null;
    this.x -= dx;
    this.y -= dy;
    return { dx, dy };
  }
}

const MODIFIERS = new Set(["ShiftLeft", "ShiftRight", "ControlLeft", "ControlRight", "AltLeft", "AltRight", "MetaLeft", "MetaRight", "OSLeft", "OSRight"]);

/** What KeyTranslator reads of a KeyboardEvent. */
export interface KeyEventLike {
  code: string;
  key: string;
  ctrlKey: boolean;
  altKey: boolean;
  metaKey: boolean;
  isComposing?: boolean;
  getModifierState?: (key: string) => boolean;
}

/** Turns the teacher's key events into control inputs. A modifier pressed
 * on its own waits: typed characters go as text without it (Shift is in the
 * character already), a key by position takes it along, and a modifier
 * tapped alone (the Windows key) is pressed and released when let go. */
export class KeyTranslator {
  /** Modifiers held here and not yet pressed on the student's computer. */
  private waiting = new Set<string>();
  /** Keys pressed on the student's computer and not yet released there. */
  private pressed = new Set<string>();
  private tapped: string | null = null;

  down(event: KeyEventLike): ControlInput[] {
    if (event.isComposing || event.key === "Dead" || event.key === "Process" || !event.code) return [];
    const code = event.code;
    if (MODIFIERS.has(code)) {
      if (!this.pressed.has(code)) this.waiting.add(code);
      this.tapped = code;
      return [];
    }
    this.tapped = null;
    const altGraph = event.getModifierState?.("AltGraph") ?? false;
    const character = [...event.key].length === 1;
    if (character && !event.metaKey && (altGraph || !(event.ctrlKey || event.altKey))) {
      return [{ kind: "text", text: event.key }];
    }
    const inputs: ControlInput[] = [];
    for (const modifier of this.waiting) {
      inputs.push({ kind: "key", code: modifier, down: true });
      this.pressed.add(modifier);
    }
    this.waiting.clear();
    inputs.push({ kind: "key", code, down: true });
    this.pressed.add(code);
    return inputs;
  }

  up(event: KeyEventLike): ControlInput[] {
    const code = event.code;
    const tapped = this.tapped === code;
    this.tapped = null;
    this.waiting.delete(code);
    if (this.pressed.delete(code)) return [{ kind: "key", code, down: false }];
    if (tapped && MODIFIERS.has(code)) {
      return [
        { kind: "key", code, down: true },
        { kind: "key", code, down: false },
      ];
    }
    return [];
  }

  /** The window lost the keyboard: every key the student's computer holds is let go. */
  releaseAll(): ControlInput[] {
    this.waiting.clear();
    this.tapped = null;
    if (this.pressed.size === 0) return [];
    this.pressed.clear();
    return [{ kind: "releaseAll" }];
  }
}

/** The shortcuts the teacher's own system would keep for itself, sent from a menu. */
export const SHORTCUTS: { de: string; en: string; keys: string }[] = [
  { de: "Alt+Tab", en: "Alt+Tab", keys: "alt+Tab" },
  { de: "Alt+F4", en: "Alt+F4", keys: "alt+F4" },
  { de: "Windows-Taste", en: "Windows key", keys: "super" },
  { de: "Strg+Esc", en: "Ctrl+Esc", keys: "ctrl+Escape" },
  { de: "Strg+Alt+Entf", en: "Ctrl+Alt+Del", keys: "ctrl+alt+Delete" },
];

/** Sends inputs in order, one call at a time: what comes while a call is
 * under way goes with the next, and of pointer glides in a row only the
 * last (the pointer's way there does not matter, where it ends does). */
export class InputQueue {
  private pending: ControlInput[] = [];
  private busy = false;

  /** `send` deals with its own failures; a rejection drops the batch. */
  constructor(private readonly send: (inputs: ControlInput[]) => Promise<void>) {}

  push(...inputs: ControlInput[]): void {
    for (const input of inputs) {
      const last = this.pending[this.pending.length - 1];
      if (input.kind === "glide" && last?.kind === "glide") this.pending[this.pending.length - 1] = input;
      else this.pending.push(input);
    }
    void this.flush();
  }

  /** Resolves once everything pushed so far is sent. */
  async drained(): Promise<void> {
    while (this.busy || this.pending.length > 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  private async flush(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        await this.send(batch).catch(() => undefined);
      }
    } finally {
      this.busy = false;
    }
  }
}
