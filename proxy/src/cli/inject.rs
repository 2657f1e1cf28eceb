//! `hookguard inject`: add hookguard as a sidecar to a Deployment, offline.
//!
//! Reads a multi-document YAML file (a Deployment and, optionally, the Services in front of
//! it), adds the sidecar, its volumes and probes, points the Service's target port at
//! hookguard and prints every document to stdout. Like `linkerd inject`, it never talks to a
//! cluster. YAML comments are not kept (saphyr, the YAML library the configuration already
//! uses, loads and emits; comments are not part of its model).
//!
//! What it cannot do safely it refuses with exit code 2 and a message naming the document
//! and the field: no Deployment, several Deployments, an already injected pod, several app
//! containers without `--container`, a Service target port it cannot resolve, a port clash,
//! invalid YAML.

use std::borrow::Cow;
use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use saphyr::{LoadableYamlNode, Scalar, Yaml, YamlEmitter};

/// The sidecar's container name; its presence means "already injected".
const NAME: &str = "hookguard";
/// Where hookguard listens for deliveries (the Service's new target port).
const PORT: i64 = 8080;
/// The admin listener: /livez, /readyz, /metrics.
const ADMIN_PORT: i64 = 9090;
const CONFIG_VOLUME: &str = "hookguard-config";
const SECRETS_VOLUME: &str = "hookguard-secrets";
const CONFIG_DIR: &str = "/etc/hookguard";
const SECRETS_DIR: &str = "/etc/hookguard-secrets";
/// hookguard drains for `shutdown_grace_period` (10 s by default): the pod must wait longer.
const MIN_TERMINATION_GRACE: i64 = 15;
/// The classic sidecar's preStop pause, so endpoints are removed before hookguard drains.
const PRESTOP_SLEEP_SECONDS: i64 = 5;

#[derive(Debug, Args)]
pub(crate) struct InjectArgs {
    /// The manifests: a Deployment and optionally its Service(s); '-' reads stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: PathBuf,
    /// The ConfigMap holding hookguard.toml (mounted as a directory at /etc/hookguard).
    #[arg(long, value_name = "NAME", default_value = "hookguard")]
    config_map: String,
    /// The Secret holding secret files (mounted at /etc/hookguard-secrets; optional).
    #[arg(long, value_name = "NAME", default_value = "hookguard-secrets")]
    secret: String,
    /// The hookguard image.
    #[arg(long, value_name = "IMAGE", default_value = concat!("ghcr.io/hookguard/hookguard:", env!("CARGO_PKG_VERSION")))]
    image: String,
    /// The app's webhook port (default: the container port the Service targeted).
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    app_port: Option<u16>,
    /// The app container, when the pod has several.
    #[arg(long, value_name = "NAME")]
    container: Option<String>,
    /// A classic sidecar (a regular container with a preStop sleep) for Kubernetes < 1.29.
    #[arg(long)]
    classic: bool,
}

pub(crate) fn run(args: InjectArgs) -> Result<u8, String> {
    let (source, input) = read_input(&args.file)?;
    let output = inject(&source, &input, &args)?;
    print!("{output}");
    Ok(0)
}

fn read_input(file: &PathBuf) -> Result<(String, String), String> {
    if file.as_os_str() == "-" {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .map_err(|e| format!("reading stdin: {e}"))?;
        return Ok(("<stdin>".to_owned(), input));
    }
    let source = file.display().to_string();
    let input = std::fs::read_to_string(file).map_err(|e| format!("{source}: {e}"))?;
    Ok((source, input))
}

