//! End-to-end tier for api-syncagent on an existing service cluster
//! (`--service-cluster kubeconfig:PATH#CONTEXT`). The existing cluster is set up the way
//! kind sets up its own: one container on a user-defined network, its API server
//! published on the host's 127.0.0.1, a self-signed certificate and a token in the
//! kubeconfig. The API server is a standalone kcp (kind's node images need a registry;
//! kcp serves the same Kubernetes API for CRDs, namespaces and RBAC, and is built here
//! from its module). kcpenv must reach it from the environment's namespace, create the
//! service side with the kubeconfig's credentials, and the agent must sync both ways.
//! A second test covers the other shape: `https://127.0.0.1:PORT` with a client
//! certificate (kind's exact kubeconfig form), published by a container on the default
//! bridge (another kcpenv environment).

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use common::e2e::{
    KindLike, crontab_round_trip, eventually, kubeconfig, kubeconfigs, kubectl, kubectl_ok,
    require_e2e,
};
use common::{Env, docker, stderr, stdout};

const OFFSET: &str = "1900";
/// The cluster's container and network (kind: `kind-control-plane` on `kind`).
const CLUSTER: &str = "kcpenv-e2e-kindlike";
const CLUSTER_PORT: u16 = 19443;

fn start_cluster() -> (KindLike, PathBuf) {
    let cluster = KindLike::start(CLUSTER, CLUSTER_PORT);
    let kubeconfig = cluster.kubeconfig.clone();
    (cluster, kubeconfig)
}

/// The kubeconfig with only its `root` context's server moved to `server`.
fn with_server(kubeconfig: &Path, server: &str, dir: &Path) -> PathBuf {
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(kubeconfig).unwrap()).unwrap();
    for c in doc["clusters"].as_sequence_mut().unwrap() {
        if c["name"] == "root" {
            c["cluster"]["server"] = server.into();
        }
    }
    let out = dir.join("moved.kubeconfig");
    std::fs::write(&out, serde_yaml::to_string(&doc).unwrap()).unwrap();
    out
}

/// A plain process on the host's loopback forwarding to `target`: what a cluster run
/// as a host process looks like from kcpenv's side. Returns its port.
fn host_forwarder(target: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            let (mut a, mut b) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            let (mut c, mut u) = (client, upstream);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a, &mut u);
                let _ = u.flush();
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut b, &mut c);
            });
        }
    });
    port
}

/// `up -p syncagent --service-cluster SOURCE`, which must be refused with exit 14 and
/// leave nothing; returns its stderr.
fn refused_up(env: &Env, offset: &str, source: &str) -> String {
    let out = env
        .kcpenv(&[
            "up",
            "-p",
            "syncagent",
            "--port-offset",
            offset,
            "--service-cluster",
            source,
        ])
        .env("KCPENV_IMAGE_MIRROR", common::e2e::MIRROR)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(14), "{}", stderr(&out));
    assert!(env.containers().is_empty(), "nothing is left");
    stderr(&out)
}

/// `kcpenv doctor`'s finding about the service cluster.
fn service_cluster_finding(env: &Env, source: &str) -> serde_json::Value {
    let out = env
        .kcpenv(&[
            "doctor",
            "-p",
            "syncagent",
            "--port-offset",
            OFFSET,
            "--service-cluster",
            source,
            "-o",
            "json",
        ])
        .env("KCPENV_IMAGE_MIRROR", common::e2e::MIRROR)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "service-cluster")
        .unwrap_or_else(|| panic!("no service-cluster finding: {doc}"))
        .clone()
}

