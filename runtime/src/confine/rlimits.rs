//! process.rlimits through setrlimit(2).

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use super::{ConfineError, Result};

fn resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

fn name(t: PosixRlimitType) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{t:?}"))
}

pub fn apply(limits: &[PosixRlimit]) -> Result<()> {
    for l in limits {
        if l.soft() > l.hard() {
            return Err(ConfineError::Msg(format!(
                "process.rlimits {}: soft limit {} is above hard limit {}",
                name(l.typ()),
                l.soft(),
                l.hard()
            )));
        }
        let r = libc::rlimit {
            rlim_cur: l.soft(),
            rlim_max: l.hard(),
        };
        // SAFETY: setrlimit with a valid resource and a pointer to a live rlimit.
        if unsafe { libc::setrlimit(resource(l.typ()), &r) } != 0 {
            let e = std::io::Error::last_os_error();
            let mut cur = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes into the live struct.
            unsafe { libc::getrlimit(resource(l.typ()), &mut cur) };
            return Err(ConfineError::Msg(format!(
                "process.rlimits {}: cannot set soft={} hard={} (host hard limit is {}): {e}",
                name(l.typ()),
                l.soft(),
                l.hard(),
                cur.rlim_max
            )));
        }
    }
    Ok(())
}
