//! The user-facing error type: one variant per failure a user can cause or meet,
//! each with a stable exit code (documented in the README) and a hint naming the fix.
//! Lower layers return these directly; a raw Docker or I/O error is always wrapped with
//! what kcpenv was doing when it happened.

use std::path::PathBuf;

/// Stable exit codes. Scripts depend on these numbers: never renumber, only add.
pub mod exit {
    pub const OK: i32 = 0;
    pub const INTERNAL: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const PROFILE: i32 = 3;
    pub const DOCKER: i32 = 4;
    pub const PORT_TAKEN: i32 = 5;
    pub const IMAGE: i32 = 6;
    pub const COMPONENT: i32 = 7;
    pub const LOCKED: i32 = 8;
    pub const NOT_READY: i32 = 9;
    pub const NOT_FOUND: i32 = 10;
    pub const LOGIN: i32 = 11;
    /// `kcpenv can`: the answer is "denied".
    pub const DENIED: i32 = 12;
    /// `kcpenv doctor`: something blocks `up`.
    pub const DOCTOR: i32 = 13;
    /// api-syncagent's service cluster (`kubeconfig:PATH`) cannot be used: its file,
    /// its credentials, or its API server out of reach.
    pub const SERVICE_CLUSTER: i32 = 14;
    pub const INTERRUPTED: i32 = 130;
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid environment name {name:?}: {reason}")]
    InvalidEnvName { name: String, reason: String },

    #[error("invalid --image value {value:?}: {reason}")]
    InvalidImageFlag { value: String, reason: String },

    #[error("unknown profile {name:?}")]
    UnknownProfile {
        name: String,
        available: Vec<String>,
    },

    #[error("invalid profile {origin}{}: {message}", location.map(|(l, c)| format!(" at line {l}, column {c}")).unwrap_or_default())]
    ProfileInvalid {
        origin: String,
        message: String,
        location: Option<(usize, usize)>,
    },

    #[error("cannot reach the Docker engine")]
    DockerUnreachable {
        /// One line per endpoint tried: where it came from and why it failed.
        attempts: String,
    },

    #[error("Docker engine error while {doing}: {message}")]
    Docker { doing: String, message: String },

    #[error("host port 127.0.0.1:{port} ({component} {port_name}) is already in use")]
    PortTaken {
        port: u16,
        component: String,
        port_name: String,
    },

    #[error("image {image} is not present and could not be pulled: {reason}")]
    ImageUnavailable { image: String, reason: String },

    #[error("component {component} {reason}")]
    ComponentFailed {
        component: String,
        reason: String,
        log_tail: String,
        saved_to: Option<PathBuf>,
    },

    #[error("another kcpenv command is working on environment {env:?} (waited {waited})")]
    Locked { env: String, waited: String },

    #[error("environment {env:?} does not exist")]
    EnvNotFound { env: String },

    #[error("unknown component {component:?} in environment {env:?}")]
    UnknownComponent {
        env: String,
        component: String,
        known: Vec<String>,
    },

    #[error("{message}")]
    Usage { message: String, hint: String },

    #[error("login as {user} failed: {reason}")]
    LoginFailed { user: String, reason: String },

    #[error("OpenFGA error while {doing}: {message}")]
    OpenFga {
        doing: String,
        message: String,
        /// The HTTP status; None when OpenFGA could not be reached.
        status: Option<u16>,
    },

    #[error("service cluster {origin}: {message}")]
    ServiceCluster {
        origin: String,
        message: String,
        hint: String,
    },

    #[error("interrupted")]
    Interrupted,

