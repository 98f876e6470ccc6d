//! Message templates: text with `{{path}}` placeholders filled from the facts.
//!
//! A placeholder path is relative to the rule's fact (`{{release}}`); a leading `$` makes it
//! absolute (`{{$host.kernel.release}}`). Values are rendered for people by the field's unit
//! suffix (`*_bytes` in decimal GB, `*_us` as ms), unless `|raw` follows the path; `|reason`
//! shows only why a fact is unavailable.

use serde::Deserialize;
use serde_json::Value;

use super::condition::{Resolved, join_path, resolve};
use crate::value::quantity::{Dimension, field_unit, format_bytes, format_duration_us};

/// How a placeholder's value is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Filter {
    /// Formatted by unit suffix.
    Human,
    /// As stored.
    Raw,
    /// Only why the fact is unavailable (empty when it is available).
    Reason,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Field {
        path: String,
        absolute: bool,
        filter: Filter,
    },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct Template {
    pieces: Vec<Piece>,
    source: String,
}

impl TryFrom<String> for Template {
    type Error = String;

    fn try_from(source: String) -> Result<Self, Self::Error> {
        let mut pieces = Vec::new();
        let mut rest = source.as_str();
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("unclosed `{{{{` in template {source:?}"))?;
            let inner = after[..close].trim();
            let (path, filter) = match inner.split_once('|') {
                Some((p, f)) => (p.trim(), Some(f.trim())),
                None => (inner, None),
            };
            let filter = match filter {
                None => Filter::Human,
                Some("raw") => Filter::Raw,
                Some("reason") => Filter::Reason,
                Some(other) => {
                    return Err(format!(
                        "unknown template filter {other:?} (`raw` or `reason`)"
                    ));
                }
            };
            let (path, absolute) = match path.strip_prefix('$') {
                Some(p) => (p, true),
                None => (path, false),
            };
            if path.contains(char::is_whitespace) {
                return Err(format!("placeholder {inner:?} is not a fact path"));
            }
            pieces.push(Piece::Field {
                path: path.to_string(),
                absolute,
                filter,
            });
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template { pieces, source })
    }
}

impl Template {
    /// Fills the placeholders; `base` is the rule's fact path for the current item.
    ///
    /// An unavailable fact's reason is shown once, however many placeholders lie under it
    /// (`{{endpoint}}{{$docker|reason}}` on an unreachable engine reads `unavailable (why)`,
    /// not the reason twice).
    pub fn render(&self, root: &Value, base: &str) -> String {
        self.fill(root, base).0
    }

    /// Renders an observed value: `None` when no placeholder found anything to show (every one
    /// missing, null, an empty list or an available fact's empty reason), so a report never
    /// shows a line of placeholders (`exit code —`, `none (none)`). A template without
    /// placeholders is shown as written.
    pub fn render_observed(&self, root: &Value, base: &str) -> Option<String> {
        let (text, fields, shown) = self.fill(root, base);
        (fields == 0 || shown > 0).then_some(text)
    }

    /// The text, the number of placeholders, and how many of them showed something.
    fn fill(&self, root: &Value, base: &str) -> (String, usize, usize) {
        let mut out = String::new();
        let (mut fields, mut shown) = (0, 0);
        let mut reasons: Vec<String> = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Field {
                    path,
                    absolute,
                    filter,
                } => {
                    let full = if *absolute {
                        path.clone()
                    } else {
                        join_path(base, path)
                    };
                    fields += 1;
                    let found = resolve(root, &full);
                    match (filter, found) {
                        (Filter::Reason, Resolved::Unavailable { reason, .. }) => {
                            if !reasons.contains(&reason) {
                                out.push_str(&reason);
                                reasons.push(reason);
                                shown += 1;
                            }
                        }
                        (Filter::Reason, _) => {}
                        (_, Resolved::Unavailable { reason, .. }) => {
                            shown += 1;
                            if reasons.contains(&reason) {
                                out.push_str("unavailable");
                            } else {
                                out.push_str(&format!("unavailable ({reason})"));
                                reasons.push(reason);
                            }
                        }
                        (f, found) => {
                            if shows_something(&found) {
                                shown += 1;
                            }
                            out.push_str(&render_value(found, &full, *f == Filter::Raw));
                        }
                    }
                }
            }
        }
        (out, fields, shown)
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Whether a resolved value has anything to show (not missing, null or an empty list).
fn shows_something(found: &Resolved<'_>) -> bool {
    match found {
        Resolved::Missing | Resolved::Value(Value::Null) => false,
        Resolved::Value(Value::Array(items)) => !items.is_empty(),
        _ => true,
    }
}

