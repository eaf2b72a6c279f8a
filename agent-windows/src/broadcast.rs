//! The teacher's broadcast (R7) on a Windows desktop: over every monitor,
//! topmost, with keyboard and mouse blocked (the default), or in a window
//! the student can move and resize but not close. Either way the picture is
//! scaled to fit, up or down, and letterboxed in black.
//!
//! The windows belong to the notice's window thread ([`crate::notice`]), so
//! one guard keeps the order the student sees: the broadcast, above it a
//! lock screen, above everything the notice bars that say who broadcasts.
//! The picture itself is shared: the helper's thread copies what changed
//! into it, and the window thread paints from it.

use std::mem;
use std::ptr;
use std::sync::{Arc, Mutex};

use pult_screen::Frame;
use pult_screen::codec::TileRect;
use pult_screen::scale::letterbox;
use windows_sys::Win32::Foundation::{HWND, RECT};
use windows_sys::Win32::Graphics::Gdi::{
    BI_RGB, BITMAPINFO, BITMAPINFOHEADER, BeginPaint, COLORONCOLOR, CreateSolidBrush,
    DIB_RGB_COLORS, DeleteObject, EndPaint, FillRect, GdiFlush, HALFTONE, HDC, InvalidateRect,
    PAINTSTRUCT, SRCCOPY, SetBrushOrgEx, SetStretchBltMode, StretchDIBits, UpdateWindow,
};
use windows_sys::Win32::UI::Input::KeyboardAndMouse::BlockInput;
use windows_sys::Win32::UI::WindowsAndMessaging::{
    DestroyWindow, GetClientRect, GetSystemMetrics, HWND_TOPMOST, SM_CXSCREEN, SM_CYSCREEN,
    SW_SHOW, SWP_NOMOVE, SWP_NOSIZE, SetForegroundWindow, SetWindowPos, ShowWindow,
    WS_EX_TOOLWINDOW, WS_EX_TOPMOST, WS_OVERLAPPEDWINDOW, WS_POPUP,
};

use crate::notice::{create_window, monitor_areas, one_per_monitor};

/// The full-screen windows' title and the window's class name for tests
/// (as the Linux broadcast's X name).
pub const BROADCAST_TITLE: &str = "pult-broadcast";

/// How the student is shown a broadcast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BroadcastShape {
    /// Over every monitor with input blocked, or in a window.
    pub full_screen: bool,
    /// The window's title in window mode: who broadcasts.
    pub title: String,
}

/// How a broadcast came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shown {
    /// Whether keyboard and mouse are blocked (`BlockInput`): in full-screen
    /// mode, except under Wine, which does not implement it.
    pub input_blocked: bool,
}

/// The teacher's picture as the window thread paints it: BGRX rows, top
/// down, as a DIB wants them.
#[derive(Debug, Default)]
pub(crate) struct Picture {
    width: u32,
    height: u32,
    bgrx: Vec<u8>,
}

impl Picture {
    /// Takes in the part `changed` of `frame` (all of it when the size
    /// changed, or a new broadcast began); the part to paint again.
    pub(crate) fn take(&mut self, frame: &Frame, changed: TileRect) -> TileRect {
        let whole = TileRect {
            x: 0,
            y: 0,
            width: frame.width(),
            height: frame.height(),
        };
        let changed = if (self.width, self.height) == (frame.width(), frame.height())
            && changed.fits_in(frame.width(), frame.height())
        {
            changed
        } else {
            self.width = frame.width();
            self.height = frame.height();
            self.bgrx = vec![0; frame.pixels().len()];
            whole
        };
        let row = frame.width() as usize * 4;
        let (left, width) = (changed.x as usize * 4, changed.width as usize * 4);
        for y in changed.y..changed.y + changed.height {
            let start = y as usize * row + left;
            let from = &frame.pixels()[start..start + width];
            let to = &mut self.bgrx[start..start + width];
            for (to, from) in to.chunks_exact_mut(4).zip(from.chunks_exact(4)) {
                to.copy_from_slice(&[from[2], from[1], from[0], 0]);
            }
        }
        changed
    }

