//! The library side of `callsim sip-lint FILE...`: validate SIP messages stored in files
//! and report each as `FILE: ok METHOD-or-CODE` or `FILE: invalid: REASON`, as a JSON
//! document (`[ { "file", "ok", "kind", "reason" } ]`) and as an exit code (CONTRACTS.md:
//! 0 every file is a valid message, 1 at least one is not, 2 a file could not be read).
//!
//! The CLI wiring (arguments, `--json`, printing) belongs to the binary; this module does
//! the work and returns values. Files are read whole, up to one byte more than the largest
//! message the codec accepts, byte for byte (SIP needs its CRLFs).

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use super::codec::parse;
use super::validate::MESSAGE_BYTES_MAX;

/// The verdict on one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LintResult {
    pub ok: bool,
    /// The method (`INVITE`) or status code (`200`) of a valid message.
    pub kind: Option<String>,
    /// Why the message is invalid.
    pub reason: Option<String>,
}

/// Validates one message.
pub fn lint_bytes(bytes: &[u8]) -> LintResult {
    match parse(bytes) {
        Ok(message) => LintResult {
            ok: true,
            kind: Some(message.start_label()),
            reason: None,
        },
        Err(error) => LintResult {
            ok: false,
            kind: None,
            reason: Some(error.to_string()),
        },
    }
}

/// One file's entry in the report; serialises as one element of the `--json` array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileLint {
    pub file: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The file could not be read (exit code 2); not part of the JSON document.
    #[serde(skip)]
    pub unreadable: bool,
}

/// The verdicts on a list of files, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LintReport {
    pub files: Vec<FileLint>,
}

/// Exit code: every file is a valid message.
pub const EXIT_ALL_VALID: i32 = 0;
/// Exit code: at least one file is not a valid message.
pub const EXIT_INVALID: i32 = 1;
/// Exit code: a file could not be read (takes precedence over [`EXIT_INVALID`]).
pub const EXIT_UNREADABLE: i32 = 2;

impl LintReport {
    /// One line per file: `FILE: ok METHOD-or-CODE`, `FILE: invalid: REASON`, or
    /// `FILE: unreadable: REASON`.
    pub fn text_lines(&self) -> Vec<String> {
        self.files
            .iter()
            .map(|f| match (f.ok, f.unreadable) {
                (true, _) => format!("{}: ok {}", f.file, f.kind.as_deref().unwrap_or("")),
                (false, false) => {
                    format!("{}: invalid: {}", f.file, f.reason.as_deref().unwrap_or(""))
                }
                (false, true) => {
                    format!(
                        "{}: unreadable: {}",
                        f.file,
                        f.reason.as_deref().unwrap_or("")
                    )
                }
            })
            .collect()
    }

    /// The `--json` document: an array with one object per file.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(&self.files).expect("plain strings and bools serialise")
    }

    /// 2 when a file could not be read, else 1 when one is invalid, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.files.iter().any(|f| f.unreadable) {
            EXIT_UNREADABLE
        } else if self.files.iter().any(|f| !f.ok) {
            EXIT_INVALID
        } else {
            EXIT_ALL_VALID
        }
    }
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MESSAGE_BYTES_MAX as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Lints each file in order.
pub fn lint_paths<P: AsRef<Path>>(paths: &[P]) -> LintReport {
    let files = paths
        .iter()
        .map(|p| {
            let path = p.as_ref();
            let file = path.display().to_string();
            match read_bounded(path) {
                Ok(bytes) => {
                    let r = lint_bytes(&bytes);
                    FileLint {
                        file,
                        ok: r.ok,
                        kind: r.kind,
                        reason: r.reason,
                        unreadable: false,
                    }
                }
                Err(e) => FileLint {
                    file,
                    ok: false,
                    kind: None,
                    reason: Some(format!("cannot read: {e}")),
                    unreadable: true,
                },
            }
        })
        .collect();
    LintReport { files }
}
