//! Generates Gantry's man pages and shell completions from its clap definitions, for
//! `make build`/`make install`. A separate binary, so the runtime itself carries none of it:
//!
//!     gantry-docgen man DIR                   gantry.8 and gantry-COMMAND.8 into DIR
//!     gantry-docgen completions SHELL FILE    bash, zsh or fish completions into FILE

use std::path::Path;

use clap::CommandFactory;
use gantry::cli::Cli;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["man", dir] => man(Path::new(dir)),
        ["completions", shell, file] => completions(shell, Path::new(file)),
        _ => {
            eprintln!(
                "usage: gantry-docgen man DIR | gantry-docgen completions bash|zsh|fish FILE"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("gantry-docgen: {e}");
        std::process::exit(1);
    }
}

/// Section 8 (system administration), as runc's man pages: gantry.8, then one page per
/// command named as git's are (gantry-create.8), each listed under SEE ALSO of gantry.8.
fn man(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = Cli::command();
    cmd.build();
    let version = cmd.get_version().unwrap_or_default().to_string();
    write_page(dir, cmd.clone(), "gantry", &version)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        // Names are &'static in clap (no "string" feature): a one-shot generator may leak.
        let name: &'static str = Box::leak(format!("gantry-{}", sub.get_name()).into_boxed_str());
        let bin: &'static str = Box::leak(format!("gantry {}", sub.get_name()).into_boxed_str());
        let sub = sub.clone().name(name).bin_name(bin);
        write_page(dir, sub, name, &version)?;
    }
    Ok(())
}

fn write_page(dir: &Path, cmd: clap::Command, name: &str, version: &str) -> std::io::Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("8")
        .manual("Gantry Manual")
        .source(format!("gantry {version}"))
        .render(&mut out)?;
    std::fs::write(dir.join(format!("{name}.8")), out)
}

fn completions(shell: &str, file: &Path) -> std::io::Result<()> {
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
    clap_complete::generate(shell, &mut Cli::command(), "gantry", &mut out);
    std::fs::write(file, out)
}
