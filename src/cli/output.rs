//! Where command output goes: a file written atomically, or standard output, where a closed
//! pipe (`preflight check | head`) ends the command quietly.

use std::path::Path;

use anyhow::Context;

use wa_preflight::output::write_atomic;

use super::Failure;

pub use wa_preflight::output::is_stdout;

/// Writes `text` to `output` (atomically), or to standard output when there is none or it is
/// `-`.
pub fn emit(output: Option<&Path>, text: &str) -> Result<(), Failure> {
    match output.filter(|p| !is_stdout(p)) {
        Some(path) => write_atomic(path, text.as_bytes(), 0o644)
            .with_context(|| format!("cannot write {}", path.display()))
            .map_err(Failure::Internal),
        None => write_stdout(text.as_bytes()),
    }
}

/// Writes to standard output. A closed pipe (`preflight check | head`) is the reader's
/// choice, not our error: the rest is dropped and the command ends normally.
pub fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other
            .context("cannot write to standard output")
            .map_err(Failure::Internal),
    }
}

/// Streams the file at `path` to standard output (a bundle or a redacted copy written to a
/// private folder first), without holding it in memory; a closed pipe ends it quietly.
pub fn copy_file_to_stdout(path: &Path) -> Result<(), Failure> {
    use std::io::Write;
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("cannot read back {}", path.display()))
        .map_err(Failure::Internal)?;
    let mut out = std::io::stdout().lock();
    match std::io::copy(&mut file, &mut out).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other
            .map(|_| ())
            .with_context(|| format!("cannot copy {} to standard output", path.display()))
            .map_err(Failure::Internal),
    }
}

/// Runs `write` against an in-memory buffer and sends the result to standard output, so
/// writers that take an `io::Write` (man pages, completions) end quietly on a closed pipe too.
pub fn emit_with(write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> Result<(), Failure> {
    let mut buf = Vec::new();
    write(&mut buf).context("cannot render the output")?;
    write_stdout(&buf)
}
