//! `kcpenv images list|pull|save|load`: the images a profile needs, for offline use.
//! `save` writes one `docker save` archive of all of them (each checked to be for one
//! platform, the engine's unless --platform says otherwise); `load` loads it and, given
//! the profile, says which image the bundle lacked. `up` then needs no registry.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use crate::cli::{ImagesArgs, ImagesCommand, OutputFormat};
use crate::error::{Error, Result};
use crate::images::MIRROR_ENV;
use crate::plan;
use crate::profile;
use crate::runtime::Runtime;
use crate::runtime::docker::DockerRuntime;
use crate::ui;

/// (image, components using it) of the profile, in plan order.
fn profile_images(name: &str) -> Result<Vec<(String, Vec<String>)>> {
    let p = profile::load(name)?;
    let plan = plan::preview(
        &p,
        &plan::Options {
            env: "images".into(),
            port_offset: 0,
            image_overrides: BTreeMap::new(),
            mirror: std::env::var(MIRROR_ENV).ok().filter(|m| !m.is_empty()),
            service_cluster: None,
        },
    )?;
    let mut out: Vec<(String, Vec<String>)> = vec![];
    for c in plan.all_containers() {
        match out.iter_mut().find(|(i, _)| *i == c.image) {
            Some((_, users)) => users.push(c.component.clone()),
            None => out.push((c.image.clone(), vec![c.component.clone()])),
        }
    }
    Ok(out)
}

pub async fn run(args: ImagesArgs) -> Result<i32> {
    match args.command {
        ImagesCommand::List { profile, output } => list(&profile, output).await,
        ImagesCommand::Pull { profile } => pull(&profile).await,
        ImagesCommand::Save {
            profile,
            file,
            platform,
        } => save(&profile, &file, platform).await,
        ImagesCommand::Load { file, profile } => load(&file, profile.as_deref()).await,
    }
}

async fn list(profile: &str, output: OutputFormat) -> Result<i32> {
    let images = profile_images(profile)?;
    let rt = DockerRuntime::connect().await?;
    let mut rows = vec![];
    for (image, users) in images {
        let inspect = rt.inspect_image_json(&image).await?;
        let platform = inspect.as_ref().map(platform_of);
        let digest = inspect.as_ref().and_then(|i| {
            i["RepoDigests"]
                .as_array()?
                .first()?
                .as_str()
                .map(str::to_owned)
        });
        let id = inspect
            .as_ref()
            .and_then(|i| i["Id"].as_str().map(str::to_owned));
        rows.push(json!({
            "image": image, "components": users, "present": inspect.is_some(),
            "platform": platform, "digest": digest, "id": id,
        }));
    }
    if ui::is_json(output) {
        println!("{}", serde_json::Value::from(rows));
    } else {
        for r in &rows {
            println!(
                "{:<48} {:<8} {:<12} {}  ({})",
                r["image"].as_str().unwrap_or_default(),
                if r["present"] == true {
                    "present"
                } else {
                    "MISSING"
                },
                r["platform"].as_str().unwrap_or("-"),
                r["digest"].as_str().or(r["id"].as_str()).unwrap_or("-"),
                r["components"]
                    .as_array()
                    .map(|a| a
                        .iter()
                        .filter_map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default(),
            );
        }
    }
    Ok(0)
}

async fn pull(profile: &str) -> Result<i32> {
    let images: Vec<String> = profile_images(profile)?
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    let rt = DockerRuntime::connect().await?;
    let reporter = ui::reporter(OutputFormat::Auto);
    let pulled = super::up::pull_missing(&rt, &images, reporter.as_ref()).await?;
    reporter.finish();
    println!("{pulled} pulled, {} already present", images.len() - pulled);
    Ok(0)
}

async fn save(profile: &str, file: &Path, platform: Option<String>) -> Result<i32> {
    let images = profile_images(profile)?;
    let rt = DockerRuntime::connect().await?;
    let engine = rt.engine_info().await?;
    let want = platform.unwrap_or_else(|| format!("{}/{}", engine.os, engine.arch));
    let mut names = vec![];
    for (image, users) in &images {
        let Some(inspect) = rt.inspect_image_json(image).await? else {
            return Err(Error::ImageUnavailable {
                image: image.clone(),
                reason: format!(
                    "needed by {} and not present; `kcpenv images pull -p {profile}` first",
                    users.join(", ")
                ),
            });
        };
        // A classic image store keeps one platform per image; say so if it is not the
        // one asked for rather than write a bundle that will not run there.
        let have = platform_of(&inspect);
        if have != want {
            return Err(Error::Usage {
                message: format!("image {image} is for {have}, not {want}"),
                hint: format!(
                    "pull it for {want} (`docker pull --platform {want} {image}`), or pass --platform {have}"
                ),
            });
        }
        names.push(image.clone());
    }
    rt.save_images(&names, file).await?;
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    println!(
        "saved {} image(s) for {want} to {} ({:.1} MiB)",
        names.len(),
        file.display(),
        size as f64 / (1u64 << 20) as f64
    );
    Ok(0)
}

async fn load(file: &Path, profile: Option<&str>) -> Result<i32> {
    check_archive(file)?;
    let rt = DockerRuntime::connect().await?;
    let lines = rt.load_images(file).await?;
    for l in &lines {
        println!("{l}");
    }
    if let Some(p) = profile {
        let mut missing = vec![];
        for (image, users) in profile_images(p)? {
            if !rt.image_exists(&image).await? {
                missing.push(format!("{image} ({})", users.join(", ")));
            }
        }
        if !missing.is_empty() {
            return Err(Error::Usage {
                message: format!(
                    "{} lacks what profile {p} needs: {}",
                    file.display(),
                    missing.join(", ")
                ),
                hint: format!(
                    "make the bundle with `kcpenv images save -p {p} -o FILE` on a machine that has them"
                ),
            });
        }
        println!("every image of profile {p} is present");
    }
    Ok(0)
}

/// A `docker save` archive is a tar with manifest.json (or an OCI index.json) at its root.
fn check_archive(file: &Path) -> Result<()> {
    let f = std::fs::File::open(file).map_err(Error::io(format!("opening {}", file.display())))?;
    let not_archive = |why: String| Error::Usage {
        message: format!("{} is not an image archive: {why}", file.display()),
        hint: "pass a file written by `kcpenv images save` (or `docker save`)".into(),
    };
    let mut archive = tar::Archive::new(f);
    let entries = archive.entries().map_err(|e| not_archive(e.to_string()))?;
    for entry in entries {
        let entry = entry.map_err(|e| not_archive(e.to_string()))?;
        let path = entry.path().map_err(|e| not_archive(e.to_string()))?;
        if path == Path::new("manifest.json") || path == Path::new("index.json") {
            return Ok(());
        }
    }
    Err(not_archive("no manifest.json in it".into()))
}

fn platform_of(inspect: &serde_json::Value) -> String {
    let os = inspect["Os"].as_str().unwrap_or("?");
    let arch = inspect["Architecture"].as_str().unwrap_or("?");
    match inspect["Variant"].as_str() {
        Some(v) if !v.is_empty() => format!("{os}/{arch}/{v}"),
        _ => format!("{os}/{arch}"),
    }
}
