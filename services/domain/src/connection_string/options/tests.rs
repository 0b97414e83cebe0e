//! The option rules, one by one.

use crate::connection_string::MongoUri;

fn refused(input: &str) -> String {
    match MongoUri::parse_checked(input) {
        Ok(_) => panic!("{input} was accepted"),
        Err(e) => e.message().to_owned(),
    }
}

#[test]
fn accepts_what_clusters_are_usually_given() {
    for ok in [
        "mongodb+srv://u:p@cluster0.example.net/?retryWrites=true&w=majority&appName=Cluster0",
        "mongodb://u:p@a.example:27017,b.example:27017/admin?replicaSet=rs0&readPreference=secondaryPreferred&readPreferenceTags=dc:east&readPreferenceTags=",
        "mongodb://localhost:27017/?directConnection=true&serverSelectionTimeoutMS=2000",
        "mongodb://h/?tls=true&ssl=true&tlsInsecure=true",
        "mongodb://h/?authMechanism=MONGODB-X509&authSource=$external&tlsCertificateKeyFile=/c.pem",
        "mongodb://u:p@h/?authMechanism=SCRAM-SHA-256&authMechanismProperties=A:b,C:d",
        "mongodb://h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:x",
        "mongodb://h/?readPreference=nearest&maxStalenessSeconds=90&heartbeatFrequencyMS=500",
        "mongodb://h/?maxStalenessSeconds=-1&w=0&journal=false&uuidRepresentation=javaLegacy",
        "mongodb+srv://c.example.net/?srvMaxHosts=2&srvServiceName=mongo&loadBalanced=false",
        "mongodb://h/?",
        "mongodb://h/?RetryWrites=false&APPNAME=x",
    ] {
        if let Err(e) = MongoUri::parse_checked(ok) {
            panic!("{ok}: {e}");
        }
    }
}

