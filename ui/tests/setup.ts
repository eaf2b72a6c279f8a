// jsdom has no canvas: a context that records what is drawn, so the
// compositor can be checked without a graphics stack.
export interface Drawn {
  image: unknown;
  x: number;
  y: number;
  width: number;
  height: number;
}

export const drawn = new WeakMap<HTMLCanvasElement, Drawn[]>();

HTMLCanvasElement.prototype.getContext = function (this: HTMLCanvasElement) {
  const canvas = this;
  return {
    drawImage(image: unknown, x: number, y: number, width: number, height: number) {
      const list = drawn.get(canvas) ?? [];
      list.push({ image, x, y, width, height });
      drawn.set(canvas, list);
    },
  } as unknown as CanvasRenderingContext2D;
} as unknown as typeof HTMLCanvasElement.prototype.getContext;

// jsdom has no object URLs: numbered ones, so tests can see a picture was set.
let objectUrls = 0;
URL.createObjectURL = () => `blob:test/${++objectUrls}`;
URL.revokeObjectURL = () => undefined;
