//! The container engine interface: the few operations the reconciler, readiness probes
//! and read commands need. `docker` implements it over the Docker Engine API (which
//! Podman's compatible socket also serves); `translate` is the pure mapping from our
//! `ContainerSpec` to the engine's create request.

pub mod docker;
pub mod translate;

use std::future::Future;
use std::pin::Pin;

use futures_util::Stream;

use crate::error::Result;
use crate::plan::{ContainerSpec, VolumeSpec};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Restarting,
    Paused,
    Exited,
    Dead,
    Other(String),
}

impl ContainerState {
    /// From Docker's state names (`running`, `exited`, …).
    pub fn parse(s: &str) -> ContainerState {
        match s {
            "created" => ContainerState::Created,
            "running" => ContainerState::Running,
            "restarting" => ContainerState::Restarting,
            "paused" => ContainerState::Paused,
            "exited" => ContainerState::Exited,
            "dead" => ContainerState::Dead,
            other => ContainerState::Other(other.to_owned()),
        }
    }
}

impl std::fmt::Display for ContainerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Restarting => "restarting",
            ContainerState::Paused => "paused",
            ContainerState::Exited => "exited",
            ContainerState::Dead => "dead",
            ContainerState::Other(s) => s,
        };
        f.write_str(s)
    }
}

/// A container of the environment as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub id: String,
    /// The environment (label), for listings across environments.
    pub env: String,
    /// The kcpenv version that created it (label).
    pub version: String,
    pub name: String,
    pub component: String,
    pub config_hash: String,
    pub run: String,
    pub image: String,
    pub state: ContainerState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedVolume {
    pub name: String,
    pub run: String,
}

/// Exit status of a container that stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Liveness {
    pub state: ContainerState,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullProgress {
    pub image: String,
    pub current: u64,
    pub total: u64,
}

pub type LogStream = Pin<Box<dyn Stream<Item = Result<LogChunk>> + Send>>;

#[derive(Debug, Clone)]
pub enum LogChunk {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

pub trait Runtime: Send + Sync {
    /// Every container labelled with the environment, running or not.
    fn list_containers(&self, env: &str) -> impl Future<Output = Result<Vec<Observed>>> + Send;
    fn list_volumes(&self, env: &str) -> impl Future<Output = Result<Vec<ObservedVolume>>> + Send;
    fn image_exists(&self, image: &str) -> impl Future<Output = Result<bool>> + Send;
    fn pull_image(
        &self,
        image: &str,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> impl Future<Output = Result<()>> + Send;
    fn create_volume(
        &self,
        spec: &VolumeSpec,
        labels: &[(&str, &str)],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Waits until every volume and container create this runtime began has finished,
    /// including those whose caller stopped waiting (rollback must see what they made).
    fn settle(&self) -> impl Future<Output = ()> + Send;
    /// Creates the container and copies its files in; returns its id.
    fn create_container(
        &self,
        spec: &ContainerSpec,
        run: &str,
    ) -> impl Future<Output = Result<String>> + Send;
    fn start_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Force-removes; a container that is already gone is not an error.
    fn remove_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// A volume that is already gone is not an error.
    fn remove_volume(&self, name: &str) -> impl Future<Output = Result<()>> + Send;
    fn liveness(&self, id: &str) -> impl Future<Output = Result<Liveness>> + Send;
    fn inspect_json(&self, id: &str) -> impl Future<Output = Result<serde_json::Value>> + Send;
    fn logs(&self, id: &str, tail: Option<u64>, follow: bool) -> LogStream;
    /// Runs a command in the container; returns its exit code.
    fn exec(&self, id: &str, command: &[String]) -> impl Future<Output = Result<i64>> + Send;
    /// Every container of every kcpenv environment.
    fn list_all_containers(&self) -> impl Future<Output = Result<Vec<Observed>>> + Send;
    /// Stops the container (SIGTERM, then SIGKILL after the stop timeout it was created
    /// with); a stopped or missing container is not an error.
    fn stop_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// `docker image inspect` as JSON; None when the image is not present.
    fn inspect_image_json(
        &self,
        image: &str,
    ) -> impl Future<Output = Result<Option<serde_json::Value>>> + Send;
    /// Writes the images, as one `docker save` archive, to `path`.
    fn save_images(
        &self,
        images: &[String],
        path: &std::path::Path,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Loads a `docker save` archive; returns the engine's report lines.
    fn load_images(
        &self,
        path: &std::path::Path,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// The engine's version and API version, OS/architecture.
    fn engine_info(&self) -> impl Future<Output = Result<EngineInfo>> + Send;
    /// The running container (of any owner) that publishes TCP `port` on the host's
    /// loopback or on every address, with the networks it is attached to.
    fn port_publisher(
        &self,
        port: u16,
    ) -> impl Future<Output = Result<Option<crate::service_cluster::Publisher>>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
}
