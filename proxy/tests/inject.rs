//! `hookguard inject`: the binary on fixture manifests; the output is parsed back and its
//! structure checked.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use saphyr::{LoadableYamlNode, Yaml};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/inject");

fn inject(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookguard"))
        .arg("inject")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hookguard");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("wait")
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn ok(args: &[&str]) -> (String, Vec<Yaml<'static>>) {
    let o = inject(args, None);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "inject {args:?} failed: {stderr}");
    let out = String::from_utf8(o.stdout).expect("utf-8");
    let docs = Yaml::load_from_str(&out)
        .expect("the output is YAML")
        .into_iter()
        .map(owned)
        .collect();
    (out, docs)
}

/// The loaded documents borrow the text; re-load from a leaked copy to keep them simple.
fn owned(doc: Yaml<'_>) -> Yaml<'static> {
    let mut text = String::new();
    saphyr::YamlEmitter::new(&mut text)
        .dump(&doc)
        .expect("emit");
    let text: &'static str = Box::leak(text.into_boxed_str());
    Yaml::load_from_str(text).expect("reload").remove(0)
}

fn refused(args: &[&str], stdin: Option<&str>, expect: &[&str]) {
    let o = inject(args, stdin);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "inject {args:?}: {stderr}");
    assert!(o.stdout.is_empty(), "nothing on stdout when refusing");
    for e in expect {
        assert!(stderr.contains(e), "stderr {stderr:?} lacks {e:?}");
    }
}

fn get<'a>(node: &'a Yaml<'static>, path: &str) -> &'a Yaml<'static> {
    let mut n = node;
    for key in path.split('.') {
        n = match key.parse::<usize>() {
            Ok(i) => n.as_sequence_get(i),
            Err(_) => n.as_mapping_get(key),
        }
        .unwrap_or_else(|| panic!("no {key} in {path}"));
    }
    n
}

