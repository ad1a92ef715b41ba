//! An existing cluster as api-syncagent's service cluster (`kubeconfig:PATH[#CONTEXT]`):
//! its kubeconfig read and flattened (referenced files embedded), checked from the host
//! before anything is created, and the route by which the environment's namespace
//! reaches it.
//!
//! The route is the non-obvious part. kind, k3d and minikube's docker driver publish the
//! API server on the host's 127.0.0.1, which is a different loopback from the one inside
//! the environment's namespace. When such a port is published by a container, the holder
//! joins that container's network and the agent dials the container directly, with
//! `tls-server-name` set to the kubeconfig's host so the server certificate (issued for
//! 127.0.0.1/localhost) still verifies. Any other address is used as it is.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_yaml::Value;

use crate::error::{Error, Result};

/// How kcpenv and the agent reach and authenticate to the cluster: one kubeconfig
/// context with everything embedded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub server: String,
    pub ca_pem: Option<String>,
    pub insecure: bool,
    pub tls_server_name: Option<String>,
    pub auth: Auth,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    ClientCert { cert_pem: String, key_pem: String },
    Token(String),
    Anonymous,
}

/// The cluster as planned: the kubeconfig's own view (kcpenv on the host uses it) and
/// the agent's view from inside the namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    /// What the user wrote: `kubeconfig:PATH[#CONTEXT]`.
    pub source: String,
    pub host: Access,
    pub inside: Access,
    /// A Docker network the holder must join to reach it (None: the default bridge).
    pub network: Option<String>,
}

impl External {
    /// For plans that are only looked at (image lists, compose export): no file read.
    pub fn placeholder(source: &str) -> External {
        let access = Access {
            server: "https://service-cluster.invalid".into(),
            ca_pem: None,
            insecure: false,
            tls_server_name: None,
            auth: Auth::Anonymous,
        };
        External {
            source: source.into(),
            host: access.clone(),
            inside: access,
            network: None,
        }
    }
}

fn invalid(source: &str, message: String, hint: &str) -> Error {
    Error::ServiceCluster {
        origin: source.into(),
        message,
        hint: hint.into(),
    }
}

const FIX_KUBECONFIG: &str = "check the file with `kubectl --kubeconfig PATH cluster-info`; name a context with kubeconfig:PATH#CONTEXT";

/// Reads `kubeconfig:PATH[#CONTEXT]`'s file (`~/` expanded) and flattens its context.
pub fn load(source: &str, path: &Path, context: Option<&str>) -> Result<Access> {
    let path = expand_home(path);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        invalid(
            source,
            format!("cannot read {}: {e}", path.display()),
            "give the path of an existing kubeconfig (kind writes one with `kind get kubeconfig > FILE`)",
        )
    })?;
    let doc: Value = serde_yaml::from_str(&text).map_err(|e| {
        invalid(
            source,
            format!("{} is not a valid kubeconfig: {e}", path.display()),
            FIX_KUBECONFIG,
        )
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    flatten(&doc, dir, context).map_err(|message| invalid(source, message, FIX_KUBECONFIG))
}

fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), dirs::home_dir()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_owned(),
    }
}

