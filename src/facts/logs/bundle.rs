//! Reading a support bundle's copies of the sources instead of the host's.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::sources::state_line;
use super::{Dating, LogSource, LogsFacts, Pattern, Scanner, SourceFacts, SourceText};
use crate::facts::docker::containers::{ContainerFacts, Role};

/// The files of a support bundle the log scan reads, by their path under the bundle's top
/// folder (`docker/NAME/logs.txt`), each its newest bytes.
pub type BundleFiles = BTreeMap<String, Vec<u8>>;

/// Whether a path under a bundle's top folder is one the log scan reads.
pub fn bundle_wants(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["host", "kmsg.log" | "dmesg-tail"] => true,
        ["docker", _, "logs.txt" | "inspect.json"] => true,
        ["docker", _, "files", name] => {
            name.ends_with("-crash.log") || *name == "web.log" || *name == "error.log"
        }
        _ => false,
    }
}

/// Scans a support bundle's copies of the sources with `patterns`, windows ending at the
/// bundle's collection time (`until`): so an old bundle is judged with the current signatures.
///
/// Layout read: `docker/NAME/logs.txt` (with `inspect.json` telling a database image; the
/// WhatsApp roles come from the bundle's facts, `containers`), `docker/NAME/files/*-crash.log`,
/// `web.log`, `error.log`, and `host/kmsg.log` (older bundles: `host/dmesg-tail`) for the kernel.
///
/// # Errors
///
/// As [`gather`](super::gather): only a pattern that does not compile.
pub fn from_bundle(
    files: &BundleFiles,
    patterns: &[Pattern],
    containers: &[ContainerFacts],
    until: OffsetDateTime,
    shown_as: &str,
) -> Result<LogsFacts, String> {
    let scanner = Scanner::new(patterns).map_err(|e| e.to_string())?;
    let mut texts = Vec::new();
    let mut names: Vec<&str> = files
        .keys()
        .filter_map(|k| k.strip_prefix("docker/")?.split('/').next())
        .collect();
    names.dedup();
    for name in names {
        let file = |rest: &str| files.get(&format!("docker/{name}/{rest}"));
        let inspect: Option<serde_json::Value> =
            file("inspect.json").and_then(|b| serde_json::from_slice(b).ok());
        let image = inspect
            .as_ref()
            .and_then(|i| i["Config"]["Image"].as_str())
            .unwrap_or_default()
            .to_string();
        let role = containers.iter().find(|c| c.name == name).map(|c| c.role);
        let (logs_source, wanted): (Option<LogSource>, Vec<(&str, LogSource)>) = match role {
            Some(Role::Coreapp) => (
                Some(LogSource::Coreapp),
                vec![("-crash.log", LogSource::CoreappCrash)],
            ),
            Some(Role::Webapp) => (
                Some(LogSource::Webapp),
                vec![
                    ("web.log", LogSource::WebLog),
                    ("error.log", LogSource::LighttpdError),
                ],
            ),
            None if crate::facts::docker::containers::is_database_image(&image) => {
                (Some(LogSource::Database), Vec::new())
            }
            None => (None, Vec::new()),
        };
        let shown = format!("container {name}");
        if let Some(source) = logs_source
            && let Some(text) = file("logs.txt")
        {
            texts.push(SourceText {
                source,
                name: shown.clone(),
                text: text.clone(),
                dating: Dating::Docker,
            });
        }
        if role.is_some() {
            let killed = inspect
                .as_ref()
                .filter(|i| i["State"]["OOMKilled"].as_bool() == Some(true));
            let text = killed.map_or_else(Vec::new, |i| {
                let at = i["State"]["FinishedAt"].as_str().unwrap_or_default();
                state_line(at, name).into_bytes()
            });
            if inspect.is_some() {
                texts.push(SourceText {
                    source: LogSource::DockerState,
                    name: shown.clone(),
                    text,
                    dating: Dating::Leading,
                });
            }
        }
        let prefix = format!("docker/{name}/files/");
        for (path, bytes) in files.range(prefix.clone()..) {
            let Some(fname) = path.strip_prefix(&prefix) else {
                break;
            };
            for (suffix, source) in &wanted {
                if fname.ends_with(suffix) {
                    texts.push(SourceText {
                        source: *source,
                        name: format!("{shown} {fname}"),
                        text: bytes.clone(),
                        dating: Dating::Leading,
                    });
                }
            }
        }
    }
    // The whole ring buffer when the bundle has it; older bundles hold only dmesg's tail.
    let kernel = ["host/kmsg.log", "host/dmesg-tail"]
        .into_iter()
        .find_map(|name| {
            files
                .get(name)
                .filter(|t| !t.starts_with(b"[not collected"))
                .map(|t| (name, t))
        });
    if let Some((name, text)) = kernel {
        texts.push(SourceText {
            source: LogSource::Kernel,
            name: name.into(),
            text: text.clone(),
            dating: Dating::Leading,
        });
    }
    let mut unreadable = Vec::new();
    for source in LogSource::ALL {
        if patterns.iter().any(|p| p.sources.contains(&source))
            && !texts.iter().any(|t| t.source == source)
        {
            unreadable.push(SourceFacts {
                source,
                name: source.as_str().into(),
                bytes: None,
                note: Some(format!("not in {shown_as}")),
                readable: false,
            });
        }
    }
    Ok(scanner.scan(&texts, &unreadable, until, shown_as))
}
