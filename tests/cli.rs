//! CLI tier: the real binary's output for bad input, as snapshots. None of these need
//! Docker: every one of them is caught before kcpenv talks to the engine.

use assert_cmd::Command;

fn kcpenv(args: &[&str]) -> (i32, String, String) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("kcpenv")
        .unwrap()
        .env("KCPENV_HOME", home.path())
        // Unreachable on purpose: these failures must come before any engine call.
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .env_remove("KCPENV_NAME")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn profile_file(yaml: &str) -> tempfile::TempPath {
    let f = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(f.path(), yaml).unwrap();
    f.into_temp_path()
}

macro_rules! snapshot {
    ($name:expr, $out:expr) => {
        insta::with_settings!({filters => vec![(r"/tmp/\.tmp\w+\.yaml", "<profile>")]}, {
            insta::assert_snapshot!($name, format!("exit {}\n--- stdout\n{}--- stderr\n{}", $out.0, $out.1, $out.2));
        });
    };
}

#[test]
fn unknown_key_in_profile() {
    let p = profile_file("kcp:\n  port: 6443\n  prot: 1\n");
    let out = kcpenv(&["up", "-p", p.to_str().unwrap()]);
    assert_eq!(out.0, 3);
    snapshot!("unknown_key", out);
}

#[test]
fn malformed_profile() {
    let p = profile_file("kcp:\n  port: [6443\n");
    let out = kcpenv(&["up", "-p", p.to_str().unwrap()]);
    assert_eq!(out.0, 3);
    snapshot!("malformed", out);
}

#[test]
fn port_clash_inside_profile() {
    let p = profile_file(
        "kcp: {}\ncontainers:\n  db:\n    image: postgres:16\n    ports: { pg: 6443 }\n",
    );
    let out = kcpenv(&["up", "-p", p.to_str().unwrap()]);
    assert_eq!(out.0, 3);
    snapshot!("port_clash", out);
}

#[test]
fn unknown_profile() {
    let out = kcpenv(&["up", "-p", "nope"]);
    assert_eq!(out.0, 3);
    snapshot!("unknown_profile", out);
}

#[test]
fn service_cluster_flag() {
    let out = kcpenv(&["up", "-p", "kcp", "--service-cluster", "kcp-workspace"]);
    assert_eq!(out.0, 2);
    snapshot!("service_cluster_without_agent", out);
    let out = kcpenv(&["up", "-p", "syncagent", "--service-cluster", "k8s"]);
    assert_eq!(out.0, 3);
    snapshot!("service_cluster_unknown", out);
}

/// An existing service cluster is read and asked before the engine: every fault of the
/// file, its credentials or its server exits 14, naming the cause.
#[test]
fn service_cluster_kubeconfig_faults() {
    let up = |source: &str| kcpenv(&["up", "-p", "syncagent", "--service-cluster", source]);
    let out = up("kubeconfig:/nonexistent/kind.yaml");
    assert_eq!(out.0, 14);
    snapshot!("service_cluster_kubeconfig_missing", out);

    let garbage = profile_file("clusters: [unclosed\n");
    let out = up(&format!("kubeconfig:{}", garbage.display()));
    assert_eq!(out.0, 14, "{}", out.2);
    assert!(out.2.contains("is not a valid kubeconfig"), "{}", out.2);

    let kubeconfig = |server: &str, user: &str| {
        profile_file(&format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{{name: c, cluster: {{server: '{server}'}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\nusers: [{{name: u, user: {user}}}]\n"
        ))
    };
    let exec = kubeconfig(
        "https://127.0.0.1:6443",
        "{exec: {command: gke-gcloud-auth-plugin, apiVersion: client.authentication.k8s.io/v1beta1}}",
    );
    let out = up(&format!("kubeconfig:{}", exec.display()));
    assert_eq!(out.0, 14);
    snapshot!("service_cluster_kubeconfig_exec", out);

    let out = up(&format!("kubeconfig:{}#kind-kind", exec.display()));
    assert_eq!(out.0, 14);
    assert!(
        out.2.contains("it has no context \"kind-kind\""),
        "{}",
        out.2
    );

    // Nothing listens on port 1.
    let closed = kubeconfig("https://127.0.0.1:1", "{token: abc}");
    let out = up(&format!("kubeconfig:{}", closed.display()));
    assert_eq!(out.0, 14);
    assert!(
        out.2
            .contains("cannot reach its API server https://127.0.0.1:1")
            && out.2.contains("Connection refused")
            && out.2.contains("hint: is the cluster running?"),
        "{}",
        out.2
    );
}

#[test]
fn invalid_image_flags() {
    let out = kcpenv(&["up", "--image", "kcp"]);
    assert_eq!(out.0, 2);
    snapshot!("image_no_equals", out);
    let out = kcpenv(&["up", "--image", "kcp=Not A Ref"]);
    assert_eq!(out.0, 2);
    snapshot!("image_bad_ref", out);
}

#[test]
fn invalid_env_name() {
    let out = kcpenv(&["up", "--name", "My_Env"]);
    assert_eq!(out.0, 2);
    snapshot!("bad_env_name", out);
}

#[test]
fn kubeconfig_of_missing_env() {
    let out = kcpenv(&["kubeconfig", "--path", "--name", "ghost"]);
    assert_eq!(out.0, 10);
    snapshot!("kubeconfig_missing", out);
}

#[test]
fn profiles_list_and_show() {
    let out = kcpenv(&["profiles"]);
    assert_eq!(out.0, 0);
    snapshot!("profiles_list", out);
    let out = kcpenv(&["profiles", "show", "kcp"]);
    assert_eq!(out.0, 0);
    snapshot!("profiles_show_kcp", out);
}

#[test]
fn unreachable_docker_host() {
    let out = kcpenv(&["status", "--name", "x"]);
    assert_eq!(out.0, 4);
    snapshot!("docker_unreachable", out);
}
