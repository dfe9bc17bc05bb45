//! The deployment files under `deploy/` against Herald itself: every
//! `HERALD_*` variable they set is one of Herald's settings with a value of
//! its type, and each role's whole environment loads; the probes ask
//! `/readyz` and `/healthz` on the port Herald serves them on; the KEDA
//! trigger watches the real send queue; compose's services have health
//! checks. The Kubernetes overlay is rendered by `kubectl kustomize`, as a
//! cluster would get it. `deploy/check-packaging.sh` runs the tools'
//! own checks (systemd-analyze, kubectl, docker compose) beside this.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_norway::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One variable as a file sets it.
#[derive(Debug, Clone)]
struct Variable {
    source: String,
    name: String,
    value: String,
}

/// Checks each `HERALD_*` variable alone against Herald's settings and
/// returns every problem, naming the file.
fn problems(variables: &[Variable]) -> Vec<String> {
    variables
        .iter()
        .filter(|v| v.name.starts_with("HERALD_"))
        .filter_map(|v| {
            herald_config::check_variable(&v.name, &v.value)
                .err()
                .map(|e| format!("{}: {e}", v.source))
        })
        .collect()
}

fn assert_all_settings(variables: &[Variable]) {
    let problems = problems(variables);
    assert!(
        problems.is_empty(),
        "deployment files set variables Herald refuses:\n  {}",
        problems.join("\n  ")
    );
}

/// Loads the settings a process gets from `variables` (secrets and other
/// values filled in at run time are placeholders), as the process would.
fn load(what: &str, variables: &[Variable]) -> herald_config::Settings {
    let environment: Vec<(String, String)> = variables
        .iter()
        .map(|v| (v.name.clone(), v.value.clone()))
        .collect();
    herald_config::load(None, environment)
        .unwrap_or_else(|e| panic!("{what}: Herald would not start with this environment: {e}"))
}

/// `NAME=value` lines, as docker's env_file, kustomize's envs and
/// systemd's EnvironmentFile read them (comments and blank lines skipped).
fn env_file(source: &str, text: &str) -> Vec<Variable> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{source}: {line:?} is not NAME=value"));
            Variable {
                source: source.to_owned(),
                name: name.trim().to_owned(),
                value: value.trim().trim_matches('"').to_owned(),
            }
        })
        .collect()
}

/// Compose's `${NAME}`, `${NAME:-default}`, `${NAME:?message}`: the default
/// where there is one, else a placeholder (what the person supplies).
fn interpolate(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .unwrap_or_else(|| panic!("unclosed ${{ in {text:?}"))
            + start;
        let inner = &rest[start + 2..end];
        match inner.split_once(":-") {
            Some((_, default)) => out.push_str(default),
            None => out.push_str("placeholder"),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn yaml_documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).unwrap())
        .filter(|value| !value.is_null())
        .collect()
}

fn str_of<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value:?}"))
}

fn seq(value: &Value) -> &[Value] {
    value.as_sequence().map(Vec::as_slice).unwrap_or(&[])
}

// ---- Kubernetes ----

fn rendered_overlay() -> Vec<Value> {
    let overlay = repo().join("deploy/kubernetes/overlays/example");
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(&overlay)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run kubectl ({e}): bash deploy/services.sh installs it")
        });
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed:\n{}",
        overlay.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    yaml_documents(&String::from_utf8(output.stdout).unwrap())
}

fn of_kind<'a>(documents: &'a [Value], kind: &str) -> Vec<&'a Value> {
    documents
        .iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

fn name(document: &Value) -> &str {
    str_of(&document["metadata"]["name"], "metadata.name")
}

/// What a Secret would hold: a URL where Herald checks the value is one.
fn secret_placeholder(variable: &str) -> String {
    match variable {
        "HERALD_BROKER__URL" => "amqp://herald:placeholder@rabbitmq:5672/%2f".to_owned(),
        "HERALD_DATABASE__URL" => "postgres://herald:placeholder@postgres/herald".to_owned(),
        _ => "placeholder".to_owned(),
    }
}

