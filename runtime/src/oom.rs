//! OOM notifications of a container's memory cgroup, as an fd to poll (no polling of files):
//! v1, an eventfd registered on memory.oom_control through cgroup.event_control (the kernel
//! signals it on every OOM in the cgroup, and when the cgroup is removed); v2, inotify on
//! memory.events, whose oom_kill count goes up on each OOM kill (runc's two mechanisms).

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub enum Oom {
    V1 {
        efd: OwnedFd,
        /// The cgroup directory: gone means the eventfd fired for its removal.
        dir: PathBuf,
        /// Held open: the registration lives as long as this file and the eventfd.
        _ctl: File,
    },
    V2 {
        inotify: OwnedFd,
        events: PathBuf,
        kills: u64,
    },
}

/// What a wake-up of the fd meant.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// This many OOM events happened.
    Oom(u64),
    /// The cgroup is gone: no more events will come.
    Gone,
}

fn last_os_error(what: String) -> std::io::Error {
    let e = std::io::Error::last_os_error();
    std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Watch the v1 memory cgroup directory `dir`.
pub fn watch_v1(dir: &Path) -> std::io::Result<Oom> {
    let ctl = File::open(dir.join("memory.oom_control"))?;
    // SAFETY: eventfd has no memory arguments; a non-negative result is a new fd we own.
    let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if raw < 0 {
        return Err(last_os_error("eventfd".into()));
    }
    // SAFETY: `raw` was just returned by eventfd and is owned by nothing else.
    let efd = unsafe { OwnedFd::from_raw_fd(raw) };
    std::fs::write(
        dir.join("cgroup.event_control"),
        format!("{} {}", efd.as_raw_fd(), ctl.as_raw_fd()),
    )?;
    Ok(Oom::V1 {
        efd,
        dir: dir.to_path_buf(),
        _ctl: ctl,
    })
}

fn oom_kills(events: &Path) -> Option<u64> {
    std::fs::read_to_string(events)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
}

/// Watch the v2 cgroup directory `dir`.
pub fn watch_v2(dir: &Path) -> std::io::Result<Oom> {
    use std::os::unix::ffi::OsStrExt;
    let events = dir.join("memory.events");
    // SAFETY: inotify_init1 has no memory arguments; a non-negative result is a new fd.
    let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if raw < 0 {
        return Err(last_os_error("inotify_init1".into()));
    }
    // SAFETY: `raw` was just returned by inotify_init1 and is owned by nothing else.
    let inotify = unsafe { OwnedFd::from_raw_fd(raw) };
    let path = std::ffi::CString::new(events.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `path` is a NUL-terminated string alive for the call; the fd is ours.
    let wd =
        unsafe { libc::inotify_add_watch(inotify.as_raw_fd(), path.as_ptr(), libc::IN_MODIFY) };
    if wd < 0 {
        return Err(last_os_error(format!("inotify on {}", events.display())));
    }
    // Read after the watch exists, so no kill between the two is missed.
    let kills = oom_kills(&events).unwrap_or(0);
    Ok(Oom::V2 {
        inotify,
        events,
        kills,
    })
}

impl Oom {
    /// The fd that becomes readable on an event.
    pub fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Oom::V1 { efd, .. } => efd.as_fd(),
            Oom::V2 { inotify, .. } => inotify.as_fd(),
        }
    }

    /// After the fd polled readable: consume it and say what happened.
    pub fn read(&mut self) -> std::io::Result<Event> {
        match self {
            Oom::V1 { efd, dir, .. } => {
                let mut buf = [0u8; 8];
                File::from(efd.try_clone()?).read_exact(&mut buf)?;
                if !dir.join("memory.oom_control").exists() {
                    return Ok(Event::Gone);
                }
                Ok(Event::Oom(u64::from_ne_bytes(buf)))
            }
            Oom::V2 {
                inotify,
                events,
                kills,
            } => {
                // Drain the queued inotify events (non-blocking fd); only the count matters.
                let mut buf = [0u8; 4096];
                let mut f = File::from(inotify.try_clone()?);
                while matches!(f.read(&mut buf), Ok(n) if n > 0) {}
                let Some(now) = oom_kills(events) else {
                    return Ok(Event::Gone);
                };
                let new = now.saturating_sub(*kills);
                *kills = now;
                Ok(Event::Oom(new))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: BorrowedFd) -> bool {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd for the call; timeout 0 never blocks.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    /// The v2 watch on a memory.events file: a rise of oom_kill wakes the fd and counts once,
    /// other changes count nothing, and the file gone ends the watch.
    #[test]
    fn v2_counts_oom_kills() {
        let dir = std::env::temp_dir().join(format!("gantry-oom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let events = dir.join("memory.events");
        std::fs::write(&events, "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n").unwrap();
        let mut w = watch_v2(&dir).unwrap();
        assert!(!readable(w.fd()));
        std::fs::write(&events, "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n").unwrap();
        assert!(readable(w.fd()));
        assert_eq!(w.read().unwrap(), Event::Oom(1));
        assert!(!readable(w.fd()));
        std::fs::write(&events, "low 0\nhigh 1\nmax 3\noom 2\noom_kill 2\n").unwrap();
        assert_eq!(w.read().unwrap(), Event::Oom(0));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(w.read().unwrap(), Event::Gone);
    }
}
