//! Objects kcpenv creates in kcp once it is ready (RBAC for the OIDC admin group, …),
//! through kcp's API with the environment's admin client certificate. Create-if-missing,
//! so every `up` may run it and a second run changes nothing.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::plan::{KubeObject, KubeconfigSpec, ServedWait};
use crate::service_cluster::{Access, Auth};

pub struct Bootstrapper {
    client: reqwest::Client,
    server: String,
}

impl Bootstrapper {
    pub fn new(spec: &KubeconfigSpec) -> Result<Bootstrapper> {
        Self::with_identity(
            &spec.server,
            &spec.ca_pem,
            &spec.admin.cert_pem,
            &spec.admin.key_pem,
        )
    }

    /// The admin client of an existing environment, from its state directory.
    pub fn for_env(state: &crate::state::StateDir, server: &str) -> Result<Bootstrapper> {
        let read = |name: &str| {
            std::fs::read_to_string(state.pki().join(name)).map_err(Error::io(format!(
                "reading {}",
                state.pki().join(name).display()
            )))
        };
        Self::with_identity(
            server,
            &read("ca.crt")?,
            &read(&format!("{}.crt", crate::components::kcp::ADMIN_CERT))?,
            &read(&format!("{}.key", crate::components::kcp::ADMIN_CERT))?,
        )
    }

