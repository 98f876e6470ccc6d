//! Which dotted paths name something in the facts document. The set comes from the JSON
//! Schema of [`Facts`](crate::facts::Facts), derived from the facts types themselves
//! (schemars), so it cannot drift from what `preflight facts` writes. A rule whose `fact`,
//! condition `path`, `where` or template placeholder names nothing there is an error when the
//! rules load, not an `error` result on every run.
//!
//! Lists take a numeric index (`disks.0.name`); maps (`labels`, `env`) take any key.

use std::sync::OnceLock;

use serde_json::Value;

/// The facts document's schema, walked by dotted path.
pub struct FactPaths {
    schema: Value,
}

/// Schema nodes a path may lead to (one per `anyOf` branch it fits).
pub type Nodes<'a> = Vec<&'a Value>;

const ANY: &Value = &Value::Bool(true);

impl FactPaths {
    /// The schema of this build's facts document, computed once.
    pub fn facts() -> &'static FactPaths {
        static PATHS: OnceLock<FactPaths> = OnceLock::new();
        PATHS.get_or_init(|| FactPaths {
            schema: schemars::schema_for!(crate::facts::Facts).to_value(),
        })
    }

    /// The document's root.
    pub fn root(&self) -> Nodes<'_> {
        vec![&self.schema]
    }

    /// Follows `path` (dotted, relative to `from`) through the schema. `shown` names `from`
    /// in the error, which says which field is unknown and what is there instead.
    ///
    /// # Errors
    ///
    /// A message naming the first unknown field, where it was looked for (`shown` and the path
    /// walked so far), and the fields that are there instead.
    pub fn walk<'a>(
        &'a self,
        from: &[&'a Value],
        path: &str,
        shown: &str,
    ) -> Result<Nodes<'a>, String> {
        let mut cur: Nodes<'a> = from.to_vec();
        let mut walked = shown.to_string();
        for seg in path.split('.').filter(|s| !s.is_empty()) {
            let mut next: Nodes<'a> = Vec::new();
            let mut known: Vec<String> = Vec::new();
            for node in cur.iter().flat_map(|n| self.branches(n)) {
                if is_any(node) {
                    next.push(ANY);
                    continue;
                }
                if let Some(p) = node.get("properties").and_then(|p| p.get(seg)) {
                    next.push(p);
                    continue;
                }
                if let Some(extra) = node.get("additionalProperties").filter(|v| v.is_object()) {
                    next.push(extra);
                    continue;
                }
                if let Some(items) = node.get("items")
                    && seg.parse::<usize>().is_ok()
                {
                    next.push(items);
                    continue;
                }
                if let Some(props) = node.get("properties").and_then(Value::as_object) {
                    known.extend(props.keys().filter(|k| *k != "unavailable").cloned());
                }
                if node.get("items").is_some() {
                    known.push("an index (0, 1, …)".into());
                }
            }
            if next.is_empty() {
                known.sort();
                known.dedup();
                let at = if walked.is_empty() {
                    "the facts document".to_string()
                } else {
                    walked.clone()
                };
                return Err(if known.is_empty() {
                    format!("{at} has no field {seg:?} (it is not an object)")
                } else {
                    format!(
                        "{at} has no field {seg:?}; it has: {} (see docs/facts.md)",
                        known.join(", ")
                    )
                });
            }
            cur = next;
            walked = super::condition::join_path(&walked, seg);
        }
        Ok(cur)
    }

    /// The item schemas of the lists `nodes` may be (for `each` rules).
    pub fn items<'a>(&'a self, nodes: &[&'a Value]) -> Nodes<'a> {
        nodes
            .iter()
            .flat_map(|n| self.branches(n))
            .filter_map(|n| if is_any(n) { Some(ANY) } else { n.get("items") })
            .collect()
    }

    /// The concrete alternatives of a node: `$ref`s resolved, `anyOf`/`oneOf`/`allOf` opened.
    fn branches<'a>(&'a self, node: &'a Value) -> Nodes<'a> {
        let mut out = Vec::new();
        self.open(node, &mut out, 0);
        out
    }

    fn open<'a>(&'a self, node: &'a Value, out: &mut Nodes<'a>, depth: usize) {
        if depth > 32 {
            return;
        }
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            match r
                .strip_prefix("#/")
                .and_then(|p| self.schema.pointer(&format!("/{p}")))
            {
                Some(target) => self.open(target, out, depth + 1),
                None => out.push(ANY),
            }
            return;
        }
        let mut combined = false;
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(list) = node.get(key).and_then(Value::as_array) {
                combined = true;
                for b in list {
                    self.open(b, out, depth + 1);
                }
            }
        }
        if !combined || node.get("properties").is_some() {
            out.push(node);
        }
    }
}

/// A schema that allows anything (`true`, `{}`, or one with no structure, like a
/// `serde_json::Value` field): every path below it is valid.
fn is_any(node: &Value) -> bool {
    match node {
        Value::Bool(b) => *b,
        Value::Object(m) => ![
            "type",
            "properties",
            "items",
            "additionalProperties",
            "$ref",
            "anyOf",
            "oneOf",
            "allOf",
            "enum",
            "const",
        ]
        .iter()
        .any(|k| m.contains_key(*k)),
        _ => false,
    }
}

/// The placeholder paths of a template's source: `(path, absolute)`.
pub fn placeholders(source: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        let inner = after[..close].trim();
        let path = inner.split_once('|').map_or(inner, |(p, _)| p).trim();
        match path.strip_prefix('$') {
            Some(p) => out.push((p, true)),
            None => out.push((path, false)),
        }
        rest = &after[close + 2..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_resolve_and_unknown_ones_are_named() {
        let p = FactPaths::facts();
        let root = p.root();
        for ok in [
            "host.kernel.release",
            "host.storage",
            "host.storage.0.device.disks.0.rotational",
            "docker.wa.containers.0.name",
            "database.latency",
            "schema_version",
        ] {
            p.walk(&root, ok, "")
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let e = p.walk(&root, "host.kernal.release", "").unwrap_err();
        assert!(e.contains("host has no field \"kernal\""), "{e}");
        assert!(e.contains("kernel"), "{e}");
        assert!(p.walk(&root, "host.storage.first", "").is_err());
        let storage = p.walk(&root, "host.storage", "").unwrap();
        let items = p.items(&storage);
        assert!(!items.is_empty());
        p.walk(&items, "latency.sync_write.p50_us", "host.storage[]")
            .unwrap();
        assert!(
            p.walk(&items, "latency.sync_write.p50", "host.storage[]")
                .is_err()
        );
    }

    #[test]
    fn placeholders_are_found() {
        assert_eq!(
            placeholders("a {{x.y}} b {{ $host.z | raw }} {{w|reason}}"),
            vec![("x.y", false), ("host.z", true), ("w", false)]
        );
    }
}
