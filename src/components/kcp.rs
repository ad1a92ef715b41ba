//! kcp: `kcp start` with the environment's serving certificate and CA, client
//! certificates accepted (`--client-ca-file`), `--shard-base-url` on localhost (the URL is
//! the same from the host and from every container in the shared namespace), and its root
//! directory on a named volume.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::kubeconfig;
use crate::names;
use crate::pki::{LOCAL_SANS, LeafSpec};
use serde_json::json;

use crate::plan::{
    ContainerSpec, FileSpec, KubeObject, KubeconfigSpec, Network, OidcSpec, PortBinding, Probe,
    VolumeMount, shift,
};
use crate::profile::{DexSpec, KcpSpec};
use crate::render;

use super::{Context, Planned};

pub const NAME: &str = "kcp";
/// The user the official image runs as (distroless nonroot).
const UID: u64 = 65532;
/// The image's working directory is `/`, so its default root directory is `/.kcp`
/// (pre-created there, owned by 65532); the volume goes exactly there.
const ROOT_DIR: &str = "/.kcp";
const TLS_DIR: &str = "/etc/kcpenv/tls";
/// The official image sets `KUBECONFIG` to this path; putting the admin kubeconfig there
/// makes `docker exec kcpenv-<env>-kcp kubectl …` work.
const IN_CONTAINER_KUBECONFIG: &str = "/etc/kcp/config/admin.kubeconfig";
const AUTH_CONFIG: &str = "/etc/kcpenv/auth/authentication-config.yaml";

pub const SERVING_CERT: &str = "kcp-serving";
pub const ADMIN_CERT: &str = "admin";

pub fn cert_requests() -> BTreeMap<String, LeafSpec> {
    BTreeMap::from([
        (
            SERVING_CERT.to_owned(),
            LeafSpec::Serving {
                sans: LOCAL_SANS.iter().map(|s| s.to_string()).collect(),
            },
        ),
        (
            ADMIN_CERT.to_owned(),
            LeafSpec::Client {
                common_name: "kcpenv-admin".into(),
                // kcp binds this group to cluster-admin in every workspace.
                organizations: vec!["system:kcp:admin".into()],
            },
        ),
    ])
}

