//! JUnit XML, as GitHub, GitLab and Jenkins read it, for `incidents
//! --junit FILE` and `explore --junit FILE`.
//!
//! One `<testsuites>` with one `<testsuite>` per group (an incident, an
//! explored scenario), one `<testcase>` per case; a failed case holds a
//! `<failure>` (a property broke, an incident did not reproduce) or an
//! `<error>` (the run could not complete) whose text carries the replay
//! command. Counts on every suite and on the root are the cases' own.
//! Text is escaped for XML (`&`, `<`, `>`, `"`, `'`), and characters XML
//! 1.0 cannot hold (control characters other than tab and line breaks)
//! become `?`, so any violation message gives a well-formed file.

use std::fmt::Write as _;

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseOutcome {
    Passed,
    /// An expectation failed: `message` in one line, `text` in full.
    Failure {
        kind: String,
        message: String,
        text: String,
    },
    /// The case could not run to a verdict.
    Error {
        kind: String,
        message: String,
        text: String,
    },
}

/// One test case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub classname: String,
    pub name: String,
    /// Wall time, in seconds.
    pub time_s: f64,
    pub outcome: CaseOutcome,
    /// Shown as the case's output (figures, the seed's summary).
    pub system_out: String,
}

/// One test suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    pub name: String,
    pub cases: Vec<Case>,
}

impl Suite {
    fn count(&self, pick: impl Fn(&CaseOutcome) -> bool) -> usize {
        self.cases.iter().filter(|c| pick(&c.outcome)).count()
    }

    fn failures(&self) -> usize {
        self.count(|o| matches!(o, CaseOutcome::Failure { .. }))
    }

    fn errors(&self) -> usize {
        self.count(|o| matches!(o, CaseOutcome::Error { .. }))
    }

    fn time_s(&self) -> f64 {
        self.cases.iter().map(|c| c.time_s).sum()
    }
}

/// The JUnit document of `suites`, named `name`.
pub fn render(name: &str, suites: &[Suite]) -> String {
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(Suite::failures).sum();
    let errors: usize = suites.iter().map(Suite::errors).sum();
    let time: f64 = suites.iter().map(Suite::time_s).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.3}\">",
        escape(name)
    );
    for suite in suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{:.3}\">",
            escape(&suite.name),
            suite.cases.len(),
            suite.failures(),
            suite.errors(),
            suite.time_s()
        );
        for case in &suite.cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                escape(&case.classname),
                escape(&case.name),
                case.time_s
            );
            let body = match &case.outcome {
                CaseOutcome::Passed => None,
                CaseOutcome::Failure {
                    kind,
                    message,
                    text,
                } => Some(("failure", kind, message, text)),
                CaseOutcome::Error {
                    kind,
                    message,
                    text,
                } => Some(("error", kind, message, text)),
            };
            if body.is_none() && case.system_out.is_empty() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            if let Some((tag, kind, message, text)) = body {
                let _ = writeln!(
                    out,
                    "      <{tag} type=\"{}\" message=\"{}\">{}</{tag}>",
                    escape(kind),
                    escape(message),
                    escape(text)
                );
            }
            if !case.system_out.is_empty() {
                let _ = writeln!(
                    out,
                    "      <system-out>{}</system-out>",
                    escape(&case.system_out)
                );
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// `text` as XML character data or attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// Writes `document` to `path`; on failure says so on stderr and returns
/// exit code 2 (the file named on the command line cannot be written).
pub fn write_file(path: &std::path::Path, document: &str) -> Result<(), i32> {
    std::fs::write(path, document).map_err(|e| {
        eprintln!("error: cannot write JUnit file {}: {e}", path.display());
        super::exit::BAD_INPUT
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_makes_any_text_xml() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\u{1}y\tz\n"), "x?y\tz\n");
        assert_eq!(escape("carrier<->lb"), "carrier&lt;-&gt;lb");
    }

    #[test]
    fn counts_are_the_cases_own() {
        let case = |name: &str, outcome| Case {
            classname: "c".into(),
            name: name.into(),
            time_s: 0.5,
            outcome,
            system_out: String::new(),
        };
        let failure = CaseOutcome::Failure {
            kind: "safety".into(),
            message: "m".into(),
            text: "t".into(),
        };
        let error = CaseOutcome::Error {
            kind: "incomplete".into(),
            message: "m".into(),
            text: "t".into(),
        };
        let doc = render(
            "r",
            &[Suite {
                name: "s".into(),
                cases: vec![
                    case("a", CaseOutcome::Passed),
                    case("b", failure),
                    case("c", error),
                ],
            }],
        );
        assert!(
            doc.contains(
                "<testsuites name=\"r\" tests=\"3\" failures=\"1\" errors=\"1\" time=\"1.500\">"
            ),
            "{doc}"
        );
        assert!(
            doc.contains("<testcase classname=\"c\" name=\"a\" time=\"0.500\"/>"),
            "{doc}"
        );
        assert!(
            doc.contains("<failure type=\"safety\" message=\"m\">t</failure>"),
            "{doc}"
        );
        assert!(
            doc.contains("<error type=\"incomplete\" message=\"m\">t</error>"),
            "{doc}"
        );
    }

    #[test]
    fn hostile_text_round_trips_through_a_real_parser() {
        let hostile = "carrier<->lb & \"quoted\" 'x' ]]> \u{7}bell";
        let doc = render(
            hostile,
            &[Suite {
                name: hostile.into(),
                cases: vec![Case {
                    classname: hostile.into(),
                    name: hostile.into(),
                    time_s: 0.0,
                    outcome: CaseOutcome::Failure {
                        kind: hostile.into(),
                        message: hostile.into(),
                        text: hostile.into(),
                    },
                    system_out: hostile.into(),
                }],
            }],
        );
        let expected = hostile.replace('\u{7}', "?");
        let mut reader = quick_xml::Reader::from_str(&doc);
        let (mut attrs, mut elements) = (0, 0);
        loop {
            match reader.read_event().expect("well-formed XML") {
                quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                    elements += 1;
                    for a in e.attributes() {
                        let a = a.expect("an attribute");
                        let value = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .expect("escaped");
                        if !matches!(
                            a.key.0,
                            "tests" | "failures" | "errors" | "skipped" | "time"
                        ) {
                            assert_eq!(value, expected, "{}", a.key.0);
                            attrs += 1;
                        }
                    }
                }
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        // testsuites, testsuite, testcase, failure, system-out.
        assert_eq!(elements, 5);
        // name x3, classname, type, message.
        assert_eq!(attrs, 6);
    }
}
