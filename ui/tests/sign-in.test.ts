import { App } from "../src/app";
import { FakeBackend } from "../src/fake-backend";

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

async function start(backend: FakeBackend) {
  localStorage.clear();
  document.body.innerHTML = `<div id="app"></div>`;
  const root = document.getElementById("app")!;
  const app = new App(root, backend, { decode: async () => ({}) as CanvasImageSource, storage: localStorage });
  await app.start();
  const fill = (user: string, password: string) => {
    root.querySelector<HTMLInputElement>("#sign-in-user")!.value = user;
    root.querySelector<HTMLInputElement>("#sign-in-password")!.value = password;
    root.querySelector<HTMLFormElement>(".sign-in-form")!.requestSubmit();
  };
  return { app, root, fill };
}

describe("the sign-in on a teacher PC at a registry (R9)", () => {
  it("asks for the school account, refuses a wrong password in the teacher's words, then opens the PC's room", async () => {
    const backend = new FakeBackend().atRegistry({ mueller: "Tafel-2026" });
    const { root, fill } = await start(backend);
    expect(root.querySelector("h1")!.textContent).toBe("Anmelden");
    expect(root.querySelector(".device")).toBeNull();
    expect(root.querySelector("#sign-in-browser")).toBeNull();
    fill("mueller", "falsch");
    await flush();
    const problem = root.querySelector<HTMLElement>(".sign-in-problem")!;
    expect(problem.hidden).toBe(false);
    expect(problem.textContent).toBe("Benutzername oder Passwort ist falsch");
    expect(root.querySelector<HTMLButtonElement>("#sign-in")!.disabled).toBe(false);
    fill("mueller", "Tafel-2026");
    await flush();
    expect(backend.calls.filter((c) => c.method === "openRoom")).toEqual([{ method: "openRoom", args: [null] }]);
    expect(root.querySelectorAll(".device")).toHaveLength(12);
    expect(root.querySelector(".room-name")!.textContent).toBe("Raum 101");
  });

  it("offers the school's identity provider by its name", async () => {
    const backend = new FakeBackend().atRegistry({}, ["101"], "Schulportal");
    const { root } = await start(backend);
    const button = root.querySelector<HTMLButtonElement>("#sign-in-browser")!;
    expect(button.textContent).toBe("Anmelden mit Schulportal");
    button.click();
    await flush();
    expect(backend.calls.some((c) => c.method === "signInBrowser")).toBe(true);
    expect(root.querySelectorAll(".device")).toHaveLength(12);
  });

  it("lets the teacher pick the room on a PC that serves several", async () => {
    const backend = new FakeBackend().atRegistry({ mueller: "Tafel-2026" }, ["101", "102"]);
    const { root, fill } = await start(backend);
    fill("mueller", "Tafel-2026");
    await flush();
    expect(root.querySelector(".device")).toBeNull();
    const choice = root.querySelector<HTMLFormElement>(".room-choice")!;
    expect(choice.hidden).toBe(false);
    expect(choice.querySelector(".signed-in-as")!.textContent).toBe("Angemeldet als mueller");
    const select = root.querySelector<HTMLSelectElement>("#room-choice")!;
    expect([...select.options].map((o) => o.value)).toEqual(["101", "102"]);
    select.value = "102";
    choice.requestSubmit();
    await flush();
    expect(backend.calls.filter((c) => c.method === "openRoom")).toEqual([{ method: "openRoom", args: ["102"] }]);
    expect(root.querySelector(".room-name")!.textContent).toBe("Raum 102");
  });

  it("says why a room is refused, by the registry's code", async () => {
    const backend = new FakeBackend().atRegistry({ schmidt: "Kreide-2026" });
    backend.openRoom = async () => {
      throw { code: "not-authorised", message: "user 'schmidt' is not in the group 'lehrer'" };
    };
    const { root, fill } = await start(backend);
    fill("schmidt", "Kreide-2026");
    await flush();
    expect(root.querySelector(".sign-in-problem")!.textContent).toBe("Ihr Konto gehört nicht zur Gruppe, die Pult benutzen darf");
    expect(root.querySelector(".device")).toBeNull();
  });
});

describe("unknown devices (R14)", () => {
  it("shows agents on the network that the room does not know, and nothing when there are none", async () => {
    const backend = new FakeBackend();
    const { app, root } = await start(backend);
    const box = root.querySelector<HTMLDetailsElement>(".unknown-devices")!;
    expect(box.hidden).toBe(true);
    backend.unknown = [
      { name: "R102-PC04", address: "10.0.2.14:11500" },
      { name: "<b>Laptop</b>", address: "10.0.1.99:11500" },
    ];
    await app.showUnknownDevices();
    expect(box.hidden).toBe(false);
    expect(box.querySelector("summary")!.textContent).toBe("Unbekannte Geräte: 2");
    const items = [...box.querySelectorAll("li")].map((li) => li.textContent);
    expect(items).toEqual(["R102-PC04 10.0.2.14:11500", "<b>Laptop</b> 10.0.1.99:11500"]);
    expect(box.querySelector("b")).toBeNull();
    backend.unknown = [];
    await app.showUnknownDevices();
    expect(box.hidden).toBe(true);
  });
});
