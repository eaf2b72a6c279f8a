//! How the student is told on Windows (R1): a bar across the top of every
//! monitor that the helper draws itself (topmost, click-through, never
//! focused, shown again if hidden), and an icon in the notification area
//! with the same text as its tooltip and a balloon when it starts.
//!
//! The same thread keeps the lock screen (R20): a topmost window over every
//! monitor with who locked it and their words, keyboard and mouse blocked
//! with `BlockInput` (which Wine does not implement), the notice bars above it.
//!
//! The teacher's broadcast (R7, [`crate::broadcast`]) has its windows on
//! the same thread, under the lock and the bars.
//!
//! The windows live on a thread of their own with a message loop; [`Notice`]
//! sends it what to show and waits until the windows are on screen.

use std::cell::RefCell;
use std::io;
use std::mem;
use std::ptr;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use pult_screen::Frame;
use pult_screen::codec::TileRect;
use windows_sys::Win32::Foundation::{HWND, LPARAM, LRESULT, RECT, WPARAM};
use windows_sys::Win32::Graphics::Gdi::{
    BeginPaint, CreateFontW, CreateSolidBrush, DT_CALCRECT, DT_CENTER, DT_END_ELLIPSIS,
    DT_SINGLELINE, DT_VCENTER, DT_WORDBREAK, DeleteObject, DrawTextW, EndPaint,
    EnumDisplayMonitors, FillRect, HDC, HFONT, HMONITOR, InvalidateRect, PAINTSTRUCT, SelectObject,
    SetBkMode, SetTextColor,
};
use windows_sys::Win32::System::LibraryLoader::GetModuleHandleW;
use windows_sys::Win32::System::Threading::GetCurrentThreadId;
use windows_sys::Win32::UI::Input::KeyboardAndMouse::BlockInput;
use windows_sys::Win32::UI::Shell::{
    NIF_ICON, NIF_INFO, NIF_TIP, NIIF_INFO, NIM_ADD, NIM_DELETE, NIM_MODIFY, NOTIFYICONDATAW,
    Shell_NotifyIconW,
};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    CreateWindowExW, DefWindowProcW, DestroyWindow, DispatchMessageW, GetClientRect, GetMessageW,
    HWND_TOPMOST, IDI_INFORMATION, IsWindowVisible, LWA_ALPHA, LoadIconW, MSG, PostThreadMessageW,
    RegisterClassExW, SW_SHOW, SW_SHOWNOACTIVATE, SWP_NOACTIVATE, SWP_NOMOVE, SWP_NOSIZE,
    SetForegroundWindow, SetLayeredWindowAttributes, SetTimer, SetWindowPos, ShowWindow,
    TranslateMessage, WM_APP, WM_CLOSE, WM_PAINT, WM_QUIT, WM_SIZE, WM_TIMER, WNDCLASSEXW,
    WS_EX_LAYERED, WS_EX_NOACTIVATE, WS_EX_TOOLWINDOW, WS_EX_TOPMOST, WS_EX_TRANSPARENT, WS_POPUP,
};

use crate::broadcast::{BroadcastShape, Picture, Showing, Shown};
use crate::wide::{fill, wide};

/// The bars' window title: what tests look for (as the Linux bar's X name).
pub const BAR_TITLE: &str = "pult-notice";
/// The lock windows' title (as the Linux lock's X name).
pub const LOCK_TITLE: &str = "pult-lock";
const CLASS: &str = "PultNoticeBar";
const BAR_HEIGHT: i32 = 30;
/// How often the bars check they are still visible and on top.
const GUARD_MILLIS: u32 = 1000;
/// How long [`Notice::show`] waits for the window thread.
const ANSWER_TIME: Duration = Duration::from_secs(2);

/// What the window thread is asked to do.
enum Request {
    Show {
        /// The bar's text; `None` takes bars and icon away.
        text: Option<String>,
        /// A balloon to pop up now, if any.
        balloon: Option<String>,
        done: mpsc::Sender<Result<(), String>>,
    },
    Lock {
        /// What the lock screen says; `None` lifts the lock.
        text: Option<LockText>,
        done: mpsc::Sender<Result<Locked, String>>,
    },
    Broadcast {
        /// How to show the broadcast; `None` ends it.
        shape: Option<BroadcastShape>,
        done: mpsc::Sender<Result<Shown, String>>,
    },
    /// Paint this part of the broadcast's picture, which has changed.
    Paint {
        changed: TileRect,
        done: mpsc::Sender<Result<(), String>>,
    },
}

/// What a lock screen says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockText {
    /// Who locked it: "Gesperrt von mueller (Raum 101)".
    pub heading: String,
    /// Their words, if any.
    pub message: Option<String>,
}

/// How a lock came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Locked {
    /// Whether keyboard and mouse are blocked (`BlockInput`); not under
    /// Wine, and not for a moment after the student pressed Ctrl+Alt+Del
    /// (the guard blocks them again within a second).
    pub input_blocked: bool,
}

/// The notice's windows, run by a thread of their own.
#[derive(Debug)]
pub struct Notice {
    thread: u32,
    requests: mpsc::Sender<Request>,
    /// The broadcast's picture, shared with the window thread.
    picture: Arc<Mutex<Picture>>,
}

