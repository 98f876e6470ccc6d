//! The layer check: the table in `lib.rs`'s module doc is the rule, and every module's sources
//! are read for the modules they name. A module may name itself and what its row allows,
//! nothing else; so an upward import (`use crate::rules` under `src/facts/`) fails this test
//! with the file and the line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

const LIB: &str = include_str!("lib.rs");

/// One row of the table: its layer and the modules it may import.
#[derive(Debug)]
struct Row {
    layer: u32,
    allowed: BTreeSet<String>,
}

/// The table of `lib.rs`, "leaves" expanded to every module of layer 0 but the row's own.
fn table(doc: &str) -> BTreeMap<String, Row> {
    let tick = Regex::new(r"`([a-z_][a-z0-9_]*)`").unwrap();
    let mut raw = Vec::new();
    for line in doc.lines() {
        let Some(row) = line.strip_prefix("//! |") else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let Ok(layer) = cells[0].parse::<u32>() else {
            continue; // the header and the separator
        };
        assert_eq!(cells.len(), 5, "a layer row has four cells: {line}");
        let module = tick
            .captures(cells[1])
            .unwrap_or_else(|| panic!("no `module` in {line}"))[1]
            .to_string();
        let named: BTreeSet<String> = tick
            .captures_iter(cells[3])
            .map(|c| c[1].to_string())
            .collect();
        raw.push((module, layer, named, cells[3].contains("leaves")));
    }
    let leaves: BTreeSet<String> = raw
        .iter()
        .filter(|r| r.1 == 0)
        .map(|r| r.0.clone())
        .collect();
    raw.into_iter()
        .map(|(module, layer, mut allowed, with_leaves)| {
            if with_leaves {
                allowed.extend(leaves.iter().filter(|l| **l != module).cloned());
            }
            (module, Row { layer, allowed })
        })
        .collect()
}

/// The modules `lib.rs` declares (`pub mod x;`), this test's own excepted.
fn declared(lib: &str) -> BTreeSet<String> {
    let decl = Regex::new(r"(?m)^pub mod ([a-z_][a-z0-9_]*);").unwrap();
    decl.captures_iter(lib).map(|c| c[1].to_string()).collect()
}

/// The top-level modules `text` names, with the line of each, for a file whose module path is
/// `depth` deep (`src/facts/mod.rs` 1, `src/facts/docker/statx.rs` 3): `crate::x`,
/// `wa_preflight::x`, `crate::{x, y::z}` and `super::…::x` with as many `super`s as reach the
/// crate root. (A `super` chain in an inline module, such as `mod tests`, is counted from the
/// file's module: one `super` short of the root is then taken for the root, which can only
/// report too much, never too little.)
fn named(text: &str, depth: usize) -> Vec<(usize, String)> {
    let path =
        Regex::new(r"\b(?:crate|wa_preflight|((?:super::)+))(?:::)?(\{|[a-z_][a-z0-9_]*)").unwrap();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for c in path.captures_iter(line) {
            let whole = c.get(0).unwrap();
            let supers = c.get(1).map_or(0, |s| s.as_str().len() / "super::".len());
            if c.get(1).is_none() && !whole.as_str().contains("::") {
                continue; // the bare word `crate` (`pub(crate)`)
            }
            if supers > 0 && supers < depth {
                continue; // inside the module's own tree
            }
            let first = &c[2];
            if first != "{" {
                out.push((i + 1, first.to_string()));
                continue;
            }
            // A group: the first name of each top-level item, up to the closing brace (which
            // may be lines below).
            let rest = &text[offset_of(text, i) + whole.end()..];
            let mut level = 1;
            let mut item = String::new();
            let mut items = Vec::new();
            for ch in rest.chars() {
                match ch {
                    '{' => level += 1,
                    '}' if level == 1 => break,
                    '}' => level -= 1,
                    ',' if level == 1 => items.push(std::mem::take(&mut item)),
                    _ if level == 1 => item.push(ch),
                    _ => {}
                }
            }
            items.push(item);
            for it in items {
                let name: String = it
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push((i + 1, name));
                }
            }
        }
    }
    out
}

/// The byte offset of line `n` (from 0) in `text`.
fn offset_of(text: &str, n: usize) -> usize {
    text.split_inclusive('\n').take(n).map(str::len).sum()
}

