import { Selection } from "../src/selection";

const names = ["PC-01", "PC-02", "PC-03", "PC-04", "PC-05"];

describe("selection", () => {
  it("selects one device on a plain click", () => {
    const selection = new Selection(() => names);
    selection.click("PC-02");
    selection.click("PC-04");
    expect(selection.values()).toEqual(["PC-04"]);
  });

  it("selects a range with shift, in grid order whichever way", () => {
    const selection = new Selection(() => names);
    selection.click("PC-04");
    selection.click("PC-02", { shift: true });
    expect(selection.values()).toEqual(["PC-02", "PC-03", "PC-04"]);
  });

  it("adds and removes single devices with ctrl, and adds a range with ctrl+shift", () => {
    const selection = new Selection(() => names);
    selection.click("PC-01");
    selection.click("PC-03", { ctrl: true });
    expect(selection.values()).toEqual(["PC-01", "PC-03"]);
    selection.click("PC-01", { ctrl: true });
    expect(selection.values()).toEqual(["PC-03"]);
    // The last click (PC-01) is the anchor; ctrl+shift adds the range from there.
    selection.click("PC-04", { ctrl: true });
    selection.click("PC-05", { ctrl: true, shift: true });
    expect(selection.values()).toEqual(["PC-03", "PC-04", "PC-05"]);
  });

  it("selects all and clears", () => {
    const selection = new Selection(() => names);
    selection.selectAll();
    expect(selection.size).toBe(5);
    selection.clear();
    expect(selection.size).toBe(0);
    selection.click("PC-03", { shift: true });
    expect(selection.values()).toEqual(["PC-03"]);
  });
});