/// Inject into the documents of `input`; `source` names the file in messages.
fn inject(source: &str, input: &str, args: &InjectArgs) -> Result<String, String> {
    let mut docs =
        Yaml::load_from_str(input).map_err(|e| format!("{source}: invalid YAML: {e}"))?;
    for (i, doc) in docs.iter().enumerate() {
        if !doc.is_mapping() && !doc.is_null() {
            return Err(format!(
                "{source}: document {}: expected a Kubernetes object (a mapping)",
                i + 1
            ));
        }
    }

    let deployments: Vec<usize> = (0..docs.len())
        .filter(|&i| kind(&docs[i]) == Some("Deployment"))
        .collect();
    let d = match deployments.as_slice() {
        [] => return Err(format!("{source}: no Deployment found (kind: Deployment)")),
        [d] => *d,
        _ => {
            return Err(format!(
                "{source}: {} Deployments found; inject one at a time",
                deployments.len()
            ))
        }
    };
    let where_ = format!(
        "{source}: document {} (Deployment {})",
        d + 1,
        name(&docs[d])
    );

    // The pod template: labels (to find the Service) and spec.
    let template = docs[d]
        .as_mapping_get("spec")
        .and_then(|s| s.as_mapping_get("template"))
        .ok_or_else(|| format!("{where_}: no spec.template"))?;
    let labels: Vec<(String, String)> = template
        .as_mapping_get("metadata")
        .and_then(|m| m.as_mapping_get("labels"))
        .and_then(Yaml::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((scalar_string(k)?, scalar_string(v)?)))
                .collect()
        })
        .unwrap_or_default();
    let pod = template
        .as_mapping_get("spec")
        .ok_or_else(|| format!("{where_}: no spec.template.spec"))?;

    // Already injected?
    for field in ["containers", "initContainers"] {
        for c in seq(pod.as_mapping_get(field)) {
            if str_field(c, "name") == Some(NAME) {
                return Err(format!(
                    "{where_}: already injected (spec.template.spec.{field} has a container named {NAME})"
                ));
            }
        }
    }
    for v in seq(pod.as_mapping_get("volumes")) {
        let n = str_field(v, "name");
        if n == Some(CONFIG_VOLUME) || n == Some(SECRETS_VOLUME) {
            return Err(format!(
                "{where_}: already injected (spec.template.spec.volumes has a volume named {})",
                n.unwrap_or_default()
            ));
        }
    }

    // The app container.
    let containers = seq(pod.as_mapping_get("containers"));
    let names: Vec<&str> = containers
        .iter()
        .map(|c| str_field(c, "name").unwrap_or("?"))
        .collect();
    let app = match (&args.container, containers.len()) {
        (_, 0) => return Err(format!("{where_}: spec.template.spec.containers is empty")),
        (Some(want), _) => containers
            .iter()
            .find(|c| str_field(c, "name") == Some(want.as_str()))
            .ok_or_else(|| {
                format!(
                    "{where_}: --container {want}: no such container (containers: {})",
                    names.join(", ")
                )
            })?,
        (None, 1) => &containers[0],
        (None, _) => {
            return Err(format!(
                "{where_}: several containers ({}); say which one receives the webhooks with --container NAME",
                names.join(", ")
            ))
        }
    };
    let app_name = str_field(app, "name").unwrap_or("?").to_owned();
    let app_ports: Vec<(Option<String>, i64)> = seq(app.as_mapping_get("ports"))
        .iter()
        .filter_map(|p| {
            let port = p.as_mapping_get("containerPort")?.as_integer()?;
            Some((str_field(p, "name").map(str::to_owned), port))
        })
        .collect();

    // Ports the sidecar takes must be free in the whole pod (one network namespace).
    for field in ["containers", "initContainers"] {
        for c in seq(pod.as_mapping_get(field)) {
            for p in seq(c.as_mapping_get("ports")) {
                let port = p.as_mapping_get("containerPort").and_then(Yaml::as_integer);
                if port == Some(PORT) || port == Some(ADMIN_PORT) {
                    return Err(format!(
                        "{where_}: container {} uses port {}, which hookguard listens on",
                        str_field(c, "name").unwrap_or("?"),
                        port.unwrap_or_default()
                    ));
                }
            }
        }
    }
    if let Some(p) = args.app_port {
        if i64::from(p) == PORT || i64::from(p) == ADMIN_PORT {
            return Err(format!(
                "--app-port {p}: hookguard listens on {PORT} and {ADMIN_PORT}; the app needs another port"
            ));
        }
    }

    // The Services selecting this pod, and which of their ports reach the app.
    let mut rewrites: Vec<(usize, usize)> = Vec::new(); // (document, port index)
    let mut app_port = args.app_port.map(i64::from);
    for (i, doc) in docs.iter().enumerate() {
        if kind(doc) != Some("Service") || !selects(doc, &labels) {
            continue;
        }
        let swhere = format!("{source}: document {} (Service {})", i + 1, name(doc));
        let ports = seq(doc
            .as_mapping_get("spec")
            .and_then(|s| s.as_mapping_get("ports")));
        let mut resolved = Vec::new();
        for (j, p) in ports.iter().enumerate() {
            let target = resolve_target(p, &app_ports).map_err(|why| {
                format!("{swhere}: spec.ports[{j}]: cannot resolve targetPort: {why}")
            })?;
            resolved.push((j, target));
        }
        let chosen: Vec<(usize, i64)> = match app_port {
            Some(want) => resolved.into_iter().filter(|&(_, t)| t == want).collect(),
            None if resolved.len() == 1 => resolved,
            None if resolved.is_empty() => Vec::new(),
            None => {
                return Err(format!(
                "{swhere}: several ports; say which one is the webhook port with --app-port PORT"
            ))
            }
        };
        if chosen.is_empty() {
            return Err(format!(
                "{swhere}: no port targets the app's webhook port {}",
                app_port.map_or_else(|| "?".to_owned(), |p| p.to_string())
            ));
        }
        for (j, target) in chosen {
            if !app_ports.is_empty() && !app_ports.iter().any(|(_, p)| *p == target) {
                return Err(format!(
                    "{swhere}: spec.ports[{j}]: targetPort {target} is not a port of container {app_name}"
                ));
            }
            app_port = Some(target);
            rewrites.push((i, j));
        }
    }
    let app_port = match app_port {
        Some(p) => p,
        None => match app_ports.as_slice() {
            [(_, p)] => *p,
            _ => {
                return Err(format!(
                    "{where_}: cannot tell the app's webhook port (no Service selects the pod and container {app_name} declares {} ports); give --app-port PORT",
                    app_ports.len()
                ))
            }
        },
    };
    if app_port == PORT || app_port == ADMIN_PORT {
        return Err(format!(
            "{where_}: the app's webhook port is {app_port}, which hookguard listens on; move the app to another port"
        ));
    }

    // Edit: the Services first (they only need indices), then the pod.
    for (i, j) in rewrites {
        let port = docs[i]
            .as_mapping_get_mut("spec")
            .and_then(|s| s.as_mapping_get_mut("ports"))
            .and_then(|p| p.as_sequence_get_mut(j))
            .and_then(Yaml::as_mapping_mut)
            .expect("checked above");
        *slot(port, "targetPort") = int(PORT);
    }
    let template = docs[d]
        .as_mapping_get_mut("spec")
        .and_then(|s| s.as_mapping_get_mut("template"))
        .expect("checked above");
    add_annotations(template, args.classic.then_some(app_name.as_str()));
    let pod = template
        .as_mapping_get_mut("spec")
        .and_then(Yaml::as_mapping_mut)
        .ok_or_else(|| format!("{where_}: spec.template.spec is not a mapping"))?;
    let field = if args.classic {
        "containers"
    } else {
        "initContainers"
    };
    push(pod, field, sidecar(args));
    push(pod, "volumes", config_volume(&args.config_map));
    push(pod, "volumes", secrets_volume(&args.secret));
    let grace = pod
        .get(&s("terminationGracePeriodSeconds"))
        .and_then(Yaml::as_integer);
    if grace.is_some_and(|g| g < MIN_TERMINATION_GRACE) {
        *slot(pod, "terminationGracePeriodSeconds") = int(MIN_TERMINATION_GRACE);
    }

    eprintln!(
        "hookguard: injected into Deployment {} ({}); ConfigMap {} must hold hookguard.toml with \
         listen = \"0.0.0.0:{PORT}\", admin_listen = \"0.0.0.0:{ADMIN_PORT}\" and \
         upstream.address = \"127.0.0.1:{app_port}\"",
        name(&docs[d]),
        if args.classic {
            "classic sidecar"
        } else {
            "native sidecar"
        },
        args.config_map,
    );
    emit(&docs)
}

