//! Looking from inside a container: its network namespace and its view of name resolution.
//!
//! A check of "can the coreapp reach WhatsApp" run from the host answers the wrong question when
//! the container sits on a Docker network with its own routes, DNS (127.0.0.11 on user-defined
//! networks) and `/etc/hosts` (compose `links`). So the network gatherers move a dedicated
//! thread into the container's network namespace (`setns` on `/proc/PID/ns/net`, needs
//! CAP_SYS_ADMIN, i.e. root) and read the container's `/etc/hosts` and `/etc/resolv.conf`
//! through `/proc/PID/root`. Nothing has to exist in the image: no `nc`, no shell.

use std::path::PathBuf;

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

/// Where network checks run from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vantage {
    /// The host's own namespace and resolver.
    Host,
    /// A running container's network namespace.
    Container {
        /// The container's name.
        name: String,
        /// Its main process's PID on the host, whose `/proc/PID/ns/net` is entered.
        pid: i64,
    },
}

impl Vantage {
    /// How the report names it.
    pub fn describe(&self) -> String {
        match self {
            Vantage::Host => "host".to_string(),
            Vantage::Container { name, .. } => format!("container {name}"),
        }
    }

    /// A file as the container sees it (`/etc/hosts`), or the host's own.
    pub fn file(&self, path: &str) -> PathBuf {
        match self {
            Vantage::Host => PathBuf::from(path),
            Vantage::Container { pid, .. } => PathBuf::from(format!("/proc/{pid}/root{path}")),
        }
    }

    /// Moves the calling thread into this vantage point's network namespace. Call it only on a
    /// thread made for the purpose: the thread stays there.
    ///
    /// # Errors
    ///
    /// A message naming the container when its `/proc/PID/ns/net` cannot be opened (it stopped) or
    /// `setns` is refused (needs root / `CAP_SYS_ADMIN`). The host vantage never fails.
    pub fn enter(&self) -> Result<(), String> {
        let Vantage::Container { name, pid } = self else {
            return Ok(());
        };
        let path = format!("/proc/{pid}/ns/net");
        let ns = std::fs::File::open(&path)
            .map_err(|e| format!("cannot open {path} of container {name}: {e}"))?;
        move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&ns),
            Some(LinkNameSpaceType::Network),
        )
        .map_err(|e| {
            format!(
                "cannot enter the network namespace of container {name} ({path}): {e}{}",
                if e == rustix::io::Errno::PERM {
                    " (needs root / CAP_SYS_ADMIN)"
                } else {
                    ""
                }
            )
        })
    }
}

/// Runs `f` on a new thread inside `vantage`'s network namespace.
///
/// Sockets keep the namespace they were made in, so `f` may also just create sockets and hand
/// them back. The thread is detached: a caller that stops waiting at its deadline leaves a
/// stuck syscall behind instead of hanging.
pub fn spawn_in<T, F>(vantage: &Vantage, f: F) -> std::sync::mpsc::Receiver<Result<T, String>>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let vantage = vantage.clone();
    let spawned = std::thread::Builder::new()
        .name("netns".into())
        .spawn(move || {
            let r = vantage.enter().map(|()| f());
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        let (tx, rx2) = std::sync::mpsc::channel();
        let _ = tx.send(Err(format!("cannot start a thread: {e}")));
        return rx2;
    }
    rx
}

/// Entries of a hosts file: name → addresses, in file order.
pub fn parse_hosts(text: &str) -> Vec<(String, std::net::IpAddr)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut parts = line.split_whitespace();
        let Some(Ok(addr)) = parts.next().map(str::parse::<std::net::IpAddr>) else {
            continue;
        };
        for name in parts {
            out.push((name.to_ascii_lowercase(), addr));
        }
    }
    out
}

/// The parts of resolv.conf a resolver needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvConf {
    /// `nameserver` addresses, in order (127.0.0.1 when there is none).
    pub nameservers: Vec<std::net::IpAddr>,
    /// Search domains of the last `search` or `domain` line, in order.
    pub search: Vec<String>,
}

/// Parses resolv.conf; with no `nameserver` line the resolver's default is 127.0.0.1.
pub fn parse_resolv_conf(text: &str) -> ResolvConf {
    let mut conf = ResolvConf::default();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut parts = line.split_whitespace();
        match parts.next() {
            Some("nameserver") => {
                if let Some(Ok(ip)) = parts.next().map(|s| {
                    // Link-local IPv6 servers carry a zone (`fe80::1%eth0`): drop it.
                    s.split('%').next().unwrap_or(s).parse::<std::net::IpAddr>()
                }) {
                    conf.nameservers.push(ip);
                }
            }
            Some("search") | Some("domain") => {
                conf.search = parts.map(str::to_string).collect();
            }
            _ => {}
        }
    }
    if conf.nameservers.is_empty() {
        conf.nameservers
            .push(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    }
    conf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_resolv_conf() {
        let hosts = parse_hosts(
            "127.0.0.1\tlocalhost\n::1 localhost ip6-localhost # c\n172.17.0.2\tcoreapp 4f2a0c\n# x\nbogus line\n",
        );
        assert_eq!(hosts.len(), 5);
        assert_eq!(hosts[3].0, "coreapp");
        let rc = parse_resolv_conf(
            "# generated\nsearch example.com corp\nnameserver 127.0.0.11\nnameserver fe80::1%eth0\noptions ndots:0\n",
        );
        assert_eq!(rc.nameservers.len(), 2);
        assert_eq!(rc.search, vec!["example.com", "corp"]);
        assert_eq!(
            parse_resolv_conf("").nameservers,
            vec![std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)]
        );
    }

    #[test]
    fn host_vantage_needs_nothing() {
        let rx = spawn_in(&Vantage::Host, || 7);
        assert_eq!(rx.recv().unwrap(), Ok(7));
        let bad = Vantage::Container {
            name: "gone".into(),
            pid: i64::from(i32::MAX),
        };
        let err = spawn_in(&bad, || 7).recv().unwrap().unwrap_err();
        assert!(err.contains("cannot open /proc/"), "{err}");
    }
}
