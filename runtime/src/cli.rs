//! The command line, shaped like runc's: global flags before the command, and each command's
//! flags before or after the container id.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// Accepted for runc compatibility; checkpointing is not supported.
    #[arg(long, hide = true)]
    pub criu: Option<String>,
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
    /// The gantry-gpu a jit spec's createRuntime hook runs (default: next to gantry, else
    /// /usr/local/bin/gantry-gpu, /usr/bin/gantry-gpu).
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
    /// UID[:GID]
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
}

#[derive(Args, Debug)]
pub struct KillArgs {
    pub id: String,
    /// The signal: a name (KILL, SIGKILL) or a number.
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
            roots: gantry_gpu::roots::Roots {
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
        Cli::try_parse_from(["gantry", "--criu", "/usr/sbin/criu", "list"]).unwrap();
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
            let argv = ["gantry"].iter().chain(globals.iter()).chain(args.iter());
            if let Err(e) = Cli::try_parse_from(argv) {
                panic!("{globals:?} {args:?}: {e}");
            }
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
