//! What the driver adapter says when MongoDB cannot be reached: a real connection attempt to a
//! closed loopback port, through the driver, with a short server-selection timeout.

use std::time::Duration;

use edgebridge_domain::connection_string::MongoUri;
use edgebridge_mongo::ErrorKind;
use edgebridge_mongo::driver::DriverConnector;
use edgebridge_mongo::policy::TargetPolicy;
use edgebridge_mongo::port::{ConnectOptions, MongoConnector};

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

fn options() -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_millis(500),
        server_selection_timeout: Duration::from_millis(500),
        policy: TargetPolicy::AllowPrivate,
        ..ConnectOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_port_is_connection_refused_at_that_address() {
    let port = closed_port();
    let uri = MongoUri::parse(&format!(
        "mongodb://app:s3cret@127.0.0.1:{port}/?directConnection=true"
    ))
    .expect("a connection string");
    let client = DriverConnector
        .connect(&uri, &options())
        .await
        .expect("the client is created without connecting");
    let error = client.ping().await.expect_err("nothing listens");
    assert_eq!(error.kind, ErrorKind::Network);
    assert_eq!(
        error.message,
        format!("connection refused at 127.0.0.1:{port}")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn several_closed_seeds_are_each_named() {
    let (a, b) = (closed_port(), closed_port());
    let uri = MongoUri::parse(&format!("mongodb://127.0.0.1:{a},localhost:{b}/"))
        .expect("a connection string");
    let client = DriverConnector
        .connect(&uri, &options())
        .await
        .expect("the client is created without connecting");
    let message = client.ping().await.expect_err("nothing listens").message;
    assert!(message.starts_with("connection refused at "), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{a}")), "{message}");
    assert!(message.contains(&format!("localhost:{b}")), "{message}");
    assert!(
        !message.contains("s3cret") && !message.contains("Topology"),
        "{message}"
    );
}

/// A name without SRV records: a short cause, not the resolver's dump of the query and the
/// records it found (`Query { name: Name("_mongodb._tcp...") ... }`).
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_srv_lookup_says_why_in_a_few_words() {
    let uri = MongoUri::parse("mongodb+srv://app:s3cret@nothing-here.invalid/")
        .expect("a connection string");
    let error = DriverConnector
        .resolve(&uri)
        .await
        .expect_err("`.invalid` never resolves");
    assert_eq!(error.kind, ErrorKind::Network);
    let message = &error.message;
    assert!(
        message.starts_with("the SRV lookup of _mongodb._tcp.nothing-here.invalid failed: "),
        "{message}"
    );
    assert!(
        !message.contains('{') && !message.contains("Name(") && !message.contains("s3cret"),
        "{message}"
    );
}
