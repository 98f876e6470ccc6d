//! Containers that imitate a WhatsApp deployment on the real dockerd: images imported from
//! busybox-static (no registry here), tagged like the real ones, with their env, labels,
//! ports and mounts. Everything is labelled `wa-preflight.test` and removed on drop.

use std::io::Write;
use std::process::{Command, Stdio};

use super::{DOCKER_SOCK, docker};

pub const TEST_LABEL: &str = "wa-preflight.test";

/// Imports a busybox image as `reference`, with `EXPIRES_ON` when given.
pub fn import_image(reference: &str, expires_on: Option<&str>) {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (busybox-static)");
    let mut header = tar::Header::new_gnu();
    header.set_size(busybox.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    let mut tar = tar::Builder::new(Vec::new());
    tar.append_data(&mut header, "bin/busybox", busybox.as_slice())
        .unwrap();
    let bytes = tar.into_inner().unwrap();
    let mut args = vec!["import".to_string()];
    args.push("--change".into());
    args.push(format!("LABEL {TEST_LABEL}=1"));
    if let Some(date) = expires_on {
        args.push("--change".into());
        args.push(format!("LABEL EXPIRES_ON={date}"));
    }
    args.push("-".into());
    args.push(reference.into());
    let mut child = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{DOCKER_SOCK}"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    assert!(child.wait().unwrap().success(), "docker import {reference}");
}

/// One imitation container.
pub struct Spec<'a> {
    pub name: &'a str,
    pub image: &'a str,
    pub env: Vec<(&'a str, &'a str)>,
    /// Extra `docker run` flags (`-p`, `-v`, `--cap-drop`, `--restart`).
    pub flags: Vec<String>,
    /// The command, run by busybox.
    pub cmd: Vec<&'a str>,
}

/// Starts `spec` detached and returns its name.
pub fn run(spec: &Spec<'_>) -> String {
    let mut args: Vec<String> = vec![
        "run".into(),
        "-d".into(),
        "--name".into(),
        spec.name.into(),
        "--label".into(),
        format!("{TEST_LABEL}=1"),
    ];
    for (k, v) in &spec.env {
        args.push("-e".into());
        args.push(format!("{k}={v}"));
    }
    args.extend(spec.flags.iter().cloned());
    args.push(spec.image.into());
    args.push("/bin/busybox".into());
    args.extend(spec.cmd.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    docker(DOCKER_SOCK, &refs);
    spec.name.to_string()
}

/// `State.OOMKilled` of a container that exited after the kernel's OOM killer killed it, once
/// Docker has recorded it: Docker learns of the kill from containerd's OOM event, which may
/// arrive after the exit event, so an inspect right after the exit can still say false.
/// Waits up to 10 s for `true`, then returns what Docker says.
pub fn oom_killed_when_recorded(name: &str) -> String {
    let inspect = || {
        docker(
            DOCKER_SOCK,
            &["inspect", "-f", "{{.State.OOMKilled}}", name],
        )
        .trim()
        .to_string()
    };
    for _ in 0..100 {
        let said = inspect();
        if said == "true" {
            return said;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    inspect()
}

/// Removes every test container and image, now and when dropped (even after a failed assert).
pub struct Cleanup;

impl Cleanup {
    pub fn new() -> Cleanup {
        remove_all();
        Cleanup
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_all();
    }
}

pub fn remove_all() {
    let filter = format!("label={TEST_LABEL}");
    let ids = docker(DOCKER_SOCK, &["ps", "-aq", "--filter", &filter]);
    for id in ids.split_whitespace() {
        let _ = Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{DOCKER_SOCK}"))
            .args(["rm", "-f", "-v", id])
            .output();
    }
    let images = docker(DOCKER_SOCK, &["images", "-q", "--filter", &filter]);
    for id in images.split_whitespace() {
        let _ = Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{DOCKER_SOCK}"))
            .args(["rmi", "-f", id])
            .output();
    }
}
