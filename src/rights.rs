//! Whether this process has the rights the checks need: root, or at least access to the
//! Docker socket (membership of its group). Without them many gatherers fail with the same
//! "permission denied"; the command says so once, at the top, with what to do.

use std::path::{Path, PathBuf};

/// Who runs the checks and what they cannot reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rights {
    /// The effective user's name (or `uid N` when /etc/passwd does not name it).
    pub user: String,
    /// The effective user is root (uid 0).
    pub root: bool,
    /// The Docker socket this run would use, when it is a unix socket.
    pub socket: Option<PathBuf>,
    /// Whether the socket can be opened for reading and writing (owner, group or ACL).
    pub socket_ok: bool,
    /// The group that owns the socket (`docker`), when known.
    pub socket_group: Option<String>,
}

impl Rights {
    /// The rights of this process for the Docker `endpoint` (`unix:///var/run/docker.sock`,
    /// `/path`, or a TCP URL, which needs no local rights).
    pub fn of_this_process(endpoint: &str) -> Rights {
        let uid = rustix::process::geteuid();
        let socket = endpoint
            .strip_prefix("unix://")
            .or_else(|| endpoint.starts_with('/').then_some(endpoint))
            .map(PathBuf::from);
        let socket_ok = socket.as_deref().is_none_or(|p| {
            // A socket that does not exist is a different problem (Docker not installed),
            // reported by the Docker rules.
            !p.exists()
                || rustix::fs::access(
                    p,
                    rustix::fs::Access::READ_OK | rustix::fs::Access::WRITE_OK,
                )
                .is_ok()
        });
        Rights {
            user: user_name(uid.as_raw()),
            root: uid.is_root(),
            socket_group: socket.as_deref().and_then(owning_group),
            socket,
            socket_ok,
        }
    }

    /// One line for the operator when the run lacks rights, else `None`: not root and
    /// cannot use the Docker socket.
    pub fn notice(&self) -> Option<String> {
        if self.root || self.socket_ok {
            return None;
        }
        let group = self.socket_group.as_deref().unwrap_or("docker");
        let socket = self.socket.as_deref().map_or_else(
            || "the Docker socket".to_string(),
            |p| p.display().to_string(),
        );
        Some(format!(
            "running as {user}, which is not root and not in the '{group}' group: Docker, container \
             and disk checks cannot read {socket} or the devices and will report permission errors. \
             Run as root (sudo preflight …), or add the user to the group: \
             sudo usermod -aG {group} {user} (then log in again)",
            user = self.user
        ))
    }
}

/// The name of user `uid` from /etc/passwd.
fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let _ = f.next();
                (f.next()? == uid.to_string()).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// The name of the group that owns `path`, from /etc/group.
fn owning_group(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let gid = std::fs::metadata(path).ok()?.gid().to_string();
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _ = f.next();
        (f.next()? == gid).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_names_the_user_the_group_and_what_to_do() {
        let r = Rights {
            user: "alice".into(),
            root: false,
            socket: Some("/var/run/docker.sock".into()),
            socket_ok: false,
            socket_group: Some("docker".into()),
        };
        let n = r.notice().unwrap();
        assert!(n.contains("running as alice"), "{n}");
        assert!(n.contains("sudo usermod -aG docker alice"), "{n}");
        assert!(n.contains("/var/run/docker.sock"), "{n}");
        assert_eq!(
            Rights {
                root: true,
                ..r.clone()
            }
            .notice(),
            None
        );
        assert_eq!(
            Rights {
                socket_ok: true,
                ..r
            }
            .notice(),
            None
        );
        // A TCP endpoint needs no local rights.
        assert!(Rights::of_this_process("tcp://127.0.0.1:2375").socket_ok);
    }
}
