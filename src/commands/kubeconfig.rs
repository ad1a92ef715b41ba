//! `kcpenv kubeconfig`: print the environment's kubeconfig, its path (`--path`), or merge
//! it into the user's (`--merge [--switch]`). Reads only the state directory: fast, and
//! usable while Docker is down.

use crate::cli::KubeconfigArgs;
use crate::commands::down::{MergedFile, MergedRecord};
use crate::error::{Error, Result};
use crate::kubeconfig as kc;
use crate::plan::OidcSpec;
use crate::secrets::Secrets;
use crate::state::{self, StateDir};

use super::env_name;

pub fn run(args: KubeconfigArgs) -> Result<i32> {
    let env = env_name(&args.env)?;
    let state = StateDir::for_env(&env)?;
    let path = state.kubeconfig();
    if !path.is_file() {
        return Err(Error::EnvNotFound { env });
    }
    if args.list {
        return list(&state, crate::ui::is_json(args.output));
    }
    if args.path && args.context.is_none() && args.user.is_none() {
        println!("{}", path.display());
        return Ok(0);
    }
    let mut doc = kc::read(&path)?;
    let context = match (&args.context, &args.user) {
        (Some(c), _) => Some(kc::resolve_context(&env, c, &doc)?),
        (None, Some(email)) => Some(add_user(
            &env,
            &state,
            &mut doc,
            email,
            args.non_interactive,
        )?),
        (None, None) => None,
    };
    if args.merge {
        return merge(&env, &state, &doc, context, args.switch, args.kubeconfig);
    }
    if let Some(c) = &context {
        kc::set_current_context(&mut doc, c);
    }
    if args.path {
        // A file per context, so `export KUBECONFIG=$(kcpenv kubeconfig --path --context base)` works.
        // (Named after the context; a user's contains their password when --non-interactive.)
        let variant = state.root.join(format!(
            "kubeconfig-{}",
            context.as_deref().unwrap_or_default()
        ));
        kc::write(&variant, &doc)?;
        println!("{}", variant.display());
    } else {
        print!(
            "{}",
            serde_yaml::to_string(&doc).expect("kubeconfig serialises")
        );
    }
    Ok(0)
}

/// Every kubeconfig of the environment, admin first.
fn list(state: &StateDir, json: bool) -> Result<i32> {
    let record = state.read_env()?;
    let mut rows = vec![(
        "admin".to_owned(),
        state.kubeconfig(),
        "kcp admin (client certificate): contexts root and base, plus oidc with Dex".to_owned(),
    )];
    for (name, description) in record.iter().flat_map(|r| &r.kubeconfigs) {
        rows.push((
            name.clone(),
            state.named_kubeconfig(name),
            description.clone(),
        ));
    }
    if json {
        let doc: Vec<_> = rows
            .iter()
            .map(|(n, p, d)| serde_json::json!({ "name": n, "path": p, "description": d }))
            .collect();
        println!("{}", serde_json::Value::from(doc));
    } else {
        for (name, path, description) in rows {
            println!("{name:<18} {}\n{:<18} {description}", path.display(), "");
        }
    }
    Ok(0)
}

/// Adds the context for Dex user `email`; returns its name.
fn add_user(
    env: &str,
    state: &StateDir,
    doc: &mut serde_yaml::Value,
    email: &str,
    scripted: bool,
) -> Result<String> {
    let (record, oidc) = super::require_oidc(env, state)?;
    let secrets = Secrets::load(&state.secrets())?;
    let Some(user) = secrets.users.get(email) else {
        return Err(super::users::unknown_user(env, email, &record));
    };
    let spec = OidcSpec {
        issuer: oidc.issuer,
        client_id: oidc.client_id,
        client_secret: secrets.oidc_client_secret.clone(),
    };
    let name = format!("kcpenv-{env}-{email}");
    // Interactive: kubelogin asks for this user's password in the terminal.
    let login = if scripted {
        (email, user.password.as_str())
    } else {
        (email, "")
    };
    kc::add_user_context(
        doc,
        env,
        &name,
        kc::oidc_user(&spec, &state.root, Some(login)),
    );
    Ok(name)
}

fn merge(
    env: &str,
    state: &StateDir,
    ours: &serde_yaml::Value,
    context: Option<String>,
    switch: bool,
    target: Option<std::path::PathBuf>,
) -> Result<i32> {
    let target = match target {
        Some(t) => t,
        None => kc::default_merge_target()?,
    };
    if target.canonicalize().ok() == state.kubeconfig().canonicalize().ok() {
        return Err(Error::Usage {
            message: format!(
                "{} is kcpenv's own kubeconfig for {env:?}",
                target.display()
            ),
            hint: "merge into another file with --kubeconfig FILE (or unset KUBECONFIG)".into(),
        });
    }
    let switch_to = switch.then(|| context.unwrap_or_else(|| kc::root_context(env)));
    let mut doc = kc::read(&target)?;
    kc::merge(&mut doc, ours, switch_to.as_deref());
    kc::write(&target, &doc)?;

    let mut rec: MergedRecord = std::fs::read(state.merged_json())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let abs = target.canonicalize().unwrap_or(target.clone());
    rec.files.retain(|f| f.path != abs);
    rec.files.push(MergedFile {
        path: abs,
        names: kc::entry_names(ours),
    });
    state::write_file(
        &state.merged_json(),
        &serde_json::to_vec_pretty(&rec).expect("record serialises"),
        0o600,
    )?;
    let names = kc::entry_names(ours).contexts.join(", ");
    match switch_to {
        Some(c) => println!(
            "merged contexts {names} into {}; current context is now {c}",
            target.display()
        ),
        None => println!(
            "merged contexts {names} into {} (current context unchanged)",
            target.display()
        ),
    }
    Ok(0)
}
