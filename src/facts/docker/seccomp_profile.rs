//! Does a Docker seccomp profile (JSON, as given to `dockerd --seccomp-profile` or
//! `seccomp-profile` in daemon.json) let a container call `statx`?
//!
//! The profile format: `defaultAction`, optional `defaultErrnoRet`, and `syscalls`, each with
//! `names` (or the older `name`), an `action`, optional `args` (conditions on arguments),
//! `includes`/`excludes` by `arches`, `caps` or `minKernel`, and `errnoRet`.
//!
//! An entry applies exactly as Docker's `setupSeccomp` (moby `profiles/seccomp`) decides:
//! `excludes` first, then `includes`; `arches` hold Docker's architecture names (`amd64`,
//! `arm64`, `x86`, `ppc64le`, `s390x`, …: Go's, mapped to libseccomp's native names), compared
//! with the engine's one native name, so an entry gated on any other name (`x32`,
//! `SCMP_ARCH_X86_64`) never applies; `caps` are compared with the container's bounding
//! capabilities (Docker's default set unless the container adds or drops some); `minKernel`
//! with the engine's kernel release. The action that applies decides: `SCMP_ACT_ALLOW` and
//! `SCMP_ACT_LOG` let the call through; `SCMP_ACT_ERRNO` fails it with the entry's `errnoRet`
//! (else `defaultErrnoRet`, else EPERM); `SCMP_ACT_TRACE` fails it with ENOSYS when no tracer
//! is attached (always, under Docker); `SCMP_ACT_KILL*` and `SCMP_ACT_TRAP` kill the caller.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The verdict for `statx` under a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileVerdict {
    /// Where the profile was read from.
    pub path: String,
    /// Whether an unprivileged container may call statx.
    pub statx_allowed: bool,
    /// The seccomp action that applies (`SCMP_ACT_ALLOW`, `SCMP_ACT_ERRNO`, …).
    pub action: String,
    /// The errno a denying `SCMP_ACT_ERRNO` returns, when the profile says.
    pub errno: Option<u64>,
    /// How the action was found (`syscalls entry 12`, `defaultAction`, `unconfined`).
    pub decided_by: String,
    /// The profile is named in daemon.json but the running daemon does not use it yet (it
    /// reports its built-in default): it applies once dockerd restarts. Absent (false) in
    /// older documents.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending_restart: bool,
}

/// Why a profile could not be judged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    /// The text is not JSON.
    #[error("{path}: not valid JSON: {why}")]
    Json {
        /// The profile's path (or name, for a container's inline profile).
        path: String,
        /// The parser's message, with line and column.
        why: String,
    },
    /// JSON without `defaultAction`: not a seccomp profile.
    #[error("{path}: no `defaultAction`, so this is not a seccomp profile")]
    NoDefault {
        /// The profile's path (or name).
        path: String,
    },
}

/// Docker's name for the host architecture, as profiles' `arches` use it (moby `goToNative`).
pub fn host_arch() -> &'static str {
    docker_arch(std::env::consts::ARCH)
}

/// Docker's architecture name for a Rust (`x86_64`) or engine-reported (`x86_64`, `aarch64`)
/// architecture; an unknown one is returned as is (and so matches no Docker name).
pub fn docker_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "amd64" => "amd64",
        "aarch64" | "arm64" => "arm64",
        "x86" | "i386" | "i686" | "386" => "x86",
        "arm" | "armv7l" | "armhf" => "arm",
        "powerpc64" | "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "mips64" => "mips64",
        other => other,
    }
}

/// Capabilities every container gets from Docker unless it drops them (moby
/// `oci/caps/defaults.go`).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux knows (for `--cap-add ALL` and `--privileged`).
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The container a profile is judged for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Docker's architecture name (`amd64`).
    pub arch: String,
    /// The engine's kernel release (`6.1.0-18-amd64`), for `minKernel`. Unknown: an entry
    /// gated on a kernel version is judged as not applying, and the verdict says so.
    pub kernel: Option<String>,
    /// The container's bounding capabilities (`CAP_SYS_ADMIN`).
    pub caps: Vec<String>,
}

