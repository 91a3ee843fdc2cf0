//! The SBC relays media by address, never by call label: no code in
//! `src/nodes/sbc/` reads the call a media payload names (`MEDIA <call>
//! <seq>`, `media_stream::call_of`) or keys anything by the
//! `X-Callsim-Call` header. The header is read once per call, when the
//! INVITE arrives, and copied as a label onto every message of both legs
//! of the B2BUA (so the history files them under their call).
//!
//! What the relay does instead (a pair of anchor ports per leg, each port
//! forwarding to the address the other side's SDP named) is proved by the
//! unit tests of `nodes::sbc::relay`, by tests/sbc.rs (media across both
//! pods, a pool anchor's media on another pod pair) and by the
//! vapi-sbc-networking incident (silent calls in the buggy variant, none
//! in the fixed one after restarts).

use std::path::Path;

/// The SBC's source files, without their comment lines.
fn sbc_code() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/nodes/sbc");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("src/nodes/sbc")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable");
            // Unit tests may name payloads (to show they are not control).
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code: Vec<&str> = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect();
            (path.display().to_string(), code.join("\n"))
        })
        .collect()
}

#[test]
fn the_sbc_never_reads_a_call_label_from_media_or_keys_by_it() {
    for (path, code) in sbc_code() {
        for forbidden in ["call_of(", "\"MEDIA", "media_stream::"] {
            assert!(
                !code.contains(forbidden),
                "{path} reads media payloads: {forbidden}"
            );
        }
        let label_reads = code.matches("callsim_call()").count();
        let allowed = usize::from(path.ends_with("pod.rs"));
        assert_eq!(
            label_reads, allowed,
            "{path}: the X-Callsim-Call header is read {label_reads} times; only the copy of the label for the other leg may read it"
        );
    }
}

/// A pod that relearns binds every anchor port when it starts, so its
/// pair count is bounded; the error names the field.
#[test]
fn relearning_pods_have_a_bounded_number_of_anchor_pairs() {
    use callsim::scenario::Scenario;
    let base =
        "[run]\nduration = \"10s\"\n[nodes.echo]\n[nodes.sbc-inbound]\nnext_hops = [\"echo\"]\n";
    for (config, field) in [
        ("relearn_media = true", Some("nodes.sbc-inbound.relays_max")),
        ("relearn_media = true\nrelays_max = 1024", None),
        ("relays_max = 30000", Some("nodes.sbc-inbound.relays_max")),
    ] {
        let text = format!("{base}{config}\n");
        match (Scenario::from_toml(&text, "sbc.toml".as_ref()), field) {
            (Ok(_), None) => {}
            (Err(e), Some(field)) => assert_eq!(e.field, field, "{config}: {e}"),
            (result, _) => panic!("{config}: {:?}", result.err()),
        }
    }
}