impl Notice {
    /// Starts the window thread; `title` heads the balloon and the tooltip.
    pub fn start(title: &str) -> io::Result<Self> {
        let (requests, incoming) = mpsc::channel();
        let (ready, started) = mpsc::channel();
        let title = title.to_owned();
        let picture = Arc::new(Mutex::new(Picture::default()));
        let painted = picture.clone();
        std::thread::Builder::new()
            .name("notice-windows".into())
            .spawn(move || window_thread(title, painted, incoming, ready))?;
        let thread = started
            .recv_timeout(ANSWER_TIME)
            .map_err(|_| io::Error::other("the notice's window thread did not start"))??;
        Ok(Self {
            thread,
            requests,
            picture,
        })
    }

    /// Sends the window thread `request` and waits for its answer.
    fn ask<T>(
        &self,
        request: impl FnOnce(mpsc::Sender<Result<T, String>>) -> Request,
        late: &str,
    ) -> Result<T, String> {
        let (done, answer) = mpsc::channel();
        self.requests
            .send(request(done))
            .map_err(|_| "the notice's window thread has ended".to_owned())?;
        // SAFETY: posting a message to a thread id; harmless if the thread is gone.
        unsafe { PostThreadMessageW(self.thread, WM_APP, 0, 0) };
        answer
            .recv_timeout(ANSWER_TIME)
            .map_err(|_| late.to_owned())?
    }

    /// Shows `text` on every monitor (and in the icon's tooltip), with a
    /// balloon saying `balloon`; `None` takes everything away. Returns once
    /// the bars are visible, or why not.
    pub fn show(&self, text: Option<&str>, balloon: Option<&str>) -> Result<(), String> {
        let (text, balloon) = (text.map(str::to_owned), balloon.map(str::to_owned));
        self.ask(
            |done| Request::Show {
                text,
                balloon,
                done,
            },
            "the notice's windows did not answer in time",
        )
    }

    /// Covers every monitor with a lock window saying `text` and blocks
    /// keyboard and mouse, or lifts the lock (`None`). Returns once the
    /// windows are visible (or gone).
    pub fn lock(&self, text: Option<LockText>) -> Result<Locked, String> {
        self.ask(
            |done| Request::Lock { text, done },
            "the lock screen did not answer in time",
        )
    }

    /// Shows a broadcast as `shape` asks (R7), starting from a black
    /// picture, or ends it (`None`). Returns once the windows are visible
    /// (or gone).
    pub fn broadcast(&self, shape: Option<BroadcastShape>) -> Result<Shown, String> {
        self.picture
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.ask(
            |done| Request::Broadcast { shape, done },
            "the broadcast's windows did not answer in time",
        )
    }

    /// Puts the broadcast's next picture on the screen, of which `changed`
    /// differs from the one before; returns once it is painted.
    pub fn broadcast_picture(&self, picture: &Frame, changed: TileRect) -> Result<(), String> {
        let changed = self
            .picture
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(picture, changed);
        self.ask(
            |done| Request::Paint { changed, done },
            "the broadcast's windows did not answer in time",
        )
    }
}

impl Drop for Notice {
    /// Ends the window thread: its windows go with it, and with them a
    /// block on keyboard and mouse.
    fn drop(&mut self) {
        // SAFETY: posting a message to a thread id; harmless if the thread is gone.
        unsafe { PostThreadMessageW(self.thread, WM_QUIT, 0, 0) };
    }
}

/// The window thread's state; only that thread touches it.
struct Windows {
    text: Vec<u16>,
    bars: Vec<HWND>,
    /// The monitors (left, top, right, bottom) the bars were made for.
    areas: Vec<(i32, i32, i32, i32)>,
    /// A hidden window: the guard timer's, and the icon's owner.
    owner: HWND,
    /// The icon's thread: the shell may take its time with the icon (Wine
    /// waits seconds for a tray), and the bars must never wait for it.
    icon: mpsc::Sender<Option<(String, Option<String>)>>,
    font: HFONT,
    /// The lock windows, one per monitor, while locked.
    locks: Vec<HWND>,
    lock_text: Option<LockText>,
    /// The monitors the lock windows were made for.
    lock_areas: Vec<(i32, i32, i32, i32)>,
    heading_font: HFONT,
    message_font: HFONT,
    /// The broadcast's windows, while one is shown.
    broadcast: Option<Showing>,
    /// Its picture, shared with [`Notice`].
    picture: Arc<Mutex<Picture>>,
}

thread_local! {
    static STATE: RefCell<Option<Windows>> = const { RefCell::new(None) };
}