    #[error("{doing}: {source}")]
    Io {
        doing: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        use Error::*;
        match self {
            InvalidEnvName { .. }
            | InvalidImageFlag { .. }
            | UnknownComponent { .. }
            | Usage { .. } => exit::USAGE,
            UnknownProfile { .. } | ProfileInvalid { .. } => exit::PROFILE,
            DockerUnreachable { .. } | Docker { .. } => exit::DOCKER,
            PortTaken { .. } => exit::PORT_TAKEN,
            ImageUnavailable { .. } => exit::IMAGE,
            ComponentFailed { .. } => exit::COMPONENT,
            Locked { .. } => exit::LOCKED,
            EnvNotFound { .. } => exit::NOT_FOUND,
            LoginFailed { .. } => exit::LOGIN,
            OpenFga {
                status: Some(400..=499),
                ..
            } => exit::USAGE,
            OpenFga { .. } => exit::NOT_READY,
            ServiceCluster { .. } => exit::SERVICE_CLUSTER,
            Interrupted => exit::INTERRUPTED,
            Io { .. } | Internal(_) => exit::INTERNAL,
        }
    }

    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        use Error::*;
        Some(match self {
            InvalidEnvName { .. } => {
                "use 1-40 characters: lowercase letters, digits and '-', starting with a letter".into()
            }
            InvalidImageFlag { .. } => {
                "write --image COMPONENT=REF, e.g. --image kcp=ghcr.io/kcp-dev/kcp:v0.32.3; `kcpenv profiles show PROFILE` lists the components".into()
            }
            UnknownProfile { available, .. } => format!(
                "embedded profiles: {}; or pass a path to a profile file (./my-profile.yaml)",
                available.join(", ")
            ),
            ProfileInvalid { origin, .. } if origin.starts_with("--") => {
                format!("check the value of {origin} (see `kcpenv up --help`)")
            }
            ProfileInvalid { .. } => {
                "fix the profile file; `kcpenv profiles show kcp` prints a valid profile to start from".into()
            }
            DockerUnreachable { .. } => {
                "start Docker, or point DOCKER_HOST (or `docker context use`) at a running engine".into()
            }
            Docker { .. } => "check `docker info`; the engine's own message is above".into(),
            PortTaken { .. } => {
                "stop whatever listens there, or shift every port with --port-offset N (e.g. --port-offset 100)".into()
            }
            ImageUnavailable { image, .. } => format!(
                "load it (`docker load`), build it, or pick another with --image COMPONENT=REF; a local mirror prefix can be set with KCPENV_IMAGE_MIRROR (looked for: {image})"
            ),
            ComponentFailed { saved_to, .. } => match saved_to {
                Some(dir) => format!(
                    "full log and inspect output saved in {}; rerun with --keep-on-failure to keep the containers",
                    dir.display()
                ),
                None => "rerun with --keep-on-failure and look at `kcpenv logs COMPONENT`".into(),
            },
            Locked { .. } => {
                "wait for the other command to finish, or raise --lock-timeout".into()
            }
            EnvNotFound { .. } => "create it with `kcpenv up` (environments are named with --name)".into(),
            UnknownComponent { known, .. } => format!("components: {}", known.join(", ")),
            Usage { hint, .. } | ServiceCluster { hint, .. } => hint.clone(),
            LoginFailed { .. } => {
                "check the password (`kcpenv token` uses the one in the environment's secrets.yaml unless --password is given)".into()
            }
            OpenFga { status: Some(400..=499), .. } => {
                "OpenFGA rejected the request; `kcpenv fga model` shows the types and relations it knows".into()
            }
            OpenFga { .. } => "is the environment up? `kcpenv status` shows OpenFGA's state".into(),
            Interrupted => "what this run created was removed; run `kcpenv up` again".into(),
            Io { .. } | Internal(_) => return None,
        })
    }

    /// Extra lines printed after the message (a log tail, say).
    pub fn details(&self) -> Option<&str> {
        match self {
            Error::ComponentFailed { log_tail, .. } if !log_tail.is_empty() => Some(log_tail),
            Error::DockerUnreachable { attempts } => Some(attempts),
            _ => None,
        }
    }

    pub fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let doing = doing.into();
        move |source| Error::Io { doing, source }
    }

    pub fn docker(doing: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Error {
        let doing = doing.into();
        move |e| Error::Docker {
            doing,
            message: docker_message(&e),
        }
    }

    /// A machine-readable form for `--output json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "error": self.to_string(),
            "exit_code": self.exit_code(),
            "hint": self.hint(),
            "details": self.details(),
        })
    }
}

/// The engine's own message, without bollard's wrapping.
pub fn docker_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => format!("{message} (HTTP {status_code})"),
        other => other.to_string(),
    }
}