#[test]
fn an_existing_cluster_on_a_container_network() {
    require_e2e(&["kcp", "syncagent"]);
    let (cluster, kind) = start_cluster();
    let source = format!("kubeconfig:{}#root", kind.display());

    let env = Env::new("e2e-ext");
    // doctor names the route before up takes it.
    let finding = service_cluster_finding(&env, &source);
    assert_eq!(finding["level"], "ok", "{finding}");
    assert!(
        finding["detail"].as_str().unwrap().ends_with(&format!(
            "the agent reaches it at https://{CLUSTER}:6443/clusters/root (on network {CLUSTER})"
        )),
        "{finding}"
    );
    common::e2e::up(&env, "syncagent", OFFSET, &["--service-cluster", &source]);

    // The holder joined the cluster's network; the agent dials the container by name
    // and verifies the certificate as the kubeconfig's host.
    let mode = docker(&[
        "inspect",
        "-f",
        "{{.HostConfig.NetworkMode}}",
        &format!("kcpenv-{}-holder", env.name),
    ]);
    assert_eq!(mode.trim(), CLUSTER);
    let agent_view: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(
            env.state_dir()
                .join("config/syncagent/etc/api-syncagent/service/kubeconfig"),
        )
        .unwrap(),
    )
    .unwrap();
    let c = &agent_view["clusters"][0]["cluster"];
    assert_eq!(
        c["server"].as_str(),
        Some(format!("https://{CLUSTER}:6443/clusters/root").as_str())
    );
    assert_eq!(c["tls-server-name"].as_str(), Some("localhost"));

    // kcpenv made the service side with the kubeconfig's credentials.
    kubectl_ok(
        &kind,
        &[
            "--context",
            "root",
            "get",
            "crd",
            "publishedresources.syncagent.kcp.io",
            "crontabs.example.kcpenv.dev",
        ],
    );
    kubectl_ok(
        &kind,
        &["--context", "root", "get", "namespace", "kcpenv-syncagent"],
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
            "syncagent-kcp"
        ]
    );
    let path = |name: &str| kubeconfig(&list, name);
    // The written service-cluster kubeconfig is the existing cluster's, flattened.
    let flattened = path("service-cluster");
    kubectl_ok(&flattened, &["get", "namespace", "kcpenv-syncagent"]);

    // An object made in the consumer workspace appears on the cluster; its status
    // flows back; deleting it in kcp removes it below.
    crontab_round_trip(&path("consumer"), &flattened, "nightly");

    let status = stdout(&env.kcpenv(&["status"]).output().unwrap());
    assert!(
        status.contains(&format!("service cluster {source}"))
            && status.contains("PublishedResource crontabs: published as APIResourceSchema "),
        "{status}"
    );

    // A second up changes nothing.
    let before = env.containers();
    let again = common::e2e::up(&env, "syncagent", OFFSET, &["--service-cluster", &source]);
    assert!(
        stdout(&again).contains("was already up to date"),
        "{}",
        stdout(&again)
    );
    assert_eq!(env.containers(), before);

    // A cluster that is a plain process on the host's loopback cannot be reached from
    // the namespace: refused before anything is made, naming the reason.
    let port = host_forwarder(CLUSTER_PORT);
    let moved = with_server(
        &kind,
        &format!("https://localhost:{port}/clusters/root"),
        cluster.dir.path(),
    );
    let other = Env::new("e2e-ext-hostproc");
    let finding = service_cluster_finding(&other, &format!("kubeconfig:{}#root", moved.display()));
    assert_eq!(finding["level"], "fail", "{finding}");
    let out = refused_up(
        &other,
        "2000",
        &format!("kubeconfig:{}#root", moved.display()),
    );
    assert!(
        out.contains(&format!("no container publishes port {port}")),
        "{out}"
    );

    // Credentials the cluster rejects: exit 14 before anything is made.
    let bad = cluster.dir.path().join("bad.kubeconfig");
    let text = std::fs::read_to_string(&kind).unwrap();
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    for u in doc["users"].as_sequence_mut().unwrap() {
        if u["user"].get("token").is_some() {
            u["user"]["token"] = "not-a-valid-token".into();
        }
    }
    std::fs::write(&bad, serde_yaml::to_string(&doc).unwrap()).unwrap();
    let out = refused_up(
        &other,
        "2000",
        &format!("kubeconfig:{}#root", bad.display()),
    );
    assert!(out.contains("HTTP 401"), "{out}");

    // down removes the environment and leaves the existing cluster alone.
    let down = env.kcpenv(&["down", "--purge"]).output().unwrap();
    assert_eq!(down.status.code(), Some(0), "{}", stderr(&down));
    assert!(env.containers().is_empty());
    kubectl_ok(
        &kind,
        &["--context", "root", "get", "namespace", "kcpenv-syncagent"],
    );
    drop(cluster);
}

