//! The screen by DXGI desktop duplication: the picture the graphics card
//! composes, copied from video memory, without the GDI round trip through
//! every window. Windows 8 and later; not under Wine (E_NOTIMPL) and not on
//! some virtual machines, where the agent captures through GDI instead.
//!
//! One duplication per monitor of the first graphics adapter. A duplication
//! is lost when the desktop switches (the secure desktop of UAC or Ctrl+Alt+
//! Del, a mode change): [`Duplication::capture`] then fails, and the caller
//! opens a new one.

use std::io;

use windows::Win32::Foundation::HMODULE;
use windows::Win32::Graphics::Direct3D::D3D_DRIVER_TYPE_HARDWARE;
use windows::Win32::Graphics::Direct3D11::{
    D3D11_CPU_ACCESS_READ, D3D11_CREATE_DEVICE_BGRA_SUPPORT, D3D11_MAP_READ,
    D3D11_MAPPED_SUBRESOURCE, D3D11_SDK_VERSION, D3D11_TEXTURE2D_DESC, D3D11_USAGE_STAGING,
    D3D11CreateDevice, ID3D11Device, ID3D11DeviceContext, ID3D11Texture2D,
};
use windows::Win32::Graphics::Dxgi::Common::{
    DXGI_FORMAT_B8G8R8A8_UNORM, DXGI_MODE_ROTATION_IDENTITY, DXGI_MODE_ROTATION_UNSPECIFIED,
    DXGI_SAMPLE_DESC,
};
use windows::Win32::Graphics::Dxgi::{
    DXGI_ERROR_NOT_FOUND, DXGI_ERROR_WAIT_TIMEOUT, DXGI_OUTDUPL_FRAME_INFO, IDXGIDevice,
    IDXGIOutput1, IDXGIOutputDuplication, IDXGIResource,
};
use windows::core::Interface;

