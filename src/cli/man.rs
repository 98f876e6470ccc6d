//! `preflight man`: man pages (roff, from the clap command tree, with EXIT STATUS, FILES,
//! ENVIRONMENT and EXAMPLES sections of our own), written whole to standard output (so a
//! closed pipe ends quietly) or one file per command.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, CommandFactory};

use wa_preflight::report::exit;

use super::output::emit_with;
use super::{Cli, Failure, Outcome};

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write preflight.1, preflight-check.1, … into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Man pages (roff), for packaging: `preflight.1` on standard output, or with `--dir` one page
/// per visible command (`preflight.1`, `preflight-check.1`, …).
pub fn run(args: ManArgs) -> Outcome {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    match args.dir {
        None => emit_with(|buf| render(&cmd, buf))?,
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            write_pages(&cmd, &dir)?;
        }
    }
    Ok(exit::OK)
}

fn write_pages(cmd: &clap::Command, dir: &Path) -> Result<(), Failure> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir)?;
    }
    let page = clap_mangen::Man::new(cmd.clone());
    let path = dir.join(page.get_filename());
    let mut text = Vec::new();
    render(cmd, &mut text).context("cannot render a man page")?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// One page: clap_mangen's sections, then ours before VERSION.
pub fn render(cmd: &clap::Command, w: &mut dyn Write) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(w)?;
    }
    let name = cmd.get_name();
    section(w, "EXIT STATUS", &exit_status(name))?;
    section(w, "FILES", FILES)?;
    section(w, "ENVIRONMENT", ENVIRONMENT)?;
    let examples = examples(name);
    if !examples.is_empty() {
        section(w, "EXAMPLES", &examples)?;
    }
    if cmd
        .get_version()
        .or_else(|| cmd.get_long_version())
        .is_some()
    {
        man.render_version_section(w)?;
    }
    Ok(())
}

/// Escapes text for roff: backslashes, hyphens (so they are not hyphenation points) and a
/// leading control character.
fn esc(s: &str) -> String {
    let s = s.replace('\\', "\\\\").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// A section of tagged paragraphs: the tag in bold, then its text.
fn section(w: &mut dyn Write, title: &str, items: &[(&str, &str)]) -> std::io::Result<()> {
    writeln!(w, ".SH \"{title}\"")?;
    for (tag, text) in items {
        writeln!(w, ".TP\n\\fB{}\\fR\n{}", esc(tag), esc(text))?;
    }
    Ok(())
}

fn exit_status(command: &str) -> Vec<(&'static str, &'static str)> {
    let judging = matches!(command, "preflight" | "check");
    let mut items = vec![(
        "0",
        if judging {
            "Every rule passed (or is info, skipped or waived); for other commands, success."
        } else {
            "Success."
        },
    )];
    items.push((
        "1",
        "Internal error of the tool or the environment (for bundle: not written, e.g. because the leak scan found a secret).",
    ));
    items.push((
        "2",
        "Bad usage, rules, config or input file; the message names the flag or the file:line:column.",
    ));
    if judging {
        items.push((
            "3",
            "At least one rule failed or could not be evaluated (with --strict, warnings too).",
        ));
        items.push(("4", "Warnings, but no failure."));
    }
    items
}

const FILES: &[(&str, &str)] = &[
    (
        "/etc/wa-preflight/config.yaml",
        "The config: waivers, profile, storage paths, Docker, database, client API, redaction and daemon settings. --config or WA_PREFLIGHT_CONFIG name another.",
    ),
    (
        "/usr/share/wa-preflight/rules/onprem.yaml",
        "The default rules (also compiled into the binary); --rules adds rules or replaces them by ID.",
    ),
    (
        "/var/lib/wa-preflight/history.db",
        "The daemon's history of runs and transitions (history, diff).",
    ),
    (
        "/etc/docker/daemon.json",
        "Read for a custom seccomp profile (--daemon-json names another).",
    ),
    (
        "/var/run/docker.sock",
        "The Docker Engine API (--docker-host or DOCKER_HOST name another); reading it needs root or the docker group.",
    ),
];

const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "WA_PREFLIGHT_CONFIG",
        "The config file, when --config is not given.",
    ),
    (
        "DOCKER_HOST",
        "The Docker Engine endpoint, when --docker-host and docker.host are not given.",
    ),
    (
        "WA_DB_PASSWORD",
        "The database password, when no password file is given.",
    ),
    (
        "RUST_LOG",
        "Log filter (e.g. wa_preflight=debug); overrides -q and -v.",
    ),
    ("NO_COLOR", "When set and not empty, no colours."),
];

fn examples(command: &str) -> Vec<(&'static str, &'static str)> {
    match command {
        "preflight" => vec![
            (
                "preflight check",
                "Check this host and show what needs doing.",
            ),
            (
                "preflight check --db-env /opt/whatsapp/db.env",
                "Include the database the client uses.",
            ),
            (
                "preflight bundle",
                "Write a redacted support bundle into the working directory.",
            ),
            ("preflight explain host.kernel", "Show one rule in full."),
        ],
        "check" => vec![
            ("preflight check", "Check this host; exit 0, 4 or 3."),
            (
                "preflight check --format json -o report.json",
                "Write the JSON report to a file.",
            ),
            (
                "preflight check --format junit -o - > preflight.xml",
                "JUnit XML for a CI system.",
            ),
            (
                "preflight check --facts bundle.tar.gz",
                "Judge the facts inside a support bundle from another host.",
            ),
            (
                "preflight facts | preflight check --facts -",
                "Gather once, judge from standard input.",
            ),
        ],
        "facts" => vec![
            ("preflight facts", "Print the facts document as JSON."),
            (
                "preflight facts --format yaml -o facts.yaml",
                "Save it as YAML; check --facts reads it back.",
            ),
        ],
        "rules" => vec![
            ("preflight rules", "List the rules."),
            (
                "preflight rules --rules site.yaml --format json",
                "List them with a site's own rules, as JSON.",
            ),
        ],
        "bundle" => vec![
            (
                "preflight bundle",
                "Write wa-preflight-HOST-TIME.tar.gz here; prints its size and sha256.",
            ),
            (
                "preflight bundle -o /tmp/support.tar.zst --since 24h",
                "zstd, with a day of container logs.",
            ),
            (
                "preflight bundle --preview",
                "Show what would be collected and redacted.",
            ),
        ],
        "redact" => vec![(
            "preflight redact old-bundle.tar.gz -o clean.tar.gz",
            "Re-redact a bundle.",
        )],
        "explain" => vec![("preflight explain db.latency", "Show one rule in full.")],
        "daemon" => vec![(
            "preflight daemon --listen 127.0.0.1:9464",
            "Serve /metrics and /v1/report, checking on a schedule.",
        )],
        "history" => vec![(
            "preflight history --since 24h --rule db.latency",
            "What changed for one rule in the last day.",
        )],
        "diff" => vec![(
            "preflight diff",
            "What changed since the last run in which every rule passed.",
        )],
        "completions" => vec![(
            "preflight completions bash > /etc/bash_completion.d/preflight",
            "Install bash completion.",
        )],
        "man" => vec![
            ("preflight man | man -l -", "Read this page."),
            (
                "preflight man --dir /usr/share/man/man1",
                "Install one page per command.",
            ),
        ],
        _ => Vec::new(),
    }
}
