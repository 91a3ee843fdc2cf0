//! The report's four kinds of chart, each a function from the data of
//! `data.rs` to one `<svg>` element (and its legend):
//! - `timeline`: rows of bands and marks over the run (faults, alarms,
//!   violations, health, ejections, deploys), an alarm's firing also
//!   drawn as a dashed rule across every row;
//! - `outcome_bars`: calls ended per window, stacked by final status;
//! - `histogram`: a distribution of durations;
//! - `host_heatmap`: SIP messages each host sent per window.
//!
//! Every data mark carries its class and a `data-n` (count) or the
//! times it spans, and a `<title>` for hover text, so tests and readers
//! can check a chart against its data without JavaScript.

use super::data::{
    nice_step, short, time_text, Histogram, HostRates, OutcomeWindows, Timeline, ROWS_MAX,
};
use super::markup::{num, Markup};
use super::svg::{count_axis, legend, status_colour, time_axis, value_axis, Frame, Scale, WIDTH};
use super::FigureRow;

/// Row height of the timeline and the heat map.
const ROW_HEIGHT: f64 = 18.0;
/// Width of the row labels of the timeline and the heat map.
const LABEL_WIDTH: f64 = 170.0;
/// Characters of a row label shown (the whole label is its tooltip).
const LABEL_CHARS: usize = 30;

fn row_frame(rows: usize) -> Frame {
    Frame {
        height: 12.0 + rows.max(1) as f64 * ROW_HEIGHT + 34.0,
        left: LABEL_WIDTH,
        right: 12.0,
        top: 12.0,
        bottom: 34.0,
    }
}

fn row_label(m: &mut Markup, frame: &Frame, i: usize, label: &str) {
    let shown: String = if label.chars().count() > LABEL_CHARS {
        label.chars().take(LABEL_CHARS - 1).chain(['…']).collect()
    } else {
        label.to_string()
    };
    let y = frame.top + i as f64 * ROW_HEIGHT + ROW_HEIGHT / 2.0 + 4.0;
    m.open(
        "text",
        &[
            ("class", "row-label"),
            ("x", &num(frame.left - 6.0)),
            ("y", &num(y)),
            ("text-anchor", "end"),
        ],
    )
    .element("title", &[], label)
    .text(&shown)
    .close("text");
}

/// The run's timeline.
pub fn timeline(m: &mut Markup, id: &str, t: &Timeline) {
    let frame = row_frame(t.rows.len());
    frame.open(
        m,
        id,
        "timeline",
        "Timeline: faults, alarms and violations over sim time",
    );
    let x = Scale::x(&frame, t.span_ms as f64);
    for (i, row) in t.rows.iter().enumerate() {
        let y = frame.top + i as f64 * ROW_HEIGHT;
        if i % 2 == 0 {
            m.empty(
                "rect",
                &[
                    ("class", "stripe"),
                    ("x", &num(frame.left)),
                    ("y", &num(y)),
                    ("width", &num(frame.plot_width())),
                    ("height", &num(ROW_HEIGHT)),
                ],
            );
        }
        row_label(m, &frame, i, &row.label);
        for mark in &row.marks {
            let x0 = x.at(mark.from_ms as f64);
            let from = mark.from_ms.to_string();
            match mark.to_ms {
                Some(to_ms) => {
                    let width = (x.at(to_ms as f64) - x0).max(2.0);
                    let to = to_ms.to_string();
                    m.open(
                        "rect",
                        &[
                            ("class", mark.class),
                            ("data-from-ms", &from),
                            ("data-to-ms", &to),
                            ("x", &num(x0)),
                            ("y", &num(y + 3.0)),
                            ("width", &num(width)),
                            ("height", &num(ROW_HEIGHT - 6.0)),
                        ],
                    );
                }
                None => {
                    // A diamond centred on the instant.
                    let d = format!(
                        "M{} {}l5 {}l-5 {}l-5 -{}z",
                        num(x0),
                        num(y + 2.0),
                        num(ROW_HEIGHT / 2.0 - 2.0),
                        num(ROW_HEIGHT / 2.0 - 2.0),
                        num(ROW_HEIGHT / 2.0 - 2.0)
                    );
                    m.open(
                        "path",
                        &[("class", mark.class), ("data-from-ms", &from), ("d", &d)],
                    );
                }
            }
            m.element("title", &[], &mark.title);
            m.close(if mark.to_ms.is_some() { "rect" } else { "path" });
            if mark.class == "alarm" {
                m.empty(
                    "line",
                    &[
                        ("class", "alarm-rule"),
                        ("x1", &num(x0)),
                        ("y1", &num(frame.top)),
                        ("x2", &num(x0)),
                        ("y2", &num(frame.base())),
                    ],
                );
            }
        }
        if row.more > 0 {
            m.element(
                "text",
                &[
                    ("class", "more"),
                    ("x", &num(WIDTH - frame.right)),
                    ("y", &num(y + 12.0)),
                    ("text-anchor", "end"),
                ],
                &format!("+{} more", row.more),
            );
        }
    }
    if t.rows.is_empty() {
        m.element(
            "text",
            &[
                ("class", "empty"),
                ("x", &num(frame.left + 6.0)),
                ("y", &num(frame.top + 13.0)),
            ],
            "no faults, alarms or violations",
        );
    }
    time_axis(m, &frame, t.span_ms, "sim time");
    m.close("svg");
    if t.more_rows > 0 {
        m.element(
            "p",
            &[("class", "note")],
            &format!("{} more rows not drawn", t.more_rows),
        );
    }
}

