//! `kcpenv fga tuples|write|delete|model`: direct access to the environment's OpenFGA
//! stores, without the `fga` CLI or store ids.

use serde_json::json;

use crate::cli::{FgaArgs, FgaCommand};
use crate::error::{Result, exit};
use crate::plan::FgaTuple;
use crate::state::StateDir;
use crate::ui;

use super::access::open_store;
use super::env_name;

pub async fn run(args: FgaArgs) -> Result<i32> {
    let env = env_name(&args.env)?;
    let state = StateDir::for_env(&env)?;
    let (_, client, store) = open_store(&env, &state, &args.store).await?;
    let json = ui::is_json(args.output);
    let delete = matches!(args.command, FgaCommand::Delete { .. });
    match args.command {
        FgaCommand::Tuples => {
            let mut tuples = client.read(&store).await?;
            tuples.sort();
            if json {
                println!("{}", json!(tuples));
            } else {
                for t in &tuples {
                    println!("{} {} {}", t.user, t.relation, t.object);
                }
            }
        }
        FgaCommand::Write {
            user,
            relation,
            object,
        }
        | FgaCommand::Delete {
            user,
            relation,
            object,
        } => {
            let t = [FgaTuple {
                user,
                relation,
                object,
            }];
            let (writes, deletes, done): (&[FgaTuple], &[FgaTuple], _) = if delete {
                (&[], &t, "deleted")
            } else {
                (&t, &[], "wrote")
            };
            client.write(&store, writes, deletes).await?;
            println!("{done}: {} {} {}", t[0].user, t[0].relation, t[0].object);
        }
        FgaCommand::Model => {
            let model = client.latest_model(&store).await?.unwrap_or_default();
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::fga::normalize(&model))
                    .expect("JSON serialises")
            );
        }
    }
    Ok(exit::OK)
}
