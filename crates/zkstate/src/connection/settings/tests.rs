//! Tests of the settings, their sources and target resolution.
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use super::*;
use crate::connection::acl::AclPolicy;
use crate::connection::tls::{TlsSettings, ENV_TLS_CA, ENV_TLS_CERT, ENV_TLS_KEY};
use crate::connection::url::{PathProblem, UrlError, ZkUrl};
use proptest::prelude::*;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn url(s: &str) -> ZkUrl {
    match ZkUrl::parse(s) {
        Ok(u) => u,
        Err(e) => panic!("{s}: {e}"),
    }
}

fn ok<T, E: fmt::Display>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

fn target(servers: &str, path: &str) -> Target {
    Target {
        servers: servers.to_string(),
        path: path.to_string(),
    }
}

#[test]
fn defaults() {
    let s = Settings::default();
    assert_eq!(s.servers(), None);
    assert_eq!(s.path(), None);
    assert_eq!(s.session_timeout(), Duration::from_secs(10));
    assert_eq!(s.connection_timeout(), None);
    assert_eq!(s.connect_timeout(), Duration::from_secs(10));
    assert!(s.digest().is_empty());
}

#[test]
fn setters() {
    let cred = ok(Credential::parse("u:p"));
    let s = Settings::default()
        .with_servers("h1")
        .with_path("/p")
        .with_session_timeout(Duration::from_secs(3))
        .with_connection_timeout(Duration::from_secs(1))
        .with_connect_timeout(Duration::from_secs(7))
        .with_digest(cred.clone());
    assert_eq!(s.servers(), Some("h1"));
    assert_eq!(s.path(), Some("/p"));
    assert_eq!(s.session_timeout(), Duration::from_secs(3));
    assert_eq!(s.connection_timeout(), Some(Duration::from_secs(1)));
    assert_eq!(s.connect_timeout(), Duration::from_secs(7));
    assert_eq!(s.digest(), &[cred]);
}

#[test]
fn credential_parse() {
    let c = ok(Credential::parse("bob:pa:ss:"));
    assert_eq!((c.user(), c.password()), ("bob", "pa:ss:"));
    assert_eq!(c.auth_bytes(), b"bob:pa:ss:".to_vec());
    let empty_password = ok(Credential::parse("bob:"));
    assert_eq!(empty_password.password(), "");
    assert_eq!(
        Credential::parse(":secret"),
        Err(SettingsError::Credential {
            origin: "credential".into(),
            problem: CredentialProblem::EmptyUser
        })
    );
    assert_eq!(
        Credential::parse("bobsecret"),
        Err(SettingsError::Credential {
            origin: "credential".into(),
            problem: CredentialProblem::MissingColon
        })
    );
    assert_eq!(
        ok(Credential::new("bob", "x:y")),
        ok(Credential::parse("bob:x:y"))
    );
    assert!(Credential::new("", "x").is_err());
    assert_eq!(
        Credential::new("a:b", "x"),
        Err(SettingsError::Credential {
            origin: "credential".into(),
            problem: CredentialProblem::ColonInUser
        })
    );
}

#[test]
fn credential_debug_hides_password() {
    let c = ok(Credential::parse("bob:hunter2"));
    let shown = format!("{c:?} {:?}", Settings::default().with_digest(c.clone()));
    assert!(
        shown.contains("bob") && !shown.contains("hunter2"),
        "{shown}"
    );
    // Errors never echo a credential either.
    let e = Settings::from_env_with(env(&[(ENV_AUTH, "hunter2")])).map(|_| ());
    let shown = format!(
        "{e:?} {}",
        e.as_ref()
            .map_or_else(ToString::to_string, |_| String::new())
    );
    assert!(
        shown.contains(ENV_AUTH) && !shown.contains("hunter2"),
        "{shown}"
    );
}

