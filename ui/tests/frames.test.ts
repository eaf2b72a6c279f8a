import { Compositor, encodeFrame, FrameFormatError, parseFrame } from "../src/frames";
import type { ScreenFrame } from "../src/backend";
import { drawn } from "./setup";

const frame: ScreenFrame = {
  device: 7,
  width: 320,
  height: 180,
  tiles: [
    { x: 0, y: 0, width: 64, height: 64, format: "png", data: new Uint8Array([137, 80, 78, 71, 1, 2]) },
    { x: 256, y: 128, width: 64, height: 52, format: "jpeg", data: new Uint8Array([255, 216, 255, 9]) },
  ],
};

describe("binary frame messages", () => {
  it("round-trip device, size and every tile", () => {
    const parsed = parseFrame(encodeFrame(frame));
    expect(parsed.device).toBe(7);
    expect([parsed.width, parsed.height]).toEqual([320, 180]);
    expect(parsed.tiles.map((t) => [t.x, t.y, t.width, t.height, t.format])).toEqual([
      [0, 0, 64, 64, "png"],
      [256, 128, 64, 52, "jpeg"],
    ]);
    expect([...parsed.tiles[1].data]).toEqual([255, 216, 255, 9]);
  });

  it("refuse a cut-short message, an unknown version and an unknown format", () => {
    const bytes = new Uint8Array(encodeFrame(frame));
    expect(() => parseFrame(bytes.slice(0, bytes.length - 1).buffer)).toThrow(FrameFormatError);
    const wrongVersion = bytes.slice();
    wrongVersion[0] = 9;
    expect(() => parseFrame(wrongVersion.buffer)).toThrow(/version 9/);
    const wrongFormat = bytes.slice();
    wrongFormat[14 + 16] = 7;
    expect(() => parseFrame(wrongFormat.buffer)).toThrow(/format 7/);
  });
});

describe("the compositor", () => {
  it("sizes the canvas to the frame and draws each tile where it belongs", async () => {
    const canvas = document.createElement("canvas");
    const decoded: string[] = [];
    const compositor = new Compositor(canvas, async (blob) => {
      decoded.push(blob.type);
      return {} as CanvasImageSource;
    });
    await compositor.draw(frame);
    expect([canvas.width, canvas.height]).toEqual([320, 180]);
    expect(decoded).toEqual(["image/png", "image/jpeg"]);
    expect(drawn.get(canvas)!.map((d) => [d.x, d.y, d.width, d.height])).toEqual([
      [0, 0, 64, 64],
      [256, 128, 64, 52],
    ]);
  });

  it("keeps drawing after a tile that does not decode", async () => {
    const canvas = document.createElement("canvas");
    let calls = 0;
    const compositor = new Compositor(canvas, async () => {
      calls += 1;
      if (calls === 1) throw new Error("broken image");
      return {} as CanvasImageSource;
    });
    await compositor.draw({ ...frame, tiles: [frame.tiles[0]] });
    await compositor.draw({ ...frame, tiles: [frame.tiles[1]] });
    expect(drawn.get(canvas)!.map((d) => d.x)).toEqual([256]);
  });
});
