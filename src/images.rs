//! Image references: the pinned upstream images (images.yaml, shared with
//! scripts/e2e-images.sh), the optional local mirror prefix, and `--image` overrides.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

const PINS_YAML: &str = include_str!("../images.yaml");

/// Environment variable naming a registry prefix that replaces the registry host of every
/// pinned image, e.g. `kcpenv.local` turns `ghcr.io/kcp-dev/kcp:v0.32.3` into
/// `kcpenv.local/kcp-dev/kcp:v0.32.3`. Used for air-gapped mirrors and locally built images.
pub const MIRROR_ENV: &str = "KCPENV_IMAGE_MIRROR";

/// The pinned images: key → official reference.
pub fn pins() -> BTreeMap<String, String> {
    let pins: BTreeMap<String, String> =
        serde_yaml::from_str(PINS_YAML).expect("images.yaml is a map of key: reference");
    pins
}

/// Resolves a profile's `image:` field: a pinned key (through the mirror when set) or a
/// reference used as written.
pub fn resolve(field: &str, mirror: Option<&str>) -> String {
    match pins().get(field) {
        Some(official) => match mirror {
            Some(m) if !m.is_empty() => apply_mirror(official, m),
            _ => official.clone(),
        },
        None => field.to_owned(),
    }
}

/// Replaces the registry host of `reference` with `mirror`. Docker Hub references
/// (no host) keep their full path, `library/` included.
pub fn apply_mirror(reference: &str, mirror: &str) -> String {
    let (first, rest) = reference.split_once('/').unwrap_or(("", reference));
    let is_host = first.contains('.') || first.contains(':') || first == "localhost";
    let path = if is_host {
        rest.to_owned()
    } else if reference.contains('/') {
        reference.to_owned()
    } else {
        format!("library/{reference}")
    };
    format!("{}/{}", mirror.trim_end_matches('/'), path)
}

/// Accepts a pinned key or a syntactically valid reference.
pub fn check_image_field(field: &str) -> std::result::Result<(), String> {
    if pins().contains_key(field) {
        return Ok(());
    }
    check_reference(field)
}

/// A light syntax check of `[host[:port]/]path[:tag][@digest]`, enough to catch typos
/// before Docker does (Docker's own messages do not say which component was meant).
pub fn check_reference(r: &str) -> std::result::Result<(), String> {
    if r.is_empty() {
        return Err("empty image reference".into());
    }
    if r.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{r:?} contains whitespace"));
    }
    let (name, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    if let Some(d) = digest {
        let ok = d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty() && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
        });
        if !ok {
            return Err(format!("{r:?}: digest must look like sha256:<hex>"));
        }
    }
    // A tag is after the last ':' that follows the last '/'.
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            && !t.starts_with(['.', '-']);
        if !ok {
            return Err(format!("{r:?}: invalid tag {t:?}"));
        }
    }
    let mut parts = repo.split('/').peekable();
    let mut first = true;
    while let Some(part) = parts.next() {
        let is_host = first
            && parts.peek().is_some()
            && (part.contains('.') || part.contains(':') || part == "localhost");
        first = false;
        if is_host {
            continue;
        }
        let ok = !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            && part.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            return Err(format!(
                "{r:?}: repository path part {part:?} must be lowercase letters, digits, '.', '_' or '-'"
            ));
        }
    }
    Ok(())
}

/// Parses repeated `--image COMPONENT=REF` flags.
pub fn parse_overrides(values: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for v in values {
        let invalid = |reason: String| Error::InvalidImageFlag {
            value: v.clone(),
            reason,
        };
        let (component, reference) = v
            .split_once('=')
            .ok_or_else(|| invalid("expected COMPONENT=REF".into()))?;
        if component.is_empty() {
            return Err(invalid("the component name is empty".into()));
        }
        check_reference(reference).map_err(invalid)?;
        if out
            .insert(component.to_owned(), reference.to_owned())
            .is_some()
        {
            return Err(invalid(format!("{component:?} given twice")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_include_kcp() {
        assert!(pins()["kcp"].starts_with("ghcr.io/kcp-dev/kcp:v"));
    }

    #[test]
    fn mirror_replaces_registry_host() {
        assert_eq!(
            apply_mirror("ghcr.io/kcp-dev/kcp:v0.32.3", "kcpenv.local"),
            "kcpenv.local/kcp-dev/kcp:v0.32.3"
        );
        assert_eq!(
            apply_mirror("openfga/openfga:v1.18.1", "m.example:5000/"),
            "m.example:5000/openfga/openfga:v1.18.1"
        );
        assert_eq!(apply_mirror("busybox:1", "m"), "m/library/busybox:1");
        let kcp = pins()["kcp"].clone();
        assert_eq!(resolve("kcp", None), kcp);
        assert_eq!(resolve("kcp", Some("")), kcp);
        assert!(resolve("kcp", Some("kcpenv.local")).starts_with("kcpenv.local/kcp-dev/kcp:"));
        assert_eq!(resolve("postgres:16", Some("m")), "postgres:16");
    }

    #[test]
    fn references() {
        for ok in [
            "busybox",
            "busybox:1.36",
            "localhost:5000/a/b:c",
            "ghcr.io/kcp-dev/kcp:v0.32.3",
            "kcpenv.local/kcp-dev/kcp:v0.32.3",
            "x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(check_reference(ok), Ok(()), "{ok}");
        }
        for bad in ["", "Busybox", "a b", "x:", "x:-1", "x@md5", "/x", "a//b"] {
            assert!(check_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn overrides() {
        let o = parse_overrides(&["kcp=my/kcp:dev".into()]).unwrap();
        assert_eq!(o["kcp"], "my/kcp:dev");
        for bad in ["kcp", "=x", "kcp=Bad", "kcp="] {
            let e = parse_overrides(&[bad.into()]).unwrap_err();
            assert!(matches!(e, Error::InvalidImageFlag { .. }), "{bad}: {e:?}");
        }
        assert!(parse_overrides(&["a=x".into(), "a=y".into()]).is_err());
    }
}