fn window_thread(
    title: String,
    picture: Arc<Mutex<Picture>>,
    incoming: mpsc::Receiver<Request>,
    ready: mpsc::Sender<io::Result<u32>>,
) {
    if let Err(error) = register_class() {
        let _ = ready.send(Err(error));
        return;
    }
    let owner = create_window("pult-notice-icon", 0, 0, 0, 0, 0, WS_POPUP);
    let font_of = |height: i32, weight: i32| {
        let face = wide("Segoe UI");
        // SAFETY: creates a font from plain values and a NUL-terminated face name.
        unsafe {
            CreateFontW(
                height,
                0,
                0,
                0,
                weight,
                0,
                0,
                0,
                1,
                0,
                0,
                5,
                0,
                face.as_ptr(),
            )
        }
    };
    let font = font_of(-17, 700);
    let heading_font = font_of(-40, 700);
    let message_font = font_of(-26, 400);
    let (icon, icon_updates) = mpsc::channel();
    let icon_owner = owner as usize;
    let icon_title = title.clone();
    if let Err(error) = std::thread::Builder::new()
        .name("notice-icon".into())
        .spawn(move || icon_thread(icon_title, icon_owner, icon_updates))
    {
        let _ = ready.send(Err(error));
        return;
    }
    STATE.with(|state| {
        *state.borrow_mut() = Some(Windows {
            text: Vec::new(),
            bars: Vec::new(),
            areas: Vec::new(),
            owner,
            icon,
            font,
            locks: Vec::new(),
            lock_text: None,
            lock_areas: Vec::new(),
            heading_font,
            message_font,
            broadcast: None,
            picture,
        });
    });
    // SAFETY: no arguments; the id of this thread, which runs the message loop below.
    let thread = unsafe { GetCurrentThreadId() };
    let _ = ready.send(Ok(thread));
    // SAFETY: plain data, filled by GetMessageW.
    let mut message: MSG = unsafe { mem::zeroed() };
    loop {
        // SAFETY: valid out pointer; messages for any window of this thread.
        let got = unsafe { GetMessageW(&mut message, ptr::null_mut(), 0, 0) };
        if got <= 0 {
            break;
        }
        if message.hwnd.is_null() && message.message == WM_APP {
            while let Ok(request) = incoming.try_recv() {
                handle(request);
            }
            continue;
        }
        // SAFETY: a message GetMessageW returned.
        unsafe { TranslateMessage(&message) };
        // SAFETY: as above.
        unsafe { DispatchMessageW(&message) };
    }
}

fn handle(request: Request) {
    let (text, balloon, done) = match request {
        Request::Show {
            text,
            balloon,
            done,
        } => (text, balloon, done),
        Request::Lock { text, done } => {
            let _ = done.send(with_windows(|windows| windows.lock(text)));
            return;
        }
        Request::Broadcast { shape, done } => {
            let shown = with_windows(|windows| {
                let shown = windows.broadcast(shape)?;
                Ok((shown, windows.broadcast.as_ref().map(Showing::painter)))
            });
            // Painted before the answer, with the state not borrowed.
            let _ = done.send(shown.map(|(shown, painter)| {
                if let Some(painter) = painter {
                    painter.paint_all();
                }
                shown
            }));
            return;
        }
        Request::Paint { changed, done } => {
            // Painted with the state not borrowed: WM_PAINT comes at once.
            let painter = with_windows(|windows| {
                let showing = windows.broadcast.as_ref().ok_or("no broadcast is shown")?;
                Ok(showing.painter())
            });
            let _ = done.send(painter.map(|painter| painter.show_change(changed)));
            return;
        }
    };
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        let Some(windows) = state.as_mut() else {
            let _ = done.send(Err("the notice's windows are gone".to_owned()));
            return;
        };
        match text {
            Some(text) => {
                let _ = done.send(windows.show(&text));
                let _ = windows.icon.send(Some((text, balloon)));
            }
            None => {
                windows.hide();
                let _ = windows.icon.send(None);
                let _ = done.send(Ok(()));
            }
        }
    });
}

/// Runs `work` on the window thread's state.
fn with_windows<T>(work: impl FnOnce(&mut Windows) -> Result<T, String>) -> Result<T, String> {
    STATE.with(|state| match state.borrow_mut().as_mut() {
        Some(windows) => work(windows),
        None => Err("the notice's windows are gone".to_owned()),
    })
}

impl Windows {
    fn show(&mut self, text: &str) -> Result<(), String> {
        self.text = text.encode_utf16().collect();
        // A monitor added (a projector) or moved gets its bar too: made anew.
        let now = monitor_areas();
        if now != self.areas {
            self.hide();
        }
        if self.bars.is_empty() {
            let extended = WS_EX_TOPMOST
                | WS_EX_TOOLWINDOW
                | WS_EX_NOACTIVATE
                | WS_EX_LAYERED
                | WS_EX_TRANSPARENT;
            self.bars = one_per_monitor(BAR_TITLE, extended, WS_POPUP, |_| BAR_HEIGHT)
                .map_err(|error| format!("could not show the notice bar: {error}"))?;
            for &bar in &self.bars {
                // SAFETY: a window of this thread; 92 % opaque, so what is under it shows a little.
                unsafe { SetLayeredWindowAttributes(bar, 0, 235, LWA_ALPHA) };
            }
            // SAFETY: a timer on the hidden owner window of this thread.
            unsafe { SetTimer(self.owner, 1, GUARD_MILLIS, None) };
            self.areas = now;
        }
        for &bar in &self.bars {
            // SAFETY: a window of this thread; repaint with the new text.
            unsafe { InvalidateRect(bar, ptr::null(), 1) };
        }
        self.guard();
        if self.bars.iter().all(|&bar| {
            // SAFETY: a window of this thread.
            unsafe { IsWindowVisible(bar) != 0 }
        }) {
            Ok(())
        } else {
            Err("the notice bar is not visible".to_owned())
        }
    }

