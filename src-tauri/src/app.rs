//! The window and its commands: each command is one call into pult-console's
//! [`Desk`]; frames go to the web view as raw bytes on a channel.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, Result};
use pult_console::desk::{ActionResult, ControlInput, Desk, DeskError, DeskFolders, RoomInfo};
use pult_console::desk_broadcast::{BroadcastRequest, BroadcastState, TeacherScreen};
use pult_console::desk_files::{DeviceTransfer, HomeFolder};
use pult_console::favourites::Favourites;
use pult_console::gallery::SavedShot;
use pult_console::sign_in::{self, Registration, SignInMethods, SignedIn};
use pult_console::transfer::{SendOptions, TransferEvent};
use pult_console::{DeviceStatus, RoomCertificate, RoomEvent, SessionOptions, UnknownDevice};
use tauri::ipc::{Channel, InvokeResponseBody, Response};
use tauri::{Manager, State, WebviewUrl, WebviewWindowBuilder};
use tokio::sync::mpsc;

/// What the commands share: the desk once a room is open, the channels of
/// the current page, and on a teacher PC its registry, to sign in and renew.
struct AppState {
    desk: OnceLock<Arc<Desk>>,
    channels: Arc<Mutex<Option<Channels>>>,
    registered: Option<Registered>,
    /// Held while a room is opened: a second click waits and gets the same room.
    opening: tokio::sync::Mutex<()>,
}

/// A teacher PC's registry, and how its room is opened once signed in.
struct Registered {
    registration: Arc<Registration>,
    options: SessionOptions,
    folders: DeskFolders,
}

struct Channels {
    statuses: Channel<DeviceStatus>,
    frames: Channel<InvokeResponseBody>,
}

impl AppState {
    /// The desk; before the teacher signed in, the code the page signs in on.
    fn desk(&self) -> Result<&Arc<Desk>, DeskError> {
        self.desk.get().ok_or_else(|| DeskError {
            code: "sign-in-required".into(),
            message: "sign in to open the room".into(),
            holder: None,
        })
    }

    /// Puts `desk` in place and hands its events to the page.
    fn opened(&self, desk: Desk, events: mpsc::Receiver<RoomEvent>) -> Arc<Desk> {
        let desk = self.desk.get_or_init(|| Arc::new(desk)).clone();
        tauri::async_runtime::spawn(forward(events, desk.clone(), self.channels.clone()));
        if let Some(registered) = &self.registered {
            tauri::async_runtime::spawn(keep_renewed(
                registered.registration.clone(),
                desk.clone(),
            ));
        }
        desk
    }
}

/// Opens the room of the certificate directory `cert` in a window; returns when it closes.
/// A room that cannot be opened is an error; with a display it is also shown
/// in the window, for a teacher who started the app from the menu.
pub fn run(cert: &Path, options: SessionOptions, folders: DeskFolders) -> Result<()> {
    let (desk, events) =
        match tauri::async_runtime::block_on(async { Desk::open(cert, options, folders) })
            .with_context(|| format!("opening the room of {}", cert.display()))
        {
            Ok(opened) => opened,
            Err(error) => {
                show_problem(&format!("{error:#}"));
                return Err(error);
            }
        };
    let state = AppState {
        desk: OnceLock::new(),
        channels: Arc::default(),
        registered: None,
        opening: tokio::sync::Mutex::new(()),
    };
    state.opened(desk, events);
    launch(state)
}

/// Opens the window on a teacher PC enrolled at a registry (R8, R9): the
/// room at once if this user's room certificate is still good (renewed
/// first if it ends soon), otherwise the sign-in; the certificate is
/// renewed before it runs out while the window is open.
pub fn run_registered(
    registration: Registration,
    options: SessionOptions,
    folders: DeskFolders,
) -> Result<()> {
    let registration = Arc::new(registration);
    let state = AppState {
        desk: OnceLock::new(),
        channels: Arc::default(),
        registered: Some(Registered {
            registration: registration.clone(),
            options,
            folders: folders.clone(),
        }),
        opening: tokio::sync::Mutex::new(()),
    };
    if registration.installed().is_some() {
        let room_dir = registration.room_dir().to_owned();
        let opened =
            tauri::async_runtime::block_on(async { Desk::open(&room_dir, options, folders) });
        match opened {
            Ok((desk, events)) => {
                state.opened(desk, events);
            }
            // The page signs in and opens it anew.
            Err(error) => tracing::warn!("the installed room could not be opened: {error}"),
        }
    }
    launch(state)
}

