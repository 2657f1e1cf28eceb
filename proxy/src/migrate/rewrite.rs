//! The configuration file rewritten to read the moved secrets from their new place, edited
//! with `toml_edit` so comments, order and layout survive; and the diff shown to the user,
//! with every inline secret value masked (the diff is printed, the values must not be).

use hookguard_config::{SecretSpec, VaultRef};
use toml_edit::{DocumentMut, InlineTable, Item, Value};

/// The keys that name a source; a moved secret loses its old one.
const SOURCE_KEYS: [&str; 5] = ["value", "env", "file", "vault", "infisical"];

/// Shown instead of a secret written in the file.
const MASK: &str = "[redacted]";

/// The `vault = {…}` / `infisical = {…}` entry of `spec` (its one remote source), with
/// settings left at their defaults omitted.
fn source_entry(spec: &SecretSpec) -> Option<(&'static str, InlineTable)> {
    let mut table = InlineTable::new();
    if let Some(v) = &spec.vault {
        let VaultRef {
            addr,
            mount,
            path,
            key,
            namespace,
            token_env,
        } = v;
        table.insert("addr", addr.as_str().into());
        if mount != "secret" {
            table.insert("mount", mount.as_str().into());
        }
        table.insert("path", path.as_str().into());
        table.insert("key", key.as_str().into());
        if let Some(namespace) = namespace {
            table.insert("namespace", namespace.as_str().into());
        }
        if token_env != "VAULT_TOKEN" {
            table.insert("token_env", token_env.as_str().into());
        }
        return Some(("vault", table));
    }
    let i = spec.infisical.as_ref()?;
    table.insert("addr", i.addr.as_str().into());
    table.insert("project_id", i.project_id.as_str().into());
    table.insert("environment", i.environment.as_str().into());
    if i.path != "/" {
        table.insert("path", i.path.as_str().into());
    }
    table.insert("name", i.name.as_str().into());
    if i.client_id_env != "INFISICAL_CLIENT_ID" {
        table.insert("client_id_env", i.client_id_env.as_str().into());
    }
    if i.client_secret_env != "INFISICAL_CLIENT_SECRET" {
        table.insert("client_secret_env", i.client_secret_env.as_str().into());
    }
    Some(("infisical", table))
}

/// Calls `visit(route_id, secret_id, secret)` for every route secret in the document,
/// whichever TOML form the file uses (`[[routes]]` or `routes = [...]`, `secrets = [{…}]`
/// or `[[routes.secrets]]`).
fn each_secret(doc: &mut DocumentMut, mut visit: impl FnMut(&str, &str, Secret<'_>)) {
    let Some(routes) = doc.get_mut("routes") else {
        return;
    };
    let mut on_route = |route: &mut dyn toml_edit::TableLike| {
        let id = route
            .get("id")
            .and_then(Item::as_str)
            .unwrap_or_default()
            .to_owned();
        match route.get_mut("secrets") {
            Some(Item::ArrayOfTables(secrets)) => {
                for secret in secrets.iter_mut() {
                    let sid = secret
                        .get("id")
                        .and_then(Item::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    visit(&id, &sid, Secret::Table(secret));
                }
            }
            Some(Item::Value(Value::Array(secrets))) => {
                for secret in secrets.iter_mut() {
                    if let Some(secret) = secret.as_inline_table_mut() {
                        let sid = secret
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        visit(&id, &sid, Secret::Inline(secret));
                    }
                }
            }
            _ => {}
        }
    };
    match routes {
        Item::ArrayOfTables(routes) => {
            for route in routes.iter_mut() {
                on_route(route);
            }
        }
        Item::Value(Value::Array(routes)) => {
            for route in routes.iter_mut() {
                if let Some(route) = route.as_inline_table_mut() {
                    on_route(route);
                }
            }
        }
        _ => {}
    }
}

/// A secret entry in either TOML form.
enum Secret<'a> {
    Table(&'a mut toml_edit::Table),
    Inline(&'a mut InlineTable),
}

impl Secret<'_> {
    fn set_source(self, name: &str, entry: InlineTable) {
        match self {
            Secret::Table(table) => {
                for key in SOURCE_KEYS {
                    table.remove(key);
                }
                table.insert(name, Item::Value(Value::InlineTable(entry)));
            }
            Secret::Inline(table) => {
                for key in SOURCE_KEYS {
                    table.remove(key);
                }
                table.insert(name, Value::InlineTable(entry));
            }
        }
    }

    fn mask_value(self) {
        match self {
            Secret::Table(table) => {
                if let Some(value) = table.get_mut("value").and_then(Item::as_value_mut) {
                    let decor = value.decor().clone();
                    *value = MASK.into();
                    *value.decor_mut() = decor;
                }
            }
            Secret::Inline(table) => {
                if let Some(value) = table.get_mut("value") {
                    let decor = value.decor().clone();
                    *value = MASK.into();
                    *value.decor_mut() = decor;
                }
            }
        }
    }
}

/// `text` with each `(route, new spec)` pointing at its new source. An error names a
/// secret that is not found in the file as written (e.g. set only by an override).
pub(crate) fn rewrite(text: &str, moved: &[(&str, &SecretSpec)]) -> Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| format!("the configuration is not TOML that can be edited: {e}"))?;
    let mut done = vec![false; moved.len()];
    each_secret(&mut doc, |route, secret_id, secret| {
        if let Some(index) = moved
            .iter()
            .position(|(r, spec)| *r == route && spec.id == secret_id)
        {
            if let Some((name, entry)) = source_entry(moved[index].1) {
                secret.set_source(name, entry);
                done[index] = true;
            }
        }
    });
    if let Some(index) = done.iter().position(|d| !d) {
        let (route, spec) = moved[index];
        return Err(format!(
            "route {route} secret {}: not found in the file as written; edit it by hand",
            spec.id
        ));
    }
    Ok(doc.to_string())
}