    fn with_identity(
        server: &str,
        ca_pem: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<Bootstrapper> {
        Self::for_access(&Access {
            server: server.to_owned(),
            ca_pem: Some(ca_pem.to_owned()),
            insecure: false,
            tls_server_name: None,
            auth: Auth::ClientCert {
                cert_pem: cert_pem.to_owned(),
                key_pem: key_pem.to_owned(),
            },
        })
    }

    /// A client for any API server, as a flattened kubeconfig context describes it.
    pub fn for_access(access: &Access) -> Result<Bootstrapper> {
        let err = |e: reqwest::Error| {
            Error::Internal(format!("building a client for {}: {e}", access.server))
        };
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10));
        // A kubeconfig's CA data may be a bundle (kcp's self-signed mode: leaf and CA).
        if let Some(ca) = &access.ca_pem {
            builder = builder.tls_built_in_root_certs(false);
            for cert in reqwest::Certificate::from_pem_bundle(ca.as_bytes()).map_err(err)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        if access.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        match &access.auth {
            Auth::ClientCert { cert_pem, key_pem } => {
                builder = builder.identity(
                    reqwest::Identity::from_pem(format!("{cert_pem}{key_pem}").as_bytes())
                        .map_err(err)?,
                );
            }
            Auth::Token(token) => {
                let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| Error::Internal("the token is not a valid header value".into()))?;
                value.set_sensitive(true);
                builder = builder.default_headers(reqwest::header::HeaderMap::from_iter([(
                    reqwest::header::AUTHORIZATION,
                    value,
                )]));
            }
            Auth::Anonymous => {}
        }
        let mut server = access.server.clone();
        // The certificate names another host than the one dialled: connect to the
        // address, verify as the name.
        if let Some(name) = &access.tls_server_name
            && let Ok(mut url) = reqwest::Url::parse(&access.server)
            && url.host_str() != Some(name.as_str())
        {
            let port = url.port_or_known_default().unwrap_or(443);
            let addrs: Vec<std::net::SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(
                url.host_str().unwrap_or_default(),
                port,
            ))
            .map(Iterator::collect)
            .unwrap_or_default();
            if name.parse::<std::net::IpAddr>().is_err() && url.set_host(Some(name)).is_ok() {
                builder = builder.resolve_to_addrs(name, &addrs);
                server = url.as_str().trim_end_matches('/').to_owned();
            }
        }
        Ok(Bootstrapper {
            client: builder.build().map_err(err)?,
            server,
        })
    }

    /// `/clusters/<ws>` for a kcp workspace; nothing for `""` (the server's own root: a
    /// plain Kubernetes API server, or a kubeconfig already pointing into a workspace).
    fn at(&self, cluster: &str) -> String {
        if cluster.is_empty() {
            self.server.clone()
        } else {
            format!("{}/clusters/{cluster}", self.server)
        }
    }

    /// The HTTP status of a GET of `path` (errors only when there is no answer).
    pub async fn get_status(&self, path: &str) -> std::result::Result<u16, String> {
        self.client
            .get(format!("{}{path}", self.server))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| error_chain(&e))
    }

    /// Waits (up to 2 minutes) until kcp's discovery in `w.cluster` lists `w.resource`
    /// of `w.group`/`w.version`, in the group list and in the group version. (kcp
    /// serves no aggregated discovery under /clusters/, so clients use these.)
    pub async fn wait_served(&self, w: &ServedWait) -> Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        let base = format!("{}/apis", self.at(&w.cluster));
        loop {
            let groups = self.get_url(&base).await.ok().flatten().unwrap_or_default();
            let version = self
                .get_url(&format!("{base}/{}/{}", w.group, w.version))
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            if lists(&groups, &version, w) {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(Error::Internal(format!(
                    "after 2 minutes, the discovery of {base} still lists no {} in {}/{}",
                    w.resource, w.group, w.version
                )));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// GETs `path` (e.g. `/clusters/root/api/v1`): Ok(None) on 403/404 (kcp answers
    /// 403 for a workspace that does not exist).
    pub async fn get_json(&self, path: &str) -> Result<Option<serde_json::Value>> {
        self.get_url(&format!("{}{path}", self.server)).await
    }

    async fn get_url(&self, url: &str) -> Result<Option<serde_json::Value>> {
        let failed = |e: String| Error::Usage {
            message: format!("cannot read {url}: {e}"),
            hint: "is the environment up? `kcpenv status` shows kcp's state".into(),
        };
        let r = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| failed(error_chain(&e)))?;
        match r.status().as_u16() {
            200 => {
                let text = r.text().await.map_err(|e| failed(e.to_string()))?;
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| failed(e.to_string()))
            }
            403 | 404 => Ok(None),
            code => Err(failed(format!("HTTP {code}"))),
        }
    }

    /// Creates `obj` unless it exists; returns whether it was created.
    pub async fn ensure(&self, obj: &KubeObject) -> Result<bool> {
        let collection = format!("{}{}", self.at(&obj.cluster), obj.collection);
        let what = match obj.cluster.as_str() {
            "" => format!("{} {} on {}", kind(obj), obj.name, self.server),
            ws => format!("{} {} in {ws}", kind(obj), obj.name),
        };
        let failed = |e: String| Error::Internal(format!("creating {what}: {e}"));
        let get = self
            .client
            .get(format!("{collection}/{}", obj.name))
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        match get.status().as_u16() {
            200 if obj.exclusive => {
                let text = get.text().await.unwrap_or_default();
                let existing: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                if existing["metadata"]["labels"]["app.kubernetes.io/managed-by"] != "kcpenv" {
                    return Err(Error::Usage {
                        message: format!("{what} exists and was not created by kcpenv"),
                        hint: "kcpenv would take it over; choose another name in the profile, or delete it".into(),
                    });
                }
                return Ok(false);
            }
            200 => return Ok(false),
            404 => {}
            code => {
                return Err(failed(format!(
                    "HTTP {code}: {}",
                    get.text().await.unwrap_or_default()
                )));
            }
        }
        // A resource of a CRD created just before is served once the CRD is
        // established (a second or so): until then kcp answers 404.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let post = loop {
            let post = self
                .client
                .post(&collection)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(obj.body.to_string())
                .send()
                .await
                .map_err(|e| failed(e.to_string()))?;
            if post.status().as_u16() != 404 || std::time::Instant::now() >= deadline {
                break post;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        match post.status().as_u16() {
            200..=202 | 409 => {}
            code => {
                return Err(failed(format!(
                    "HTTP {code}: {}",
                    post.text().await.unwrap_or_default()
                )));
            }
        }
        if kind(obj) == "Workspace" {
            self.wait_workspace_ready(obj).await.map_err(failed)?;
        }
        Ok(post.status().as_u16() != 409)
    }

    /// A new workspace serves its API only once its phase is Ready (a second or two);
    /// commands run right after `up` must find it usable.
    async fn wait_workspace_ready(&self, obj: &KubeObject) -> std::result::Result<(), String> {
        let url = format!("{}{}/{}", self.at(&obj.cluster), obj.collection, obj.name);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut phase = String::new();
        while std::time::Instant::now() < deadline {
            if let Ok(r) = self.client.get(&url).send().await
                && let Ok(text) = r.text().await
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                phase = v["status"]["phase"].as_str().unwrap_or_default().to_owned();
                if phase == "Ready" {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(format!("not Ready after 60s (phase {phase:?})"))
    }
}

fn kind(obj: &KubeObject) -> &str {
    obj.body
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("object")
}

/// Whether an APIGroupList and an APIResourceList list the resource `w` waits for.
fn lists(groups: &serde_json::Value, version: &serde_json::Value, w: &ServedWait) -> bool {
    let each = |v: &serde_json::Value, key: &str| v[key].as_array().cloned().unwrap_or_default();
    let group_listed = each(groups, "groups").iter().any(|g| {
        g["name"] == w.group.as_str()
            && each(g, "versions")
                .iter()
                .any(|v| v["version"] == w.version.as_str())
    });
    group_listed
        && each(version, "resources")
            .iter()
            .any(|r| r["name"] == w.resource.as_str())
}

/// reqwest's error with its causes ("error sending request: … Connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
