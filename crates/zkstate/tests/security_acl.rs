//! ACL policies: a state created creator-only is closed to sessions without the credentials; a
//! creator-all-world-read state can be read but not written by them. Nothing changes, nothing
//! panics, and the owner keeps working.

mod common;

use common::{raw_client, shared_server, unique_dir};
use zkstate::connection::settings::Credential;
use zkstate::{AclPolicy, Connection, Error, Settings, ZkState};

async fn connect_as(servers: &str, user: Option<&str>, policy: AclPolicy) -> Connection {
    let mut settings = common::fast_settings().with_acl_policy(policy);
    if let Some(user) = user {
        settings = settings.with_digest(Credential::new(user, "secret").expect("credential"));
    }
    Connection::connect(&format!("zookeeper://{servers}"), settings)
        .await
        .expect("connect")
}

#[tokio::test]
async fn a_creator_only_state_refuses_other_sessions_and_keeps_serving_its_owner() {
    let server = shared_server().await;
    let dir = unique_dir("acl-creator-only");
    let owner_conn = connect_as(
        &server.connect_string(),
        Some("alice"),
        AclPolicy::CreatorOnly,
    )
    .await;
    let owner = ZkState::new(&owner_conn, &dir, vec!["secret-glob*".to_string()])
        .await
        .expect("owner");

    let stranger = connect_as(&server.connect_string(), None, AclPolicy::Open).await;
    let opened = ZkState::new(&stranger, &dir, Vec::<String>::new()).await;
    assert!(
        matches!(opened, Err(Error::PermissionDenied { .. })),
        "{opened:?}"
    );
    let expected = ZkState::<Vec<String>>::expect(&stranger, &dir, None).await;
    assert!(
        matches!(expected, Err(Error::PermissionDenied { .. })),
        "{expected:?}"
    );
    let raw = raw_client(&server.connect_string()).await;
    assert_eq!(
        raw.get_data(&format!("{dir}/payload")).await.err(),
        Some(zookeeper_client::Error::NoAuth)
    );

    // Another session with the same credentials is the same identity.
    let colleague = connect_as(
        &server.connect_string(),
        Some("alice"),
        AclPolicy::CreatorOnly,
    )
    .await;
    let second = ZkState::<Vec<String>>::expect(&colleague, &dir, None)
        .await
        .expect("same identity");
    assert_eq!(*second.read().expect("read"), vec!["secret-glob*"]);

    owner
        .update(|v| v.push("more*".into()))
        .await
        .expect("the owner still writes");
    assert_eq!(owner.c_read().await.expect("c_read").len(), 2);
}

#[tokio::test]
async fn a_reader_without_write_rights_gets_permission_denied_and_leaves_nothing_behind() {
    let server = shared_server().await;
    let dir = unique_dir("acl-world-read");
    let owner_conn = connect_as(
        &server.connect_string(),
        Some("bob"),
        AclPolicy::CreatorAllWorldRead,
    )
    .await;
    let owner = ZkState::new(&owner_conn, &dir, 1u32).await.expect("owner");

    let reader_conn = connect_as(&server.connect_string(), None, AclPolicy::Open).await;
    let reader = ZkState::<u32>::expect(&reader_conn, &dir, None)
        .await
        .expect("world may read");
    assert_eq!(*reader.read().expect("read"), 1);
    let denied = reader.update(|n| *n = 666).await;
    assert!(
        matches!(denied, Err(Error::PermissionDenied { .. })),
        "{denied:?}"
    );
    let denied = reader.update_latest(|n| *n = 666).await;
    assert!(
        matches!(denied, Err(Error::PermissionDenied { .. })),
        "{denied:?}"
    );

    let raw = raw_client(&server.connect_string()).await;
    let (data, stat) = raw.get_data(&format!("{dir}/payload")).await.expect("read");
    assert_eq!(
        (data.as_slice(), stat.version),
        (&b"1"[..], 0),
        "nothing changed"
    );
    assert!(
        raw.list_children(&format!("{dir}/lock"))
            .await
            .expect("lock dir")
            .is_empty(),
        "no lock node left"
    );

    owner
        .update(|n| *n = 2)
        .await
        .expect("the owner still writes");
    assert_eq!(*reader.c_read().await.expect("the reader sees it"), 2);
}

#[test]
fn a_policy_that_names_the_creator_needs_a_credential() {
    let settings = Settings::default().with_acl_policy(AclPolicy::CreatorOnly);
    assert!(settings.validate().is_err());
    let settings = settings.with_digest(Credential::new("carol", "pw").expect("credential"));
    assert!(settings.validate().is_ok());
    let from_toml =
        Settings::from_toml_str("[zookeeper]\nacl = \"creator-all-world-read\"\nauth = \"d:pw\"\n")
            .expect("toml");
    assert_eq!(from_toml.acl_policy(), AclPolicy::CreatorAllWorldRead);
    assert!(Settings::from_toml_str("[zookeeper]\nacl = \"everyone\"\n").is_err());
}
