//! Template rendering (minijinja). Undefined variables are errors, so a typo such as
//! `{{ port.http }}` for `{{ ports.http }}` fails `up` before anything is created.

use minijinja::{Environment, UndefinedBehavior};

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
