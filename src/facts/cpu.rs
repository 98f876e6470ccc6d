//! CPUs: how many the host has online, how many this process may use (affinity), and any
//! cgroup CPU quota — a container or systemd slice can allow far less than the host has.

use serde::{Deserialize, Serialize};

/// CPU facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CpuFacts {
    /// Online logical CPUs of the host.
    pub logical: u32,
    /// CPUs in this process's affinity mask.
    pub affinity: u32,
    /// cgroup CPU quota in CPUs (`1.5`), null when unlimited or unreadable.
    pub quota: Option<f64>,
    /// What can actually be used: the smallest of the three.
    pub effective: f64,
}

/// Reads CPU facts from sysfs, the scheduler and the cgroup tree.
///
/// # Errors
///
/// A message when `/sys/devices/system/cpu/online` cannot be read or parsed.
pub fn gather() -> Result<CpuFacts, String> {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .map_err(|e| format!("cannot read /sys/devices/system/cpu/online: {e}"))?;
    let logical = parse_cpu_list(&online)
        .ok_or_else(|| format!("cannot parse CPU list {:?}", online.trim()))?;
    let affinity = rustix::thread::sched_getaffinity(None)
        .map(|set| set.count())
        .unwrap_or(logical);
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let quota = cgroup_quota(&cgroup, &|p| std::fs::read_to_string(p).ok());
    Ok(cpu_facts(logical, affinity, quota))
}

/// Combines the three readings.
pub fn cpu_facts(logical: u32, affinity: u32, quota: Option<f64>) -> CpuFacts {
    let mut effective = f64::from(logical.min(affinity));
    if let Some(q) = quota {
        effective = effective.min(q);
    }
    CpuFacts {
        logical,
        affinity,
        quota,
        effective,
    }
}

/// Counts CPUs in a kernel CPU list such as `0-3,8,10-11`.
pub fn parse_cpu_list(text: &str) -> Option<u32> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut n = 0u32;
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                n += b.checked_sub(a)? + 1;
            }
            None => {
                part.trim().parse::<u32>().ok()?;
                n += 1;
            }
        }
    }
    Some(n)
}

/// The tightest CPU quota along this process's cgroup path, for cgroup v2 (`cpu.max`) or
/// v1 (`cpu.cfs_quota_us` / `cpu.cfs_period_us`). `read` returns a file's content.
pub fn cgroup_quota(proc_self_cgroup: &str, read: &dyn Fn(&str) -> Option<String>) -> Option<f64> {
    let mut best: Option<f64> = None;
    let mut consider = |q: Option<f64>| {
        if let Some(q) = q {
            best = Some(best.map_or(q, |b: f64| b.min(q)));
        }
    };
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            for dir in ancestors(path) {
                let file = format!("/sys/fs/cgroup{dir}/cpu.max");
                consider(read(&file).and_then(|t| parse_cpu_max(&t)));
            }
        } else if controllers.split(',').any(|c| c == "cpu") {
            for mount in [
                format!("/sys/fs/cgroup/{controllers}"),
                "/sys/fs/cgroup/cpu".into(),
            ] {
                for dir in ancestors(path) {
                    let quota = read(&format!("{mount}{dir}/cpu.cfs_quota_us"));
                    let period = read(&format!("{mount}{dir}/cpu.cfs_period_us"));
                    if let (Some(q), Some(p)) = (quota, period) {
                        consider(parse_cfs(&q, &p));
                    }
                }
            }
        }
    }
    best
}

/// `/a/b` → `["/a/b", "/a", ""]`, so every level's limit is seen.
fn ancestors(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = path.trim_end_matches('/').to_string();
    loop {
        out.push(cur.clone());
        match cur.rfind('/') {
            Some(i) => cur.truncate(i),
            None => break,
        }
        if cur.is_empty() {
            out.push(String::new());
            break;
        }
    }
    out.dedup();
    out
}

/// cgroup v2 `cpu.max`: `max 100000` or `150000 100000`.
pub fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut it = text.split_whitespace();
    let quota = it.next()?;
    let period: f64 = it.next()?.parse().ok()?;
    if quota == "max" || period <= 0.0 {
        return None;
    }
    Some(quota.parse::<f64>().ok()? / period)
}

/// cgroup v1: quota `-1` means unlimited.
pub fn parse_cfs(quota: &str, period: &str) -> Option<f64> {
    let q: f64 = quota.trim().parse().ok()?;
    let p: f64 = period.trim().parse().ok()?;
    (q > 0.0 && p > 0.0).then_some(q / p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0-3,8,10-11"), Some(7));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("a-b"), None);
    }

    #[test]
    fn quotas_v2_and_v1() {
        let files: HashMap<&str, &str> = HashMap::from([
            (
                "/sys/fs/cgroup/system.slice/docker-abc.scope/cpu.max",
                "150000 100000\n",
            ),
            ("/sys/fs/cgroup/system.slice/cpu.max", "max 100000\n"),
            (
                "/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/cpu.cfs_quota_us",
                "200000\n",
            ),
            (
                "/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/cpu.cfs_period_us",
                "100000\n",
            ),
            ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n"),
            ("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n"),
        ]);
        let read = |p: &str| files.get(p).map(|s| s.to_string());
        assert_eq!(
            cgroup_quota("0::/system.slice/docker-abc.scope\n", &read),
            Some(1.5)
        );
        assert_eq!(
            cgroup_quota("4:cpu,cpuacct:/kubepods/pod1\n1:name=systemd:/\n", &read),
            Some(2.0)
        );
        assert_eq!(cgroup_quota("1:cpu:/\n0::/\n", &read), None);
        assert_eq!(cgroup_quota("garbage", &read), None);
    }

    #[test]
    fn effective_is_the_smallest() {
        assert_eq!(cpu_facts(8, 8, Some(1.5)).effective, 1.5);
        assert_eq!(cpu_facts(8, 2, None).effective, 2.0);
        assert_eq!(cpu_facts(2, 2, None).effective, 2.0);
    }
}
