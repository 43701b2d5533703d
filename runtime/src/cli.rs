//! The command line, shaped like runc's: global flags before the command, and each command's
//! flags before or after the container id.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::logger::LogFormat;

#[derive(Parser, Debug)]
#[command(
    name = "gantry",
    version,
    about = "An OCI container runtime with built-in GPU support"
)]
pub struct Cli {
    /// Directory for the state of containers (a tmpfs is best). Default: /run/gantry for
    /// root, $XDG_RUNTIME_DIR/gantry for other users.
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Log file (default: errors to stderr only).
    #[arg(long)]
    pub log: Option<PathBuf>,
    #[arg(long = "log-format", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log debug output too.
    #[arg(long)]
    pub debug: bool,
    /// Use the systemd cgroup driver (cgroupsPath is slice:prefix:name).
    #[arg(long = "systemd-cgroup")]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility (true, false or auto); rootless mode is detected.
    #[arg(long)]
    pub rootless: Option<String>,
    /// The cgroup filesystem root (default /sys/fs/cgroup); its type (cgroup2, or a tmpfs of
    /// v1 hierarchies) picks the driver.
    #[arg(long = "cgroup-root", hide = true)]
    pub cgroup_root: Option<PathBuf>,
    /// The CRIU binary for checkpoint and restore (default: criu, from PATH).
    #[arg(long)]
    pub criu: Option<PathBuf>,
    /// Where CDI specs are read from (default /etc/cdi,/var/run/cdi; a later dir wins).
    #[arg(
        long = "cdi-spec-dirs",
        value_name = "DIR[,DIR]",
        value_delimiter = ',',
        help_heading = "GPUs"
    )]
    pub cdi_spec_dirs: Option<Vec<PathBuf>>,
    /// Leave plain GPU requests (NVIDIA_VISIBLE_DEVICES=0) alone instead of injecting them
    /// from discovery (jit CDI); fully qualified CDI names are still injected.
    #[arg(long = "no-cdi-jit", help_heading = "GPUs")]
    pub no_cdi_jit: bool,
    /// jit GPU discovery: where the driver's libraries, binaries and ld.so.cache are.
    #[arg(
        long = "gpu-driver-root",
        value_name = "DIR",
        default_value = "/",
        help_heading = "GPUs"
    )]
    pub gpu_driver_root: PathBuf,
    /// jit GPU discovery: where the device nodes are (DIR/dev/nvidia0).
    #[arg(
        long = "gpu-dev-root",
        value_name = "DIR",
        default_value = "/",
        help_heading = "GPUs"
    )]
    pub gpu_dev_root: PathBuf,
    /// jit GPU discovery: the host's procfs (DIR/devices, DIR/driver/nvidia).
    #[arg(
        long = "gpu-proc-root",
        value_name = "DIR",
        default_value = "/proc",
        help_heading = "GPUs"
    )]
    pub gpu_proc_root: PathBuf,
    /// jit GPU discovery: the host's sysfs (DIR/class/drm, DIR/class/kfd).
    #[arg(
        long = "gpu-sysfs-root",
        value_name = "DIR",
        default_value = "/sys",
        help_heading = "GPUs"
    )]
    pub gpu_sysfs_root: PathBuf,
    /// jit GPU discovery: the NVML library (default: libnvidia-ml.so.1 in the driver root).
    #[arg(long = "gpu-nvml-lib", value_name = "FILE", help_heading = "GPUs")]
    pub gpu_nvml_lib: Option<PathBuf>,
    /// The gantry-gpu that makes jit specs and that their createRuntime hook runs (default:
    /// next to gantry, else on PATH, else /usr/local/bin/gantry-gpu, /usr/bin/gantry-gpu).
    #[arg(long = "gpu-bin", value_name = "FILE", help_heading = "GPUs")]
    pub gpu_bin: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container: set it up and leave its process waiting for `start`.
    Create(CreateArgs),
    /// Run the program of a created container.
    Start { id: String },
    /// Print the state of a container as JSON.
    State { id: String },
    /// Send a signal (name or number, default SIGTERM) to a container's init.
    Kill(KillArgs),
    /// Delete a stopped container (or any, with --force) and everything it holds.
    Delete(DeleteArgs),
    /// Create and start a container; without --detach, wait for it and return its exit code.
    Run(RunArgs),
    /// List the containers under --root.
    List(ListArgs),
    /// Run another program in a running container.
    Exec(ExecArgs),
    /// Change a running container's resources.
    Update(UpdateArgs),
    /// Print the container's resource usage (runc's event JSON).
    Events {
        id: String,
        /// Print one stats event and exit.
        #[arg(long)]
        stats: bool,
        /// Time between stats events (e.g. 5s, 500ms).
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
    },
    /// Print what this runtime supports (runtime-spec features.md).
    Features,
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// List the processes of a container.
    Ps {
        #[arg(short, long, value_enum, default_value = "table")]
        format: ListFormat,
        id: String,
        /// Options for the host's ps (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Checkpoint a running container with CRIU (criu dump), as runc does.
    Checkpoint(CheckpointArgs),
    /// Restore a container from a CRIU checkpoint (criu restore), as runc does.
    Restore(RestoreArgs),
    /// Attach GPUs to a running container, detach them, or list its devices.
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Write a starting config.json into a bundle, as `runc spec` does.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A config for running without root (a user namespace mapping the caller).
        #[arg(long)]
        rootless: bool,
    },
}

