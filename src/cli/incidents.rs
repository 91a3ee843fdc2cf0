//! `callsim incidents [--json]`: runs the incident catalogue
//! (`fixtures/incidents.toml`).

use super::exit;
use std::path::Path;

/// Where the catalogue lives, relative to the working directory.
pub const CATALOGUE: &str = "fixtures/incidents.toml";

pub fn command(_json: bool) -> i32 {
    let path = Path::new(CATALOGUE);
    if !path.exists() {
        eprintln!(
            "error: no incident catalogue at {CATALOGUE}: there are no incidents to run yet (exit 5, never a pass for nothing)"
        );
        return exit::INCOMPLETE;
    }
    eprintln!("error: the incident catalogue at {CATALOGUE} cannot be run by this build yet");
    exit::INCOMPLETE
}
