//! The pure step from our container spec to the Docker Engine API's create request
//! (k3d's "translate"): no I/O, so every mapping decision is unit-tested.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, PortBinding};
use bollard::query_parameters::{CreateContainerOptions, CreateContainerOptionsBuilder};

use crate::names;
use crate::plan::{ContainerSpec, Network};

/// The create request for `spec`, labelled with the `up` run that creates it.
pub fn create_request(
    spec: &ContainerSpec,
    run: &str,
    holder_name: &str,
) -> (CreateContainerOptions, ContainerCreateBody) {
    let mut labels: HashMap<String, String> = spec
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(names::LABEL_RUN.into(), run.into());

    let mut host = HostConfig {
        mounts: Some(
            spec.volumes
                .iter()
                .map(|v| Mount {
                    target: Some(v.path.clone()),
                    source: Some(v.volume.clone()),
                    typ: Some(MountType::VOLUME),
                    read_only: Some(false),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    };
    let mut exposed = None;
    match &spec.network {
        Network::Holder { publish, network } => {
            host.network_mode = network.clone();
            let key = |p: u16| format!("{p}/tcp");
            exposed = Some(publish.iter().map(|p| key(p.port)).collect());
            host.port_bindings = Some(
                publish
                    .iter()
                    .map(|p| {
                        (
                            key(p.port),
                            Some(vec![PortBinding {
                                host_ip: Some(p.host_ip.clone()),
                                host_port: Some(p.port.to_string()),
                            }]),
                        )
                    })
                    .collect(),
            );
        }
        Network::JoinHolder => host.network_mode = Some(format!("container:{holder_name}")),
    }

    let body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: spec.entrypoint.clone(),
        cmd: spec.command.clone(),
        env: (!spec.env.is_empty())
            .then(|| spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        user: spec.user.clone(),
        labels: Some(labels),
        exposed_ports: exposed,
        stop_timeout: Some(i64::from(spec.stop_timeout)),
        host_config: Some(host),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default()
        .name(&spec.name)
        .build();
    (options, body)
}

/// The files of `spec` as one tar archive rooted at `/`, with the owners and modes the
/// spec asks for (the engine keeps them when it extracts). No directory entries: the
/// engine creates missing parents root-owned 0755 (traversable by any user), and an entry
/// for an existing directory such as `etc/` would change its owner.
pub fn files_archive(spec: &ContainerSpec) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for f in &spec.files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(f.mode);
        h.set_uid(f.uid);
        h.set_gid(f.gid);
        h.set_size(f.content.len() as u64);
        h.set_mtime(0);
        builder.append_data(&mut h, f.path.trim_start_matches('/'), f.content.as_bytes())?;
    }
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{self, Options};
    use crate::profile;

    fn kcp_plan() -> plan::Plan {
        let p = profile::load("kcp").unwrap();
        let opts = Options {
            env: "dev".into(),
            ..Default::default()
        };
        let mut certs = plan::Certs {
            ca_pem: "CA".into(),
            ..Default::default()
        };
        for (n, _) in crate::components::cert_requests(&p) {
            certs.leaves.insert(
                n.clone(),
                crate::pki::CertPair {
                    cert_pem: format!("{n}.crt"),
                    key_pem: format!("{n}.key"),
                },
            );
        }
        plan::build(&p, &opts, &certs, &crate::secrets::Secrets::default()).unwrap()
    }

    #[test]
    fn holder_publishes_on_loopback_only() {
        let plan = kcp_plan();
        let (opts, body) = create_request(&plan.holder, "run1", "kcpenv-dev-holder");
        assert_eq!(opts.name.as_deref(), Some("kcpenv-dev-holder"));
        assert_eq!(body.exposed_ports, Some(vec!["6443/tcp".to_string()]));
        let host = body.host_config.unwrap();
        let b = &host.port_bindings.unwrap()["6443/tcp"];
        assert_eq!(
            b,
            &Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some("6443".into())
            }])
        );
        assert_eq!(host.network_mode, None);
        assert!(host.privileged.is_none());
        assert_eq!(body.labels.unwrap()[names::LABEL_RUN], "run1");
    }

    #[test]
    fn kcp_joins_the_holder_with_its_volume() {
        let plan = kcp_plan();
        let kcp = &plan.components[0];
        let (_, body) = create_request(kcp, "run1", "kcpenv-dev-holder");
        let host = body.host_config.as_ref().unwrap();
        assert_eq!(
            host.network_mode.as_deref(),
            Some("container:kcpenv-dev-holder")
        );
        assert!(host.port_bindings.is_none());
        let m = &host.mounts.as_ref().unwrap()[0];
        assert_eq!(m.source.as_deref(), Some("kcpenv-dev-kcp-data"));
        assert_eq!(m.target.as_deref(), Some("/.kcp"));
        insta::assert_yaml_snapshot!(body.cmd);
        let labels = body.labels.unwrap();
        assert_eq!(labels[names::LABEL_CONFIG_HASH], kcp.config_hash());
        assert_eq!(labels[names::LABEL_ENV], "dev");
    }

    #[test]
    fn files_keep_owner_and_mode() {
        let plan = kcp_plan();
        let tar_bytes = files_archive(&plan.components[0]).unwrap();
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let mut seen = std::collections::BTreeMap::new();
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            seen.insert(
                e.path().unwrap().display().to_string(),
                (h.mode().unwrap(), h.uid().unwrap()),
            );
        }
        assert_eq!(seen["etc/kcpenv/tls/serving.key"], (0o600, 65532));
        assert_eq!(seen["etc/kcpenv/tls/ca.crt"], (0o644, 65532));
        assert!(
            seen.keys().all(|p| !p.ends_with('/')),
            "no directory entries: {seen:?}"
        );
        assert_eq!(seen["etc/kcp/config/admin.kubeconfig"], (0o600, 65532));
    }
}