impl Target {
    /// A container started with Docker's defaults on this host's architecture.
    pub fn default_container(kernel: Option<String>) -> Target {
        Target {
            arch: host_arch().to_string(),
            kernel,
            caps: DEFAULT_CAPS.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// Docker's defaults changed by `--cap-add`/`--cap-drop` (`ALL`, and names with or without
    /// the `CAP_` prefix, in any case, as Docker accepts them).
    pub fn with_caps(mut self, add: &[String], drop: &[String]) -> Target {
        let norm = |c: &String| {
            let up = c.trim().to_ascii_uppercase();
            if up.starts_with("CAP_") || up == "ALL" {
                up
            } else {
                format!("CAP_{up}")
            }
        };
        let drop: Vec<String> = drop.iter().map(norm).collect();
        if drop.iter().any(|c| c == "ALL") {
            self.caps.clear();
        } else {
            self.caps.retain(|c| !drop.contains(c));
        }
        for c in add.iter().map(norm) {
            if c == "ALL" {
                self.caps = ALL_CAPS.iter().map(|c| c.to_string()).collect();
            } else if !self.caps.contains(&c) {
                self.caps.push(c);
            }
        }
        self
    }
}

/// The seccomp actions Docker passes to runc; runc refuses a profile with any other.
const ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_NOTIFY",
];

fn is_allowing(action: &str) -> bool {
    // LOG allows and logs; everything else keeps the call from succeeding normally.
    matches!(action, "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG")
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => vec![s.as_str()],
        _ => Vec::new(),
    }
}

/// `release >= min` for kernel releases, by their leading dotted numbers (`5.15.0-91`), as
/// Docker's `kernelGreaterEqualThan` compares them.
fn kernel_at_least(release: &str, min: &str) -> bool {
    let nums = |s: &str| -> Vec<u64> {
        s.split(|c: char| !c.is_ascii_digit() && c != '.')
            .next()
            .unwrap_or("")
            .split('.')
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    let (a, b) = (nums(release), nums(min));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x > y;
        }
    }
    true
}

/// Whether a syscalls entry applies to `target`, in Docker's order: excludes, then includes.
/// `unknown_kernel` is set when a `minKernel` could not be compared.
fn applies(entry: &Value, target: &Target, unknown_kernel: &mut bool) -> bool {
    let caps: Vec<&str> = target.caps.iter().map(String::as_str).collect();
    let mut kernel_ge = |min: &str| match &target.kernel {
        Some(k) => Some(kernel_at_least(k, min)),
        None => {
            *unknown_kernel = true;
            None
        }
    };
    let min_kernel = |v: &Value| {
        v.get("minKernel")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
    };
    if let Some(ex) = entry.get("excludes") {
        if strings(ex.get("arches")).contains(&target.arch.as_str()) {
            return false;
        }
        if strings(ex.get("caps")).iter().any(|c| caps.contains(c)) {
            return false;
        }
        if let Some(min) = min_kernel(ex)
            && kernel_ge(&min) != Some(false)
        {
            return false;
        }
    }
    if let Some(inc) = entry.get("includes") {
        let arches = strings(inc.get("arches"));
        if !arches.is_empty() && !arches.contains(&target.arch.as_str()) {
            return false;
        }
        if !strings(inc.get("caps")).iter().all(|c| caps.contains(c)) {
            return false;
        }
        if let Some(min) = min_kernel(inc)
            && kernel_ge(&min) != Some(true)
        {
            return false;
        }
    }
    true
}

/// Judges `statx` under the profile text read from `path`, for the container `target`.
///
/// # Errors
/// [`ProfileError`] when the text is not JSON or has no `defaultAction`.
pub fn judge(path: &str, text: &str, target: &Target) -> Result<ProfileVerdict, ProfileError> {
    let profile: Value = serde_json::from_str(text).map_err(|e| ProfileError::Json {
        path: path.to_string(),
        why: e.to_string(),
    })?;
    let default_action = profile
        .get("defaultAction")
        .and_then(Value::as_str)
        .ok_or_else(|| ProfileError::NoDefault {
            path: path.to_string(),
        })?;
    let default_errno = profile.get("defaultErrnoRet").and_then(Value::as_u64);
    let mut decision: Option<(String, Option<u64>, String)> = None;
    let mut unknown_kernel = false;
    let entries = profile
        .get("syscalls")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, entry) in entries.iter().enumerate() {
        let mut names = strings(entry.get("names"));
        names.extend(strings(entry.get("name")));
        if !names.contains(&"statx") || !applies(entry, target, &mut unknown_kernel) {
            continue;
        }
        let action = entry
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or("SCMP_ACT_ALLOW")
            .to_string();
        let has_args = entry
            .get("args")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        let errno = entry
            .get("errnoRet")
            .and_then(Value::as_u64)
            .or(default_errno);
        let how = if has_args {
            format!("syscalls entry {i} (only for some arguments)")
        } else {
            format!("syscalls entry {i}")
        };
        // An argument-conditional allow does not allow every statx call the client makes;
        // an unconditional entry that comes later overrides an earlier one.
        if has_args && is_allowing(&action) {
            if decision.is_none() {
                decision = Some((default_action.to_string(), default_errno, how));
            }
            continue;
        }
        decision = Some((action, errno, how));
    }
    let (action, errno, mut decided_by) = decision.unwrap_or_else(|| {
        (
            default_action.to_string(),
            default_errno,
            "defaultAction (no entry for statx applies)".to_string(),
        )
    });
    if unknown_kernel {
        decided_by.push_str("; entries gated on minKernel skipped: the kernel is unknown");
    }
    if !ACTIONS.contains(&action.as_str()) {
        // runc refuses a profile with an action it does not know: no container starts.
        return Ok(ProfileVerdict {
            path: path.to_string(),
            statx_allowed: false,
            errno: None,
            decided_by: format!("{decided_by}: unknown action, runc refuses the profile"),
            action,
            pending_restart: false,
        });
    }
    let allowed = is_allowing(&action);
    let errno = match action.as_str() {
        // Docker's SCMP_ACT_ERRNO without an errno returns EPERM.
        "SCMP_ACT_ERRNO" => errno.or(Some(1)),
        // Without a tracer attached (Docker attaches none) the call fails with ENOSYS.
        "SCMP_ACT_TRACE" => Some(38),
        _ => None,
    };
    Ok(ProfileVerdict {
        path: path.to_string(),
        statx_allowed: allowed,
        errno: if allowed { None } else { errno },
        action,
        decided_by,
        pending_restart: false,
    })
}

