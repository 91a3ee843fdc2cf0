//! A small writer of HTML and inline SVG markup: text and attribute
//! values escaped in one place, and every element closed by construction
//! (`open` pushes the tag, `close` pops it and checks the name), so a page
//! is well-formed XML as well as HTML.
//!
//! Numbers go through [`num`], which writes at most two decimals with
//! trailing zeros trimmed: the same value is the same bytes on every
//! machine, and no float noise (`0.30000000000000004`) reaches a page.

use std::fmt::Write as _;

/// `text` with `&`, `<`, `>`, `"` and `'` written as entities: safe in
/// element content and in double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate or size: two decimals at most, trailing zeros trimmed,
/// `-0` written `0`.
pub fn num(value: f64) -> String {
    let mut s = format!("{value:.2}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// Markup under construction, with the stack of open elements.
#[derive(Debug, Default)]
pub struct Markup {
    out: String,
    open: Vec<&'static str>,
}

impl Markup {
    pub fn new() -> Markup {
        Markup::default()
    }

    /// Raw text, written as is (a doctype, or markup another `Markup`
    /// finished).
    pub fn raw(&mut self, text: &str) -> &mut Markup {
        self.out.push_str(text);
        self
    }

    /// Text content, escaped.
    pub fn text(&mut self, text: &str) -> &mut Markup {
        self.out.push_str(&escape(text));
        self
    }

    /// Opens `<tag a="v" ...>`; attribute values are escaped.
    pub fn open(&mut self, tag: &'static str, attrs: &[(&str, &str)]) -> &mut Markup {
        self.start_tag(tag, attrs);
        self.out.push('>');
        self.open.push(tag);
        self
    }

    /// Closes the innermost open element, which must be `tag`.
    pub fn close(&mut self, tag: &'static str) -> &mut Markup {
        let top = self.open.pop();
        assert_eq!(top, Some(tag), "closing <{tag}> while <{top:?}> is open");
        let _ = write!(self.out, "</{tag}>");
        self
    }

    /// An element with no content, written `<tag .../>` (valid for SVG
    /// shapes and HTML void elements alike).
    pub fn empty(&mut self, tag: &'static str, attrs: &[(&str, &str)]) -> &mut Markup {
        self.start_tag(tag, attrs);
        self.out.push_str("/>");
        self
    }

    /// `<tag attrs>text</tag>`.
    pub fn element(
        &mut self,
        tag: &'static str,
        attrs: &[(&str, &str)],
        text: &str,
    ) -> &mut Markup {
        self.open(tag, attrs).text(text).close(tag)
    }

    fn start_tag(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        let _ = write!(self.out, "<{tag}");
        for (name, value) in attrs {
            let _ = write!(self.out, " {name}=\"{}\"", escape(value));
        }
    }

    /// The markup; every element must be closed.
    pub fn finish(self) -> String {
        assert!(self.open.is_empty(), "elements left open: {:?}", self.open);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn numbers_have_two_decimals_at_most() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(0.1 + 0.2), "0.3");
        assert_eq!(num(12.344), "12.34");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(250.5), "250.5");
    }

    #[test]
    fn elements_nest_and_close() {
        let mut m = Markup::new();
        m.open("svg", &[("id", "a\"b")])
            .empty("rect", &[("x", "1")])
            .element("text", &[], "x<y")
            .close("svg");
        assert_eq!(
            m.finish(),
            r#"<svg id="a&quot;b"><rect x="1"/><text>x&lt;y</text></svg>"#
        );
    }

    #[test]
    fn a_mismatched_close_is_caught() {
        let caught = std::panic::catch_unwind(|| {
            let mut m = Markup::new();
            m.open("div", &[]).close("span");
        });
        assert!(caught.is_err());
        let unclosed = std::panic::catch_unwind(|| {
            let mut m = Markup::new();
            m.open("div", &[]);
            m.finish()
        });
        assert!(unclosed.is_err());
    }
}