/// `text` with every route secret's inline `value` masked, for showing.
pub(crate) fn masked(text: &str) -> String {
    let Ok(mut doc) = text.parse::<DocumentMut>() else {
        return String::new();
    };
    each_secret(&mut doc, |_, _, secret| secret.mask_value());
    doc.to_string()
}

/// A unified diff of the two configurations, inline values masked.
pub(crate) fn diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    let (old, new) = (masked(old), masked(new));
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(2)
        .header(old_name, new_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault_spec(id: &str) -> SecretSpec {
        let mut spec: SecretSpec = toml::from_str(&format!(
            "id = \"{id}\"\nvault = {{ addr = \"http://v\", path = \"hookguard/github\", key = \"{id}\" }}"
        ))
        .unwrap();
        spec.rotated_at = None;
        spec
    }

    #[test]
    fn both_toml_forms_are_rewritten_and_comments_survive() {
        let text = r#"# top comment
[[routes]]
id = "github"
secrets = [{ id = "primary", value = "s3cret" }, { id = "next", env = "NEXT" }]

[[routes]]
id = "other"
[[routes.secrets]]
id = "primary" # keep me
file = "secret.txt"
"#;
        let primary = vault_spec("primary");
        let out = rewrite(text, &[("github", &primary), ("other", &primary)]).unwrap();
        assert!(out.starts_with("# top comment"));
        assert!(!out.contains("s3cret"));
        assert!(out.contains("env = \"NEXT\""), "{out}");
        assert!(out.contains("# keep me"));
        assert!(!out.contains("secret.txt"));
        assert_eq!(out.matches("vault = {").count(), 2, "{out}");
        let err = rewrite(text, &[("nope", &primary)]).unwrap_err();
        assert!(err.contains("route nope secret primary"), "{err}");
    }

    #[test]
    fn the_diff_never_shows_an_inline_value() {
        let text = "[[routes]]\nid = \"a\"\nsecrets = [{ id = \"primary\", value = \"s3cret\" }, { id = \"next\", value = \"n3xt\" }]\n";
        let primary = vault_spec("primary");
        let out = rewrite(text, &[("a", &primary)]).unwrap();
        let shown = diff(text, &out, "a", "b");
        assert!(shown.contains("vault = {"), "{shown}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("n3xt"),
            "{shown}"
        );
        assert!(shown.contains(MASK));
    }
}