fn str_at<'a>(node: &'a Yaml<'static>, path: &str) -> &'a str {
    get(node, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string"))
}

fn int_at(node: &Yaml<'static>, path: &str) -> i64 {
    get(node, path)
        .as_integer()
        .unwrap_or_else(|| panic!("{path} is not an integer"))
}

fn named<'a>(list: &'a Yaml<'static>, name: &str) -> &'a Yaml<'static> {
    list.as_vec()
        .expect("a list")
        .iter()
        .find(|c| c.as_mapping_get("name").and_then(Yaml::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no {name} in the list"))
}

fn kind<'a>(docs: &'a [Yaml<'static>], kind: &str, name: &str) -> &'a Yaml<'static> {
    docs.iter()
        .find(|d| str_at(d, "kind") == kind && str_at(d, "metadata.name") == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// What every injected sidecar has, native or classic.
fn assert_sidecar(pod: &Yaml<'static>, hg: &Yaml<'static>) {
    assert_eq!(str_at(hg, "args.2"), "/etc/hookguard/hookguard.toml");
    assert_eq!(
        int_at(named(get(hg, "ports"), "hookguard"), "containerPort"),
        8080
    );
    assert_eq!(
        int_at(named(get(hg, "ports"), "hookguard-admin"), "containerPort"),
        9090
    );
    for (probe, path) in [
        ("startupProbe", "/livez"),
        ("livenessProbe", "/livez"),
        ("readinessProbe", "/readyz"),
    ] {
        assert_eq!(str_at(hg, &format!("{probe}.httpGet.path")), path);
        assert_eq!(
            str_at(hg, &format!("{probe}.httpGet.port")),
            "hookguard-admin"
        );
    }
    let sc = get(hg, "securityContext");
    assert_eq!(get(sc, "runAsNonRoot").as_bool(), Some(true));
    assert_eq!(get(sc, "readOnlyRootFilesystem").as_bool(), Some(true));
    assert_eq!(get(sc, "allowPrivilegeEscalation").as_bool(), Some(false));
    assert_eq!(str_at(sc, "capabilities.drop.0"), "ALL");
    assert_eq!(str_at(sc, "seccompProfile.type"), "RuntimeDefault");
    assert!(get(hg, "resources.requests")
        .as_mapping_get("memory")
        .is_some());
    assert!(get(hg, "resources.limits")
        .as_mapping_get("memory")
        .is_some());

    let mounts = get(hg, "volumeMounts");
    for m in mounts.as_vec().expect("mounts") {
        assert!(m.as_mapping_get("subPath").is_none(), "no subPath: {m:?}");
    }
    assert_eq!(
        str_at(named(mounts, "hookguard-config"), "mountPath"),
        "/etc/hookguard"
    );
    let volumes = get(pod, "volumes");
    assert_eq!(
        str_at(named(volumes, "hookguard-config"), "configMap.name"),
        "hookguard"
    );
    assert_eq!(
        str_at(named(volumes, "hookguard-secrets"), "secret.secretName"),
        "hookguard-secrets"
    );
}

#[test]
fn one_container_gets_a_native_sidecar_and_the_service_targets_it() {
    let original = Yaml::load_from_str(Box::leak(
        std::fs::read_to_string(fixture("one-container.yaml"))
            .unwrap()
            .into_boxed_str(),
    ))
    .unwrap();
    let (_, docs) = ok(&["-f", &fixture("one-container.yaml")]);
    assert_eq!(docs.len(), 3, "every document is printed");

    let deploy = kind(&docs, "Deployment", "shop");
    let pod = get(deploy, "spec.template.spec");
    let hg = named(get(pod, "initContainers"), "hookguard");
    assert_eq!(str_at(hg, "restartPolicy"), "Always");
    assert!(hg.as_mapping_get("lifecycle").is_none());
    assert_sidecar(pod, hg);

    // The app container is untouched: the same node as in the input.
    assert_eq!(get(pod, "containers").as_vec().unwrap().len(), 1);
    assert_eq!(
        get(pod, "containers.0"),
        get(&original[0], "spec.template.spec.containers.0")
    );
    // Strings that look like other types stay strings.
    assert_eq!(str_at(pod, "containers.0.env.0.value"), "true");
    assert_eq!(str_at(pod, "containers.0.env.1.value"), "4");
    let ann = get(deploy, "spec.template.metadata.annotations");
    let annotation = |k: &str| ann.as_mapping_get(k).and_then(Yaml::as_str);
    assert_eq!(annotation("example.com/team"), Some("payments"));
    assert_eq!(annotation("prometheus.io/port"), Some("9090"));

    assert_eq!(
        int_at(kind(&docs, "Service", "shop"), "spec.ports.0.targetPort"),
        8080
    );
    assert_eq!(
        int_at(kind(&docs, "Service", "shop"), "spec.ports.0.port"),
        80
    );
    // A Service selecting other pods is left alone.
    assert_eq!(
        int_at(
            kind(&docs, "Service", "unrelated"),
            "spec.ports.0.targetPort"
        ),
        5000
    );
}

#[test]
fn options_name_the_config_map_secret_and_image() {
    let (_, docs) = ok(&[
        "-f",
        &fixture("one-container.yaml"),
        "--config-map",
        "shop-hookguard",
        "--secret",
        "shop-webhook-secrets",
        "--image",
        "registry.example.com/hookguard:1.2.3",
    ]);
    let pod = get(kind(&docs, "Deployment", "shop"), "spec.template.spec");
    let volumes = get(pod, "volumes");
    assert_eq!(
        str_at(named(volumes, "hookguard-config"), "configMap.name"),
        "shop-hookguard"
    );
    assert_eq!(
        str_at(named(volumes, "hookguard-secrets"), "secret.secretName"),
        "shop-webhook-secrets"
    );
    assert_eq!(
        str_at(named(get(pod, "initContainers"), "hookguard"), "image"),
        "registry.example.com/hookguard:1.2.3"
    );
}

#[test]
fn several_containers_need_container_and_then_inject_into_that_pod() {
    refused(
        &["-f", &fixture("several-containers.yaml")],
        None,
        &[
            "several-containers.yaml",
            "Deployment billing",
            "api, log-shipper",
            "--container",
        ],
    );
    refused(
        &[
            "-f",
            &fixture("several-containers.yaml"),
            "--container",
            "nope",
        ],
        None,
        &["--container nope", "no such container"],
    );

    let (_, docs) = ok(&[
        "-f",
        &fixture("several-containers.yaml"),
        "--container",
        "api",
    ]);
    let pod = get(kind(&docs, "Deployment", "billing"), "spec.template.spec");
    let inits = get(pod, "initContainers").as_vec().unwrap();
    assert_eq!(
        str_at(&inits[0], "name"),
        "migrate",
        "existing init containers keep their place"
    );
    assert_eq!(str_at(&inits[1], "name"), "hookguard");
    assert_eq!(str_at(&inits[1], "restartPolicy"), "Always");
    assert_sidecar(pod, &inits[1]);
    assert_eq!(get(pod, "containers").as_vec().unwrap().len(), 2);
    assert_eq!(int_at(pod, "containers.0.ports.0.containerPort"), 4000);
    // Longer than hookguard's 10 s drain.
    assert!(int_at(pod, "terminationGracePeriodSeconds") > 10);
    assert_eq!(
        int_at(kind(&docs, "Service", "billing"), "spec.ports.0.targetPort"),
        8080
    );
}

#[test]
fn classic_adds_a_regular_container_with_a_prestop_sleep() {
    let (_, docs) = ok(&["-f", &fixture("one-container.yaml"), "--classic"]);
    let deploy = kind(&docs, "Deployment", "shop");
    let pod = get(deploy, "spec.template.spec");
    assert!(pod.as_mapping_get("initContainers").is_none());
    let containers = get(pod, "containers");
    assert_eq!(str_at(containers, "0.name"), "shop");
    let hg = named(containers, "hookguard");
    assert!(hg.as_mapping_get("restartPolicy").is_none());
    assert_eq!(str_at(hg, "lifecycle.preStop.exec.command.0"), "hookguard");
    assert_eq!(str_at(hg, "lifecycle.preStop.exec.command.1"), "sleep");
    assert_sidecar(pod, hg);
    // kubectl logs/exec keep going to the app.
    let ann = get(deploy, "spec.template.metadata.annotations");
    assert_eq!(
        ann.as_mapping_get("kubectl.kubernetes.io/default-container")
            .and_then(Yaml::as_str),
        Some("shop")
    );
    assert_eq!(
        int_at(kind(&docs, "Service", "shop"), "spec.ports.0.targetPort"),
        8080
    );
}

#[test]
fn app_port_picks_the_port_when_nothing_else_tells() {
    refused(
        &["-f", &fixture("no-service.yaml")],
        None,
        &["Deployment worker", "--app-port"],
    );
    let (_, docs) = ok(&["-f", &fixture("no-service.yaml"), "--app-port", "3001"]);
    let pod = get(kind(&docs, "Deployment", "worker"), "spec.template.spec");
    assert_sidecar(pod, named(get(pod, "initContainers"), "hookguard"));
    refused(
        &["-f", &fixture("no-service.yaml"), "--app-port", "8080"],
        None,
        &["--app-port 8080"],
    );
}

#[test]
fn refuses_what_it_cannot_handle() {
    refused(
        &["-f", &fixture("no-deployment.yaml")],
        None,
        &["no-deployment.yaml", "no Deployment"],
    );
    refused(
        &["-f", &fixture("unresolvable-target.yaml")],
        None,
        &[
            "document 2 (Service shop)",
            "spec.ports[0]",
            "targetPort",
            "\"web\"",
        ],
    );
    refused(
        &["-f", &fixture("invalid.yaml")],
        None,
        &["invalid.yaml", "invalid YAML", "line 7"],
    );
    refused(&["-f", &fixture("missing.yaml")], None, &["missing.yaml"]);
}

#[test]
fn refuses_an_already_injected_deployment() {
    let (out, _) = ok(&["-f", &fixture("one-container.yaml")]);
    refused(
        &["-f", "-"],
        Some(&out),
        &["<stdin>", "Deployment shop", "already injected"],
    );
    let (out, _) = ok(&["-f", &fixture("one-container.yaml"), "--classic"]);
    refused(
        &["-f", "-"],
        Some(&out),
        &["already injected", "containers"],
    );
}