    /// Puts up (or takes down) the lock windows and blocks input.
    fn lock(&mut self, text: Option<LockText>) -> Result<Locked, String> {
        let Some(text) = text else {
            self.unlock();
            return Ok(Locked {
                input_blocked: false,
            });
        };
        let now = monitor_areas();
        if self.lock_text.as_ref() != Some(&text) || now != self.lock_areas {
            self.unlock();
        }
        self.lock_text = Some(text);
        if self.locks.is_empty() {
            match one_per_monitor(
                LOCK_TITLE,
                WS_EX_TOPMOST | WS_EX_TOOLWINDOW,
                WS_POPUP,
                |area| area.bottom - area.top,
            ) {
                Ok(windows) => self.locks = windows,
                Err(error) => {
                    self.lock_text = None;
                    return Err(format!("could not lock the screen: {error}"));
                }
            }
            self.lock_areas = now;
            // SAFETY: a timer on the hidden owner window of this thread.
            unsafe { SetTimer(self.owner, 1, GUARD_MILLIS, None) };
        }
        let input_blocked = self.guard_lock();
        if self.locks.iter().all(|&window| {
            // SAFETY: a window of this thread.
            unsafe { IsWindowVisible(window) != 0 }
        }) {
            Ok(Locked { input_blocked })
        } else {
            Err("the lock window is not visible".to_owned())
        }
    }

    /// Puts up the broadcast's windows as `shape` asks, or takes them down.
    fn broadcast(&mut self, shape: Option<BroadcastShape>) -> Result<Shown, String> {
        self.end_broadcast();
        let Some(shape) = shape else {
            return Ok(Shown {
                input_blocked: false,
            });
        };
        let showing = Showing::put(shape, self.picture.clone())
            .map_err(|error| format!("could not show the broadcast: {error}"))?;
        let input_blocked = showing.guard();
        let visible = showing.visible();
        self.broadcast = Some(showing);
        // A lock (which the agent ends a broadcast for) and the bars stay above.
        self.above_broadcast();
        // SAFETY: a timer on the hidden owner window of this thread.
        unsafe { SetTimer(self.owner, 1, GUARD_MILLIS, None) };
        if visible {
            Ok(Shown { input_blocked })
        } else {
            self.end_broadcast();
            Err("the broadcast's windows are not visible".to_owned())
        }
    }

    /// Takes the broadcast's windows down; keyboard and mouse stay blocked
    /// while the screen is locked.
    fn end_broadcast(&mut self) {
        if let Some(showing) = self.broadcast.take() {
            showing.end(!self.locks.is_empty());
        }
    }

    /// Puts the lock windows and the bars above the broadcast again.
    fn above_broadcast(&self) {
        if self.locks.is_empty() {
            self.guard();
        } else {
            self.guard_lock();
        }
    }

    /// Shows the lock windows on top (the bars above them), takes the
    /// foreground, blocks input; whether input is blocked.
    fn guard_lock(&self) -> bool {
        for &window in &self.locks {
            // SAFETY: a window of this thread.
            unsafe { ShowWindow(window, SW_SHOW) };
            // SAFETY: as above.
            unsafe { SetWindowPos(window, HWND_TOPMOST, 0, 0, 0, 0, SWP_NOMOVE | SWP_NOSIZE) };
        }
        if let Some(&first) = self.locks.first() {
            // Keys that get past BlockInput (or all of them, under Wine)
            // reach the lock, not the student's programs.
            // SAFETY: a window of this thread.
            unsafe { SetForegroundWindow(first) };
        }
        self.guard();
        // SAFETY: no arguments but the flag; blocks keyboard and mouse
        // until this thread unblocks them or ends.
        unsafe { BlockInput(1) != 0 }
    }

    fn unlock(&mut self) {
        if !self.locks.is_empty() {
            // SAFETY: ends the block this thread set, if any.
            unsafe { BlockInput(0) };
        }
        self.lock_text = None;
        self.lock_areas.clear();
        for window in self.locks.drain(..) {
            // SAFETY: a window of this thread, destroyed once.
            unsafe { DestroyWindow(window) };
        }
    }

    fn paint_lock(&self, window: HWND) {
        let Some(text) = &self.lock_text else {
            return;
        };
        // SAFETY: plain data, filled by BeginPaint.
        let mut paint: PAINTSTRUCT = unsafe { mem::zeroed() };
        // SAFETY: a window of this thread in WM_PAINT.
        let dc: HDC = unsafe { BeginPaint(window, &mut paint) };
        // SAFETY: plain data, filled by GetClientRect.
        let mut area: RECT = unsafe { mem::zeroed() };
        // SAFETY: a window of this thread and a RECT to fill.
        unsafe { GetClientRect(window, &mut area) };
        // SAFETY: a colour value (0x00BBGGRR: dark slate blue, as on Linux).
        let brush = unsafe { CreateSolidBrush(0x0033_2219) };
        // SAFETY: the paint DC and a brush we own.
        unsafe { FillRect(dc, &area, brush) };
        // SAFETY: the brush is ours, deleted once.
        unsafe { DeleteObject(brush) };
        // SAFETY: the paint DC; 1 = TRANSPARENT background for text.
        unsafe { SetBkMode(dc, 1) };
        let width = area.right - area.left;
        let column = RECT {
            left: area.left + width / 10,
            top: area.top + (area.bottom - area.top) * 2 / 5,
            right: area.right - width / 10,
            bottom: area.bottom,
        };
        let below = draw_block(dc, self.heading_font, 0x00FF_FFFF, &text.heading, column);
        if let Some(message) = &text.message {
            let column = RECT {
                top: below + 24,
                ..column
            };
            draw_block(dc, self.message_font, 0x00E9_DED8, message, column);
        }
        // SAFETY: ends the paint BeginPaint started.
        unsafe { EndPaint(window, &paint) };
    }

