//! The environment is the last source of servers and base path. Alone in its binary: it sets
//! process-wide variables.

mod common;

use common::{fast_settings, shared_server};
use zkstate::Connection;

#[tokio::test]
async fn environment_supplies_servers_and_base_path() {
    let server = shared_server().await;
    std::env::set_var("ZOOKEEPER_SERVERS", server.connect_string());
    std::env::set_var("ZOOKEEPER_PATH", "/env/base");
    let conn = Connection::connect("zookeeper:./leaf", fast_settings())
        .await
        .expect("connect from the environment");
    assert_eq!(conn.path(), "/env/base/leaf");
    assert_eq!(conn.servers(), server.connect_string());
    assert!(conn
        .client()
        .expect("client")
        .list_children("/")
        .await
        .is_ok());
}
