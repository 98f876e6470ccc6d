//! The statx probe: run `statx(2)` inside a throwaway container under the daemon's seccomp
//! profile, for real, and report success or the errno.
//!
//! No registry is reachable where this runs, so the image is built here: one static x86-64
//! ELF, assembled below (164 bytes, no libc, nothing to download or compile), imported with
//! the API's equivalent of `docker import`. It calls `statx(AT_FDCWD, "/", 0, 0xfff, buf)`
//! directly — seccomp filters system calls, whatever libc a program uses — and exits with the
//! negated return value: 0 on success, else the errno (1 EPERM, 38 ENOSYS, …).
//!
//! Everything created is labelled `wa-preflight.probe`; containers and images left behind by
//! a killed run are removed at the start of the next one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    ListImagesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

/// Label on everything the probe creates.
pub const PROBE_LABEL: &str = "wa-preflight.probe";
/// Repository the probe image is imported as.
pub const PROBE_REPO: &str = "wa-preflight/statx-probe";

/// What the probe saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatxProbe {
    /// statx succeeded inside the container.
    pub allowed: bool,
    /// The container's exit code (0, or the errno).
    pub exit_code: i64,
    /// The errno when statx failed.
    pub errno: Option<i64>,
    /// Its name (`EPERM`, `ENOSYS`), when known.
    pub errno_name: Option<String>,
    /// A `--security-opt` the probe container was given, if any (tests use this).
    pub security_opt: Option<String>,
    /// How long the whole probe took (import, create, run, remove), in milliseconds.
    pub duration_ms: u64,
}

/// The probe program: a static x86-64 ELF executable, built byte by byte.
pub fn probe_elf() -> Vec<u8> {
    const BASE: u32 = 0x40_0000;
    const EHDR: u16 = 64;
    const PHDR: u16 = 56;
    const BUF: u32 = BASE + 0x1000; // zero-filled memory past the file (memsz > filesz)
    let entry = BASE + u32::from(EHDR + PHDR);
    let mut code: Vec<u8> = Vec::new();
    code.push(0xb8); // mov eax, 332 (SYS_statx)
    code.extend(332u32.to_le_bytes());
    code.push(0xbf); // mov edi, -100 (AT_FDCWD)
    code.extend((-100i32).to_le_bytes());
    code.push(0xbe); // mov esi, <address of "/">
    let path_at = code.len();
    code.extend([0; 4]);
    code.extend([0x31, 0xd2]); // xor edx, edx (flags = 0)
    code.extend([0x41, 0xba]); // mov r10d, 0xfff (STATX_ALL | more)
    code.extend(0xfffu32.to_le_bytes());
    code.extend([0x41, 0xb8]); // mov r8d, BUF (struct statx *)
    code.extend(BUF.to_le_bytes());
    code.extend([0x0f, 0x05]); // syscall
    code.extend([0xf7, 0xd8]); // neg eax  (-errno → errno)
    code.extend([0x89, 0xc7]); // mov edi, eax
    code.push(0xb8); // mov eax, 60 (SYS_exit)
    code.extend(60u32.to_le_bytes());
    code.extend([0x0f, 0x05]); // syscall
    let path_addr = entry + code.len() as u32;
    code[path_at..path_at + 4].copy_from_slice(&path_addr.to_le_bytes());
    code.extend(b"/\0");
    let filesz = u64::from(EHDR + PHDR) + code.len() as u64;

    let mut elf = Vec::with_capacity(filesz as usize);
    elf.extend(b"\x7fELF");
    elf.extend([2, 1, 1, 0]); // 64-bit, little-endian, version 1, System V ABI
    elf.extend([0; 8]);
    elf.extend(2u16.to_le_bytes()); // ET_EXEC
    elf.extend(0x3eu16.to_le_bytes()); // EM_X86_64
    elf.extend(1u32.to_le_bytes()); // EV_CURRENT
    elf.extend(u64::from(entry).to_le_bytes()); // e_entry
    elf.extend(u64::from(EHDR).to_le_bytes()); // e_phoff
    elf.extend(0u64.to_le_bytes()); // e_shoff
    elf.extend(0u32.to_le_bytes()); // e_flags
    elf.extend(EHDR.to_le_bytes()); // e_ehsize
    elf.extend(PHDR.to_le_bytes()); // e_phentsize
    elf.extend(1u16.to_le_bytes()); // e_phnum
    elf.extend([0; 6]); // e_shentsize, e_shnum, e_shstrndx
    elf.extend(1u32.to_le_bytes()); // PT_LOAD
    elf.extend(7u32.to_le_bytes()); // PF_R | PF_W | PF_X
    elf.extend(0u64.to_le_bytes()); // p_offset
    elf.extend(u64::from(BASE).to_le_bytes()); // p_vaddr
    elf.extend(u64::from(BASE).to_le_bytes()); // p_paddr
    elf.extend(filesz.to_le_bytes()); // p_filesz
    elf.extend(0x2000u64.to_le_bytes()); // p_memsz: room for the statx buffer
    elf.extend(0x1000u64.to_le_bytes()); // p_align
    elf.extend(code);
    elf
}

