//! Helpers for the end-to-end tier: the upstream programs built by
//! scripts/e2e-images.sh (images tagged under `kcpenv.local`, host tools in
//! `$KCPENV_E2E_BIN`, default `~/.cache/kcpenv-e2e/bin`).

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use super::{stderr, stdout};

pub const MIRROR: &str = "kcpenv.local";

/// The local mirror of the image images.yaml pins for `key`.
pub fn pinned_image(key: &str) -> String {
    let pins =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("images.yaml")).unwrap();
    let official = pins
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("images.yaml pins no {key}"))
        .trim()
        .to_owned();
    let first = official.split('/').next().unwrap_or_default();
    let path = if first.contains('.') || first.contains(':') {
        official.split_once('/').unwrap().1.to_owned()
    } else {
        official
    };
    format!("{MIRROR}/{path}")
}

pub fn e2e_bin() -> PathBuf {
    std::env::var_os("KCPENV_E2E_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/kcpenv-e2e/bin")
        })
}

/// The OpenFGA CLI installed by scripts/fga-cli.sh; fails when it is missing.
pub fn fga_bin() -> PathBuf {
    let bin = std::env::var_os("KCPENV_FGA_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/kcpenv-e2e/fga-venv")
        })
        .join("bin/fga");
    assert!(
        bin.is_file(),
        "the OpenFGA CLI is missing at {}: run `bash scripts/fga-cli.sh`",
        bin.display()
    );
    bin
}

/// Fails (never skips) with the command that provides what is missing.
pub fn require_e2e(images: &[&str]) {
    super::require_docker();
    for key in images {
        let image = pinned_image(key);
        let present = StdCommand::new("docker")
            .args(["image", "inspect", &image])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            present,
            "image {image} is missing: run `bash scripts/e2e-images.sh {key}`"
        );
    }
    for tool in ["kubectl", "kubectl-ws", "kubectl-oidc_login"] {
        assert!(
            e2e_bin().join(tool).is_file(),
            "{tool} is missing from {}: run `bash scripts/e2e-images.sh`",
            e2e_bin().display()
        );
    }
}