#[derive(Args, Debug, Clone, Default)]
pub struct CreateArgs {
    /// The container id.
    pub id: String,
    /// The bundle directory (default: the current directory).
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// A unix socket on which to receive the pty master when process.terminal is true.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Write the init's pid here (as seen from the host).
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use chroot instead of pivot_root (for a ramfs root).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Don't create a new session keyring for the container.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many fds beyond stdio (and LISTEN_FDS) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// A unix socket to receive a pidfd of the init (SCM_RIGHTS), as runc 1.2 sends it.
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return after start instead of waiting for the program.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after it exits (foreground runs only).
    #[arg(long)]
    pub keep: bool,
    /// Accepted for runc compatibility.
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// The container id.
    pub id: String,
    /// The program and its arguments (unless --process is given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// A runtime-spec process JSON file describing the whole process.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Give the process a terminal.
    #[arg(short, long)]
    pub tty: bool,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// KEY=VALUE, added to (or replacing in) the container's environment.
    #[arg(short, long)]
    pub env: Vec<String>,
    /// USER[:GROUP]: numbers, or names from the container's /etc/passwd and /etc/group.
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// A capability to add (CAP_NAME).
    #[arg(short, long)]
    pub cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    #[arg(long)]
    pub apparmor: Option<String>,
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Exec even if the container is paused.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Run the process in an existing sub-cgroup of the container's: `[CONTROLLER[,...]:]PATH`
    /// (repeatable with controllers on cgroup v1), as runc's --cgroup.
    #[arg(long = "cgroup", value_name = "[CONTROLLER:]PATH")]
    pub cgroup: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    pub id: String,
    /// A LinuxResources JSON file ("-" for stdin) replacing the resources.
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT/CAT L3 cache schema (e.g. L3:0=ff) for the container's resctrl group.
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT/MBA memory bandwidth schema (e.g. MB:0=50) for the container's resctrl group.
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    /// Accepted as runc 1.1 does (a size, checked) and ignored with a warning.
    #[arg(long = "kernel-memory", hide = true, allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Accepted as runc 1.1 does (a size, checked) and ignored with a warning.
    #[arg(long = "kernel-memory-tcp", hide = true, allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
}

