//! Credentials: `authMechanism`, `authMechanismProperties` and what each mechanism needs of the
//! user name, password and `authSource` (the driver's `AuthMechanism::from_str` and
//! `validate_credential`, `src/client/auth.rs` and `src/client/auth/oidc.rs`).

use super::Seen;
use crate::connection_string::{MongoUri, UriError, err};

const MECHANISMS: &str = "SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, MONGODB-X509 or MONGODB-OIDC";
const OIDC_ENVIRONMENTS: &[&str] = &["azure", "gcp", "k8s"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mechanism {
    ScramSha1,
    ScramSha256,
    X509,
    Plain,
    Oidc,
}

impl Mechanism {
    /// As the driver's `AuthMechanism::from_str`: exact, uppercase names.
    pub(super) fn parse(value: &str) -> Result<Self, UriError> {
        Ok(match value {
            "SCRAM-SHA-1" => Mechanism::ScramSha1,
            "SCRAM-SHA-256" => Mechanism::ScramSha256,
            "MONGODB-X509" => Mechanism::X509,
            "PLAIN" => Mechanism::Plain,
            "MONGODB-OIDC" => Mechanism::Oidc,
            "MONGODB-CR" => {
                return Err(UriError::beyond_driver(format!(
                    "the option `authMechanism`: MONGODB-CR was removed in MongoDB 4.0 and the driver cannot log in with it; use SCRAM-SHA-256, or leave authMechanism out to negotiate (allowed: {MECHANISMS})"
                )));
            }
            "MONGODB-AWS" | "GSSAPI" => {
                return err(format!(
                    "the option `authMechanism`: {value} is not available in this service's MongoDB driver (allowed: {MECHANISMS})"
                ));
            }
            _ => {
                return err(format!(
                    "the option `authMechanism` must be one of {MECHANISMS}, in uppercase"
                ));
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::X509 => "MONGODB-X509",
            Mechanism::Plain => "PLAIN",
            Mechanism::Oidc => "MONGODB-OIDC",
        }
    }
}

impl Seen {
    pub(super) fn mechanism_properties(&mut self, value: &str) -> Result<(), UriError> {
        for property in value.split(',') {
            let Some((key, v)) = property.split_once(':') else {
                return err(
                    "the option `authMechanismProperties` must be a comma-separated list of NAME:value pairs",
                );
            };
            if matches!(
                key,
                "ALLOWED_HOSTS" | "OIDC_CALLBACK" | "OIDC_HUMAN_CALLBACK"
            ) {
                return err(format!(
                    "the option `authMechanismProperties` cannot set {key} in a connection string"
                ));
            }
            self.mechanism_properties
                .insert(key.to_owned(), v.to_owned());
        }
        Ok(())
    }

    /// The driver's `validate_credential` for each mechanism.
    pub(super) fn credential(&self, mechanism: Mechanism, uri: &MongoUri) -> Result<(), UriError> {
        let name = mechanism.name();
        let external_only = || match self.auth_source.as_deref() {
            None | Some("$external") => Ok(()),
            Some(_) => err(format!(
                "authMechanism={name} authenticates against `$external`: set authSource=$external or leave it out"
            )),
        };
        match mechanism {
            Mechanism::ScramSha1 | Mechanism::ScramSha256 if uri.username().is_none() => {
                err(format!(
                    "authMechanism={name} needs a user name: write mongodb://user:password@host/"
                ))
            }
            Mechanism::Plain if uri.username().is_none() || !uri.has_password() => err(format!(
                "authMechanism={name} needs a user name and a password: write mongodb://user:password@host/"
            )),
            Mechanism::X509 if uri.has_password() => err(format!(
                "authMechanism={name} takes no password (the client certificate is the credential); remove it"
            )),
            Mechanism::X509 => external_only(),
            Mechanism::Oidc => self.oidc(uri, external_only),
            _ => Ok(()),
        }
    }

    fn oidc(
        &self,
        uri: &MongoUri,
        external_only: impl Fn() -> Result<(), UriError>,
    ) -> Result<(), UriError> {
        let properties = &self.mechanism_properties;
        if properties.keys().any(|k| {
            !matches!(
                k.as_str(),
                "TOKEN_RESOURCE" | "ENVIRONMENT" | "ALLOWED_HOSTS"
            )
        }) {
            return err(
                "the option `authMechanismProperties` may hold only ENVIRONMENT and TOKEN_RESOURCE with authMechanism=MONGODB-OIDC",
            );
        }
        let environment = properties.get("ENVIRONMENT").map(String::as_str);
        let cloud = matches!(environment, Some("azure" | "gcp"));
        match (cloud, properties.contains_key("TOKEN_RESOURCE")) {
            (true, false) => {
                return err(
                    "authMechanism=MONGODB-OIDC with ENVIRONMENT azure or gcp needs authMechanismProperties TOKEN_RESOURCE",
                );
            }
            (false, true) => {
                return err(
                    "authMechanism=MONGODB-OIDC takes TOKEN_RESOURCE only with ENVIRONMENT azure or gcp",
                );
            }
            _ => {}
        }
        external_only()?;
        if uri.has_password() {
            return err("authMechanism=MONGODB-OIDC takes no password; remove it");
        }
        match environment {
            Some(env) if !OIDC_ENVIRONMENTS.contains(&env) => err(
                "authMechanism=MONGODB-OIDC: authMechanismProperties ENVIRONMENT must be azure, gcp or k8s",
            ),
            Some(_) => Ok(()),
            None => Err(UriError::beyond_driver(
                "authMechanism=MONGODB-OIDC needs authMechanismProperties=ENVIRONMENT:azure, gcp or k8s here (a connection string cannot give the driver a token callback)",
            )),
        }
    }
}
