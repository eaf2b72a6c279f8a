// The backend in the app: each method is one Tauri command of src-tauri,
// which is one call into pult-console. Frames arrive on a channel as raw
// bytes (ArrayBuffer), never as base64 JSON.
import { Channel, invoke } from "@tauri-apps/api/core";
import type {
  ActionResult,
  Backend,
  BroadcastRequest,
  BroadcastState,
  ControlInput,
  ControlProblem,
  DeviceStatus,
  DeviceTransfer,
  HomeFolder,
  PowerAction,
  Favourites,
  RoomInfo,
  SavedShot,
  SignedIn,
  SignInMethods,
  UnknownDevice,
  ScreenFrame,
  TeacherScreen,
  TransferEvent,
} from "./backend";
import { parseFrame } from "./frames";

export class TauriBackend implements Backend {
  room(): Promise<RoomInfo> {
    return invoke("room");
  }

  locale(): Promise<string> {
    return invoke("locale");
  }

  unknownDevices(): Promise<UnknownDevice[]> {
    return invoke("unknown_devices");
  }

  signInMethods(): Promise<SignInMethods> {
    return invoke("sign_in_methods");
  }

  signIn(user: string, password: string): Promise<SignedIn> {
    return invoke("sign_in", { user, password });
  }

  signInBrowser(): Promise<SignedIn> {
    return invoke("sign_in_browser");
  }

  openRoom(room: string | null): Promise<RoomInfo> {
    return invoke("open_room", { room });
  }

  frameShown(device: string): Promise<void> {
    return invoke("frame_shown", { device });
  }

  async subscribe(onStatus: (status: DeviceStatus) => void, onFrame: (frame: ScreenFrame) => void): Promise<void> {
    const statuses = new Channel<DeviceStatus>(onStatus);
    const frames = new Channel<ArrayBuffer>((message) => onFrame(parseFrame(message)));
    await invoke("subscribe", { statuses, frames });
  }

  setThumbnailSize(width: number, height: number): Promise<void> {
    return invoke("set_thumbnail_size", { width, height });
  }

  focus(device: string | null, width: number, height: number): Promise<void> {
    return invoke("focus", { device, width, height });
  }

  screenshot(device: string): Promise<SavedShot> {
    return invoke("screenshot", { device });
  }

  openUrl(devices: string[], url: string): Promise<ActionResult[]> {
    return invoke("open_url", { devices, url });
  }

  runProgram(devices: string[], program: string, args: string[]): Promise<ActionResult[]> {
    return invoke("run_program", { devices, program, args });
  }

  message(devices: string[], title: string | null, text: string): Promise<ActionResult[]> {
    return invoke("message", { devices, title, text });
  }

  lock(devices: string[], message: string | null): Promise<ActionResult[]> {
    return invoke("lock", { devices, message });
  }

  unlock(devices: string[]): Promise<ActionResult[]> {
    return invoke("unlock", { devices });
  }

  readClipboard(device: string): Promise<string> {
    return invoke("read_clipboard", { device });
  }

  power(devices: string[], action: PowerAction, delaySeconds: number): Promise<ActionResult[]> {
    return invoke("power", { devices, action, delaySeconds });
  }

  control(device: string | null): Promise<void> {
    return invoke("control", { device });
  }

  controlInput(device: string, inputs: ControlInput[]): Promise<ControlProblem[]> {
    return invoke("control_input", { device, inputs });
  }

  homeFolder(path: string): Promise<HomeFolder> {
    return invoke("home_folder", { path });
  }

  sendFiles(devices: string[], paths: string[], overwrite: boolean, open: boolean, onEvent: (event: TransferEvent) => void): Promise<DeviceTransfer[]> {
    return invoke("send_files", { devices, paths, overwrite, open, progress: new Channel<TransferEvent>(onEvent) });
  }

  collectFiles(devices: string[], pattern: string | null, onEvent: (event: TransferEvent) => void): Promise<DeviceTransfer[]> {
    return invoke("collect_files", { devices, pattern, progress: new Channel<TransferEvent>(onEvent) });
  }

  gallery(): Promise<SavedShot[]> {
    return invoke("gallery");
  }

  broadcast(request: BroadcastRequest): Promise<BroadcastState> {
    return invoke("broadcast", { request });
  }

  async stopBroadcast(): Promise<void> {
    await invoke("stop_broadcast");
  }

  broadcastState(): Promise<BroadcastState | null> {
    return invoke("broadcast_state");
  }

  teacherScreen(): Promise<TeacherScreen> {
    return invoke("teacher_screen");
  }

  async teacherScreenPreview(): Promise<Uint8Array> {
    return new Uint8Array(await invoke<ArrayBuffer>("teacher_screen_preview"));
  }

  async galleryImage(path: string): Promise<Uint8Array> {
    return new Uint8Array(await invoke<ArrayBuffer>("gallery_image", { path }));
  }

  favourites(): Promise<Favourites> {
    return invoke("favourites");
  }

  saveFavourites(favourites: Favourites): Promise<void> {
    return invoke("save_favourites", { favourites });
  }
}
