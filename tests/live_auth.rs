//! trustpin against a real notary-server behind the docker token flow, behind https with a CA
//! made for the test, and behind mutual TLS.
//!
//! The token server is tests/common/token_issuer.rs (ES256 JWTs with an `x5c` chain up to the CA
//! that notary-server's `rootcertbundle` names). The repositories are published through the same
//! token flow by the real `notary` client, which reads its credentials from `NOTARY_AUTH`
//! (base64 `user:password`, notary 0.7's `passwordStore.Basic`) for a push-capable user.
//!
//! Needs `notary`, `notary-server` and `openssl` on PATH (see tests/common/notary.rs).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::notary::{
    http_get, require_live, server_config, spawn_server, NotaryClient, Target, START_TIMEOUT,
};
use common::server::TestPki;
use common::token_issuer::{self, Anonymous, TokenIssuer, User};
use common::{run, temp_dir, Cmd, Output};

const GUN: &str = "registry.example.com/team/app";
const HUB_GUN: &str = "docker.io/team/app";
const PUSHER: &str = "pusher";
const PUSHER_PASSWORD: &str = "push-secret-7f3a";
const PULLER: &str = "puller";
const PULLER_PASSWORD: &str = "pull-secret-c41d";
const IDENTITY_TOKEN: &str = "identity-token-9b2e";
const WRONG_PASSWORD: &str = "wrong-secret-e5a0";
const TRUSTPIN_TIMEOUT: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------------------------------------
// A notary-server with any configuration

/// notary-server (memory storage, local signer) with an `auth` section and/or TLS; killed on drop.
struct Notary {
    child: Option<Child>,
    port: u16,
    tls: bool,
    /// Its configuration and log.
    _dir: tempfile::TempDir,
}

struct Tls<'a> {
    pki: &'a TestPki,
    require_client_cert: bool,
}

