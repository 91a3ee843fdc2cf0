//! The document around the charts: head with the inline stylesheet, the
//! sections of one run (summary, timeline, outcomes, distributions, host
//! rates, violations with their ladders), the incident comparison (the
//! catalogue's figures against their bounds, then both runs side by
//! side) and the incidents index.

use super::charts;
use super::data::{self, short, time_text, Windows};
use super::markup::Markup;
use super::{Comparison, FigureCell, IndexEntry, RunView};
use crate::report::Verdict;

/// Violations drawn with their ladders; the rest are listed in one line
/// each, up to [`VIOLATION_LINES_MAX`].
pub const LADDERS_MAX: usize = 12;
pub const VIOLATION_LINES_MAX: usize = 200;

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:16px 24px;color:#1c1c1c;background:#fff}
h1{font-size:20px;margin:0 0 8px}h2{font-size:17px;margin:20px 0 6px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:14px 0 4px}
table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#2e7d32;font-weight:600}.fail{color:#c62828;font-weight:600}
.ok{background:#e8f5e9}.miss{background:#ffebee}
svg.chart{width:100%;max-width:960px;height:auto;display:block;font-size:11px;fill:#333}
svg.figures{max-width:720px}
p.chart-title{margin:2px 0;color:#444;font-size:13px}
svg.chart text.caption{fill:#666}svg.chart text.empty,svg.chart text.more{fill:#888;font-style:italic}
.axis line{stroke:#888;stroke-width:1}.axis line.grid{stroke:#eee}
rect.stripe{fill:#f7f7f7}
.fault{fill:#e57373;fill-opacity:.75}.fault.open{fill-opacity:.45;stroke:#c62828;stroke-dasharray:3 2}
.alarm{fill:#d50000}.alarm-rule{stroke:#d50000;stroke-dasharray:4 3;stroke-opacity:.6}
.violation{fill:#6a1b9a}.healthy{fill:#43a047}.unhealthy{fill:#fb8c00}
.ejection{fill:#8e24aa;fill-opacity:.5}.deploy{fill:#1e88e5}.deploy-aborted{fill:#90a4ae}
rect.bin{fill:#5c6bc0}rect.cell{fill:#1565c0}
.bounds{fill:#a5d6a7;fill-opacity:.7}.spread{stroke:#555;stroke-width:2}
circle.value{stroke:#fff;stroke-width:1.5}circle.value.ok{fill:#2e7d32}circle.value.miss{fill:#c62828}
ul.legend{list-style:none;padding:0;margin:2px 0 8px;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px}
.swatch{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px}
.pair{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:16px}
.sides{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:24px}.sides>section{min-width:0}
pre{background:#f8f8f8;border:1px solid #e4e4e4;padding:6px;overflow-x:auto;font-size:11px;line-height:1.3}
details{margin:4px 0}summary{cursor:pointer}
.note{color:#666;font-style:italic;margin:2px 0}
";

/// A whole page: doctype, head (charset, title, inline style) and a body
/// that `body` writes.
pub fn document(title: &str, body: impl FnOnce(&mut Markup)) -> String {
    let mut m = Markup::new();
    m.raw("<!DOCTYPE html>\n");
    m.open("html", &[("lang", "en")]);
    m.open("head", &[]);
    m.empty("meta", &[("charset", "utf-8")]);
    m.empty(
        "meta",
        &[
            ("name", "viewport"),
            ("content", "width=device-width, initial-scale=1"),
        ],
    );
    m.element("title", &[], title);
    m.element("style", &[], STYLE);
    m.close("head");
    m.open("body", &[]);
    body(&mut m);
    m.close("body");
    m.close("html");
    let mut page = m.finish();
    page.push('\n');
    page
}

fn verdict_text(v: Verdict) -> (&'static str, &'static str) {
    match v {
        Verdict::Pass => ("PASS", "pass"),
        Verdict::Fail => ("FAIL", "fail"),
    }
}

fn row(m: &mut Markup, name: &str, value: &str) {
    m.open("tr", &[])
        .element("th", &[], name)
        .element("td", &[], value)
        .close("tr");
}

/// Every section of one run; element ids start with `prefix`.
pub fn run_sections(m: &mut Markup, prefix: &str, run: &RunView<'_>) {
    let id = |name: &str| format!("{prefix}{name}");
    summary(m, run);
    let windows = Windows::over(run.sim_ms);

    m.element("h3", &[], "Timeline");
    let timeline = data::timeline(run.history, run.violations, run.sim_ms);
    charts::timeline(m, &id("timeline"), &timeline);

    m.element("h3", &[], "Call outcomes");
    let outcomes = data::outcome_windows(run.history, windows);
    charts::outcome_bars(m, &id("outcomes"), &outcomes);

    m.element("h3", &[], "Setup time and call duration");
    let setup = crate::report::stats::call_setup_samples_ms(run.history);
    let durations = data::call_durations_ms(run.history);
    m.open("div", &[("class", "pair")]);
    m.open("div", &[]);
    charts::histogram(
        m,
        &id("setup-time"),
        "Setup time per call: INVITE to 2xx on its first leg",
        &data::histogram(&setup),
        setup.len(),
    );
    m.close("div");
    m.open("div", &[]);
    charts::histogram(
        m,
        &id("call-duration"),
        "Call duration: call.start to call.end",
        &data::histogram(&durations),
        durations.len(),
    );
    m.close("div");
    m.close("div");

    m.element("h3", &[], "SIP messages per host");
    charts::host_heatmap(
        m,
        &id("host-rates"),
        &data::host_rates(run.history, windows),
    );

    violations(m, prefix, run);
}

fn summary(m: &mut Markup, run: &RunView<'_>) {
    let (word, class) = verdict_text(run.verdict);
    let calls = crate::report::call_counts(run.history);
    let stats = crate::report::stats::sip_stats(run.history, run.sim_ms);
    m.open("table", &[("class", "summary")]);
    row(m, "scenario", run.scenario);
    row(m, "seed", &run.seed.to_string());
    m.open("tr", &[])
        .element("th", &[], "verdict")
        .open("td", &[])
        .element("span", &[("class", class)], word)
        .text(&format!(" ({} violations)", run.violations.len()))
        .close("td")
        .close("tr");
    row(m, "sim time", &time_text(run.sim_ms));
    row(m, "events", &run.history.len().to_string());
    row(m, "trace hash", run.trace_hash);
    let outcomes: Vec<String> = calls
        .by_outcome
        .iter()
        .map(|(o, n)| format!("{o} {n}"))
        .collect();
    row(
        m,
        "calls",
        &format!("{} ({})", calls.total, outcomes.join(", ")),
    );
    if run.excused_calls > 0 {
        row(m, "excused calls", &run.excused_calls.to_string());
    }
    let p = |d: &crate::report::stats::Percentiles| {
        if d.count == 0 {
            "-".to_string()
        } else {
            format!(
                "p50 {} p90 {} p99 {} max {} ({} calls)",
                time_text(d.p50),
                time_text(d.p90),
                time_text(d.p99),
                time_text(d.max),
                d.count
            )
        }
    };
    row(m, "setup time", &p(&stats.setup_ms));
    row(m, "post-dial delay", &p(&stats.post_dial_delay_ms));
    let retransmissions: u64 = stats.retransmissions_by_message.values().sum();
    row(m, "retransmissions", &retransmissions.to_string());
    m.open("tr", &[])
        .element("th", &[], "fault plan")
        .open("td", &[]);
    if run.plan.is_empty() {
        m.text("(none)");
    } else {
        m.open("ul", &[]);
        for line in run.plan {
            m.element("li", &[], line);
        }
        m.close("ul");
    }
    m.close("td").close("tr");
    m.close("table");
}

fn violations(m: &mut Markup, prefix: &str, run: &RunView<'_>) {
    m.element("h3", &[], &format!("Violations ({})", run.violations.len()));
    if run.violations.is_empty() {
        m.element("p", &[("class", "note")], "none: every oracle held");
        return;
    }
    m.open(
        "div",
        &[
            ("id", &format!("{prefix}violations")),
            ("class", "violations"),
        ],
    );
    for (i, v) in run.violations.iter().enumerate().take(VIOLATION_LINES_MAX) {
        let line = format!(
            "[{:?}] {} at {}{}: {}",
            v.kind,
            v.oracle,
            time_text(v.at_ms),
            v.call
                .as_deref()
                .map(|c| format!(" call {c}"))
                .unwrap_or_default(),
            v.message
        );
        if i >= LADDERS_MAX {
            m.element("p", &[("class", "violation-line")], &line);
            continue;
        }
        let attrs: &[(&str, &str)] = if i == 0 {
            &[("class", "violation"), ("open", "open")]
        } else {
            &[("class", "violation")]
        };
        m.open("details", attrs);
        m.element("summary", &[], &line);
        if !v.ladder.is_empty() {
            m.element("pre", &[("class", "ladder")], &v.ladder);
        }
        if let Some(call) = &v.call {
            let mermaid = crate::history::mermaid::sequence_diagram(run.history, call);
            if !mermaid.is_empty() {
                m.open("details", &[("class", "mermaid-source")]);
                m.element(
                    "summary",
                    &[],
                    "Mermaid source (paste into a GitHub comment)",
                );
                m.element("pre", &[], &format!("```mermaid\n{mermaid}```"));
                m.close("details");
            }
        }
        m.close("details");
    }
    if run.violations.len() > VIOLATION_LINES_MAX {
        m.element(
            "p",
            &[("class", "note")],
            &format!(
                "{} more violations not listed",
                run.violations.len() - VIOLATION_LINES_MAX
            ),
        );
    }
    m.close("div");
}

/// An incident: figures against bounds, then buggy and fixed side by side.
pub fn comparison(m: &mut Markup, c: &Comparison<'_>) {
    if !c.reports.is_empty() {
        m.element("p", &[], &format!("Reproduces: {}", c.reports.join(", ")));
    }
    m.element("h2", &[], "Catalogue figures and their bounds");
    figures_table(m, c);
    charts::figure_bullets(m, "figures", &c.figures);
    m.open("div", &[("class", "sides")]);
    for side in &c.sides {
        m.open("section", &[("id", side.label), ("class", "side")]);
        let (expected, _) = verdict_text(side.expected);
        let (got, class) = verdict_text(side.run.verdict);
        m.open("h2", &[])
            .text(&format!("{} (seed {}): ", side.label, side.run.seed))
            .element("span", &[("class", class)], got)
            .text(&format!(
                ", expected {expected}; as expected on {}/{} seeds",
                side.reproduced.0, side.reproduced.1
            ))
            .close("h2");
        for miss in side.misses {
            m.element(
                "p",
                &[("class", "fail")],
                &format!("not reproduced: {miss}"),
            );
        }
        run_sections(m, &format!("{}-", side.label), &side.run);
        m.close("section");
    }
    m.close("div");
}

fn figure_text(cell: &FigureCell) -> String {
    let mut s = short(cell.value);
    if let Some([lo, median, hi]) = cell.spread {
        s.push_str(&format!(
            " (seeds: median {} range {}..{})",
            short(median),
            short(lo),
            short(hi)
        ));
    }
    s
}

fn bounds_text(cell: &FigureCell) -> String {
    cell.bounds
        .map(|[lo, hi]| format!("[{}, {}]", short(lo), short(hi)))
        .unwrap_or_else(|| "(not judged)".into())
}

fn figures_table(m: &mut Markup, c: &Comparison<'_>) {
    m.open("table", &[("id", "figures-table"), ("class", "figures")]);
    m.open("tr", &[]);
    for head in ["figure", "buggy", "buggy bounds", "fixed", "fixed bounds"] {
        m.element("th", &[], head);
    }
    m.close("tr");
    for f in &c.figures {
        m.open("tr", &[]);
        m.open("td", &[]).element("code", &[], &f.name);
        if !f.about.is_empty() {
            m.element("div", &[("class", "note")], &f.about);
        }
        m.close("td");
        for cell in &f.cells {
            let class = match (cell.bounds, cell.holds()) {
                (None, _) => "num",
                (Some(_), true) => "num ok",
                (Some(_), false) => "num miss",
            };
            m.element("td", &[("class", class)], &figure_text(cell));
            m.element("td", &[("class", "num")], &bounds_text(cell));
        }
        m.close("tr");
    }
    m.close("table");
}

/// The incidents index.
pub fn index(m: &mut Markup, entries: &[IndexEntry]) {
    m.open("table", &[("id", "incidents")]);
    m.open("tr", &[])
        .element("th", &[], "incident")
        .element("th", &[], "title")
        .element("th", &[], "result")
        .close("tr");
    for e in entries {
        let (word, class) = if e.reproduced {
            ("REPRODUCED", "pass")
        } else {
            ("NOT REPRODUCED", "fail")
        };
        m.open("tr", &[])
            .open("td", &[])
            .element("a", &[("href", &e.file)], &e.id)
            .close("td")
            .element("td", &[], &e.title)
            .open("td", &[])
            .element("span", &[("class", class)], word)
            .close("td")
            .close("tr");
    }
    m.close("table");
}