/// The `.rs` files of a top-level module with the depth of each one's module path.
fn sources(src: &Path, module: &str) -> Vec<(PathBuf, usize)> {
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        return vec![(file, 1)];
    }
    let mut out = Vec::new();
    let mut todo = vec![(src.join(module), 1)];
    while let Some((dir, depth)) = todo.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                todo.push((p, depth + 1));
            } else if p.extension().is_some_and(|e| e == "rs") {
                let d = if p.file_name().is_some_and(|n| n == "mod.rs") {
                    depth
                } else {
                    depth + 1
                };
                out.push((p, d));
            }
        }
    }
    out
}

/// Every import of `module` that its row does not allow, as `file:line: names x`.
fn violations(
    module: &str,
    text: &str,
    depth: usize,
    shown: &str,
    rows: &BTreeMap<String, Row>,
) -> Vec<String> {
    let row = &rows[module];
    named(text, depth)
        .into_iter()
        .filter(|(_, name)| {
            rows.contains_key(name) && name != module && !row.allowed.contains(name)
        })
        .map(|(line, name)| {
            format!(
                "{shown}:{line}: `{module}` (layer {}) imports `{name}` (layer {}), which its row \
                 in lib.rs does not allow",
                row.layer, rows[&name].layer
            )
        })
        .collect()
}

#[test]
fn every_module_imports_only_what_its_layer_allows() {
    let rows = table(LIB);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for module in rows.keys() {
        for (path, depth) in sources(&src, module) {
            let text = std::fs::read_to_string(&path).unwrap();
            let shown = path
                .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .unwrap_or(&path);
            found.extend(violations(
                module,
                &text,
                depth,
                &shown.display().to_string(),
                &rows,
            ));
        }
    }
    assert!(
        found.is_empty(),
        "imports against the layers:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_table_names_every_module_and_points_one_way() {
    let rows = table(LIB);
    let in_table: BTreeSet<String> = rows.keys().cloned().collect();
    assert_eq!(
        in_table,
        declared(LIB),
        "every `pub mod` of lib.rs has one row in its layer table, and every row a module"
    );
    for (module, row) in &rows {
        for dep in &row.allowed {
            let below = rows
                .get(dep)
                .unwrap_or_else(|| panic!("{module} may import {dep}, which has no row"));
            assert!(
                below.layer <= row.layer,
                "{module} (layer {}) may import {dep} of the higher layer {}",
                row.layer,
                below.layer
            );
        }
    }
    // No cycle, also among the modules of one layer: peel off modules whose allowed imports are
    // all peeled already.
    let mut done: BTreeSet<&str> = BTreeSet::new();
    while done.len() < rows.len() {
        let next: Vec<&str> = rows
            .iter()
            .filter(|(m, r)| {
                !done.contains(m.as_str()) && r.allowed.iter().all(|d| done.contains(d.as_str()))
            })
            .map(|(m, _)| m.as_str())
            .collect();
        assert!(
            !next.is_empty(),
            "the layer table has a cycle among {:?}",
            rows.keys()
                .filter(|m| !done.contains(m.as_str()))
                .collect::<Vec<_>>()
        );
        done.extend(next);
    }
}

/// The check sees each way a module can be named, and only those.
#[test]
fn upward_imports_are_found_in_every_form() {
    let rows = table(LIB);
    let bad = |text: &str, depth: usize| violations("facts", text, depth, "x.rs", &rows);
    assert_eq!(bad("use crate::rules::Status;\n", 1).len(), 1);
    assert_eq!(bad("let s = wa_preflight::report::exit::OK;\n", 2).len(), 1);
    assert_eq!(
        bad("use crate::{\n    input,\n    config::Config,\n};\n", 1).len(),
        1
    );
    assert_eq!(
        bad("use crate::{value::{version, quantity}, rules};\n", 1).len(),
        1
    );
    assert_eq!(bad("use super::super::bundle::Request;\n", 2).len(), 1);
    assert_eq!(
        bad("#[serde(deserialize_with = \"crate::config::x\")]\n", 3).len(),
        1
    );
    assert_eq!(bad("/// See [`crate::daemon::Settings`].\n", 1).len(), 1);
    // Allowed: itself, leaves, its own tree, words that are not paths.
    assert!(
        bad(
            "use crate::facts::Fact;\nuse crate::value::version::Version;\n",
            2
        )
        .is_empty()
    );
    assert!(bad("use super::network::Peer;\nuse super::super::Fact;\n", 3).is_empty());
    assert!(
        bad(
            "pub(crate) fn f() {}\ntracing::info!(target: \"wa_preflight::transition\", \"\");\n",
            1
        )
        .is_empty()
    );
    assert!(bad("use crate::{bounds, input::TEXT_LIMIT};\n", 1).is_empty());
}