fn emit(docs: &[Yaml]) -> Result<String, String> {
    let mut out = String::new();
    for doc in docs {
        let mut emitter = YamlEmitter::new(&mut out);
        emitter.multiline(true);
        emitter
            .dump(doc)
            .map_err(|e| format!("writing YAML: {e}"))?;
        out.push('\n');
    }
    Ok(out)
}

/// The container port a Service port reaches: targetPort as a number, a name looked up in
/// the app container's ports, or (absent) the Service port itself.
fn resolve_target(port: &Yaml, app_ports: &[(Option<String>, i64)]) -> Result<i64, String> {
    match port.as_mapping_get("targetPort") {
        None => port
            .as_mapping_get("port")
            .and_then(Yaml::as_integer)
            .ok_or_else(|| "neither targetPort nor port is a number".to_owned()),
        Some(t) => {
            if let Some(n) = t.as_integer() {
                return Ok(n);
            }
            let Some(want) = t.as_str() else {
                return Err("targetPort is neither a number nor a name".to_owned());
            };
            if let Ok(n) = want.parse::<i64>() {
                return Ok(n);
            }
            app_ports
                .iter()
                .find(|(n, _)| n.as_deref() == Some(want))
                .map(|(_, p)| *p)
                .ok_or_else(|| format!("the app container has no port named {want:?}"))
        }
    }
}

