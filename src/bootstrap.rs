//! Objects kcpenv creates in kcp once it is ready (RBAC for the OIDC admin group, …),
//! through kcp's API with the environment's admin client certificate. Create-if-missing,
//! so every `up` may run it and a second run changes nothing.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::plan::{KubeObject, KubeconfigSpec, ServedWait};

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
        let err = |e: reqwest::Error| Error::Internal(format!("building the kcp client: {e}"));
        let identity =
            reqwest::Identity::from_pem(format!("{cert_pem}{key_pem}").as_bytes()).map_err(err)?;
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).map_err(err)?;
        let client = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .identity(identity)
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(err)?;
        Ok(Bootstrapper {
            client,
            server: server.to_owned(),
        })
    }

    /// Waits (up to 2 minutes) until kcp's discovery in `w.cluster` lists `w.resource`
    /// of `w.group`/`w.version`, in the group list and in the group version. (kcp
    /// serves no aggregated discovery under /clusters/, so clients use these.)
    pub async fn wait_served(&self, w: &ServedWait) -> Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        let base = format!("/clusters/{}/apis", w.cluster);
        loop {
            let groups = self
                .get_json(&base)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            let version = self
                .get_json(&format!("{base}/{}/{}", w.group, w.version))
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            if lists(&groups, &version, w) {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(Error::Internal(format!(
                    "after 2 minutes, kcp's discovery in {} still lists no {} in {}/{}",
                    w.cluster, w.resource, w.group, w.version
                )));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// GETs `path` (e.g. `/clusters/root/api/v1`): Ok(None) on 403/404 (kcp answers
    /// 403 for a workspace that does not exist).
    pub async fn get_json(&self, path: &str) -> Result<Option<serde_json::Value>> {
        let url = format!("{}{path}", self.server);
        let failed = |e: String| Error::Usage {
            message: format!("cannot read {url} from kcp: {e}"),
            hint: "is the environment up? `kcpenv status` shows kcp's state".into(),
        };
        let r = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
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
        let collection = format!("{}/clusters/{}{}", self.server, obj.cluster, obj.collection);
        let what = format!("{} {} in {}", kind(obj), obj.name, obj.cluster);
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
        let url = format!(
            "{}/clusters/{}{}/{}",
            self.server, obj.cluster, obj.collection, obj.name
        );
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