/// The environment of a container: its ConfigMaps' data, then its `env`
/// (values from Secrets as placeholders).
fn container_environment(documents: &[Value], owner: &str, container: &Value) -> Vec<Variable> {
    let mut variables = Vec::new();
    for source in seq(&container["envFrom"]) {
        if let Some(map) = source["configMapRef"]["name"].as_str() {
            let config = of_kind(documents, "ConfigMap")
                .into_iter()
                .find(|c| name(c) == map)
                .unwrap_or_else(|| panic!("{owner}: no ConfigMap {map} in the overlay"));
            for (key, value) in config["data"].as_mapping().into_iter().flatten() {
                variables.push(Variable {
                    source: format!("ConfigMap {map} (for {owner})"),
                    name: str_of(key, "ConfigMap key").to_owned(),
                    value: str_of(value, "ConfigMap value").to_owned(),
                });
            }
        }
        assert!(
            source["secretRef"].is_null(),
            "{owner}: take secrets one by one with env/secretKeyRef, so that their variable names are checked here"
        );
    }
    for entry in seq(&container["env"]) {
        let value = match entry["value"].as_str() {
            Some(value) => value.to_owned(),
            None => {
                assert!(
                    !entry["valueFrom"]["secretKeyRef"]["key"].is_null(),
                    "{owner}: env {entry:?} has no value"
                );
                secret_placeholder(str_of(&entry["name"], "env name"))
            }
        };
        variables.push(Variable {
            source: format!("{owner} env"),
            name: str_of(&entry["name"], "env name").to_owned(),
            value,
        });
    }
    variables
}

/// A probe's or Service's port, by number or by the container's port name.
fn container_port(container: &Value, port: &Value, what: &str) -> u16 {
    if let Some(number) = port.as_u64() {
        return u16::try_from(number).unwrap();
    }
    let wanted = str_of(port, what);
    let found = seq(&container["ports"])
        .iter()
        .find(|p| p["name"].as_str() == Some(wanted))
        .unwrap_or_else(|| panic!("{what}: no container port named {wanted}"));
    u16::try_from(found["containerPort"].as_u64().unwrap()).unwrap()
}