impl Notary {
    fn start(auth: Option<serde_json::Value>, tls: Option<Tls<'_>>) -> Notary {
        let dir = temp_dir("trustpin-auth-notary-");
        let (child, port, _) = spawn_server(
            dir.path(),
            |port| {
                let mut config = server_config(port);
                if let Some(t) = &tls {
                    let p = |p: PathBuf| p.to_str().unwrap().to_owned();
                    let server = &mut config["server"];
                    server["tls_cert_file"] = p(t.pki.server_cert_path()).into();
                    server["tls_key_file"] = p(t.pki.server_key_path()).into();
                    if t.require_client_cert {
                        server["client_ca_file"] = p(t.pki.ca_pem_path()).into();
                    }
                }
                if let Some(auth) = &auth {
                    config["auth"] = auth.clone();
                }
                config
            },
            |child, port, _| wait_ready(child, port, tls.as_ref()),
        );
        Notary {
            child: Some(child),
            port,
            tls: tls.is_some(),
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!(
            "{}://127.0.0.1:{}",
            if self.tls { "https" } else { "http" },
            self.port
        )
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Notary {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Health through trustpin's own client (it knows the CA and the client certificate).
fn wait_ready(child: &mut Child, port: u16, tls: Option<&Tls<'_>>) -> Result<(), String> {
    use trustpin::fetch::http::{ClientIdentity, HttpOptions, HttpSource};
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < START_TIMEOUT {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("notary-server exited: {status}"));
        }
        let result = match tls {
            None => http_get(
                format!("127.0.0.1:{port}").parse().unwrap(),
                "/_notary_server/health",
                Duration::from_secs(2),
            )
            .and_then(|(code, _)| {
                (code == 200)
                    .then_some(())
                    .ok_or(format!("health: HTTP {code}"))
            }),
            Some(t) => HttpSource::new(
                &format!("https://127.0.0.1:{port}"),
                HttpOptions {
                    ca_certs: vec![t.pki.ca_pem_path()],
                    client_identity: t.require_client_cert.then(|| ClientIdentity {
                        cert: t.pki.client_cert_path(),
                        key: t.pki.client_key_path(),
                    }),
                    connect_timeout: Duration::from_secs(2),
                    timeout: Duration::from_secs(2),
                    ..HttpOptions::default()
                },
            )
            .map_err(|e| e.to_string())
            .and_then(|s| s.check_health().map_err(|e| e.to_string())),
        };
        match result {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(format!("not healthy within {START_TIMEOUT:?}: {last}"))
}

// ------------------------------------------------------------------------------------------------
// Publishing through the token flow, and running trustpin

fn basic(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// `notary ARGS` with `NOTARY_AUTH` for the push-capable user (and `extra` global args first).
fn notary_as_pusher(client: &NotaryClient, extra: &[&str], args: &[&str]) -> String {
    let mut all: Vec<&str> = extra.to_vec();
    all.extend_from_slice(args);
    let mut c = client.command(&all);
    c.env("NOTARY_AUTH", basic(PUSHER, PUSHER_PASSWORD));
    run(c, client.timeout).ok()
}

/// init, addhash `v1`, publish; returns the target.
fn publish(client: &NotaryClient, extra: &[&str], gun: &str) -> Target {
    let t = Target::of("v1", &format!("content of {gun}"));
    notary_as_pusher(client, extra, &["init", gun]);
    let size = t.size.to_string();
    notary_as_pusher(
        client,
        extra,
        &["addhash", gun, "v1", &size, "--sha256", &t.sha256],
    );
    notary_as_pusher(client, extra, &["publish", gun]);
    t
}

/// A token issuer, a notary-server trusting it, and `gun` published with tag `v1`.
struct Fixture {
    issuer: TokenIssuer,
    notary: Notary,
    client: NotaryClient,
    key: PathBuf,
    target: Target,
    gun: String,
    /// Empty HOME and DOCKER_CONFIG for trustpin unless a test says otherwise.
    scratch: tempfile::TempDir,
}

fn users() -> Vec<User> {
    vec![
        User::new(PUSHER, PUSHER_PASSWORD, &["push", "pull"]),
        User::new(PULLER, PULLER_PASSWORD, &["pull"]).with_identity_token(IDENTITY_TOKEN),
    ]
}

/// [`Fixture`], or None when the live tools are missing and the test is skipped
/// ([`require_live`]).
fn fixture(gun: &str) -> Option<Fixture> {
    if !require_live() {
        return None;
    }
    let issuer = TokenIssuer::start(users());
    let notary = Notary::start(Some(issuer.notary_auth_config()), None);
    let client = NotaryClient::for_url(&notary.url(), None);
    let target = publish(&client, &[], gun);
    let key = client.write_root_key(gun, "root.pub");
    let scratch = temp_dir("trustpin-auth-scratch-");
    std::fs::create_dir_all(scratch.path().join("home")).unwrap();
    std::fs::create_dir_all(scratch.path().join("docker")).unwrap();
    Some(Fixture {
        issuer,
        notary,
        client,
        key,
        target,
        gun: gun.to_owned(),
        scratch,
    })
}

/// How to run trustpin: extra args, environment, stdin.
#[derive(Default)]
struct Run<'a> {
    args: Vec<String>,
    env: Vec<(&'a str, String)>,
    stdin: Option<&'a [u8]>,
}

impl<'a> Run<'a> {
    /// `--username PULLER --password-stdin` with `stdin` (the password and a newline), then
    /// `extra` args.
    fn password_stdin(stdin: &'a str, extra: &[&str]) -> Run<'a> {
        let mut args = vec![
            "--username".into(),
            PULLER.into(),
            "--password-stdin".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        Run {
            args,
            stdin: Some(stdin.as_bytes()),
            ..Run::default()
        }
    }
}

impl Fixture {
    fn resolve(&self, image: &str, how: Run<'_>) -> Output {
        self.resolve_at(&self.notary.url(), image, how)
    }

    fn resolve_at(&self, server: &str, image: &str, how: Run<'_>) -> Output {
        Cmd::trustpin()
            .arg("resolve")
            .arg(image)
            .arg("--root-key")
            .arg(&self.key)
            .arg("--server")
            .arg(server)
            .args(&how.args)
            .no_credentials()
            .env("HOME", self.scratch.path().join("home"))
            .env("DOCKER_CONFIG", self.scratch.path().join("docker"))
            .envs(how.env)
            .stdin(how.stdin)
            .timeout(TRUSTPIN_TIMEOUT)
            .run()
    }

    /// [`Fixture::resolve`] of [`Fixture::image`] with `env` added.
    /// As PULLER with `password`, from TRUSTPIN_USERNAME and TRUSTPIN_PASSWORD.
    fn resolve_env_password(&self, password: &str) -> Output {
        self.resolve_env(vec![
            ("TRUSTPIN_USERNAME", PULLER.into()),
            ("TRUSTPIN_PASSWORD", password.into()),
        ])
    }

    fn resolve_env(&self, env: Vec<(&str, String)>) -> Output {
        self.resolve(
            &self.image(),
            Run {
                env,
                ..Run::default()
            },
        )
    }

    /// A credential helper `docker-credential-NAME` in the scratch folder that gives PULLER's
    /// credentials for `serves`; its folder.
    fn puller_helper(&self, name: &str, serves: &str) -> PathBuf {
        credential_helper(self.scratch.path(), name, serves, PULLER, PULLER_PASSWORD)
    }

    fn docker_config(&self, json: serde_json::Value) -> PathBuf {
        let dir = self.scratch.path().join("docker-config");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), serde_json::to_vec(&json).unwrap()).unwrap();
        dir
    }

    fn image(&self) -> String {
        format!("{}:v1", self.gun)
    }

    fn expect_trusted(&self, out: &Output, what: &str) {
        assert_eq!(out.code, 0, "{what}: {}", out.describe());
        assert_eq!(
            out.stdout.trim(),
            format!("{}@{}", self.gun, self.target.digest()),
            "{what}"
        );
    }
}

fn expect_auth_refusal(out: &Output, realm: &str, secrets: &[&str], what: &str) {
    assert_eq!(out.code, 3, "{what}: {}", out.describe());
    assert!(
        out.all().contains(realm),
        "{what}: the message must name the realm {realm}: {}",
        out.describe()
    );
    for secret in secrets {
        assert!(
            !out.all().contains(secret),
            "{what}: a secret leaked: {}",
            out.describe()
        );
    }
}

/// A `docker-credential-<name>` script in a fresh PATH directory: records the server URL it was
/// given (one per line) in `<dir>/<name>.log`, answers `user`/`secret` for `serves`, "credentials
/// not found" otherwise.
/// DOCKER_CONFIG `config`, and `bin` (a credential helper's folder) first on PATH.
fn helper_env(config: &Path, bin: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("DOCKER_CONFIG", config.display().to_string()),
        ("PATH", path_with(bin)),
    ]
}

fn credential_helper(dir: &Path, name: &str, serves: &str, user: &str, secret: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join(format!("{name}.log"));
    let script = format!(
        "#!/bin/sh\n\
         [ \"$1\" = get ] || {{ echo \"unexpected action $1\"; exit 1; }}\n\
         url=$(cat)\n\
         printf '%s\\n' \"$url\" >> '{log}'\n\
         if [ \"$url\" = '{serves}' ]; then\n\
           printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}' \"$url\"\n\
         else\n\
           echo 'credentials not found in native keychain'\n\
           exit 1\n\
         fi\n",
        log = log.display()
    );
    let path = bin.join(format!("docker-credential-{name}"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn helper_calls(dir: &Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(format!("{name}.log")))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

// ------------------------------------------------------------------------------------------------
// Token auth

#[test]
fn the_notary_client_publishes_through_the_token_issuer() {
    let Some(fx) = fixture(GUN) else {
        return;
    };
    let issued = fx.issuer.issued();
    assert!(
        issued.iter().any(|i| i.user == Ok(Some(PUSHER.into()))
            && i.scopes
                .iter()
                .any(|s| s == &format!("repository:{GUN}:push,pull"))),
        "no push token was issued: {issued:?}"
    );
    // notary's own lookup works with the pusher's credentials, and agrees.
    let mut c = fx.client.command(["lookup", GUN, "v1"]);
    c.env("NOTARY_AUTH", basic(PUSHER, PUSHER_PASSWORD));
    let out = run(c, fx.client.timeout).ok();
    assert!(out.contains(&fx.target.sha256), "{out}");
}

#[test]
fn anonymous_access_is_refused_naming_the_realm() {
    let Some(fx) = fixture(GUN) else {
        return;
    };
    let started = Instant::now();
    // The token server hands out a token without access; the server refuses it.
    let out = fx.resolve(&fx.image(), Run::default());
    expect_auth_refusal(&out, &fx.issuer.realm(), &[], "token without access");
    out.expect_stderr(&["anonymously", "insufficient_scope"], "");
    // The token server refuses anonymous requests itself.
    fx.issuer.set_anonymous(Anonymous::Refused);
    let out = fx.resolve(&fx.image(), Run::default());
    expect_auth_refusal(&out, &fx.issuer.realm(), &[], "anonymous refused");
    out.expect_stderr(&["refused anonymous access"], "");
    eprintln!("two anonymous refusals: {:?}", started.elapsed());
}

#[test]
fn credentials_from_username_and_password_stdin() {
    let Some(fx) = fixture(GUN) else {
        return;
    };
    let started = Instant::now();
    let stdin = format!("{PULLER_PASSWORD}\n");
    let out = fx.resolve(&fx.image(), Run::password_stdin(&stdin, &[]));
    fx.expect_trusted(&out, "--username/--password-stdin");
    eprintln!("resolve through the token flow: {:?}", started.elapsed());
    // One token for the whole run, although four files were fetched at once.
    let issued = fx.issuer.issued();
    let pulls: Vec<_> = issued
        .iter()
        .filter(|i| i.user == Ok(Some(PULLER.into())))
        .collect();
    assert_eq!(pulls.len(), 1, "{issued:?}");
    assert_eq!(pulls[0].scopes, [format!("repository:{GUN}:pull")]);
    assert_eq!(pulls[0].service.as_deref(), Some(token_issuer::SERVICE));

    // Flags win over the environment.
    let out = fx.resolve(
        &fx.image(),
        Run {
            env: vec![
                ("TRUSTPIN_USERNAME", PULLER.into()),
                ("TRUSTPIN_PASSWORD", WRONG_PASSWORD.into()),
            ],
            ..Run::password_stdin(&stdin, &[])
        },
    );
    fx.expect_trusted(&out, "flags before environment");

    // --username without --password-stdin is a usage error.
    let out = fx.resolve(
        &fx.image(),
        Run {
            args: vec!["--username".into(), PULLER.into()],
            ..Run::default()
        },
    );
    assert_eq!(out.code, 2, "{}", out.describe());
}

#[test]
fn credentials_from_the_environment() {
    let Some(fx) = fixture(GUN) else {
        return;
    };
    let out = fx.resolve_env_password(PULLER_PASSWORD);
    fx.expect_trusted(&out, "TRUSTPIN_USERNAME/TRUSTPIN_PASSWORD");
    // Half a pair is an error, not a silent fallback.
    let out = fx.resolve_env(vec![("TRUSTPIN_USERNAME", PULLER.into())]);
    out.expect(2, &["TRUSTPIN_PASSWORD"]);
}

#[test]
fn credentials_from_docker_config_auths() {
    let Some(fx) = fixture(GUN) else {
        return;
    };
    let config = fx.docker_config(serde_json::json!({
        "auths": {
            "registry.example.com": { "auth": basic(PULLER, PULLER_PASSWORD) },
            "other.example.com": { "auth": basic("nobody", WRONG_PASSWORD) },
        }
    }));
    let out = fx.resolve_env(vec![("DOCKER_CONFIG", config.display().to_string())]);
    fx.expect_trusted(&out, "auths.<registry>.auth");

    // An identity token is exchanged with an OAuth2 POST.
    let config = fx.docker_config(serde_json::json!({
        "auths": { "registry.example.com": { "auth": "", "identitytoken": IDENTITY_TOKEN } }
    }));
    let out = fx.resolve_env(vec![("DOCKER_CONFIG", config.display().to_string())]);
    fx.expect_trusted(&out, "auths.<registry>.identitytoken");
    assert!(
        fx.issuer
            .issued()
            .iter()
            .any(|i| i.method == "POST" && i.user == Ok(Some(PULLER.into()))),
        "{:?}",
        fx.issuer.issued()
    );

    // ~/.docker/config.json when DOCKER_CONFIG is not set.
    let home = fx.scratch.path().join("home2");
    std::fs::create_dir_all(home.join(".docker")).unwrap();
    std::fs::write(
        home.join(".docker/config.json"),
        serde_json::to_vec(&serde_json::json!({
            "auths": { "https://registry.example.com": { "auth": basic(PULLER, PULLER_PASSWORD) } }
        }))
        .unwrap(),
    )
    .unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_trustpin"));
    c.args([
        "resolve",
        &fx.image(),
        "--server",
        &fx.notary.url(),
        "--root-key",
    ])
    .arg(&fx.key)
    .env_remove("DOCKER_CONFIG")
    .env_remove("TRUSTPIN_USERNAME")
    .env_remove("TRUSTPIN_PASSWORD")
    .env_remove("DOCKER_CONTENT_TRUST_SERVER")
    .env("HOME", &home);
    let out = run(c, TRUSTPIN_TIMEOUT);
    fx.expect_trusted(&out, "~/.docker/config.json with a legacy URL key");
}

#[test]
fn credentials_from_a_cred_helper_called_with_the_registry() {
    let Some(fx) = fixture(GUN) else {
        return;
    };
    let bin = fx.puller_helper("trustpintest", "registry.example.com");
    let config = fx.docker_config(serde_json::json!({
        "auths": { "registry.example.com": { "auth": basic("ignored", WRONG_PASSWORD) } },
        "credHelpers": { "registry.example.com": "trustpintest" },
    }));
    let out = fx.resolve_env(helper_env(&config, &bin));
    fx.expect_trusted(&out, "credHelpers");
    assert_eq!(
        helper_calls(fx.scratch.path(), "trustpintest"),
        ["registry.example.com"],
        "the helper runs once, with the registry"
    );

    // A helper that does not know the registry: no credentials, so anonymous, refused.
    let config = fx.docker_config(serde_json::json!({
        "credHelpers": { "registry.example.com": "trustpintest2" },
    }));
    let bin2 = credential_helper(fx.scratch.path(), "trustpintest2", "elsewhere", "x", "y");
    let out = fx.resolve_env(helper_env(&config, &bin2));
    expect_auth_refusal(&out, &fx.issuer.realm(), &[], "helper without credentials");

    // A helper that is not installed: a clear error naming it.
    let config = fx.docker_config(serde_json::json!({
        "credHelpers": { "registry.example.com": "not-installed-anywhere" },
    }));
    let out = fx.resolve_env(vec![("DOCKER_CONFIG", config.display().to_string())]);
    out.expect(
        3,
        &["docker-credential-not-installed-anywhere is not on PATH"],
    );
}

#[test]
fn credentials_from_creds_store_and_the_docker_hub_key() {
    let Some(fx) = fixture(HUB_GUN) else {
        return;
    };
    let bin = fx.puller_helper("trustpinstore", "https://index.docker.io/v1/");
    let config = fx.docker_config(serde_json::json!({ "credsStore": "trustpinstore" }));
    // `team/app` is Docker Hub's docker.io/team/app.
    let out = fx.resolve(
        "team/app:v1",
        Run {
            env: helper_env(&config, &bin),
            ..Run::default()
        },
    );
    fx.expect_trusted(&out, "credsStore with Docker Hub");
    assert_eq!(
        helper_calls(fx.scratch.path(), "trustpinstore"),
        ["https://index.docker.io/v1/"]
    );
}

#[test]
fn wrong_password_is_exit_3_naming_the_realm_never_the_password() {
    let Some(fx) = fixture(GUN) else {
        return;
    };
    let out = fx.resolve_env_password(WRONG_PASSWORD);
    expect_auth_refusal(&out, &fx.issuer.realm(), &[WRONG_PASSWORD], "env");
    out.expect_stderr(&["refused the credentials", "TRUSTPIN_USERNAME"], "");

    let stdin = format!("{WRONG_PASSWORD}\n");
    let out = fx.resolve(
        &fx.image(),
        Run::password_stdin(&stdin, &["--output", "json"]),
    );
    expect_auth_refusal(&out, &fx.issuer.realm(), &[WRONG_PASSWORD], "flags, json");
    assert!(
        out.stdout.contains(&fx.issuer.realm()),
        "{}",
        out.describe()
    );

    // A user without pull rights gets a token the server refuses.
    let config = fx.docker_config(serde_json::json!({
        "auths": { "registry.example.com": { "auth": basic("nobody", WRONG_PASSWORD) } }
    }));
    let out = fx.resolve_env(vec![("DOCKER_CONFIG", config.display().to_string())]);
    expect_auth_refusal(&out, &fx.issuer.realm(), &[WRONG_PASSWORD], "config");
}

/// `trustpin resolve GUN:v1 --server URL --root-key KEY EXTRA...` as PULLER (from the
/// environment), DOCKER_CONFIG `docker_config`.
fn resolve_as_puller<S: AsRef<std::ffi::OsStr>>(
    url: &str,
    key: &Path,
    docker_config: &Path,
    extra: &[S],
) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trustpin"));
    c.args([
        "resolve",
        &format!("{GUN}:v1"),
        "--server",
        url,
        "--root-key",
    ])
    .arg(key)
    .args(extra)
    .env("TRUSTPIN_USERNAME", PULLER)
    .env("TRUSTPIN_PASSWORD", PULLER_PASSWORD)
    .env("DOCKER_CONFIG", docker_config)
    .env_remove("DOCKER_CONTENT_TRUST_SERVER");
    run(c, TRUSTPIN_TIMEOUT)
}

#[test]
fn access_token_field_is_read_too() {
    if !require_live() {
        return;
    }
    let issuer = TokenIssuer::start_access_token(users());
    let notary = Notary::start(Some(issuer.notary_auth_config()), None);
    let client = NotaryClient::for_url(&notary.url(), None);
    let target = publish(&client, &[], GUN);
    let key = client.write_root_key(GUN, "root.pub");
    let out = resolve_as_puller(&notary.url(), &key, &client.work_dir(), &[] as &[&str]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.contains(&target.sha256), "{}", out.describe());
}

// ------------------------------------------------------------------------------------------------
// TLS

#[test]
fn https_with_a_private_ca_needs_ca_cert() {
    let (server, client) = live_server_or_skip!(true);
    let target = publish(&client, &[], GUN);
    let key = client.write_root_key(GUN, "root.pub");
    let trustpin = |extra: &[&Path]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_trustpin"));
        c.args([
            "resolve",
            &format!("{GUN}:v1"),
            "--server",
            &server.url(),
            "--root-key",
        ])
        .arg(&key)
        .env_remove("DOCKER_CONTENT_TRUST_SERVER");
        for ca in extra {
            c.arg("--ca-cert").arg(ca);
        }
        run(c, TRUSTPIN_TIMEOUT)
    };
    let out = trustpin(&[]);
    out.expect(3, &[&server.url()]);
    assert!(
        out.stderr.contains("UnknownIssuer") || out.stderr.contains("certificate"),
        "{}",
        out.describe()
    );
    let out = trustpin(&[&server.ca_pem_path()]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.contains(&target.sha256), "{}", out.describe());
}

#[test]
fn mutual_tls_and_token_auth_over_https() {
    if !require_live() {
        return;
    }
    let pki = TestPki::new();
    let issuer = TokenIssuer::start_tls(users(), &pki);
    let notary = Notary::start(
        Some(issuer.notary_auth_config()),
        Some(Tls {
            pki: &pki,
            require_client_cert: true,
        }),
    );
    // The notary client presents the client certificate from its config file.
    let client = NotaryClient::for_url(&notary.url(), Some(pki.ca_pem_path()));
    let config = client.work_dir().join("notary-config.json");
    std::fs::write(
        &config,
        serde_json::to_vec(&serde_json::json!({
            "remote_server": {
                "tls_client_cert": pki.client_cert_path(),
                "tls_client_key": pki.client_key_path(),
            }
        }))
        .unwrap(),
    )
    .unwrap();
    let config = config.display().to_string();
    let target = publish(&client, &["-c", &config], GUN);
    let key = client.write_root_key(GUN, "root.pub");

    let trustpin = |extra: &[String]| {
        let ca = pki.ca_pem_path().display().to_string();
        let args = [&["--ca-cert".to_owned(), ca][..], extra].concat();
        resolve_as_puller(&notary.url(), &key, pki.dir(), &args)
    };
    let out = trustpin(&[]);
    assert_eq!(
        out.code,
        3,
        "without a client certificate: {}",
        out.describe()
    );
    out.expect_stderr(&[&notary.url()], "");

    let started = Instant::now();
    let with_cert = [
        "--client-cert".to_owned(),
        pki.client_cert_path().display().to_string(),
        "--client-key".to_owned(),
        pki.client_key_path().display().to_string(),
        "--check-health".to_owned(),
    ];
    let out = trustpin(&with_cert);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.contains(&target.sha256), "{}", out.describe());
    eprintln!("mutual TLS + https token realm: {:?}", started.elapsed());
    // The realm was https (the issuer's), asked once.
    let pulls = issuer
        .issued()
        .into_iter()
        .filter(|i| i.user == Ok(Some(PULLER.into())))
        .count();
    assert_eq!(pulls, 1);

    // --client-cert without --client-key is a usage error.
    let out = trustpin(&with_cert[..2]);
    assert_eq!(out.code, 2, "{}", out.describe());
}

/// `-v`: each request with its status, size and time (the 401, the token request, the retried
/// fetch), then cache hits on a second run, and the time spent verifying; never the password,
/// its basic-auth form or a token. It composes with `-q`: notes go, verbose lines stay.
#[test]
fn verbose_shows_each_request_and_cache_hit_and_never_a_secret() {
    let Some(fx) = fixture(GUN) else {
        return;
    };
    let stdin = format!("{PULLER_PASSWORD}\n");
    let cache = fx.scratch.path().join("cache");
    let cache = cache.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["-v", "--cache-dir", cache];
        args.extend_from_slice(extra);
        fx.resolve(&fx.image(), Run::password_stdin(&stdin, &args))
    };
    let out = run(&["-q"]);
    fx.expect_trusted(&out, "-v -q");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines.iter().all(|l| l.starts_with("verbose: ")),
        "-q leaves only verbose lines: {}",
        out.describe()
    );
    let tuf = format!("{}/v2/{GUN}/_trust/tuf", fx.notary.url());
    let has = |prefix: &str, rest: &str| {
        lines
            .iter()
            .any(|l| l.starts_with(prefix) && l.contains(rest) && l.ends_with(" ms"))
    };
    for role in ["root", "timestamp", "snapshot", "targets"] {
        let get = format!("verbose: GET {tuf}/{role}.json ");
        assert!(
            has(&get, " 401 "),
            "{role}: the challenge: {}",
            out.describe()
        );
        assert!(has(&get, " 200 "), "{role}: the answer: {}", out.describe());
    }
    let token = format!("verbose: GET {}", fx.issuer.realm());
    assert!(
        has(&token, " 200 "),
        "the token request: {}",
        out.describe()
    );
    assert!(
        has(&format!("verbose: verified {GUN} in "), ""),
        "{}",
        out.describe()
    );
    let size = lines
        .iter()
        .find(|l| l.starts_with(&format!("verbose: GET {tuf}/root.json 200 ")))
        .and_then(|l| l.split(' ').nth(4))
        .and_then(|n| n.parse::<usize>().ok());
    assert!(
        size.is_some_and(|n| n > 100),
        "root.json's size: {}",
        out.describe()
    );
    let secrets = [
        PULLER_PASSWORD.to_string(),
        basic(PULLER, PULLER_PASSWORD),
        "Bearer".to_string(),
        "eyJ".to_string(), // a JWT's start
        "Authorization".to_string(),
    ];
    for s in &secrets {
        assert!(
            !out.stderr.contains(s.as_str()),
            "{s:?} shown: {}",
            out.describe()
        );
    }

    // Again, without -q: the cache serves what did not change; the timestamp is fetched.
    let out = run(&[]);
    fx.expect_trusted(&out, "-v, cached");
    let lines: Vec<&str> = out.stderr.lines().collect();
    for role in ["root", "snapshot", "targets"] {
        let hit = format!("verbose: cache hit {GUN} {role}.json ");
        assert!(
            lines.iter().any(|l| l.starts_with(&hit)),
            "{role}: {}",
            out.describe()
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("verbose: GET {tuf}/timestamp.json 200 "))),
        "{}",
        out.describe()
    );
    for s in &secrets {
        assert!(
            !out.stderr.contains(s.as_str()),
            "{s:?} shown: {}",
            out.describe()
        );
    }
}
