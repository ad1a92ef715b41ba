//! `kcpenv env [--shell bash|zsh|fish]`: the exports a script needs, e.g.
//! `eval "$(kcpenv env)"`. Reads the state directory; asks OpenFGA for the store id.

use crate::cli::{EnvExportArgs, ExportShell};
use crate::components::openfga::ORGS_STORE;
use crate::error::{Error, Result};
use crate::state::StateDir;

use super::env_name;

pub async fn run(args: EnvExportArgs) -> Result<i32> {
    let env = env_name(&args.env)?;
    let state = StateDir::for_env(&env)?;
    let record = state
        .read_env()?
        .ok_or_else(|| Error::EnvNotFound { env: env.clone() })?;
    let mut vars: Vec<(&str, String)> = vec![("KCPENV_NAME", env.clone())];
    if state.kubeconfig().is_file() {
        vars.push(("KUBECONFIG", state.kubeconfig().display().to_string()));
    }
    if let Some(url) = record.kcp_url() {
        vars.push(("KCPENV_KCP_URL", url.to_owned()));
    }
    if let Some(o) = &record.oidc {
        vars.push(("KCPENV_OIDC_ISSUER", o.issuer.clone()));
        vars.push(("KCPENV_OIDC_CLIENT_ID", o.client_id.clone()));
    }
    if let Some(f) = &record.openfga {
        vars.push(("KCPENV_OPENFGA_API_URL", f.api_url.clone()));
        // The names the OpenFGA CLI (`fga`) reads.
        vars.push(("FGA_API_URL", f.api_url.clone()));
        let store = crate::fga::FgaClient::new(&f.api_url)?
            .store_id(ORGS_STORE)
            .await
            .ok()
            .flatten();
        if let Some(id) = store {
            vars.push(("KCPENV_OPENFGA_STORE_ID", id.clone()));
            vars.push(("FGA_STORE_ID", id));
        } else {
            eprintln!(
                "warning: OpenFGA's store {ORGS_STORE} was not found (is the environment up?); store ids left out"
            );
        }
    }
    if let Some(sa) = &record.syncagent {
        vars.push(("KCPENV_SYNCAGENT_ENDPOINT_SLICE", sa.endpoint_slice.clone()));
        vars.push((
            "KCPENV_SYNCAGENT_PROVIDER_WORKSPACE",
            sa.provider_workspace.clone(),
        ));
    }
    for (name, value) in vars {
        println!("{}", line(args.shell, name, &value));
    }
    Ok(0)
}

fn line(shell: ExportShell, name: &str, value: &str) -> String {
    // Single quotes: nothing in them is expanded; a quote is closed, escaped, reopened.
    let quoted = format!("'{}'", value.replace('\'', r"'\''"));
    match shell {
        ExportShell::Bash | ExportShell::Zsh => format!("export {name}={quoted}"),
        ExportShell::Fish => format!("set -gx {name} {}", fish_quote(value)),
    }
}

fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(line(ExportShell::Bash, "A", "x y"), "export A='x y'");
        assert_eq!(line(ExportShell::Zsh, "A", "it's"), r"export A='it'\''s'");
        assert_eq!(
            line(ExportShell::Fish, "A", r"it's\"),
            r"set -gx A 'it\'s\\'"
        );
    }
}
