//! The fds a caller hands to the container after stdio: systemd socket activation's
//! LISTEN_FDS, then --preserve-fds N. As runc 1.5 does ("unable to stat preserved-fd"), each
//! must be open: one the caller did not have is an error, never a /dev/null stand-in. The
//! check runs first thing in `main`, before the runtime opens anything (a --log file) that
//! could take a free fd in that range and leak into the container.

/// systemd's LISTEN_FDS, counted only where LISTEN_PID names this process (sd_listen_fds(3)).
pub fn listen_fds() -> u32 {
    let ours = std::env::var("LISTEN_PID").ok() == Some(std::process::id().to_string());
    std::env::var("LISTEN_FDS")
        .ok()
        .filter(|_| ours)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Fail unless fds 3 .. 3+listen+preserve are all open.
pub fn check(listen: u32, preserve: u32) -> Result<(), String> {
    for i in 0..listen + preserve {
        let fd = 3 + i as i32;
        if crate::sys::fd_is_open(fd) {
            continue;
        }
        return Err(if i < listen {
            format!("LISTEN_FDS={listen}: fd {fd} is not open")
        } else {
            format!(
                "--preserve-fds {preserve}: fd {fd} (preserved fd {} of {preserve}) is not open",
                i - listen
            )
        });
    }
    Ok(())
}
