//! OpenFGA's HTTP API: the few calls `up` (stores, models, base tuples) and the
//! `grant`/`revoke`/`can`/`fga` commands need. Errors carry OpenFGA's own message.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::plan::{FgaPlan, FgaStorePlan, FgaTuple};
use crate::ui::{Event, Reporter};

pub struct FgaClient {
    http: reqwest::Client,
    base: String,
}

impl FgaClient {
    pub fn new(base: &str) -> Result<FgaClient> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Internal(format!("building the OpenFGA client: {e}")))?;
        Ok(FgaClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        doing: &str,
    ) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.map_err(|e| Error::OpenFga {
            doing: doing.into(),
            message: format!("cannot reach OpenFGA at {}: {e}", self.base),
            status: None,
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            // OpenFGA answers errors as {"code": "...", "message": "..."}.
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or(text);
            return Err(Error::OpenFga {
                doing: doing.into(),
                message,
                status: Some(status.as_u16()),
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The id of the store named `name` (exact match), if there is one.
    pub async fn store_id(&self, name: &str) -> Result<Option<String>> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/stores?name={}", urlencode(name)),
                None,
                &format!("looking up store {name:?}"),
            )
            .await?;
        Ok(v["stores"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["name"] == name)
            .and_then(|s| s["id"].as_str())
            .map(str::to_owned))
    }

    /// The store's id, creating the store when missing; and whether it was created.
    pub async fn ensure_store(&self, name: &str) -> Result<(String, bool)> {
        if let Some(id) = self.store_id(name).await? {
            return Ok((id, false));
        }
        let v = self
            .call(
                reqwest::Method::POST,
                "/stores",
                Some(json!({ "name": name })),
                &format!("creating store {name:?}"),
            )
            .await?;
        let id = v["id"].as_str().ok_or_else(|| {
            Error::Internal(format!("OpenFGA created store {name:?} without an id"))
        })?;
        Ok((id.to_owned(), true))
    }

    /// The store's newest authorization model, if any.
    pub async fn latest_model(&self, store: &str) -> Result<Option<Value>> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/stores/{store}/authorization-models?page_size=1"),
                None,
                "reading the authorization model",
            )
            .await?;
        Ok(v["authorization_models"]
            .as_array()
            .and_then(|m| m.first())
            .cloned())
    }

    /// Writes `model` as the store's newest model; returns its id.
    pub async fn write_model(&self, store: &str, model: &Value) -> Result<String> {
        let mut body = model.clone();
        if let Some(o) = body.as_object_mut() {
            o.remove("id");
        }
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("/stores/{store}/authorization-models"),
                Some(body),
                "writing the authorization model",
            )
            .await?;
        Ok(v["authorization_model_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Writes and deletes tuples; duplicates and missing deletes are not errors.
    pub async fn write(
        &self,
        store: &str,
        writes: &[FgaTuple],
        deletes: &[FgaTuple],
    ) -> Result<()> {
        let mut body = json!({});
        if !writes.is_empty() {
            body["writes"] = json!({ "tuple_keys": writes, "on_duplicate": "ignore" });
        }
        if !deletes.is_empty() {
            body["deletes"] = json!({ "tuple_keys": deletes, "on_missing": "ignore" });
        }
        self.call(
            reqwest::Method::POST,
            &format!("/stores/{store}/write"),
            Some(body),
            "writing tuples",
        )
        .await
        .map(drop)
    }

    /// Every tuple of the store.
    pub async fn read(&self, store: &str) -> Result<Vec<FgaTuple>> {
        let mut out = vec![];
        let mut token = String::new();
        loop {
            let mut body = json!({ "page_size": 100 });
            if !token.is_empty() {
                body["continuation_token"] = json!(token);
            }
            let v = self
                .call(
                    reqwest::Method::POST,
                    &format!("/stores/{store}/read"),
                    Some(body),
                    "reading tuples",
                )
                .await?;
            for t in v["tuples"].as_array().into_iter().flatten() {
                // The key may carry a `condition`; kcpenv writes none.
                let field = |f: &str| t["key"][f].as_str().map(str::to_owned);
                if let (Some(user), Some(relation), Some(object)) =
                    (field("user"), field("relation"), field("object"))
                {
                    out.push(FgaTuple {
                        user,
                        relation,
                        object,
                    });
                }
            }
            token = v["continuation_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if token.is_empty() {
                return Ok(out);
            }
        }
    }

    pub async fn check(&self, store: &str, t: &FgaTuple) -> Result<bool> {
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("/stores/{store}/check"),
                Some(json!({ "tuple_key": t })),
                "checking",
            )
            .await?;
        Ok(v["allowed"].as_bool().unwrap_or(false))
    }
}

/// Ensures every store of the plan: the store, a model that covers the template's (a
/// model `grant` extended is kept, not replaced), and the base tuples. A second run
/// writes nothing.
pub async fn ensure(plan: &FgaPlan, reporter: &dyn Reporter) -> Result<()> {
    let client = FgaClient::new(&plan.api_url)?;
    for store in &plan.stores {
        ensure_store(&client, store, reporter).await?;
    }
    Ok(())
}