/// The CRIU options `checkpoint` and `restore` share (runc's names).
#[derive(Args, Debug, Clone, Default)]
pub struct CriuArgs {
    /// Where CRIU's image files are (default: ./checkpoint).
    #[arg(long = "image-path")]
    pub image_path: Option<PathBuf>,
    /// Where CRIU's work files and log go (default: the image path).
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections.
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow shell jobs.
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Handle file locks.
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// Restore memory pages lazily through userfaultfd (where CRIU and the kernel can).
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
    /// How CRIU handles cgroups: soft (its default), full or strict.
    #[arg(long = "manage-cgroups-mode", value_parser = ["soft", "full", "strict"])]
    pub manage_cgroups_mode: Option<String>,
    /// Deduplicate memory images as they are written or read.
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
}

#[derive(Args, Debug)]
pub struct CheckpointArgs {
    /// The container id.
    pub id: String,
    #[command(flatten)]
    pub criu: CriuArgs,
    /// The images of a previous pre-dump, relative to --image-path (as CRIU takes it).
    #[arg(long = "parent-path")]
    pub parent_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint.
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    /// Dump only the memory (criu pre-dump), leaving the container running.
    #[arg(long = "pre-dump")]
    pub pre_dump: bool,
    /// ADDRESS:PORT of a CRIU page server to send the pages to.
    #[arg(long = "page-server")]
    pub page_server: Option<String>,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The container id.
    pub id: String,
    #[command(flatten)]
    pub criu: CriuArgs,
    /// The bundle directory (default: the current directory).
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Return once restored instead of waiting for the container.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the restored init's pid here.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Accepted for runc compatibility.
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
    /// Accepted for runc compatibility (CRIU builds the root itself).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    pub id: String,
    /// The signal: a name (KILL, SIGKILL) or a number; 0 only checks that the init is alive.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
    /// Signal every process in the container's cgroup, not only the init.
    #[arg(short, long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    pub id: String,
    /// Kill the container first if it is still running.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: ListFormat,
    /// Print only the ids.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

impl Cli {
    /// The options of native GPU injection (CDI).
    pub fn gpu_opts(&self) -> crate::cdi::GpuOpts {
        crate::cdi::GpuOpts {
            spec_dirs: self.cdi_spec_dirs.clone(),
            jit: !self.no_cdi_jit,
            roots: crate::cdi::Discovery {
                driver_root: self.gpu_driver_root.clone(),
                dev_root: self.gpu_dev_root.clone(),
                proc_root: self.gpu_proc_root.clone(),
                sysfs_root: self.gpu_sysfs_root.clone(),
                nvml_lib: self.gpu_nvml_lib.clone(),
            },
            gpu_bin: self.gpu_bin.clone(),
        }
    }

    /// --root, or the default for who runs us.
    pub fn state_root(&self) -> PathBuf {
        if let Some(r) = &self.root {
            return r.clone();
        }
        if nix::unistd::geteuid().is_root() {
            return PathBuf::from("/run/gantry");
        }
        match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(d) if !d.is_empty() => PathBuf::from(d).join("gantry"),
            _ => PathBuf::from(format!("/tmp/gantry-{}", nix::unistd::geteuid())),
        }
    }
}

/// The long flag `name` (or one of its aliases) of `cmd`, as clap knows it.
fn long_arg<'a>(cmd: &'a clap::Command, name: &str) -> Option<&'a clap::Arg> {
    cmd.get_arguments().find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|v| v.contains(&name))
    })
}

fn short_arg(cmd: &clap::Command, c: char) -> Option<&clap::Arg> {
    cmd.get_arguments().find(|a| a.get_short() == Some(c))
}

fn takes_value(a: Option<&clap::Arg>) -> bool {
    a.is_some_and(|a| a.get_action().takes_values())
}