/// A kubeconfig for user `kcpenv-e2e-viewer` in `cluster`'s root workspace (a client
/// certificate from the environment's CA), who may list CRDs and namespaces but create
/// nothing.
fn viewer_kubeconfig(cluster: &Env, admin: &Path, kind_shaped: &Path) -> PathBuf {
    let pki = cluster.state_dir().join("pki");
    let read = |f: &str| std::fs::read_to_string(pki.join(f)).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(
        &read("ca.crt"),
        rcgen::KeyPair::from_pem(&read("ca.key")).unwrap(),
    )
    .unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kcpenv-e2e-viewer");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();

    let rbac = cluster.home.path().join("viewer-rbac.yaml");
    std::fs::write(
        &rbac,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: kcpenv-e2e-viewer}\nrules:\n- {apiGroups: [apiextensions.k8s.io], resources: [customresourcedefinitions], verbs: [get, list, watch]}\n- {apiGroups: [''], resources: [namespaces], verbs: [get, list, watch]}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: kcpenv-e2e-viewer}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kcpenv-e2e-viewer}\nsubjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: kcpenv-e2e-viewer}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: kcpenv-e2e-viewer-access}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: 'system:kcp:workspace:access'}\nsubjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: kcpenv-e2e-viewer}]\n",
    )
    .unwrap();
    kubectl_ok(admin, &["apply", "-f", rbac.to_str().unwrap()]);

    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(kind_shaped).unwrap()).unwrap();
    let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    let context = format!("kcpenv-{}", cluster.name);
    doc["current-context"] = context.clone().into();
    let user = doc["contexts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"] == context.as_str())
        .unwrap()["context"]["user"]
        .clone();
    for u in doc["users"].as_sequence_mut().unwrap() {
        if u["name"] == user {
            u["user"]["client-certificate-data"] = b64(&cert.pem()).into();
            u["user"]["client-key-data"] = b64(&key.serialize_pem()).into();
        }
    }
    let out = cluster.home.path().join("viewer.kubeconfig");
    std::fs::write(&out, serde_yaml::to_string(&doc).unwrap()).unwrap();
    // kcp's authorizer sees new RBAC a moment after it is written.
    eventually("the viewer may list namespaces", 30, || {
        kubectl(&out, &["get", "namespaces"]).status.success()
    });
    assert!(
        !kubectl(&out, &["create", "namespace", "nope"])
            .status
            .success(),
        "the viewer may not create"
    );
    out
}

/// kind's kubeconfig shape — `https://127.0.0.1:PORT`, a client certificate — with the
/// API server published by a container on the engine's default bridge: another kcpenv
/// environment's kcp. The agent dials the container's IP and verifies the certificate as
/// the IP 127.0.0.1.
#[test]
fn another_environment_on_the_default_bridge() {
    require_e2e(&["kcp", "syncagent"]);
    let cluster = Env::new("e2e-ext-bridge-svc");
    common::e2e::up(&cluster, "kcp", "2100", &[]);
    let admin =
        PathBuf::from(stdout(&cluster.kcpenv(&["kubeconfig", "--path"]).output().unwrap()).trim());
    let text = std::fs::read_to_string(&admin).unwrap();
    assert!(text.contains("https://localhost:8543"), "{text}");
    let kind_shaped = cluster.home.path().join("kind-shaped.kubeconfig");
    std::fs::write(
        &kind_shaped,
        text.replace("https://localhost:8543", "https://127.0.0.1:8543"),
    )
    .unwrap();
    let holder_ip = docker(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.bridge.IPAddress}}",
        &format!("kcpenv-{}-holder", cluster.name),
    ]);

    let env = Env::new("e2e-ext-bridge");

    // An identity that may look but not create passes up's checks; the refusal to create
    // the first object ends up at once (exit 14), with nothing left.
    let viewer = viewer_kubeconfig(&cluster, &admin, &kind_shaped);
    let out = refused_up(&env, "2200", &format!("kubeconfig:{}", viewer.display()));
    assert!(
        out.contains("creating CustomResourceDefinition publishedresources.syncagent.kcp.io on https://127.0.0.1:8543/clusters/root: HTTP 403"),
        "{out}"
    );

    let source = format!(
        "kubeconfig:{}#kcpenv-{}",
        kind_shaped.display(),
        cluster.name
    );
    common::e2e::up(&env, "syncagent", "2200", &["--service-cluster", &source]);
    let agent_view = std::fs::read_to_string(
        env.state_dir()
            .join("config/syncagent/etc/api-syncagent/service/kubeconfig"),
    )
    .unwrap();
    assert!(
        agent_view.contains(&format!(
            "server: https://{}:8543/clusters/root",
            holder_ip.trim()
        )) && agent_view.contains("tls-server-name: 127.0.0.1"),
        "{agent_view}"
    );
    let mode = docker(&[
        "inspect",
        "-f",
        "{{.HostConfig.NetworkMode}}",
        &format!("kcpenv-{}-holder", env.name),
    ]);
    assert_eq!(mode.trim(), "default");

    let consumer = env.state_dir().join("kubeconfigs/consumer.kubeconfig");
    crontab_round_trip(&consumer, &admin, "hourly");

    // Its service cluster gone, the environment is not ready, and status says why.
    let stop = cluster.kcpenv(&["stop"]).output().unwrap();
    assert_eq!(stop.status.code(), Some(0), "{}", stderr(&stop));
    let status = env.kcpenv(&["status"]).output().unwrap();
    assert_eq!(status.status.code(), Some(9), "{}", stdout(&status));
    assert!(
        stdout(&status).contains("service cluster: cannot be asked: cannot read https://127.0.0.1:8543/clusters/root/apis/syncagent.kcp.io/v1alpha1/publishedresources")
            && stdout(&status).contains("Connection refused"),
        "{}",
        stdout(&status)
    );
}
