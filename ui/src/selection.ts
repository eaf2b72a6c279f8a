// Which devices the teacher has selected: click, shift-click for a range,
// ctrl-click to add or remove one, select all, clear. Pure, no DOM.

export interface Modifiers {
  shift?: boolean;
  ctrl?: boolean;
}

export class Selection {
  private readonly chosen = new Set<string>();
  private anchor: string | null = null;

  /** `order` gives the devices in the order the grid shows them. */
  constructor(private readonly order: () => string[]) {}

  click(name: string, modifiers: Modifiers = {}): void {
    if (modifiers.shift && this.anchor !== null) {
      const names = this.order();
      const [from, to] = [names.indexOf(this.anchor), names.indexOf(name)].sort((a, b) => a - b);
      if (from >= 0) {
        if (!modifiers.ctrl) this.chosen.clear();
        names.slice(from, to + 1).forEach((n) => this.chosen.add(n));
        return;
      }
    }
    if (modifiers.ctrl) {
      this.toggle(name);
    } else {
      this.chosen.clear();
      this.chosen.add(name);
    }
    this.anchor = name;
  }

  toggle(name: string): void {
    if (this.chosen.has(name)) this.chosen.delete(name);
    else this.chosen.add(name);
    this.anchor = name;
  }

  selectAll(): void {
    this.order().forEach((n) => this.chosen.add(n));
  }

  clear(): void {
    this.chosen.clear();
    this.anchor = null;
  }

  has(name: string): boolean {
    return this.chosen.has(name);
  }

  get size(): number {
    return this.chosen.size;
  }

  /** The selected devices in grid order. */
  values(): string[] {
    return this.order().filter((n) => this.chosen.has(n));
  }
}
