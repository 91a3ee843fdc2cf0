//! Scenario errors that name the file, the line and the field.
//!
//! Every way a scenario can be wrong (a TOML syntax error, an unknown field, a
//! wrong type, a value out of range, a name that does not exist) ends here as
//! one `ScenarioError`, which the CLI prints and turns into exit code 2.
//! `Locator` maps a dotted field path such as `faults[2].until` back to the
//! line it was written on, using toml_edit's spans.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

pub use crate::sim::FieldError;

/// A scenario that cannot be run, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file, or `<inline>` for scenarios built from a string.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem is the file as a whole.
    pub line: usize,
    /// Dotted path of the field, e.g. `nodes.gateway.rpc_client.timeout`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            // The file as a whole (unreadable, too large, not TOML at all).
            return if self.line == 0 {
                write!(f, "{}: {}", self.file.display(), self.message)
            } else {
                write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
            };
        }
        let field = &self.field;
        write!(
            f,
            "{}:{}: field `{}`: {}",
            self.file.display(),
            self.line,
            field,
            self.message
        )
    }
}

impl std::error::Error for ScenarioError {}

/// Maps field paths and byte offsets of one TOML text to lines.
pub struct Locator<'a> {
    text: &'a str,
    doc: Option<toml_edit::ImDocument<&'a str>>,
}

impl<'a> Locator<'a> {
    pub fn new(text: &'a str) -> Locator<'a> {
        Locator {
            text,
            doc: toml_edit::ImDocument::parse(text).ok(),
        }
    }

    /// 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.text.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// Whether the file writes the dotted path itself (not only a parent):
    /// `false` for a field left to its default.
    pub fn has_path(&self, path: &str) -> bool {
        let Some(doc) = &self.doc else { return false };
        let mut item: Option<Node<'_>> = Some(Node::Item(doc.as_item()));
        for segment in split_path(path) {
            let Some(current) = item else { return false };
            item = match segment {
                Segment::Key(key) => lookup_key(current, key),
                Segment::Index(i) => lookup_index(current, i),
            }
            .map(|(_, child)| child);
        }
        item.is_some()
    }

    /// The line of a dotted path (`a.b[2].c`), or of its nearest existing
    /// parent when the field itself is absent (a missing field is reported
    /// where its table is).
    pub fn line_of_path(&self, path: &str) -> usize {
        let Some(doc) = &self.doc else { return 0 };
        let mut best: Option<Range<usize>> = None;
        let mut item: Option<Node<'_>> = Some(Node::Item(doc.as_item()));
        for segment in split_path(path) {
            let Some(current) = item else { break };
            let next = match segment {
                Segment::Key(key) => lookup_key(current, key),
                Segment::Index(i) => lookup_index(current, i),
            };
            match next {
                Some((span, child)) => {
                    if span.is_some() {
                        best = span;
                    }
                    item = Some(child);
                }
                None => break,
            }
        }
        best.map(|s| self.line_of(s.start)).unwrap_or(0)
    }

    /// The dotted path of the innermost key or value whose span holds
    /// `offset` (used to name the field of a serde type error).
    pub fn path_at(&self, offset: usize) -> String {
        let Some(doc) = &self.doc else {
            return String::new();
        };
        let mut path = String::new();
        walk_to(Node::Item(doc.as_item()), offset, &mut path);
        path
    }
}

/// The field written on the line holding `offset`, found textually (for
/// syntax errors, where there is no parsed document to ask): the key before
/// `=`, under the nearest `[table]` header above it.
pub fn field_on_line(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    // A bare CR ends a line here too, so that a file with CR-only line
    // endings does not read as one long line.
    let is_break = |c: char| c == '\n' || c == '\r';
    let line_start = text[..offset].rfind(is_break).map(|i| i + 1).unwrap_or(0);
    let line = text[line_start..].split(is_break).next().unwrap_or("");
    // Comments are not fields.
    let code = |l: &str| l.split('#').next().unwrap_or("").trim().to_string();
    let key = code(line.split('=').next().unwrap_or(""));
    let key = if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.\"' []".contains(c))
    {
        key
    } else {
        String::new()
    };
    let table = text[..line_start]
        .split(is_break)
        .rev()
        .map(code)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
        .unwrap_or_default();
    match (table.is_empty(), key.is_empty() || key.starts_with('[')) {
        (_, true) => table,
        (true, false) => key.to_string(),
        (false, false) => format!("{table}.{key}"),
    }
}