    /// Shows every bar and puts it on top again.
    fn guard(&self) {
        for &bar in &self.bars {
            // SAFETY: a window of this thread.
            unsafe { ShowWindow(bar, SW_SHOWNOACTIVATE) };
            // SAFETY: as above.
            unsafe {
                SetWindowPos(
                    bar,
                    HWND_TOPMOST,
                    0,
                    0,
                    0,
                    0,
                    SWP_NOMOVE | SWP_NOSIZE | SWP_NOACTIVATE,
                )
            };
        }
    }

    /// Every second while shown: bars and lock windows for the monitors
    /// there are now, on top, input blocked again while locked.
    fn refresh(&mut self) {
        if let Some(showing) = &self.broadcast {
            if showing.fits_monitors() {
                showing.guard();
            } else {
                // A monitor added or moved: the windows made anew; a failure
                // is tried again at the next tick.
                let shape = showing.shape().clone();
                let _ = self.broadcast(Some(shape));
            }
        }
        if let Some(text) = self.lock_text.clone() {
            if monitor_areas() == self.lock_areas {
                self.guard_lock();
            } else {
                // A failure is tried again at the next tick.
                let _ = self.lock(Some(text));
            }
        }
        if !self.bars.is_empty() && monitor_areas() != self.areas {
            let text = String::from_utf16_lossy(&self.text);
            // A failure is tried again at the next tick.
            let _ = self.show(&text);
        } else {
            self.guard();
        }
    }

    fn hide(&mut self) {
        self.areas.clear();
        for bar in self.bars.drain(..) {
            // SAFETY: a window of this thread, destroyed once.
            unsafe { DestroyWindow(bar) };
        }
    }

    fn paint(&self, bar: HWND) {
        // SAFETY: plain data, filled by BeginPaint.
        let mut paint: PAINTSTRUCT = unsafe { mem::zeroed() };
        // SAFETY: a window of this thread in WM_PAINT.
        let dc: HDC = unsafe { BeginPaint(bar, &mut paint) };
        // The whole bar, not only the part to repaint: the text is centred on it.
        let mut area = RECT {
            left: 0,
            top: 0,
            right: 0,
            bottom: BAR_HEIGHT,
        };
        // SAFETY: a window of this thread and a RECT to fill.
        unsafe { GetClientRect(bar, &mut area) };
        // SAFETY: a colour value (0x00BBGGRR: a deep red).
        let brush = unsafe { CreateSolidBrush(0x0020_20B0) };
        // SAFETY: the paint DC and a brush we own.
        unsafe { FillRect(dc, &area, brush) };
        // SAFETY: the brush is ours, deleted once.
        unsafe { DeleteObject(brush) };
        // SAFETY: the paint DC and our font.
        unsafe { SelectObject(dc, self.font) };
        // SAFETY: the paint DC; 1 = TRANSPARENT background for text.
        unsafe { SetBkMode(dc, 1) };
        // SAFETY: the paint DC; white.
        unsafe { SetTextColor(dc, 0x00FF_FFFF) };
        let mut whole = RECT {
            left: 0,
            top: 0,
            right: paint.rcPaint.right.max(area.right),
            bottom: BAR_HEIGHT,
        };
        // SAFETY: the paint DC, our UTF-16 text with its length, a rectangle.
        unsafe {
            DrawTextW(
                dc,
                self.text.as_ptr(),
                self.text.len() as i32,
                &mut whole,
                DT_CENTER | DT_VCENTER | DT_SINGLELINE | DT_END_ELLIPSIS,
            )
        };
        // SAFETY: ends the paint BeginPaint started.
        unsafe { EndPaint(bar, &paint) };
    }
}

/// Writes `text` word-wrapped and centred in `column` with `font` and
/// `colour` (0x00BBGGRR); returns the bottom of what was written.
fn draw_block(dc: HDC, font: HFONT, colour: u32, text: &str, column: RECT) -> i32 {
    let text: Vec<u16> = text.encode_utf16().collect();
    let length = i32::try_from(text.len()).unwrap_or(i32::MAX);
    // SAFETY: the paint DC and a font we own.
    unsafe { SelectObject(dc, font) };
    // SAFETY: the paint DC and a colour value.
    unsafe { SetTextColor(dc, colour) };
    let mut measured = column;
    // SAFETY: the paint DC, UTF-16 text with its length; DT_CALCRECT only measures.
    unsafe {
        DrawTextW(
            dc,
            text.as_ptr(),
            length,
            &mut measured,
            DT_CENTER | DT_WORDBREAK | DT_CALCRECT,
        )
    };
    let mut block = RECT {
        bottom: column.top + (measured.bottom - measured.top),
        ..column
    };
    // SAFETY: as above, now drawing.
    unsafe {
        DrawTextW(
            dc,
            text.as_ptr(),
            length,
            &mut block,
            DT_CENTER | DT_WORDBREAK,
        )
    };
    block.bottom
}