    /// Forgets the picture: the next broadcast starts black.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }
}

/// A broadcast's windows on the screen; only the window thread has one.
pub(crate) struct Showing {
    shape: BroadcastShape,
    windows: Vec<HWND>,
    /// The monitors the full-screen windows were made for.
    areas: Vec<(i32, i32, i32, i32)>,
    picture: Arc<Mutex<Picture>>,
}

impl Showing {
    /// Puts up the windows `shape` asks for, painting `picture`.
    pub(crate) fn put(shape: BroadcastShape, picture: Arc<Mutex<Picture>>) -> Result<Self, String> {
        let areas = monitor_areas();
        let windows = if shape.full_screen {
            one_per_monitor(
                BROADCAST_TITLE,
                WS_EX_TOPMOST | WS_EX_TOOLWINDOW,
                WS_POPUP,
                |area| area.bottom - area.top,
            )?
        } else {
            // SAFETY: no pointers; the primary monitor's size.
            let width = unsafe { GetSystemMetrics(SM_CXSCREEN) }.max(48);
            // SAFETY: as above.
            let height = unsafe { GetSystemMetrics(SM_CYSCREEN) }.max(48);
            let (w, h) = (width / 3 * 2, height / 3 * 2);
            let window = create_window(
                &shape.title,
                (width - w) / 2,
                (height - h) / 2,
                w,
                h,
                0,
                WS_OVERLAPPEDWINDOW,
            );
            if window.is_null() {
                return Err(std::io::Error::last_os_error().to_string());
            }
            vec![window]
        };
        Ok(Self {
            shape,
            windows,
            areas,
            picture,
        })
    }

    /// Whether `window` is one of this broadcast's.
    pub(crate) fn owns(&self, window: HWND) -> bool {
        self.windows.contains(&window)
    }

    /// The shape it was put up in.
    pub(crate) fn shape(&self) -> &BroadcastShape {
        &self.shape
    }

    /// Whether the monitors are still those the windows were made for.
    pub(crate) fn fits_monitors(&self) -> bool {
        !self.shape.full_screen || monitor_areas() == self.areas
    }

    /// Shows the windows; full screen, also on top with the foreground and
    /// input blocked. Whether input is blocked.
    pub(crate) fn guard(&self) -> bool {
        for &window in &self.windows {
            // SAFETY: a window of this thread.
            unsafe { ShowWindow(window, SW_SHOW) };
        }
        if !self.shape.full_screen {
            return false;
        }
        for &window in &self.windows {
            // SAFETY: a window of this thread.
            unsafe { SetWindowPos(window, HWND_TOPMOST, 0, 0, 0, 0, SWP_NOMOVE | SWP_NOSIZE) };
        }
        if let Some(&first) = self.windows.first() {
            // Keys that get past BlockInput (all of them under Wine) reach
            // the broadcast, not the student's programs.
            // SAFETY: a window of this thread.
            unsafe { SetForegroundWindow(first) };
        }
        // SAFETY: no arguments but the flag; blocks keyboard and mouse
        // until this thread unblocks them or ends.
        unsafe { BlockInput(1) != 0 }
    }

    /// Whether every window is visible.
    pub(crate) fn visible(&self) -> bool {
        self.windows.iter().all(|&window| {
            // SAFETY: a window of this thread.
            unsafe { windows_sys::Win32::UI::WindowsAndMessaging::IsWindowVisible(window) != 0 }
        })
    }

    /// What paints a change: taken out of the window thread's state, which
    /// is not borrowed while the windows paint.
    pub(crate) fn painter(&self) -> Painter {
        Painter {
            windows: self.windows.clone(),
            picture: self.picture.clone(),
        }
    }

