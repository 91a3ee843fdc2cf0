//! Chart primitives for inline SVG: a chart's frame (its viewBox and plot
//! area), linear scales, a time axis and a count axis with 1-2-5 ticks,
//! a legend, and the status palette. The charts themselves are in
//! `charts.rs`.
//!
//! Charts are drawn in a fixed coordinate system (`viewBox`, 640 units
//! wide) and scaled by CSS to the column they sit in, so a page reads the
//! same at any width and its bytes never depend on a screen.

use super::data::{nice_step, time_text};
use super::markup::{num, Markup};

/// The width of every chart, in viewBox units.
pub const WIDTH: f64 = 640.0;

/// A chart's size and the margins around its plot area.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
}

impl Frame {
    /// A chart of `height` with room for count labels on the left and a
    /// time axis below.
    pub fn plot(height: f64) -> Frame {
        Frame {
            height,
            left: 48.0,
            right: 12.0,
            top: 12.0,
            bottom: 34.0,
        }
    }

    pub fn plot_width(&self) -> f64 {
        WIDTH - self.left - self.right
    }

    pub fn plot_height(&self) -> f64 {
        self.height - self.top - self.bottom
    }

    /// The baseline of the plot area.
    pub fn base(&self) -> f64 {
        self.height - self.bottom
    }

    /// Writes `title` as a caption, then opens `<svg id class viewBox>`
    /// with the same `<title>` (read by screen readers and shown as a
    /// tooltip); close it with `m.close("svg")`.
    pub fn open(&self, m: &mut Markup, id: &str, class: &str, title: &str) {
        m.element("p", &[("class", "chart-title")], title);
        let view_box = format!("0 0 {} {}", num(WIDTH), num(self.height));
        m.open(
            "svg",
            &[
                ("id", id),
                ("class", &format!("chart {class}")),
                ("viewBox", &view_box),
                ("role", "img"),
                ("aria-label", title),
            ],
        )
        .element("title", &[], title);
    }
}

/// A linear map from `[lo, hi]` to `[from, to]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub lo: f64,
    pub hi: f64,
    pub from: f64,
    pub to: f64,
}

impl Scale {
    pub fn at(&self, value: f64) -> f64 {
        if self.hi <= self.lo {
            return self.from;
        }
        self.from + (value - self.lo) / (self.hi - self.lo) * (self.to - self.from)
    }

    /// The x scale of `frame`'s plot area over `[0, span]`.
    pub fn x(frame: &Frame, span: f64) -> Scale {
        Scale {
            lo: 0.0,
            hi: span.max(1.0),
            from: frame.left,
            to: WIDTH - frame.right,
        }
    }

    /// The y scale of `frame`'s plot area over `[0, max]`, upwards.
    pub fn y(frame: &Frame, max: f64) -> Scale {
        Scale {
            lo: 0.0,
            hi: max.max(1.0),
            from: frame.base(),
            to: frame.top,
        }
    }
}

/// A time axis under the plot area over `[0, span_ms]`: ticks every 1-2-5
/// step (about eight of them), labelled in sim time, and `caption` below.
pub fn time_axis(m: &mut Markup, frame: &Frame, span_ms: u64, caption: &str) {
    let x = Scale::x(frame, span_ms as f64);
    let step = nice_step(span_ms.div_ceil(8).max(1));
    value_axis(m, frame, &x, span_ms, step, caption, time_text);
}

/// A value axis under the plot area over `[0, max]` with labels from
/// `label`, ticks every `step`.
pub fn value_axis(
    m: &mut Markup,
    frame: &Frame,
    x: &Scale,
    max: u64,
    step: u64,
    caption: &str,
    label: impl Fn(u64) -> String,
) {
    let base = frame.base();
    m.open("g", &[("class", "axis x")]);
    m.empty(
        "line",
        &[
            ("x1", &num(frame.left)),
            ("y1", &num(base)),
            ("x2", &num(WIDTH - frame.right)),
            ("y2", &num(base)),
        ],
    );
    let mut t = 0;
    while t <= max {
        let at = num(x.at(t as f64));
        m.empty(
            "line",
            &[
                ("x1", &at),
                ("y1", &num(base)),
                ("x2", &at),
                ("y2", &num(base + 4.0)),
            ],
        );
        m.element(
            "text",
            &[
                ("x", &at),
                ("y", &num(base + 15.0)),
                ("text-anchor", "middle"),
            ],
            &label(t),
        );
        t += step.max(1);
    }
    m.element(
        "text",
        &[
            ("class", "caption"),
            ("x", &num(frame.left + frame.plot_width() / 2.0)),
            ("y", &num(frame.height - 3.0)),
            ("text-anchor", "middle"),
        ],
        caption,
    );
    m.close("g");
}

/// A count axis left of the plot area over `[0, max]`, with light grid
/// lines; returns the y scale it drew (its top is the last tick at or
/// above `max`).
pub fn count_axis(m: &mut Markup, frame: &Frame, max: u64) -> Scale {
    let step = nice_step(max.div_ceil(4).max(1));
    let top = max.div_ceil(step).max(1) * step;
    let y = Scale::y(frame, top as f64);
    m.open("g", &[("class", "axis y")]);
    let mut v = 0;
    while v <= top {
        let at = num(y.at(v as f64));
        m.empty(
            "line",
            &[
                ("class", "grid"),
                ("x1", &num(frame.left)),
                ("y1", &at),
                ("x2", &num(WIDTH - frame.right)),
                ("y2", &at),
            ],
        );
        m.element(
            "text",
            &[
                ("x", &num(frame.left - 6.0)),
                ("y", &num(y.at(v as f64) + 4.0)),
                ("text-anchor", "end"),
            ],
            &v.to_string(),
        );
        v += step;
    }
    m.close("g");
    y
}

/// A legend as an HTML list of coloured swatches (under a chart, so it
/// wraps with the page instead of overflowing the SVG).
pub fn legend(m: &mut Markup, items: &[(String, String)]) {
    m.open("ul", &[("class", "legend")]);
    for (label, colour) in items {
        m.open("li", &[]);
        m.element(
            "span",
            &[
                ("class", "swatch"),
                ("style", &format!("background:{colour}")),
            ],
            "",
        );
        m.text(label);
        m.close("li");
    }
    m.close("ul");
}

/// The colour of a final status: greens for 2xx, oranges and browns for
/// 4xx, reds for 5xx, purples for 3xx and 6xx, grey for anything else
/// (0: no final status). Shades within a class follow the code, so a
/// status has one colour on every page.
pub fn status_colour(status: u64) -> &'static str {
    const OK: [&str; 2] = ["#2e7d32", "#66bb6a"];
    const CLIENT: [&str; 5] = ["#ef6c00", "#f9a825", "#8d6e63", "#ff8a65", "#c0ca33"];
    const SERVER: [&str; 4] = ["#c62828", "#ad1457", "#e57373", "#6d4c41"];
    const OTHER: [&str; 2] = ["#6a1b9a", "#4527a0"];
    let pick = |set: &[&'static str]| set[(status % set.len() as u64) as usize];
    match status {
        200..=299 => pick(&OK),
        400..=499 => pick(&CLIENT),
        500..=599 => pick(&SERVER),
        300..=399 | 600..=699 => pick(&OTHER),
        _ => "#9e9e9e",
    }
}
