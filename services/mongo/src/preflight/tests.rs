//! Unit tests of the preflight helpers.

use super::members::normalize_host;

#[test]
fn hosts_compare_in_one_spelling() {
    assert_eq!(
        normalize_host("Cluster0.Example.com"),
        "cluster0.example.com:27017"
    );
    assert_eq!(
        normalize_host("db.example.com:27018"),
        "db.example.com:27018"
    );
    assert_eq!(normalize_host("[2600:1f18::5]"), "[2600:1f18::5]:27017");
    assert_eq!(
        normalize_host("[2600:1f18::5]:27019"),
        "[2600:1f18::5]:27019"
    );
    assert_eq!(normalize_host("2600:1f18::5:27017"), "[2600:1f18::5]:27017");
    assert_eq!(normalize_host("10.0.0.5:27017"), "10.0.0.5:27017");
}
