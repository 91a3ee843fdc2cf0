//! Structural tests of the HTML writer: pages parse as well-formed XML
//! (every element closed, attributes quoted), the data marks of each chart
//! add up to the history they were drawn from, text is escaped, and the
//! page holds nothing of the wall clock.

use super::*;
use crate::history::{Record, Value};
use crate::oracles::{OracleKind, Violation};
use quick_xml::events::Event as Xml;
use std::collections::BTreeMap;

/// One element of a page: its tag and attributes.
#[derive(Debug)]
struct Element {
    tag: String,
    attrs: BTreeMap<String, String>,
}

impl Element {
    fn has_class(&self, class: &str) -> bool {
        self.attrs
            .get("class")
            .is_some_and(|c| c.split(' ').any(|w| w == class))
    }

    fn n(&self) -> u64 {
        self.attrs["data-n"].parse().expect("data-n is a count")
    }
}

/// Parses `page` as XML, failing on any unclosed or mismatched element,
/// and returns its elements in document order.
fn elements(page: &str) -> Vec<Element> {
    let mut reader = quick_xml::Reader::from_str(page);
    let mut out = Vec::new();
    let mut depth = 0i64;
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed at {}: {e}", reader.buffer_position()));
        let (start, open) = match &event {
            Xml::Start(s) => (s, true),
            Xml::Empty(s) => (s, false),
            Xml::End(_) => {
                depth -= 1;
                continue;
            }
            Xml::Eof => break,
            _ => continue,
        };
        let attrs = start
            .attributes()
            .map(|a| {
                let a = a.expect("a well-formed attribute");
                (
                    a.key.0.to_string(),
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .expect("an escaped value")
                        .into_owned(),
                )
            })
            .collect();
        out.push(Element {
            tag: start.name().0.to_string(),
            attrs,
        });
        if open {
            depth += 1;
        }
    }
    assert_eq!(depth, 0, "every element is closed");
    out
}

fn inside<'a>(els: &'a [Element], svg_id: &str) -> impl Iterator<Item = &'a Element> {
    // Elements after the svg's start, up to the next svg.
    let start = els
        .iter()
        .position(|e| e.tag == "svg" && e.attrs.get("id").map(String::as_str) == Some(svg_id))
        .unwrap_or_else(|| panic!("an <svg id={svg_id:?}>"));
    els[start + 1..].iter().take_while(|e| e.tag != "svg")
}

fn run_of(path: &str) -> Report {
    let scenario = crate::scenario::Scenario::load(std::path::Path::new(path)).expect("a fixture");
    crate::report::run_once(&scenario, 1).expect("the run completes")
}

#[test]
fn a_run_page_is_well_formed_and_its_marks_add_up_to_the_history() {
    let report = run_of("fixtures/scenarios/faults/platform-partition.toml");
    let page = run_page(&RunView::of_report(&report));
    let els = elements(&page);
    let h = &report.history;

    // Outcomes: one segment per (window, status), summing to every call.end.
    let segs: Vec<&Element> = inside(&els, "outcomes")
        .filter(|e| e.has_class("bar-seg"))
        .collect();
    let ends = h.of_kind("call.end").count() as u64;
    assert!(ends > 0, "the fixture has calls");
    assert_eq!(segs.iter().map(|e| e.n()).sum::<u64>(), ends);
    for status in report.calls.by_status.keys() {
        let drawn: u64 = segs
            .iter()
            .filter(|e| &e.attrs["data-status"] == status)
            .map(|e| e.n())
            .sum();
        assert_eq!(drawn, report.calls.by_status[status], "status {status}");
    }

    // Histograms: every sample in a bin.
    let setup = crate::report::stats::call_setup_samples_ms(h);
    assert_eq!(setup.len() as u64, report.sip_stats.setup_ms.count);
    let bins: u64 = inside(&els, "setup-time")
        .filter(|e| e.has_class("bin"))
        .map(Element::n)
        .sum();
    assert_eq!(bins, setup.len() as u64);
    let durations: u64 = inside(&els, "call-duration")
        .filter(|e| e.has_class("bin"))
        .map(Element::n)
        .sum();
    assert_eq!(durations, data::call_durations_ms(h).len() as u64);
    assert!(durations > 0);

    // Heat map: every SIP message sent, by host.
    let cells: Vec<&Element> = inside(&els, "host-rates")
        .filter(|e| e.has_class("cell"))
        .collect();
    assert_eq!(
        cells.iter().map(|e| e.n()).sum::<u64>(),
        h.of_kind("sip.send").count() as u64
    );
    for (host, stats) in &report.sip_stats.by_host {
        let sent: u64 = stats.requests_sent.values().sum::<u64>()
            + stats
                .responses_sent
                .values()
                .flat_map(|c| c.values())
                .sum::<u64>();
        let drawn: u64 = cells
            .iter()
            .filter(|e| &e.attrs["data-host"] == host)
            .map(|e| e.n())
            .sum();
        assert_eq!(drawn, sent, "host {host}");
    }

    // Timeline: one band per fault of the plan, at its start.
    let starts: Vec<u64> = h.of_kind("fault.start").map(|r| r.t_ms).collect();
    assert!(!starts.is_empty(), "the fixture has faults");
    let bands: Vec<u64> = inside(&els, "timeline")
        .filter(|e| e.has_class("fault"))
        .map(|e| e.attrs["data-from-ms"].parse().expect("ms"))
        .collect();
    assert_eq!(bands, starts);

    // Self-contained: no script, nothing fetched.
    assert!(!page.contains("<script"));
    assert!(els.iter().all(|e| !e.attrs.contains_key("src")));
    assert!(els
        .iter()
        .filter_map(|e| e.attrs.get("href"))
        .all(|href| !href.contains("//")));
}