/// Calls ended per window, stacked by final status.
pub fn outcome_bars(m: &mut Markup, id: &str, o: &OutcomeWindows) {
    let frame = Frame::plot(220.0);
    let title = format!(
        "Calls ended per {} window, by final status ({} calls)",
        time_text(o.windows.width_ms),
        o.total()
    );
    frame.open(m, id, "outcomes", &title);
    let totals: Vec<u64> = (0..o.windows.count)
        .map(|w| o.by_status.values().map(|c| c[w]).sum())
        .collect();
    let y = count_axis(m, &frame, totals.iter().copied().max().unwrap_or(0));
    let span_ms = o.windows.count as u64 * o.windows.width_ms;
    let x = Scale::x(&frame, span_ms as f64);
    let bar_width = (x.at(o.windows.width_ms as f64) - x.at(0.0)) * 0.85;
    for w in 0..o.windows.count {
        let from_ms = w as u64 * o.windows.width_ms;
        let mut stacked = 0;
        for (status, counts) in &o.by_status {
            let n = counts[w];
            if n == 0 {
                continue;
            }
            let top = y.at((stacked + n) as f64);
            let height = y.at(stacked as f64) - top;
            stacked += n;
            m.open(
                "rect",
                &[
                    ("class", "bar-seg"),
                    ("data-status", &status.to_string()),
                    ("data-n", &n.to_string()),
                    ("x", &num(x.at(from_ms as f64))),
                    ("y", &num(top)),
                    ("width", &num(bar_width)),
                    ("height", &num(height)),
                    ("fill", status_colour(*status)),
                ],
            )
            .element(
                "title",
                &[],
                &format!(
                    "{n} calls ended {status} between {} and {}",
                    time_text(from_ms),
                    time_text(from_ms + o.windows.width_ms)
                ),
            )
            .close("rect");
        }
    }
    if o.total() == 0 {
        empty_note(m, &frame, "no call ended");
    }
    time_axis(
        m,
        &frame,
        span_ms,
        "sim time (calls by the window they ended in)",
    );
    m.close("svg");
    let items: Vec<(String, String)> = o
        .by_status
        .iter()
        .map(|(status, counts)| {
            let label = if *status == 0 {
                "no status".to_string()
            } else {
                status.to_string()
            };
            (
                format!("{label}: {}", counts.iter().sum::<u64>()),
                status_colour(*status).to_string(),
            )
        })
        .collect();
    legend(m, &items);
}

