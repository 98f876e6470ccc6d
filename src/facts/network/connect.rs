//! TCP connects, bounded: the first address that accepts within the timeout.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// `d` in whole microseconds, saturating.
pub(super) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Connects to the first address of `addrs` (IP literals; others are skipped) that accepts on
/// `port`, within `timeout` overall. Returns the stream and the address that answered, or the
/// last error in words (`no answer within N ms (filtered or black-holed)` for a timeout), and
/// the time taken either way. Call it on a thread inside the namespace to connect from.
pub fn connect_first(
    addrs: &[String],
    port: u16,
    timeout: Duration,
) -> (Result<(TcpStream, String), String>, Duration) {
    let started = Instant::now();
    let mut last = "no addresses".to_string();
    for a in addrs {
        let Ok(ip) = a.parse::<IpAddr>() else {
            continue;
        };
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&SocketAddr::new(ip, port), left) {
            Ok(s) => return (Ok((s, a.clone())), started.elapsed()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = format!(
                    "no answer within {} ms (filtered or black-holed)",
                    timeout.as_millis()
                );
            }
            Err(e) => last = e.to_string(),
        }
    }
    (Err(last), started.elapsed())
}
