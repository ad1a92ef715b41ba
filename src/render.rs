//! Template rendering (minijinja): the config files in `templates/` (embedded in the
//! binary) and the template strings of profiles. Undefined variables are errors, so a
//! typo such as `{{ port.http }}` for `{{ ports.http }}` fails `up` before anything is
//! created.

use include_dir::{Dir, include_dir};
use minijinja::{Environment, UndefinedBehavior};

static TEMPLATES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/templates");

use crate::error::{Error, Result};

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env
}

/// Renders one template string; `what` names it in errors (a profile field path).
pub fn string(what: &str, template: &str, vars: &serde_json::Value) -> Result<String> {
    if !template.contains("{{") && !template.contains("{%") {
        return Ok(template.to_owned());
    }
    environment()
        .render_str(template, vars)
        .map_err(|e| Error::ProfileInvalid {
            origin: "template".into(),
            message: format!("{what}: {e}"),
            location: None,
        })
}

/// Renders the embedded template `name` (a path under `templates/`).
pub fn template(name: &str, vars: &serde_json::Value) -> Result<String> {
    let source = TEMPLATES
        .get_file(name)
        .and_then(|f| f.contents_utf8())
        .ok_or_else(|| Error::Internal(format!("no embedded template {name}")))?;
    environment()
        .render_str(source, vars)
        .map_err(|e| Error::Internal(format!("rendering template {name}: {e:#}")))
}

/// Every embedded template's path, for the test that renders them all.
#[cfg(test)]
pub fn template_names() -> Vec<String> {
    fn walk(d: &Dir<'_>, out: &mut Vec<String>) {
        for f in d.files() {
            out.push(f.path().display().to_string());
        }
        for sub in d.dirs() {
            walk(sub, out);
        }
    }
    let mut out = vec![];
    walk(&TEMPLATES, &mut out);
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_rejects_undefined() {
        let vars = serde_json::json!({ "ports": { "http": 8088 } });
        assert_eq!(
            string("x", "-p {{ ports.http }}", &vars).unwrap(),
            "-p 8088"
        );
        assert_eq!(string("x", "plain\n", &vars).unwrap(), "plain\n");
        let e = string("containers.a.command[0]", "{{ port.http }}", &vars).unwrap_err();
        assert!(e.to_string().contains("containers.a.command[0]"), "{e}");
    }
}