/// A Service selects the pod when every selector label is on the pod template.
fn selects(service: &Yaml, labels: &[(String, String)]) -> bool {
    let Some(selector) = service
        .as_mapping_get("spec")
        .and_then(|s| s.as_mapping_get("selector"))
        .and_then(Yaml::as_mapping)
    else {
        return false;
    };
    !selector.is_empty()
        && selector.iter().all(|(k, v)| {
            let (Some(k), Some(v)) = (scalar_string(k), scalar_string(v)) else {
                return false;
            };
            labels.iter().any(|(lk, lv)| *lk == k && *lv == v)
        })
}

fn add_annotations(template: &mut Yaml, default_container: Option<&str>) {
    let Some(t) = template.as_mapping_mut() else {
        return;
    };
    let Some(meta) = slot(t, "metadata").as_mapping_mut() else {
        return;
    };
    let Some(ann) = slot(meta, "annotations").as_mapping_mut() else {
        return;
    };
    let mut add = |k: &str, v: &str| {
        if ann.get(&s(k)).is_none() {
            ann.insert(s(k), s(v));
        }
    };
    add("prometheus.io/scrape", "true");
    add("prometheus.io/port", &ADMIN_PORT.to_string());
    add("prometheus.io/path", "/metrics");
    if let Some(app) = default_container {
        // `kubectl logs/exec` keep going to the app, not to the sidecar.
        add("kubectl.kubernetes.io/default-container", app);
    }
}

fn sidecar(args: &InjectArgs) -> Yaml<'static> {
    let probe = |path: &str, period: i64, failures: i64| {
        map(vec![
            (
                "httpGet",
                map(vec![("path", s(path)), ("port", s("hookguard-admin"))]),
            ),
            ("periodSeconds", int(period)),
            ("failureThreshold", int(failures)),
        ])
    };
    let mut fields = vec![
        ("name", s(NAME)),
        ("image", s(&args.image)),
        (
            "args",
            Yaml::Sequence(vec![
                s("run"),
                s("-c"),
                s(&format!("{CONFIG_DIR}/hookguard.toml")),
            ]),
        ),
    ];
    if !args.classic {
        fields.push(("restartPolicy", s("Always")));
    }
    fields.extend([
        (
            "ports",
            Yaml::Sequence(vec![
                map(vec![
                    ("name", s("hookguard")),
                    ("containerPort", int(PORT)),
                    ("protocol", s("TCP")),
                ]),
                map(vec![
                    ("name", s("hookguard-admin")),
                    ("containerPort", int(ADMIN_PORT)),
                    ("protocol", s("TCP")),
                ]),
            ]),
        ),
        ("startupProbe", probe("/livez", 1, 30)),
        ("livenessProbe", probe("/livez", 10, 3)),
        ("readinessProbe", probe("/readyz", 5, 2)),
        (
            "resources",
            map(vec![
                (
                    "requests",
                    map(vec![("cpu", s("50m")), ("memory", s("32Mi"))]),
                ),
                ("limits", map(vec![("cpu", s("1")), ("memory", s("128Mi"))])),
            ]),
        ),
        (
            "securityContext",
            map(vec![
                ("runAsNonRoot", Yaml::Value(Scalar::Boolean(true))),
                ("runAsUser", int(65532)),
                ("runAsGroup", int(65532)),
                ("readOnlyRootFilesystem", Yaml::Value(Scalar::Boolean(true))),
                (
                    "allowPrivilegeEscalation",
                    Yaml::Value(Scalar::Boolean(false)),
                ),
                (
                    "capabilities",
                    map(vec![("drop", Yaml::Sequence(vec![s("ALL")]))]),
                ),
                ("seccompProfile", map(vec![("type", s("RuntimeDefault"))])),
            ]),
        ),
        (
            "volumeMounts",
            Yaml::Sequence(vec![
                map(vec![
                    ("name", s(CONFIG_VOLUME)),
                    ("mountPath", s(CONFIG_DIR)),
                    ("readOnly", Yaml::Value(Scalar::Boolean(true))),
                ]),
                map(vec![
                    ("name", s(SECRETS_VOLUME)),
                    ("mountPath", s(SECRETS_DIR)),
                    ("readOnly", Yaml::Value(Scalar::Boolean(true))),
                ]),
            ]),
        ),
    ]);
    if args.classic {
        // Keep accepting while the endpoint is removed; then SIGTERM starts the drain.
        fields.push((
            "lifecycle",
            map(vec![(
                "preStop",
                map(vec![(
                    "exec",
                    map(vec![(
                        "command",
                        // The image may have no shell or `sleep`: hookguard sleeps itself.
                        Yaml::Sequence(vec![
                            s("hookguard"),
                            s("sleep"),
                            s(&PRESTOP_SLEEP_SECONDS.to_string()),
                        ]),
                    )]),
                )]),
            )]),
        ));
    }
    map(fields)
}

