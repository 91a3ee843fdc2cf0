//! The layering test: every `crate::` path in src/ points down the layer
//! table, never up or sideways.
//!
//! The table is ARCHITECTURE.md's (the rows between `<!-- layers:begin -->`
//! and `<!-- layers:end -->`), so the document and the check cannot
//! disagree. A module may name its own module and any module on a lower
//! layer; two modules on one layer are independent of each other. Unit-test
//! modules (`#[cfg(test)]` to the end of a file) may name anything: they
//! build whole scenarios to test the layer they live in. Doc comments are
//! not code and are skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Module path (`incidents::metrics`) to layer, from ARCHITECTURE.md.
fn layer_table(root: &Path) -> BTreeMap<String, u32> {
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let begin = text
        .find("<!-- layers:begin -->")
        .expect("ARCHITECTURE.md marks its layer table with <!-- layers:begin -->");
    let end = text
        .find("<!-- layers:end -->")
        .expect("ARCHITECTURE.md ends its layer table with <!-- layers:end -->");
    let mut table = BTreeMap::new();
    for row in text[begin..end].lines() {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        // | layer | modules | ... |
        let (Some(layer), Some(modules)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        let Ok(layer) = layer.parse::<u32>() else {
            continue; // the header and separator rows
        };
        for module in modules.split(',') {
            let module = module.trim().trim_matches('`');
            assert!(!module.is_empty(), "empty module in layer {layer}");
            assert!(
                table.insert(module.to_string(), layer).is_none(),
                "{module} is listed twice in ARCHITECTURE.md's layer table"
            );
        }
    }
    assert!(
        table.len() >= 10,
        "ARCHITECTURE.md's layer table has too few rows"
    );
    table
}

/// The table entry a module path falls under: the longest listed prefix.
fn entry<'t>(table: &'t BTreeMap<String, u32>, path: &str) -> Option<(&'t str, u32)> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len()).rev().find_map(|n| {
        let prefix = parts[..n].join("::");
        table.get_key_value(&prefix).map(|(k, v)| (k.as_str(), *v))
    })
}

/// `src/incidents/metrics.rs` -> `incidents::metrics`; `mod.rs` names its folder.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("a file under src/");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("readable src/")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::a::b` path in the code part of `text`, with its line.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start() == "#[cfg(test)]" {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let tail = &rest[at + "crate::".len()..];
            let path: String = tail
                .chars()
                .take_while(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == ':'
                })
                .collect();
            let path = path.trim_end_matches(':').to_string();
            if !path.is_empty() {
                out.push((n + 1, path));
            }
            rest = tail;
        }
    }
    out
}

/// The violations of the table in `src`, one line each.
fn violations(root: &Path) -> Vec<String> {
    let table = layer_table(root);
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for file in files {
        let module = module_of(&src, &file);
        if module == "lib" || module == "main" {
            continue; // the crate root declares every module
        }
        let Some((own_key, own_layer)) = entry(&table, &module) else {
            found.push(format!(
                "{}: module {module} is not in ARCHITECTURE.md's layer table",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("readable source");
        for (line, path) in crate_paths(&text) {
            let Some((key, layer)) = entry(&table, &path) else {
                found.push(format!(
                    "{}:{line}: crate::{path} is not in ARCHITECTURE.md's layer table",
                    file.display()
                ));
                continue;
            };
            let same_module = key == own_key
                || key.split("::").next() == own_key.split("::").next() && layer <= own_layer;
            if !same_module && layer >= own_layer {
                let how = if layer == own_layer {
                    "sideways"
                } else {
                    "upwards"
                };
                found.push(format!(
                    "{}:{line}: {module} (layer {own_layer}, `{own_key}`) imports crate::{path} \
                     (layer {layer}, `{key}`): {how}",
                    file.display()
                ));
            }
        }
    }
    found
}

#[test]
fn imports_follow_the_layer_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = violations(root);
    assert!(
        found.is_empty(),
        "imports against ARCHITECTURE.md's layer table:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_catches_an_upward_import() {
    // A copy of the tree with one node file importing the test-bed must fail,
    // naming the file and line: the check is not vacuous.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("callsim-layering-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src/nodes")).expect("temp tree");
    std::fs::copy(root.join("ARCHITECTURE.md"), dir.join("ARCHITECTURE.md")).expect("copy");
    std::fs::write(
        dir.join("src/nodes/bad.rs"),
        "//! bad\nuse crate::sim::NodeCtx;\nuse crate::testbed::run;\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("src/sim.rs"),
        "//! ok\nuse crate::history::emit;\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("src/sip.rs"),
        "//! sideways\nuse crate::rpc::Frame;\n",
    )
    .expect("write");
    let found = violations(&dir);
    std::fs::remove_dir_all(&dir).expect("clean up");
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].contains("src/nodes/bad.rs:3:") && found[0].contains("upwards"));
    assert!(found[1].contains("src/sip.rs:2:") && found[1].contains("sideways"));
}
