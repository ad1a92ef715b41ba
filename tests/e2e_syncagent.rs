//! End-to-end tier for the `syncagent` profile: real kcp and api-syncagent built from
//! their Go modules, with a kcp workspace as the service cluster. An object created in
//! the consumer workspace appears on the service cluster, a status change there flows
//! back, and deleting it in kcp removes it below; a second `up` changes nothing; an
//! APIExport of the same name that kcpenv did not create is refused.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::e2e::{
    MIRROR, crontab_round_trip, eventually, kubeconfig, kubeconfigs, kubectl, kubectl_ok,
    require_e2e,
};
use common::{Env, stderr, stdout};

const OFFSET: &str = "1500";

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
    let names: Vec<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
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

    // An object created in the consumer workspace syncs down, its status comes back,
    // and deleting it in kcp removes it below.
    crontab_round_trip(&consumer, &service, "nightly");

    // status says which PublishedResources the agent published, and why one is not.
    let status = stdout(&env.kcpenv(&["status"]).output().unwrap());
    assert!(
        status.contains("PublishedResource crontabs: published as APIResourceSchema "),
        "{status}"
    );
    let missing = dir_with(
        "missing.yaml",
        "apiVersion: syncagent.kcp.io/v1alpha1\nkind: PublishedResource\nmetadata: {name: widgets}\nspec: {resource: {kind: Widget, apiGroup: nothere.example.dev, versions: [v1]}}\n",
    );
    kubectl_ok(&service, &["create", "-f", missing.1.to_str().unwrap()]);
    let status = stdout(&env.kcpenv(&["status"]).output().unwrap());
    assert!(
        status.contains("PublishedResource widgets: NOT published: it names Widget.nothere.example.dev, which the service cluster has no CRD for"),
        "{status}"
    );
    kubectl_ok(&service, &["delete", "publishedresource", "widgets"]);

    // A multicluster-runtime controller (multicluster-provider's apiexport example,
    // built from its Go module) on the slice kcpenv names, with the provider kubeconfig,
    // reconciles ConfigMaps in every workspace bound to the export.
    let status: serde_json::Value = serde_json::from_str(&stdout(
        &env.kcpenv(&["status", "-o", "json"]).output().unwrap(),
    ))
    .unwrap();
    let slice = status["syncagent"]["endpoint_slice"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = kubeconfig(&list, "admin");
    let server = kubectl_ok(
        &consumer,
        &[
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ],
    );
    let root = server.replace("/clusters/root:consumer", "/clusters/root");
    let second = dir_with(
        "second.yaml",
        "apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata: {name: consumer-two}\n",
    );
    kubectl_ok(
        &admin,
        &[
            "--server",
            &root,
            "create",
            "-f",
            second.1.to_str().unwrap(),
        ],
    );
    kubectl_ok(
        &admin,
        &[
            "--server",
            &root,
            "wait",
            "--for=jsonpath={.status.phase}=Ready",
            "workspace/consumer-two",
            "--timeout=60s",
        ],
    );
    let two = format!("{root}:consumer-two");
    let binding = dir_with(
        "binding.yaml",
        &format!(
            "apiVersion: apis.kcp.io/v1alpha2\nkind: APIBinding\nmetadata: {{name: {slice}}}\nspec:\n  reference: {{export: {{path: 'root:providers:example', name: {slice}}}}}\n  permissionClaims:\n  - {{group: '', resource: configmaps, verbs: ['*'], selector: {{matchAll: true}}, state: Accepted}}\n  - {{group: '', resource: events, verbs: ['*'], selector: {{matchAll: true}}, state: Accepted}}\n"
        ),
    );
    kubectl_ok(
        &admin,
        &[
            "--server",
            &two,
            "create",
            "-f",
            binding.1.to_str().unwrap(),
        ],
    );
    kubectl_ok(&consumer, &["create", "configmap", "mc-one"]);
    eventually(
        "the second consumer serves the claimed ConfigMaps",
        60,
        || {
            kubectl(&admin, &["--server", &two, "create", "configmap", "mc-two"])
                .status
                .success()
        },
    );
    let example = common::e2e::e2e_bin().join("multicluster-apiexport-example");
    assert!(
        example.is_file(),
        "{} is missing: run `bash scripts/e2e-images.sh mcexample`",
        example.display()
    );
    let log_dir = tempfile::tempdir().unwrap();
    let log_path = log_dir.path().join("controller.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut controller = std::process::Command::new(&example)
        .arg(format!("--endpointslice={slice}"))
        .env("KUBECONFIG", kubeconfig(&list, "provider"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let reconciled = |name: &str, log: &str| -> Option<String> {
        log.lines()
            .filter(|l| {
                l.contains("Reconciling ConfigMap") && l.contains(&format!("\"name\": \"{name}\""))
            })
            .find_map(|l| {
                let at = l.find("\"cluster\": \"")? + 12;
                Some(l[at..].split('"').next()?.to_owned())
            })
    };
    let start = Instant::now();
    let clusters = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let (Some(a), Some(b)) = (reconciled("mc-one", &text), reconciled("mc-two", &text)) {
            break (a, b);
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = controller.kill();
            panic!("the controller did not reconcile both ConfigMaps:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let _ = controller.kill();
    let _ = controller.wait();
    assert_ne!(
        clusters.0, clusters.1,
        "two workspaces, two logical clusters"
    );

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