/// kcp's container, the kubeconfig for its admin (and OIDC users when Dex runs), and the
/// objects to create once it is ready.
pub fn plan(
    spec: &KcpSpec,
    dex: Option<&DexSpec>,
    ctx: &Context,
) -> Result<(Planned, KubeconfigSpec, Vec<KubeObject>)> {
    let port = shift(spec.port, ctx.offset, "kcp.port")?;
    let server = format!("https://localhost:{port}");
    let serving = ctx.certs.get(SERVING_CERT)?;
    let oidc = dex
        .map(|d| {
            Ok::<_, crate::error::Error>(OidcSpec {
                issuer: super::dex::issuer(d, ctx.offset)?,
                client_id: d.client_id.clone(),
                client_secret: ctx.secrets.oidc_client_secret.clone(),
            })
        })
        .transpose()?;
    let kc = KubeconfigSpec {
        server: server.clone(),
        ca_pem: ctx.certs.ca_pem.clone(),
        admin: ctx.certs.get(ADMIN_CERT)?.clone(),
        oidc: oidc.clone(),
    };
    // Inside the container there is no kubelogin: admin contexts only.
    let admin_only = KubeconfigSpec {
        oidc: None,
        ..kc.clone()
    };
    let in_container_kubeconfig =
        serde_yaml::to_string(&kubeconfig::generate(ctx.env, &admin_only, None))
            .expect("kubeconfig serialises");

    let file = |path: String, content: &str, mode: u32, secret: bool| FileSpec {
        path,
        content: content.to_owned(),
        mode,
        uid: UID,
        gid: UID,
        secret,
    };
    let mut command = vec![
        "start".to_owned(),
        format!("--root-directory={ROOT_DIR}"),
        // All interfaces of the shared namespace: published ports arrive on its eth0.
        "--bind-address=0.0.0.0".to_owned(),
        format!("--secure-port={port}"),
        format!("--shard-base-url={server}"),
        format!("--tls-cert-file={TLS_DIR}/serving.crt"),
        format!("--tls-private-key-file={TLS_DIR}/serving.key"),
        format!("--client-ca-file={TLS_DIR}/ca.crt"),
    ];
    let mut files = vec![
        file(format!("{TLS_DIR}/ca.crt"), &ctx.certs.ca_pem, 0o644, false),
        file(
            format!("{TLS_DIR}/serving.crt"),
            &serving.cert_pem,
            0o644,
            false,
        ),
        file(
            format!("{TLS_DIR}/serving.key"),
            &serving.key_pem,
            0o600,
            true,
        ),
        file(
            IN_CONTAINER_KUBECONFIG.into(),
            &in_container_kubeconfig,
            0o600,
            true,
        ),
    ];
    let mut bootstrap = vec![];
    if let (Some(d), Some(o)) = (dex, &oidc) {
        let auth = render::template(
            "kcp/authentication-config.yaml",
            &json!({
                "issuer": o.issuer,
                "ca_pem": ctx.certs.ca_pem,
                "client_id": o.client_id,
                "groups_prefix": d.groups_prefix,
            }),
        )?;
        files.push(file(AUTH_CONFIG.into(), &auth, 0o644, false));
        command.push(format!("--authentication-config={AUTH_CONFIG}"));
        bootstrap.push(KubeObject::cluster_role_binding(
            "root",
            "kcpenv:oidc-admins",
            "cluster-admin",
            &format!("{}{}", d.groups_prefix, d.admin_group),
        ));
    }
    command.extend(spec.extra_args.iter().cloned());

    let container = ContainerSpec {
        component: NAME.into(),
        name: names::container_name(ctx.env, NAME),
        image: ctx.images.resolve(NAME, &spec.image),
        entrypoint: None,
        command: Some(command),
        env: BTreeMap::new(),
        user: None,
        network: Network::JoinHolder,
        volumes: vec![VolumeMount {
            volume: names::volume_name(ctx.env, NAME, "data"),
            path: ROOT_DIR.into(),
        }],
        files,
        init: None,
        readiness: Some(Probe::Https {
            port,
            path: "/readyz".into(),
        }),
        depends_on: vec![],
        // kcp shuts its embedded etcd down cleanly on SIGTERM; give it time.
        stop_timeout: 20,
        urls: vec![server],
        labels: BTreeMap::new(),
    };
    let publish = vec![PortBinding::loopback(port, NAME, "https")];
    Ok(((container, publish), kc, bootstrap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Certs, ImageChoice};
    use crate::profile;
    use crate::secrets::Secrets;

    /// kcp trusts exactly the issuer Dex serves, with the environment's CA, and prefixes
    /// groups so no Dex user reaches a system group.
    #[test]
    fn authentication_config_matches_the_dex_issuer() {
        let p = profile::load("oidc").unwrap();
        let mut certs = Certs {
            ca_pem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n".into(),
            ..Default::default()
        };
        for (n, _) in crate::components::cert_requests(&p) {
            certs.leaves.insert(
                n.clone(),
                crate::pki::CertPair {
                    cert_pem: n.clone(),
                    key_pem: n.clone(),
                },
            );
        }
        let mut secrets = Secrets::default();
        crate::components::ensure_secrets(&p, &mut secrets).unwrap();
        let overrides = BTreeMap::new();
        let ctx = Context {
            env: "dev",
            offset: 7,
            images: ImageChoice {
                overrides: &overrides,
                mirror: None,
            },
            certs: &certs,
            secrets: &secrets,
        };
        let dex = p.dex.as_ref().unwrap();
        let ((kcp, _), kc, bootstrap) = plan(p.kcp.as_ref().unwrap(), Some(dex), &ctx).unwrap();
        let file = kcp
            .files
            .iter()
            .find(|f| f.path == AUTH_CONFIG)
            .expect("auth config given to kcp");
        let doc: serde_yaml::Value = serde_yaml::from_str(&file.content).unwrap();
        let jwt = &doc["jwt"][0];
        let issuer = crate::components::dex::issuer(dex, 7).unwrap();
        assert_eq!(issuer, "https://localhost:5563/dex");
        assert_eq!(jwt["issuer"]["url"], issuer.as_str());
        assert_eq!(jwt["issuer"]["certificateAuthority"], certs.ca_pem.as_str());
        assert_eq!(jwt["issuer"]["audiences"][0], "kcp-kubelogin");
        assert_eq!(jwt["claimMappings"]["username"]["claim"], "email");
        assert_eq!(jwt["claimMappings"]["username"]["prefix"], "");
        assert_eq!(jwt["claimMappings"]["groups"]["prefix"], "oidc:");
        assert!(
            kcp.command
                .as_ref()
                .unwrap()
                .contains(&format!("--authentication-config={AUTH_CONFIG}"))
        );
        assert_eq!(
            kc.oidc.unwrap().issuer,
            issuer,
            "kubelogin logs in at the same issuer"
        );
        assert_eq!(
            bootstrap[0].body["subjects"][0]["name"],
            "oidc:kcpenv-admins"
        );
    }
}
