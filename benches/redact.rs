//! Redaction throughput, in process, on one core: 100 MB of log text shaped like a coreapp
//! log (most lines ordinary; some with tokens, phone numbers, env dumps, DSNs).
//!
//! `cargo bench --bench redact`. Prints MB/s; the target is 300 MB/s per core or more, and
//! ordinary log lines at least as fast as before the redactor knew every kind of secret.

use std::time::Instant;

use wa_preflight::redact::{PersonalData, Redactor};

fn corpus(bytes: usize) -> Vec<u8> {
    let lines: [&str; 10] = [
        "2026-11-25T10:00:01.123Z INFO  [msg] delivered message id=wamid.HBgLMTQxNTU1NTAxMjMVAgARGBI queue=outbound latency_ms=12",
        "2026-11-25T10:00:01.124Z DEBUG [db] pool stats active=4 idle=12 waiting=0 max=50 engine=mysql",
        "2026-11-25T10:00:01.125Z INFO  [http] POST /v1/messages 201 3.1ms user-agent=curl/7.88",
        "2026-11-25T10:00:01.126Z WARN  [media] upload retry 1/3 size=48211 type=image/jpeg",
        "2026-11-25T10:00:01.127Z INFO  [gateway] heartbeat ok rtt=41ms region=eu",
        "2026-11-25T10:00:01.128Z INFO  [msg] status read for 14155550123@s.whatsapp.net",
        "2026-11-25T10:00:01.129Z DEBUG [auth] Authorization: Bearer abcdefghijklmnop0123456789 accepted",
        "2026-11-25T10:00:01.130Z INFO  [cfg] WA_DB_HOSTNAME=db WA_DB_PASSWORD=hunter2-not-real WA_DB_PORT=3306",
        "2026-11-25T10:00:01.131Z INFO  [webhook] POST https://hooks.example.com/wa 200 in 180ms",
        "2026-11-25T10:00:01.132Z INFO  [msg] sent template to +14155550199 ok",
    ];
    // 1 in 10 lines ordinary-plus-secret is far denser than real logs: a conservative figure.
    let mut out = Vec::with_capacity(bytes + 200);
    let mut i = 0;
    while out.len() < bytes {
        out.extend_from_slice(lines[i % lines.len()].as_bytes());
        out.push(b'\n');
        i += 1;
    }
    out
}

/// The worst case: every other line holds a secret, in the forms real configs and logs use
/// (values with spaces, camelCase names, quoting styles, flags, encodings, personal data).
fn every_other(bytes: usize) -> Vec<u8> {
    let ordinary =
        "2026-11-25T10:00:01.124Z DEBUG [db] pool stats active=4 idle=12 waiting=0 max=50";
    let secrets: [&str; 10] = [
        "2026-11-25T10:00:01.130Z INFO  [cfg] WA_DB_PASSWORD=Green kites over harbour",
        "2026-11-25T10:00:01.131Z DEBUG [cfg] {\"dbPassword\": \"Sky-blue-42\", \"user\": \"wa\"}",
        "2026-11-25T10:00:01.132Z INFO  [cmd] mysql -h db -u wa -pS3cr3t-Mysql waent",
        "2026-11-25T10:00:01.133Z INFO  [http] Cookie: theme=dark; sessionid=8f14e45fceea167a",
        "2026-11-25T10:00:01.134Z INFO  [msg] sent to +44 20 7946 0958 by ops@example.com",
        "2026-11-25T10:00:01.135Z DEBUG [cfg] {'apiToken': 'tok-1234567890', 'x': 1}",
        "2026-11-25T10:00:01.136Z INFO  [db] dsn mysql://wa:p%40ss%2Fword@db:3306/waent",
        "2026-11-25T10:00:01.137Z DEBUG [auth] Authorization: Basic d2E6U2t5LWJsdWUtNDI=",
        "2026-11-25T10:00:01.138Z INFO  [cfg] X-Api-Key: 0123456789abcdef ENCRYPTION_KEY=k3y",
        "2026-11-25T10:00:01.139Z INFO  [sql] CREATE USER wa IDENTIFIED BY 'S3cr3t-SQL';",
    ];
    let mut out = Vec::with_capacity(bytes + 200);
    let mut i = 0;
    while out.len() < bytes {
        let line = if i % 2 == 0 {
            ordinary
        } else {
            secrets[(i / 2) % secrets.len()]
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        i += 1;
    }
    out
}

fn main() {
    let size = 100_000_000;
    let sparse: Vec<u8> = {
        let ordinary =
            b"2026-11-25T10:00:01.124Z DEBUG [db] pool stats active=4 idle=12 waiting=0 max=50\n";
        let secret = b"2026-11-25T10:00:01.130Z INFO  [cfg] WA_DB_HOSTNAME=db WA_DB_PASSWORD=hunter2-not-real\n";
        let mut v = Vec::with_capacity(size + 200);
        let mut i = 0;
        while v.len() < size {
            v.extend_from_slice(if i % 20 == 19 {
                secret.as_slice()
            } else {
                ordinary.as_slice()
            });
            i += 1;
        }
        v
    };
    for (name, sample) in [
        ("dense mix (50% lines with candidates)", corpus(size)),
        ("every other line a secret of another kind", every_other(size)),
        ("1 line in 20 with a secret", sparse),
        (
            "ordinary lines only",
            std::iter::repeat_n(
                b"2026-11-25T10:00:01.124Z DEBUG [db] pool stats active=4 idle=12 waiting=0 max=50\n".as_slice(),
                size / 82,
            )
            .flatten()
            .copied()
            .collect(),
        ),
    ] {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let mut r = Redactor::new(
                PersonalData::default(),
                &[("password".into(), "hunter2-not-real".into())],
                &[],
            )
            .expect("redactor");
            let t = Instant::now();
            r.stream(&mut sample.as_slice(), &mut std::io::sink(), 1 << 20).expect("stream");
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "redaction, {name:<44} {:>7.1} MB/s (best of 3 over {} MB)",
            sample.len() as f64 / 1e6 / best,
            sample.len() / 1_000_000
        );
    }
}
