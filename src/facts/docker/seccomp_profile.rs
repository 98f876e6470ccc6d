//! Does a Docker seccomp profile (JSON, as given to `dockerd --seccomp-profile` or
//! `seccomp-profile` in daemon.json) let a container call `statx`?
//!
//! The profile format: `defaultAction`, optional `defaultErrnoRet`, and `syscalls`, each with
//! `names` (or the older `name`), an `action`, optional `args` (conditions on arguments),
//! `includes`/`excludes` by `arches`, `caps` or `minKernel`, and `errnoRet`. A container
//! started with the defaults gets no extra capabilities, so entries that only apply with a
//! capability (`includes.caps`) do not apply to it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The verdict for `statx` under a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

/// Why a profile could not be judged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("{path}: not valid JSON: {why}")]
    Json { path: String, why: String },
    #[error("{path}: no `defaultAction`, so this is not a seccomp profile")]
    NoDefault { path: String },
}

/// Docker's architecture name for the host (`SCMP_ARCH_X86_64`).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "x86" => "SCMP_ARCH_X86",
        "arm" => "SCMP_ARCH_ARM",
        "powerpc64" => "SCMP_ARCH_PPC64LE",
        "s390x" => "SCMP_ARCH_S390X",
        _ => "SCMP_ARCH_NATIVE",
    }
}

fn is_allowing(action: &str) -> bool {
    // LOG allows and logs; everything else (ERRNO, KILL*, TRAP, TRACE without a tracer,
    // NOTIFY without a listener) keeps the call from succeeding normally.
    matches!(action, "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG")
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => vec![s.as_str()],
        _ => Vec::new(),
    }
}

/// Whether a syscalls entry applies to an unprivileged container on `arch`.
fn applies(entry: &Value, arch: &str) -> bool {
    let includes = entry.get("includes");
    let excludes = entry.get("excludes");
    let inc_arches = strings(includes.and_then(|i| i.get("arches")));
    if !inc_arches.is_empty() && !inc_arches.contains(&arch) {
        return false;
    }
    if strings(excludes.and_then(|e| e.get("arches"))).contains(&arch) {
        return false;
    }
    // Entries gated on a capability only apply to containers granted it.
    strings(includes.and_then(|i| i.get("caps"))).is_empty()
}

/// Judges `statx` under the profile text read from `path`.
pub fn judge(path: &str, text: &str, arch: &str) -> Result<ProfileVerdict, ProfileError> {
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
    let entries = profile
        .get("syscalls")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, entry) in entries.iter().enumerate() {
        let mut names = strings(entry.get("names"));
        names.extend(strings(entry.get("name")));
        if !names.contains(&"statx") || !applies(entry, arch) {
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
    let (action, errno, decided_by) = decision.unwrap_or_else(|| {
        (
            default_action.to_string(),
            default_errno,
            "defaultAction (no entry names statx)".to_string(),
        )
    });
    let allowed = is_allowing(&action);
    // Docker's SCMP_ACT_ERRNO without an errno returns EPERM.
    let errno = errno.or((action == "SCMP_ACT_ERRNO").then_some(1));
    Ok(ProfileVerdict {
        path: path.to_string(),
        statx_allowed: allowed,
        errno: if allowed { None } else { errno },
        action,
        decided_by,
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const X86: &str = "SCMP_ARCH_X86_64";

    fn judge_str(text: &str) -> ProfileVerdict {
        judge("p.json", text, X86).unwrap_or_else(|e| panic!("{e}"))
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
    fn arch_specific_entries() {
        let only_arm = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["SCMP_ARCH_AARCH64"]}}]}"#;
        assert!(!judge_str(only_arm).statx_allowed);
        assert!(
            judge("p", only_arm, "SCMP_ARCH_AARCH64")
                .unwrap()
                .statx_allowed
        );
        let not_x86 = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_KILL","excludes":{"arches":["SCMP_ARCH_X86_64"]}}]}"#;
        assert!(judge_str(not_x86).statx_allowed);
    }

    #[test]
    fn capability_gated_and_argument_conditional_entries() {
        let cap = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["statx"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}"#;
        assert!(
            !judge_str(cap).statx_allowed,
            "unprivileged containers lack the capability"
        );
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
            judge("p", "{not json", X86),
            Err(ProfileError::Json { .. })
        ));
        assert!(matches!(
            judge("p", r#"{"syscalls":[]}"#, X86),
            Err(ProfileError::NoDefault { .. })
        ));
    }
}
