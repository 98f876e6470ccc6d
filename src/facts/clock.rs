//! Clock: is the kernel clock disciplined by NTP, and does it agree with the client's peers?
//!
//! The coreapp and webapp encrypt their traffic with `WA_SECRET`; their clocks must agree.
//! `adjtimex(2)` (read-only, `modes = 0`) tells whether an NTP daemon (chrony, ntpd,
//! systemd-timesyncd) keeps the kernel clock synchronised, whichever daemon it is and without
//! D-Bus (`timedatectl` needs systemd as PID 1). Offsets to peers — the webapp's HTTP `Date`
//! header — are added by the gatherers that talk to them.

use serde::{Deserialize, Serialize};

/// Another clock compared with ours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockPeer {
    /// What was asked (`webapp API https://127.0.0.1:9090`).
    pub name: String,
    /// Their clock minus ours, corrected by half the round trip.
    pub offset_ms: i64,
    /// How precise the comparison can be (an HTTP Date header has 1 s resolution).
    pub resolution_ms: u64,
}

/// The kernel clock's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockFacts {
    /// NTP-synchronised per the kernel (`adjtimex` state is not `TIME_ERROR` and `STA_UNSYNC` is
    /// clear).
    pub synchronised: bool,
    /// `TIME_OK`, `TIME_INS`, `TIME_DEL`, `TIME_OOP`, `TIME_WAIT` or `TIME_ERROR`.
    pub state: String,
    /// The kernel's maximum error estimate.
    pub max_error_us: i64,
    /// The kernel's estimated error.
    pub est_error_us: i64,
    /// Compared peers; the largest absolute offset is in `max_peer_offset_ms`.
    pub peers: Vec<ClockPeer>,
    /// The largest absolute offset of a peer's clock from ours, in milliseconds (never
    /// negative); null with no peer compared. The client's coreapp and webapp need synchronised
    /// clocks.
    pub max_peer_offset_ms: Option<i64>,
    /// Which peer that is.
    pub max_peer_offset_of: Option<String>,
}

impl ClockFacts {
    /// Adds a compared peer and keeps the summary right.
    pub fn add_peer(&mut self, peer: ClockPeer) {
        let abs = peer.offset_ms.abs();
        if self.max_peer_offset_ms.is_none_or(|m| abs > m) {
            self.max_peer_offset_ms = Some(abs);
            self.max_peer_offset_of = Some(peer.name.clone());
        }
        self.peers.push(peer);
    }
}

/// Reads the kernel clock's state.
///
/// # Errors
///
/// A message when `adjtimex(2)` fails.
pub fn gather() -> Result<ClockFacts, String> {
    // SAFETY: adjtimex with modes = 0 only reads into the zeroed struct we own.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    tx.modes = 0;
    // SAFETY: `tx` is a valid, writable timex.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return Err(format!(
            "adjtimex failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    const STA_UNSYNC: i32 = 0x0040;
    let name = match state {
        0 => "TIME_OK",
        1 => "TIME_INS",
        2 => "TIME_DEL",
        3 => "TIME_OOP",
        4 => "TIME_WAIT",
        5 => "TIME_ERROR",
        _ => "unknown",
    };
    Ok(ClockFacts {
        synchronised: state != 5 && tx.status & STA_UNSYNC == 0,
        state: name.to_string(),
        max_error_us: tx.maxerror as i64,
        est_error_us: tx.esterror as i64,
        peers: Vec::new(),
        max_peer_offset_ms: None,
        max_peer_offset_of: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kernel_clock_and_summarises_peers() {
        let mut c = gather().unwrap();
        assert!(!c.state.is_empty() && c.state != "unknown");
        c.add_peer(ClockPeer {
            name: "a".into(),
            offset_ms: 300,
            resolution_ms: 1000,
        });
        c.add_peer(ClockPeer {
            name: "b".into(),
            offset_ms: -4200,
            resolution_ms: 1000,
        });
        assert_eq!(c.max_peer_offset_ms, Some(4200));
        assert_eq!(c.max_peer_offset_of.as_deref(), Some("b"));
    }
}
