//! Checks of a route's secrets. No message ever contains a secret's value.

use hookguard_layers::verify::{Keyring, Scheme};

use super::{check_identifier, check_url, Validator};
use crate::env::is_valid_var_name;
use crate::path::FieldPath;
use crate::schema::{Route, SecretSource, SecretSourceError, SecretSpec};

const SOURCES: &str = "exactly one of `value`, `env`, `file`, `vault` or `infisical`";

impl Validator<'_> {
    pub(super) fn secrets(&mut self, p: &FieldPath, route: &Route, scheme: Option<&dyn Scheme>) {
        let at = p.key("secrets");
        if route.secrets.is_empty() {
            self.issues.add(
                at.clone(),
                "the route has no secrets, so no request could be verified",
                "at least one secret, e.g. secrets = [{ id = \"primary\", env = \"GITHUB_WEBHOOK_SECRET\" }]",
            );
        }
        for (j, secret) in route.secrets.iter().enumerate() {
            let sp = at.index(j);
            check_identifier(&mut self.issues, sp.key("id"), &secret.id, "secret id");
            if let Some(first) = route.secrets[..j].iter().position(|s| s.id == secret.id) {
                self.issues.add(
                    sp.key("id"),
                    format!(
                        "secret id {:?} is already used by secrets[{first}]",
                        secret.id
                    ),
                    "secret ids unique in the route",
                );
            }
            if secret.max_age.is_some_and(|m| m.get().is_zero()) {
                self.issues.add(
                    sp.key("max_age"),
                    "a max_age of 0 is always exceeded",
                    "a duration such as \"90d\"",
                );
            }
            self.secret(&sp, &route.scheme, secret, scheme);
        }
    }

    pub(super) fn secret(
        &mut self,
        sp: &FieldPath,
        scheme_name: &str,
        secret: &SecretSpec,
        scheme: Option<&dyn Scheme>,
    ) {
        let sources: Vec<&'static str> = secret.sources().map(|s| s.field()).collect();
        let source = match (secret.source(), sources.as_slice()) {
            (Some(source), _) => source,
            (None, []) => {
                self.issues
                    .add(sp.clone(), "the secret names no source", SOURCES);
                return;
            }
            (None, several) => {
                self.issues.add(
                    sp.key(several[1]),
                    format!("the secret names several sources: {}", several.join(", ")),
                    SOURCES,
                );
                return;
            }
        };
        let field = sp.key(source.field());
        match source {
            SecretSource::Env(name) if !is_valid_var_name(name) => {
                // Not echoed: a secret pasted here by mistake must not reach a log.
                self.issues.add(
                    field.clone(),
                    "this is not an environment variable name",
                    "a name of letters, digits and `_`, such as GITHUB_WEBHOOK_SECRET",
                );
                return;
            }
            SecretSource::Vault(vault) => {
                check_url(&mut self.issues, field.key("addr"), &vault.addr);
                for (key, value) in [
                    ("mount", &vault.mount),
                    ("path", &vault.path),
                    ("key", &vault.key),
                ] {
                    self.non_empty(field.key(key), value);
                }
                self.credential_var(field.key("token_env"), &vault.token_env);
                return;
            }
            SecretSource::Infisical(inf) => {
                check_url(&mut self.issues, field.key("addr"), &inf.addr);
                for (key, value) in [
                    ("project_id", &inf.project_id),
                    ("environment", &inf.environment),
                    ("name", &inf.name),
                ] {
                    self.non_empty(field.key(key), value);
                }
                if !inf.path.starts_with('/') {
                    self.issues.add(
                        field.key("path"),
                        format!("{:?} does not start with /", inf.path),
                        "a folder path such as \"/\" or \"/webhooks\"",
                    );
                }
                self.credential_var(field.key("client_id_env"), &inf.client_id_env);
                self.credential_var(field.key("client_secret_env"), &inf.client_secret_env);
                return;
            }
            _ => {}
        }
        let value = match secret.resolve_local(self.env, &self.base_dir) {
            Ok(Some(value)) => value,
            Ok(None) => return,
            Err(SecretSourceError::EnvUnset(name)) => {
                self.issues.add(
                    field,
                    format!("environment variable {name} is not set"),
                    format!("{name} set in the sidecar's environment"),
                );
                return;
            }
            Err(SecretSourceError::File { path, problem }) => {
                self.issues.add(
                    field,
                    format!("cannot read {}: {problem}", path.display()),
                    "a readable file holding the secret",
                );
                return;
            }
            Err(e) => {
                self.issues.add(field, e.to_string(), "a non-empty secret");
                return;
            }
        };
        let Some(scheme) = scheme else {
            return;
        };
        if let Err(e) = Keyring::from_secrets(scheme, [value.expose()]) {
            let from = match source {
                SecretSource::Env(name) => format!("the value of {name}"),
                SecretSource::File(_) => "the file's content".to_string(),
                _ => "the secret".to_string(),
            };
            self.issues.add(
                field,
                format!(
                    "{from} cannot be used with scheme {scheme_name}: {}",
                    e.problem
                ),
                e.expected,
            );
        }
    }

    fn non_empty(&mut self, path: FieldPath, value: &str) {
        if value.trim().is_empty() {
            self.issues.add(path, "this is empty", "a value");
        }
    }

    /// A variable holding a credential for a secret store: named well and set.
    fn credential_var(&mut self, path: FieldPath, name: &str) {
        if !is_valid_var_name(name) {
            self.issues.add(
                path,
                "this is not an environment variable name",
                "a name of letters, digits and `_`",
            );
        } else if self.env.var(name).is_none() {
            self.issues.add(
                path,
                format!("environment variable {name} is not set"),
                format!("{name} set in the sidecar's environment"),
            );
        }
    }
}
