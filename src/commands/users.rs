//! `kcpenv users [list|add|remove]`: the Dex users of an environment. Changes are kept in
//! `<state>/users.yaml` on top of the profile's users, then the environment is reconciled
//! as the last `up` left it: only Dex's config changes, so only Dex is recreated.

use std::time::Duration;

use serde_json::json;

use crate::cli::{OutputFormat, UsersArgs, UsersCommand};
use crate::error::{Error, Result};
use crate::profile::{UserDecl, check_email};
use crate::secrets::Secrets;
use crate::state::{EnvRecord, StateDir};
use crate::ui;

use super::{env_name, require_oidc};

pub async fn run(args: UsersArgs) -> Result<i32> {
    let env = env_name(&args.env)?;
    let state = StateDir::for_env(&env)?;
    let (record, _) = require_oidc(&env, &state)?;
    match args.command.unwrap_or(UsersCommand::List) {
        UsersCommand::List => list(&record, &state, args.show_passwords, args.output),
        UsersCommand::Add {
            email,
            groups,
            password,
        } => {
            check_email(&email).map_err(|reason| Error::Usage {
                message: format!("invalid user: {reason}"),
                hint: "give an email address, e.g. carol@example.com".into(),
            })?;
            if record
                .users
                .iter()
                .any(|u| u.email.eq_ignore_ascii_case(&email))
            {
                return Err(Error::Usage {
                    message: format!("user {email:?} already exists in {env:?}"),
                    hint: "remove it first (`kcpenv users remove EMAIL`) to change it".into(),
                });
            }
            let mut changes = state.read_user_changes()?;
            changes.removed.retain(|r| !r.eq_ignore_ascii_case(&email));
            changes.added.push(UserDecl {
                email: email.clone(),
                groups,
                password,
            });
            state.write_user_changes(&changes)?;
            reconcile(&record, &env, args.output).await?;
            let secrets = Secrets::load(&state.secrets())?;
            println!(
                "added {email}; password: {}",
                secrets
                    .users
                    .get(&email)
                    .map_or("?", |u| u.password.as_str())
            );
            Ok(0)
        }
        UsersCommand::Remove { email } => {
            if !record
                .users
                .iter()
                .any(|u| u.email.eq_ignore_ascii_case(&email))
            {
                return Err(unknown_user(&env, &email, &record));
            }
            let mut changes = state.read_user_changes()?;
            changes
                .added
                .retain(|a| !a.email.eq_ignore_ascii_case(&email));
            changes.removed.push(email.clone());
            state.write_user_changes(&changes)?;
            let mut secrets = Secrets::load(&state.secrets())?;
            secrets.users.remove(&email);
            secrets.save(&state.secrets())?;
            reconcile(&record, &env, args.output).await?;
            println!("removed {email}");
            Ok(0)
        }
    }
}

pub fn unknown_user(env: &str, email: &str, record: &EnvRecord) -> Error {
    Error::Usage {
        message: format!("environment {env:?} has no user {email:?}"),
        hint: format!(
            "users: {}",
            record
                .users
                .iter()
                .map(|u| u.email.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn list(
    record: &EnvRecord,
    state: &StateDir,
    show_passwords: bool,
    output: OutputFormat,
) -> Result<i32> {
    let secrets = Secrets::load(&state.secrets())?;
    let password = |email: &str| {
        show_passwords
            .then(|| secrets.users.get(email).map(|u| u.password.clone()))
            .flatten()
    };
    if ui::is_json(output) {
        let users: Vec<_> = record
            .users
            .iter()
            .map(
                |u| json!({ "email": u.email, "groups": u.groups, "password": password(&u.email) }),
            )
            .collect();
        println!(
            "{}",
            json!({ "issuer": record.oidc.as_ref().map(|o| &o.issuer), "users": users })
        );
        return Ok(0);
    }
    for u in &record.users {
        let groups = if u.groups.is_empty() {
            "-".to_string()
        } else {
            u.groups.join(",")
        };
        match password(&u.email) {
            Some(p) => println!("{:<32} {:<24} {p}", u.email, groups),
            None => println!("{:<32} {groups}", u.email),
        }
    }
    Ok(0)
}

/// Runs `up` again exactly as the environment was last brought up.
async fn reconcile(record: &EnvRecord, env: &str, output: OutputFormat) -> Result<()> {
    let up = record.up.clone().ok_or_else(|| Error::Usage {
        message: format!("environment {env:?} was created by an older kcpenv"),
        hint: "run `kcpenv up` once more, then retry".into(),
    })?;
    // The summary `up` prints goes to stdout; ours follows it.
    let five_minutes = Duration::from_secs(300);
    super::up::rerun(env, up, output, five_minutes, five_minutes)
        .await
        .map(drop)
}