/// A histogram of durations in ms.
pub fn histogram(m: &mut Markup, id: &str, title: &str, h: &Histogram, samples: usize) {
    let frame = Frame::plot(200.0);
    frame.open(m, id, "histogram", &format!("{title} ({samples} samples)"));
    let y = count_axis(m, &frame, h.counts.iter().copied().max().unwrap_or(0));
    let span = h.counts.len() as u64 * h.bin_ms;
    let x = Scale::x(&frame, span as f64);
    let bin_width = (x.at(h.bin_ms as f64) - x.at(0.0) - 1.0).max(1.0);
    for (i, n) in h.counts.iter().enumerate() {
        if *n == 0 {
            continue;
        }
        let from_ms = i as u64 * h.bin_ms;
        let top = y.at(*n as f64);
        m.open(
            "rect",
            &[
                ("class", "bin"),
                ("data-from-ms", &from_ms.to_string()),
                ("data-n", &n.to_string()),
                ("x", &num(x.at(from_ms as f64))),
                ("y", &num(top)),
                ("width", &num(bin_width)),
                ("height", &num(frame.base() - top)),
            ],
        )
        .element(
            "title",
            &[],
            &format!(
                "{n} in [{}, {})",
                time_text(from_ms),
                time_text(from_ms + h.bin_ms)
            ),
        )
        .close("rect");
    }
    if samples == 0 {
        empty_note(m, &frame, "no samples");
    }
    let step = nice_step(span.div_ceil(8).max(1));
    value_axis(m, &frame, &x, span, step, "duration", time_text);
    m.close("svg");
}

/// SIP messages each host sent per window, as a heat map.
pub fn host_heatmap(m: &mut Markup, id: &str, r: &HostRates) {
    let frame = row_frame(r.hosts.len().min(ROWS_MAX));
    let title = format!(
        "SIP messages sent per host per {} window (retransmissions included)",
        time_text(r.windows.width_ms)
    );
    frame.open(m, id, "heatmap", &title);
    let max = r
        .hosts
        .iter()
        .flat_map(|(_, c)| c.iter().copied())
        .max()
        .unwrap_or(0);
    let span_ms = r.windows.count as u64 * r.windows.width_ms;
    let x = Scale::x(&frame, span_ms as f64);
    let cell_width = x.at(r.windows.width_ms as f64) - x.at(0.0);
    let seconds = r.windows.width_ms as f64 / 1000.0;
    for (i, (host, counts)) in r.hosts.iter().enumerate() {
        let y = frame.top + i as f64 * ROW_HEIGHT;
        let total: u64 = counts.iter().sum();
        row_label(m, &frame, i, &format!("{host} ({total})"));
        for (w, n) in counts.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let from_ms = w as u64 * r.windows.width_ms;
            let opacity = 0.15 + 0.85 * (*n as f64 / max.max(1) as f64);
            m.open(
                "rect",
                &[
                    ("class", "cell"),
                    ("data-host", host),
                    ("data-n", &n.to_string()),
                    ("x", &num(x.at(from_ms as f64))),
                    ("y", &num(y + 1.0)),
                    ("width", &num(cell_width)),
                    ("height", &num(ROW_HEIGHT - 2.0)),
                    ("fill-opacity", &num(opacity)),
                ],
            )
            .element(
                "title",
                &[],
                &format!(
                    "{host}: {n} sent between {} and {} ({}/s)",
                    time_text(from_ms),
                    time_text(from_ms + r.windows.width_ms),
                    num(*n as f64 / seconds)
                ),
            )
            .close("rect");
        }
    }
    if r.hosts.is_empty() {
        empty_note(m, &frame, "no SIP message");
    }
    time_axis(m, &frame, span_ms, "sim time");
    m.close("svg");
    if r.more_hosts > 0 {
        m.element(
            "p",
            &[("class", "note")],
            &format!("{} quieter hosts not drawn", r.more_hosts),
        );
    }
}

fn empty_note(m: &mut Markup, frame: &Frame, text: &str) {
    m.element(
        "text",
        &[
            ("class", "empty"),
            ("x", &num(frame.left + frame.plot_width() / 2.0)),
            ("y", &num(frame.top + frame.plot_height() / 2.0)),
            ("text-anchor", "middle"),
        ],
        text,
    );
}

