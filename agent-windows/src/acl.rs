//! Directories only SYSTEM and Administrators may enter: the agent's key,
//! audit log and configuration under ProgramData.

use std::io;
use std::path::Path;
use std::ptr;

use windows_sys::Win32::Foundation::ERROR_SUCCESS;
use windows_sys::Win32::Security::Authorization::{
    GetNamedSecurityInfoW, SE_FILE_OBJECT, SetNamedSecurityInfoW,
};
use windows_sys::Win32::Security::{
    ACL, DACL_SECURITY_INFORMATION, GetSecurityDescriptorDacl, GetSecurityDescriptorOwner,
    OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION, PSID,
};

use crate::security::SecurityDescriptor;
use crate::wide::wide;

/// Owned by Administrators; full control for SYSTEM and Administrators,
/// inherited by everything inside, nothing inherited from above
/// (protected), nobody else. The owner matters: a student who created the
/// folder first would otherwise keep the right to change its access list.
pub const SYSTEM_AND_ADMINISTRATORS: &str = "O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";

/// Replaces the owner and the access list of `path` (and so of what is
/// inside) with `sddl`'s.
pub fn restrict(path: &Path, sddl: &str) -> io::Result<()> {
    let descriptor = SecurityDescriptor::from_sddl(sddl)?;
    let mut present = 0i32;
    let mut defaulted = 0i32;
    let mut dacl: *mut ACL = ptr::null_mut();
    // SAFETY: a valid descriptor and out pointers; the ACL points into it.
    let ok =
        unsafe { GetSecurityDescriptorDacl(descriptor.0, &mut present, &mut dacl, &mut defaulted) };
    if ok == 0 || present == 0 {
        return Err(io::Error::other(format!("'{sddl}' has no access list")));
    }
    let mut owner: PSID = ptr::null_mut();
    // SAFETY: a valid descriptor and out pointers; the SID points into it.
    let ok = unsafe { GetSecurityDescriptorOwner(descriptor.0, &mut owner, &mut defaulted) };
    if ok == 0 || owner.is_null() {
        return Err(io::Error::other(format!("'{sddl}' has no owner")));
    }
    let name = wide(path);
    // SAFETY: NUL-terminated path; owner and ACL live in `descriptor` until after the call.
    let status = unsafe {
        SetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION
                | DACL_SECURITY_INFORMATION
                | PROTECTED_DACL_SECURITY_INFORMATION,
            owner,
            ptr::null_mut(),
            dacl,
            ptr::null(),
        )
    };
    if status != ERROR_SUCCESS {
        return Err(io::Error::from_raw_os_error(status as i32));
    }
    Ok(())
}

/// The owner and access list of `path` as SDDL (for checks and the log).
pub fn describe(path: &Path) -> io::Result<String> {
    let name = wide(path);
    let mut descriptor = ptr::null_mut();
    // SAFETY: NUL-terminated path and out pointers; the descriptor is freed below.
    let status = unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            &mut descriptor,
        )
    };
    if status != ERROR_SUCCESS {
        return Err(io::Error::from_raw_os_error(status as i32));
    }
    SecurityDescriptor(descriptor).to_sddl()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The access list is what it says: SDDL to a descriptor and back is the
    /// same list (SYSTEM and Administrators, protected, nobody else).
    #[test]
    fn the_access_list_names_only_system_and_administrators() {
        let descriptor = SecurityDescriptor::from_sddl(SYSTEM_AND_ADMINISTRATORS).unwrap();
        let sddl = descriptor.to_sddl().unwrap();
        assert_eq!(sddl, SYSTEM_AND_ADMINISTRATORS);
    }

    /// Setting it on a directory succeeds. Whether Windows then keeps others
    /// out only real Windows shows (Wine does not store file access lists;
    /// docs/windows-checklist.md).
    #[test]
    fn a_directory_can_be_restricted() {
        let dir = std::env::temp_dir().join(format!("pult-acl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let result = restrict(&dir, SYSTEM_AND_ADMINISTRATORS);
        let described = describe(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        result.unwrap();
        // Owner and list are read back (Wine makes them up from the Unix
        // permissions rather than storing what was set).
        let described = described.unwrap();
        assert!(
            described.starts_with("O:") && described.contains("D:"),
            "{described}"
        );
        assert!(restrict(&dir, SYSTEM_AND_ADMINISTRATORS).is_err(), "gone");
    }
}
