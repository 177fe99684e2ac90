//! Dropping root once the capture is open (`--user`): supplementary groups, then group, then
//! user, in that order (after setuid the others are no longer allowed), and a check that root
//! cannot be regained.

use std::ffi::CString;

/// Switches the process to `user` and its primary group.
#[allow(unsafe_code)]
pub fn drop_to(user: &str) -> Result<(), String> {
    let name = CString::new(user).map_err(|_| format!("--user \"{user}\": not a user name"))?;
    // SAFETY: getpwnam returns a pointer into static storage or null; it is read at once, on the
    // only thread that looks up users.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return Err(format!("--user \"{user}\": no such user"));
    }
    // SAFETY: `entry` is non-null and points to a valid passwd record (see above).
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    let fail = |what: &str| {
        format!(
            "--user \"{user}\": {what} failed: {}",
            std::io::Error::last_os_error()
        )
    };
    // SAFETY: plain system calls with valid arguments (an empty group list).
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return Err(fail("setgroups"));
        }
        if libc::setgid(gid) != 0 {
            return Err(fail("setgid"));
        }
        if libc::setuid(uid) != 0 {
            return Err(fail("setuid"));
        }
        if uid != 0 && libc::setuid(0) == 0 {
            return Err(format!(
                "--user \"{user}\": root could be regained; refusing to run"
            ));
        }
    }
    Ok(())
}