/// Keeps the notification-area icon as the newest update says; a shell
/// without a notification area (a kiosk) loses only the icon, never the bars.
fn icon_thread(
    title: String,
    owner: usize,
    updates: mpsc::Receiver<Option<(String, Option<String>)>>,
) {
    let mut shown = false;
    while let Ok(mut update) = updates.recv() {
        // Only the newest state matters, but keep a balloon asked for on the way.
        let mut balloon = update.as_ref().and_then(|(_, b)| b.clone());
        while let Ok(newer) = updates.try_recv() {
            balloon = newer.as_ref().and_then(|(_, b)| b.clone()).or(balloon);
            update = newer;
        }
        // SAFETY: plain data; all-zero is its empty value.
        let mut data: NOTIFYICONDATAW = unsafe { mem::zeroed() };
        data.cbSize = mem::size_of::<NOTIFYICONDATAW>() as u32;
        data.hWnd = owner as HWND;
        data.uID = 1;
        let Some((text, _)) = update else {
            if shown {
                // SAFETY: valid icon data naming our icon.
                unsafe { Shell_NotifyIconW(NIM_DELETE, &data) };
                shown = false;
            }
            continue;
        };
        data.uFlags = NIF_ICON | NIF_TIP;
        // SAFETY: a system icon, shared, not to be freed.
        data.hIcon = unsafe { LoadIconW(ptr::null_mut(), IDI_INFORMATION) };
        fill(&mut data.szTip, &format!("{title}: {text}"));
        if let Some(balloon) = balloon {
            data.uFlags |= NIF_INFO;
            data.dwInfoFlags = NIIF_INFO;
            fill(&mut data.szInfoTitle, &title);
            fill(&mut data.szInfo, &balloon);
        }
        let message = if shown { NIM_MODIFY } else { NIM_ADD };
        // SAFETY: valid icon data for our owner window.
        shown = unsafe { Shell_NotifyIconW(message, &data) } != 0 || shown;
    }
}

fn register_class() -> io::Result<()> {
    let class = wide(CLASS);
    // SAFETY: the module handle of this program, not to be freed.
    let instance = unsafe { GetModuleHandleW(ptr::null()) };
    // SAFETY: plain data; all-zero is its empty value.
    let mut description: WNDCLASSEXW = unsafe { mem::zeroed() };
    description.cbSize = mem::size_of::<WNDCLASSEXW>() as u32;
    description.lpfnWndProc = Some(window_procedure);
    description.hInstance = instance;
    description.lpszClassName = class.as_ptr();
    // SAFETY: a filled class description; the class name is copied by the system.
    if unsafe { RegisterClassExW(&description) } == 0 {
        let error = io::Error::last_os_error();
        // 1410: already registered by an earlier Notice in this process.
        if error.raw_os_error() != Some(1410) {
            return Err(error);
        }
    }
    Ok(())
}

pub(crate) fn create_window(
    title: &str,
    x: i32,
    y: i32,
    width: i32,
    height: i32,
    extended: u32,
    style: u32,
) -> HWND {
    let class = wide(CLASS);
    let title = wide(title);
    // SAFETY: the module handle of this program, not to be freed.
    let instance = unsafe { GetModuleHandleW(ptr::null()) };
    // SAFETY: a registered class, NUL-terminated names, no parent or menu.
    unsafe {
        CreateWindowExW(
            extended,
            class.as_ptr(),
            title.as_ptr(),
            style,
            x,
            y,
            width,
            height,
            ptr::null_mut(),
            ptr::null_mut(),
            instance,
            ptr::null(),
        )
    }
}

/// A window called `title` at the top of every monitor, `height(monitor)`
/// high and as wide as the monitor; all or none (a failure destroys those
/// made, so the next try makes them all anew).
pub(crate) fn one_per_monitor(
    title: &str,
    extended: u32,
    style: u32,
    height: impl Fn(&RECT) -> i32,
) -> Result<Vec<HWND>, String> {
    let mut windows = Vec::new();
    for area in monitors() {
        let window = create_window(
            title,
            area.left,
            area.top,
            area.right - area.left,
            height(&area),
            extended,
            style,
        );
        if window.is_null() {
            let error = io::Error::last_os_error();
            for window in windows {
                // SAFETY: a window of this thread made just now, destroyed once.
                unsafe { DestroyWindow(window) };
            }
            return Err(error.to_string());
        }
        windows.push(window);
    }
    if windows.is_empty() {
        return Err("there is no monitor".to_owned());
    }
    Ok(windows)
}

/// The monitors as (left, top, right, bottom) on the virtual screen.
pub fn monitor_areas() -> Vec<(i32, i32, i32, i32)> {
    monitors()
        .iter()
        .map(|r| (r.left, r.top, r.right, r.bottom))
        .collect()
}

fn monitors() -> Vec<RECT> {
    let mut found: Vec<RECT> = Vec::new();
    // SAFETY: the callback only pushes into `found`, which outlives the call.
    unsafe {
        EnumDisplayMonitors(
            ptr::null_mut(),
            ptr::null(),
            Some(add_monitor),
            (&raw mut found) as LPARAM,
        )
    };
    found
}

unsafe extern "system" fn add_monitor(_: HMONITOR, _: HDC, area: *mut RECT, found: LPARAM) -> i32 {
    // SAFETY: `found` is the Vec passed by `monitors`, alive during the enumeration.
    let found = unsafe { &mut *(found as *mut Vec<RECT>) };
    // SAFETY: the system passes a valid rectangle.
    if let Some(area) = unsafe { area.as_ref() } {
        found.push(*area);
    }
    1
}