/// The window with every command, until it closes.
fn launch(state: AppState) -> Result<()> {
    let title = match state.desk.get() {
        Some(desk) => format!("Pult – {} {}", desk.room().organisation, desk.room().room),
        None => "Pult".to_owned(),
    };
    let app = tauri::Builder::default()
        .manage(state)
        .setup(move |app| main_window(app, &title))
        .invoke_handler(tauri::generate_handler![
            room,
            locale,
            sign_in_methods,
            sign_in,
            sign_in_browser,
            open_room,
            unknown_devices,
            frame_shown,
            subscribe,
            set_thumbnail_size,
            focus,
            screenshot,
            open_url,
            run_program,
            message,
            lock,
            unlock,
            control,
            control_input,
            read_clipboard,
            power,
            broadcast,
            stop_broadcast,
            broadcast_state,
            teacher_screen,
            teacher_screen_preview,
            home_folder,
            send_files,
            collect_files,
            gallery,
            gallery_image,
            favourites,
            save_favourites
        ])
        .build(tauri::generate_context!())
        .context("opening the window")?;
    app.run(move |app, event| {
        // Every agent hears at once that the views ended, so no student's
        // notice stays up after the window closed (R1).
        if let tauri::RunEvent::Exit = event
            && let Some(desk) = app.state::<AppState>().desk.get()
        {
            tauri::async_runtime::block_on(desk.session().close(CLOSING));
        }
    });
    Ok(())
}

/// Renews the room certificate before it runs out, for as long as the app
/// runs; a failed renewal is tried again a minute later.
async fn keep_renewed(registration: Arc<Registration>, desk: Arc<Desk>) {
    let mut not_after = match RoomCertificate::load(registration.room_dir()) {
        Ok(room) => room.manifest.not_after,
        Err(_) => return,
    };
    loop {
        let wait = sign_in::renew_in(not_after, time::OffsetDateTime::now_utc());
        tokio::time::sleep(wait).await;
        let renewing = registration.clone();
        match tauri::async_runtime::spawn_blocking(move || renewing.renew()).await {
            Ok(Ok(room)) => match desk.renewed(&room) {
                Ok(()) => not_after = room.manifest.not_after,
                Err(error) => {
                    tracing::warn!(
                        "the renewed room certificate was not taken: {}",
                        error.message
                    );
                    tokio::time::sleep(Registration::retry_after()).await;
                }
            },
            Ok(Err(error)) if Registration::renewal_is_over(&error) => {
                // The room keeps going until the certificate ends; the next
                // start of the app signs the teacher in again.
                tracing::warn!(
                    "the room certificate cannot be renewed without a new sign-in: {}",
                    error.message
                );
                return;
            }
            Ok(Err(error)) => {
                tracing::warn!(
                    "the room certificate could not be renewed: {}",
                    error.message
                );
                tokio::time::sleep(Registration::retry_after()).await;
            }
            Err(_) => return,
        }
    }
}

/// How long closing the room's connections may hold up the app's end.
const CLOSING: std::time::Duration = std::time::Duration::from_secs(2);

/// Says in a window why no room can be opened, when there is a screen to
/// open it on: started from the menu, nobody reads stderr. Returns when the
/// window closes.
pub fn show_problem(problem: &str) {
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    if !display {
        return;
    }
    if let Err(error) = tauri::Builder::default()
        .manage(Problem(problem.to_owned()))
        .setup(|app| main_window(app, "Pult"))
        .invoke_handler(tauri::generate_handler![unopened::room, locale])
        .run(tauri::generate_context!())
    {
        eprintln!("pult: could not open the window: {error}");
    }
}

fn main_window(app: &mut tauri::App, title: &str) -> Result<(), Box<dyn std::error::Error>> {
    WebviewWindowBuilder::new(app, "main", WebviewUrl::default())
        .title(title)
        .inner_size(1366.0, 768.0)
        .min_inner_size(900.0, 560.0)
        .build()?;
    Ok(())
}

/// Why the app has no room.
struct Problem(String);

/// The one command of the window without a room: `room` answers with why.
mod unopened {
    use pult_console::desk::RoomInfo;
    use tauri::State;

    #[tauri::command]
    pub(super) fn room(problem: State<'_, super::Problem>) -> Result<RoomInfo, String> {
        Err(problem.0.clone())
    }
}

/// Hands room events to the page: statuses as JSON, frames as raw bytes.
async fn forward(
    mut events: mpsc::Receiver<RoomEvent>,
    desk: Arc<Desk>,
    channels: Arc<Mutex<Option<Channels>>>,
) {
    while let Some(event) = events.recv().await {
        let channels = channels.lock().unwrap_or_else(|p| p.into_inner());
        // No page yet: it asks for the current statuses when it comes.
        match event {
            RoomEvent::Status(status) => {
                if let Some(channels) = channels.as_ref() {
                    let _ = channels.statuses.send(status);
                }
            }
            RoomEvent::Screen { device, update } => {
                let sent = channels
                    .as_ref()
                    .zip(desk.frame_message(&device, &update))
                    .is_some_and(|(channels, message)| {
                        channels
                            .frames
                            .send(InvokeResponseBody::Raw(message))
                            .is_ok()
                    });
                if !sent {
                    desk.frame_shown(&device); // nobody will draw it
                }
            }
        }
    }
}