/// A one-file tar archive holding `/probe`, for importing as an image.
fn probe_tar() -> Result<Vec<u8>, String> {
    let elf = probe_elf();
    let mut header = tar::Header::new_gnu();
    header.set_size(elf.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(0);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_data(&mut header, "probe", elf.as_slice())
        .map_err(|e| format!("cannot build the probe archive: {e}"))?;
    builder
        .into_inner()
        .map_err(|e| format!("cannot build the probe archive: {e}"))
}

fn errno_name(errno: i64) -> Option<&'static str> {
    Some(match errno {
        1 => "EPERM",
        2 => "ENOENT",
        13 => "EACCES",
        14 => "EFAULT",
        22 => "EINVAL",
        38 => "ENOSYS",
        _ => return None,
    })
}

/// Removes probe containers and images created more than `older_than` ago: leftovers of an
/// interrupted run. Younger ones may belong to a run still in progress (a timer and an
/// operator can run checks at the same time).
///
/// # Errors
///
/// A message when the leftover containers or images cannot be listed; one that cannot be removed is
/// logged and skipped.
pub async fn remove_leftovers(docker: &Docker, older_than: Duration) -> Result<usize, String> {
    let cutoff = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
        - older_than.as_secs() as i64;
    let mut removed = 0;
    let filters = HashMap::from([("label".to_string(), vec![PROBE_LABEL.to_string()])]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| format!("cannot list leftover probe containers: {e}"))?;
    for c in containers {
        if let Some(id) = c.id.filter(|_| c.created.unwrap_or(0) <= cutoff) {
            let opts = RemoveContainerOptionsBuilder::default().force(true).build();
            if docker.remove_container(&id, Some(opts)).await.is_ok() {
                removed += 1;
            }
        }
    }
    let images = docker
        .list_images(Some(
            ListImagesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| format!("cannot list leftover probe images: {e}"))?;
    for image in images.into_iter().filter(|i| i.created <= cutoff) {
        let opts = RemoveImageOptionsBuilder::default().force(true).build();
        if docker
            .remove_image(&image.id, Some(opts), None)
            .await
            .is_ok()
        {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(removed, "removed statx probe leftovers of an earlier run");
    }
    Ok(removed)
}

/// The statx probe is a group of its own (`statx_probe`), run at most hourly (it starts a
/// container); between runs the engine's facts keep its last result.
pub const GROUP: crate::facts::group::Declared = crate::facts::group::Declared {
    name: "statx_probe",
    default_interval: |base| base.max(3600),
    carry_over: |new, prev| {
        use crate::facts::Fact;
        if let (Some(Fact::Available(d)), Some(Fact::Available(p))) =
            (&mut new.docker, &prev.docker)
        {
            d.statx_probe = p.statx_probe.clone();
        }
    },
};

/// Runs the probe. `security_opt` adds one `--security-opt` (e.g. `seccomp=<json>`); the
/// normal check passes none, so the daemon's default profile applies.
///
/// # Errors
///
/// Why the probe could not run: the host is not x86-64, leftovers of earlier runs cannot be listed
/// ([`remove_leftovers`]), no randomness for its name, or importing the image or creating, starting
/// or waiting for the container failed (the Engine API's words). A statx that is refused is not an
/// error: it is the result.
pub async fn run(docker: &Docker, security_opt: Option<String>) -> Result<StatxProbe, String> {
    if std::env::consts::ARCH != "x86_64" {
        return Err(format!(
            "the statx probe program is x86-64 code; this host is {}",
            std::env::consts::ARCH
        ));
    }
    let started = Instant::now();
    remove_leftovers(docker, PROBE_DEADLINE * 2).await?;
    let mut nonce = [0u8; 4];
    rustix::rand::getrandom(&mut nonce, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| format!("no randomness for the probe's name: {e}"))?;
    let tag = format!("{}-{:08x}", std::process::id(), u32::from_le_bytes(nonce));
    let image = format!("{PROBE_REPO}:{tag}");
    let name = format!("wa-preflight-statx-{tag}");
    let outcome = run_in(docker, &image, &name, &tag, security_opt.clone()).await;
    // Remove exactly what this run made, whatever happened above. A failure is logged; the
    // labels let a later run remove it.
    let force = RemoveContainerOptionsBuilder::default().force(true).build();
    if let Err(e) = docker.remove_container(&name, Some(force)).await
        && !is_not_found(&e)
    {
        tracing::warn!("cannot remove probe container {name}: {e}");
    }
    let force = RemoveImageOptionsBuilder::default().force(true).build();
    if let Err(e) = docker.remove_image(&image, Some(force), None).await
        && !is_not_found(&e)
    {
        tracing::warn!("cannot remove probe image {image}: {e}");
    }
    let exit_code = outcome?;
    let errno = (exit_code != 0).then_some(exit_code);
    Ok(StatxProbe {
        allowed: exit_code == 0,
        exit_code,
        errno,
        errno_name: errno.and_then(errno_name).map(str::to_string),
        security_opt,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

async fn run_in(
    docker: &Docker,
    image: &str,
    name: &str,
    tag: &str,
    security_opt: Option<String>,
) -> Result<i64, String> {
    let body = bollard::body_full(probe_tar()?.into());
    let label_change = format!("LABEL {PROBE_LABEL}=statx");
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(PROBE_REPO)
        .tag(tag)
        .changes(vec![label_change])
        .build();
    let mut import = docker.create_image(Some(options), Some(body), None);
    while let Some(step) = import.next().await {
        step.map_err(|e| format!("cannot import the probe image: {e}"))?;
    }
    let config = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec!["/probe".to_string()]),
        labels: Some(HashMap::from([(
            PROBE_LABEL.to_string(),
            "statx".to_string(),
        )])),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            network_mode: Some("none".to_string()),
            security_opt: security_opt.map(|s| vec![s]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(name).build()),
            config,
        )
        .await
        .map_err(|e| format!("cannot create the probe container: {e}"))?;
    docker
        .start_container(&created.id, None)
        .await
        .map_err(|e| format!("cannot start the probe container: {e}"))?;
    let mut wait = docker.wait_container(&created.id, None);
    match wait.next().await {
        Some(Ok(r)) => Ok(r.status_code),
        // bollard reports a non-zero exit as an error carrying the code.
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(format!("waiting for the probe container: {e}")),
        None => Err("the daemon closed the wait for the probe container".to_string()),
    }
}

/// How long a probe may take before it is abandoned (its leftovers are removed next run).
pub const PROBE_DEADLINE: Duration = Duration::from_secs(20);

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_probe_runs_on_this_host() {
        // This host's kernel has statx and no seccomp filter on this process: exit 0.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("probe");
        std::fs::write(&p, probe_elf()).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let status = std::process::Command::new(&p).status().unwrap();
        assert_eq!(status.code(), Some(0));
        assert_eq!(probe_elf().len(), 164);
    }

    #[test]
    fn the_archive_holds_one_executable() {
        let bytes = probe_tar().unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let entries: Vec<_> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().header().clone())
            .collect();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].path().unwrap().to_str(), Some("probe"));
        assert_eq!(entries[0].mode().unwrap(), 0o755);
    }
}