unsafe extern "system" fn window_procedure(
    window: HWND,
    message: u32,
    wparam: WPARAM,
    lparam: LPARAM,
) -> LRESULT {
    match message {
        // try_borrow: a message that arrives while the state is being
        // changed (a window sent a message during creation) is skipped, not
        // a panic across the system's callback.
        WM_PAINT => {
            STATE.with(|state| {
                if let Ok(Some(windows)) = state.try_borrow().as_deref() {
                    if let Some(showing) = windows.broadcast.as_ref().filter(|s| s.owns(window)) {
                        showing.paint(window);
                    } else if windows.locks.contains(&window) {
                        windows.paint_lock(window);
                    } else {
                        windows.paint(window);
                    }
                }
            });
            0
        }
        WM_TIMER => {
            STATE.with(|state| {
                if let Ok(Some(windows)) = state.try_borrow_mut().as_deref_mut() {
                    windows.refresh();
                }
            });
            0
        }
        // A broadcast's window, resized, is painted anew, scaled to its size.
        WM_SIZE => {
            // SAFETY: a window of this thread; all of it to paint again.
            unsafe { InvalidateRect(window, ptr::null(), 0) };
            0
        }
        // The student cannot close a bar, a lock or a broadcast window.
        WM_CLOSE => 0,
        // SAFETY: the default handling for a message of this window.
        _ => unsafe { DefWindowProcW(window, message, wparam, lparam) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use windows_sys::Win32::UI::WindowsAndMessaging::FindWindowW;

    /// The tests look for windows by name, so one shows its windows at a time.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn bar_visible() -> bool {
        let class = wide(CLASS);
        let title = wide(BAR_TITLE);
        // SAFETY: NUL-terminated names.
        let bar = unsafe { FindWindowW(class.as_ptr(), title.as_ptr()) };
        // SAFETY: IsWindowVisible accepts any handle, null included.
        !bar.is_null() && unsafe { IsWindowVisible(bar) } != 0
    }

    #[test]
    fn the_bar_is_on_screen_while_shown_and_gone_after() {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let notice = Notice::start("Pult").unwrap();
        notice
            .show(
                Some("Die Lehrkraft sieht deinen Bildschirm"),
                Some("watched"),
            )
            .unwrap();
        assert!(bar_visible());
        notice.show(Some("Screenshot"), None).unwrap();
        assert!(bar_visible());
        notice.show(None, None).unwrap();
        assert!(!bar_visible());
    }

    fn lock_windows() -> usize {
        windows_titled(LOCK_TITLE).len()
    }

    #[test]
    fn r20_the_lock_covers_every_monitor_until_lifted() {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let notice = Notice::start("Pult").unwrap();
        let text = LockText {
            heading: "Gesperrt von mueller (Raum 101)".into(),
            message: Some("Augen nach vorn".into()),
        };
        let locked = notice.lock(Some(text.clone())).unwrap();
        assert_eq!(lock_windows(), monitors().len());
        assert!(lock_windows() >= 1);
        // Under Wine BlockInput is not implemented; on Windows it works as
        // the interactive user or SYSTEM in the session.
        println!("input blocked: {}", locked.input_blocked);
        // The same lock again changes nothing; the bars stay above it.
        notice
            .show(Some("Ihr Bildschirm ist gesperrt"), None)
            .unwrap();
        notice.lock(Some(text)).unwrap();
        assert!(bar_visible());
        notice.lock(None).unwrap();
        assert_eq!(lock_windows(), 0);
        notice.show(None, None).unwrap();
    }

    /// The colour on the screen at (x, y), as [red, green, blue].
    fn on_screen(x: i32, y: i32) -> [u8; 3] {
        use windows_sys::Win32::Graphics::Gdi::{GetDC, GetPixel, ReleaseDC};
        // SAFETY: the whole screen's DC, released below.
        let dc = unsafe { GetDC(ptr::null_mut()) };
        // SAFETY: a valid DC and a point.
        let colour = unsafe { GetPixel(dc, x, y) };
        // SAFETY: the DC got above, released once.
        unsafe { ReleaseDC(ptr::null_mut(), dc) };
        let [red, green, blue, _] = colour.to_le_bytes();
        [red, green, blue]
    }

    /// Whether (x, y) on the screen shows `colour` within 2 s: Wine hands
    /// a window's drawing to the X server a moment after it is painted.
    fn shows(x: i32, y: i32, colour: [u8; 4]) -> bool {
        let near = |a: [u8; 3]| (0..3).all(|c| a[c].abs_diff(colour[c]) <= 24);
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while !near(on_screen(x, y)) {
            if std::time::Instant::now() > deadline {
                println!("({x}, {y}) shows {:?}, not {colour:?}", on_screen(x, y));
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// The visible windows of ours titled `title`.
    fn windows_titled(title: &str) -> Vec<HWND> {
        let class = wide(CLASS);
        let title = wide(title);
        let mut found = Vec::new();
        let mut after = ptr::null_mut();
        loop {
            // SAFETY: NUL-terminated names; `after` is null or a window found before.
            after = unsafe {
                windows_sys::Win32::UI::WindowsAndMessaging::FindWindowExW(
                    ptr::null_mut(),
                    after,
                    class.as_ptr(),
                    title.as_ptr(),
                )
            };
            if after.is_null() {
                return found;
            }
            // SAFETY: IsWindowVisible accepts any handle.
            if unsafe { IsWindowVisible(after) } != 0 {
                found.push(after);
            }
        }
    }

    const ORANGE: [u8; 4] = [255, 128, 0, 255];
    const BLUE: [u8; 4] = [0, 64, 255, 255];

    #[test]
    fn r7_the_broadcast_covers_every_monitor_scaled_to_fit_under_the_bars() {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let notice = Notice::start("Pult").unwrap();
        let shape = BroadcastShape {
            full_screen: true,
            title: "Übertragung der Lehrkraft – mueller (Raum 101)".into(),
        };
        notice.broadcast(Some(shape)).unwrap();
        let areas = monitors();
        assert_eq!(
            windows_titled(crate::broadcast::BROADCAST_TITLE).len(),
            areas.len()
        );
        // Half the first monitor's size: scaled up to cover it.
        let area = areas[0];
        let (width, height) = (area.right - area.left, area.bottom - area.top);
        let (w, h) = ((width / 2) as u32, (height / 2) as u32);
        let mut picture = Frame::filled(w, h, ORANGE);
        let whole = TileRect {
            x: 0,
            y: 0,
            width: w,
            height: h,
        };
        notice.broadcast_picture(&picture, whole).unwrap();
        let (left, top) = (area.left, area.top);
        let quarter =
            |x: i32, y: i32, colour| shows(left + width * x / 4, top + height * y / 4, colour);
        assert!(quarter(1, 2, ORANGE));
        assert!(quarter(3, 2, ORANGE));
        // A change paints only what changed: the left half turns blue.
        picture.fill_rect(0, 0, i64::from(w / 2), i64::from(h), BLUE);
        let left_half = TileRect {
            width: w / 2,
            ..whole
        };
        notice.broadcast_picture(&picture, left_half).unwrap();
        assert!(quarter(1, 2, BLUE));
        assert!(quarter(3, 2, ORANGE));
        // The notice bar (R1) stays above the broadcast: deep red there.
        notice
            .show(Some("Übertragung der Lehrkraft"), None)
            .unwrap();
        assert!(shows(left + 4, top + 4, [0xB0, 0x20, 0x20, 255]), "red");
        // Ended: the windows go, and a new broadcast starts black.
        notice.broadcast(None).unwrap();
        assert!(windows_titled(crate::broadcast::BROADCAST_TITLE).is_empty());
        notice.show(None, None).unwrap();
        let shape = BroadcastShape {
            full_screen: true,
            title: String::new(),
        };
        notice.broadcast(Some(shape)).unwrap();
        assert!(quarter(3, 2, [0, 0, 0, 255]));
        notice.broadcast(None).unwrap();
    }

    #[test]
    fn r7_in_a_window_the_broadcast_is_moved_and_resized_but_not_closed() {
        use windows_sys::Win32::UI::WindowsAndMessaging::{IsWindow, SWP_NOZORDER, SendMessageW};
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let notice = Notice::start("Pult").unwrap();
        let title = "Teacher broadcast – mueller (room 101)";
        let shape = BroadcastShape {
            full_screen: false,
            title: title.into(),
        };
        notice.broadcast(Some(shape)).unwrap();
        let found = windows_titled(title);
        assert_eq!(found.len(), 1, "one window, titled with who broadcasts");
        let window = found[0];
        assert!(windows_titled(crate::broadcast::BROADCAST_TITLE).is_empty());
        // The student closes it: it stays.
        // SAFETY: a window of the notice's thread, which answers.
        unsafe { SendMessageW(window, WM_CLOSE, 0, 0) };
        // SAFETY: IsWindow accepts any handle.
        assert!(unsafe { IsWindow(window) } != 0, "closed by the student");
        // Moved and made smaller, it shows the picture scaled to its size.
        // SAFETY: a window handle and plain values.
        unsafe { SetWindowPos(window, ptr::null_mut(), 10, 40, 300, 260, SWP_NOZORDER) };
        let picture = Frame::filled(640, 360, ORANGE);
        let whole = TileRect {
            x: 0,
            y: 0,
            width: 640,
            height: 360,
        };
        notice.broadcast_picture(&picture, whole).unwrap();
        // SAFETY: plain data, filled by GetClientRect.
        let mut client: RECT = unsafe { mem::zeroed() };
        // SAFETY: a window and a RECT to fill.
        unsafe { GetClientRect(window, &mut client) };
        let mut middle = windows_sys::Win32::Foundation::POINT {
            x: client.right / 2,
            y: client.bottom / 2,
        };
        // SAFETY: a window and a point to convert.
        unsafe { windows_sys::Win32::Graphics::Gdi::ClientToScreen(window, &mut middle) };
        assert!(shows(middle.x, middle.y, ORANGE));
        // Letterboxed: black above the 16:9 picture in a taller window.
        assert!(
            shows(middle.x, middle.y - client.bottom / 2 + 2, [0, 0, 0, 255]),
            "a black bar above"
        );
        notice.broadcast(None).unwrap();
        // SAFETY: IsWindow accepts any handle.
        assert!(unsafe { IsWindow(window) } == 0, "gone with the broadcast");
    }
}
