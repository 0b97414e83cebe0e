//! Parsing and redaction.

use super::*;

#[test]
fn parses_srv_with_credentials_and_redacts_password() {
    let uri = MongoUri::parse("mongodb+srv://user:s3cr%40t@cluster0.example.net/").unwrap();
    assert_eq!(uri.scheme(), Scheme::Srv);
    assert_eq!(uri.username(), Some("user"));
    assert_eq!(uri.hosts(), ["cluster0.example.net"]);
    assert_eq!(
        uri.redacted(),
        "mongodb+srv://user:****@cluster0.example.net/"
    );
    assert!(!format!("{uri:?}").contains("s3cr"));
    assert_eq!(uri.password().as_deref(), Some("s3cr@t"));
    assert_eq!(
        MongoUri::parse("mongodb://user@h").unwrap().password(),
        None
    );
}

#[test]
fn parses_host_list_with_ports_db_and_options() {
    let uri = MongoUri::parse(
        "mongodb://app:pw@a.example:27017,b.example:27018,[::1]:27019/admin?replicaSet=rs0&tlsCertificateKeyFilePassword=hunter2",
    )
    .unwrap();
    assert_eq!(uri.hosts().len(), 3);
    assert_eq!(uri.auth_database(), Some("admin"));
    let red = uri.redacted();
    assert_eq!(
        red,
        "mongodb://app:****@a.example:27017,b.example:27018,[::1]:27019/admin?replicaSet=rs0&tlsCertificateKeyFilePassword=****"
    );
    assert!(!red.contains("pw@") && !red.contains("hunter2"));
}

#[test]
fn a_user_name_without_password_is_masked_like_a_password() {
    let uri = MongoUri::parse("mongodb://CANARY@h.example:27017/db?appName=x").unwrap();
    assert_eq!(
        uri.redacted(),
        "mongodb://****@h.example:27017/db?appName=x"
    );
    assert_eq!(uri.shown_username(), Some("****"));
    assert_eq!(uri.username(), Some("CANARY"));
    assert!(!format!("{uri:?}").contains("CANARY"));
    assert!(!redact("mongodb+srv://CANARY@c.example.net/").contains("CANARY"));
    // With a password, the user name stays: it tells which credential is stored.
    let uri = MongoUri::parse("mongodb://app:pw@h/").unwrap();
    assert_eq!(uri.shown_username(), Some("app"));
    // Redacting twice changes nothing (responses carry the redacted form; PUT sends it back).
    for raw in ["mongodb://CANARY@h/", "mongodb://u:pw@h/?proxyPassword=x"] {
        let once = redact(raw);
        assert_eq!(redact(&once), once);
    }
}

#[test]
fn accepts_no_credentials_and_no_slash() {
    let uri = MongoUri::parse("mongodb://localhost").unwrap();
    assert_eq!(uri.redacted(), "mongodb://localhost/");
    assert_eq!(uri.username(), None);
}

#[test]
fn rejects_malformed_strings_without_quoting_them() {
    let cases = [
        "postgres://user:pw@host/",
        "mongodb://",
        "mongodb://user:pw@/",
        "mongodb://:pw@host/",
        "mongodb://user:p@ss:word@host/",
        "mongodb://host:0/",
        "mongodb://host:99999/",
        "mongodb://host:abc/",
        "mongodb+srv://a.example.net:27017/",
        "mongodb+srv://a.example.net,b.example.net/",
        "mongodb+srv://localhost/",
        "mongodb://user:pw%zz@host/",
        "mongodb://ho st/",
        "mongodb://host/?replicaSet",
        " mongodb://host/",
    ];
    for case in cases {
        let e = MongoUri::parse(case).expect_err(case);
        assert!(!e.message().contains("pw"), "{case}: {e}");
    }
}

#[test]
fn redact_never_leaks_for_invalid_input() {
    assert_eq!(redact("mongodb://user:p@ss:word@host/"), "mongodb://****");
    assert_eq!(redact("garbage secret"), "****");
    assert_eq!(
        redact("mongodb+srv://u:pw@c.example.net/?appName=x"),
        "mongodb+srv://u:****@c.example.net/?appName=x"
    );
}

#[test]
fn same_hosts_ignores_order_and_credentials() {
    let a = MongoUri::parse("mongodb://u:a@h1,h2/").unwrap();
    let b = MongoUri::parse("mongodb://v:b@h2,h1/").unwrap();
    let c = MongoUri::parse("mongodb://v:b@h3/").unwrap();
    assert!(a.same_hosts(&b));
    assert!(!a.same_hosts(&c));
    let d = MongoUri::parse("mongodb://v:b@H2:27017,h1/").unwrap();
    assert!(a.same_hosts(&d));
}
