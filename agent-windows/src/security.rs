//! Security descriptors written and read as SDDL.

use std::io;
use std::ptr;

use windows_sys::Win32::Foundation::LocalFree;
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{DACL_SECURITY_INFORMATION, OWNER_SECURITY_INFORMATION};

use crate::wide::{from_wide, wide};

/// A security descriptor made from SDDL, freed on drop.
pub(crate) struct SecurityDescriptor(pub(crate) *mut std::ffi::c_void);

impl SecurityDescriptor {
    pub(crate) fn from_sddl(sddl: &str) -> io::Result<Self> {
        let text = wide(sddl);
        let mut descriptor = ptr::null_mut();
        // SAFETY: NUL-terminated string, valid out pointer; the result is freed in Drop.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                text.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(descriptor))
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW, freed once.
        unsafe { LocalFree(self.0) };
    }
}

impl SecurityDescriptor {
    /// Its owner and access list as SDDL.
    pub(crate) fn to_sddl(&self) -> io::Result<String> {
        let mut text = ptr::null_mut();
        let mut length = 0u32;
        // SAFETY: a valid descriptor and out pointers; the string is freed below.
        let ok = unsafe {
            ConvertSecurityDescriptorToStringSecurityDescriptorW(
                self.0,
                SDDL_REVISION_1,
                OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                &mut text,
                &mut length,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the system wrote `length` UTF-16 units at `text`.
        let sddl = from_wide(unsafe { std::slice::from_raw_parts(text, length as usize) });
        // SAFETY: allocated by the conversion above, freed once.
        unsafe { LocalFree(text.cast()) };
        Ok(sddl)
    }
}
