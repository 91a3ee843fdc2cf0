//! The library side of `callsim sip-lint`: text lines, the JSON document and the exit
//! codes of CONTRACTS.md (0 all valid, 1 any invalid, 2 a file unreadable).

use std::path::{Path, PathBuf};

use callsim::sip::lint::{lint_bytes, lint_paths};

/// Writes `text` with CRLF line ends to `dir/name`.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text.replace('\n', "\r\n")).expect("written");
    path
}

const VALID: &str = "OPTIONS sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKabc
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: c1@example.com
CSeq: 1 OPTIONS
Content-Length: 0

";

#[test]
fn one_message() {
    let r = lint_bytes(VALID.replace('\n', "\r\n").as_bytes());
    assert!(r.ok);
    assert_eq!(r.kind.as_deref(), Some("OPTIONS"));
    let r = lint_bytes(b"SIP/2.0 486 Busy Here\r\n\r\n");
    assert!(!r.ok);
    assert_eq!(r.reason.as_deref(), Some("missing From header"));
}

#[test]
fn all_valid_exits_0() {
    let dir = crate::support::scratch_dir("sip_lint");
    let a = write(&dir, "valid.sip", VALID);
    let report = lint_paths(&[&a]);
    assert_eq!(report.exit_code(), 0);
    assert_eq!(
        report.text_lines(),
        vec![format!("{}: ok OPTIONS", a.display())]
    );
}

#[test]
fn an_invalid_file_exits_1_and_says_why() {
    let dir = crate::support::scratch_dir("sip_lint");
    let a = write(&dir, "valid.sip", VALID);
    let b = write(
        &dir,
        "mismatch.sip",
        &VALID.replace("1 OPTIONS", "1 INVITE"),
    );
    let report = lint_paths(&[&a, &b]);
    assert_eq!(report.exit_code(), 1);
    assert_eq!(
        report.text_lines()[1],
        format!(
            "{}: invalid: CSeq method INVITE does not match the request method OPTIONS",
            b.display()
        )
    );
    let json: serde_json::Value = serde_json::from_str(&report.json()).expect("json");
    assert_eq!(
        json,
        serde_json::json!([
            { "file": a.display().to_string(), "ok": true, "kind": "OPTIONS" },
            { "file": b.display().to_string(), "ok": false,
              "reason": "CSeq method INVITE does not match the request method OPTIONS" },
        ])
    );
}

#[test]
fn an_unreadable_file_exits_2() {
    let dir = crate::support::scratch_dir("sip_lint");
    let a = write(&dir, "valid.sip", VALID);
    let missing = dir.join("no-such-file.sip");
    let report = lint_paths(&[a, missing.clone()]);
    assert_eq!(report.exit_code(), 2);
    assert!(report.text_lines()[1]
        .starts_with(&format!("{}: unreadable: cannot read", missing.display())));
    let json: serde_json::Value = serde_json::from_str(&report.json()).expect("json");
    assert_eq!(json[1]["ok"], serde_json::json!(false));
}
