//! `gantry-conformance`: checks runtime binaries against the OCI runtime-spec.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use std::io::IsTerminal;

use gantry_conformance::{gaps::KnownGaps, registry, report, runner, stream::Stream};

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Tap,
    Table,
    Json,
}

#[derive(Parser)]
#[command(about = "Check OCI runtimes against the runtime-spec, one check per requirement")]
struct Args {
    /// A runtime binary to check; several run side by side.
    #[arg(long, required = true)]
    runtime: Vec<PathBuf>,
    /// Only the checks whose name contains this.
    #[arg(long)]
    filter: Option<String>,
    #[arg(long, value_enum, default_value = "tap")]
    format: Format,
    /// Failures that do not fail the run: lines `RUNTIME_BASENAME CHECK_NAME  # reason`.
    #[arg(long)]
    known_gaps: Option<PathBuf>,
    /// Checks run at once (each runs its own containers).
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// List the checks (name, level, spec section) and exit.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let all = registry::all();
    let checks: Vec<_> = all
        .iter()
        .filter(|c| args.filter.as_deref().is_none_or(|f| c.name.contains(f)))
        .collect();
    if args.list {
        for c in &checks {
            println!("{}\t{}\t{}", c.name, c.level.as_str(), c.spec);
        }
        return ExitCode::SUCCESS;
    }
    let gaps = match &args.known_gaps {
        None => KnownGaps::default(),
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| KnownGaps::parse(&t))
        {
            Ok(g) => g,
            Err(e) => {
                eprintln!("gantry-conformance: {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
    };
    for rt in &args.runtime {
        if !rt.is_file() {
            eprintln!("gantry-conformance: no runtime binary at {}", rt.display());
            return ExitCode::from(2);
        }
    }
    // TAP goes out as checks finish; the table and JSON need every result first.
    let tap = matches!(args.format, Format::Tap);
    let stream = Stream::new(
        &checks,
        args.runtime.len(),
        tap,
        std::io::stderr().is_terminal(),
    );
    let runs: Vec<_> = args
        .runtime
        .iter()
        .map(|rt| {
            stream.begin(rt);
            let run = runner::run(rt, &checks, args.jobs, &gaps, &|i, r| stream.done(i, r));
            stream.end(&run);
            run
        })
        .collect();
    // The checks' cgroups live under /conformance, which the runtimes made and could not remove
    // while other checks used it: remove it (where empty) once they are all done.
    gantry_conformance::cgroupfs::remove_everywhere("/conformance");
    match args.format {
        Format::Tap => {}
        Format::Table => print!("{}", report::table(&checks, &runs)),
        Format::Json => print!("{}", report::json(&checks, &runs)),
    }
    let mut failed = false;
    for run in &runs {
        eprintln!("{}: {}", run.name, report::summary(run));
        failed |= run.results.iter().any(runner::CheckResult::is_new_failure);
        // A listed gap that now passes is stale: say so, so the list shrinks.
        for name in gaps.for_runtime(&run.name) {
            let passed = checks
                .iter()
                .zip(&run.results)
                .any(|(c, r)| c.name == name && r.status == runner::Status::Pass);
            if passed {
                eprintln!("{}: known gap {name} now passes: remove it", run.name);
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
