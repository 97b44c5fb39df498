//! The manifests under deploy/ parse, hold the fields the issue asks for, agree with each other
//! (labels, ports, names, the certificate's name) and with what trustpin checks (every kind with
//! pods, and no other), and the Deployment's command line really starts `trustpin serve`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::webhook::*;
use serde_json::Value;

/// Every document of every deploy/*.yaml, as JSON values.
fn manifests() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "yaml"))
    {
        let text = std::fs::read_to_string(f).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert!(
                v["apiVersion"].is_string() && v["kind"].is_string(),
                "{}: {v}",
                f.display()
            );
            out.push(v);
        }
    }
    out
}

fn one<'a>(all: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = all.iter().filter(|v| v["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind}");
    found[0]
}

#[test]
fn the_webhook_configuration_fails_closed_for_every_kind_with_pods() {
    let all = manifests();
    let ns = one(&all, "Namespace");
    assert_eq!(ns["metadata"]["name"], "trustpin");
    let cfg = one(&all, "MutatingWebhookConfiguration");
    assert_eq!(cfg["apiVersion"], "admissionregistration.k8s.io/v1");
    let hooks = cfg["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 1);
    let h = &hooks[0];
    assert_eq!(h["failurePolicy"], "Fail");
    assert_eq!(h["timeoutSeconds"], 30);
    assert_eq!(h["sideEffects"], "None");
    assert_eq!(h["admissionReviewVersions"], serde_json::json!(["v1"]));
    let svc = &h["clientConfig"]["service"];
    assert_eq!(
        (svc["namespace"].as_str(), svc["name"].as_str()),
        (Some("trustpin"), Some("trustpin"))
    );
    assert_eq!(svc["path"], "/mutate");
    let excluded = &h["namespaceSelector"]["matchExpressions"][0];
    assert_eq!(excluded["key"], "kubernetes.io/metadata.name");
    assert_eq!(excluded["operator"], "NotIn");
    let values: BTreeSet<&str> = excluded["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(values, BTreeSet::from(["trustpin", "kube-system"]));
    // The rules name exactly the kinds trustpin checks.
    let kind_of = |group: &str, resource: &str| -> &'static str {
        match (group, resource) {
            ("", "pods" | "pods/ephemeralcontainers") => "Pod",
            ("", "replicationcontrollers") => "ReplicationController",
            ("apps", "deployments") => "Deployment",
            ("apps", "replicasets") => "ReplicaSet",
            ("apps", "statefulsets") => "StatefulSet",
            ("apps", "daemonsets") => "DaemonSet",
            ("batch", "jobs") => "Job",
            ("batch", "cronjobs") => "CronJob",
            other => panic!("a rule for {other:?}, which trustpin does not check"),
        }
    };
    let mut covered = BTreeSet::new();
    for rule in h["rules"].as_array().unwrap() {
        assert_eq!(rule["operations"], serde_json::json!(["CREATE", "UPDATE"]));
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                let (g, r) = (group.as_str().unwrap(), resource.as_str().unwrap());
                let kind = kind_of(g, r);
                let gvk = trustpin::serve::review::GroupVersionKind {
                    group: g.into(),
                    version: "v1".into(),
                    kind: kind.into(),
                };
                assert!(
                    trustpin::serve::images::pod_spec_path(&gvk).is_some(),
                    "{kind}"
                );
                covered.insert(r.to_owned());
            }
        }
    }
    assert!(covered.contains("pods/ephemeralcontainers"));
    assert_eq!(covered.len(), 9, "{covered:?}");
}

#[test]
fn the_deployment_runs_serve_non_root_read_only_with_probes_behind_the_service() {
    let all = manifests();
    let d = one(&all, "Deployment");
    assert_eq!(d["metadata"]["namespace"], "trustpin");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(c[probe]["httpGet"]["scheme"], "HTTPS", "{probe}");
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
    }
    // SIGKILL never cuts a drain: the grace period outlasts the shutdown delay plus the drain.
    let flag = |name: &str| -> u64 {
        c["args"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|a| {
                a.as_str()?
                    .strip_prefix(&format!("--{name}="))?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no --{name} in the Deployment"))
    };
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace > flag("shutdown-delay") + flag("drain-timeout"),
        "{grace}"
    );
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    let s = one(&all, "Service");
    assert_eq!(s["metadata"]["namespace"], "trustpin");
    assert_eq!(s["metadata"]["name"], "trustpin");
    for (k, v) in s["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&labels[k], v, "the Service selects the Deployment's pods");
    }
    assert_eq!(s["spec"]["ports"][0]["port"], 443);
    assert_eq!(s["spec"]["ports"][0]["targetPort"], c["ports"][0]["name"]);
    // The certificate is for the name the API server calls.
    let cert = all
        .iter()
        .find(|v| v["kind"] == "Certificate" && v["metadata"]["name"] == "trustpin-tls")
        .unwrap();
    assert_eq!(cert["spec"]["dnsNames"], serde_json::json!([SERVICE_NAME]));
    let secret = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|v| v["secret"]["secretName"].as_str());
    assert_eq!(secret, cert["spec"]["secretName"].as_str());
    // Every volume mounted is declared, and writable storage is only the emptyDir cache.
    for m in c["volumeMounts"].as_array().unwrap() {
        let v = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == m["name"])
            .unwrap();
        assert!(m["readOnly"] == true || v.get("emptyDir").is_some(), "{m}");
    }
}

