//! The `callsim` binary: argument parsing only; every command lives in
//! `callsim::cli` and returns its exit code.

use callsim::cli;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// mimalloc: the simulation allocates many small, short-lived objects
/// (messages, events, futures); glibc's malloc spent about a fifth of a
/// load run in its free lists (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        /// With --trace: each sip.send line also carries the message's
        /// text as sent (`sip_text`), read from the wire.
        #[arg(long, requires = "trace")]
        trace_sip_bodies: bool,
        /// Write every message on the simulated network (UDP datagrams,
        /// TCP segments; lost ones marked) to this pcapng file.
        #[arg(long)]
        pcap: Option<PathBuf>,
        /// Print call ladders in this format: text or mermaid (a Mermaid
        /// sequenceDiagram in a Markdown fence). On stdout, or on stderr
        /// with --json. Default calls: failed.
        #[arg(long)]
        ladder: Option<String>,
        /// Which calls' ladders: failed (those a violation names), all, or
        /// a comma-separated list of call ids. Default format: text.
        #[arg(long)]
        calls: Option<String>,
        /// Write a self-contained HTML report of the run to this file
        /// (timeline, outcomes, distributions, host rates, violations).
        #[arg(long)]
        html: Option<PathBuf>,
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
    /// Run many seeds of one scenario in parallel; save each failure as a
    /// replayable bundle.
    Explore {
        scenario: PathBuf,
        /// How many seeds: S, S+1, .., S+N-1.
        #[arg(long)]
        seeds: u64,
        /// First seed S (default: CALLSIM_SEED or the file's seed).
        #[arg(long)]
        start: Option<u64>,
        /// OS threads (default: the machine's cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// K/M: keep the seeds whose position is congruent to K-1 mod M.
        #[arg(long)]
        shard: Option<String>,
        /// Print the explore document as one JSON document on stdout.
        #[arg(long)]
        json: bool,
        /// Where failure bundles go (default: callsim-failures).
        #[arg(long)]
        bundles: Option<PathBuf>,
        /// Differential mode: a failing seed counts only if it fails in a
        /// way (a signature) this baseline scenario's run of it does not.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// Also write the sweep as JUnit XML to this file: one test case
        /// per failing seed (with its replay command) and one for the
        /// seeds that passed.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Rerun a failure bundle of `explore` (its scenario copy and seed) and
    /// check its trace hash: 0 replayed, 4 nondeterminism, 6 the bundle is
    /// from another commit.
    Replay {
        /// The bundle directory (holds bundle.json and scenario.toml).
        bundle: PathBuf,
    },
    /// Minimise a failure bundle of `explore` while it fails with the same
    /// signature; writes BUNDLE/shrunk.toml and prints its replay command.
    Shrink {
        /// The bundle directory (holds bundle.json and scenario.toml).
        bundle: PathBuf,
        /// Runs at most (default 200).
        #[arg(long, default_value_t = cli::shrink::BUDGET_DEFAULT)]
        budget: u32,
    },
    /// Parse SIP messages from files and report which are valid.
    SipLint {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// List the node kinds and the faults each honours (the registry), and
    /// the oracles with their parameters; with NAME, one kind's (or
    /// oracle's) fields with their types, defaults and docs.
    Kinds {
        /// A node kind (e.g. `sip`) or an oracle (e.g. `recovery`).
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of a scenario file (every field with its doc),
    /// for editors and TOML language servers.
    Schema,
    /// Run the incident catalogue (fixtures/incidents.toml).
    Incidents {
        #[arg(long)]
        json: bool,
        /// The catalogue to run (default: fixtures/incidents.toml). Its
        /// scenario paths are relative to the working directory.
        #[arg(long)]
        catalogue: Option<PathBuf>,
        /// Seeds per variant, from each scenario's own seed (default 5):
        /// every figure must hold on every seed.
        #[arg(long, default_value_t = cli::incidents::SEEDS_DEFAULT)]
        seeds: u64,
        /// OS threads (default: the machine's cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Also write the results as JUnit XML to this file: one test
        /// suite per incident, one test case per variant.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Write one self-contained HTML page per incident (buggy and
        /// fixed side by side) and an index.html into this directory.
        #[arg(long)]
        html: Option<PathBuf>,
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
            trace_sip_bodies,
            pcap,
            ladder,
            calls,
            html,
        } => cli::run::command(cli::run::RunArgs {
            scenario,
            seed,
            json,
            trace,
            trace_sip_bodies,
            pcap,
            ladder,
            calls,
            html,
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
        Command::Explore {
            scenario,
            seeds,
            start,
            jobs,
            shard,
            json,
            bundles,
            baseline,
            junit,
        } => cli::explore::command(cli::explore::ExploreArgs {
            scenario,
            seeds,
            start,
            jobs,
            shard,
            json,
            bundles,
            baseline,
            junit,
        }),
        Command::Kinds { name, json } => cli::kinds::command(name.as_deref(), json),
        Command::Schema => cli::schema::command(),
        Command::Incidents {
            json,
            catalogue,
            seeds,
            jobs,
            junit,
            html,
        } => cli::incidents::command(cli::incidents::IncidentsArgs {
            json,
            catalogue,
            seeds,
            jobs,
            junit,
            html,
        }),
        Command::Replay { bundle } => cli::replay::command(&bundle),
        Command::Shrink { bundle, budget } => cli::shrink::command(&bundle, budget),
        Command::SipLint { files, json } => cli::sip_lint::command(files, json),
    };
    std::process::exit(code);
}
