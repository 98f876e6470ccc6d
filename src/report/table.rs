//! The terminal table.

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};

use super::{Report, Status};

fn color(status: Status) -> Color {
    match status {
        Status::Pass => Color::Green,
        Status::Info => Color::Cyan,
        Status::Warn | Status::Waived => Color::Yellow,
        Status::Fail | Status::Error => Color::Red,
        Status::Skip => Color::DarkGrey,
    }
}

/// A table in the house style: UTF-8 borders, wrapped to the terminal, or to 140 columns off a
/// terminal (pipes, files, CI logs), which reads well in a log viewer instead of one endless
/// line per row.
pub fn styled(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    if table.width().is_none() {
        table.set_width(140);
    }
    table
}

/// Renders the results as a table with a summary, then the remedy of every non-passing rule.
pub fn render(report: &Report, use_color: bool) -> String {
    let mut table = styled(&["Status", "Rule", "Observed", "Message"]);
    if use_color {
        table.enforce_styling();
    }
    for r in &report.results {
        let mut status = Cell::new(r.status.as_str().to_uppercase());
        if use_color {
            status = status.fg(color(r.status));
        }
        table.add_row(vec![
            status,
            Cell::new(&r.id),
            Cell::new(r.observed.as_deref().unwrap_or("")),
            Cell::new(&r.message),
        ]);
    }
    let s = &report.summary;
    let mut out = format!(
        "{}\n{} pass, {} info, {} warn, {} fail, {} error, {} skip, {} waived — profile {}, {} ms\n",
        table,
        s.pass,
        s.info,
        s.warn,
        s.fail,
        s.error,
        s.skip,
        s.waived,
        report.profile,
        report.duration_ms
    );
    let todo: Vec<_> = report.needing_action().collect();
    if !todo.is_empty() {
        out.push_str("\nWhat to do:\n");
        for r in todo {
            out.push_str(&format!(
                "- {} ({}): {}\n",
                r.id,
                r.status.as_str(),
                r.title
            ));
            if let Some(remedy) = &r.remedy {
                out.push_str(&format!("  {remedy}\n"));
            }
            if let Some(doc) = &r.doc {
                out.push_str(&format!("  see {doc}\n"));
            }
        }
    }
    out
}