    /// Paints `window` (in WM_PAINT): the picture letterboxed, black around it.
    pub(crate) fn paint(&self, window: HWND) {
        // SAFETY: plain data, filled by BeginPaint.
        let mut paint: PAINTSTRUCT = unsafe { mem::zeroed() };
        // SAFETY: a window of this thread in WM_PAINT.
        let dc: HDC = unsafe { BeginPaint(window, &mut paint) };
        let area = client_area(window);
        let picture = self.picture.lock().unwrap_or_else(|p| p.into_inner());
        let (left, top, width, height) = if picture.bgrx.is_empty() {
            (0, 0, 0, 0)
        } else {
            let (x, y, w, h) = letterbox(
                picture.width,
                picture.height,
                u32::try_from(area.right).unwrap_or(0),
                u32::try_from(area.bottom).unwrap_or(0),
            );
            let signed = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
            (signed(x), signed(y), signed(w), signed(h))
        };
        // SAFETY: a colour value: black.
        let black = unsafe { CreateSolidBrush(0) };
        let bars = [
            RECT {
                bottom: top,
                ..area
            },
            RECT {
                top: top + height,
                ..area
            },
            RECT {
                top,
                bottom: top + height,
                right: left,
                ..area
            },
            RECT {
                top,
                bottom: top + height,
                left: left + width,
                ..area
            },
        ];
        for bar in bars.iter().filter(|r| r.right > r.left && r.bottom > r.top) {
            // SAFETY: the paint DC and a brush we own.
            unsafe { FillRect(dc, bar, black) };
        }
        // SAFETY: the brush is ours, deleted once.
        unsafe { DeleteObject(black) };
        if width > 0 && height > 0 {
            let scaled = (width, height) != (picture.width as i32, picture.height as i32);
            // HALFTONE averages when scaling (text stays readable); an
            // unscaled picture is copied as it is.
            let mode = if scaled { HALFTONE } else { COLORONCOLOR };
            // SAFETY: the paint DC and a stretch mode constant.
            unsafe { SetStretchBltMode(dc, mode) };
            // SAFETY: the paint DC; HALFTONE needs the brush origin set again.
            unsafe { SetBrushOrgEx(dc, 0, 0, ptr::null_mut()) };
            // SAFETY: plain data; all-zero is its empty value.
            let mut info: BITMAPINFO = unsafe { mem::zeroed() };
            info.bmiHeader = BITMAPINFOHEADER {
                biSize: mem::size_of::<BITMAPINFOHEADER>() as u32,
                biWidth: picture.width as i32,
                // Negative: rows top down.
                biHeight: -(picture.height as i32),
                biPlanes: 1,
                biBitCount: 32,
                biCompression: BI_RGB,
                ..info.bmiHeader
            };
            // SAFETY: the paint DC; the pixels are width × height × 4 bytes
            // as the header says, alive for the call.
            unsafe {
                StretchDIBits(
                    dc,
                    left,
                    top,
                    width,
                    height,
                    0,
                    0,
                    picture.width as i32,
                    picture.height as i32,
                    picture.bgrx.as_ptr().cast(),
                    &info,
                    DIB_RGB_COLORS,
                    SRCCOPY,
                )
            };
        }
        drop(picture);
        // SAFETY: ends the paint BeginPaint started.
        unsafe { EndPaint(window, &paint) };
    }

    /// Takes the windows down and gives keyboard and mouse back, unless
    /// `locked`: a lock screen is up and keeps them blocked (the block is
    /// one per thread, and the lock's is the same as this one's).
    pub(crate) fn end(self, locked: bool) {
        if self.shape.full_screen && !locked {
            // SAFETY: ends the block this thread set, if any.
            unsafe { BlockInput(0) };
        }
        for window in self.windows {
            // SAFETY: a window of this thread, destroyed once.
            unsafe { DestroyWindow(window) };
        }
    }
}

/// Paints the broadcast's changes on its windows.
pub(crate) struct Painter {
    windows: Vec<HWND>,
    picture: Arc<Mutex<Picture>>,
}

