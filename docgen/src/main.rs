//! Generates the man pages and shell completions of `gantry` and `gantry-gpu` from their clap
//! definitions, for `make build`/`make install`. A separate binary, so neither program carries
//! any of it:
//!
//!     gantry-docgen man DIR                          PROGRAM.8 and PROGRAM-COMMAND.8 into DIR
//!     gantry-docgen completions SHELL FILE [PROGRAM] bash, zsh or fish completions into FILE

use std::path::Path;

use clap::CommandFactory;
use gantry::cli::Cli;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["man", dir] => man(Path::new(dir)),
        ["completions", shell, file] => completions(shell, Path::new(file), "gantry"),
        ["completions", shell, file, program] => completions(shell, Path::new(file), program),
        _ => {
            eprintln!(
                "usage: gantry-docgen man DIR | gantry-docgen completions bash|zsh|fish FILE [gantry|gantry-gpu]"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("gantry-docgen: {e}");
        std::process::exit(1);
    }
}

/// The clap definition of each program.
fn command(program: &str) -> std::io::Result<clap::Command> {
    match program {
        "gantry" => Ok(Cli::command()),
        "gantry-gpu" => Ok(gantry_gpu::cli::Cli::command()),
        other => Err(std::io::Error::other(format!(
            "unknown program {other} (gantry or gantry-gpu)"
        ))),
    }
}

/// Section 8 (system administration), as runc's man pages: PROGRAM.8, then one page per
/// command named as git's are (gantry-create.8, gantry-gpu-hook.8).
fn man(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for program in ["gantry", "gantry-gpu"] {
        let mut cmd = command(program)?;
        cmd.build();
        let version = cmd.get_version().unwrap_or_default().to_string();
        write_page(dir, cmd.clone(), program, &version)?;
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_name() == "help" {
                continue;
            }
            // Names are &'static in clap (no "string" feature): a one-shot generator may leak.
            let name: &'static str =
                Box::leak(format!("{program}-{}", sub.get_name()).into_boxed_str());
            let bin: &'static str =
                Box::leak(format!("{program} {}", sub.get_name()).into_boxed_str());
            let sub = sub.clone().name(name).bin_name(bin);
            write_page(dir, sub, name, &version)?;
        }
    }
    Ok(())
}

fn write_page(dir: &Path, cmd: clap::Command, name: &str, version: &str) -> std::io::Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("8")
        .manual("Gantry Manual")
        .source(format!("Gantry {version}"))
        .render(&mut out)?;
    std::fs::write(dir.join(format!("{name}.8")), out)
}

fn completions(shell: &str, file: &Path, program: &str) -> std::io::Result<()> {
    use clap_complete::Shell;
    let shell = match shell {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        other => {
            return Err(std::io::Error::other(format!(
                "unknown shell {other} (bash, zsh or fish)"
            )))
        }
    };
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command(program)?, program, &mut out);
    std::fs::write(file, out)
}