/// The Deployment's arguments with its mounted files at `dir`, listening on a free port.
fn deployment_args(dir: &Path, pki: &WebhookPki) -> Vec<String> {
    let all = manifests();
    let c = &one(&all, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a.as_str().unwrap();
            match a.split_once('=') {
                Some(("--listen", _)) => "--listen=127.0.0.1:0".to_owned(),
                Some(("--tls-cert", _)) => format!("--tls-cert={}", pki.cert().display()),
                Some(("--tls-key", _)) => format!("--tls-key={}", pki.key().display()),
                Some(("--policy", p)) => format!(
                    "--policy={}",
                    dir.join(Path::new(p).file_name().unwrap()).display()
                ),
                Some(("--cache-dir", _)) => format!("--cache-dir={}", dir.join("cache").display()),
                _ => a.to_owned(),
            }
        })
        .collect()
}

#[test]
fn the_deployment_command_line_starts_serve_once_a_key_is_pinned_and_not_before() {
    let all = manifests();
    let cm = one(&all, "ConfigMap");
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in cm["data"].as_object().unwrap() {
        std::fs::write(dir.path().join(name), text.as_str().unwrap()).unwrap();
    }
    let pki = WebhookPki::new();
    let args = deployment_args(dir.path(), &pki);
    // The placeholder key: refused at start, naming the file.
    let out = common::Cmd::trustpin().args(&args).run();
    out.expect(2, &["root.pub"]);
    // A real key in its place: serve starts and answers its probes.
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/keys/delegated.pub");
    std::fs::copy(key, dir.path().join("root.pub")).unwrap();
    let hook = Webhook::launch(pki, &args, tempfile::tempdir().unwrap());
    let api = ApiServer::new(&hook, Protocol::Http1);
    assert_eq!(api.send("GET", "/healthz", Vec::new()).0, 200);
    assert_eq!(api.send("GET", "/readyz", Vec::new()).0, 200);
}

/// The Containerfile's instructions (no container tool runs here: it is checked, not built), as
/// (INSTRUCTION, arguments), comments and continuation lines joined.
fn containerfile() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Containerfile");
    let text = std::fs::read_to_string(path).unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(line);
        let (instruction, args) = pending.split_once(' ').unwrap_or((&pending, ""));
        out.push((instruction.to_uppercase(), args.trim().to_owned()));
        pending.clear();
    }
    out
}

#[test]
fn the_containerfile_builds_the_release_binary_onto_distroless_as_the_deployment_runs_it() {
    let steps = containerfile();
    let all = |what: &str| -> Vec<&str> {
        steps
            .iter()
            .filter(|(i, _)| i == what)
            .map(|(_, a)| a.as_str())
            .collect()
    };
    let from = all("FROM");
    assert_eq!(from.len(), 2, "a build stage and the image: {from:?}");
    let (builder, stage) = from[0].split_once(" AS ").expect("a named build stage");
    assert!(builder.contains("/rust:"), "{builder}");
    assert!(
        from[1].starts_with("gcr.io/distroless/") && from[1].ends_with(":nonroot"),
        "{}",
        from[1]
    );
    // One binary, built in release from the locked dependency versions.
    let run = all("RUN");
    assert_eq!(run, ["cargo build --release --locked --bin trustpin"]);
    // What is copied into the build exists; the image gets exactly the binary that was built.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for copy in all("COPY").iter().filter(|c| !c.starts_with("--from")) {
        let parts: Vec<&str> = copy.split_whitespace().collect();
        for src in &parts[..parts.len() - 1] {
            assert!(root.join(src).exists(), "COPY {src}: not in the repository");
        }
    }
    let binary = "/usr/local/bin/trustpin";
    assert_eq!(
        all("COPY").last().copied(),
        Some(format!("--from={stage} /src/target/release/trustpin {binary}").as_str())
    );
    assert_eq!(all("ENTRYPOINT"), [format!("[\"{binary}\"]").as_str()]);
    // The user is the one the Deployment runs as, and the image the one it names.
    let all_manifests = manifests();
    let pod = &one(&all_manifests, "Deployment")["spec"]["template"]["spec"];
    let (uid, gid) = (
        &pod["securityContext"]["runAsUser"],
        &pod["securityContext"]["runAsGroup"],
    );
    assert_eq!(all("USER"), [format!("{uid}:{gid}").as_str()]);
    let image = format!("ghcr.io/trustpin/trustpin:{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(pod["containers"][0]["image"], image.as_str());
    let text = std::fs::read_to_string(root.join("Containerfile")).unwrap();
    assert!(
        text.contains(&format!("-t {image} .")),
        "the build command names {image}"
    );
    // distroless/cc has glibc and libgcc only: the binary needs nothing else (no OpenSSL).
    let ldd = std::process::Command::new("ldd")
        .arg(common::TRUSTPIN)
        .output()
        .expect("run ldd");
    let libs = String::from_utf8_lossy(&ldd.stdout).into_owned();
    for lib in libs.lines().filter_map(|l| l.split_whitespace().next()) {
        let base = lib.rsplit('/').next().unwrap();
        let provided = ["linux-vdso.so.1", "ld-linux-x86-64.so.2", "libgcc_s.so.1"];
        let glibc = [
            "libc.so.6",
            "libm.so.6",
            "libpthread.so.0",
            "libdl.so.2",
            "librt.so.1",
        ];
        assert!(
            provided.contains(&base) || glibc.contains(&base),
            "the binary needs {lib}, which distroless/cc does not have:\n{libs}"
        );
    }
}
