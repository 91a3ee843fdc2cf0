//! A short, deterministic smoke run of the fuzz targets inside `cargo test`: each seed of
//! the two fuzz corpora, then a few hundred mutants of them per parser (byte flips,
//! inserts, deletes, spliced and duplicated ranges, dropped and repeated lines), through
//! the same checks the cargo fuzz targets make (`fuzz/src/lib.rs`, included here): the SIP
//! codec and the scenario loader never panic, and what they accept round-trips.
//!
//! The long coverage-guided runs stay out of `cargo test` (README, "Fuzzing").
//!
//! SIP seeds: the RFC 4475 torture messages in `<manifest>/../shared/conformance/rfc4475`
//! (test data we may not copy into the repository) and messages callsim builds. When the
//! folder is missing the RFC 4475 part is skipped with a message, unless `CI` is set,
//! where a missing folder is a failure (as in `sip_conformance`). Scenario seeds: every
//! `fixtures/scenarios/**/*.toml`. `FUZZ_SMOKE_CASES` overrides the mutant count (400).

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::path::{Path, PathBuf};

use callsim::sip::codec::{build_request, AddrSpec, RequestSpec, ViaSpec};
use callsim::sip::Method;
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestRunner};

fn cases() -> u32 {
    std::env::var("FUZZ_SMOKE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400)
}

fn runner(seed: u64) -> TestRunner {
    TestRunner::new(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    })
}

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The RFC 4475 messages, or `None` (with a printed line) when the folder is missing.
fn rfc4475() -> Option<Vec<Vec<u8>>> {
    let dir = manifest().join("../shared/conformance/rfc4475");
    if !dir.join("MANIFEST.tsv").is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the RFC 4475 corpus is missing at {}",
            dir.display()
        );
        println!(
            "skipped: RFC 4475 seeds not found at {}; fuzzing built messages only",
            dir.display()
        );
        return None;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("readable corpus folder")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "dat"))
        .collect();
    files.sort();
    Some(
        files
            .iter()
            .map(|p| std::fs::read(p).expect("readable message"))
            .collect(),
    )
}

fn built_messages() -> Vec<Vec<u8>> {
    [Method::Invite, Method::Bye, Method::Options]
        .into_iter()
        .map(|method| {
            let spec = RequestSpec {
                method,
                uri: "sip:+15550001@carrier.example.com".into(),
                via: ViaSpec {
                    host: "sip-1".into(),
                    port: 5060,
                    branch: "z9hG4bKsmoke".into(),
                },
                from: AddrSpec {
                    uri: "sip:agent@sip-1".into(),
                    tag: Some("f1".into()),
                },
                to: AddrSpec {
                    uri: "sip:+15550001@carrier.example.com".into(),
                    tag: None,
                },
                call_id: "smoke-1@sip-1".into(),
                cseq: 1,
                max_forwards: 70,
                contact: Some("sip:agent@sip-1:5060".into()),
                routes: vec!["<sip:lb-1;lr>".into()],
                callsim_call: "out-1".into(),
                extra_headers: vec![("X-Smoke".into(), "yes".into())],
                content_type: Some("application/sdp".into()),
                body: b"v=0\r\n".to_vec(),
            };
            build_request(&spec)
                .expect("the smoke seed builds")
                .as_bytes()
                .to_vec()
        })
        .collect()
}

fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable fixtures folder")
        .map(|e| e.expect("readable entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            scenario_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
}

fn scenario_seeds() -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    scenario_files(&manifest().join("fixtures/scenarios"), &mut files);
    assert!(files.len() > 10, "the scenario fixtures are there");
    files
        .iter()
        .map(|p| std::fs::read(p).expect("readable scenario"))
        .collect()
}

