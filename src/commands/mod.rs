//! One module per command; each takes its parsed arguments and returns an exit code.

pub mod access;
pub mod doctor;
pub mod down;
pub mod export;
pub mod fga;
pub mod images;
pub mod kubeconfig;
pub mod lifecycle;
pub mod list;
pub mod logs;
pub mod profiles;
pub mod shellenv;
pub mod status;
pub mod token;
pub mod up;
pub mod users;

use crate::cli::EnvArgs;
use crate::error::{Error, Result};
use std::time::Duration;
pub use up::name_flag;

use crate::names;
use crate::state::{EnvLock, EnvRecord, OidcRecord, StateDir};
use crate::ui::{Event, Reporter};

pub fn env_name(args: &EnvArgs) -> Result<String> {
    names::check_env_name(&args.name).map_err(|reason| Error::InvalidEnvName {
        name: args.name.clone(),
        reason,
    })?;
    Ok(args.name.clone())
}

/// The environment's record, which must have Dex (commands about OIDC users).
pub fn require_oidc(env: &str, state: &StateDir) -> Result<(EnvRecord, OidcRecord)> {
    let record = state.read_env()?.ok_or_else(|| Error::EnvNotFound {
        env: env.to_owned(),
    })?;
    let oidc = record.oidc.clone().ok_or_else(|| Error::Usage {
        message: format!("environment {env:?} has no OIDC provider (Dex)"),
        hint: "use a profile with Dex, e.g. `kcpenv up --profile oidc`".into(),
    })?;
    Ok((record, oidc))
}

/// Takes the environment's lock, telling the user when it has to wait.
pub fn lock(state: &StateDir, timeout: Duration, reporter: &dyn Reporter) -> Result<EnvLock> {
    EnvLock::acquire(state, timeout, || {
        reporter.emit(Event::Info {
            message: format!(
                "another kcpenv command is working on environment {:?}; waiting for it to finish",
                state.env
            ),
        })
    })
}
