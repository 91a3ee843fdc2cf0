//! `callsim sip-lint FILE... [--json]`: parses SIP messages from files with
//! callsim's codec. Exit 0 when every file is a valid message, 1 when one
//! is not (a finding), 2 when a file could not be read.
//!
//! The per-file verdicts are the command's result, so they go to stdout,
//! one line per file (`FILE: ok METHOD-or-CODE`, `FILE: invalid: REASON`,
//! `FILE: unreadable: ...`); this is the one exception to "human text on
//! stderr". With `--json`, stdout holds only the JSON document (one
//! document, as for every command) and the lines go to stderr.

use std::path::PathBuf;

pub fn command(files: Vec<PathBuf>, json: bool) -> i32 {
    let report = crate::sip::lint::lint_paths(&files);
    for line in report.text_lines() {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
    if json {
        println!("{}", report.json());
    }
    report.exit_code()
}