#[tauri::command]
fn room(state: State<'_, AppState>) -> Result<RoomInfo, DeskError> {
    Ok(state.desk()?.room())
}

/// The registry of this teacher PC, for the sign-in commands.
fn registered<'s>(state: &'s State<'_, AppState>) -> Result<&'s Registered, DeskError> {
    state.registered.as_ref().ok_or_else(|| DeskError {
        code: "no-registry".into(),
        message: "this computer is not enrolled at a registry".into(),
        holder: None,
    })
}

/// Runs a blocking call into the registry off the event loop.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, DeskError> + Send + 'static,
) -> Result<T, DeskError> {
    tauri::async_runtime::spawn_blocking(call)
        .await
        .map_err(|e| DeskError {
            code: "internal".into(),
            message: e.to_string(),
            holder: None,
        })?
}

#[tauri::command]
async fn sign_in_methods(state: State<'_, AppState>) -> Result<SignInMethods, DeskError> {
    let registration = registered(&state)?.registration.clone();
    blocking(move || registration.methods()).await
}

#[tauri::command]
async fn sign_in(
    state: State<'_, AppState>,
    user: String,
    password: String,
) -> Result<SignedIn, DeskError> {
    let registration = registered(&state)?.registration.clone();
    blocking(move || registration.sign_in(&user, &password)).await
}

#[tauri::command]
async fn sign_in_browser(state: State<'_, AppState>) -> Result<SignedIn, DeskError> {
    let registration = registered(&state)?.registration.clone();
    blocking(move || registration.sign_in_in_browser(pult_console::registry::open_in_browser)).await
}

#[tauri::command]
async fn open_room(
    state: State<'_, AppState>,
    room: Option<String>,
) -> Result<RoomInfo, DeskError> {
    let _one_at_a_time = state.opening.lock().await;
    if let Some(desk) = state.desk.get() {
        return Ok(desk.room());
    }
    let registered = registered(&state)?;
    let registration = registered.registration.clone();
    blocking(move || registration.take_room(room.as_deref())).await?;
    let (desk, events) = Desk::open(
        registered.registration.room_dir(),
        registered.options,
        registered.folders.clone(),
    )?;
    Ok(state.opened(desk, events).room())
}

#[tauri::command]
fn locale() -> String {
    pult_console::desk::system_locale()
}

#[tauri::command]
fn unknown_devices(state: State<'_, AppState>) -> Result<Vec<UnknownDevice>, DeskError> {
    Ok(state.desk()?.unknown_devices())
}

#[tauri::command]
fn frame_shown(state: State<'_, AppState>, device: String) {
    if let Some(desk) = state.desk.get() {
        desk.frame_shown(&device);
    }
}

#[tauri::command]
async fn subscribe(
    state: State<'_, AppState>,
    statuses: Channel<DeviceStatus>,
    frames: Channel<InvokeResponseBody>,
) -> Result<(), DeskError> {
    for status in state.desk()?.room().devices {
        let _ = statuses.send(status);
    }
    *state.channels.lock().unwrap_or_else(|p| p.into_inner()) = Some(Channels { statuses, frames });
    state.desk()?.viewer_replaced().await;
    Ok(())
}

#[tauri::command]
async fn set_thumbnail_size(
    state: State<'_, AppState>,
    width: u32,
    height: u32,
) -> Result<(), DeskError> {
    state.desk()?.set_thumbnail_size(width, height).await;
    Ok(())
}

#[tauri::command]
async fn focus(
    state: State<'_, AppState>,
    device: Option<String>,
    width: u32,
    height: u32,
) -> Result<(), DeskError> {
    Ok(state.desk()?.focus(device, width, height).await?)
}

#[tauri::command]
async fn screenshot(state: State<'_, AppState>, device: String) -> Result<SavedShot, DeskError> {
    Ok(state.desk()?.screenshot(&device).await?)
}

#[tauri::command]
async fn open_url(
    state: State<'_, AppState>,
    devices: Vec<String>,
    url: String,
) -> Result<Vec<ActionResult>, DeskError> {
    Ok(state.desk()?.open_url(&devices, &url).await?)
}

#[tauri::command]
async fn run_program(
    state: State<'_, AppState>,
    devices: Vec<String>,
    program: String,
    args: Vec<String>,
) -> Result<Vec<ActionResult>, DeskError> {
    Ok(state.desk()?.run_program(&devices, &program, &args).await)
}

#[tauri::command]
async fn message(
    state: State<'_, AppState>,
    devices: Vec<String>,
    title: Option<String>,
    text: String,
) -> Result<Vec<ActionResult>, DeskError> {
    Ok(state.desk()?.message(&devices, title, text).await)
}