/// One context of a kubeconfig, with the files it names read (relative to `dir`, as
/// kubectl resolves them).
fn flatten(doc: &Value, dir: &Path, context: Option<&str>) -> std::result::Result<Access, String> {
    let context = match context {
        Some(c) => c.to_owned(),
        None => doc
            .get("current-context")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .ok_or("it sets no current-context (name one: kubeconfig:PATH#CONTEXT)")?
            .to_owned(),
    };
    let entry = |key: &str, name: &str| -> std::result::Result<Value, String> {
        let singular = key.trim_end_matches('s');
        doc.get(key)
            .and_then(Value::as_sequence)
            .and_then(|s| {
                s.iter()
                    .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
            })
            .and_then(|e| e.get(singular).cloned())
            .ok_or_else(|| format!("it has no {singular} {name:?}"))
    };
    let ctx = entry("contexts", &context)?;
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let cluster = entry(
        "clusters",
        &field(&ctx, "cluster").ok_or(format!("context {context:?} names no cluster"))?,
    )?;
    let user = match field(&ctx, "user") {
        Some(u) => entry("users", &u)?,
        None => Value::Mapping(Default::default()),
    };

    let server = field(&cluster, "server").ok_or("its cluster has no server")?;
    let url = reqwest::Url::parse(&server).map_err(|e| format!("server {server:?}: {e}"))?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err(format!(
            "server {server:?}: kcpenv needs an https:// API server address"
        ));
    }
    if cluster.get("proxy-url").is_some() {
        return Err("its cluster uses proxy-url, which kcpenv does not support".into());
    }
    let read = |data: &str, file: &str, v: &Value| -> std::result::Result<Option<String>, String> {
        if let Some(b64) = field(v, data) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| format!("{data} is not base64: {e}"))?;
            return String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| format!("{data} is not text"));
        }
        match field(v, file) {
            Some(f) => std::fs::read_to_string(dir.join(&f))
                .map(Some)
                .map_err(|e| format!("{file} {f}: {e}")),
            None => Ok(None),
        }
    };
    let ca_pem = read(
        "certificate-authority-data",
        "certificate-authority",
        &cluster,
    )?;
    let insecure = cluster
        .get("insecure-skip-tls-verify")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let tls_server_name = field(&cluster, "tls-server-name");

    for unsupported in ["exec", "auth-provider", "username"] {
        if user.get(unsupported).is_some() {
            return Err(format!(
                "its user authenticates with {unsupported}, which the agent's container cannot run; use a kubeconfig with a client certificate or a token (e.g. a ServiceAccount token: `kubectl create token`)"
            ));
        }
    }
    let cert = read("client-certificate-data", "client-certificate", &user)?;
    let key = read("client-key-data", "client-key", &user)?;
    let token = match field(&user, "token") {
        Some(t) => Some(t),
        None => match field(&user, "tokenFile") {
            Some(f) => Some(
                std::fs::read_to_string(dir.join(&f))
                    .map_err(|e| format!("tokenFile {f}: {e}"))?
                    .trim()
                    .to_owned(),
            ),
            None => None,
        },
    };
    let auth = match (cert, key, token) {
        (Some(cert_pem), Some(key_pem), _) => Auth::ClientCert { cert_pem, key_pem },
        (Some(_), None, _) | (None, Some(_), _) => {
            return Err(
                "its user has a client certificate without a key, or a key without one".into(),
            );
        }
        (None, None, Some(t)) => Auth::Token(t),
        (None, None, None) => Auth::Anonymous,
    };
    Ok(Access {
        server: server.trim_end_matches('/').to_owned(),
        ca_pem,
        insecure,
        tls_server_name,
        auth,
    })
}

impl Access {
    /// A one-context kubeconfig with everything embedded.
    pub fn kubeconfig(&self, name: &str) -> Value {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        let mut cluster = serde_json::json!({ "server": self.server });
        if let Some(ca) = &self.ca_pem {
            cluster["certificate-authority-data"] = b64(ca).into();
        }
        if self.insecure {
            cluster["insecure-skip-tls-verify"] = true.into();
        }
        if let Some(n) = &self.tls_server_name {
            cluster["tls-server-name"] = n.clone().into();
        }
        let user = match &self.auth {
            Auth::ClientCert { cert_pem, key_pem } => serde_json::json!({
                "client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem),
            }),
            Auth::Token(t) => serde_json::json!({ "token": t }),
            Auth::Anonymous => serde_json::json!({}),
        };
        serde_yaml::to_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{ "name": name, "cluster": cluster }],
            "users": [{ "name": name, "user": user }],
            "contexts": [{ "name": name, "context": { "cluster": name, "user": name } }],
            "current-context": name,
        }))
        .expect("JSON is YAML")
    }

    /// The server's port when its host is this machine's own address — loopback, or
    /// 0.0.0.0 as k3d writes it: reachable from the host, not from a container.
    pub fn loopback_port(&self) -> Option<u16> {
        let url = reqwest::Url::parse(&self.server).ok()?;
        let host = url.host_str()?.trim_matches(['[', ']']);
        let loopback = host == "localhost"
            || host
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
        loopback.then(|| url.port_or_known_default()).flatten()
    }

    /// The same cluster at another address (`host:port`), still verified as the name the
    /// kubeconfig used.
    fn via(&self, address: &str) -> Access {
        let mut url = reqwest::Url::parse(&self.server).expect("checked when loaded");
        let original = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        let (host, port) = address.rsplit_once(':').expect("host:port");
        url.set_host(Some(host)).expect("a host name or IP");
        url.set_port(port.parse().ok()).expect("https has ports");
        Access {
            server: url.as_str().trim_end_matches('/').to_owned(),
            tls_server_name: Some(self.tls_server_name.clone().unwrap_or(original)),
            ..self.clone()
        }
    }
}

/// A container that publishes a host port, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    pub container: String,
    /// The container's port behind the host port.
    pub port: u16,
    /// (network, the container's IP there), as attached.
    pub networks: Vec<(String, String)>,
}