/// One monitor's picture: where it is on the desktop and its pixels, RGBA.
pub struct Picture {
    /// Left edge on the desktop.
    pub x: i32,
    /// Top edge on the desktop.
    pub y: i32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` RGBA pixels, row by row.
    pub rgba: Vec<u8>,
}

/// Desktop duplication of every monitor.
pub struct Duplication {
    context: ID3D11DeviceContext,
    outputs: Vec<Output>,
}

struct Output {
    duplication: IDXGIOutputDuplication,
    staging: ID3D11Texture2D,
    x: i32,
    y: i32,
    width: u32,
    height: u32,
    /// The last picture, for when nothing changed since.
    last: Option<Vec<u8>>,
}

fn failed(what: &str, error: &windows::core::Error) -> io::Error {
    io::Error::other(format!("{what}: {error}"))
}

impl Duplication {
    /// Opens a duplication of each monitor on the first graphics adapter.
    /// Fails where DXGI duplication is missing (Wine, some virtual machines,
    /// a session without a desktop) or a monitor is rotated (not handled
    /// here; GDI is).
    pub fn open() -> io::Result<Self> {
        let mut device: Option<ID3D11Device> = None;
        let mut context: Option<ID3D11DeviceContext> = None;
        // SAFETY: plain out-pointers to locals; no adapter (the default one).
        unsafe {
            D3D11CreateDevice(
                None,
                D3D_DRIVER_TYPE_HARDWARE,
                HMODULE::default(),
                D3D11_CREATE_DEVICE_BGRA_SUPPORT,
                None,
                D3D11_SDK_VERSION,
                Some(&mut device),
                None,
                Some(&mut context),
            )
        }
        .map_err(|e| failed("no Direct3D 11 device", &e))?;
        let (Some(device), Some(context)) = (device, context) else {
            return Err(io::Error::other("Direct3D 11 returned no device"));
        };
        let dxgi: IDXGIDevice = device.cast().map_err(|e| failed("no DXGI device", &e))?;
        // SAFETY: a valid DXGI device.
        let adapter =
            unsafe { dxgi.GetAdapter() }.map_err(|e| failed("no graphics adapter", &e))?;
        let mut outputs = Vec::new();
        for index in 0.. {
            // SAFETY: a valid adapter; past the last output it says DXGI_ERROR_NOT_FOUND.
            let output = match unsafe { adapter.EnumOutputs(index) } {
                Ok(output) => output,
                Err(error) if error.code() == DXGI_ERROR_NOT_FOUND => break,
                Err(error) => return Err(failed("cannot list the monitors", &error)),
            };
            // SAFETY: a valid output.
            let described =
                unsafe { output.GetDesc() }.map_err(|e| failed("cannot describe a monitor", &e))?;
            if !described.AttachedToDesktop.as_bool() {
                continue;
            }
            let output: IDXGIOutput1 = output
                .cast()
                .map_err(|e| failed("no desktop duplication (DXGI 1.2)", &e))?;
            // SAFETY: a valid output and the device made above.
            let duplication = unsafe { output.DuplicateOutput(&device) }
                .map_err(|e| failed("no desktop duplication", &e))?;
            // SAFETY: a valid duplication.
            let desc = unsafe { duplication.GetDesc() };
            if desc.Rotation != DXGI_MODE_ROTATION_IDENTITY
                && desc.Rotation != DXGI_MODE_ROTATION_UNSPECIFIED
            {
                return Err(io::Error::other("a monitor is rotated"));
            }
            let area = described.DesktopCoordinates;
            let (width, height) = (desc.ModeDesc.Width, desc.ModeDesc.Height);
            if width == 0 || height == 0 {
                continue;
            }
            let staging_desc = D3D11_TEXTURE2D_DESC {
                Width: width,
                Height: height,
                MipLevels: 1,
                ArraySize: 1,
                Format: DXGI_FORMAT_B8G8R8A8_UNORM,
                SampleDesc: DXGI_SAMPLE_DESC {
                    Count: 1,
                    Quality: 0,
                },
                Usage: D3D11_USAGE_STAGING,
                BindFlags: 0,
                CPUAccessFlags: D3D11_CPU_ACCESS_READ.0 as u32,
                MiscFlags: 0,
            };
            let mut staging: Option<ID3D11Texture2D> = None;
            // SAFETY: a description on the stack and an out-pointer to a local.
            unsafe { device.CreateTexture2D(&staging_desc, None, Some(&mut staging)) }
                .map_err(|e| failed("cannot make a copy texture", &e))?;
            let staging =
                staging.ok_or_else(|| io::Error::other("Direct3D returned no texture"))?;
            outputs.push(Output {
                duplication,
                staging,
                x: area.left,
                y: area.top,
                width,
                height,
                last: None,
            });
        }
        if outputs.is_empty() {
            return Err(io::Error::other("no monitor on the desktop"));
        }
        Ok(Self { context, outputs })
    }

    /// Each monitor's place on the desktop: x, y, width, height.
    pub fn monitors(&self) -> Vec<(i32, i32, u32, u32)> {
        self.outputs
            .iter()
            .map(|output| (output.x, output.y, output.width, output.height))
            .collect()
    }

    /// The picture of every monitor now. Fails when the duplication is lost
    /// (desktop switch, mode change); open a new one then.
    pub fn capture(&mut self) -> io::Result<Vec<Picture>> {
        let mut pictures = Vec::with_capacity(self.outputs.len());
        for output in &mut self.outputs {
            let rgba = output.next(&self.context)?;
            pictures.push(Picture {
                x: output.x,
                y: output.y,
                width: output.width,
                height: output.height,
                rgba,
            });
        }
        Ok(pictures)
    }
}

impl Output {
    /// The monitor's picture: a new frame if there is one, else the last.
    fn next(&mut self, context: &ID3D11DeviceContext) -> io::Result<Vec<u8>> {
        // The first frame may take a moment; later ones are there or not.
        let wait = if self.last.is_none() { 500 } else { 0 };
        let mut info = DXGI_OUTDUPL_FRAME_INFO::default();
        let mut resource: Option<IDXGIResource> = None;
        // SAFETY: out-pointers to locals; a frame acquired is released below.
        match unsafe {
            self.duplication
                .AcquireNextFrame(wait, &mut info, &mut resource)
        } {
            Ok(()) => {}
            Err(error) if error.code() == DXGI_ERROR_WAIT_TIMEOUT => {
                if let Some(last) = &self.last {
                    return Ok(last.clone());
                }
                return Err(io::Error::other("the first frame did not come"));
            }
            Err(error) => return Err(failed("the duplication is lost", &error)),
        }
        let copied = self.copy(context, resource);
        // SAFETY: a frame was acquired above; released once.
        let released = unsafe { self.duplication.ReleaseFrame() };
        let rgba = copied?;
        released.map_err(|e| failed("cannot release the frame", &e))?;
        self.last = Some(rgba.clone());
        Ok(rgba)
    }

    /// Copies the acquired frame to the staging texture and reads it.
    fn copy(
        &self,
        context: &ID3D11DeviceContext,
        resource: Option<IDXGIResource>,
    ) -> io::Result<Vec<u8>> {
        let texture: ID3D11Texture2D = resource
            .ok_or_else(|| io::Error::other("the frame has no picture"))?
            .cast()
            .map_err(|e| failed("the frame is no texture", &e))?;
        // SAFETY: two textures of the same size and format on the same device.
        unsafe { context.CopyResource(&self.staging, &texture) };
        let mut mapped = D3D11_MAPPED_SUBRESOURCE::default();
        // SAFETY: a staging texture made for CPU reads; unmapped below.
        unsafe { context.Map(&self.staging, 0, D3D11_MAP_READ, 0, Some(&mut mapped)) }
            .map_err(|e| failed("cannot read the copy", &e))?;
        let row = self.width as usize * 4;
        let pitch = mapped.RowPitch as usize;
        let height = self.height as usize;
        let mut rgba = Vec::with_capacity(row * height);
        if !mapped.pData.is_null() && pitch >= row {
            // SAFETY: Map gave `pitch` bytes per row for `height` rows at
            // pData, readable until Unmap below.
            let bytes = unsafe {
                std::slice::from_raw_parts(mapped.pData.cast::<u8>(), pitch * (height - 1) + row)
            };
            for line in 0..height {
                for bgra in bytes[line * pitch..line * pitch + row].chunks_exact(4) {
                    rgba.extend_from_slice(&[bgra[2], bgra[1], bgra[0], 255]);
                }
            }
        }
        // SAFETY: mapped above, unmapped once.
        unsafe { context.Unmap(&self.staging, 0) };
        if rgba.len() != row * height {
            return Err(io::Error::other("the copy could not be read"));
        }
        Ok(rgba)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under Wine (where the tests run) there is no desktop duplication:
    /// opening says so instead of failing later or crashing, which is what
    /// makes the agent fall back to GDI.
    #[test]
    fn where_duplication_is_missing_opening_fails_with_a_reason() {
        match Duplication::open() {
            Ok(mut duplication) => {
                // Real Windows with a graphics card: a picture of each monitor.
                let pictures = duplication.capture().unwrap();
                assert!(!pictures.is_empty());
                for picture in pictures {
                    assert_eq!(
                        picture.rgba.len(),
                        picture.width as usize * picture.height as usize * 4
                    );
                }
            }
            // Wine: Direct3D or the duplication is refused, and the error
            // names the step that failed.
            Err(error) => {
                let text = error.to_string();
                assert!(
                    [
                        "no Direct3D 11 device",
                        "no DXGI device",
                        "no graphics adapter",
                        "no desktop duplication",
                        "no monitor on the desktop",
                    ]
                    .iter()
                    .any(|step| text.starts_with(step)),
                    "{text}"
                );
            }
        }
    }
}
