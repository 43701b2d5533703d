use clap::Parser;

use gantry::cli::{Cli, Command};
use gantry::commands::{self, Globals};
use gantry::logger;

/// A command line clap refuses: as runc, the error goes to --log too (containerd's shim reads
/// only the log), as a line in --log-format; then clap reports it on stderr and exits 2.
fn usage_error(argv: &[std::ffi::OsString], e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    if let Some(log) = gantry::cli::global_value(argv, "log") {
        let format = match gantry::cli::global_value(argv, "log-format") {
            Some(f) if f == "json" => logger::LogFormat::Json,
            _ => logger::LogFormat::Text,
        };
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        let first = first.strip_prefix("error: ").unwrap_or(first);
        let msg = match text.lines().find_map(|l| l.strip_prefix("Usage: ")) {
            Some(usage) => format!("{first} (usage: {usage})"),
            None => first.to_string(),
        };
        if logger::init(Some(log.as_ref()), format, false).is_ok() {
            logger::to_file(logger::Level::Error, &msg);
        }
    }
    e.exit()
}

fn main() {
    let argv = gantry::cli::runc_argv(std::env::args_os());
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| usage_error(&argv, e));
    // Before anything opens an fd (the --log file) that could land in the passed range.
    let passed = match &cli.command {
        Command::Create(a) => Some((gantry::passfds::listen_fds(), a.preserve_fds)),
        Command::Run(a) => Some((gantry::passfds::listen_fds(), a.create.preserve_fds)),
        Command::Exec(a) => Some((0, a.preserve_fds)),
        _ => None,
    };
    if let Some(Err(e)) = passed.map(|(l, p)| gantry::passfds::check(l, p)) {
        eprintln!("gantry: {e}");
        std::process::exit(1);
    }
    let enters_containers = matches!(
        cli.command,
        Command::Create(_) | Command::Run(_) | Command::Exec(_)
    );
    if enters_containers {
        // Run from a view of the binary no container can write (returns in that process).
        if let Err(e) = gantry::exeseal::ensure() {
            eprintln!("gantry: run from a sealed copy of the binary: {e}");
            std::process::exit(1);
        }
    }
    let exec = matches!(cli.command, Command::Exec(_));
    if enters_containers && (exec || nix::unistd::geteuid().is_root()) {
        // These put runtime processes into containers' namespaces (the init until its exec,
        // an exec's child): nothing there may ptrace them or open their /proc/PID/exe, root
        // or fd/ (rootless too: they lead to the user's host view). A rootless create stays
        // dumpable: the user's own hooks must open the init's namespaces, which non-dumpable
        // would belong to root.
        if let Err(e) = gantry::sys::set_dumpable(false) {
            eprintln!("gantry: prctl(PR_SET_DUMPABLE): {e}");
            std::process::exit(1);
        }
    }
    if let Err(e) = logger::init(cli.log.as_deref(), cli.log_format, cli.debug) {
        eprintln!(
            "gantry: --log {}: {e}",
            cli.log.as_deref().unwrap_or_else(|| "".as_ref()).display()
        );
        std::process::exit(1);
    }
    logger::debug(&format!(
        "gantry {}: {}",
        env!("CARGO_PKG_VERSION"),
        argv.iter()
            .skip(1)
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let root = cli.state_root();
    let gpu = cli.gpu_opts();
    let g = Globals {
        root: &root,
        systemd_cgroup: cli.systemd_cgroup,
        cgroup_root: cli.cgroup_root.as_deref(),
        gpu: &gpu,
        criu: cli.criu.as_deref(),
    };
    let result = match &cli.command {
        Command::Create(a) => commands::create::run(&g, a).map(|_| 0),
        Command::Start { id } => commands::start::run(&g, id).map(|_| 0),
        Command::State { id } => commands::state::run(&g, id).map(|_| 0),
        Command::Kill(a) => commands::kill::run(&g, a).map(|_| 0),
        Command::Delete(a) => commands::delete::run(&g, a).map(|_| 0),
        Command::Run(a) => commands::run::run(&g, a),
        Command::List(a) => commands::list::run(&g, a).map(|_| 0),
        Command::Update(a) => commands::update::run(&g, a).map(|_| 0),
        Command::Events {
            id,
            stats,
            interval,
        } => commands::events::run(&g, id, *stats, *interval).map(|_| 0),
        Command::Exec(a) => commands::exec::run(&g, a),
        Command::Features => commands::features::run().map(|_| 0),
        Command::Pause { id } => commands::pause::run(&g, id, true).map(|_| 0),
        Command::Resume { id } => commands::pause::run(&g, id, false).map(|_| 0),
        Command::Ps {
            format,
            id,
            ps_args,
        } => commands::ps::run(&g, id, *format, ps_args).map(|_| 0),
        Command::Checkpoint(a) => commands::checkpoint::checkpoint(&g, a).map(|_| 0),
        Command::Restore(a) => commands::checkpoint::restore(&g, a),
        Command::Device(d) => commands::device::run(&g, d).map(|_| 0),
        Command::Spec { bundle, rootless } => commands::spec::run(bundle, *rootless).map(|_| 0),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            logger::error(&format!("{e:#}"));
            // As runc: a failed exec exits 255 (engines tell it from the program's own code).
            let code = if matches!(cli.command, Command::Exec(_)) {
                255
            } else {
                1
            };
            std::process::exit(code);
        }
    }
}