impl Painter {
    /// Paints every window whole, now.
    pub(crate) fn paint_all(&self) {
        for &window in &self.windows {
            // SAFETY: a window of this thread; all of it to paint.
            unsafe { InvalidateRect(window, ptr::null(), 0) };
            // SAFETY: a window of this thread: paints it now, in this thread.
            unsafe { UpdateWindow(window) };
        }
        // SAFETY: no arguments; hands this thread's drawing to the system.
        unsafe { GdiFlush() };
    }

    /// Paints the part `changed` of the picture on every window again, and
    /// returns once it is painted.
    pub(crate) fn show_change(&self, changed: TileRect) {
        let (width, height) = {
            let picture = self.picture.lock().unwrap_or_else(|p| p.into_inner());
            (picture.width, picture.height)
        };
        for &window in &self.windows {
            let area = client_area(window);
            let (left, top, shown_width, shown_height) = letterbox(
                width,
                height,
                u32::try_from(area.right).unwrap_or(0),
                u32::try_from(area.bottom).unwrap_or(0),
            );
            // The changed part's place on the window, a pixel wider each way
            // for the filter's reach.
            let scale_x = f64::from(shown_width) / f64::from(width.max(1));
            let scale_y = f64::from(shown_height) / f64::from(height.max(1));
            let at =
                |offset: u32, value: u32, scale: f64| f64::from(offset) + f64::from(value) * scale;
            let dirty = RECT {
                left: at(left, changed.x, scale_x).floor() as i32 - 1,
                top: at(top, changed.y, scale_y).floor() as i32 - 1,
                right: at(left, changed.x + changed.width, scale_x).ceil() as i32 + 1,
                bottom: at(top, changed.y + changed.height, scale_y).ceil() as i32 + 1,
            };
            // SAFETY: a window of this thread and a rectangle on it.
            unsafe { InvalidateRect(window, &dirty, 0) };
            // SAFETY: a window of this thread: paints it now, in this thread.
            unsafe { UpdateWindow(window) };
        }
        // SAFETY: no arguments; hands this thread's drawing to the system.
        unsafe { GdiFlush() };
    }
}

/// The client area of `window`: (0, 0) to its size.
fn client_area(window: HWND) -> RECT {
    // SAFETY: plain data, filled by GetClientRect.
    let mut area: RECT = unsafe { mem::zeroed() };
    // SAFETY: a window of this thread and a RECT to fill.
    unsafe { GetClientRect(window, &mut area) };
    area
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_is_kept_as_bgrx_and_a_new_size_takes_it_whole() {
        let mut picture = Picture::default();
        let frame = Frame::filled(4, 2, [10, 20, 30, 255]);
        let part = TileRect {
            x: 1,
            y: 1,
            width: 2,
            height: 1,
        };
        // The first picture comes whole, whatever changed says.
        let whole = picture.take(&frame, part);
        assert_eq!((whole.width, whole.height), (4, 2));
        assert_eq!(&picture.bgrx[..4], &[30, 20, 10, 0]);
        // Then only the changed part is copied.
        let mut next = frame.clone();
        next.fill_rect(0, 0, 4, 2, [200, 100, 50, 255]);
        assert_eq!(picture.take(&next, part), part);
        fn pixel(picture: &Picture, x: usize, y: usize) -> &[u8] {
            &picture.bgrx[(y * 4 + x) * 4..(y * 4 + x) * 4 + 4]
        }
        assert_eq!(
            pixel(&picture, 0, 0),
            &[30, 20, 10, 0],
            "outside the part: as before"
        );
        assert_eq!(pixel(&picture, 1, 1), &[50, 100, 200, 0]);
        assert_eq!(pixel(&picture, 2, 1), &[50, 100, 200, 0]);
        assert_eq!(pixel(&picture, 3, 1), &[30, 20, 10, 0]);
        // A part outside the picture is no reason to read out of bounds.
        let outside = TileRect {
            x: 3,
            y: 0,
            width: 4,
            height: 1,
        };
        assert_eq!(picture.take(&next, outside).width, 4, "taken whole");
        assert_eq!(pixel(&picture, 0, 0), &[50, 100, 200, 0]);
    }
}