/// argv as runc's users type it, rewritten for clap. urfave/cli (runc's parser) takes a long
/// flag with one dash as well as two (`gantry -root DIR list`, `create -bundle B ID`,
/// `-log-format=json`), a boolean flag as `--detach=true` or `=false`, `-v` for the version
/// and `h` for `help`. Only a word that names a long
/// flag of the command being parsed is rewritten: short flags (`-b B`, `-dt`), flag values,
/// everything after `--` and the container's own words (exec's program and its arguments,
/// ps's options) are passed as they are.
pub fn runc_argv(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut top = Cli::command();
    top.build();
    let mut args = args.into_iter();
    let mut out: Vec<OsString> = args.next().into_iter().collect();
    let rest: Vec<OsString> = args.collect();
    let mut level: &clap::Command = &top;
    let mut at_top = true;
    let mut positionals = 0usize;
    let mut i = 0;
    while i < rest.len() {
        let word = &rest[i];
        i += 1;
        let Some(s) = word.to_str() else {
            out.push(word.clone());
            continue;
        };
        if s == "--" {
            out.extend(rest[i - 1..].iter().cloned());
            break;
        }
        let (arg, rewritten) = if let Some(body) = s.strip_prefix("--") {
            let name = body.split('=').next().unwrap_or_default();
            (long_arg(level, name), s.to_string())
        } else if s.len() > 1 && s.starts_with('-') {
            let body = &s[1..];
            let name = body.split('=').next().unwrap_or_default();
            if at_top && s == "-v" {
                (None, "--version".to_string())
            } else if name.chars().count() > 1 && long_arg(level, name).is_some() {
                (long_arg(level, name), format!("-{s}"))
            } else {
                // Short flags: only a lone one (`-b`) takes the next word as its value.
                let mut chars = body.chars();
                let first = chars.next().and_then(|c| short_arg(level, c));
                (first.filter(|_| chars.next().is_none()), s.to_string())
            }
        } else {
            // A command name, or a positional of the command.
            if at_top {
                let name = if s == "h" { "help" } else { s };
                out.push(name.into());
                match level.find_subcommand(name) {
                    Some(sub) => {
                        level = sub;
                        at_top = false;
                        continue;
                    }
                    None => {
                        out.extend(rest[i..].iter().cloned());
                        break;
                    }
                }
            }
            let trailing = level
                .get_positionals()
                .nth(positionals)
                .is_some_and(|a| a.is_trailing_var_arg_set());
            positionals += 1;
            if trailing {
                // The container's words from here on.
                out.extend(rest[i - 1..].iter().cloned());
                break;
            }
            out.push(word.clone());
            continue;
        };
        if let (Some(a), Some((flag, v))) = (arg, rewritten.split_once('=')) {
            if matches!(a.get_action(), clap::ArgAction::SetTrue) && (v == "true" || v == "false") {
                // urfave's `--detach=true`; clap's booleans take no value.
                if v == "true" {
                    out.push(flag.into());
                }
                continue;
            }
        }
        out.push(rewritten.into());
        if !s.contains('=') && takes_value(arg) {
            if let Some(v) = rest.get(i) {
                out.push(v.clone());
                i += 1;
            }
        }
    }
    out
}

