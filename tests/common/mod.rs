//! Shared helpers for the tests that drive the real `kcpenv` binary against a real
//! Docker engine. A missing engine or test image fails the test with the command that
//! fixes it; nothing is skipped silently.

#![allow(dead_code)]

pub mod e2e;

use std::path::PathBuf;
use std::process::Command as StdCommand;

use assert_cmd::Command;
use tempfile::TempDir;

pub const TEST_IMAGE: &str = "kcpenv.local/busybox:test";

/// One environment under test: its own name, its own KCPENV_HOME; everything carrying
/// its label is removed when dropped (a failed assertion must not leak containers).
pub struct Env {
    pub name: String,
    pub home: TempDir,
}

impl Env {
    pub fn new(name: &str) -> Env {
        require_docker();
        let env = Env {
            name: name.to_owned(),
            home: tempfile::tempdir().unwrap(),
        };
        env.cleanup();
        env
    }

    /// `kcpenv` with this environment's home and name.
    pub fn kcpenv(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("kcpenv").unwrap();
        c.env("KCPENV_HOME", self.home.path())
            .env_remove("KCPENV_NAME")
            .env_remove("KCPENV_IMAGE_MIRROR")
            .args(args)
            .args(["--name", &self.name]);
        c
    }

    pub fn profile(&self, file: &str, yaml: &str) -> String {
        let p = self.home.path().join(file);
        std::fs::write(&p, yaml).unwrap();
        p.display().to_string()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.home.path().join(&self.name)
    }

    /// (name, id) of every container labelled with this environment.
    pub fn containers(&self) -> Vec<(String, String)> {
        let out = docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=dev.kcpenv.env={}", self.name),
            "--format",
            "{{.Names}} {{.ID}}",
        ]);
        let mut v: Vec<(String, String)> = out
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(n, i)| (n.to_owned(), i.to_owned())))
            .collect();
        v.sort();
        v
    }

    pub fn volumes(&self) -> Vec<String> {
        let out = docker(&[
            "volume",
            "ls",
            "--filter",
            &format!("label=dev.kcpenv.env={}", self.name),
            "--format",
            "{{.Name}}",
        ]);
        out.lines().map(str::to_owned).collect()
    }

    pub fn networks(&self) -> Vec<String> {
        let out = docker(&[
            "network",
            "ls",
            "--filter",
            &format!("label=dev.kcpenv.env={}", self.name),
            "--format",
            "{{.Name}}",
        ]);
        out.lines().map(str::to_owned).collect()
    }

    pub fn assert_nothing_left(&self) {
        assert_eq!(
            self.containers(),
            Vec::<(String, String)>::new(),
            "containers left behind"
        );
        assert_eq!(self.volumes(), Vec::<String>::new(), "volumes left behind");
        assert_eq!(
            self.networks(),
            Vec::<String>::new(),
            "networks left behind"
        );
    }

    fn cleanup(&self) {
        // Components before the holder: Podman refuses to remove a container others
        // share the namespace of.
        let mut containers = self.containers();
        containers.sort_by_key(|(name, _)| name.ends_with("-holder"));
        for (_, id) in containers {
            let _ = StdCommand::new("docker")
                .args(["rm", "-f", "-v", &id])
                .output();
        }
        for v in self.volumes() {
            let _ = StdCommand::new("docker")
                .args(["volume", "rm", "-f", &v])
                .output();
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// A profile with busybox's httpd serving `page` at /index.html on `port`, with a data
/// volume, and the same image as holder.
pub fn httpd_profile(image: &str, port: u16, page: &str) -> String {
    format!(
        r#"
holder: {{ image: {image}, shell: /busybox/sh }}
containers:
  web:
    image: {image}
    command: ["/busybox/httpd", "-f", "-p", "{{{{ ports.http }}}}", "-h", "/www"]
    ports: {{ http: {port} }}
    files: [{{ path: /www/index.html, content: "{page}" }}]
    volumes: [{{ name: data, path: /data }}]
    readiness: {{ http: {{ port: http, path: /index.html }} }}
"#
    )
}

pub fn docker(args: &[&str]) -> String {
    let out = StdCommand::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI is needed for these tests (scripts/docker-engine.sh installs it)");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The socket of Podman's Docker-compatible API (scripts/podman-engine.sh); fails with
/// the command that starts it when it does not answer.
pub fn require_podman() -> String {
    let sock = std::env::var("KCPENV_PODMAN_SOCK").unwrap_or("/run/kcpenv-podman.sock".into());
    let ok = StdCommand::new("curl")
        .args([
            "-fsS",
            "--max-time",
            "2",
            "--unix-socket",
            &sock,
            "http://d/_ping",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "no Podman API on {sock}: run `bash scripts/podman-engine.sh`"
    );
    sock
}

pub fn require_docker() {
    let ok = StdCommand::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "these tests need a Docker engine: run `bash scripts/docker-engine.sh` (or the README's test command)"
    );
    let image = StdCommand::new("docker")
        .args(["image", "inspect", TEST_IMAGE])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        image,
        "test image {TEST_IMAGE} is missing: run `bash scripts/test-images.sh`"
    );
}

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
