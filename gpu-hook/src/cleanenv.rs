//! No loader variables in gantry-gpu (CVE-2025-23266 class). A hook that a runtime starts
//! without an explicit `env` can inherit the image's environment (runc and crun run a
//! createContainer hook with the container's process env), and `LD_PRELOAD=/proc/self/cwd/evil.so`
//! from an image then runs the image's code as host root in the hook.
//!
//! gantry-gpu is dynamically linked against libc like every Rust binary, so the loader acts
//! on `LD_PRELOAD` before `main`: nothing in `main` can stop a preload that is already loaded.
//! The defence is that every hook entry Gantry writes (CDI specs, the runtime's jit hook, the
//! docs, the containerd wrapper) sets `env`, so none inherits the image's. This module is the
//! second line: it stops what the loader still does after `main` (`LD_LIBRARY_PATH` and
//! friends steer the `dlopen` of NVML; `LD_PRELOAD` reaches every program the hook runs, such
//! as ldconfig). When such a variable is set, gantry-gpu re-executes itself (`/proc/self/exe`,
//! the same binary, arguments and standard streams) with them removed, and says so on
//! standard error; if the re-exec fails it refuses to run.

use std::ffi::OsString;

/// Variables glibc's loader or libc honour for code loading or lookup paths: every `LD_*`
/// (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, LD_DEBUG, LD_DEBUG_OUTPUT, LD_PROFILE,
/// LD_ORIGIN_PATH, LD_BIND_NOW, ...) and the other entries of glibc's unsecvars.h list that
/// it drops for setuid programs.
const OTHERS: [&str; 10] = [
    "GLIBC_TUNABLES",
    "GCONV_PATH",
    "LOCPATH",
    "NLSPATH",
    "MALLOC_TRACE",
    "HOSTALIASES",
    "RESOLV_HOST_CONF",
    "LOCALDOMAIN",
    "RES_OPTIONS",
    "TZDIR",
];

/// Whether `name` is a loader variable.
pub fn is_loader_var(name: &str) -> bool {
    name.starts_with("LD_") || OTHERS.contains(&name)
}

/// The loader variables in `env`, in order.
pub fn loader_vars(env: impl IntoIterator<Item = (OsString, OsString)>) -> Vec<OsString> {
    env.into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.to_str().is_some_and(is_loader_var))
        .collect()
}

/// Re-executes this program without loader variables if any is set; returns only when none
/// is (or with the error of a failed re-exec, which the caller must refuse on).
pub fn ensure_clean() -> Result<(), String> {
    let vars = loader_vars(std::env::vars_os());
    if vars.is_empty() {
        return Ok(());
    }
    use std::os::unix::process::CommandExt;
    let names: Vec<String> = vars
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "gantry-gpu".into());
    eprintln!(
        "gantry-gpu: note: loader variables set ({}): re-executed without them (a hook entry should set env)",
        names.join(", ")
    );
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.arg0(argv0).args(args);
    for v in &vars {
        cmd.env_remove(v);
    }
    let e = cmd.exec();
    Err(format!(
        "refusing to run with loader variables set ({}): cannot re-execute without them: {e}",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_variables_are_found() {
        let env = [
            ("PATH", "/bin"),
            ("LD_PRELOAD", "/proc/self/cwd/evil.so"),
            ("LD_LIBRARY_PATH", "/x"),
            ("LD_AUDIT", "a.so"),
            ("LD_DEBUG", "all"),
            ("LD_BIND_NOW", "1"),
            ("GLIBC_TUNABLES", "x"),
            ("OLD_PRELOAD", "no"),
            ("NVIDIA_VISIBLE_DEVICES", "0"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        assert_eq!(
            loader_vars(env),
            [
                "LD_PRELOAD",
                "LD_LIBRARY_PATH",
                "LD_AUDIT",
                "LD_DEBUG",
                "LD_BIND_NOW",
                "GLIBC_TUNABLES"
            ]
        );
        assert!(!is_loader_var("PATH") && !is_loader_var("XLD_PRELOAD"));
    }
}
