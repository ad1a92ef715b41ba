//! End-to-end tier for the `syncagent` profile: real kcp and api-syncagent built from
//! their Go modules, with a kcp workspace as the service cluster. An object created in
//! the consumer workspace appears on the service cluster, a status change there flows
//! back, and deleting it in kcp removes it below; a second `up` changes nothing; an
//! APIExport of the same name that kcpenv did not create is refused.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::e2e::{MIRROR, kubectl, kubectl_ok, require_e2e};
use common::{Env, stderr, stdout};

const OFFSET: &str = "1500";

fn kubeconfigs(env: &Env) -> serde_json::Value {
    let out = env
        .kcpenv(&["kubeconfig", "--list", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn kubeconfig(list: &serde_json::Value, name: &str) -> PathBuf {
    list.as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no kubeconfig {name} in {list}"))["path"]
        .as_str()
        .unwrap()
        .into()
}

/// Polls `f` for up to 60 s.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn crontabs_below(service: &std::path::Path) -> Vec<serde_json::Value> {
    let out = kubectl_ok(service, &["get", "crontabs", "-A", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["items"].as_array().unwrap().clone()
}

#[test]
fn objects_sync_down_and_status_flows_back() {
    require_e2e(&["kcp", "syncagent"]);
    let env = Env::new("e2e-sync");
    let out = common::e2e::up(&env, "syncagent", OFFSET, &[]);
    assert!(
        stdout(&out).contains("kcpenv kubeconfig --list"),
        "{}",
        stdout(&out)
    );
    let status = stdout(&env.kcpenv(&["status"]).output().unwrap());
    assert!(
        status.contains("APIExportEndpointSlice example.kcpenv.dev in root:providers:example"),
        "{status}"
    );

    let list = kubeconfigs(&env);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "admin",
            "consumer",
            "provider",
            "service-cluster",
            "syncagent-kcp",
            "syncagent-service"
        ]
    );
    let consumer = kubeconfig(&list, "consumer");
    let service = kubeconfig(&list, "service-cluster");

    // The agent works with its own identity: it may read its slice but not list workspaces.
    let agent = kubeconfig(&list, "syncagent-kcp");
    kubectl_ok(
        &agent,
        &["get", "apiexportendpointslices", "example.kcpenv.dev"],
    );
    let denied = kubectl(&agent, &["get", "workspaces"]);
    assert!(
        !denied.status.success(),
        "the agent's identity is not admin"
    );

    // The consumer creates an object: it appears on the service cluster.
    let manifest = dir_with(
        "crontab.yaml",
        "apiVersion: example.kcpenv.dev/v1\nkind: CronTab\nmetadata: {name: nightly, namespace: default}\nspec: {schedule: '0 3 * * *'}\n",
    );
    kubectl_ok(&consumer, &["create", "-f", manifest.1.to_str().unwrap()]);
    eventually("the CronTab appears on the service cluster", || {
        crontabs_below(&service)
            .iter()
            .any(|c| c["spec"]["schedule"] == "0 3 * * *")
    });
    let below = crontabs_below(&service).remove(0);
    let (ns, name) = (
        below["metadata"]["namespace"].as_str().unwrap().to_owned(),
        below["metadata"]["name"].as_str().unwrap().to_owned(),
    );

    // A status change on the service cluster flows back to kcp.
    kubectl_ok(
        &service,
        &[
            "-n",
            &ns,
            "patch",
            "crontab",
            &name,
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Scheduled"}}"#,
        ],
    );
    eventually("the status reaches the consumer workspace", || {
        kubectl_ok(
            &consumer,
            &[
                "get",
                "crontab",
                "nightly",
                "-o",
                "jsonpath={.status.phase}",
            ],
        ) == "Scheduled"
    });

    // Deleting it in kcp removes it below.
    kubectl_ok(&consumer, &["delete", "crontab", "nightly", "--wait=false"]);
    eventually("the CronTab is removed from the service cluster", || {
        crontabs_below(&service).is_empty()
    });

    // A second up changes nothing.
    let before = env.containers();
    let out = common::e2e::up(&env, "syncagent", OFFSET, &[]);
    assert!(
        stdout(&out).contains("already up to date"),
        "{}",
        stdout(&out)
    );
    assert!(!stderr(&out).contains("created "), "{}", stderr(&out));
    assert_eq!(env.containers(), before);

    // An APIExport of the same name that kcpenv did not create is refused.
    let provider = kubeconfig(&list, "provider");
    let taken = dir_with(
        "export.yaml",
        "apiVersion: apis.kcp.io/v1alpha1\nkind: APIExport\nmetadata: {name: taken.example.dev}\nspec: {}\n",
    );
    kubectl_ok(&provider, &["create", "-f", taken.1.to_str().unwrap()]);
    let profile = env.profile(
        "taken.yaml",
        "kcp: {}\nsyncagent:\n  apiExport: taken.example.dev\n",
    );
    let out = env
        .kcpenv(&["up", "--profile", &profile, "--port-offset", OFFSET])
        .env("KCPENV_IMAGE_MIRROR", MIRROR)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("APIExport taken.example.dev in root:providers:example exists and was not created by kcpenv"),
        "{}",
        stderr(&out)
    );

    // down removes the agent; --purge the service cluster's workspace with kcp's volume.
    let out = env.kcpenv(&["down", "--purge"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env.assert_nothing_left();
}

fn dir_with(file: &str, content: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    std::fs::write(&path, content).unwrap();
    (dir, path)
}
