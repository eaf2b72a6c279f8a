// Starts the room view on the Tauri backend inside the app, or on the fake
// backend when opened in a plain browser (`npm run dev`).
import { App } from "./app";
import type { Backend } from "./backend";
import { FakeBackend } from "./fake-backend";
import { TauriBackend } from "./tauri-backend";

const inTauri = "__TAURI_INTERNALS__" in window;
const backend: Backend = inTauri ? new TauriBackend() : new FakeBackend();
const app = new App(document.getElementById("app")!, backend);
app.start().catch((error) => {
  document.getElementById("app")!.textContent = `Pult: ${error?.message ?? error}`;
});