fn declared_ports(container: &Value) -> BTreeSet<u16> {
    seq(&container["ports"])
        .iter()
        .map(|p| u16::try_from(p["containerPort"].as_u64().unwrap()).unwrap())
        .collect()
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    selector
        .as_mapping()
        .is_some_and(|wanted| wanted.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

#[test]
fn kubernetes_roles_probe_the_ports_herald_serves_on() {
    let documents = rendered_overlay();
    let deployments = of_kind(&documents, "Deployment");
    let mut roles = BTreeSet::new();
    let mut all = Vec::new();
    for deployment in &deployments {
        let owner = format!("Deployment {}", name(deployment));
        let pod = &deployment["spec"]["template"]["spec"];
        let containers = seq(&pod["containers"]);
        assert_eq!(containers.len(), 1, "{owner}: one container");
        let container = &containers[0];
        let role = str_of(&container["args"][0], "args[0]").to_owned();
        roles.insert(role.clone());

        let environment = container_environment(&documents, &owner, container);
        all.extend(environment.clone());
        assert_all_settings(&environment);
        let settings = load(&owner, &environment);

        let ops = settings.ops.listen;
        assert!(
            ops.ip().is_unspecified(),
            "{owner}: ops.listen {ops} is not reachable from the kubelet; listen on 0.0.0.0"
        );
        assert!(
            declared_ports(container).contains(&ops.port()),
            "{owner}: ops.listen port {} is not a container port",
            ops.port()
        );
        for (probe, path) in [
            ("readinessProbe", "/readyz"),
            ("livenessProbe", "/healthz"),
            ("startupProbe", "/healthz"),
        ] {
            let get = &container[probe]["httpGet"];
            if probe == "startupProbe" && get.is_null() {
                continue;
            }
            assert_eq!(
                get["path"].as_str(),
                Some(path),
                "{owner}: {probe} must GET {path}"
            );
            let port = container_port(container, &get["port"], &format!("{owner} {probe}"));
            assert_eq!(
                port,
                ops.port(),
                "{owner}: {probe} asks port {port}, Herald serves {path} on ops.listen {ops}"
            );
        }
        let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
        assert!(
            grace >= 60,
            "{owner}: {grace}s is too short for finishing the posts in flight"
        );

        if role == "web" {
            let web = settings.web.listen;
            assert!(web.ip().is_unspecified(), "{owner}: web.listen {web}");
            assert!(
                declared_ports(container).contains(&web.port()),
                "{owner}: web.listen port {} is not a container port",
                web.port()
            );
            let labels = &deployment["spec"]["template"]["metadata"]["labels"];
            let service = of_kind(&documents, "Service")
                .into_iter()
                .find(|s| labels_match(&s["spec"]["selector"], labels))
                .unwrap_or_else(|| panic!("no Service selects {owner}'s pods"));
            for port in seq(&service["spec"]["ports"]) {
                let target = container_port(container, &port["targetPort"], "Service targetPort");
                assert_eq!(target, web.port(), "the web Service must reach web.listen");
            }
        }

        let labels = &deployment["spec"]["template"]["metadata"]["labels"];
        assert!(
            of_kind(&documents, "PodDisruptionBudget")
                .iter()
                .any(|pdb| labels_match(&pdb["spec"]["selector"]["matchLabels"], labels)),
            "{owner}: no PodDisruptionBudget selects its pods"
        );
    }
    assert_eq!(
        roles,
        BTreeSet::from(["web", "prepare-worker", "send-worker"].map(str::to_owned)),
        "one Deployment per role"
    );

    let jobs = of_kind(&documents, "Job");
    assert_eq!(jobs.len(), 1, "one migration Job");
    let container = &jobs[0]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["args"][0].as_str(), Some("migrate"));
    let environment = container_environment(&documents, "Job", container);
    assert_all_settings(&environment);
    load("the migration Job", &environment);

    // Nothing but the overlay's own ConfigMaps sets anything; they were all
    // checked through the containers that use them.
    assert!(all.iter().any(|v| v.name == "HERALD_WEB__PUBLIC_URL"));
}

#[test]
fn keda_scales_the_send_workers_on_the_send_queue() {
    let documents = rendered_overlay();
    let deployment = of_kind(&documents, "Deployment")
        .into_iter()
        .find(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["args"][0].as_str()
                == Some("send-worker")
        })
        .expect("a send-worker Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let environment = container_environment(&documents, "send-worker", container);
    let settings = load("send-worker", &environment);
    let queue = herald_queue::Topology::new(settings.broker.prefix.clone()).send_queue();

    let scaled = of_kind(&documents, "ScaledObject");
    assert_eq!(scaled.len(), 1, "one ScaledObject");
    let scaled = scaled[0];
    assert_eq!(scaled["apiVersion"].as_str(), Some("keda.sh/v1alpha1"));
    assert_eq!(
        scaled["spec"]["scaleTargetRef"]["name"].as_str(),
        Some(name(deployment))
    );
    assert!(
        deployment["spec"]["replicas"].is_null(),
        "KEDA owns the send-workers' replica count; a fixed one fights it at every apply"
    );
    let triggers = seq(&scaled["spec"]["triggers"]);
    assert_eq!(triggers.len(), 1);
    let trigger = &triggers[0];
    assert_eq!(trigger["type"].as_str(), Some("rabbitmq"));
    assert_eq!(
        trigger["metadata"]["queueName"].as_str(),
        Some(queue.as_str()),
        "the send queue is {queue} with broker.prefix {:?}",
        settings.broker.prefix
    );
    assert_eq!(trigger["metadata"]["mode"].as_str(), Some("QueueLength"));

    // The trigger authenticates with the broker URL the workers use.
    let authentication = str_of(
        &trigger["authenticationRef"]["name"],
        "authenticationRef.name",
    );
    let authentication = of_kind(&documents, "TriggerAuthentication")
        .into_iter()
        .find(|t| name(t) == authentication)
        .unwrap_or_else(|| panic!("no TriggerAuthentication {authentication}"));
    let host = seq(&authentication["spec"]["secretTargetRef"])
        .iter()
        .find(|r| r["parameter"].as_str() == Some("host"))
        .expect("the TriggerAuthentication gives the host from a Secret");
    let broker = seq(&container["env"])
        .iter()
        .find(|e| e["name"].as_str() == Some("HERALD_BROKER__URL"))
        .expect("HERALD_BROKER__URL from a Secret");
    let reference = &broker["valueFrom"]["secretKeyRef"];
    assert_eq!(host["name"], reference["name"]);
    assert_eq!(host["key"], reference["key"]);
    assert!(
        of_kind(&documents, "Secret").is_empty(),
        "Secrets are created by the person installing, never committed"
    );
}

// ---- Docker Compose ----

struct Compose {
    services: serde_norway::Mapping,
}

fn compose() -> Compose {
    let text = read("deploy/compose/compose.yaml");
    let mut document: Value = serde_norway::from_str(&text).unwrap();
    document.apply_merge().unwrap();
    // Merges inside services (`<<: *herald`) as well.
    let mut services = document["services"].as_mapping().unwrap().clone();
    for (_, service) in services.iter_mut() {
        service.apply_merge().unwrap();
    }
    Compose { services }
}

/// A service's environment: its env_file (the example in place of the
/// file the person makes from it), then `environment`, interpolated.
fn service_environment(service_name: &str, service: &Value) -> Vec<Variable> {
    let mut variables = Vec::new();
    for file in seq(&service["env_file"]) {
        let file = match file.as_str() {
            Some(path) => path.to_owned(),
            None => str_of(&file["path"], "env_file path").to_owned(),
        };
        let file = interpolate(&file);
        assert_eq!(
            file, "herald.env",
            "{service_name}: the env file is herald.env, made from herald.env.example"
        );
        variables.extend(env_file(
            "deploy/compose/herald.env.example",
            &read("deploy/compose/herald.env.example"),
        ));
    }
    let source = format!("deploy/compose/compose.yaml service {service_name}");
    match &service["environment"] {
        Value::Mapping(map) => {
            for (key, value) in map {
                let value = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => panic!("{source}: {key:?} has value {other:?}"),
                };
                variables.push(Variable {
                    source: source.clone(),
                    name: str_of(key, "environment key").to_owned(),
                    value: interpolate(&value),
                });
            }
        }
        Value::Sequence(list) => {
            for line in list {
                variables.extend(env_file(&source, &interpolate(str_of(line, "environment"))));
            }
        }
        _ => {}
    }
    variables
}

