//! `kcpenv grant|revoke|can USER --verb V --resource R [--group G]`: the tuples Platform
//! Mesh's rebac-authz-webhook checks for requests in root:orgs (see `access`). `grant`
//! adds the relation to the `orgs` model when it is new (OpenFGA rejects tuples and
//! checks naming an unknown relation), then writes the tuple; `revoke` deletes it; `can`
//! asks OpenFGA the webhook's question.

use serde_json::json;

use crate::access::{self, ORGS_TYPE, ORGS_WORKSPACE};
use crate::bootstrap::Bootstrapper;
use crate::cli::AccessArgs;
use crate::components::openfga::ORGS_STORE;
use crate::error::{Error, Result, exit};
use crate::fga::{self, FgaClient};
use crate::state::{EnvRecord, StateDir};
use crate::ui;

use super::env_name;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Grant,
    Revoke,
    Can,
}

pub async fn run(mode: Mode, args: AccessArgs) -> Result<i32> {
    let env = env_name(&args.env)?;
    let state = StateDir::for_env(&env)?;
    let (record, client, store) = open_store(&env, &state, ORGS_STORE).await?;
    if args.workspace != ORGS_WORKSPACE {
        return Err(Error::Usage {
            message: format!(
                "kcpenv maps grants in {ORGS_WORKSPACE} only, not in {}",
                args.workspace
            ),
            hint: "the webhook answers other workspaces through Platform Mesh accounts (per-organisation stores), which kcpenv does not create; use --workspace root:orgs".into(),
        });
    }
    let kcp_url = record.kcp_url().ok_or_else(|| Error::Usage {
        message: format!("environment {env:?} has no kcp"),
        hint: "use the oidc-fga profile".into(),
    })?;
    let kcp = Bootstrapper::for_env(&state, kcp_url)?;
    access::check_served(
        &kcp,
        &args.workspace,
        &args.verb,
        &args.group,
        &args.resource,
    )
    .await?;
    if !record.users.is_empty()
        && !record
            .users
            .iter()
            .any(|u| u.email.eq_ignore_ascii_case(&args.user))
    {
        eprintln!(
            "warning: {} is not a Dex user of environment {env:?} (kcpenv users lists them); the tuple is written anyway",
            args.user
        );
    }
    let tuple = access::orgs_tuple(&args.user, &args.verb, &args.group, &args.resource);
    let model = client
        .latest_model(&store)
        .await?
        .ok_or_else(|| Error::Usage {
            message: format!("store {ORGS_STORE} has no authorization model"),
            hint: "run `kcpenv up` again; it writes the model".into(),
        })?;
    let extended = fga::with_grant_relation(&model, ORGS_TYPE, &tuple.relation);
    let json = ui::is_json(args.output);
    let line = format!("{} {} {}", tuple.user, tuple.relation, tuple.object);
    match mode {
        Mode::Grant => {
            if let Some(m) = &extended {
                client.write_model(&store, m).await?;
            }
            client
                .write(&store, std::slice::from_ref(&tuple), &[])
                .await?;
            print(json, "granted", &tuple, &format!("granted: {line}"));
            Ok(exit::OK)
        }
        Mode::Revoke => {
            if extended.is_none() {
                client
                    .write(&store, &[], std::slice::from_ref(&tuple))
                    .await?;
            }
            print(json, "revoked", &tuple, &format!("revoked: {line}"));
            Ok(exit::OK)
        }
        Mode::Can => {
            // A relation the model lacks was never granted; OpenFGA would reject the check.
            let allowed = extended.is_none() && client.check(&store, &tuple).await?;
            let verdict = if allowed { "allowed" } else { "denied" };
            print(json, verdict, &tuple, &format!("{verdict}: {line}"));
            Ok(if allowed { exit::OK } else { exit::DENIED })
        }
    }
}

fn print(json: bool, result: &str, t: &crate::plan::FgaTuple, text: &str) {
    if json {
        println!(
            "{}",
            json!({ "result": result, "store": ORGS_STORE, "user": t.user, "relation": t.relation, "object": t.object })
        );
    } else {
        println!("{text}");
    }
}

/// The environment's record, an OpenFGA client and the id of store `name`.
pub async fn open_store(
    env: &str,
    state: &StateDir,
    name: &str,
) -> Result<(EnvRecord, FgaClient, String)> {
    let record = state.read_env()?.ok_or_else(|| Error::EnvNotFound {
        env: env.to_owned(),
    })?;
    let fga = record.openfga.clone().ok_or_else(|| Error::Usage {
        message: format!("environment {env:?} has no OpenFGA"),
        hint: "use a profile with OpenFGA, e.g. `kcpenv up --profile oidc-fga`".into(),
    })?;
    let client = FgaClient::new(&fga.api_url)?;
    let store = client.store_id(name).await?.ok_or_else(|| Error::Usage {
        message: format!("OpenFGA has no store named {name:?}"),
        hint: format!(
            "`kcpenv up` creates store {ORGS_STORE}; `kcpenv status` shows OpenFGA's state"
        ),
    })?;
    Ok((record, client, store))
}
