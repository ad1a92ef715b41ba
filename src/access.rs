//! The question Platform Mesh's rebac-authz-webhook (v0.8.15, `pkg/handler/orgs`) asks
//! OpenFGA for a request in the `root:orgs` workspace, and checks of a verb and resource
//! against what kcp serves there. Pure except for `served_resource`.

use serde_json::Value;

use crate::bootstrap::Bootstrapper;
use crate::error::{Error, Result};
use crate::plan::FgaTuple;

/// The workspace whose requests the webhook's orgs handler answers from store `orgs`.
pub const ORGS_WORKSPACE: &str = "root:orgs";
/// The object every orgs-handler check is about.
pub const ORGS_OBJECT: &str = "tenancy_kcp_io_workspace:orgs";
pub const ORGS_TYPE: &str = "tenancy_kcp_io_workspace";
/// The webhook caps `create_<group>_<resource>` at this many characters.
const MAX_RELATION: usize = 50;

/// The relation the webhook checks: `<verb>_<group>_<resource>`, the group `core` for
/// the core group, dots as underscores, and the group cut from the left so that the
/// `create_` relation of the resource fits in 50 characters (`util.CapGroupToRelationLength`).
pub fn relation(verb: &str, group: &str, resource: &str) -> String {
    let longest = format!("create_{group}_{resource}");
    let named = if group.is_empty() { "core" } else { group };
    let capped = if longest.len() > MAX_RELATION {
        let start = longest.len() - MAX_RELATION;
        named.get(start..).unwrap_or("")
    } else {
        named
    };
    format!("{verb}_{}_{resource}", capped.replace('.', "_"))
}

/// The tuple that lets `user` do `verb` on `resource` in root:orgs.
pub fn orgs_tuple(user: &str, verb: &str, group: &str, resource: &str) -> FgaTuple {
    FgaTuple {
        user: format!("user:{user}"),
        relation: relation(verb, group, resource),
        object: ORGS_OBJECT.into(),
    }
}

/// Fails unless kcp serves `resource` in `group` in `workspace` and it supports `verb`;
/// the error lists close matches.
pub async fn check_served(
    kcp: &Bootstrapper,
    workspace: &str,
    verb: &str,
    group: &str,
    resource: &str,
) -> Result<()> {
    let base = format!("/clusters/{workspace}");
    if kcp.get_json(&format!("{base}/version")).await?.is_none() {
        return Err(Error::Usage {
            message: format!("workspace {workspace} does not exist (or kcp refuses to show it)"),
            hint: format!("grants apply to {ORGS_WORKSPACE}, which `kcpenv up` creates"),
        });
    }
    let version_path = if group.is_empty() {
        format!("{base}/api/v1")
    } else {
        let Some(g) = kcp.get_json(&format!("{base}/apis/{group}")).await? else {
            let groups = kcp
                .get_json(&format!("{base}/apis"))
                .await?
                .unwrap_or_default();
            let names: Vec<String> = groups["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| g["name"].as_str().map(str::to_owned))
                .collect();
            return Err(not_served("API group", group, workspace, &names));
        };
        let version = g["preferredVersion"]["groupVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        format!("{base}/apis/{version}")
    };
    let list = kcp.get_json(&version_path).await?.unwrap_or_default();
    let resources = resource_names(&list);
    let Some(found) = list["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == resource)
    else {
        let what = if group.is_empty() {
            "resource (core group; --group names another)".to_owned()
        } else {
            format!("resource of group {group}")
        };
        return Err(not_served(&what, resource, workspace, &resources));
    };
    let verbs: Vec<String> = found["verbs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    if !verbs.iter().any(|v| v == verb) {
        return Err(Error::Usage {
            message: format!("kcp does not serve verb {verb:?} for {resource}"),
            hint: format!("{resource} supports: {}", verbs.join(", ")),
        });
    }
    Ok(())
}

fn resource_names(list: &Value) -> Vec<String> {
    list["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .filter(|n| !n.contains('/'))
        .map(str::to_owned)
        .collect()
}

fn not_served(what: &str, name: &str, workspace: &str, known: &[String]) -> Error {
    let close = close_matches(name, known);
    Error::Usage {
        message: format!("kcp does not serve {what} {name:?} in {workspace}"),
        hint: if close.is_empty() {
            format!("served: {}", known.join(", "))
        } else {
            format!("did you mean: {}?", close.join(", "))
        },
    }
}

/// Names within a small edit distance of `name`, or sharing its stem, closest first.
pub fn close_matches(name: &str, known: &[String]) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> = known
        .iter()
        .filter_map(|k| {
            let d = edit_distance(name, k);
            let stem = name.len() >= 4 && (k.starts_with(&name[..4]) || k.contains(name));
            (d <= 2 + name.len() / 4 || stem).then_some((d, k))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, k)| k.clone()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_names_follow_the_webhook() {
        assert_eq!(relation("list", "", "configmaps"), "list_core_configmaps");
        assert_eq!(
            relation("get", "rbac.authorization.k8s.io", "roles"),
            "get_rbac_authorization_k8s_io_roles"
        );
        // create_apis.kcp.io_apiresourceschemas is 38 characters: no cap.
        assert_eq!(
            relation("watch", "apis.kcp.io", "apiresourceschemas"),
            "watch_apis_kcp_io_apiresourceschemas"
        );
        // create_admissionregistration.k8s.io_validatingadmissionpolicies has 63
        // characters: the group loses its first 13.
        let long = relation(
            "list",
            "admissionregistration.k8s.io",
            "validatingadmissionpolicies",
        );
        assert_eq!(long, "list_stration_k8s_io_validatingadmissionpolicies");
        assert_eq!(
            format!("create_{}", &long["list_".len()..]).len(),
            MAX_RELATION
        );
    }

    #[test]
    fn a_resource_name_longer_than_the_cap_leaves_no_group() {
        let r = "x".repeat(60);
        assert_eq!(relation("get", "a.b", &r), format!("get__{r}"));
    }

    #[test]
    fn close_matches_suggest_typos_and_stems() {
        let known: Vec<String> = ["configmaps", "secrets", "namespaces", "serviceaccounts"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(close_matches("configmap", &known), vec!["configmaps"]);
        assert_eq!(close_matches("secrtes", &known), vec!["secrets"]);
        assert!(close_matches("widgets", &known).is_empty());
    }
}
