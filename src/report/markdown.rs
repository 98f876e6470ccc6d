//! Markdown, for pasting into a support ticket.

use super::Report;

/// Escapes text for a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', "<br>")
}

/// Renders the report as a Markdown document.
pub fn render(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::new();
    out.push_str("# wa-preflight report\n\n");
    out.push_str(&format!(
        "- Host: {} ({}; kernel {})\n- Profile: {}\n- Started: {}\n- Tool: {} {}\n- Summary: {} pass, {} info, {} warn, {} fail, {} error, {} skip, {} waived\n\n",
        report.host.hostname.as_deref().unwrap_or("unknown"),
        report.host.os.as_deref().unwrap_or("unknown OS"),
        report.host.kernel.as_deref().unwrap_or("unknown"),
        report.profile,
        report
            .started_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        report.tool.name,
        report.tool.version,
        s.pass, s.info, s.warn, s.fail, s.error, s.skip, s.waived,
    ));
    out.push_str("| Status | Rule | Observed | Message |\n|---|---|---|---|\n");
    for r in &report.results {
        out.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            r.status.as_str().to_uppercase(),
            r.id,
            cell(r.observed.as_deref().unwrap_or("")),
            cell(&r.message)
        ));
    }
    let todo: Vec<_> = report.needing_action().collect();
    if !todo.is_empty() {
        out.push_str("\n## What to do\n\n");
        for r in todo {
            out.push_str(&format!(
                "### `{}` — {} ({})\n\n",
                r.id,
                r.title,
                r.status.as_str()
            ));
            out.push_str(&format!("{}\n\n", r.message));
            if let Some(remedy) = &r.remedy {
                out.push_str(&format!("{remedy}\n\n"));
            }
            if let Some(doc) = &r.doc {
                out.push_str(&format!("Source: <{doc}>\n\n"));
            }
        }
    }
    out
}
