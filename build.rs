//! Two jobs before callsim compiles:
//!
//! 1. Refuses to build without `--cfg tokio_unstable`. Determinism rests on
//!    it: turmoil seeds tokio's own RNG (the one `select!` uses to pick a
//!    branch) only under that cfg, so without it two runs of one seed can
//!    diverge. `.cargo/config.toml` sets it, but a `RUSTFLAGS` in the
//!    environment replaces that setting, and a crate that uses callsim as a
//!    dependency never reads callsim's config at all; both would build a
//!    silently nondeterministic callsim. Cargo tells a build script the
//!    target's cfgs from the rustflags in force (`CARGO_CFG_<NAME>`), so
//!    the check sees exactly what the crate will be compiled with. (A
//!    `compile_error!` in lib.rs would also fire under `cargo doc` and
//!    doctests, which rustdoc compiles without RUSTFLAGS.)
//! 2. Records the git commit the binary is built from, for the `SEED=`
//!    block, failure bundles and `callsim replay`. Absent git (a source
//!    tarball), it records nothing and reports say `unknown`.

fn main() {
    // The cfg comes from the rustflags; rerun when they may have changed.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if std::env::var_os("CARGO_CFG_TOKIO_UNSTABLE").is_none() {
        eprintln!("error: {MISSING_CFG}");
        std::process::exit(1);
    }
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(commit) = commit {
        println!("cargo:rustc-env=CALLSIM_GIT_COMMIT={commit}");
    }
}

const MISSING_CFG: &str = "\
callsim must be compiled with `--cfg tokio_unstable`: without it turmoil \
cannot seed tokio's select! and two runs of one seed may diverge (callsim \
would be silently nondeterministic).
  - RUSTFLAGS is set in the environment, which replaces the flag from \
callsim's .cargo/config.toml: add it, e.g. RUSTFLAGS=\"$RUSTFLAGS --cfg tokio_unstable\" \
(tools that set RUSTFLAGS themselves, like cargo-fuzz, append to yours: \
RUSTFLAGS=\"--cfg tokio_unstable\" cargo fuzz run ...).
  - callsim is a dependency of your crate: add to your own \
.cargo/config.toml:  [build] rustflags = [\"--cfg\", \"tokio_unstable\"]";
