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
