//! Every URL form connects to a real server and lands on the path it names; settings precedence;
//! bad URLs and settings are typed errors.

mod common;

use common::{fast_settings, shared_server};
use zkstate::connection::settings::{SettingsError, ZookeeperSection};
use zkstate::connection::url::UrlError;
use zkstate::{ConnectError, Connection, Settings, Target, ZkUrl};

async fn connect(url: &str, settings: Settings) -> Connection {
    match Connection::connect(url, settings).await {
        Ok(conn) => conn,
        Err(err) => panic!("{url}: {err}"),
    }
}

/// Proves the connection reaches the server: create a node under its base path and read it back.
async fn round_trip(conn: &Connection) {
    let client = conn.client().expect("connected client");
    let path = if conn.path() == "/" {
        "/probe".to_string()
    } else {
        format!("{}/probe", conn.path())
    };
    let options =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    client.mkdir(&path, &options).await.expect("mkdir");
    assert!(client.check_stat(&path).await.expect("stat").is_some());
}

#[tokio::test]
async fn absolute_url_with_servers() {
    let server = shared_server().await;
    let conn = connect(
        &format!("zookeeper://{}/urls/abs", server.connect_string()),
        fast_settings(),
    )
    .await;
    assert_eq!(conn.path(), "/urls/abs");
    assert_eq!(conn.servers(), server.connect_string());
    round_trip(&conn).await;
}

#[tokio::test]
async fn url_without_servers_takes_them_from_settings() {
    let server = shared_server().await;
    let settings = fast_settings().with_servers(server.connect_string());
    let conn = connect("zookeeper:///urls/from-settings", settings).await;
    assert_eq!(conn.path(), "/urls/from-settings");
    round_trip(&conn).await;
}

#[tokio::test]
async fn relative_url_joins_the_base_path_from_settings() {
    let server = shared_server().await;
    let settings = fast_settings()
        .with_servers(server.connect_string())
        .with_path("/urls/base");
    let conn = connect("zookeeper:./etc/configs", settings).await;
    assert_eq!(conn.path(), "/urls/base/etc/configs");
    round_trip(&conn).await;
}

#[tokio::test]
async fn plain_connect_string_with_chroot() {
    let server = shared_server().await;
    let conn = connect(
        &format!("{}/urls/plain", server.connect_string()),
        fast_settings(),
    )
    .await;
    assert_eq!(conn.path(), "/urls/plain");
    round_trip(&conn).await;
}

#[tokio::test]
async fn config_section_from_toml_supplies_servers_and_path() {
    let server = shared_server().await;
    let toml = format!(
        "[zookeeper]\nservers = \"{}\"\npath = \"/urls/toml\"\nsession_timeout_ms = 4000\n",
        server.connect_string()
    );
    let settings = Settings::from_toml_str(&toml).expect("toml");
    let conn = connect("zookeeper:./child", settings).await;
    assert_eq!(conn.path(), "/urls/toml/child");
    round_trip(&conn).await;
}

#[test]
fn url_wins_over_config_section_which_wins_over_environment() {
    let env = |name: &str| match name {
        "ZOOKEEPER_SERVERS" => Some("env-host:1111".to_string()),
        "ZOOKEEPER_PATH" => Some("/from-env".to_string()),
        _ => None,
    };
    let section = Settings::from_section(&ZookeeperSection {
        servers: Some("config-host:2222".into()),
        path: Some("/from-config".into()),
        ..Default::default()
    })
    .expect("section");

    let url = ZkUrl::parse("zookeeper://url-host:3333/from-url").expect("url");
    let target = Target::resolve(Some(&url), &section, env).expect("resolve");
    assert_eq!(target.servers, "url-host:3333");
    assert_eq!(target.path, "/from-url");

    let url = ZkUrl::parse("zookeeper:./rel").expect("url");
    let target = Target::resolve(Some(&url), &section, env).expect("resolve");
    assert_eq!(target.servers, "config-host:2222");
    assert_eq!(target.path, "/from-config/rel");

    let target = Target::resolve(Some(&url), &Settings::default(), env).expect("resolve");
    assert_eq!(target.servers, "env-host:1111");
    assert_eq!(target.path, "/from-env/rel");
}

#[tokio::test]
async fn bad_urls_are_typed_errors() {
    for bad in [
        "",
        "http://h:2181/x",
        "zookeeper://:2181/x",
        "zookeeper://h:99999/x",
        "zookeeper://h:2181/a//b",
    ] {
        match Connection::connect(bad, Settings::default()).await {
            Err(ConnectError::Url(_)) | Err(ConnectError::Settings(_)) => {}
            other => panic!("{bad:?}: expected a URL or settings error, got {other:?}"),
        }
    }
    assert!(matches!(
        ZkUrl::parse("zookeeper://h:notaport/x"),
        Err(UrlError::BadPort { .. })
    ));
}

#[tokio::test]
async fn missing_servers_is_a_settings_error() {
    let err = Target::resolve(
        Some(&ZkUrl::parse("zookeeper:///x").expect("url")),
        &Settings::default(),
        |_| None,
    )
    .expect_err("no servers anywhere");
    assert!(matches!(err, SettingsError::NoServers), "{err:?}");
}

#[tokio::test]
async fn a_port_nobody_listens_on_is_unreachable_after_the_timeout_or_refused_at_once() {
    // A port nobody listens on: bind then release.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let settings = Settings::default().with_connect_timeout(std::time::Duration::from_secs(2));
    match Connection::connect(&format!("zookeeper://127.0.0.1:{port}/x"), settings.clone()).await {
        Err(ConnectError::Unreachable { .. }) => {}
        other => panic!("expected Unreachable after the timeout, got {other:?}"),
    }
    match Connection::connect_fail_fast(&format!("zookeeper://127.0.0.1:{port}/x"), settings).await
    {
        // Nobody listens: refused at once, not after the timeout.
        Err(ConnectError::Refused { causes, .. }) => {
            assert!(causes.contains("connection refused"), "{causes}");
        }
        other => panic!("expected Refused, got {other:?}"),
    }
}
