//! Serving port 53 without root. Two ways, as NSD and Knot offer them:
//! start as root and drop to `server.user` once every listener is bound
//! (`drop_after_bind`), or start as the service user with
//! CAP_NET_BIND_SERVICE (systemd's `AmbientCapabilities`, see
//! `contrib/systemd/zonesync.service`). Staying root is refused unless the
//! operator says so (`serve --allow-root`): a parser bug should never run
//! with root's rights by accident.
//!
//! glibc's `setuid`/`setgid` change every thread of the process, so the
//! runtime's threads, started before the drop, lose root too.

use std::ffi::{CStr, CString};
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error(
        "refusing to run as root: set server.user to drop to once the listeners are bound, \
         run as a service user with CAP_NET_BIND_SERVICE (contrib/systemd/zonesync.service), \
         or pass --allow-root"
    )]
    Root,
    #[error("server.user: no user {0:?} on this system")]
    NoUser(String),
    #[error("server.group: no group {0:?} on this system")]
    NoGroup(String),
    #[error("server.user: running as uid {uid}, which cannot switch to {user:?}; start as root or as that user")]
    NotRoot { uid: u32, user: String },
    #[error("{call}: {source}")]
    Sys {
        call: &'static str,
        source: io::Error,
    },
    #[error("root could be regained after dropping to {0:?}")]
    Regained(String),
}

/// Who the process runs as after `drop_after_bind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunsAs {
    /// Dropped from root to this user and group.
    Dropped { uid: u32, gid: u32 },
    /// Already the configured user, or no user configured and not root.
    Unchanged { uid: u32 },
    /// Root, as `--allow-root` allows.
    Root,
}

/// Called once the listeners are bound and before anything is written:
/// drops to `user` (and `group`, default the user's) when root, refuses
/// root without `user` unless `allow_root`.
pub fn drop_after_bind(
    user: Option<&str>,
    group: Option<&str>,
    allow_root: bool,
) -> Result<RunsAs, PrivilegeError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let Some(user) = user else {
        return match (euid, allow_root) {
            (0, false) => Err(PrivilegeError::Root),
            (0, true) => Ok(RunsAs::Root),
            (uid, _) => Ok(RunsAs::Unchanged { uid }),
        };
    };
    let (uid, user_gid) = lookup_user(user)?;
    if euid != 0 {
        // A service manager may start us as the user already.
        return if euid == uid {
            Ok(RunsAs::Unchanged { uid })
        } else {
            Err(PrivilegeError::NotRoot {
                uid: euid,
                user: user.to_owned(),
            })
        };
    }
    let gid = match group {
        Some(g) => lookup_group(g)?,
        None => user_gid,
    };
    become_user(uid, gid)?;
    // SAFETY: setuid with a valid uid; it must fail now that we are not root.
    if uid != 0 && unsafe { libc::setuid(0) } == 0 {
        return Err(PrivilegeError::Regained(user.to_owned()));
    }
    Ok(RunsAs::Dropped { uid, gid })
}

/// Supplementary groups, then the group, then the user: the order in
/// which each call is still allowed.
fn become_user(uid: u32, gid: u32) -> Result<(), PrivilegeError> {
    let sys = |call| PrivilegeError::Sys {
        call,
        source: io::Error::last_os_error(),
    };
    let groups = [gid];
    // SAFETY: `groups` outlives the call and holds `len` entries.
    if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } != 0 {
        return Err(sys("setgroups"));
    }
    // SAFETY: plain system calls on integers.
    if unsafe { libc::setgid(gid) } != 0 {
        return Err(sys("setgid"));
    }
    // SAFETY: as above.
    if unsafe { libc::setuid(uid) } != 0 {
        return Err(sys("setuid"));
    }
    Ok(())
}

/// (uid, primary gid) of a user name, or of a number.
fn lookup_user(name: &str) -> Result<(u32, u32), PrivilegeError> {
    let missing = || PrivilegeError::NoUser(name.to_owned());
    let c_name = CString::new(name).map_err(|_| missing())?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: a zeroed passwd is a valid out-parameter for getpwnam_r.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` is as long as
    // said, and the strings written into it are not kept past it.
    let rc = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return name
            .parse::<u32>()
            .map(|uid| (uid, uid))
            .map_err(|_| missing());
    }
    Ok((pwd.pw_uid, pwd.pw_gid))
}

fn lookup_group(name: &str) -> Result<u32, PrivilegeError> {
    let missing = || PrivilegeError::NoGroup(name.to_owned());
    let c_name = CString::new(name).map_err(|_| missing())?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: a zeroed group is a valid out-parameter for getgrnam_r.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: as in `lookup_user`.
    let rc = unsafe {
        libc::getgrnam_r(
            c_name.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return name.parse::<u32>().map_err(|_| missing());
    }
    Ok(grp.gr_gid)
}

/// The name of the user the process runs as, for the log.
pub fn user_name(uid: u32) -> String {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: as in `lookup_user`.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: as in `lookup_user`.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
        return uid.to_string();
    }
    // SAFETY: getpwuid_r succeeded: pw_name points at a C string in `buf`.
    unsafe { CStr::from_ptr(pwd.pw_name) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_groups_are_found_by_name_or_number() {
        assert_eq!(lookup_user("root").unwrap(), (0, 0));
        assert_eq!(lookup_user("4242").unwrap(), (4242, 4242));
        assert!(matches!(
            lookup_user("no-such-user-zonesync"),
            Err(PrivilegeError::NoUser(_))
        ));
        assert_eq!(lookup_group("root").unwrap(), 0);
        assert!(matches!(
            lookup_group("no-such-group-zonesync"),
            Err(PrivilegeError::NoGroup(_))
        ));
        assert_eq!(user_name(0), "root");
    }

    #[test]
    fn root_without_a_user_is_refused_unless_allowed() {
        // SAFETY: no preconditions.
        let euid = unsafe { libc::geteuid() };
        if euid == 0 {
            assert!(matches!(
                drop_after_bind(None, None, false),
                Err(PrivilegeError::Root)
            ));
            assert_eq!(drop_after_bind(None, None, true).unwrap(), RunsAs::Root);
        } else {
            assert_eq!(
                drop_after_bind(None, None, false).unwrap(),
                RunsAs::Unchanged { uid: euid }
            );
            assert!(matches!(
                drop_after_bind(Some("root"), None, false),
                Err(PrivilegeError::NotRoot { .. })
            ));
        }
    }
}