#[test]
fn or_fills_unset_fields() {
    let a = ok(Credential::parse("a:1"));
    let b = ok(Credential::parse("b:2"));
    let high = Settings::default()
        .with_servers("h1")
        .with_digest(a.clone());
    let low = Settings::default()
        .with_servers("h2")
        .with_path("/low")
        .with_session_timeout(Duration::from_secs(4))
        .with_connection_timeout(Duration::from_secs(2))
        .with_connect_timeout(Duration::from_secs(5))
        .with_digest(b.clone());
    let merged = high.clone().or(low.clone());
    assert_eq!(merged.servers(), Some("h1"));
    assert_eq!(merged.path(), Some("/low"));
    assert_eq!(merged.session_timeout(), Duration::from_secs(4));
    assert_eq!(merged.connection_timeout(), Some(Duration::from_secs(2)));
    assert_eq!(merged.connect_timeout(), Duration::from_secs(5));
    assert_eq!(merged.digest(), &[a]);
    assert_eq!(Settings::default().or(low.clone()), low);
    assert_eq!(low.clone().or(Settings::default()), low);
    // A timeout set to the default value still wins over a lower one.
    let ten = Settings::default().with_session_timeout(Duration::from_secs(10));
    assert_eq!(ten.or(low).session_timeout(), Duration::from_secs(10));
    assert_eq!(Settings::default().or(high.clone()).digest(), high.digest());
    let _ = b;
}

#[test]
fn section_full() {
    let s = ok(Settings::from_toml_str(
        r#"
        [other]
        anything = 1

        [zookeeper]
        servers = "zk1:2181, zk2"
        path = "myfolder"
        session_timeout_ms = 4000
        connection_timeout_ms = 1500
        connect_timeout_ms = 2500
        auth = "app:se:cret"
        "#,
    ));
    assert_eq!(s.servers(), Some("zk1:2181, zk2"));
    assert_eq!(s.path(), Some("myfolder"));
    assert_eq!(s.session_timeout(), Duration::from_millis(4000));
    assert_eq!(s.connection_timeout(), Some(Duration::from_millis(1500)));
    assert_eq!(s.connect_timeout(), Duration::from_millis(2500));
    assert_eq!(s.digest(), &[ok(Credential::parse("app:se:cret"))]);
    let t = ok(Target::resolve(None, &s, no_env));
    assert_eq!(t, target("zk1:2181,zk2:2181", "/myfolder"));
}

#[test]
fn section_missing_is_default() {
    assert_eq!(Settings::from_toml_str(""), Ok(Settings::default()));
    assert_eq!(
        Settings::from_toml_str("[app]\nx = 1\n"),
        Ok(Settings::default())
    );
    assert_eq!(
        Settings::from_toml_str("[zookeeper]\n"),
        Ok(Settings::default())
    );
}

#[test]
fn toml_errors_have_positions() {
    let message = |text: &str| match Settings::from_toml_str(text) {
        Err(SettingsError::Toml { origin, message }) => {
            assert_eq!(origin, "toml text");
            message
        }
        other => panic!("{text}: {other:?}"),
    };
    let syntax = message("[zookeeper]\nservers = \n");
    assert!(syntax.contains("line 2"), "{syntax}");
    let unknown = message("[zookeeper]\nserver = \"h1\"\n");
    assert!(
        unknown.contains("unknown field") && unknown.contains("server"),
        "{unknown}"
    );
    let mistyped = message("[zookeeper]\nsession_timeout_ms = \"10s\"\n");
    assert!(mistyped.contains("line 2"), "{mistyped}");
    let negative = message("[zookeeper]\nsession_timeout_ms = -1\n");
    assert!(negative.contains("line 2"), "{negative}");
    let not_table = message("zookeeper = 3\n");
    assert!(not_table.contains("line 1"), "{not_table}");
    let column = message("[zookeeper]\nservers = \"h1\"\nsession_timeout_ms = true\n");
    assert!(column.starts_with("line 3, column 22: "), "{column}");
    // The offending line is not quoted: it may hold a password.
    let secret = message("[zookeeper]\nauth = \"bob:hunter2\" x\n");
    assert!(
        secret.starts_with("line 2, ") && !secret.contains("hunter2"),
        "{secret}"
    );
    assert!(!secret.contains('\n'), "{secret}");
}

