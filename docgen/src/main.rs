//! Generates the man pages and shell completions of `gantry` and `gantry-gpu` from their clap
//! definitions, for `make build`/`make install`. A separate binary, so neither program carries
//! any of it:
//!
//!     gantry-docgen man DIR                          PROGRAM.8 and PROGRAM-COMMAND.8 into DIR
//!     gantry-docgen completions SHELL FILE [PROGRAM] bash, zsh or fish completions into FILE

mod bash;
mod hidden;
mod man;

use std::path::Path;

use clap::CommandFactory;
use gantry::cli::Cli;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["man", dir] => man::all(Path::new(dir)),
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
    let mut cmd = command(program)?;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, program, &mut out);
    let script = String::from_utf8(out).map_err(std::io::Error::other)?;
    let hidden = hidden::longs(&cmd);
    let script = match shell {
        Shell::Bash => bash::fix(&script, &cmd, program),
        Shell::Zsh => hidden::drop_zsh(&script, &hidden),
        Shell::Fish => hidden::drop_fish(&script, &hidden),
        _ => script,
    };
    std::fs::write(file, script)
}