/// The cluster as the agent sees it: the host's view when that works from a container;
/// for a loopback address, the container publishing that port, on its own network.
pub fn route(source: &str, host: Access, publisher: Option<&Publisher>) -> Result<External> {
    let Some(port) = host.loopback_port() else {
        return Ok(External {
            source: source.into(),
            inside: host.clone(),
            host,
            network: None,
        });
    };
    let Some(p) = publisher else {
        return Err(invalid(
            source,
            format!(
                "its API server {} is on this host's loopback, but no container publishes port {port}: a process listening on the host's 127.0.0.1 cannot be reached from the environment's containers",
                host.server
            ),
            "run the cluster in a container (kind, k3d, minikube --driver=docker), or use a kubeconfig whose server address containers can reach (this host's LAN address, if the API server listens there)",
        ));
    };
    // A user-defined network resolves container names (stable across restarts); the
    // engine's default network (Docker's `bridge`, Podman's `podman`) does not, so there
    // the address is the container's IP, and the holder is on it by default.
    let default_network = |n: &str| n == "bridge" || n == "podman";
    let named = p
        .networks
        .iter()
        .filter(|(n, _)| !default_network(n) && n != "host" && n != "none")
        .min_by(|a, b| a.0.cmp(&b.0));
    let (network, address) = match named {
        Some((n, _)) => (Some(n.clone()), p.container.clone()),
        None => match p
            .networks
            .iter()
            .find(|(n, ip)| default_network(n) && !ip.is_empty())
        {
            Some((_, ip)) => (None, ip.clone()),
            None => {
                return Err(invalid(
                    source,
                    format!(
                        "container {} publishes its API server on port {port}, but has no network the environment can join",
                        p.container
                    ),
                    "attach that container to a Docker network, or use a kubeconfig with an address containers can reach",
                ));
            }
        },
    };
    let inside = host.via(&format!("{address}:{}", p.port));
    Ok(External {
        source: source.into(),
        host,
        inside,
        network,
    })
}

/// Asks the API server, from the host, who it is and whether these credentials may do
/// what kcpenv and the agent need (CRDs and namespaces). Fails naming the reason.
pub async fn check(source: &str, access: &Access) -> Result<()> {
    let client = crate::bootstrap::Bootstrapper::for_access(access)?;
    let fail = |message: String, hint: &str| invalid(source, message, hint);
    let unreachable = "is the cluster running? (`kubectl --kubeconfig PATH get --raw /version`)";
    match client.get_status("/version").await {
        Ok(401) => {
            return Err(fail(
                format!(
                    "{} rejects the kubeconfig's credentials (HTTP 401)",
                    access.server
                ),
                "the token or certificate is not (or no longer) valid for that cluster; get a fresh kubeconfig",
            ));
        }
        // Any other answer: the server is there; the rights checks below say more.
        Ok(_) => {}
        Err(e) => {
            return Err(fail(
                format!("cannot reach its API server {}: {e}", access.server),
                unreachable,
            ));
        }
    }
    for (path, what) in [
        (
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?limit=1",
            "list CustomResourceDefinitions",
        ),
        ("/api/v1/namespaces?limit=1", "list Namespaces"),
    ] {
        match client.get_status(path).await {
            Ok(200) => {}
            Ok(code) => {
                return Err(fail(
                    format!(
                        "the kubeconfig's identity may not {what} on {} (HTTP {code})",
                        access.server
                    ),
                    "kcpenv creates the PublishedResource CRD, the agent's namespace and the example there, and the agent acts with these credentials: use an identity with cluster-admin",
                ));
            }
            Err(e) => return Err(fail(format!("asking {}: {e}", access.server), unreachable)),
        }
    }
    Ok(())
}

