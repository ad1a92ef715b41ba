//! Objects kcpenv creates in kcp once it is ready (RBAC for the OIDC admin group, …),
//! through kcp's API with the environment's admin client certificate. Create-if-missing,
//! so every `up` may run it and a second run changes nothing.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::plan::{KubeObject, KubeconfigSpec};

pub struct Bootstrapper {
    client: reqwest::Client,
    server: String,
}

impl Bootstrapper {
    pub fn new(spec: &KubeconfigSpec) -> Result<Bootstrapper> {
        let err = |e: reqwest::Error| Error::Internal(format!("building the kcp client: {e}"));
        let identity = reqwest::Identity::from_pem(
            format!("{}{}", spec.admin.cert_pem, spec.admin.key_pem).as_bytes(),
        )
        .map_err(err)?;
        let ca = reqwest::Certificate::from_pem(spec.ca_pem.as_bytes()).map_err(err)?;
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
            server: spec.server.clone(),
        })
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
            200 => return Ok(false),
            404 => {}
            code => {
                return Err(failed(format!(
                    "HTTP {code}: {}",
                    get.text().await.unwrap_or_default()
                )));
            }
        }
        let post = self
            .client
            .post(&collection)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(obj.body.to_string())
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        match post.status().as_u16() {
            200..=202 => Ok(true),
            409 => Ok(false),
            code => Err(failed(format!(
                "HTTP {code}: {}",
                post.text().await.unwrap_or_default()
            ))),
        }
    }
}

fn kind(obj: &KubeObject) -> &str {
    obj.body
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("object")
}
