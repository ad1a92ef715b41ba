//! `kcpenv down`: removes every container labelled with the environment (whatever
//! created it). Its state — data volumes and the state directory (CA, kubeconfig) — is
//! kept, so the next `up` finds kcp's workspaces and the same kubeconfig still valid;
//! `--purge` removes the volumes, the state directory and merged kubeconfig entries too.
//! Removing nothing is success.

use serde_json::json;

use crate::cli::DownArgs;
use crate::error::Result;
use crate::kubeconfig;
use crate::reconcile;
use crate::runtime::Runtime;
use crate::runtime::docker::DockerRuntime;
use crate::state::StateDir;
use crate::ui::{self, Event};

use super::{env_name, lock};

/// Where `kubeconfig --merge` put the environment's entries, so `down --purge` can take
/// them out again.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct MergedRecord {
    pub files: Vec<MergedFile>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MergedFile {
    pub path: std::path::PathBuf,
    pub names: kubeconfig::EntryNames,
}

pub async fn run(args: DownArgs) -> Result<i32> {
    let env = env_name(&args.env)?;
    let reporter = ui::reporter(args.output);
    let rt = DockerRuntime::connect().await?;
    let state = StateDir::for_env(&env)?;
    let _lock = lock(&state, args.lock_timeout, reporter.as_ref())?;

    let containers = rt.list_containers(&env).await?;
    let all_volumes = rt.list_volumes(&env).await?;
    let existed = !containers.is_empty() || !all_volumes.is_empty() || state.exists();
    let volumes = if args.purge {
        all_volumes.clone()
    } else {
        vec![]
    };
    reporter.emit(Event::StepStarted {
        component: env.clone(),
        step: format!(
            "remove {} container(s), {} volume(s)",
            containers.len(),
            volumes.len()
        ),
    });
    reconcile::remove_containers(&rt, &containers).await?;
    for v in &volumes {
        rt.remove_volume(&v.name).await?;
    }
    let mut unmerged = vec![];
    if args.purge && state.exists() {
        if let Ok(bytes) = std::fs::read(state.merged_json())
            && let Ok(rec) = serde_json::from_slice::<MergedRecord>(&bytes)
        {
            for f in rec.files {
                if f.path.exists() {
                    let mut doc = kubeconfig::read(&f.path)?;
                    kubeconfig::unmerge(&mut doc, &f.names);
                    kubeconfig::write(&f.path, &doc)?;
                    unmerged.push(f.path);
                }
            }
        }
        std::fs::remove_dir_all(&state.root).map_err(crate::error::Error::io(format!(
            "removing {}",
            state.root.display()
        )))?;
        let _ = std::fs::remove_file(state.lock_path());
    }
    reporter.finish();

    if ui::is_json(args.output) {
        println!(
            "{}",
            json!({
                "env": env,
                "existed": existed,
                "removed_containers": containers.iter().map(|c| &c.name).collect::<Vec<_>>(),
                "removed_volumes": volumes.iter().map(|v| &v.name).collect::<Vec<_>>(),
                "kept_volumes": if args.purge { vec![] } else { all_volumes.iter().map(|v| &v.name).collect::<Vec<_>>() },
                "purged": args.purge && existed,
                "unmerged_kubeconfigs": unmerged,
            })
        );
    } else if !existed {
        println!("environment {env:?} does not exist; nothing to remove");
    } else if args.purge {
        println!(
            "environment {env:?} purged: {} container(s), {} volume(s) and {} removed",
            containers.len(),
            volumes.len(),
            state.root.display()
        );
        for f in unmerged {
            println!("removed its entries from {}", f.display());
        }
    } else {
        println!(
            "environment {env:?} down: {} container(s) removed; kept {} data volume(s) and {} (CA, kubeconfig) for the next `up` (--purge removes them)",
            containers.len(),
            all_volumes.len(),
            state.root.display()
        );
    }
    Ok(0)
}