enum Segment<'p> {
    Key(&'p str),
    Index(usize),
}

fn split_path(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        for index in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Segment::Index(i));
            }
        }
    }
    out
}

/// A place in the document: a table of an `[[array]]` is not an `Item`.
#[derive(Clone, Copy)]
enum Node<'d> {
    Item(&'d toml_edit::Item),
    Table(&'d toml_edit::Table),
}

type Found<'d> = (Option<Range<usize>>, Node<'d>);

fn lookup_key<'d>(node: Node<'d>, key: &str) -> Option<Found<'d>> {
    let table = match node {
        Node::Table(t) => t,
        Node::Item(toml_edit::Item::Table(t)) => t,
        Node::Item(toml_edit::Item::Value(toml_edit::Value::InlineTable(t))) => {
            let (k, v) = t.get_key_value(key)?;
            return Some((k.span(), Node::Item(v)));
        }
        Node::Item(_) => return None,
    };
    let (k, v) = table.get_key_value(key)?;
    Some((k.span().or_else(|| item_span(v)), Node::Item(v)))
}

fn lookup_index(node: Node<'_>, index: usize) -> Option<Found<'_>> {
    match node {
        Node::Item(toml_edit::Item::ArrayOfTables(a)) => {
            let t = a.get(index)?;
            let span = t
                .iter()
                .find_map(|(k, _)| t.key(k).and_then(|key| key.span()));
            Some((span.or_else(|| t.span()), Node::Table(t)))
        }
        Node::Item(toml_edit::Item::Value(toml_edit::Value::Array(a))) => {
            let v = a.get(index)?;
            Some((v.span(), node))
        }
        _ => None,
    }
}

fn walk_to(node: Node<'_>, offset: usize, path: &mut String) {
    let contains = |span: Option<Range<usize>>| span.is_some_and(|s| s.contains(&offset));
    let push = |path: &mut String, key: &str| {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    };
    let table = match node {
        Node::Table(t) => t,
        Node::Item(toml_edit::Item::Table(t)) => t,
        Node::Item(toml_edit::Item::ArrayOfTables(a)) => {
            for (i, t) in a.iter().enumerate() {
                if table_holds(t, offset) {
                    path.push_str(&format!("[{i}]"));
                    walk_to(Node::Table(t), offset, path);
                    return;
                }
            }
            return;
        }
        Node::Item(toml_edit::Item::Value(toml_edit::Value::InlineTable(t))) => {
            for (k, v) in t.iter() {
                if contains(v.span()) || t.key(k).is_some_and(|key| contains(key.span())) {
                    push(path, k);
                    return;
                }
            }
            return;
        }
        Node::Item(_) => return,
    };
    for (k, v) in table.iter() {
        let key_span = table.key(k).and_then(|key| key.span());
        if contains(key_span) || contains(item_span(v)) || item_holds(v, offset) {
            push(path, k);
            walk_to(Node::Item(v), offset, path);
            return;
        }
    }
}

fn item_span(item: &toml_edit::Item) -> Option<Range<usize>> {
    match item {
        toml_edit::Item::Value(v) => v.span(),
        toml_edit::Item::Table(t) => t.span(),
        toml_edit::Item::ArrayOfTables(a) => a.span(),
        toml_edit::Item::None => None,
    }
}

fn item_holds(item: &toml_edit::Item, offset: usize) -> bool {
    match item {
        toml_edit::Item::Table(t) => table_holds(t, offset),
        toml_edit::Item::ArrayOfTables(a) => a.iter().any(|t| table_holds(t, offset)),
        _ => false,
    }
}

fn table_holds(t: &toml_edit::Table, offset: usize) -> bool {
    t.iter().any(|(k, v)| {
        t.key(k)
            .and_then(|key| key.span())
            .is_some_and(|s| s.contains(&offset))
            || item_span(v).is_some_and(|s| s.contains(&offset))
            || item_holds(v, offset)
    })
}
