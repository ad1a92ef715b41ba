//! Dex: kcp's OIDC provider. Serves `https://localhost:<port>/dex` with the environment's
//! serving certificate — the same URL for the browser, kubelogin on the host and kcp in
//! the shared namespace, as OIDC requires. Started as `dex serve` directly: the image's
//! entrypoint would run the config through gomplate first.

use std::collections::BTreeMap;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::names;
use crate::pki::{LOCAL_SANS, LeafSpec};
use crate::plan::{ContainerSpec, FileSpec, Network, PortBinding, Probe, VolumeMount, hex, shift};
use crate::profile::{DexSpec, DexStorage};
use crate::render;

use super::{Context, Planned};

pub const NAME: &str = "dex";
/// The official image's `dex` user.
const UID: u64 = 1001;
pub const SERVING_CERT: &str = "dex-serving";
const CONFIG: &str = "/etc/dex/config.yaml";

pub fn cert_requests() -> BTreeMap<String, LeafSpec> {
    BTreeMap::from([(
        SERVING_CERT.to_owned(),
        LeafSpec::Serving {
            sans: LOCAL_SANS.iter().map(|s| s.to_string()).collect(),
        },
    )])
}

pub fn issuer(spec: &DexSpec, offset: u16) -> Result<String> {
    Ok(format!(
        "https://localhost:{}/dex",
        shift(spec.port, offset, "dex.port")?
    ))
}

/// Dex's config file, rendered from `templates/dex/config.yaml`.
pub fn config(spec: &DexSpec, ctx: &Context) -> Result<String> {
    let users =
        spec.users
            .iter()
            .map(|u| {
                let secret = ctx.secrets.users.get(&u.email).ok_or_else(|| {
                    Error::Internal(format!("no password prepared for {}", u.email))
                })?;
                Ok(json!({
                    "email": u.email,
                    "hash": secret.hash,
                    "username": u.email.split('@').next().unwrap_or_default(),
                    // Stable per email, so tokens and sessions survive a re-render.
                    "user_id": hex(&Sha256::digest(u.email.to_lowercase().as_bytes()))[..32],
                    "groups": u.groups,
                }))
            })
            .collect::<Result<Vec<_>>>()?;
    render::template(
        "dex/config.yaml",
        &json!({
            "issuer": issuer(spec, ctx.offset)?,
            "storage": match spec.storage { DexStorage::Sqlite => "sqlite", DexStorage::Memory => "memory" },
            "port": shift(spec.port, ctx.offset, "dex.port")?,
            "telemetry_port": shift(spec.telemetry_port, ctx.offset, "dex.telemetryPort")?,
            "client_id": spec.client_id,
            "client_secret": ctx.secrets.oidc_client_secret,
            "users": users,
        }),
    )
}

