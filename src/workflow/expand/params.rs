//! Params: `-p` overrides applied with the declared kind, then string params that are
//! templates rendered over the params before them.

use super::Expander;
use super::template::{self, Tpl};
use crate::workflow::yaml;
use indexmap::IndexMap;

/// Names the template context reserves; params may not use them.
const RESERVED: [&str; 3] = ["env", "task", "workflow"];

impl Expander<'_> {
    /// Applies `-p key=value` overrides to the declared params, then renders each declared
    /// string param that is a template (`cflags: "-O2 {{ extra }}"`) over the params before it.
    /// A `-p` value is data and is never rendered.
    pub fn params(
        &mut self,
        declared: &IndexMap<String, serde_json::Value>,
        overrides: &[(String, serde_json::Value)],
        workflow: &str,
    ) -> Result<IndexMap<String, serde_json::Value>, String> {
        let mut params = declared.clone();
        let mut given = vec![false; params.len()];
        for (k, v) in overrides {
            match params.get_full_mut(k) {
                Some((i, _, slot)) => {
                    *slot = typed_override(k, slot, v)?;
                    given[i] = true;
                }
                None => {
                    let known: Vec<String> = declared.keys().map(|k| format!("`{k}`")).collect();
                    let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                    return Err(format!(
                        "`-p {k}=...`: the workflow declares no param `{k}` (declared: {known})"
                    ));
                }
            }
        }
        for k in params.keys() {
            if RESERVED.contains(&k.as_str()) {
                self.diags.push(
                    self.diag(format!("param `{k}` shadows a name dagrun provides to templates; rename it"))
                        .field(format!("params.{k}")),
                );
            }
        }
        self.render_params(&mut params, &given, workflow);
        Ok(params)
    }

    /// Renders the declared string params that hold template syntax, in order, each over the
    /// params before it (a later or unknown name is undefined, so there is no cycle).
    fn render_params(
        &mut self,
        params: &mut IndexMap<String, serde_json::Value>,
        given: &[bool],
        workflow: &str,
    ) {
        let jinja = template::environment(self.max_tasks);
        for i in 0..params.len() {
            let text = match &params[i] {
                serde_json::Value::String(s) if !given[i] && (s.contains("{{") || s.contains("{%")) => {
                    s.clone()
                }
                _ => continue,
            };
            let before: IndexMap<String, serde_json::Value> =
                params.iter().take(i).map(|(k, v)| (k.clone(), v.clone())).collect();
            let ctx = template::base_context(&before, workflow);
            match Tpl::new(&jinja, &text).and_then(|t| t.render(&ctx)) {
                Ok(v) => params[i] = serde_json::Value::String(v),
                Err(e) => {
                    let name = params.get_index(i).map(|(k, _)| k.clone()).unwrap_or_default();
                    let mut m = template::message(&e);
                    if params
                        .get_index_of(m.trim_start_matches("undefined name `").trim_end_matches('`'))
                        .is_some_and(|j| j > i)
                    {
                        m.push_str(" (a param may use only the params declared before it)");
                    }
                    self.diags.push(self.diag(m).field(format!("params.{name}")));
                }
            }
        }
    }
}

/// The value `-p k=v` gives a param declared as `declared`. For a string param it is the text
/// as typed (`1.10` stays `1.10`, `0x1F` stays `0x1F`); otherwise it is parsed as YAML and must
/// be of the declared kind. A param declared `null` takes any value. Values recorded by older
/// states are already typed, and are checked the same way.
pub(super) fn typed_override(
    name: &str,
    declared: &serde_json::Value,
    given: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    use serde_json::Value as V;
    let value = match (declared, given) {
        (V::String(_), V::String(raw)) => return Ok(V::String(raw.clone())),
        (V::String(_), other) => return Ok(V::String(other.to_string())),
        (_, V::String(raw)) => parse_param_value(raw),
        (_, other) => other.clone(),
    };
    let kind = |v: &V| match v {
        V::Null => "null",
        V::Bool(_) => "a boolean",
        V::Number(_) => "a number",
        V::String(_) => "a string",
        V::Array(_) => "a list",
        V::Object(_) => "a mapping",
    };
    if declared.is_null() || std::mem::discriminant(declared) == std::mem::discriminant(&value) {
        return Ok(value);
    }
    let shown = match given {
        V::String(raw) => raw.clone(),
        other => other.to_string(),
    };
    Err(format!(
        "`-p {name}={shown}`: param `{name}` is declared as {}, and `{shown}` is {}",
        kind(declared),
        kind(&value)
    ))
}

/// Parses the value of `-p key=value` as YAML data, falling back to a plain string.
pub fn parse_param_value(raw: &str) -> serde_json::Value {
    if raw.is_empty() {
        return serde_json::Value::String(String::new());
    }
    match yaml::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(m)) if raw.trim_start().starts_with('{') => serde_json::Value::Object(m),
        Ok(serde_json::Value::Object(_)) | Ok(serde_json::Value::Null) | Err(_) => {
            if raw.trim() == "null" || raw.trim() == "~" {
                serde_json::Value::Null
            } else {
                serde_json::Value::String(raw.to_owned())
            }
        }
        Ok(v) => v,
    }
}