#[test]
fn section_values_checked() {
    let section = |f: fn(&mut ZookeeperSection)| {
        let mut s = ZookeeperSection::default();
        f(&mut s);
        Settings::from_section(&s)
    };
    assert!(matches!(
        section(|s| s.servers = Some("h1,,h2".into())),
        Err(SettingsError::Servers { origin, source: UrlError::EmptyHost { .. } }) if origin == "[zookeeper] servers"
    ));
    assert!(matches!(
        section(|s| s.servers = Some("h1:2181/chroot".into())),
        Err(SettingsError::ServersWithPath { origin, .. }) if origin == "[zookeeper] servers"
    ));
    assert!(matches!(
        section(|s| s.path = Some("/a//b".into())),
        Err(SettingsError::Path { origin, source: UrlError::BadPath { problem: PathProblem::EmptyComponent, .. } })
            if origin == "[zookeeper] path"
    ));
    assert_eq!(
        section(|s| s.session_timeout_ms = Some(0)),
        Err(SettingsError::Timeout {
            key: "[zookeeper] session_timeout_ms".into(),
            value: 0
        })
    );
    assert_eq!(
        section(|s| s.connect_timeout_ms = Some(1 << 40)),
        Err(SettingsError::Timeout {
            key: "[zookeeper] connect_timeout_ms".into(),
            value: 1 << 40
        })
    );
    assert!(matches!(
        section(|s| s.connection_timeout_ms = Some(0)),
        Err(SettingsError::Timeout { key, .. }) if key == "[zookeeper] connection_timeout_ms"
    ));
    assert_eq!(
        section(|s| s.auth = Some(":pw".into())),
        Err(SettingsError::Credential {
            origin: "[zookeeper] auth".into(),
            problem: CredentialProblem::EmptyUser
        })
    );
}

#[test]
fn section_debug_hides_password() {
    let section = ZookeeperSection {
        auth: Some("bob:hunter2".into()),
        ..ZookeeperSection::default()
    };
    let shown = format!("{section:?}");
    assert!(
        shown.contains("bob:<redacted>") && !shown.contains("hunter2"),
        "{shown}"
    );
}

