//! `kcpenv profiles [list|show NAME]`.

use crate::cli::{ProfilesArgs, ProfilesCommand};
use crate::error::Result;
use crate::profile;

pub fn run(args: ProfilesArgs) -> Result<i32> {
    match args.command.unwrap_or(ProfilesCommand::List) {
        ProfilesCommand::List => {
            for name in profile::embedded_names() {
                let p = profile::load(&name)?;
                let summary = p
                    .description
                    .split(". ")
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches('.');
                println!("{name:<12} {summary}");
            }
        }
        ProfilesCommand::Show { profile: name } => {
            let p = profile::load(&name)?;
            print!("{}", serde_yaml::to_string(&p).expect("profiles serialise"));
        }
    }
    Ok(0)
}