fn config_volume(name: &str) -> Yaml<'static> {
    // A directory mount (never subPath): the kubelet's atomic updates reach hookguard's reload.
    map(vec![
        ("name", s(CONFIG_VOLUME)),
        ("configMap", map(vec![("name", s(name))])),
    ])
}

fn secrets_volume(name: &str) -> Yaml<'static> {
    map(vec![
        ("name", s(SECRETS_VOLUME)),
        (
            "secret",
            map(vec![
                ("secretName", s(name)),
                // A configuration that reads its secrets from the environment needs none.
                ("optional", Yaml::Value(Scalar::Boolean(true))),
            ]),
        ),
    ])
}

fn push(pod: &mut saphyr::Mapping<'_>, field: &str, item: Yaml<'static>) {
    let entry = slot(pod, field);
    if !entry.is_sequence() {
        *entry = Yaml::Sequence(Vec::new());
    }
    if let Some(v) = entry.as_vec_mut() {
        v.push(item);
    }
}

/// The value at `key`, in place (an existing key keeps its position); an empty mapping
/// appended at the end when absent.
fn slot<'a, 'b>(m: &'a mut saphyr::Mapping<'b>, key: &str) -> &'a mut Yaml<'b> {
    if m.get(&s(key)).is_none() {
        m.insert(s(key), Yaml::Mapping(saphyr::Mapping::new()));
    }
    m.get_mut(&s(key)).expect("just inserted")
}

fn kind<'a>(doc: &'a Yaml) -> Option<&'a str> {
    str_field(doc, "kind")
}

fn name(doc: &Yaml) -> String {
    doc.as_mapping_get("metadata")
        .and_then(|m| str_field(m, "name"))
        .unwrap_or("(unnamed)")
        .to_owned()
}

fn str_field<'a>(node: &'a Yaml, key: &str) -> Option<&'a str> {
    node.as_mapping_get(key).and_then(Yaml::as_str)
}

fn seq<'a, 'b>(node: Option<&'a Yaml<'b>>) -> &'a [Yaml<'b>] {
    node.and_then(Yaml::as_vec).map_or(&[], Vec::as_slice)
}

fn scalar_string(node: &Yaml) -> Option<String> {
    match node {
        Yaml::Value(Scalar::String(v)) => Some(v.to_string()),
        Yaml::Value(Scalar::Integer(v)) => Some(v.to_string()),
        Yaml::Value(Scalar::Boolean(v)) => Some(v.to_string()),
        _ => None,
    }
}

fn s(v: &str) -> Yaml<'static> {
    Yaml::Value(Scalar::String(Cow::Owned(v.to_owned())))
}

fn int(v: i64) -> Yaml<'static> {
    Yaml::Value(Scalar::Integer(v))
}

fn map(fields: Vec<(&str, Yaml<'static>)>) -> Yaml<'static> {
    Yaml::Mapping(fields.into_iter().map(|(k, v)| (s(k), v)).collect())
}
