//! Section 8 man pages (system administration), as runc's: PROGRAM.8, then one page per
//! command at every depth, named as git's are (gantry-create.8, gantry-device-add.8,
//! gantry-gpu-cdi-generate.8). Every page a page links to (`gantry-device-add(8)` under
//! SUBCOMMANDS) is written, so clap's `help` subcommand is left out of the pages altogether:
//! there is no gantry-help(8) to link to.

use std::path::Path;

pub fn all(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for program in ["gantry", "gantry-gpu"] {
        let mut cmd = without_help(super::command(program)?);
        cmd.build();
        let version = cmd.get_version().unwrap_or_default().to_string();
        pages(dir, &cmd, program, program, &version)?;
    }
    Ok(())
}

/// `cmd` and its subcommands with no `help` subcommand (`--help` stays).
fn without_help(cmd: clap::Command) -> clap::Command {
    cmd.disable_help_subcommand(true)
        .mut_subcommands(without_help)
}

/// NAME.8 for `cmd` (run as BIN), then the pages of its visible subcommands.
fn pages(
    dir: &Path,
    cmd: &clap::Command,
    name: &str,
    bin: &str,
    version: &str,
) -> std::io::Result<()> {
    // Names are &'static in clap (no "string" feature): a one-shot generator may leak.
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let page = cmd
        .clone()
        .name(leak(name))
        .display_name(leak(name))
        .bin_name(leak(bin));
    write_page(dir, page, name, version)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_name = format!("{name}-{}", sub.get_name());
        let sub_bin = format!("{bin} {}", sub.get_name());
        pages(dir, sub, &sub_name, &sub_bin, version)?;
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