/// The catalogue's figures, each on its own scale: per variant, its
/// bounds as a band, its spread over the seeds as a line, and the drawn
/// run's value as a dot (green inside its bounds, red outside).
pub fn figure_bullets(m: &mut Markup, id: &str, figures: &[FigureRow]) {
    const TRACK: f64 = 13.0;
    const FIGURE: f64 = 14.0 + 2.0 * TRACK + 4.0;
    let frame = Frame {
        height: 12.0 + figures.len().max(1) as f64 * FIGURE + 4.0,
        left: 70.0,
        right: 70.0,
        top: 12.0,
        bottom: 4.0,
    };
    frame.open(
        m,
        id,
        "figures",
        "Catalogue figures against their bounds, buggy and fixed",
    );
    for (i, f) in figures.iter().enumerate() {
        let top = frame.top + i as f64 * FIGURE;
        m.element(
            "text",
            &[
                ("class", "figure-name"),
                ("x", &num(frame.left)),
                ("y", &num(top + 11.0)),
            ],
            &f.name,
        );
        let known: Vec<f64> = f
            .cells
            .iter()
            .flat_map(|c| {
                let mut v = vec![c.value];
                v.extend(c.bounds.into_iter().flatten());
                v.extend(c.spread.into_iter().flatten());
                v
            })
            .filter(|v| v.is_finite())
            .collect();
        let lo = known.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = known.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if !lo.is_finite() {
            (0.0, 1.0)
        } else if (hi - lo).abs() < f64::EPSILON {
            (lo - 1.0, hi + 1.0)
        } else {
            let pad = (hi - lo) * 0.05;
            (lo - pad, hi + pad)
        };
        let x = Scale {
            lo,
            hi,
            from: frame.left,
            to: WIDTH - frame.right,
        };
        for (t, (variant, cell)) in ["buggy", "fixed"].iter().zip(&f.cells).enumerate() {
            let y = top + 14.0 + t as f64 * TRACK;
            let mid = num(y + TRACK / 2.0);
            m.element(
                "text",
                &[
                    ("x", &num(frame.left - 6.0)),
                    ("y", &num(y + 10.0)),
                    ("text-anchor", "end"),
                ],
                variant,
            );
            m.empty(
                "line",
                &[
                    ("class", "track"),
                    ("x1", &num(frame.left)),
                    ("y1", &mid),
                    ("x2", &num(WIDTH - frame.right)),
                    ("y2", &mid),
                    ("stroke", "#ddd"),
                ],
            );
            if let Some([b_lo, b_hi]) = cell.bounds {
                let (x0, x1) = (x.at(b_lo.max(lo)), x.at(b_hi.min(hi)));
                m.open(
                    "rect",
                    &[
                        ("class", "bounds"),
                        ("x", &num(x0)),
                        ("y", &num(y + 2.0)),
                        ("width", &num((x1 - x0).max(2.0))),
                        ("height", &num(TRACK - 4.0)),
                    ],
                )
                .element(
                    "title",
                    &[],
                    &format!("{variant} bounds [{}, {}]", short(b_lo), short(b_hi)),
                )
                .close("rect");
            }
            if let Some([s_lo, _, s_hi]) = cell.spread.filter(|s| s.iter().all(|v| v.is_finite())) {
                m.empty(
                    "line",
                    &[
                        ("class", "spread"),
                        ("x1", &num(x.at(s_lo))),
                        ("y1", &mid),
                        ("x2", &num(x.at(s_hi))),
                        ("y2", &mid),
                    ],
                );
            }
            if cell.value.is_finite() {
                let class = if cell.holds() {
                    "value ok"
                } else {
                    "value miss"
                };
                m.open(
                    "circle",
                    &[
                        ("class", class),
                        ("data-value", &short(cell.value)),
                        ("cx", &num(x.at(cell.value))),
                        ("cy", &mid),
                        ("r", "4"),
                    ],
                )
                .element(
                    "title",
                    &[],
                    &format!("{variant}: {} = {}", f.name, short(cell.value)),
                )
                .close("circle");
            }
            m.element(
                "text",
                &[
                    ("x", &num(WIDTH - frame.right + 6.0)),
                    ("y", &num(y + 10.0)),
                ],
                &short(cell.value),
            );
        }
    }
    m.close("svg");
}