/// The value of the global flag `--name` in an argv `runc_argv` has rewritten, read without
/// clap (for reporting clap's own errors where --log says).
pub fn global_value(argv: &[OsString], name: &str) -> Option<OsString> {
    let mut top = Cli::command();
    top.build();
    let mut it = argv.iter().skip(1);
    let mut found = None;
    while let Some(w) = it.next() {
        let s = w.to_str()?;
        let Some(body) = s.strip_prefix("--") else {
            if s.starts_with('-') && s.len() > 1 {
                continue; // a short global flag (-h, -V): no value
            }
            break; // the command
        };
        let (flag, inline) = match body.split_once('=') {
            Some((f, v)) => (f, Some(v)),
            None => (body, None),
        };
        let value = match inline {
            Some(v) => Some(OsString::from(v)),
            None if takes_value(long_arg(&top, flag)) => it.next().cloned(),
            None => None,
        };
        if flag == name {
            found = value;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_after_the_id_are_accepted() {
        let c = Cli::try_parse_from([
            "gantry",
            "--root",
            "/r",
            "--log",
            "/l",
            "--log-format",
            "json",
            "create",
            "c1",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
        ])
        .unwrap();
        match c.command {
            Command::Create(a) => {
                assert_eq!(a.id, "c1");
                assert_eq!(a.bundle, PathBuf::from("/b"));
                assert_eq!(a.pid_file, Some(PathBuf::from("/p")));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn runc_only_globals_are_accepted() {
        Cli::try_parse_from([
            "gantry",
            "--rootless",
            "false",
            "--systemd-cgroup",
            "state",
            "x",
        ])
        .unwrap();
        let c = Cli::try_parse_from(["gantry", "--criu", "/usr/sbin/criu", "list"]).unwrap();
        assert_eq!(c.criu, Some(PathBuf::from("/usr/sbin/criu")));
    }

    fn rewritten(args: &[&str]) -> Vec<String> {
        let argv = std::iter::once("gantry").chain(args.iter().copied());
        runc_argv(argv.map(OsString::from))
            .into_iter()
            .skip(1)
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn runc_single_dash_long_flags() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["-root", "/r", "list"], &["--root", "/r", "list"]),
            (
                &["-root=/r", "-log-format", "json", "-debug", "state", "c"],
                &["--root=/r", "--log-format", "json", "--debug", "state", "c"],
            ),
            (
                &["create", "-bundle", "/b", "-pid-file", "/p", "c"],
                &["create", "--bundle", "/b", "--pid-file", "/p", "c"],
            ),
            // Short flags, clusters and values that look like flags stay as they are.
            (
                &["create", "-b", "-bundle", "c"],
                &["create", "-b", "-bundle", "c"],
            ),
            (&["exec", "-dt", "c", "sh"], &["exec", "-dt", "c", "sh"]),
            (
                &["update", "-memory", "-1", "c"],
                &["update", "--memory", "-1", "c"],
            ),
            // The container's program and its arguments are its own.
            (
                &["exec", "-tty", "c", "ls", "-user", "-bundle"],
                &["exec", "--tty", "c", "ls", "-user", "-bundle"],
            ),
            (
                &["exec", "c", "-user", "0", "ls", "-tty"],
                &["exec", "c", "--user", "0", "ls", "-tty"],
            ),
            (
                &["exec", "-user", "0", "--", "c", "-tty"],
                &["exec", "--user", "0", "--", "c", "-tty"],
            ),
            (&["ps", "c", "-ef"], &["ps", "c", "-ef"]),
            (
                &["kill", "-all", "c", "KILL"],
                &["kill", "--all", "c", "KILL"],
            ),
            (
                &["run", "-detach=true", "-keep=false", "c"],
                &["run", "--detach", "c"],
            ),
            // -v and h, runc's version flag and help alias; a lone command's -v is not one.
            (&["-v"], &["--version"]),
            (&["-version"], &["--version"]),
            (&["h"], &["help"]),
            (&["h", "create"], &["help", "create"]),
            (&["-help"], &["--help"]),
            (&["create", "-help"], &["create", "--help"]),
        ];
        for (given, want) in cases {
            assert_eq!(rewritten(given), *want, "{given:?}");
        }
        let c = Cli::try_parse_from(runc_argv(
            ["gantry", "-root", "/r", "create", "-bundle", "/b", "c"].map(OsString::from),
        ))
        .unwrap();
        assert_eq!(c.root, Some(PathBuf::from("/r")));
        match c.command {
            Command::Create(a) => assert_eq!((a.id.as_str(), a.bundle), ("c", "/b".into())),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn global_values_without_clap() {
        let argv: Vec<OsString> = [
            "gantry",
            "--root",
            "/r",
            "--log",
            "/l",
            "--log-format=json",
            "create",
            "--log",
            "x",
        ]
        .map(OsString::from)
        .to_vec();
        assert_eq!(global_value(&argv, "log"), Some("/l".into()));
        assert_eq!(global_value(&argv, "log-format"), Some("json".into()));
        assert_eq!(global_value(&argv, "criu"), None);
    }

    #[test]
    fn kill_takes_optional_signal() {
        let c = Cli::try_parse_from(["gantry", "kill", "--all", "c", "KILL"]).unwrap();
        match c.command {
            Command::Kill(k) => assert!(k.all && k.signal == "KILL"),
            other => panic!("{other:?}"),
        }
        let c = Cli::try_parse_from(["gantry", "kill", "c"]).unwrap();
        match c.command {
            Command::Kill(k) => assert_eq!(k.signal, "SIGTERM"),
            other => panic!("{other:?}"),
        }
    }

    /// The argv shapes Podman 4.3 (conmon) and containerd 1.6 (runc v2 shim) pass, as
    /// recorded by tests/tests/engine_flags.rs (docs/engines.md).
    #[test]
    fn engine_argv_shapes_parse() {
        let podman = ["--log-format=json", "--log", "/l"];
        let shim = ["--root", "/r", "--log", "/l", "--log-format", "json"];
        let cases: &[(&[&str], &[&str])] = &[
            (
                &podman,
                &[
                    "create",
                    "--bundle",
                    "/b",
                    "--pid-file",
                    "/p",
                    "--console-socket",
                    "/s",
                    "c",
                ],
            ),
            (
                &podman,
                &[
                    "exec",
                    "--pid-file",
                    "/p",
                    "--process",
                    "/q",
                    "--detach",
                    "--tty",
                    "--console-socket",
                    "/s",
                    "c",
                ],
            ),
            (&[], &["update", "--resources=/r", "c"]),
            (&[], &["kill", "c", "15"]),
            (&[], &["delete", "--force", "c"]),
            (
                &shim,
                &[
                    "exec",
                    "--process",
                    "/q",
                    "--console-socket",
                    "/s",
                    "--detach",
                    "--pid-file",
                    "/p",
                    "c",
                ],
            ),
            (&shim, &["kill", "--all", "c", "9"]),
            (&shim, &["ps", "--format", "json", "c"]),
            (
                &shim,
                &[
                    "--systemd-cgroup",
                    "create",
                    "--bundle",
                    "/b",
                    "--pid-file",
                    "/p",
                    "--no-pivot",
                    "--no-new-keyring",
                    "c",
                ],
            ),
        ];
        for (globals, args) in cases {
            let argv: Vec<OsString> = ["gantry"]
                .iter()
                .chain(globals.iter())
                .chain(args.iter())
                .map(OsString::from)
                .collect();
            if let Err(e) = Cli::try_parse_from(&argv) {
                panic!("{globals:?} {args:?}: {e}");
            }
            // The engines' spellings are clap's already: runc's rewriting leaves them be.
            assert_eq!(runc_argv(argv.clone()), argv, "{globals:?} {args:?}");
        }
        let c = Cli::try_parse_from([
            "gantry",
            "--log-format=json",
            "update",
            "--resources=/r",
            "c",
        ])
        .unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        match c.command {
            Command::Update(u) => assert_eq!(u.resources, Some(PathBuf::from("/r"))),
            other => panic!("{other:?}"),
        }
    }
}

/// `gantry device`: hotplug. DEVICE is a CDI name (`nvidia.com/gpu=1`, from the spec dirs) or
/// a jit request (`nvidia:1`, `amd:0`, a GPU UUID).
#[derive(Subcommand, Debug)]
pub enum DeviceCmd {
    /// Attach devices: their nodes appear in the container and its cgroup allows them.
    Add {
        id: String,
        #[arg(required = true)]
        devices: Vec<String>,
    },
    /// Detach devices: the cgroup rule goes first, then the nodes.
    Remove {
        id: String,
        #[arg(required = true)]
        devices: Vec<String>,
    },
    /// List the container's device nodes (PATH MAJOR:MINOR).
    List { id: String },
}
