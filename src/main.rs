//! The `callsim` binary: argument parsing only; every command lives in
//! `callsim::cli` and returns its exit code.

use callsim::cli;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "callsim",
    version,
    about = "Deterministic simulation and fault-injection test-bed for voice and SIP platforms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario with one seed and judge it.
    Run {
        scenario: PathBuf,
        /// Seed (overrides CALLSIM_SEED and the file's [run] seed).
        #[arg(long)]
        seed: Option<u64>,
        /// Print the report as one JSON document on stdout.
        #[arg(long)]
        json: bool,
        /// Write the history as JSON lines to this file.
        #[arg(long)]
        trace: Option<PathBuf>,
    },
    /// Run each seed twice and compare histories event by event.
    CheckDeterminism {
        scenario: PathBuf,
        /// How many seeds, from the resolved seed on.
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// First seed (default: CALLSIM_SEED or the file's seed).
        #[arg(long)]
        start: Option<u64>,
    },
    /// Parse SIP messages from files and report which are valid.
    SipLint {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Run the incident catalogue (fixtures/incidents.toml).
    Incidents {
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                cli::exit::BAD_INPUT
            } else {
                0
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match cli.command {
        Command::Run {
            scenario,
            seed,
            json,
            trace,
        } => cli::run::command(cli::run::RunArgs {
            scenario,
            seed,
            json,
            trace,
        }),
        Command::CheckDeterminism {
            scenario,
            seeds,
            start,
        } => cli::determinism::command(cli::determinism::DeterminismArgs {
            scenario,
            seeds,
            start,
        }),
        Command::Incidents { json } => cli::incidents::command(json),
        Command::SipLint { files, json } => cli::sip_lint::command(files, json),
    };
    std::process::exit(code);
}
