//! `linux.personality`: the execution domain, for the init and for every exec'd process (as
//! runc's setns init applies it too), so `uname -m` agrees across a container.

use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain};

const PER_LINUX: libc::c_ulong = 0x0000;
const PER_LINUX32: libc::c_ulong = 0x0008;

pub fn apply(p: &LinuxPersonality) -> Result<(), String> {
    let dom = match p.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    };
    // SAFETY: personality takes an integer persona and touches no memory of ours.
    if unsafe { libc::personality(dom) } == -1 {
        return Err(format!(
            "linux.personality: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}
