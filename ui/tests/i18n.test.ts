import { I18n, languageFor } from "../src/i18n";

describe("languages", () => {
  it("follow the system locale: German for de-*, English otherwise", () => {
    expect(languageFor("de-DE")).toBe("de");
    expect(languageFor("de_AT.UTF-8")).toBe("de");
    expect(languageFor("en-GB")).toBe("en");
    expect(languageFor("fr-FR")).toBe("en");
  });

  it("fill placeholders and remember a switch", () => {
    localStorage.clear();
    const i18n = new I18n("de-DE", localStorage);
    expect(i18n.t("room", { room: "101" })).toBe("Raum 101");
    i18n.switchTo("en");
    expect(i18n.t("selected", { count: 3 })).toBe("3 selected");
    expect(new I18n("de-DE", localStorage).language).toBe("en");
  });
});
