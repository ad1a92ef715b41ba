//! OpenFGA: the relationship store behind kcp's authorization webhook. HTTP API and
//! Playground published on 127.0.0.1; gRPC (plaintext, `authn-method none`, which is
//! what Platform Mesh's webhook speaks) and metrics stay inside the shared namespace.
//! With the sqlite datastore, `openfga migrate` runs in a one-shot container first
//! (`run` does not migrate, and the image has no shell to chain the two).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::names;
use crate::plan::{
    ContainerSpec, FgaPlan, FgaStorePlan, FgaTuple, Network, PortBinding, Probe, VolumeMount, shift,
};
use crate::profile::{FgaDatastore, OpenFgaSpec};
use crate::render;

use super::{Context, Planned};

pub const NAME: &str = "openfga";
/// The store Platform Mesh's webhook looks up by name at start.
pub const ORGS_STORE: &str = "orgs";
/// The official image's home for uid 65532 (chainguard static's `nonroot`): a volume
/// mounted there starts owned by that user, so sqlite can create its file.
const DATA_DIR: &str = "/home/nonroot";

pub fn api_url(spec: &OpenFgaSpec, offset: u16) -> Result<String> {
    Ok(format!(
        "http://localhost:{}",
        shift(spec.http_port, offset, "openfga.httpPort")?
    ))
}

pub fn playground_url(spec: &OpenFgaSpec, offset: u16) -> Result<Option<String>> {
    if !spec.playground {
        return Ok(None);
    }
    Ok(Some(format!(
        "http://localhost:{}/playground",
        shift(spec.playground_port, offset, "openfga.playgroundPort")?
    )))
}

pub fn plan(spec: &OpenFgaSpec, ctx: &Context) -> Result<(Planned, FgaPlan)> {
    let http = shift(spec.http_port, ctx.offset, "openfga.httpPort")?;
    let grpc = shift(spec.grpc_port, ctx.offset, "openfga.grpcPort")?;
    let metrics = shift(spec.metrics_port, ctx.offset, "openfga.metricsPort")?;
    let playground = shift(spec.playground_port, ctx.offset, "openfga.playgroundPort")?;
    let (engine, uri) = match spec.datastore {
        FgaDatastore::Memory => ("memory", None),
        FgaDatastore::Sqlite => ("sqlite", Some(format!("{DATA_DIR}/openfga.sqlite"))),
    };
    let mut datastore = vec![format!("--datastore-engine={engine}")];
    datastore.extend(uri.iter().map(|u| format!("--datastore-uri={u}")));

    let mut command = vec!["run".to_owned()];
    command.extend(datastore.iter().cloned());
    command.extend([
        // Published through the holder, so it must listen on the namespace's interface.
        format!("--http-addr=0.0.0.0:{http}"),
        format!("--grpc-addr=127.0.0.1:{grpc}"),
        format!("--metrics-addr=127.0.0.1:{metrics}"),
        "--authn-method=none".into(),
        format!("--playground-enabled={}", spec.playground),
    ]);
    if spec.playground {
        // OpenFGA binds the Playground to 127.0.0.1 unless told otherwise, which the
        // holder's published port cannot reach.
        command.push(format!("--playground-addr=0.0.0.0:{playground}"));
    }
    command.push("--log-format=json".into());

    let init = uri.is_some().then(|| {
        let mut migrate = vec!["migrate".to_owned()];
        migrate.extend(datastore.iter().cloned());
        migrate
    });
    let mut urls = vec![api_url(spec, ctx.offset)?];
    urls.extend(playground_url(spec, ctx.offset)?);
    let container = ContainerSpec {
        component: NAME.into(),
        name: names::container_name(ctx.env, NAME),
        image: ctx.images.resolve(NAME, &spec.image),
        entrypoint: None,
        command: Some(command),
        env: BTreeMap::new(),
        user: None,
        network: Network::JoinHolder,
        volumes: match spec.datastore {
            FgaDatastore::Memory => vec![],
            FgaDatastore::Sqlite => vec![VolumeMount {
                volume: names::volume_name(ctx.env, NAME, "data"),
                path: DATA_DIR.into(),
            }],
        },
        files: vec![],
        init,
        readiness: Some(Probe::Http {
            port: http,
            path: "/healthz".into(),
        }),
        depends_on: vec![],
        stop_timeout: 5,
        urls,
        labels: BTreeMap::new(),
    };
    let mut publish = vec![PortBinding::loopback(http, NAME, "http")];
    if spec.playground {
        publish.push(PortBinding::loopback(playground, NAME, "playground"));
    }
    let fga = FgaPlan {
        api_url: api_url(spec, ctx.offset)?,
        stores: vec![orgs_store()?],
    };
    Ok(((container, publish), fga))
}

