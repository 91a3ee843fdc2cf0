//! `callsim sip-lint FILE... [--json]`: parses SIP messages from files with
//! callsim's codec, one line per file (`FILE: ok METHOD-or-CODE` or
//! `FILE: invalid: REASON`). Exit 0 when every file is a valid message, 1
//! when one is not (a finding), 2 when a file could not be read.

use std::path::PathBuf;

pub fn command(files: Vec<PathBuf>, json: bool) -> i32 {
    let report = crate::sip::lint::lint_paths(&files);
    for line in report.text_lines() {
        eprintln!("{line}");
    }
    if json {
        println!("{}", report.json());
    }
    report.exit_code()
}