fn is_herald(service: &Value) -> bool {
    interpolate(service["image"].as_str().unwrap_or("")).starts_with("herald")
}

fn command(service: &Value) -> Vec<String> {
    seq(&service["command"])
        .iter()
        .map(|c| str_of(c, "command").to_owned())
        .collect()
}

#[test]
fn compose_services_are_herald_settings_with_health_checks() {
    let compose = compose();
    let mut roles = BTreeMap::new();
    for (key, service) in &compose.services {
        let service_name = str_of(key, "service name");
        let one_shot = service["restart"].as_str() == Some("no");
        let health = &service["healthcheck"];
        if !one_shot {
            assert!(
                health["disable"].as_bool() != Some(true) && !seq(&health["test"]).is_empty(),
                "compose service {service_name} runs for good and has no healthcheck"
            );
        }
        if !is_herald(service) {
            continue;
        }
        let environment = service_environment(service_name, service);
        assert_all_settings(&environment);
        let settings = load(&format!("compose service {service_name}"), &environment);
        let role = command(service).first().cloned().unwrap_or_default();
        if !one_shot {
            let test = seq(&health["test"])
                .iter()
                .map(|t| str_of(t, "healthcheck test"))
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                test.contains("herald healthcheck"),
                "{service_name}: check it with `herald healthcheck` (the image has no curl): {test}"
            );
        }
        // Database and broker URLs name compose's own services.
        let urls = std::iter::once(("database.url", &settings.database.url)).chain(
            settings
                .broker
                .url
                .as_slice()
                .iter()
                .map(|url| ("broker.url", url)),
        );
        for (setting, url) in urls {
            use secrecy::ExposeSecret;
            let parsed = reqwest::Url::parse(url.expose_secret()).unwrap();
            let host = parsed.host_str().unwrap_or("");
            assert!(
                compose.services.contains_key(host),
                "{service_name}: {setting} names host {host:?}, which is no compose service"
            );
        }
        roles.insert(role, service.clone());
    }
    for role in ["migrate", "web", "prepare-worker", "send-worker"] {
        assert!(
            roles.contains_key(role),
            "no compose service runs `herald {role}`"
        );
    }
    for role in ["web", "prepare-worker", "send-worker"] {
        let depends = &roles[role]["depends_on"];
        let condition = |on: &str| depends[on]["condition"].as_str().map(str::to_owned);
        assert_eq!(
            condition("migrate").as_deref(),
            Some("service_completed_successfully"),
            "{role} waits for the migrations"
        );
        assert_eq!(condition("postgres").as_deref(), Some("service_healthy"));
        assert_eq!(condition("rabbitmq").as_deref(), Some("service_healthy"));
    }
    let replicas = roles["send-worker"]["deploy"]["replicas"]
        .as_u64()
        .unwrap_or(1);
    assert!(replicas >= 2, "two send-workers, not {replicas}");
}

// ---- systemd ----

/// `Key=value` lines of a unit file, in order.
fn unit_entries(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// `Environment=A=1 "B=two words"`: the assignments.
fn unit_environment(source: &str, value: &str) -> Vec<Variable> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
        .iter()
        .map(|w| env_file(source, w).remove(0))
        .collect()
}

