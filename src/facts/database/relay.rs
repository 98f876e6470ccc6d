//! Connecting to the database as the coreapp does: the TCP connection is made by a thread inside
//! the coreapp's network namespace (sockets keep the namespace they were made in), and a
//! loopback listener in ours hands its bytes to the driver, which connects there. Everything
//! above TCP — TLS, authentication, every query — is the driver's own, end to end with the
//! server; the relay only copies bytes.
//!
//! The listener accepts one connection, and only one made by a process of our own user (the
//! kernel's socket table says who owns the connecting socket), so another local user cannot
//! borrow the coreapp's network through it. It stops when either side closes or when the
//! [`Relay`] is dropped.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::facts::netns::{self, Vantage};

/// Why a TCP connection could not be made, classified like the driver's errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpFailure {
    /// `refused`, `timeout` or `other`.
    pub outcome: &'static str,
    /// What happened, for the report (the address tried and the OS error; no password ever).
    pub message: String,
}

/// Connects to the first of `addrs` that accepts, from inside `vantage`, within `timeout`
/// overall; returns the stream and the address that answered. Never blocks longer than
/// `timeout` and a little: a thread stuck in the namespace is abandoned.
///
/// # Errors
///
/// A [`TcpFailure`]: the namespace cannot be entered, every address refused or failed, or `timeout`
/// passed.
pub fn connect_from(
    vantage: &Vantage,
    addrs: &[String],
    port: u16,
    timeout: Duration,
) -> Result<(TcpStream, String), TcpFailure> {
    let addrs = addrs.to_vec();
    let rx = netns::spawn_in(vantage, move || connect_first(&addrs, port, timeout));
    match rx.recv_timeout(timeout + Duration::from_millis(500)) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(TcpFailure {
            outcome: "other",
            message: e,
        }),
        Err(_) => Err(TcpFailure {
            outcome: "timeout",
            message: format!("no connection within {} ms", timeout.as_millis()),
        }),
    }
}

fn connect_first(
    addrs: &[String],
    port: u16,
    timeout: Duration,
) -> Result<(TcpStream, String), TcpFailure> {
    let started = Instant::now();
    let mut last = TcpFailure {
        outcome: "other",
        message: "no addresses to connect to".to_string(),
    };
    for a in addrs {
        let Ok(ip) = a.parse::<IpAddr>() else {
            continue;
        };
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&SocketAddr::new(ip, port), left) {
            Ok(s) => return Ok((s, a.clone())),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                last = TcpFailure {
                    outcome: "refused",
                    message: format!("{a} refused the connection: no server listens there"),
                };
            }
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                last = TcpFailure {
                    outcome: "timeout",
                    message: format!(
                        "{a} did not answer within {} ms (filtered or black-holed)",
                        timeout.as_millis()
                    ),
                };
            }
            Err(e) => {
                last = TcpFailure {
                    outcome: "other",
                    message: format!("{a}: {e}"),
                };
            }
        }
    }
    Err(last)
}

/// A loopback port whose one connection is joined to a stream made elsewhere.
pub struct Relay {
    /// The loopback port (on 127.0.0.1) the driver connects to.
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    /// Listens on 127.0.0.1 (a free port) and joins the first connection of our own user to
    /// `upstream`.
    ///
    /// # Errors
    ///
    /// Binding the loopback listener or handing `upstream` to tokio failed.
    pub async fn start(upstream: TcpStream) -> std::io::Result<Relay> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let here = listener.local_addr()?;
        upstream.set_nonblocking(true)?;
        let mut upstream = tokio::net::TcpStream::from_std(upstream)?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut down, peer)) = listener.accept().await else {
                    return;
                };
                if !connected_by_us(peer, here) {
                    tracing::warn!(%peer, "refused a connection to the database relay from another user");
                    continue;
                }
                drop(listener);
                let _ = tokio::io::copy_bidirectional(&mut down, &mut upstream).await;
                return;
            }
        });
        Ok(Relay {
            port: here.port(),
            task,
        })
    }
}

/// Whether the socket at `peer`, connected to `here`, belongs to our effective user
/// (`/proc/self/net/tcp`: local address, remote address, uid).
fn connected_by_us(peer: SocketAddr, here: SocketAddr) -> bool {
    let uid = rustix::process::geteuid().as_raw();
    std::fs::read_to_string("/proc/self/net/tcp")
        .map(|table| socket_owner(&table, peer, here) == Some(uid))
        .unwrap_or(false)
}

/// The uid owning the IPv4 socket `local` → `remote` in a `/proc/net/tcp` table.
fn socket_owner(table: &str, local: SocketAddr, remote: SocketAddr) -> Option<u32> {
    let parse = |field: &str| -> Option<SocketAddr> {
        let (ip, port) = field.split_once(':')?;
        let ip = u32::from_str_radix(ip, 16).ok()?;
        let port = u16::from_str_radix(port, 16).ok()?;
        // The kernel prints the address's bytes (network order) as a native-endian number.
        Some(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::from(ip.to_ne_bytes())),
            port,
        ))
    };
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (l, r) = (parse(cols.get(1)?)?, parse(cols.get(2)?)?);
        (l == local && r == remote)
            .then(|| cols.get(7)?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn owner_of_a_socket() {
        let n = u32::from_ne_bytes([127, 0, 0, 1]);
        let table = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: {n:08X}:9C40 {n:08X}:0CEA 01 00000000:00000000 00:00000000 00000000  1000        0 1 1 0000000000000000 20 4 30 10 -1\n"
        );
        let a: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:3306".parse().unwrap();
        assert_eq!(socket_owner(&table, a, b), Some(1000));
        assert_eq!(socket_owner(&table, b, a), None);
    }

    #[test]
    fn refused_and_unparsable_addresses_are_classified() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let e = connect_from(
            &Vantage::Host,
            &["127.0.0.1".into()],
            port,
            Duration::from_secs(2),
        )
        .unwrap_err();
        assert_eq!(e.outcome, "refused", "{e:?}");
        let e = connect_first(&["not-an-ip".into()], port, Duration::from_secs(1)).unwrap_err();
        assert_eq!(e.message, "no addresses to connect to");
    }

    #[tokio::test]
    async fn the_relay_joins_our_connection_to_the_stream() {
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let echo = std::thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf).unwrap();
        });
        let (upstream, at) = connect_from(
            &Vantage::Host,
            &[addr.ip().to_string()],
            addr.port(),
            Duration::from_secs(2),
        )
        .unwrap();
        assert_eq!(at, "127.0.0.1");
        let relay = Relay::start(upstream).await.unwrap();
        let port = relay.port;
        let got = tokio::task::spawn_blocking(move || {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(b"hello").unwrap();
            let mut buf = [0u8; 5];
            c.read_exact(&mut buf).unwrap();
            buf
        })
        .await
        .unwrap();
        assert_eq!(&got, b"hello");
        echo.join().unwrap();
    }
}