/// One edit of a mutant: what to do, where, with which byte or other seed.
#[derive(Clone, Debug)]
enum Edit {
    Set(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Delete(prop::sample::Index, prop::sample::Index),
    /// Copies a range of another seed over this position.
    Splice(
        prop::sample::Index,
        prop::sample::Index,
        prop::sample::Index,
        u8,
    ),
    /// Repeats a range in place.
    Duplicate(prop::sample::Index, u8),
    DeleteLine(prop::sample::Index),
    RepeatLine(prop::sample::Index, u8),
    /// Writes a number, an interesting one, at a position.
    Number(prop::sample::Index, prop::sample::Index),
}

const NUMBERS: [&str; 12] = [
    "0",
    "-1",
    "18446744073709551616",
    "4294967296",
    "2147483648",
    "0.5",
    "nan",
    "inf",
    "1e308",
    "\"1us\"",
    "\"9999999d\"",
    "65536",
];

fn edit() -> impl Strategy<Value = Edit> {
    let i = any::<prop::sample::Index>;
    prop_oneof![
        (i(), any::<u8>()).prop_map(|(a, b)| Edit::Set(a, b)),
        (i(), any::<u8>()).prop_map(|(a, b)| Edit::Insert(a, b)),
        (i(), i()).prop_map(|(a, b)| Edit::Delete(a, b)),
        (i(), i(), i(), any::<u8>()).prop_map(|(a, b, c, d)| Edit::Splice(a, b, c, d)),
        (i(), any::<u8>()).prop_map(|(a, b)| Edit::Duplicate(a, b)),
        i().prop_map(Edit::DeleteLine),
        (i(), 1u8..20).prop_map(|(a, b)| Edit::RepeatLine(a, b)),
        (i(), i()).prop_map(|(a, b)| Edit::Number(a, b)),
    ]
}

/// Line `k`'s byte range (the line feed included), of `bytes`'s lines.
fn line_range(bytes: &[u8], k: &prop::sample::Index) -> std::ops::Range<usize> {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&s| s < bytes.len())
        .collect();
    let start = starts[k.index(starts.len())];
    let end = bytes[start..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes.len(), |p| start + p + 1);
    start..end
}

fn mutate(seeds: &[Vec<u8>], pick: &prop::sample::Index, edits: &[Edit]) -> Vec<u8> {
    let mut b = seeds[pick.index(seeds.len())].clone();
    for e in edits {
        if b.is_empty() {
            b.push(b'\n');
        }
        let n = b.len();
        match e {
            Edit::Set(at, byte) => b[at.index(n)] = *byte,
            Edit::Insert(at, byte) => b.insert(at.index(n + 1), *byte),
            Edit::Delete(at, len) => {
                let start = at.index(n);
                let end = (start + 1 + len.index(16)).min(n);
                b.drain(start..end);
            }
            Edit::Splice(at, other, from, len) => {
                let o = &seeds[other.index(seeds.len())];
                if !o.is_empty() {
                    let s = from.index(o.len());
                    let e = (s + usize::from(*len)).min(o.len());
                    let at = at.index(n + 1);
                    b.splice(at..at, o[s..e].iter().copied());
                }
            }
            Edit::Duplicate(at, len) => {
                let s = at.index(n);
                let e = (s + 1 + usize::from(*len)).min(n);
                let copy = b[s..e].to_vec();
                b.splice(e..e, copy);
            }
            Edit::DeleteLine(k) => {
                let r = line_range(&b, k);
                b.drain(r);
            }
            Edit::RepeatLine(k, times) => {
                let r = line_range(&b, k);
                let line = b[r.clone()].to_vec();
                for _ in 0..*times {
                    b.splice(r.end..r.end, line.iter().copied());
                }
            }
            Edit::Number(at, which) => {
                let at = at.index(n + 1);
                let num = NUMBERS[which.index(NUMBERS.len())].bytes();
                b.splice(at..at, num);
            }
        }
    }
    b
}

/// Every seed as is, then `cases()` mutants, through `check`.
fn smoke(seeds: &[Vec<u8>], rng_seed: u64, check: fn(&[u8])) {
    for s in seeds {
        check(s);
    }
    let strategy = (
        any::<prop::sample::Index>(),
        proptest::collection::vec(edit(), 1..6),
    );
    runner(rng_seed)
        .run(&strategy, |(pick, edits)| {
            check(&mutate(seeds, &pick, &edits));
            Ok(())
        })
        .expect("no mutant fails a check");
}

#[test]
fn sip_codec_survives_mutated_seeds() {
    let mut seeds = built_messages();
    if let Some(rfc) = rfc4475() {
        assert_eq!(rfc.len(), 49, "the RFC 4475 corpus has 49 messages");
        seeds.extend(rfc);
    }
    smoke(&seeds, 4475, checks::sip);
}

#[test]
fn scenario_loader_survives_mutated_fixtures() {
    smoke(&scenario_seeds(), 3261, checks::scenario);
}

/// Every minimised input the fuzzers found (`fixtures/fuzz-regressions/`), through the
/// same checks: each is a bug that must stay fixed.
#[test]
fn fuzz_regressions_replay() {
    let root = manifest().join("fixtures/fuzz-regressions");
    let mut replayed = 0;
    for (dir, ext, check) in [
        ("sip", "dat", checks::sip as fn(&[u8])),
        ("scenario", "in", checks::scenario),
    ] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .expect("the regressions folder")
            .map(|e| e.expect("readable entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect();
        files.sort();
        for f in files {
            println!("replaying {}", f.display());
            check(&std::fs::read(&f).expect("readable regression input"));
            replayed += 1;
        }
    }
    assert!(replayed >= 1, "the regressions are there");
}
