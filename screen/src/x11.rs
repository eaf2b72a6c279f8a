//! X11 capture through xcb: the whole desktop (the root window) or one RandR
//! monitor, over one connection kept open between captures.
//!
//! Used on Linux X11 sessions instead of xcap's X11 path, which captures only
//! monitors that have an output (so neither virtual RandR monitors nor the
//! desktop as a whole) and connects anew for every picture.

use xcb::{Xid, damage, randr, x, xfixes};

use crate::{CaptureError, Frame, MonitorInfo, ScreenArea};

/// A connection to an X display for capturing.
pub(crate) struct X11Capture {
    connection: xcb::Connection,
    root: x::Window,
    /// The DAMAGE object on the root window, if the server has the extension.
    damage: Option<damage::Damage>,
    /// Grows with every change DAMAGE reports.
    changes: u64,
}

impl X11Capture {
    /// Connects to `display`, or the one named by `DISPLAY`.
    pub(crate) fn connect(display: Option<&str>) -> Result<Self, CaptureError> {
        let (connection, screen) = xcb::Connection::connect_with_extensions(
            display,
            &[xcb::Extension::RandR],
            &[xcb::Extension::Damage, xcb::Extension::XFixes],
        )
        .map_err(|e| CaptureError::NoDisplay(format!("cannot connect to the X display: {e}")))?;
        let root = connection
            .get_setup()
            .roots()
            .nth(usize::try_from(screen).unwrap_or(0))
            .map(|s| s.root())
            .ok_or_else(|| CaptureError::NoDisplay("the X display has no screen".into()))?;
        let damage = watch_damage(&connection, root);
        Ok(Self {
            connection,
            root,
            damage,
            changes: 0,
        })
    }

    /// A number that grows whenever something on the screen changed, from the
    /// DAMAGE extension; `None` without it. A still screen needs no capture.
    pub(crate) fn change_counter(&mut self) -> Option<u64> {
        let damage = self.damage?;
        let mut changed = false;
        while let Ok(Some(event)) = self.connection.poll_for_event() {
            changed |= matches!(event, xcb::Event::Damage(damage::Event::Notify(_)));
        }
        if changed {
            self.changes += 1;
            // Empty the damage so that the next change is reported again.
            self.connection.send_request(&damage::Subtract {
                damage,
                repair: xfixes::Region::none(),
                parts: xfixes::Region::none(),
            });
            let _ = self.connection.flush();
        }
        Some(self.changes)
    }

    /// The RandR monitors, left to right, top to bottom.
    pub(crate) fn monitors(&self) -> Result<Vec<MonitorInfo>, CaptureError> {
        let cookie = self.connection.send_request(&randr::GetMonitors {
            window: self.root,
            get_active: true,
        });
        let reply = self.connection.wait_for_reply(cookie).map_err(failed)?;
        let mut monitors: Vec<MonitorInfo> = reply
            .monitors()
            .map(|m| MonitorInfo {
                x: i32::from(m.x()),
                y: i32::from(m.y()),
                width: u32::from(m.width()),
                height: u32::from(m.height()),
                primary: m.primary(),
            })
            .filter(|m| m.width > 0 && m.height > 0)
            .collect();
        monitors.sort_by_key(|m| (m.x, m.y));
        if monitors.is_empty() {
            let (width, height) = self.root_size()?;
            monitors.push(MonitorInfo {
                x: 0,
                y: 0,
                width,
                height,
                primary: true,
            });
        }
        Ok(monitors)
    }

    /// Captures `area`.
    pub(crate) fn capture(&mut self, area: ScreenArea) -> Result<Frame, CaptureError> {
        let (x, y, width, height) = match area {
            ScreenArea::Desktop => {
                let (width, height) = self.root_size()?;
                (0, 0, width, height)
            }
            ScreenArea::Monitor(index) => {
                let monitors = self.monitors()?;
                let monitor = monitors
                    .get(index as usize)
                    .ok_or(CaptureError::NoSuchMonitor {
                        index,
                        count: monitors.len(),
                    })?;
                (monitor.x, monitor.y, monitor.width, monitor.height)
            }
        };
        self.get_image(x, y, width, height)
    }

    fn root_size(&self) -> Result<(u32, u32), CaptureError> {
        let cookie = self.connection.send_request(&x::GetGeometry {
            drawable: x::Drawable::Window(self.root),
        });
        let reply = self.connection.wait_for_reply(cookie).map_err(failed)?;
        Ok((u32::from(reply.width()), u32::from(reply.height())))
    }