fn units() -> Vec<(String, String)> {
    let dir = repo().join("deploy/systemd");
    let mut units: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    units.sort();
    units
}

#[test]
fn systemd_units_set_real_settings_and_stop_gracefully() {
    let example = env_file(
        "deploy/systemd/herald.env.example",
        &read("deploy/systemd/herald.env.example"),
    );
    assert!(
        !example.iter().any(|v| v.name == "HERALD_OPS__LISTEN"),
        "each unit gives its own ops port; one in the shared file would override none, but misleads"
    );
    let units = units();
    let names: BTreeSet<&str> = units.iter().map(|(n, _)| n.as_str()).collect();
    for wanted in [
        "herald-web.service",
        "herald-prepare.service",
        "herald-send@.service",
        "herald-migrate.service",
    ] {
        assert!(names.contains(wanted), "deploy/systemd/{wanted} is missing");
    }
    let mut ops_ports = BTreeSet::new();
    for (unit, text) in &units {
        let source = format!("deploy/systemd/{unit}");
        let entries = unit_entries(text);
        let get = |key: &str| {
            entries
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("User"), ["herald"], "{source}: User=herald");
        assert_eq!(
            get("EnvironmentFile"),
            ["/etc/herald/herald.env"],
            "{source}"
        );
        let exec = get("ExecStart");
        assert_eq!(exec.len(), 1, "{source}: one ExecStart");
        let words: Vec<&str> = exec[0].split_whitespace().collect();
        assert_eq!(words[0], "/usr/local/bin/herald", "{source}");
        let mut environment = example.clone();
        for value in get("Environment") {
            environment.extend(unit_environment(&source, value));
        }
        assert_all_settings(&environment);
        load(&source, &environment);

        let oneshot = get("Type") == ["oneshot"];
        if !oneshot {
            assert_eq!(get("KillSignal"), ["SIGTERM"], "{source}");
            assert_eq!(get("Restart"), ["on-failure"], "{source}");
            let stop = get("TimeoutStopSec");
            let seconds: u64 = stop
                .first()
                .and_then(|s| s.trim_end_matches('s').parse().ok())
                .unwrap_or(0);
            assert!(
                seconds >= 60,
                "{source}: TimeoutStopSec {stop:?} is too short for finishing the posts in flight"
            );
            // Each process on the machine serves /healthz on its own port.
            let flag = words
                .iter()
                .position(|w| *w == "--ops-listen")
                .map(|i| words[i + 1]);
            let flag = flag.unwrap_or_else(|| panic!("{source}: no --ops-listen"));
            if flag.ends_with("%i") {
                assert!(
                    unit.contains('@'),
                    "{source}: %i in a unit that is no template"
                );
            } else {
                let listen: std::net::SocketAddr = flag
                    .parse()
                    .unwrap_or_else(|e| panic!("{source}: --ops-listen {flag}: {e}"));
                assert!(
                    ops_ports.insert(listen.port()),
                    "{source}: ops port {} is taken by another unit",
                    listen.port()
                );
            }
        }
        for key in [
            "NoNewPrivileges",
            "ProtectSystem",
            "ProtectHome",
            "PrivateTmp",
            "PrivateDevices",
            "ProtectKernelTunables",
            "ProtectKernelModules",
            "ProtectKernelLogs",
            "ProtectControlGroups",
            "RestrictAddressFamilies",
            "RestrictNamespaces",
            "LockPersonality",
            "MemoryDenyWriteExecute",
            "SystemCallFilter",
            "CapabilityBoundingSet",
        ] {
            assert!(!get(key).is_empty(), "{source}: no {key}=");
        }
    }
}

// ---- Dockerfile ----

