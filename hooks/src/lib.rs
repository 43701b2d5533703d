//! OCI hooks: running them per the runtime-spec, and helpers for hook authors.
//! (Temporary minimal runner until the full crate lands.)
pub use oci_spec::runtime::Hook;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookKind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

#[derive(Debug)]
pub struct HookError(pub String);
impl std::fmt::Display for HookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for HookError {}

pub fn run_hooks(kind: HookKind, hooks: &[Hook], state: &[u8]) -> Result<(), HookError> {
    use std::io::Write;
    for (i, h) in hooks.iter().enumerate() {
        let mut c = std::process::Command::new(h.path());
        c.env_clear().stdin(std::process::Stdio::piped());
        if let Some(a) = h.args() {
            if a.len() > 1 {
                c.args(&a[1..]);
            }
        }
        for e in h.env().iter().flatten() {
            if let Some((k, v)) = e.split_once('=') {
                c.env(k, v);
            }
        }
        let mut ch = c
            .spawn()
            .map_err(|e| HookError(format!("{kind:?} hook #{i}: {e}")))?;
        let _ = ch.stdin.take().unwrap().write_all(state);
        let st = ch
            .wait()
            .map_err(|e| HookError(format!("{kind:?} hook #{i}: {e}")))?;
        if !st.success() {
            return Err(HookError(format!("{kind:?} hook #{i} failed: {st}")));
        }
    }
    Ok(())
}