/// kubectl from the e2e bin dir (its plugins found there too) against `kubeconfig`.
pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> std::process::Output {
    let path = format!(
        "{}:{}",
        e2e_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    StdCommand::new(e2e_bin().join("kubectl"))
        .env("KUBECONFIG", kubeconfig)
        .env("PATH", path)
        .args(args)
        .output()
        .unwrap()
}

pub fn kubectl_ok(kubeconfig: &Path, args: &[&str]) -> String {
    let out = kubectl(kubeconfig, args);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// `kcpenv up --profile PROFILE --port-offset OFFSET` on the local mirror images; must succeed.
pub fn up(env: &super::Env, profile: &str, offset: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["up", "--profile", profile, "--port-offset", offset];
    args.extend_from_slice(extra);
    let out = env
        .kcpenv(&args)
        .env("KCPENV_IMAGE_MIRROR", MIRROR)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "up failed: {}", stderr(&out));
    out
}

/// Polls `f` every 500 ms until it holds; fails after `secs` seconds naming `what`.
pub fn eventually(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(secs),
            "timed out after {secs}s: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Every CronTab on the cluster `kubeconfig` points at.
pub fn crontabs(kubeconfig: &Path) -> Vec<serde_json::Value> {
    let out = kubectl_ok(kubeconfig, &["get", "crontabs", "-A", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["items"].as_array().unwrap().clone()
}

/// api-syncagent's round trip with the example CronTab `name`: created in the consumer
/// workspace, it appears on the service cluster; a status set there reaches kcp; deleted
/// in kcp, it goes from the service cluster.
pub fn crontab_round_trip(consumer: &Path, service: &Path, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("crontab.yaml");
    let schedule = format!("0 3 * * * # {name}");
    std::fs::write(
        &manifest,
        format!("apiVersion: example.kcpenv.dev/v1\nkind: CronTab\nmetadata: {{name: {name}, namespace: default}}\nspec: {{schedule: '{schedule}'}}\n"),
    )
    .unwrap();
    kubectl_ok(consumer, &["create", "-f", manifest.to_str().unwrap()]);
    let below = |c: &serde_json::Value| c["spec"]["schedule"] == schedule.as_str();
    eventually("the CronTab appears on the service cluster", 60, || {
        crontabs(service).iter().any(below)
    });
    let copy = crontabs(service).into_iter().find(below).unwrap();
    let (ns, copy_name) = (
        copy["metadata"]["namespace"].as_str().unwrap().to_owned(),
        copy["metadata"]["name"].as_str().unwrap().to_owned(),
    );
    kubectl_ok(
        service,
        &[
            "-n",
            &ns,
            "patch",
            "crontab",
            &copy_name,
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Scheduled"}}"#,
        ],
    );
    eventually("the status reaches the consumer workspace", 60, || {
        kubectl_ok(
            consumer,
            &["get", "crontab", name, "-o", "jsonpath={.status.phase}"],
        ) == "Scheduled"
    });
    kubectl_ok(consumer, &["delete", "crontab", name, "--wait=false"]);
    eventually(
        "the CronTab is removed from the service cluster",
        60,
        || !crontabs(service).iter().any(below),
    );
}

/// `kcpenv kubeconfig --list -o json`: (name, path) of each, in the order listed.
pub fn kubeconfigs(env: &super::Env) -> Vec<(String, PathBuf)> {
    let out = env
        .kcpenv(&["kubeconfig", "--list", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["name"].as_str().unwrap().to_owned(),
                k["path"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// The path of kubeconfig `name` in a `kubeconfigs` list.
pub fn kubeconfig(list: &[(String, PathBuf)], name: &str) -> PathBuf {
    list.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no kubeconfig {name} in {list:?}"))
        .1
        .clone()
}

/// An existing cluster set up the way kind sets up its own: one container on its own
/// user-defined network (both named `name`), the API server published on the host's
/// 127.0.0.1:`port`, a self-signed certificate and token users in the kubeconfig. The
/// API server is a standalone kcp (kind's node images need a registry). The `docker`
/// CLI drives it, so it runs on whichever engine DOCKER_HOST names. Removed with its
/// network and volume when dropped.
pub struct KindLike {
    pub name: String,
    pub dir: tempfile::TempDir,
    /// kcp's own admin.kubeconfig (contexts `root`, `base`, …), its server moved to
    /// `https://localhost:PORT` (kind writes 127.0.0.1; kcp's self-signed certificate
    /// names localhost, not 127.0.0.1).
    pub kubeconfig: PathBuf,
}

impl KindLike {
    pub fn start(name: &str, port: u16) -> KindLike {
        remove_kind_like(name);
        super::docker(&["network", "create", name]);
        super::docker(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            name,
            "-p",
            &format!("127.0.0.1:{port}:6443"),
            // The fixture, not kcpenv's: root, to write the anonymous volume.
            "--user",
            "0:0",
            "-v",
            "/data",
            &pinned_image("kcp"),
            "start",
            "--root-directory=/data",
        ]);
        let dir = tempfile::tempdir().unwrap();
        let copied = dir.path().join("admin.kubeconfig");
        eventually("kcp writes its admin.kubeconfig", 120, || {
            StdCommand::new("docker")
                .args(["cp", &format!("{name}:/data/admin.kubeconfig")])
                .arg(&copied)
                .output()
                .is_ok_and(|o| o.status.success())
        });
        let text = std::fs::read_to_string(&copied).unwrap();
        let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        for c in doc["clusters"].as_sequence_mut().unwrap() {
            let server = c["cluster"]["server"].as_str().unwrap().to_owned();
            let path = server
                .trim_start_matches("https://")
                .split_once('/')
                .map(|(_, p)| format!("/{p}"))
                .unwrap_or_default();
            c["cluster"]["server"] = format!("https://localhost:{port}{path}").into();
        }
        let kubeconfig = dir.path().join("kind.kubeconfig");
        std::fs::write(&kubeconfig, serde_yaml::to_string(&doc).unwrap()).unwrap();
        eventually("the cluster serves its API", 180, || {
            kubectl(&kubeconfig, &["--context", "root", "get", "namespaces"])
                .status
                .success()
        });
        KindLike {
            name: name.to_owned(),
            dir,
            kubeconfig,
        }
    }
}

impl Drop for KindLike {
    fn drop(&mut self) {
        remove_kind_like(&self.name);
    }
}

fn remove_kind_like(name: &str) {
    let _ = StdCommand::new("docker")
        .args(["rm", "-f", "-v", name])
        .output();
    let _ = StdCommand::new("docker")
        .args(["network", "rm", name])
        .output();
}