async fn ensure_store(
    client: &FgaClient,
    store: &FgaStorePlan,
    reporter: &dyn Reporter,
) -> Result<()> {
    let info = |message: String| reporter.emit(Event::Info { message });
    let (id, created) = client.ensure_store(&store.name).await?;
    if created {
        info(format!("created OpenFGA store {} ({id})", store.name));
    }
    let latest = client.latest_model(&id).await?;
    if !latest.as_ref().is_some_and(|l| covers(l, &store.model)) {
        let model = match &latest {
            Some(l) => merge(&store.model, l),
            None => store.model.clone(),
        };
        let model_id = client.write_model(&id, &model).await?;
        info(format!(
            "wrote the authorization model of store {} ({model_id})",
            store.name
        ));
    }
    let existing: BTreeSet<FgaTuple> = client.read(&id).await?.into_iter().collect();
    let missing: Vec<FgaTuple> = store
        .tuples
        .iter()
        .filter(|t| !existing.contains(t))
        .cloned()
        .collect();
    if !missing.is_empty() {
        client.write(&id, &missing, &[]).await?;
        info(format!(
            "wrote {} base tuple(s) to store {}",
            missing.len(),
            store.name
        ));
    }
    Ok(())
}

/// Drops what OpenFGA adds when it returns a model (empty strings, nulls, ids), so a
/// model read back compares equal to the one written.
pub fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, v)| {
                    !(v.is_null()
                        || *v == ""
                        || (k.as_str() == "conditions"
                            && v.as_object().is_some_and(|c| c.is_empty())))
                        && k.as_str() != "id"
                })
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

fn type_def<'a>(model: &'a Value, name: &str) -> Option<&'a Value> {
    model["type_definitions"]
        .as_array()?
        .iter()
        .find(|t| t["type"] == name)
}

/// Whether `model` has every type and relation of `wanted`, defined the same way.
pub fn covers(model: &Value, wanted: &Value) -> bool {
    let (model, wanted) = (normalize(model), normalize(wanted));
    if model["schema_version"] != wanted["schema_version"] {
        return false;
    }
    wanted["type_definitions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|w| {
            let name = w["type"].as_str().unwrap_or_default();
            let Some(m) = type_def(&model, name) else {
                return false;
            };
            let rels = w["relations"].as_object().cloned().unwrap_or_default();
            rels.iter().all(|(r, def)| {
                m["relations"][r] == *def
                    && m["metadata"]["relations"][r] == w["metadata"]["relations"][r]
            })
        })
}

/// `wanted`, plus the types and relations `current` has beyond it (added by `grant`).
pub fn merge(wanted: &Value, current: &Value) -> Value {
    let mut out = normalize(wanted);
    let current = normalize(current);
    for t in current["type_definitions"].as_array().into_iter().flatten() {
        let name = t["type"].as_str().unwrap_or_default();
        let defs = out["type_definitions"]
            .as_array_mut()
            .expect("model has type_definitions");
        match defs.iter_mut().find(|d| d["type"] == name) {
            None => defs.push(t.clone()),
            Some(d) => {
                for (r, def) in t["relations"].as_object().into_iter().flatten() {
                    if d["relations"].get(r).is_none() {
                        add_relation(d, r, def.clone(), t["metadata"]["relations"][r].clone());
                    }
                }
            }
        }
    }
    out
}

fn add_relation(type_def: &mut Value, relation: &str, def: Value, metadata: Value) {
    if !type_def["relations"].is_object() {
        type_def["relations"] = json!({});
    }
    type_def["relations"][relation] = def;
    if !metadata.is_null() {
        if !type_def["metadata"]["relations"].is_object() {
            type_def["metadata"] = json!({ "relations": {} });
        }
        type_def["metadata"]["relations"][relation] = metadata;
    }
}

/// `model` with `relation` on type `ty`, directly assignable to users and role
/// assignees (the shape `grant` writes tuples for). None when it is there already.
pub fn with_grant_relation(model: &Value, ty: &str, relation: &str) -> Option<Value> {
    let mut out = normalize(model);
    let defs = out["type_definitions"].as_array_mut()?;
    let d = defs.iter_mut().find(|d| d["type"] == ty)?;
    if d["relations"].get(relation).is_some() {
        return None;
    }
    add_relation(
        d,
        relation,
        json!({ "this": {} }),
        json!({ "directly_related_user_types": [
            { "type": "user" },
            { "type": "role", "relation": "assignee" },
        ]}),
    );
    Some(out)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Value {
        crate::components::openfga::orgs_store().unwrap().model
    }

    #[test]
    fn a_model_read_back_covers_the_template() {
        // As OpenFGA returns it: id, empty conditions, object "" in computed usersets.
        let mut back = template();
        back["id"] = json!("01ABC");
        back["conditions"] = json!({});
        back["type_definitions"][2]["relations"]["list_core_platform-mesh_io_accounts"] =
            json!({ "computedUserset": { "object": "", "relation": "member" } });
        back["type_definitions"][1]["metadata"]["relations"]["assignee"]["directly_related_user_types"]
            [0]["condition"] = json!("");
        assert!(covers(&back, &template()));
    }

    #[test]
    fn a_changed_relation_is_not_covered() {
        let mut changed = template();
        changed["type_definitions"][2]["relations"]["member"] =
            json!({ "computedUserset": { "relation": "owner" } });
        assert!(!covers(&changed, &template()));
    }

    #[test]
    fn granted_relations_survive_a_template_change() {
        let granted = with_grant_relation(
            &template(),
            "tenancy_kcp_io_workspace",
            "list_core_configmaps",
        )
        .unwrap();
        assert!(covers(&granted, &template()));
        assert!(
            with_grant_relation(&granted, "tenancy_kcp_io_workspace", "list_core_configmaps")
                .is_none()
        );
        let merged = merge(&template(), &granted);
        assert!(covers(&merged, &granted) && covers(&merged, &template()));
    }
}
