//! One module per command; each takes its parsed arguments and returns an exit code.

pub mod down;
pub mod kubeconfig;
pub mod logs;
pub mod profiles;
pub mod status;
pub mod up;

use crate::cli::EnvArgs;
use crate::error::{Error, Result};
use crate::names;

pub fn env_name(args: &EnvArgs) -> Result<String> {
    names::check_env_name(&args.name).map_err(|reason| Error::InvalidEnvName {
        name: args.name.clone(),
        reason,
    })?;
    Ok(args.name.clone())
}

pub fn wait_message(env: &str) -> String {
    format!("another kcpenv command is working on environment {env:?}; waiting for it to finish")
}