/// Parses the text after `kubeconfig:` into a path and an optional context.
pub fn parse_source(rest: &str) -> (PathBuf, Option<String>) {
    match rest.rsplit_once('#') {
        Some((path, ctx)) if !ctx.is_empty() => (path.into(), Some(ctx.to_owned())),
        _ => (rest.trim_end_matches('#').into(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(user: &str) -> Value {
        serde_yaml::from_str(&format!(
            r#"
apiVersion: v1
kind: Config
current-context: kind-kind
clusters:
- name: kind-kind
  cluster: {{server: "https://127.0.0.1:40123", certificate-authority-data: Q0EK}}
contexts:
- name: kind-kind
  context: {{cluster: kind-kind, user: kind-kind}}
- name: other
  context: {{cluster: missing, user: kind-kind}}
users:
- name: kind-kind
  user: {user}
"#
        ))
        .unwrap()
    }

    #[test]
    fn flattens_the_current_context() {
        let a = flatten(
            &doc("{client-certificate-data: Q0VSVAo=, client-key-data: S0VZCg==}"),
            Path::new("/nowhere"),
            None,
        )
        .unwrap();
        assert_eq!(a.server, "https://127.0.0.1:40123");
        assert_eq!(a.ca_pem.as_deref(), Some("CA\n"));
        assert_eq!(
            a.auth,
            Auth::ClientCert {
                cert_pem: "CERT\n".into(),
                key_pem: "KEY\n".into()
            }
        );
        assert_eq!(a.loopback_port(), Some(40123));
    }

    #[test]
    fn reads_files_relative_to_the_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
        let a = flatten(&doc("{tokenFile: token}"), dir.path(), None).unwrap();
        assert_eq!(a.auth, Auth::Token("s3cret".into()));
    }

    #[test]
    fn refuses_what_a_container_cannot_use() {
        let exec = flatten(
            &doc("{exec: {command: gke-gcloud-auth-plugin, apiVersion: client.authentication.k8s.io/v1}}"),
            Path::new("/"),
            None,
        )
        .unwrap_err();
        assert!(exec.contains("exec"), "{exec}");
        let ctx = flatten(&doc("{}"), Path::new("/"), Some("nope")).unwrap_err();
        assert_eq!(ctx, "it has no context \"nope\"");
        let cluster = flatten(&doc("{}"), Path::new("/"), Some("other")).unwrap_err();
        assert_eq!(cluster, "it has no cluster \"missing\"");
    }

    #[test]
    fn a_published_loopback_port_is_reached_through_its_container() {
        let host = flatten(&doc("{token: t}"), Path::new("/"), None).unwrap();
        let kind = Publisher {
            container: "kind-control-plane".into(),
            port: 6443,
            networks: vec![("kind".into(), "172.18.0.2".into())],
        };
        let ext = route("kubeconfig:x", host.clone(), Some(&kind)).unwrap();
        assert_eq!(ext.network.as_deref(), Some("kind"));
        assert_eq!(ext.inside.server, "https://kind-control-plane:6443");
        assert_eq!(ext.inside.tls_server_name.as_deref(), Some("127.0.0.1"));
        assert_eq!(ext.host, host);

        let on_bridge = Publisher {
            container: "kcpenv-a-holder".into(),
            port: 6443,
            networks: vec![("bridge".into(), "172.17.0.5".into())],
        };
        let ext = route("kubeconfig:x", host.clone(), Some(&on_bridge)).unwrap();
        assert_eq!(ext.network, None);
        assert_eq!(ext.inside.server, "https://172.17.0.5:6443");
        // Podman's default network has no DNS either.
        let on_podman = Publisher {
            networks: vec![("podman".into(), "10.88.0.23".into())],
            ..on_bridge
        };
        let ext = route("kubeconfig:x", host.clone(), Some(&on_podman)).unwrap();
        assert_eq!(ext.network, None);
        assert_eq!(ext.inside.server, "https://10.88.0.23:6443");

        let err = route("kubeconfig:x", host, None).unwrap_err().to_string();
        assert!(err.contains("no container publishes port 40123"), "{err}");
    }

    #[test]
    fn other_addresses_are_used_as_they_are() {
        let mut d = doc("{token: t}");
        d["clusters"][0]["cluster"]["server"] = "https://10.0.0.8:6443/clusters/root:svc".into();
        let host = flatten(&d, Path::new("/"), None).unwrap();
        assert_eq!(host.loopback_port(), None);
        let ext = route("kubeconfig:x", host.clone(), None).unwrap();
        assert_eq!(ext.inside, host);
        // k3d writes 0.0.0.0: this machine, not reachable as such from a container.
        d["clusters"][0]["cluster"]["server"] = "https://0.0.0.0:6550".into();
        let k3d = flatten(&d, Path::new("/"), None).unwrap();
        assert_eq!(k3d.loopback_port(), Some(6550));
    }

    #[test]
    fn the_path_survives_the_route() {
        let mut d = doc("{token: t}");
        d["clusters"][0]["cluster"]["server"] = "https://localhost:7443/clusters/root:svc".into();
        let host = flatten(&d, Path::new("/"), None).unwrap();
        let p = Publisher {
            container: "c".into(),
            port: 6443,
            networks: vec![("bridge".into(), "172.17.0.9".into())],
        };
        let ext = route("s", host, Some(&p)).unwrap();
        assert_eq!(
            ext.inside.server,
            "https://172.17.0.9:6443/clusters/root:svc"
        );
        assert_eq!(ext.inside.tls_server_name.as_deref(), Some("localhost"));
    }

    #[test]
    fn sources_name_a_context_after_a_hash() {
        assert_eq!(
            parse_source("~/.kube/config#kind-kind"),
            ("~/.kube/config".into(), Some("kind-kind".into()))
        );
        assert_eq!(parse_source("/tmp/k"), ("/tmp/k".into(), None));
    }
}