#[test]
fn the_page_ignores_the_wall_clock() {
    let mut report = run_of("fixtures/scenarios/faults/platform-partition.toml");
    let first = run_page(&RunView::of_report(&report));
    report.wall_ms += 12345;
    assert_eq!(run_page(&RunView::of_report(&report)), first);
}

fn record(t_ms: u64, host: &str, kind: &str, fields: Vec<(&'static str, Value)>) -> Record {
    Record::new(t_ms, host, kind, fields)
}

#[test]
fn alarms_and_violations_are_marked_and_text_is_escaped() {
    let history = History {
        records: vec![
            record(
                1000,
                "testbed",
                "fault.start",
                vec![
                    ("fault", Value::U64(0)),
                    ("fault_kind", Value::Str("loss".into())),
                    ("target", Value::Str("<sip>".into())),
                ],
            ),
            record(
                4000,
                "monitor",
                "alert.fire",
                vec![
                    ("monitor", Value::Str("api_5xx_rate".into())),
                    ("value", Value::F64(0.5)),
                    ("threshold", Value::F64(0.1)),
                ],
            ),
        ],
    };
    let violations = vec![Violation {
        oracle: "honest_status".into(),
        kind: OracleKind::Safety,
        at_ms: 5000,
        call: None,
        message: "</pre><script>alert(1)</script>".into(),
        ladder: "a --INVITE--> b & <c>".into(),
    }];
    let plan = vec!["[0] loss <sip> at=1s".to_string()];
    let page = run_page(&RunView {
        scenario: "x & y.toml",
        seed: 3,
        verdict: Verdict::Fail,
        sim_ms: 10_000,
        trace_hash: "0",
        plan: &plan,
        excused_calls: 0,
        history: &history,
        violations: &violations,
    });
    let els = elements(&page);
    assert!(!page.contains("<script"), "the message is escaped");
    assert!(page.contains("a --INVITE--&gt; b &amp; &lt;c&gt;"));
    let marks: Vec<&Element> = inside(&els, "timeline").collect();
    assert_eq!(marks.iter().filter(|e| e.has_class("alarm")).count(), 1);
    assert_eq!(
        marks.iter().filter(|e| e.has_class("alarm-rule")).count(),
        1
    );
    assert_eq!(marks.iter().filter(|e| e.has_class("violation")).count(), 1);
    // The fault never ended: open to the end of the run.
    let open: Vec<&&Element> = marks.iter().filter(|e| e.has_class("open")).collect();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].attrs["data-to-ms"], "10000");
    assert_eq!(
        els.iter()
            .filter(|e| e.tag == "details" && e.has_class("violation"))
            .count(),
        1
    );
}

#[test]
fn a_comparison_page_shows_both_sides_and_every_figure_against_its_bounds() {
    let history = History::default();
    let run = |verdict| RunView {
        scenario: "s.toml",
        seed: 1,
        verdict,
        sim_ms: 1000,
        trace_hash: "0",
        plan: &[],
        excused_calls: 0,
        history: &history,
        violations: &[],
    };
    let cell = |value, bounds| FigureCell {
        value,
        spread: None,
        bounds,
    };
    let page = comparison_page(&Comparison {
        id: "inc",
        title: "an incident",
        reports: &[],
        figures: vec![
            FigureRow {
                name: "share".into(),
                about: String::new(),
                cells: [cell(0.3, Some([0.2, 0.4])), cell(0.1, Some([0.0, 0.0]))],
            },
            FigureRow {
                name: "late".into(),
                about: String::new(),
                cells: [cell(f64::NAN, None), cell(2.0, None)],
            },
        ],
        sides: [
            Side {
                label: "buggy",
                expected: Verdict::Fail,
                reproduced: (1, 1),
                misses: &[],
                run: run(Verdict::Fail),
            },
            Side {
                label: "fixed",
                expected: Verdict::Pass,
                reproduced: (0, 1),
                misses: &["share = 0.1 outside [0, 0]".to_string()],
                run: run(Verdict::Pass),
            },
        ],
    });
    let els = elements(&page);
    for id in [
        "buggy-timeline",
        "fixed-timeline",
        "buggy-outcomes",
        "fixed-host-rates",
        "figures",
    ] {
        assert!(
            els.iter()
                .any(|e| e.tag == "svg" && e.attrs.get("id").map(String::as_str) == Some(id)),
            "{id}"
        );
    }
    let dots: Vec<&Element> = inside(&els, "figures")
        .filter(|e| e.tag == "circle")
        .collect();
    // Three finite values; the fixed share is outside its bounds.
    assert_eq!(dots.len(), 3);
    assert_eq!(dots.iter().filter(|e| e.has_class("miss")).count(), 1);
    assert_eq!(
        inside(&els, "figures")
            .filter(|e| e.has_class("bounds"))
            .count(),
        2
    );
}
