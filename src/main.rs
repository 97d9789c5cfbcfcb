//! `obevents` binary: parse the command line, set up logging, dispatch, and turn the outcome
//! into an exit code (0 ok, 1 conformance failure, 2 bad input or unreachable target).

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use obevents::cli::{Cli, Command, LogFormat};
use obevents::{bench, certs, harness, sandbox, tpp};

/// jemalloc instead of glibc's malloc: under the bench's loads glibc's allocator (its locks,
/// `malloc_consolidate`, fragmentation between the runtime's threads) was a tenth of the
/// 10-SET poll's CPU, and the RSS of 10,000 held polls 24.2 KiB each; with jemalloc the same
/// runs read 10-SET poll 44 % → 52 % of `/healthz`, and 16.9 KiB per held poll (mimalloc, also
/// tried, was as fast but held 36 KiB per poll). See the README's "Performance".
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    if let Err(code) = init_logging(&cli) {
        return code;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Sandbox(args) => ExitCode::from(sandbox::app::run_cli(args).await),
            Command::Test(args) => ExitCode::from(harness::command::run_cli(args).await),
            Command::Bench(args) => ExitCode::from(bench::run_cli(args).await),
            Command::Certs(args) => ExitCode::from(certs::run_cli(args)),
            Command::Tpp(args) => ExitCode::from(tpp::run_cli(*args).await),
        }
    })
}

/// The command line, or the exit code when there is nothing to run: help and version exit 0,
/// a bad flag ends with one line on stderr and 2.
fn parse() -> Result<Cli, ExitCode> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            Err(ExitCode::SUCCESS)
        }
        // No subcommand given (`obevents`, `obevents tpp`): one line naming the usage, not the
        // whole help.
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let text = e.render().to_string();
            let usage = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("Usage:"))
                .map_or("obevents <COMMAND>", str::trim);
            eprintln!("error: a subcommand is required: {usage} (see --help)");
            Err(ExitCode::from(2))
        }
        Err(e) => {
            // clap's first paragraph, on one line: the error, and the arguments it lists on
            // the lines after (the missing ones, say); usage and tips follow a blank line.
            let text = e.render().to_string();
            let line = text
                .lines()
                .map(str::trim)
                .skip_while(|l| l.is_empty())
                .take_while(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let line = if line.is_empty() {
                "invalid arguments"
            } else {
                &line
            };
            eprintln!("{line} (see --help)");
            Err(ExitCode::from(2))
        }
    }
}

/// Logs to stderr with `--log`'s filter, as text or JSON lines (`--log-format`); a bad filter
/// is exit code 2.
fn init_logging(cli: &Cli) -> Result<(), ExitCode> {
    // `--log` (or OBEVENTS_LOG) wins; the sandbox's config file may name one in [server].
    let config_log = match &cli.command {
        Command::Sandbox(args) => args
            .config
            .as_deref()
            .and_then(obevents::sandbox::config::log_filter_in),
        _ => None,
    };
    let (source, log) = match (&cli.log, config_log) {
        (Some(l), _) => ("--log", l.clone()),
        (None, Some(l)) => ("config field server.log", l),
        (None, None) => ("--log", "info".to_string()),
    };
    // The access log and the push attempt lines belong to `obevents sandbox`; elsewhere (the
    // embedded sandbox of `test`, `bench`) each is off unless the filter names it.
    let mut spec = log.clone();
    if !matches!(cli.command, Command::Sandbox(_)) {
        for target in ["obevents::access", "obevents::push"] {
            if !log.contains(target) {
                spec.push_str(&format!(",{target}=off"));
            }
        }
    }
    let filter = match tracing_subscriber::EnvFilter::try_new(&spec) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {source} {log:?}: {e}");
            return Err(ExitCode::from(2));
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => builder
            .with_target(false)
            // Colour codes only help on a terminal; in CI logs they are noise.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // One object per line with the event's fields at the top level; the target tells the
        // access log (`obevents::access`) and push attempts (`obevents::push`) apart.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_target(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
    Ok(())
}
