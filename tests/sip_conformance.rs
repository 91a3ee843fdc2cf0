//! RFC 4475 torture messages through the codec: how many of the 13 valid messages are
//! accepted, how many of the 19 invalid ones rejected, and how many of all 49 panic.
//!
//! The messages live outside the repository, in `<manifest>/../shared/conformance/rfc4475`
//! (they are test data we may not copy). When the folder is missing the test prints a
//! skipped line, unless `CI` is set, where a missing folder is a failure.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use callsim::sip::codec::parse;

/// Semantic messages (RFC 4475 sections 3.2-3.4) that the codec rejects, each because the
/// RFC asks for a 400: missing mandatory headers, two Content-Length headers, duplicated
/// single-valued headers.
const SEMANTIC_REJECTED: [&str; 3] = ["insuf.dat", "mcl01.dat", "multi01.dat"];

fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/rfc4475");
    if dir.join("MANIFEST.tsv").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but the RFC 4475 corpus is missing at {}",
        dir.display()
    );
    println!("skipped: RFC 4475 corpus not found at {}", dir.display());
    None
}

#[test]
fn rfc4475_counts() {
    let Some(dir) = corpus_dir() else { return };
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("readable manifest");
    let (mut valid, mut valid_ok, mut invalid, mut invalid_rejected, mut panics) = (0, 0, 0, 0, 0);
    let mut semantic_rejected = BTreeSet::new();
    let mut semantic = 0;
    for line in manifest.lines().skip(1) {
        let (file, class) = line.split_once('\t').expect("file<TAB>class");
        let bytes = std::fs::read(dir.join(file)).expect("readable message");
        let outcome = catch_unwind(AssertUnwindSafe(|| parse(&bytes)));
        let Ok(result) = outcome else {
            panics += 1;
            println!("{class:8} {file:16} PANIC");
            continue;
        };
        match &result {
            Ok(m) => println!("{class:8} {file:16} ok {}", m.start_label()),
            Err(e) => println!("{class:8} {file:16} rejected: {e}"),
        }
        match class {
            "valid" => {
                valid += 1;
                valid_ok += usize::from(result.is_ok());
            }
            "invalid" => {
                invalid += 1;
                invalid_rejected += usize::from(result.is_err());
            }
            "semantic" => {
                semantic += 1;
                if result.is_err() {
                    semantic_rejected.insert(file.to_string());
                }
            }
            other => panic!("unknown class {other} in MANIFEST.tsv"),
        }
    }
    println!(
        "RFC 4475: valid accepted {valid_ok}/{valid}, invalid rejected {invalid_rejected}/{invalid}, \
         semantic rejected {}/{semantic}, panics {panics}",
        semantic_rejected.len()
    );
    assert_eq!((valid, invalid, semantic), (13, 19, 17), "corpus shape");
    assert_eq!(valid_ok, 13, "valid messages accepted");
    assert_eq!(invalid_rejected, 19, "invalid messages rejected");
    assert_eq!(panics, 0, "panics over all 49 messages");
    let expected: BTreeSet<String> = SEMANTIC_REJECTED.iter().map(|s| s.to_string()).collect();
    assert_eq!(semantic_rejected, expected, "semantic messages rejected");
}

#[test]
fn sip_lint_over_the_corpus() {
    let Some(dir) = corpus_dir() else { return };
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("readable manifest");
    let rows: Vec<(String, String)> = manifest
        .lines()
        .skip(1)
        .map(|l| {
            let (f, c) = l.split_once('\t').expect("file<TAB>class");
            (f.to_string(), c.to_string())
        })
        .collect();
    let paths: Vec<PathBuf> = rows.iter().map(|(f, _)| dir.join(f)).collect();
    let report = callsim::sip::lint::lint_paths(&paths);
    assert_eq!(report.exit_code(), 1, "the corpus holds invalid messages");
    for ((file, class), result) in rows.iter().zip(&report.files) {
        let expect_ok = match class.as_str() {
            "valid" => true,
            "invalid" => false,
            _ => !SEMANTIC_REJECTED.contains(&file.as_str()),
        };
        assert_eq!(
            result.ok, expect_ok,
            "{file} ({class}): {:?}",
            result.reason
        );
    }
}
