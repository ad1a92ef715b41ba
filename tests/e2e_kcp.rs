//! End-to-end tier: the real kcp, built from its Go module by scripts/e2e-images.sh into
//! a local image that mirrors the official one, driven through kcpenv exactly as a user
//! would, checked with real kubectl and kcp's kubectl plugins.
//!
//! Needs: a Docker engine, the image `kcpenv.local/kcp-dev/kcp:<pinned>` and `kubectl`,
//! `kubectl-ws` in `$KCPENV_E2E_BIN` (default `~/.cache/kcpenv-e2e/bin`). A missing piece
//! fails the test with the command that provides it.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::e2e::{kubectl_ok, require_e2e};
use common::{Env, docker, stderr, stdout};

/// Off the default 6443 so a developer's own environment is not disturbed.
const OFFSET: &str = "1000";
const KCP_PORT: u16 = 7443;

fn up(env: &Env) -> serde_json::Value {
    let start = Instant::now();
    let out = common::e2e::up(env, "kcp", OFFSET, &["-o", "json"]);
    eprintln!("kcpenv up took {:.1}s", start.elapsed().as_secs_f64());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The ConfigMap the test creates, read back through `kubeconfig`.
fn greeting(kubeconfig: &std::path::Path) -> String {
    kubectl_ok(
        kubeconfig,
        &[
            "get",
            "configmap",
            "hello",
            "-o",
            "jsonpath={.data.greeting}",
        ],
    )
}

#[test]
fn kcp_profile_end_to_end() {
    require_e2e(&["kcp"]);
    let env = Env::new("e2e-kcp");
    let result = up(&env);
    assert_eq!(result["ready"], true);
    assert_eq!(
        result["components"][0]["urls"][0],
        format!("https://localhost:{KCP_PORT}")
    );

    // The kubeconfig kcpenv prints works at once.
    let path = env.kcpenv(&["kubeconfig", "--path"]).output().unwrap();
    let kubeconfig = PathBuf::from(stdout(&path).trim());
    assert!(kubeconfig.is_file());
    kubectl_ok(&kubeconfig, &["get", "workspaces"]);

    // Create a workspace, enter it with `kubectl ws` (which edits the kubeconfig it is
    // given, so on a copy), create a ConfigMap in it.
    let work = tempfile::tempdir().unwrap();
    let scratch = work.path().join("kubeconfig");
    std::fs::copy(&kubeconfig, &scratch).unwrap();
    kubectl_ok(&scratch, &["ws", "create", "e2e", "--enter"]);
    kubectl_ok(
        &scratch,
        &[
            "create",
            "configmap",
            "hello",
            "--from-literal=greeting=kcpenv",
        ],
    );
    assert_eq!(greeting(&scratch), "kcpenv");

    // Restarting kcp (new generated admin token) does not matter: our admin is a client cert.
    docker(&["restart", "kcpenv-e2e-kcp-kcp"]);
    common::e2e::up(&env, "kcp", OFFSET, &[]);
    kubectl_ok(&kubeconfig, &["get", "workspaces", "e2e"]);

    // down then up: data volume and kubeconfig survive.
    let before = std::fs::read(&kubeconfig).unwrap();
    let out = env.kcpenv(&["down"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(env.containers(), vec![]);
    up(&env);
    assert_eq!(
        std::fs::read(&kubeconfig).unwrap(),
        before,
        "same kubeconfig after down/up"
    );
    assert_eq!(greeting(&scratch), "kcpenv");

    // status sees kcp ready.
    let status = env.kcpenv(&["status", "-o", "json"]).output().unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", stdout(&status));

    // --merge into a kubeconfig that has other entries: kubectl reaches kcp through the
    // merged context, the user's current context is untouched, and --purge takes ours out.
    let mine = work.path().join("user-kubeconfig");
    std::fs::write(
        &mine,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: 'https://other.example:443'}\nusers:\n- name: other\n  user: {token: abc}\ncontexts:\n- name: other\n  context: {cluster: other, user: other}\ncurrent-context: other\n",
    )
    .unwrap();
    let out = env
        .kcpenv(&[
            "kubeconfig",
            "--merge",
            "--kubeconfig",
            mine.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(mine.to_str().unwrap()),
        "names the file: {}",
        stdout(&out)
    );
    assert_eq!(
        kubectl_ok(&mine, &["config", "current-context"]).trim(),
        "other"
    );
    kubectl_ok(
        &mine,
        &["--context", "kcpenv-e2e-kcp", "get", "workspaces", "e2e"],
    );

    let out = env.kcpenv(&["down", "--purge"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env.assert_nothing_left();
    assert!(!env.state_dir().exists());
    let contexts = kubectl_ok(&mine, &["config", "get-contexts", "-o", "name"]);
    assert_eq!(
        contexts.trim(),
        "other",
        "only the user's own context is left"
    );
}
