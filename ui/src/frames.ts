// Screen frames arrive as one binary message each (never base64 JSON):
//   u8 version (1), u8 reserved, u16 device, u32 width, u32 height, u16 tiles,
//   then per tile: u32 x, u32 y, u32 width, u32 height, u8 format (1 PNG, 2 JPEG),
//   u32 length, the image bytes. All little-endian. pult-console writes it.
import type { ScreenFrame, Tile } from "./backend";

export class FrameFormatError extends Error {}

/** Reads one binary frame message. */
export function parseFrame(buffer: ArrayBuffer): ScreenFrame {
  const view = new DataView(buffer);
  const need = (offset: number, bytes: number) => {
    if (offset + bytes > buffer.byteLength) {
      throw new FrameFormatError(`frame message cut short at byte ${offset}`);
    }
  };
  need(0, 14);
  const version = view.getUint8(0);
  if (version !== 1) {
    throw new FrameFormatError(`unknown frame message version ${version}`);
  }
  const device = view.getUint16(2, true);
  const width = view.getUint32(4, true);
  const height = view.getUint32(8, true);
  const count = view.getUint16(12, true);
  const tiles: Tile[] = [];
  let offset = 14;
  for (let i = 0; i < count; i++) {
    need(offset, 21);
    const format = view.getUint8(offset + 16);
    if (format !== 1 && format !== 2) {
      throw new FrameFormatError(`unknown tile format ${format}`);
    }
    const length = view.getUint32(offset + 17, true);
    need(offset + 21, length);
    tiles.push({
      x: view.getUint32(offset, true),
      y: view.getUint32(offset + 4, true),
      width: view.getUint32(offset + 8, true),
      height: view.getUint32(offset + 12, true),
      format: format === 1 ? "png" : "jpeg",
      data: new Uint8Array(buffer, offset + 21, length),
    });
    offset += 21 + length;
  }
  return { device, width, height, tiles };
}

/** Writes a frame message (the fake backend and tests use it). */
export function encodeFrame(frame: ScreenFrame): ArrayBuffer {
  const size = 14 + frame.tiles.reduce((sum, t) => sum + 21 + t.data.length, 0);
  const buffer = new ArrayBuffer(size);
  const view = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  view.setUint8(0, 1);
  view.setUint16(2, frame.device, true);
  view.setUint32(4, frame.width, true);
  view.setUint32(8, frame.height, true);
  view.setUint16(12, frame.tiles.length, true);
  let offset = 14;
  for (const tile of frame.tiles) {
    view.setUint32(offset, tile.x, true);
    view.setUint32(offset + 4, tile.y, true);
    view.setUint32(offset + 8, tile.width, true);
    view.setUint32(offset + 12, tile.height, true);
    view.setUint8(offset + 16, tile.format === "png" ? 1 : 2);
    view.setUint32(offset + 17, tile.data.length, true);
    bytes.set(tile.data, offset + 21);
    offset += 21 + tile.data.length;
  }
  return buffer;
}

/** Draws frames onto a canvas, tile by tile, in arrival order. */
export class Compositor {
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly decode: (blob: Blob) => Promise<CanvasImageSource> = (blob) => createImageBitmap(blob),
  ) {}

  /** Applies `frame`; a new size clears the picture. Tiles are decoded by the web view. */
  draw(frame: ScreenFrame): Promise<void> {
    this.queue = this.queue.then(() => this.apply(frame)).catch(() => undefined);
    return this.queue;
  }

  private async apply(frame: ScreenFrame): Promise<void> {
    if (this.canvas.width !== frame.width || this.canvas.height !== frame.height) {
      this.canvas.width = frame.width;
      this.canvas.height = frame.height;
    }
    const images = await Promise.all(
      frame.tiles.map((tile) =>
        this.decode(new Blob([tile.data as BlobPart], { type: tile.format === "png" ? "image/png" : "image/jpeg" })),
      ),
    );
    const context = this.canvas.getContext("2d");
    if (!context) return;
    frame.tiles.forEach((tile, i) => context.drawImage(images[i], tile.x, tile.y, tile.width, tile.height));
    images.forEach((image) => (image as ImageBitmap).close?.());
  }
}