#[test]
fn the_image_runs_herald_unprivileged_with_a_health_check() {
    let text = read("deploy/docker/Dockerfile").replace("\\\n", " ");
    // The stage named `runtime`, up to the next FROM.
    let runtime = text
        .split("\nFROM ")
        .find(|stage| stage.lines().next().unwrap_or("").ends_with(" AS runtime"))
        .expect("a stage `FROM ... AS runtime`");
    let last = text.rsplit("\nFROM ").next().unwrap().trim();
    assert_eq!(
        last, "runtime",
        "a build without --target gives the runtime image"
    );
    let instruction = |name: &str| {
        runtime
            .lines()
            .filter(|l| l.trim_start().starts_with(name))
            .map(|l| l.trim_start()[name.len()..].trim().to_owned())
            .collect::<Vec<_>>()
    };
    let mut variables = Vec::new();
    for line in instruction("ENV ") {
        variables.extend(unit_environment("deploy/docker/Dockerfile ENV", &line));
    }
    assert_all_settings(&variables);
    let settings = load("the image's ENV", &variables);
    assert!(settings.ops.listen.ip().is_unspecified());
    let users = instruction("USER ");
    assert_eq!(users.len(), 1, "one USER in the runtime stage");
    let user = users[0].split(':').next().unwrap();
    assert!(user != "root" && user != "0", "the image runs as root");
    assert_eq!(instruction("ENTRYPOINT "), [r#"["herald"]"#]);
    let health = instruction("HEALTHCHECK ");
    assert_eq!(health.len(), 1);
    assert!(
        health[0].contains(r#"CMD ["herald", "healthcheck", "/healthz"]"#),
        "{}",
        health[0]
    );
}

// ---- every file at once ----

/// Every `HERALD_*` variable that any deployment file sets.
fn every_variable() -> Vec<Variable> {
    let mut variables = Vec::new();
    for example in [
        "deploy/compose/herald.env.example",
        "deploy/systemd/herald.env.example",
        "deploy/kubernetes/base/settings.env",
    ] {
        variables.extend(env_file(example, &read(example)));
    }
    for (key, service) in &compose().services {
        variables.extend(service_environment(str_of(key, "service"), service));
    }
    for (unit, text) in units() {
        for (key, value) in unit_entries(&text) {
            if key == "Environment" {
                variables.extend(unit_environment(&unit, &value));
            }
        }
    }
    let documents = rendered_overlay();
    for kind in ["Deployment", "Job"] {
        for workload in of_kind(&documents, kind) {
            for container in seq(&workload["spec"]["template"]["spec"]["containers"]) {
                variables.extend(container_environment(&documents, name(workload), container));
            }
        }
    }
    variables
}

#[test]
fn every_herald_variable_in_the_deployment_files_is_a_setting() {
    let variables = every_variable();
    let names: BTreeSet<&str> = variables
        .iter()
        .map(|v| v.name.as_str())
        .filter(|n| n.starts_with("HERALD_"))
        .collect();
    // The files do set what a deployment needs.
    for needed in [
        "HERALD_DATABASE__URL",
        "HERALD_BROKER__URL",
        "HERALD_MICROSOFT__APP_SECRET",
        "HERALD_WEB__PUBLIC_URL",
    ] {
        assert!(names.contains(needed), "no deployment file sets {needed}");
    }
    assert_all_settings(&variables);
}

#[test]
fn a_misspelt_variable_is_caught() {
    let text = read("deploy/compose/herald.env.example")
        + "HERALD_DATABSE__URL=postgres://herald@postgres/herald\n";
    let found = problems(&env_file("herald.env.example", &text));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("HERALD_DATABSE__URL"), "{found:?}");
    let found = problems(&env_file("x", "HERALD_SEND__RATE_PER_SECOND=fast\n"));
    assert_eq!(found.len(), 1, "a value of the wrong type: {found:?}");
}

// ---- what the shipped binary links ----

fn host_platform() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(rustc).arg("-vV").output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names its host")
        .to_owned()
}

/// The packages `herald` is built from: its normal and build dependencies,
/// and theirs (dev-dependencies are not part of the binary).
fn herald_dependency_closure() -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // Only this machine's platform: the others' crates are not downloaded
    // here, and the offline metadata of every platform would need them.
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host_platform()])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let name_of: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: BTreeMap<&str, &serde_json::Value> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let herald = name_of
        .iter()
        .find(|(_, name)| **name == "herald")
        .unwrap()
        .0;
    let mut seen = BTreeSet::new();
    let mut to_visit = vec![*herald];
    while let Some(id) = to_visit.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dependency in nodes[id]["deps"].as_array().unwrap() {
            let linked = dependency["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|kind| kind["kind"].as_str() != Some("dev"));
            if linked {
                to_visit.push(dependency["pkg"].as_str().unwrap());
            }
        }
    }
    seen.into_iter().map(|id| name_of[id].to_owned()).collect()
}

#[test]
fn the_herald_binary_leaves_the_benchmarks_out() {
    let closure = herald_dependency_closure();
    assert!(closure.contains("herald-app"), "{closure:?}");
    assert!(
        !closure.contains("herald-bench"),
        "`cargo build -p herald` (the image, the release build) compiles herald-bench"
    );
}