/// Renders one resolved value for a message.
pub fn render_value(found: Resolved<'_>, full_path: &str, raw: bool) -> String {
    match found {
        Resolved::Missing => "—".to_string(),
        Resolved::Unavailable { reason, .. } => format!("unavailable ({reason})"),
        Resolved::Value(v) => match v {
            Value::Null => "none".to_string(),
            Value::String(s) => s.clone(),
            Value::Number(n) if !raw => {
                let f = n.as_f64().unwrap_or(0.0);
                match field_unit(full_path) {
                    (Dimension::Bytes, factor) => format_bytes(f * factor),
                    (Dimension::Duration, factor) => format_duration_us(f * factor),
                    // `2.0` CPUs reads as 2.
                    (Dimension::Plain, _) if f.fract() == 0.0 && f.abs() < 1e15 => {
                        format!("{f:.0}")
                    }
                    (Dimension::Plain, _) => n.to_string(),
                }
            }
            Value::Array(items) if items.is_empty() => "none".to_string(),
            Value::Array(items) => items
                .iter()
                .map(|i| render_value(Resolved::Value(i), "", raw))
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> Template {
        Template::try_from(s.to_string()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn observed_values_are_never_placeholders() {
        let facts = json!({
            "docker": {"unavailable": "no Docker socket at /x"},
            "probe": {"exit_code": null, "skipped": true},
            "links": [{"webapp": null, "hostname": null, "closed": []}],
            "api": {"url": null, "source": null},
            "cpu": {"effective": 2, "quota": null}
        });
        // Every placeholder empty: nothing to show.
        assert_eq!(
            t("exit code {{exit_code}}").render_observed(&facts, "probe"),
            None
        );
        assert_eq!(
            t("{{webapp}} → {{hostname}}: closed {{closed}}").render_observed(&facts, "links.0"),
            None
        );
        assert_eq!(
            t("{{url}} ({{source}})").render_observed(&facts, "api"),
            None
        );
        // Some value present: the rest may read `none` (no CPU quota is a fact).
        assert_eq!(
            t("{{effective}} usable, quota {{quota}}").render_observed(&facts, "cpu"),
            Some("2 usable, quota none".to_string())
        );
        // An unavailable fact's reason once, not once per placeholder.
        assert_eq!(
            t("{{endpoint}}{{$docker|reason}}").render_observed(&facts, "docker"),
            Some("unavailable (no Docker socket at /x)".to_string())
        );
        assert_eq!(
            t("{{$docker|reason}} / {{$docker|reason}}").render(&facts, ""),
            "no Docker socket at /x / "
        );
        // No placeholders at all: shown as written.
        assert_eq!(
            t("fixed").render_observed(&facts, ""),
            Some("fixed".to_string())
        );
    }

    #[test]
    fn renders_fields_with_units() {
        let facts = json!({"host": {
            "memory": {"total_bytes": 25_276_510_208u64},
            "kernel": {"release": "6.1.0"},
            "glibc": {"unavailable": "not found"},
            "disk": {"p50_us": 350.0, "paths": ["/", "/var/lib/docker"]}
        }});
        assert_eq!(
            t("RAM {{memory.total_bytes}} on {{$host.kernel.release}}").render(&facts, "host"),
            "RAM 25.2 GB on 6.1.0"
        );
        assert_eq!(
            t("{{memory.total_bytes|raw}}").render(&facts, "host"),
            "25276510208"
        );
        assert_eq!(
            t("{{glibc.version}}").render(&facts, "host"),
            "unavailable (not found)"
        );
        assert_eq!(t("{{nothing}}!").render(&facts, "host"), "—!");
        assert_eq!(
            t("{{disk.p50_us}} at {{disk.paths}}").render(&facts, "host"),
            "350 µs at /, /var/lib/docker"
        );
        assert_eq!(t("plain").render(&facts, "host"), "plain");
        let empty = json!({"l": []});
        assert_eq!(t("{{l}}").render(&empty, ""), "none");
        assert_eq!(
            t("why: {{glibc|reason}}").render(&facts, "host"),
            "why: not found"
        );
        assert_eq!(t("why: {{kernel|reason}}").render(&facts, "host"), "why: ");
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(Template::try_from("{{open".to_string()).is_err());
        assert!(Template::try_from("{{a|upper}}".to_string()).is_err());
        assert!(Template::try_from("{{a b}}".to_string()).is_err());
    }
}