/// The verdict for `--security-opt seccomp=unconfined` or a daemon without seccomp.
pub fn unconfined(path: &str) -> ProfileVerdict {
    ProfileVerdict {
        path: path.to_string(),
        statx_allowed: true,
        action: "SCMP_ACT_ALLOW".to_string(),
        errno: None,
        decided_by: "unconfined".to_string(),
        pending_restart: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amd64() -> Target {
        Target {
            arch: "amd64".into(),
            kernel: Some("6.1.0-18-amd64".into()),
            caps: DEFAULT_CAPS.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn judge_str(text: &str) -> ProfileVerdict {
        judge("p.json", text, &amd64()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn judge_for(text: &str, target: &Target) -> ProfileVerdict {
        judge("p.json", text, target).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn allow_list_default_with_statx() {
        // The shape of Docker's own default profile: deny by default, allow a list.
        let v = judge_str(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
            "syscalls":[{"names":["read","write","statx","stat"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        assert!(v.statx_allowed);
        assert_eq!(v.decided_by, "syscalls entry 0");
    }

    #[test]
    fn allow_list_without_statx_is_denied() {
        // Docker before 18.04 shipped such a list.
        let v = judge_str(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
            "syscalls":[{"names":["read","write","stat","lstat"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        assert!(!v.statx_allowed);
        assert_eq!((v.action.as_str(), v.errno), ("SCMP_ACT_ERRNO", Some(1)));
        assert!(v.decided_by.starts_with("defaultAction"));
    }

    #[test]
    fn deny_list_default() {
        let open = judge_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["reboot"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        assert!(open.statx_allowed);
        let plain = judge_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["statx"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        assert_eq!(plain.errno, Some(1), "EPERM is Docker's default errno");
        let shut = judge_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["statx"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
        );
        assert!(!shut.statx_allowed);
        assert_eq!(shut.errno, Some(38));
    }

    #[test]
    fn arch_specific_entries_use_dockers_names() {
        // The report that started it: statx allowed only under Docker's own arch names (as
        // its default.json writes them), judged on an amd64 host.
        let amd64_only = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64"]}}]}"#;
        assert!(judge_str(amd64_only).statx_allowed);
        let with_x32 = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64","x32"]}}]}"#;
        assert!(judge_str(with_x32).statx_allowed);
        let arm = Target {
            arch: docker_arch("aarch64").into(),
            ..amd64()
        };
        assert!(!judge_for(amd64_only, &arm).statx_allowed);
        let only_arm = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["arm64"]}}]}"#;
        assert!(!judge_str(only_arm).statx_allowed);
        assert!(judge_for(only_arm, &arm).statx_allowed);
        // libseccomp's names are not Docker's: an entry gated on one never applies.
        let scmp_named = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["SCMP_ARCH_X86_64"]}}]}"#;
        assert!(!judge_str(scmp_named).statx_allowed);
        // x32 is a sub-architecture, never Docker's native name.
        let x32_only = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["x32"]}}]}"#;
        assert!(!judge_str(x32_only).statx_allowed);
        let not_amd64 = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_KILL","excludes":{"arches":["amd64"]}}]}"#;
        assert!(judge_str(not_amd64).statx_allowed);
        assert!(!judge_for(not_amd64, &arm).statx_allowed);
        assert_eq!(docker_arch("x86_64"), "amd64");
        assert_eq!(docker_arch("powerpc64"), "ppc64le");
    }

    #[test]
    fn min_kernel_gates() {
        let inc = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.11"}}]}"#;
        assert!(judge_str(inc).statx_allowed);
        let old = Target {
            kernel: Some("4.9.0-12-amd64".into()),
            ..amd64()
        };
        assert!(!judge_for(inc, &old).statx_allowed);
        let exact = Target {
            kernel: Some("4.11.0".into()),
            ..amd64()
        };
        assert!(judge_for(inc, &exact).statx_allowed);
        // excludes.minKernel: the entry stops applying from that kernel on.
        let exc = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_ERRNO","excludes":{"minKernel":"5.0"}}]}"#;
        assert!(judge_str(exc).statx_allowed);
        assert!(!judge_for(exc, &old).statx_allowed);
        let unknown = Target {
            kernel: None,
            ..amd64()
        };
        let v = judge_for(inc, &unknown);
        assert!(!v.statx_allowed);
        assert!(
            v.decided_by.contains("kernel is unknown"),
            "{}",
            v.decided_by
        );
    }

    #[test]
    fn actions_and_errno() {
        let with = |action: &str, extra: &str| {
            judge_str(&format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["statx"],"action":"{action}"{extra}}}]}}"#
            ))
        };
        let log = with("SCMP_ACT_LOG", "");
        assert!(log.statx_allowed && log.errno.is_none());
        let trace = with("SCMP_ACT_TRACE", "");
        assert_eq!((trace.statx_allowed, trace.errno), (false, Some(38)));
        for kill in [
            "SCMP_ACT_KILL",
            "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD",
            "SCMP_ACT_TRAP",
        ] {
            let v = with(kill, "");
            assert_eq!((v.statx_allowed, v.errno), (false, None), "{kill}");
        }
        let enosys = with("SCMP_ACT_ERRNO", r#","errnoRet":38"#);
        assert_eq!(enosys.errno, Some(38));
        let per_entry = judge_str(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
        );
        assert_eq!(per_entry.errno, Some(13), "the entry's errnoRet wins");
        let typo = with("SCMP_ACT_ALLOWED", "");
        assert!(!typo.statx_allowed);
        assert!(
            typo.decided_by.contains("runc refuses"),
            "{}",
            typo.decided_by
        );
    }

    #[test]
    fn capability_gated_and_argument_conditional_entries() {
        let cap = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}"#;
        assert!(
            !judge_str(cap).statx_allowed,
            "containers with Docker's default capabilities lack CAP_SYS_ADMIN"
        );
        let admin = amd64().with_caps(&["SYS_ADMIN".into()], &[]);
        assert!(judge_for(cap, &admin).statx_allowed, "--cap-add SYS_ADMIN");
        // A default capability counts until the container drops it.
        let chown = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_CHOWN"]}}]}"#;
        assert!(judge_str(chown).statx_allowed);
        let dropped = amd64().with_caps(&[], &["chown".into()]);
        assert!(!judge_for(chown, &dropped).statx_allowed);
        let none = amd64().with_caps(&[], &["ALL".into()]);
        assert!(!judge_for(chown, &none).statx_allowed);
        let excluded = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_ERRNO","excludes":{"caps":["CAP_SYS_ADMIN"]}}]}"#;
        assert!(!judge_str(excluded).statx_allowed);
        assert!(judge_for(excluded, &admin).statx_allowed);
        let args = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_ALLOW","args":[{"index":2,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#;
        let v = judge_str(args);
        assert!(!v.statx_allowed);
        assert!(v.decided_by.contains("only for some arguments"));
    }

    #[test]
    fn old_name_field_and_later_entries_win() {
        let v = judge_str(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"name":"statx","action":"SCMP_ACT_ALLOW"},
            {"names":["statx"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        assert!(!v.statx_allowed);
        assert_eq!(v.decided_by, "syscalls entry 1");
        let logged = judge_str(r#"{"defaultAction":"SCMP_ACT_LOG"}"#);
        assert!(logged.statx_allowed);
    }

    #[test]
    fn broken_profiles() {
        assert!(matches!(
            judge("p", "{not json", &amd64()),
            Err(ProfileError::Json { .. })
        ));
        assert!(matches!(
            judge("p", r#"{"syscalls":[]}"#, &amd64()),
            Err(ProfileError::NoDefault { .. })
        ));
    }
}
