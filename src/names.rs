//! Naming rules and the labels kcpenv puts on every Docker object. Lookups always
//! filter by `dev.kcpenv.env`, so environments never see each other's objects.

pub const LABEL_ENV: &str = "dev.kcpenv.env";
pub const LABEL_COMPONENT: &str = "dev.kcpenv.component";
pub const LABEL_PROFILE: &str = "dev.kcpenv.profile";
pub const LABEL_CONFIG_HASH: &str = "dev.kcpenv.config-hash";
pub const LABEL_VERSION: &str = "dev.kcpenv.version";
/// The `up` run that created the object; rollback removes exactly these.
pub const LABEL_RUN: &str = "dev.kcpenv.run";

pub const HOLDER: &str = "holder";

/// Environment names become part of container and volume names and of kubeconfig
/// entries, so they follow the DNS-label-like rule Docker and kubectl both accept.
pub fn check_env_name(name: &str) -> Result<(), String> {
    if name.len() > 40 {
        return Err(format!("{} characters, at most 40", name.len()));
    }
    check_component_name(name)
}

/// Lowercase letters, digits and '-', starting with a letter, not ending with '-'.
pub fn check_component_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("empty name".into()),
        Some(c) if !c.is_ascii_lowercase() => {
            return Err(format!("{name:?} must start with a lowercase letter"));
        }
        _ => {}
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "{name:?} contains {bad:?}; use lowercase letters, digits and '-'"
        ));
    }
    if name.ends_with('-') {
        return Err(format!("{name:?} must not end with '-'"));
    }
    Ok(())
}

pub fn container_name(env: &str, component: &str) -> String {
    format!("kcpenv-{env}-{component}")
}

pub fn volume_name(env: &str, component: &str, volume: &str) -> String {
    format!("kcpenv-{env}-{component}-{volume}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert!(check_env_name("kcpenv").is_ok());
        assert!(check_env_name("dev-2").is_ok());
        for bad in ["", "2dev", "Dev", "dev_x", "dev-", "a b", &"x".repeat(41)] {
            assert!(check_env_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn object_names() {
        assert_eq!(container_name("dev", "kcp"), "kcpenv-dev-kcp");
        assert_eq!(volume_name("dev", "kcp", "data"), "kcpenv-dev-kcp-data");
    }
}
