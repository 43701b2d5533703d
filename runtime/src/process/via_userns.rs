//! A clone from inside another user namespace, as runc's nsexec does. Some namespaces can only
//! be created or entered with privileges held in a user namespace the runtime is not in: a
//! create that joins a user namespace by path, and a rootless exec into a container whose pid
//! namespace belongs to the container's user namespace (setns(CLONE_NEWPID) there is EPERM
//! from the runtime's own). The runtime must stay where it is (no setns back to an ancestor
//! user namespace exists), so an intermediate process joins the user namespace (then the pid
//! namespace, with that user namespace's privileges), clones the real child as the runtime's
//! own child (CLONE_PARENT), reports its pid and exits.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, RawFd};

use nix::sched::CloneFlags;

use crate::sys::{self, Forked};

/// Clone a child of the caller that lives in `user` (and, for its own pid, in `pid`), with the
/// new namespaces in `flags` created from there, born in the cgroup2 `cgroup` if given.
///
/// The child returns `Forked::Child`; the caller gets the child's pid (valid in the caller's
/// pid namespace, which the intermediate shares) and a pidfd for it.
///
/// # Safety
///
/// As `sys::clone3`: the caller must be single-threaded.
pub unsafe fn clone(
    flags: u64,
    user: &File,
    pid: Option<&File>,
    cgroup: Option<RawFd>,
) -> std::io::Result<Forked> {
    let (rd, wr) = nix::unistd::pipe()?;
    let (rd, wr) = (File::from(rd), File::from(wr));
    // SAFETY: the caller is single-threaded (this fn's contract).
    match unsafe { sys::clone3(0) }? {
        Forked::Child => {
            drop(rd);
            let cloned = nix::sched::setns(user.as_fd(), CloneFlags::CLONE_NEWUSER)
                .and_then(|_| match pid {
                    Some(p) => nix::sched::setns(p.as_fd(), CloneFlags::CLONE_NEWPID),
                    None => Ok(()),
                })
                .map_err(std::io::Error::from)
                // SAFETY: the intermediate child has only the thread that cloned it.
                .and_then(|_| unsafe {
                    sys::clone3_into(flags | libc::CLONE_PARENT as u64, cgroup)
                });
            let mut wr = wr;
            match cloned {
                Ok(Forked::Child) => Ok(Forked::Child), // the real child goes on
                Ok(Forked::Parent { pid, .. }) => {
                    let _ = wr.write_all(&pid.to_ne_bytes());
                    sys::exit_now(0)
                }
                Err(e) => {
                    let errno = e.raw_os_error().unwrap_or(libc::EINVAL);
                    let _ = wr.write_all(&(-errno).to_ne_bytes());
                    sys::exit_now(1)
                }
            }
        }
        Forked::Parent { pid: mid, .. } => {
            drop(wr);
            let mut buf = [0u8; 4];
            let got = (&rd).read_exact(&mut buf);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(mid), None);
            got?;
            let pid = i32::from_ne_bytes(buf);
            if pid < 0 {
                return Err(std::io::Error::from_raw_os_error(-pid));
            }
            // The child is ours (CLONE_PARENT) and not yet waited for: its pid cannot be reused.
            Ok(Forked::Parent {
                pid,
                pidfd: sys::pidfd_open(pid)?,
            })
        }
    }
}
