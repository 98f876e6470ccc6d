//! Log signature scanning throughput, in process, on one core: 100 MiB of varied coreapp-like
//! log lines (a match about every 5,000 lines) against the whole default signature set.
//!
//! `cargo bench --bench signatures`. Prints MB/s (median of 5 runs); the target is at least
//! 200 MB/s on one core.

use std::time::{Duration, Instant};

use time::OffsetDateTime;
use wa_preflight::facts::logs::{Dating, LogSource, Scanner, SourceText};
use wa_preflight::rules::RuleSet;

fn corpus(bytes: usize) -> Vec<u8> {
    let ordinary: [&str; 12] = [
        "INFO  [msg] delivered message id=wamid.HBgLMTQxNTU1NTAxMjMVAgARGBI queue=outbound latency_ms=",
        "DEBUG [db] pool stats active=4 idle=12 waiting=0 max=50 engine=mysql round=",
        "INFO  [http] POST /v1/messages 201 3.1ms user-agent=curl/7.88 request=",
        "WARN  [media] upload retry 1/3 size=48211 type=image/jpeg attempt=",
        "INFO  [gateway] heartbeat ok rtt=41ms region=eu seq=",
        "INFO  [msg] status read for 14155550123@s.whatsapp.net n=",
        "DEBUG [router] shard 3 of 8 took the message, queue depth ",
        "INFO  [webhook] POST https://hooks.example.com/wa 200 in 180ms id=",
        "DEBUG [db] SELECT message_id FROM messages WHERE status = 2 LIMIT 100 -- rows ",
        "INFO  [cfg] reloaded templates: 42 languages, checksum ",
        "DEBUG [media] cache hit ratio 0.93 for bucket ",
        "INFO  [msg] sent template to +14155550199 ok n=",
    ];
    let rare: [&str; 4] = [
        "ERROR [db] ERROR 1045 (28000): Access denied for user 'wa'@'10.0.0.7' (using password: YES)",
        "ERROR [db] Lost connection to server during query",
        "ERROR [media] write /usr/local/wamedia/outgoing/x: No space left on device",
        "WARN  [health] 1011 Service not ready",
    ];
    let mut out = Vec::with_capacity(bytes + 256);
    let mut i: usize = 0;
    let mut t = OffsetDateTime::now_utc() - time::Duration::hours(2);
    let f = time::format_description::well_known::Rfc3339;
    while out.len() < bytes {
        t += time::Duration::milliseconds(7);
        out.extend_from_slice(t.format(&f).unwrap_or_default().as_bytes());
        out.push(b' ');
        if i % 5_003 == 4_999 {
            out.extend_from_slice(rare[(i / 5_003) % rare.len()].as_bytes());
        } else {
            out.extend_from_slice(ordinary[i % ordinary.len()].as_bytes());
            out.extend_from_slice(i.to_string().as_bytes());
        }
        out.push(b'\n');
        i += 1;
    }
    out
}

fn main() {
    let set = match RuleSet::embedded() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("embedded rules: {e}");
            std::process::exit(1);
        }
    };
    let patterns = set.patterns().to_vec();
    let scanner = match Scanner::new(&patterns) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("patterns: {e}");
            std::process::exit(1);
        }
    };
    let text = corpus(100 << 20);
    let sources = [SourceText {
        source: LogSource::Coreapp,
        name: "bench".into(),
        text,
        dating: Dating::Docker,
    }];
    let mut runs: Vec<Duration> = Vec::new();
    let mut matches = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let f = scanner.scan(&sources, &[], OffsetDateTime::now_utc(), "bench");
        runs.push(started.elapsed());
        matches = f
            .signatures
            .values()
            .filter_map(|s| match s {
                wa_preflight::facts::Fact::Available(s) => Some(s.count),
                _ => None,
            })
            .sum::<u64>();
    }
    runs.sort();
    let median = runs[runs.len() / 2];
    let mb = sources[0].text.len() as f64 / 1e6;
    println!(
        "signatures: {} patterns over {mb:.0} MB of log in {:.3} s (median of 5): {:.0} MB/s, {matches} matches",
        patterns.len(),
        median.as_secs_f64(),
        mb / median.as_secs_f64()
    );
}
