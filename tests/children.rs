//! Calls that own calls (issue 19, `nodes::sip::children`): a session's
//! child legs end with it, or, with the link broken, leak and keep
//! signalling and media going until their own end; and
//! `children_end_with_parent` tells the two apart.

use crate::support;
use callsim::history::History;
use std::collections::BTreeMap;

/// Every child: (parent, its end time, the parent's first end time, reason).
fn children(h: &History) -> BTreeMap<String, (String, Option<u64>, Option<u64>, String)> {
    let first_end = |call: &str| {
        h.of_call(call)
            .find(|r| r.is("call.end"))
            .map(|r| (r.t_ms, r.str("reason").unwrap_or_default().to_string()))
    };
    h.of_kind("call.start")
        .filter_map(|r| Some((r.call()?.to_string(), r.str("parent")?.to_string())))
        .map(|(child, parent)| {
            let end = first_end(&child);
            let parent_end = first_end(&parent).map(|(t, _)| t);
            let reason = end.as_ref().map(|(_, r)| r.clone()).unwrap_or_default();
            (child, (parent, end.map(|(t, _)| t), parent_end, reason))
        })
        .collect()
}

#[test]
fn children_end_with_their_session_or_leak_and_the_oracle_says_which() {
    let failing = support::mechanism("leaked-child-legs-failing");
    let passing = support::mechanism("leaked-child-legs-passing");
    for seed in 1..=3 {
        let (f, p) = support::demo_pair(&failing, &passing, seed, "children_end_with_parent");
        assert!(f
            .violations
            .iter()
            .all(|v| v.oracle == "children_end_with_parent"));
        let (fc, pc) = (children(&f.history), children(&p.history));
        // Two children per answered session, in both.
        assert_eq!(fc.len(), 40, "seed {seed}");
        assert_eq!(pc.len(), 40, "seed {seed}");
        assert_eq!(
            f.violations.len(),
            fc.len(),
            "one violation per leaked child"
        );
        // The figure: how long children outlive their parent.
        for (child, (parent, end, parent_end, reason)) in &pc {
            let (end, parent_end) = (end.expect("ended"), parent_end.expect("parent ended"));
            assert!(
                end >= parent_end && end - parent_end <= 1000,
                "seed {seed}: {child} of {parent} ended {end} vs {parent_end}"
            );
            assert_eq!(reason, "parent ended", "seed {seed}: {child}");
        }
        for (child, (parent, end, parent_end, _)) in &fc {
            let (end, parent_end) = (end.expect("ended"), parent_end.expect("parent ended"));
            assert!(
                end > parent_end + 100_000,
                "seed {seed}: {child} of {parent} ended {end} vs {parent_end}"
            );
            // A leaked child keeps its media flowing after the parent ended.
            let media_after = f
                .history
                .of_call(child)
                .filter(|r| r.is("media.rx") && r.t_ms > parent_end + 10_000)
                .count();
            assert!(media_after > 50, "seed {seed}: {child}: {media_after}");
        }
    }
}

#[test]
fn a_child_still_ringing_when_its_session_ends_is_cancelled() {
    // The children's callee answers after 20 s; the parent is hung up
    // after 5 s: each child is cancelled, and the carrier sees the CANCEL.
    let text =
        std::fs::read_to_string("fixtures/scenarios/mechanisms/leaked-child-legs-passing.toml")
            .expect("the demo scenario")
            .replace("answer_after = \"2s\"", "answer_after = \"20s\"")
            .replace("hold = \"10s\" }", "hold = \"5s\" }");
    let h = support::history_of(&text, "ringing-children.toml");
    let kids = children(&h);
    assert_eq!(kids.len(), 40);
    for (child, (_, end, parent_end, _)) in &kids {
        let end = end.expect("ended");
        assert!(end - parent_end.expect("parent ended") <= 1000, "{child}");
        let status = h
            .of_call(child)
            .find(|r| r.is("call.end"))
            .and_then(|r| r.u64("status"));
        assert_eq!(status, Some(487), "{child}");
        let cancel_at_carrier = h.of_call(child).any(|r| {
            r.is("sip.recv")
                && r.host.as_ref() == "carrier"
                && r.str("start_line") == Some("CANCEL")
        });
        assert!(cancel_at_carrier, "{child}");
        assert!(!h.of_call(child).any(|r| r.is("call.answered")), "{child}");
    }
}

#[test]
fn bad_children_settings_name_their_line_and_field() {
    let from = "children = { per_call = 2, after = \"1s\", end_with_parent = false }";
    let cases: &[(&str, &str, &str)] = &[
        (
            from,
            "children = { per_call = 0 }",
            "nodes.sip.children.per_call",
        ),
        (
            from,
            "children = { per_call = 17 }",
            "nodes.sip.children.per_call",
        ),
        (
            from,
            "children = { per_call = 1, trunk = \"nowhere\" }",
            "nodes.sip.children.trunk",
        ),
        (
            from,
            "children = { per_call = 1, ringing_timeout = \"0s\" }",
            "nodes.sip.children.ringing_timeout",
        ),
        (
            from,
            "children = { per_call = 1, end_with = true }",
            "nodes.sip.children.end_with",
        ),
    ];
    support::assert_field_errors(
        "fixtures/scenarios/mechanisms/leaked-child-legs-failing.toml",
        cases,
    );
}