#[test]
fn section_from_json_too() {
    let section: ZookeeperSection = ok(serde_json::from_str(
        r#"{"servers": "h1", "session_timeout_ms": 5}"#,
    ));
    assert_eq!(
        ok(Settings::from_section(&section)).session_timeout(),
        Duration::from_millis(5)
    );
    assert!(serde_json::from_str::<ZookeeperSection>(r#"{"srevers": "h1"}"#).is_err());
}

#[test]
fn toml_file() {
    let dir = std::env::temp_dir().join(format!("zkstate-settings-test-{}", std::process::id()));
    ok(std::fs::create_dir_all(&dir));
    let file = dir.join("app.toml");
    ok(std::fs::write(&file, "[zookeeper]\nservers = \"h9\"\n"));
    assert_eq!(
        Settings::from_toml_file(&file).map(|s| s.servers().map(str::to_string)),
        Ok(Some("h9".into()))
    );
    ok(std::fs::write(&file, "[zookeeper]\nbogus = 1\n"));
    match Settings::from_toml_file(&file) {
        Err(SettingsError::Toml { origin, .. }) => {
            assert_eq!(origin, file.display().to_string())
        }
        other => panic!("{other:?}"),
    }
    let missing = dir.join("missing.toml");
    match Settings::from_toml_file(&missing) {
        Err(e @ SettingsError::Io { .. }) => {
            assert!(e.to_string().contains("missing.toml"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn env_settings() {
    let s = ok(Settings::from_env_with(env(&[
        (ENV_SERVERS, "e1,e2:2182"),
        (ENV_PATH, "/envpath"),
        (ENV_AUTH, "u:p"),
        ("OTHER", "x"),
    ])));
    assert_eq!(s.servers(), Some("e1,e2:2182"));
    assert_eq!(s.path(), Some("/envpath"));
    assert_eq!(s.digest(), &[ok(Credential::parse("u:p"))]);
    assert_eq!(s.session_timeout(), Duration::from_secs(10));
    assert_eq!(Settings::from_env_with(no_env), Ok(Settings::default()));
    assert_eq!(
        Settings::from_env_with(env(&[(ENV_SERVERS, " "), (ENV_AUTH, "")])),
        Ok(Settings::default())
    );
}

#[test]
fn env_errors_name_the_variable() {
    assert!(matches!(
        Settings::from_env_with(env(&[(ENV_SERVERS, "h1:99999")])),
        Err(SettingsError::Servers { origin, source: UrlError::BadPort { .. } }) if origin == ENV_SERVERS
    ));
    assert!(matches!(
        Settings::from_env_with(env(&[(ENV_PATH, "/a/")])),
        Err(SettingsError::Path { origin, .. }) if origin == ENV_PATH
    ));
    let e = Settings::from_env_with(env(&[(ENV_AUTH, "nocolon")]));
    assert_eq!(
        e,
        Err(SettingsError::Credential {
            origin: ENV_AUTH.into(),
            problem: CredentialProblem::MissingColon
        })
    );
}

#[test]
fn from_env_reads_the_process_environment() {
    // Tests must not set the variables in this process (other tests run in parallel): this
    // test runs itself again in a child process with the variables set, and the child asserts.
    const CHILD: &str = "ZKSTATE_SETTINGS_TEST_CHILD";
    const NAME: &str = "from_env_reads_the_process_environment";
    // Printed by the child once its assertions passed: the proof that the child ran this test's
    // child side, not some other test or none (a filter that matches nothing passes).
    const CHECKED: &str = "zkstate-settings-child: from_env checked";
    if std::env::var_os(CHILD).is_some() {
        let settings = ok(Settings::from_env());
        assert_eq!(settings.servers(), Some("child-host:2181"));
        assert_eq!(settings.path(), Some("/from/env"));
        assert_eq!(settings.acl_policy(), AclPolicy::CreatorOnly);
        assert_eq!(settings.digest().len(), 1);
        println!("{CHECKED}");
        return;
    }
    // This test's full name as libtest knows it: the module path without the crate's name.
    let module = module_path!().split_once("::").map_or("", |(_, rest)| rest);
    let name = format!("{module}::{NAME}");
    let exe = ok(std::env::current_exe());
    // `--nocapture` so that the child's marker reaches its stdout whatever options or
    // environment (`RUST_TEST_NOCAPTURE`) this run has; one thread keeps its output in order.
    let output = ok(std::process::Command::new(exe)
        .args(["--exact", &name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env(ENV_SERVERS, "child-host:2181")
        .env(ENV_PATH, "/from/env")
        .env(ENV_AUTH, "user:secret")
        .env(ENV_ACL, "creator-only")
        .output());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let context = format!(
        "child `--exact {name}`: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // libtest's header and summary have lines of their own; the marker, printed while the test
    // runs uncaptured, follows the test's name on its line.
    assert!(
        stdout.lines().any(|line| line.trim() == "running 1 test"),
        "the child did not run exactly one test: {context}"
    );
    assert!(
        stdout.contains(CHECKED),
        "the child did not pass this test's assertions: {context}"
    );
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("test result: ok. 1 passed; 0 failed;")),
        "the child's one test did not pass: {context}"
    );
    assert!(output.status.success(), "the child failed: {context}");
}

#[test]
fn resolve_url_has_everything() {
    let s = Settings::default().with_servers("s1").with_path("/base");
    let e = env(&[(ENV_SERVERS, "e1"), (ENV_PATH, "/envbase")]);
    let t = ok(Target::resolve(
        Some(&url("zookeeper://u1,u2:2182/etc/configs/file1")),
        &s,
        &e,
    ));
    assert_eq!(t, target("u1:2181,u2:2182", "/etc/configs/file1"));
    let t = ok(Target::resolve(Some(&url("u1/chroot")), &s, &e));
    assert_eq!(t, target("u1:2181", "/chroot"));
}

#[test]
fn resolve_servers_precedence() {
    let u = url("zookeeper:///p");
    let e = env(&[(ENV_SERVERS, "e1")]);
    let with = Settings::default().with_servers("s1:2000");
    assert_eq!(ok(Target::resolve(Some(&u), &with, &e)).servers, "s1:2000");
    assert_eq!(
        ok(Target::resolve(Some(&u), &Settings::default(), &e)).servers,
        "e1:2181"
    );
    assert_eq!(
        ok(Target::resolve(None, &Settings::default(), &e)),
        target("e1:2181", "/")
    );
    assert_eq!(
        Target::resolve(Some(&u), &Settings::default(), no_env),
        Err(SettingsError::NoServers)
    );
    assert_eq!(
        Target::resolve(None, &Settings::default(), env(&[(ENV_SERVERS, "")])),
        Err(SettingsError::NoServers)
    );
    let msg = SettingsError::NoServers.to_string();
    assert!(
        msg.contains("servers=") && msg.contains("ZOOKEEPER_SERVERS"),
        "{msg}"
    );
}

#[test]
fn resolve_path_precedence() {
    let servers = Settings::default().with_servers("h");
    let e = env(&[(ENV_PATH, "/envbase")]);
    // asab's example: path=myfolder with a relative URL.
    let rel = url("zookeeper:./etc/configs/file1");
    let s = servers.clone().with_path("myfolder");
    assert_eq!(
        ok(Target::resolve(Some(&rel), &s, &e)).path,
        "/myfolder/etc/configs/file1"
    );
    assert_eq!(
        ok(Target::resolve(Some(&rel), &servers, &e)).path,
        "/envbase/etc/configs/file1"
    );
    assert_eq!(
        ok(Target::resolve(Some(&rel), &servers, no_env)).path,
        "/etc/configs/file1"
    );
    let unspecified = url("zookeeper://");
    assert_eq!(
        ok(Target::resolve(Some(&unspecified), &s, &e)).path,
        "/myfolder"
    );
    assert_eq!(
        ok(Target::resolve(Some(&unspecified), &servers, &e)).path,
        "/envbase"
    );
    assert_eq!(
        ok(Target::resolve(Some(&unspecified), &servers, no_env)).path,
        "/"
    );
    assert_eq!(ok(Target::resolve(None, &servers, no_env)).path, "/");
    // An absolute URL path ignores every base, even a bad one.
    let bad = servers.clone().with_path("/a//b");
    assert_eq!(
        ok(Target::resolve(Some(&url("zookeeper:///x")), &bad, no_env)).path,
        "/x"
    );
    assert_eq!(
        ok(Target::resolve(
            Some(&url("zookeeper:./x")),
            &servers.clone().with_path("/"),
            no_env
        ))
        .path,
        "/x"
    );
}

#[test]
fn resolve_errors_name_the_source() {
    let e = env(&[(ENV_SERVERS, "h1,,h2"), (ENV_PATH, "/p/")]);
    assert!(matches!(
        Target::resolve(None, &Settings::default(), &e),
        Err(SettingsError::Servers { origin, .. }) if origin == ENV_SERVERS
    ));
    assert!(matches!(
        Target::resolve(None, &Settings::default().with_servers("bad host"), &e),
        Err(SettingsError::Servers { origin, source: UrlError::BadHost { .. } }) if origin == "settings servers"
    ));
    assert!(matches!(
        Target::resolve(None, &Settings::default().with_servers("h/x"), &e),
        Err(SettingsError::ServersWithPath { origin, .. }) if origin == "settings servers"
    ));
    let servers = Settings::default().with_servers("h");
    assert!(matches!(
        Target::resolve(None, &servers, &e),
        Err(SettingsError::Path { origin, source: UrlError::BadPath { path, problem: PathProblem::TrailingSlash } })
            if origin == ENV_PATH && path == "/p/"
    ));
    // A relative base is reported as written, without the '/' added to root it.
    assert!(matches!(
        Target::resolve(None, &servers.clone().with_path("a/../b"), &e),
        Err(SettingsError::Path { origin, source: UrlError::BadPath { path, problem: PathProblem::DotComponent } })
            if origin == "settings path" && path == "a/../b"
    ));
    let msg = ok(Target::resolve(None, &servers.with_path("x//y"), no_env)
        .map(|_| ())
        .err()
        .ok_or("no error"))
    .to_string();
    assert!(
        msg.contains("settings path") && msg.contains("x//y"),
        "{msg}"
    );
}

#[test]
fn errors_are_std_errors_with_sources() {
    use std::error::Error as _;
    let e = SettingsError::Servers {
        origin: ENV_SERVERS.into(),
        source: UrlError::Empty,
    };
    assert!(e.source().is_some());
    assert!(e.to_string().contains(ENV_SERVERS));
}

#[test]
fn tls_defaults_and_setter() {
    assert_eq!(Settings::default().tls(), None);
    let tls = TlsSettings::new("/etc/ca.pem").with_identity("/etc/c.pem", "/etc/k.pem");
    let s = Settings::default().with_tls(tls.clone());
    assert_eq!(s.tls(), Some(&tls));
}

#[test]
fn tls_or_takes_the_whole_tls_settings() {
    let high = TlsSettings::new("/high-ca.pem");
    let low = TlsSettings::new("/low-ca.pem").with_identity("/low-c.pem", "/low-k.pem");
    let merged = Settings::default()
        .with_tls(high.clone())
        .or(Settings::default().with_tls(low.clone()));
    // Not mixed: the higher source's CA without the lower one's identity.
    assert_eq!(merged.tls(), Some(&high));
    let merged = Settings::default().or(Settings::default().with_tls(low.clone()));
    assert_eq!(merged.tls(), Some(&low));
    let merged = Settings::default()
        .with_tls(low.clone())
        .or(Settings::default());
    assert_eq!(merged.tls(), Some(&low));
}

#[test]
fn tls_from_section() {
    let s = ok(Settings::from_toml_str(
        r#"
        [zookeeper]
        servers = "zk1:2281"
        tls_ca = "/etc/zk/ca.pem"
        tls_cert = "/etc/zk/client.pem"
        tls_key = "/etc/zk/client-key.pem"
        "#,
    ));
    assert_eq!(
        s.tls(),
        Some(
            &TlsSettings::new("/etc/zk/ca.pem")
                .with_identity("/etc/zk/client.pem", "/etc/zk/client-key.pem")
        )
    );
    let ca_only = ok(Settings::from_toml_str(
        "[zookeeper]\ntls_ca = \"ca.pem\"\n",
    ));
    assert_eq!(ca_only.tls(), Some(&TlsSettings::new("ca.pem")));
    assert_eq!(ok(Settings::from_toml_str("[zookeeper]\n")).tls(), None);
    let tls_error = |text: &str| match Settings::from_toml_str(text) {
        Err(SettingsError::Tls { origin, problem }) => (origin, problem),
        other => panic!("{text}: {other:?}"),
    };
    let (origin, problem) = tls_error("[zookeeper]\ntls_ca = \"/ca\"\ntls_cert = \"/c\"\n");
    assert_eq!(origin, "[zookeeper] tls_cert");
    assert!(problem.contains("[zookeeper] tls_key"), "{problem}");
    let (origin, _) = tls_error("[zookeeper]\ntls_ca = \"/ca\"\ntls_key = \"/k\"\n");
    assert_eq!(origin, "[zookeeper] tls_key");
    let (origin, problem) = tls_error("[zookeeper]\ntls_cert = \"/c\"\ntls_key = \"/k\"\n");
    assert_eq!(origin, "[zookeeper] tls_cert");
    assert!(problem.contains("[zookeeper] tls_ca"), "{problem}");
    let (origin, _) = tls_error("[zookeeper]\ntls_ca = \"\"\n");
    assert_eq!(origin, "[zookeeper] tls_ca");
    let message = match Settings::from_toml_str("[zookeeper]\ntls_ca = 3\n") {
        Err(SettingsError::Toml { message, .. }) => message,
        other => panic!("{other:?}"),
    };
    assert!(message.contains("line 2"), "{message}");
    let section = ZookeeperSection {
        tls_ca: Some("/ca.pem".into()),
        ..ZookeeperSection::default()
    };
    assert!(format!("{section:?}").contains("/ca.pem"));
}

#[test]
fn tls_from_env() {
    let s = ok(Settings::from_env_with(env(&[
        (ENV_TLS_CA, "/env/ca.pem"),
        (ENV_TLS_CERT, "/env/c.pem"),
        (ENV_TLS_KEY, "/env/k.pem"),
    ])));
    assert_eq!(
        s.tls(),
        Some(&TlsSettings::new("/env/ca.pem").with_identity("/env/c.pem", "/env/k.pem"))
    );
    // Blank counts as unset, as for the other variables.
    let s = ok(Settings::from_env_with(env(&[
        (ENV_TLS_CA, "/env/ca.pem"),
        (ENV_TLS_CERT, " "),
    ])));
    assert_eq!(s.tls(), Some(&TlsSettings::new("/env/ca.pem")));
    assert_eq!(
        Settings::from_env_with(env(&[(ENV_TLS_CERT, "/c"), (ENV_TLS_KEY, "/k")])),
        Err(SettingsError::Tls {
            origin: ENV_TLS_CERT.into(),
            problem: format!("a client certificate needs {ENV_TLS_CA}, the CA of the servers"),
        })
    );
    assert!(matches!(
        Settings::from_env_with(env(&[(ENV_TLS_CA, "/ca"), (ENV_TLS_KEY, "/k")])),
        Err(SettingsError::Tls { origin, .. }) if origin == ENV_TLS_KEY
    ));
    let msg = ok(
        Settings::from_env_with(env(&[(ENV_TLS_CA, "/ca"), (ENV_TLS_CERT, "/c")]))
            .map(|_| ())
            .err()
            .ok_or("no error"),
    )
    .to_string();
    assert!(
        msg.contains(ENV_TLS_CERT) && msg.contains(ENV_TLS_KEY),
        "{msg}"
    );
}

proptest! {
    #[test]
    fn or_prefers_self(
        a in proptest::option::of("[a-z]{1,5}"),
        b in proptest::option::of("[a-z]{1,5}"),
        ta in proptest::option::of(1u64..100_000),
        tb in proptest::option::of(1u64..100_000),
    ) {
        let build = |servers: &Option<String>, t: Option<u64>| {
            let mut s = Settings::default();
            if let Some(v) = servers { s = s.with_servers(v.clone()).with_path(format!("/{v}")); }
            if let Some(ms) = t { s = s.with_session_timeout(Duration::from_millis(ms)); }
            s
        };
        let merged = build(&a, ta).or(build(&b, tb));
        prop_assert_eq!(merged.servers(), a.as_deref().or(b.as_deref()));
        prop_assert_eq!(merged.path().map(str::to_string), a.as_ref().or(b.as_ref()).map(|v| format!("/{v}")));
        prop_assert_eq!(merged.session_timeout(), Duration::from_millis(ta.or(tb).unwrap_or(10_000)));
    }

    #[test]
    fn credential_round_trips(user in "[^:]{1,8}", password in "\\PC{0,8}") {
        let c = Credential::parse(&format!("{user}:{password}"));
        prop_assert!(c.is_ok());
        let Ok(c) = c else { unreachable!() };
        prop_assert_eq!(c.user(), user.as_str());
        prop_assert_eq!(c.password(), password.as_str());
        prop_assert_eq!(c.auth_bytes(), format!("{user}:{password}").into_bytes());
    }
}
