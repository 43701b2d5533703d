//! process.capabilities, all five sets, with the caps crate.

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use super::{ConfineError, Result};

/// The capabilities this kernel knows, probed once per process (the caps crate's probe is a
/// PR_CAPBSET_READ per capability; it ran for every name of every set, ~400 prctl calls).
fn supported() -> &'static CapsHashSet {
    static SUPPORTED: std::sync::OnceLock<CapsHashSet> = std::sync::OnceLock::new();
    SUPPORTED.get_or_init(caps::runtime::thread_all_supported)
}

fn convert(set: &Option<Capabilities>) -> Result<CapsHashSet> {
    let mut out = CapsHashSet::new();
    for c in set.iter().flatten() {
        let name = c.to_string();
        let name = if name.starts_with("CAP_") {
            name
        } else {
            format!("CAP_{}", name.to_uppercase())
        };
        match Capability::from_str(&name) {
            Ok(cap) if supported().contains(&cap) => {
                out.insert(cap);
            }
            // A capability this kernel does not know cannot be granted: skip it, as runc does.
            Ok(_) => crate::logger::warn(&format!(
                "capability {name} is not supported by this kernel"
            )),
            Err(_) => return Err(ConfineError::Msg(format!("unknown capability {name}"))),
        }
    }
    Ok(out)
}

/// The sets, converted before anything changes so that a bad name fails early.
pub struct CapPlan {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

pub fn plan(c: Option<&LinuxCapabilities>) -> Result<CapPlan> {
    let none = LinuxCapabilities::default();
    let empty = |s: &Option<Capabilities>| s.clone().or_else(|| Some(Default::default()));
    let c = c.unwrap_or(&none);
    Ok(CapPlan {
        bounding: convert(&empty(c.bounding()))?,
        effective: convert(&empty(c.effective()))?,
        permitted: convert(&empty(c.permitted()))?,
        inheritable: convert(&empty(c.inheritable()))?,
        ambient: convert(&empty(c.ambient()))?,
    })
}

fn err(what: &str) -> impl FnOnce(caps::errors::CapsError) -> ConfineError + '_ {
    move |e| ConfineError::Msg(format!("capabilities: {what}: {e}"))
}

/// Drop from the bounding set what the config does not keep. Done while still privileged,
/// before the user switch.
pub fn drop_bounding(p: &CapPlan) -> Result<()> {
    // A PR_CAPBSET_READ per capability this kernel knows (caps::read probes every one the
    // crate names), then a drop of each one set and not kept.
    for &cap in supported() {
        let set = caps::has_cap(None, CapSet::Bounding, cap).map_err(err("read bounding"))?;
        if set && !p.bounding.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(err("drop bounding"))?;
        }
    }
    Ok(())
}

/// Set inheritable, permitted, effective and ambient, after the user switch (KEEPCAPS kept the
/// permitted set across it). With `keep_sys_admin`, CAP_SYS_ADMIN (if still permitted) stays
/// effective and permitted for a seccomp install without no_new_privs right before the exec;
/// the exec itself drops it: the new permitted set is built from bounding, inheritable and
/// ambient (root) or from ambient alone (other users), never from the old permitted set.
pub fn apply(p: &CapPlan, keep_sys_admin: bool) -> Result<()> {
    let mut effective = p.effective.clone();
    let mut permitted = p.permitted.clone();
    if keep_sys_admin
        && caps::has_cap(None, CapSet::Permitted, Capability::CAP_SYS_ADMIN)
            .map_err(err("read permitted"))?
    {
        effective.insert(Capability::CAP_SYS_ADMIN);
        permitted.insert(Capability::CAP_SYS_ADMIN);
    }
    // capset(2) checks effective <= permitted at every call, so narrow effective before
    // permitted; inheritable first, while CAP_SETPCAP may still be effective.
    caps::set(None, CapSet::Inheritable, &p.inheritable).map_err(err("set inheritable"))?;
    caps::set(None, CapSet::Effective, &effective).map_err(err("set effective"))?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(err("set permitted"))?;
    caps::clear(None, CapSet::Ambient).map_err(err("clear ambient"))?;
    for cap in &p.ambient {
        // Ambient needs the capability permitted and inheritable; runc skips the others.
        if p.permitted.contains(cap) && p.inheritable.contains(cap) {
            caps::raise(None, CapSet::Ambient, *cap).map_err(err("raise ambient"))?;
        }
    }
    Ok(())
}