pub fn plan(spec: &DexSpec, ctx: &Context) -> Result<Planned> {
    let port = shift(spec.port, ctx.offset, "dex.port")?;
    let serving = ctx.certs.get(SERVING_CERT)?;
    let file = |path: &str, content: &str, mode: u32, secret: bool| FileSpec {
        path: path.to_owned(),
        content: content.to_owned(),
        mode,
        uid: UID,
        gid: UID,
        secret,
    };
    let container = ContainerSpec {
        component: NAME.into(),
        name: names::container_name(ctx.env, NAME),
        image: ctx.images.resolve(NAME, &spec.image),
        entrypoint: Some(vec!["/usr/local/bin/dex".into()]),
        command: Some(vec!["serve".into(), CONFIG.into()]),
        env: BTreeMap::new(),
        user: None,
        network: Network::JoinHolder,
        volumes: vec![VolumeMount {
            volume: names::volume_name(ctx.env, NAME, "data"),
            path: "/var/dex".into(),
        }],
        files: vec![
            file(CONFIG, &config(spec, ctx)?, 0o600, true),
            file("/etc/dex/tls/tls.crt", &serving.cert_pem, 0o644, false),
            file("/etc/dex/tls/tls.key", &serving.key_pem, 0o600, true),
        ],
        init: None,
        readiness: Some(Probe::Https {
            port,
            path: "/dex/healthz".into(),
        }),
        depends_on: vec![],
        stop_timeout: 5,
        urls: vec![issuer(spec, ctx.offset)?],
        labels: BTreeMap::new(),
    };
    let publish = vec![PortBinding::loopback(port, NAME, "https")];
    Ok((container, publish))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Certs, ImageChoice};
    use crate::profile;
    use crate::secrets::Secrets;

    /// Dex v2.45's config schema, for the keys kcpenv writes: Dex itself ignores unknown
    /// keys, so this model catches a misspelt one in the template.
    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct DexConfig {
        issuer: String,
        storage: Storage,
        web: Web,
        telemetry: Telemetry,
        oauth2: OAuth2,
        enable_password_d_b: Option<bool>,
        static_clients: Vec<Client>,
        static_passwords: Vec<Password>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Storage {
        #[serde(rename = "type")]
        kind: String,
        config: Option<BTreeMap<String, String>>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Web {
        https: String,
        tls_cert: String,
        tls_key: String,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Telemetry {
        http: String,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct OAuth2 {
        skip_approval_screen: bool,
        password_connector: String,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Client {
        id: String,
        name: String,
        secret: String,
        #[serde(rename = "redirectURIs")]
        redirect_uris: Vec<String>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Password {
        email: String,
        hash: String,
        username: String,
        #[serde(rename = "userID")]
        user_id: String,
        groups: Vec<String>,
    }

    #[test]
    fn rendered_config_matches_dex_schema_and_hashes_verify() {
        let p = profile::parse("t", "kcp: {}\ndex:\n  users:\n    - { email: \"o'brien@example.com\", groups: [a, \"b: c\"], password: pw }\n").unwrap();
        let spec = p.dex.unwrap();
        let mut secrets = Secrets::default();
        secrets.ensure_client_secret();
        secrets
            .ensure_user("o'brien@example.com", Some("pw"))
            .unwrap();
        let overrides = BTreeMap::new();
        let certs = Certs::default();
        let ctx = Context {
            env: "dev",
            offset: 10,
            images: ImageChoice {
                overrides: &overrides,
                mirror: None,
            },
            certs: &certs,
            secrets: &secrets,
        };
        let text = config(&spec, &ctx).unwrap();
        let c: DexConfig = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(c.issuer, "https://localhost:5566/dex");
        assert_eq!(c.web.https, "0.0.0.0:5566");
        assert_eq!(
            (c.web.tls_cert.as_str(), c.web.tls_key.as_str()),
            ("/etc/dex/tls/tls.crt", "/etc/dex/tls/tls.key")
        );
        assert_eq!(c.telemetry.http, "127.0.0.1:5568");
        assert_eq!(c.storage.kind, "sqlite3");
        assert_eq!(c.storage.config.unwrap()["file"], "/var/dex/dex.db");
        assert!(c.oauth2.skip_approval_screen);
        assert_eq!(c.oauth2.password_connector, "local");
        assert_eq!(
            c.enable_password_d_b,
            Some(true),
            "the key Dex reads is enablePasswordDB"
        );
        assert_eq!(c.static_clients[0].id, "kcp-kubelogin");
        assert_eq!(c.static_clients[0].name, "kcpenv");
        assert_eq!(c.static_clients[0].secret, secrets.oidc_client_secret);
        assert_eq!(
            c.static_clients[0].redirect_uris,
            ["http://localhost:8000", "http://localhost:18000"]
        );
        let u = &c.static_passwords[0];
        assert_eq!(u.email, "o'brien@example.com");
        assert_eq!(u.username, "o'brien");
        assert_eq!(u.user_id.len(), 32);
        assert_eq!(u.groups, ["a", "b: c"]);
        assert!(bcrypt::verify("pw", &u.hash).unwrap());
    }
}