/// The `orgs` store: its model and base tuples, from `templates/openfga/orgs/`.
pub fn orgs_store() -> Result<FgaStorePlan> {
    let model_text = render::template("openfga/orgs/model.json", &serde_json::json!({}))?;
    let model = serde_json::from_str(&model_text)
        .map_err(|e| Error::Internal(format!("templates/openfga/orgs/model.json: {e}")))?;
    let tuples_text = render::template("openfga/orgs/tuples.yaml", &serde_json::json!({}))?;
    let tuples: Vec<FgaTuple> = serde_yaml::from_str(&tuples_text)
        .map_err(|e| Error::Internal(format!("templates/openfga/orgs/tuples.yaml: {e}")))?;
    Ok(FgaStorePlan {
        name: ORGS_STORE.into(),
        model,
        tuples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Certs, ImageChoice};
    use crate::secrets::Secrets;

    fn ctx<'a>(
        certs: &'a Certs,
        secrets: &'a Secrets,
        o: &'a BTreeMap<String, String>,
    ) -> Context<'a> {
        Context {
            env: "t",
            offset: 10,
            images: ImageChoice {
                overrides: o,
                mirror: None,
            },
            certs,
            secrets,
        }
    }

    fn spec(datastore: FgaDatastore) -> OpenFgaSpec {
        let mut s: OpenFgaSpec = serde_yaml::from_str("{}").unwrap();
        s.datastore = datastore;
        s
    }

    #[test]
    fn memory_datastore_publishes_http_and_playground_only() {
        let (certs, secrets, o) = (Certs::default(), Secrets::default(), BTreeMap::new());
        let ((c, publish), fga) =
            plan(&spec(FgaDatastore::Memory), &ctx(&certs, &secrets, &o)).unwrap();
        let ports: Vec<u16> = publish.iter().map(|p| p.port).collect();
        assert_eq!(ports, vec![8090, 3010]);
        let cmd = c.command.unwrap();
        assert!(cmd.contains(&"--grpc-addr=127.0.0.1:8091".to_owned()));
        assert!(cmd.contains(&"--playground-addr=0.0.0.0:3010".to_owned()));
        assert!(cmd.contains(&"--authn-method=none".to_owned()));
        assert!(c.init.is_none() && c.volumes.is_empty());
        assert_eq!(fga.api_url, "http://localhost:8090");
    }

    #[test]
    fn sqlite_datastore_migrates_first_on_a_volume() {
        let (certs, secrets, o) = (Certs::default(), Secrets::default(), BTreeMap::new());
        let ((c, _), _) = plan(&spec(FgaDatastore::Sqlite), &ctx(&certs, &secrets, &o)).unwrap();
        let uri = "--datastore-uri=/home/nonroot/openfga.sqlite".to_owned();
        assert!(c.command.unwrap().contains(&uri));
        let init = c.init.unwrap();
        assert_eq!(init[0], "migrate");
        assert!(init.contains(&uri));
        assert_eq!(c.volumes[0].path, "/home/nonroot");
    }

    #[test]
    fn orgs_store_template_parses() {
        let s = orgs_store().unwrap();
        assert_eq!(s.model["schema_version"], "1.1");
        assert!(
            s.tuples
                .iter()
                .any(|t| t.object == "tenancy_kcp_io_workspace:orgs")
        );
    }
}