#[test]
fn refuses_what_the_driver_refuses_naming_the_option_and_what_it_takes() {
    for (input, expected) in [
        (
            "mongodb://h/?authMechanism=BOGUS",
            "`authMechanism` must be one of SCRAM-SHA-256",
        ),
        ("mongodb://h/?w=-1", "`w` must be a whole number"),
        (
            "mongodb://h/?readPreference=anything",
            "`readPreference` must be primary, primaryPreferred",
        ),
        (
            "mongodb://h/?ssl=true&tls=false",
            "`tls=false` contradicts `ssl`",
        ),
        (
            "mongodb://h/?tls=false&tlsCAFile=x",
            "`tlsCAFile` needs TLS, but `tls=false`",
        ),
        (
            "mongodb://a,b/?directConnection=true",
            "exactly one server, but the string names 2 hosts",
        ),
        (
            "mongodb+srv://c.example.net/?directConnection=true",
            "cannot be used with mongodb+srv://",
        ),
        (
            "mongodb://h/?retryWrite=true",
            "`retryWrite` is not a MongoDB connection string option; did you mean `retryWrites`?",
        ),
        (
            "mongodb://h/?frobnicate=1",
            "`frobnicate` is not a MongoDB connection string option",
        ),
        (
            "mongodb://h/?retryWrites=yes",
            "`retryWrites` must be `true` or `false`",
        ),
        (
            "mongodb://h/?connectTimeoutMS=-5",
            "`connectTimeoutMS` must be a whole number of milliseconds",
        ),
        (
            "mongodb://h/?maxPoolSize=0",
            "`maxPoolSize` must be 1 or more",
        ),
        (
            "mongodb://h/?appName=a&appname=b",
            "`appName` is given twice",
        ),
        (
            "mongodb://h/?appName=a&",
            "every option must be written as name=value",
        ),
        (
            "mongodb://h/?readPreferenceTags=dc:east",
            "`readPreferenceTags` needs `readPreference`",
        ),
        (
            "mongodb://h/?readPreference=primary&maxStalenessSeconds=120",
            "`maxStalenessSeconds` needs `readPreference`",
        ),
        (
            "mongodb://h/?readPreference=secondary&maxStalenessSeconds=30",
            "`maxStalenessSeconds` must be at least 90",
        ),
        (
            "mongodb://h/?heartbeatFrequencyMS=100",
            "`heartbeatFrequencyMS` must be at least 500",
        ),
        ("mongodb://h/?w=0&journal=true", "`w=0` and `journal=true`"),
        (
            "mongodb://a,b/?loadBalanced=true",
            "`loadBalanced=true` cannot be combined with more than one host",
        ),
        (
            "mongodb://h/?loadBalanced=true&replicaSet=rs",
            "`loadBalanced=true` cannot be combined with `replicaSet`",
        ),
        (
            "mongodb://h/?srvMaxHosts=1",
            "`srvMaxHosts` needs a mongodb+srv://",
        ),
        (
            "mongodb+srv://c.example.net/?srvMaxHosts=1&replicaSet=rs",
            "cannot be combined with `replicaSet`",
        ),
        ("mongodb://h/?authSource=", "`authSource` must not be empty"),
        (
            "mongodb://h/?authMechanism=SCRAM-SHA-256",
            "needs a user name",
        ),
        (
            "mongodb://u@h/?authMechanism=PLAIN",
            "needs a user name and a password",
        ),
        (
            "mongodb://u:p@h/?authMechanism=MONGODB-X509",
            "takes no password",
        ),
        (
            "mongodb://h/?authMechanism=MONGODB-X509&authSource=admin",
            "set authSource=$external",
        ),
        (
            "mongodb://h/?authMechanism=MONGODB-AWS",
            "MONGODB-AWS is not available",
        ),
        ("mongodb://h/?authMechanism=scram-sha-256", "in uppercase"),
        ("mongodb://h/?authMechanismProperties=x", "NAME:value pairs"),
        (
            "mongodb://u:p@h/?authMechanism=SCRAM-SHA-1&authMechanismProperties=CANONICALIZE_HOST_NAME:maybe",
            "CANONICALIZE_HOST_NAME must be",
        ),
        (
            "mongodb://h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure",
            "needs authMechanismProperties TOKEN_RESOURCE",
        ),
        (
            "mongodb://h/?tlsInsecure=true&tlsAllowInvalidCertificates=true",
            "cannot both be given",
        ),
        (
            "mongodb://h/?socketTimeoutMS=1000",
            "`socketTimeoutMS` is not available",
        ),
        (
            "mongodb://h/?compressors=zlib",
            "`compressors` is not available",
        ),
        (
            "mongodb://h/?zlibCompressionLevel=5",
            "`zlibCompressionLevel` is not available",
        ),
        (
            "mongodb://h/?tlsCertificateKeyFilePassword=x",
            "`tlsCertificateKeyFilePassword` is not available",
        ),
        ("mongodb://h/?proxyHost=p", "`proxyHost` is not allowed"),
        (
            "mongodb://h/?uuidRepresentation=standard",
            "`uuidRepresentation` must be csharpLegacy",
        ),
        (
            "mongodb://h/?serverMonitoringMode=push",
            "`serverMonitoringMode` must be stream, poll or auto",
        ),
        ("mongodb://[:::1]/", "IPv6 host is not a valid address"),
    ] {
        let message = refused(input);
        assert!(message.contains(expected), "{input}: {message}");
    }
}

#[test]
fn goes_beyond_the_driver_only_for_settings_that_fail_later() {
    for input in [
        "mongodb://h/?w=bogus",
        "mongodb://u:p@h/?authMechanism=MONGODB-CR",
        "mongodb://h/?authMechanism=MONGODB-OIDC",
    ] {
        let e = MongoUri::parse_checked(input).expect_err(input);
        assert!(e.is_beyond_driver(), "{input}: {e}");
    }
    let e = MongoUri::parse_checked("mongodb://h/?w=-1").unwrap_err();
    assert!(!e.is_beyond_driver());
}

#[test]
fn never_quotes_a_value() {
    for input in [
        "mongodb://h/?authMechanism=hunter2secret",
        "mongodb://h/?w=hunter2secret",
        "mongodb://h/?readPreference=hunter2secret",
        "mongodb://h/?authMechanismProperties=hunter2secret",
        "mongodb://h/?tls=hunter2secret",
        "mongodb://h/?proxyPassword=hunter2secret",
    ] {
        assert!(!refused(input).contains("hunter2"), "{input}");
    }
}

#[test]
fn the_lenient_parser_still_opens_strings_saved_before_these_rules() {
    assert!(MongoUri::parse("mongodb://h/?w=bogus&socketTimeoutMS=5").is_ok());
}
