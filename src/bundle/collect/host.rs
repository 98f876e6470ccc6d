//! The host collector: system files and commands (kernel, OS, memory, disks, network,
//! journal, kernel log), each spooled or recorded as `NAME.error`.

use std::path::Path;
use std::time::Duration;

use super::logs::tail_lines;
use super::{Spool, Spooled, command};

/// Host files and command outputs.
///
/// # Errors
///
/// Only when a spool file cannot be written; a host file or command that fails is spooled as a
/// `NAME.error` file saying why.
pub async fn host(
    spool: &Spool,
    max: u64,
    deadline: Duration,
    since: Option<i64>,
) -> Result<Vec<Spooled>, String> {
    let mut files = Vec::new();
    let producer = "host";
    for (name, source) in [
        ("host/os-release", "/etc/os-release"),
        ("host/cmdline", "/proc/cmdline"),
        ("host/meminfo", "/proc/meminfo"),
        ("host/mounts", "/proc/self/mountinfo"),
    ] {
        match spool.host_file(name, producer, Path::new(source), max) {
            Ok(f) => files.push(f),
            Err(e) => files.push(
                spool
                    .bytes(&format!("{name}.error"), producer, e.as_bytes())
                    .map_err(|e| e.to_string())?,
            ),
        }
    }
    let u = rustix::system::uname();
    let uname = format!(
        "{} {} {} {} {}\n",
        u.sysname().to_string_lossy(),
        u.nodename().to_string_lossy(),
        u.release().to_string_lossy(),
        u.version().to_string_lossy(),
        u.machine().to_string_lossy()
    );
    files.push(
        spool
            .bytes("host/uname", producer, uname.as_bytes())
            .map_err(|e| e.to_string())?,
    );
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let count = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    files.push(
        spool
            .bytes(
                "host/cpuinfo-summary",
                producer,
                format!("{count} x {model}\n").as_bytes(),
            )
            .map_err(|e| e.to_string())?,
    );
    let since_arg = since.map(|s| format!("@{s}"));
    let mut commands: Vec<(&str, &str, Vec<&str>)> = vec![
        ("host/df", "df", vec!["-h"]),
        (
            "host/block-devices",
            "lsblk",
            vec!["-o", "NAME,SIZE,ROTA,TYPE,MOUNTPOINT,MODEL"],
        ),
        ("host/dmesg-tail", "dmesg", vec!["-T"]),
        ("host/clock", "timedatectl", vec!["status"]),
    ];
    if let Some(s) = &since_arg {
        commands.push((
            "host/journal-docker",
            "journalctl",
            vec!["-u", "docker.service", "--no-pager", "--since", s],
        ));
    } else {
        commands.push((
            "host/journal-docker",
            "journalctl",
            vec!["-u", "docker.service", "--no-pager", "-n", "2000"],
        ));
    }
    for (name, program, args) in commands {
        let bytes = match command(program, &args, deadline).await {
            Ok(b) if name == "host/dmesg-tail" => tail_lines(&b, 300),
            Ok(b) => b,
            Err(e) => format!("[not collected: {e}]\n").into_bytes(),
        };
        files.push(
            spool
                .bytes(name, producer, &bytes)
                .map_err(|e| e.to_string())?,
        );
    }
    // The kernel's whole ring buffer, each line with its wall-clock time: what the log
    // signatures judge live, so a bundle judged elsewhere sees the same lines.
    let kmsg = tokio::task::spawn_blocking(|| crate::facts::logs::read_kmsg(16 << 20))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    let bytes = kmsg.unwrap_or_else(|e| format!("[not collected: {e}]\n").into_bytes());
    files.push(
        spool
            .bytes("host/kmsg.log", producer, &bytes)
            .map_err(|e| e.to_string())?,
    );
    Ok(files)
}