    fn get_image(&self, x: i32, y: i32, width: u32, height: u32) -> Result<Frame, CaptureError> {
        let too_large = || {
            CaptureError::Failed(format!(
                "a {width}x{height} area at {x},{y} is beyond X11's limits"
            ))
        };
        let cookie = self.connection.send_request(&x::GetImage {
            format: x::ImageFormat::ZPixmap,
            drawable: x::Drawable::Window(self.root),
            x: i16::try_from(x).map_err(|_| too_large())?,
            y: i16::try_from(y).map_err(|_| too_large())?,
            width: u16::try_from(width).map_err(|_| too_large())?,
            height: u16::try_from(height).map_err(|_| too_large())?,
            plane_mask: u32::MAX,
        });
        let reply = self.connection.wait_for_reply(cookie).map_err(failed)?;
        let setup = self.connection.get_setup();
        let bits_per_pixel = setup
            .pixmap_formats()
            .iter()
            .find(|f| f.depth() == reply.depth())
            .map(|f| f.bits_per_pixel())
            .ok_or_else(|| {
                CaptureError::Failed(format!("no pixel format for depth {}", reply.depth()))
            })?;
        let little_endian = setup.image_byte_order() == x::ImageOrder::LsbFirst;
        let pixels = to_rgba(
            reply.data(),
            width,
            height,
            reply.depth(),
            bits_per_pixel,
            little_endian,
        )?;
        Frame::new(width, height, pixels).map_err(|e| CaptureError::Failed(e.to_string()))
    }
}

/// Starts DAMAGE reporting on the root window: one event each time the screen
/// goes from unchanged to changed. `None` if the server lacks the extension.
fn watch_damage(connection: &xcb::Connection, root: x::Window) -> Option<damage::Damage> {
    let active = connection.active_extensions().collect::<Vec<_>>();
    if !active.contains(&xcb::Extension::Damage) || !active.contains(&xcb::Extension::XFixes) {
        return None;
    }
    // Both extensions must be told the client's version before first use.
    let fixes = connection.send_request(&xfixes::QueryVersion {
        client_major_version: 5,
        client_minor_version: 0,
    });
    connection.wait_for_reply(fixes).ok()?;
    let version = connection.send_request(&damage::QueryVersion {
        client_major_version: 1,
        client_minor_version: 1,
    });
    connection.wait_for_reply(version).ok()?;
    let damage: damage::Damage = connection.generate_id();
    let created = connection.send_request_checked(&damage::Create {
        damage,
        drawable: x::Drawable::Window(root),
        level: damage::ReportLevel::NonEmpty,
    });
    connection.check_request(created).ok()?;
    Some(damage)
}

/// Converts a ZPixmap image to RGBA.
fn to_rgba(
    data: &[u8],
    width: u32,
    height: u32,
    depth: u8,
    bits_per_pixel: u8,
    little_endian: bool,
) -> Result<Vec<u8>, CaptureError> {
    let pixels = width as usize * height as usize;
    let mut rgba = vec![255u8; pixels * 4];
    match (depth, bits_per_pixel) {
        (24 | 32, 32) => {
            // Rows of 32-bit pixels are already 4-byte aligned: no padding.
            let source = data.get(..pixels * 4).ok_or_else(short)?;
            for (to, from) in rgba.chunks_exact_mut(4).zip(source.chunks_exact(4)) {
                let (r, g, b) = if little_endian {
                    (from[2], from[1], from[0])
                } else {
                    (from[1], from[2], from[3])
                };
                to[..3].copy_from_slice(&[r, g, b]);
            }
        }
        (16, 16) => {
            // Rows are padded to 32 bits.
            let row_bytes = (width as usize * 2).div_ceil(4) * 4;
            for row in 0..height as usize {
                let line = data
                    .get(row * row_bytes..row * row_bytes + width as usize * 2)
                    .ok_or_else(short)?;
                for (column, value) in line.chunks_exact(2).enumerate() {
                    let v = if little_endian {
                        u16::from_le_bytes([value[0], value[1]])
                    } else {
                        u16::from_be_bytes([value[0], value[1]])
                    };
                    let at = (row * width as usize + column) * 4;
                    let (r, g, b) = ((v >> 11) & 0x1f, (v >> 5) & 0x3f, v & 0x1f);
                    rgba[at..at + 3].copy_from_slice(&[
                        (r << 3 | r >> 2) as u8,
                        (g << 2 | g >> 4) as u8,
                        (b << 3 | b >> 2) as u8,
                    ]);
                }
            }
        }
        _ => {
            return Err(CaptureError::Failed(format!(
                "unsupported X11 pixel format: depth {depth}, {bits_per_pixel} bits per pixel"
            )));
        }
    }
    Ok(rgba)
}

fn short() -> CaptureError {
    CaptureError::Failed("the X server sent fewer pixels than asked for".into())
}

fn failed(error: impl std::fmt::Display) -> CaptureError {
    CaptureError::Failed(format!("X11: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_formats_convert_to_rgba() {
        let bgrx = [3, 2, 1, 0, 30, 20, 10, 0];
        assert_eq!(
            to_rgba(&bgrx, 2, 1, 24, 32, true).unwrap(),
            [1, 2, 3, 255, 10, 20, 30, 255]
        );
        // 16-bit: pure red and pure blue, with the row padded to four bytes.
        let rgb565 = [0x00, 0xf8, 0x1f, 0x00];
        assert_eq!(
            to_rgba(&rgb565, 2, 1, 16, 16, true).unwrap(),
            [255, 0, 0, 255, 0, 0, 255, 255]
        );
        assert!(to_rgba(&bgrx[..4], 2, 1, 24, 32, true).is_err());
        assert!(to_rgba(&bgrx, 2, 1, 8, 8, true).is_err());
    }
}