#[tauri::command]
async fn lock(
    state: State<'_, AppState>,
    devices: Vec<String>,
    message: Option<String>,
) -> Result<Vec<ActionResult>, DeskError> {
    Ok(state.desk()?.lock(&devices, message).await)
}

#[tauri::command]
async fn unlock(
    state: State<'_, AppState>,
    devices: Vec<String>,
) -> Result<Vec<ActionResult>, DeskError> {
    Ok(state.desk()?.unlock(&devices).await)
}

#[tauri::command]
async fn control(state: State<'_, AppState>, device: Option<String>) -> Result<(), DeskError> {
    Ok(state.desk()?.control(device).await?)
}

#[tauri::command]
async fn control_input(
    state: State<'_, AppState>,
    device: String,
    inputs: Vec<ControlInput>,
) -> Result<Vec<DeskError>, DeskError> {
    Ok(state.desk()?.control_input(&device, &inputs).await?)
}

#[tauri::command]
async fn read_clipboard(state: State<'_, AppState>, device: String) -> Result<String, DeskError> {
    Ok(state.desk()?.read_clipboard(&device).await?)
}

#[tauri::command]
async fn power(
    state: State<'_, AppState>,
    devices: Vec<String>,
    action: String,
    delay_seconds: u32,
) -> Result<Vec<ActionResult>, DeskError> {
    Ok(state
        .desk()?
        .power(&devices, &action, delay_seconds)
        .await?)
}

#[tauri::command]
async fn broadcast(
    state: State<'_, AppState>,
    request: BroadcastRequest,
) -> Result<BroadcastState, DeskError> {
    Ok(state.desk()?.broadcast(request).await?)
}

#[tauri::command]
async fn stop_broadcast(state: State<'_, AppState>) -> Result<Option<BroadcastState>, DeskError> {
    Ok(state.desk()?.stop_broadcast().await)
}

#[tauri::command]
async fn broadcast_state(state: State<'_, AppState>) -> Result<Option<BroadcastState>, DeskError> {
    Ok(state.desk()?.broadcast_state().await)
}

#[tauri::command]
async fn teacher_screen(state: State<'_, AppState>) -> Result<TeacherScreen, DeskError> {
    Ok(state.desk()?.teacher_screen().await?)
}

#[tauri::command]
async fn teacher_screen_preview(state: State<'_, AppState>) -> Result<Response, DeskError> {
    Ok(Response::new(state.desk()?.teacher_screen_preview().await?))
}

#[tauri::command]
fn home_folder(state: State<'_, AppState>, path: String) -> Result<HomeFolder, DeskError> {
    Ok(state.desk()?.home_folder(&path)?)
}

/// Hands a transfer's news to the page until the transfer is over.
fn transfer_news(progress: Channel<TransferEvent>) -> mpsc::UnboundedSender<TransferEvent> {
    let (events, mut news) = mpsc::unbounded_channel();
    tauri::async_runtime::spawn(async move {
        while let Some(event) = news.recv().await {
            if progress.send(event).is_err() {
                break;
            }
        }
    });
    events
}

#[tauri::command]
async fn send_files(
    state: State<'_, AppState>,
    devices: Vec<String>,
    paths: Vec<String>,
    overwrite: bool,
    open: bool,
    progress: Channel<TransferEvent>,
) -> Result<Vec<DeviceTransfer>, DeskError> {
    let options = SendOptions { overwrite, open };
    let events = transfer_news(progress);
    Ok(state
        .desk()?
        .send_files(&devices, &paths, options, events)
        .await?)
}

#[tauri::command]
async fn collect_files(
    state: State<'_, AppState>,
    devices: Vec<String>,
    pattern: Option<String>,
    progress: Channel<TransferEvent>,
) -> Result<Vec<DeviceTransfer>, DeskError> {
    let events = transfer_news(progress);
    Ok(state
        .desk()?
        .collect_files(&devices, pattern, events)
        .await?)
}

#[tauri::command]
fn gallery(state: State<'_, AppState>) -> Result<Vec<SavedShot>, DeskError> {
    Ok(state.desk()?.gallery())
}

#[tauri::command]
fn gallery_image(state: State<'_, AppState>, path: String) -> Result<Response, DeskError> {
    Ok(Response::new(state.desk()?.gallery_image(&path)?))
}

#[tauri::command]
fn favourites(state: State<'_, AppState>) -> Result<Favourites, DeskError> {
    Ok(state.desk()?.favourites()?)
}

#[tauri::command]
fn save_favourites(state: State<'_, AppState>, favourites: Favourites) -> Result<(), DeskError> {
    Ok(state.desk()?.save_favourites(&favourites)?)
}
