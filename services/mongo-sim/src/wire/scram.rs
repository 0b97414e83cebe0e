//! The server side of SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677) as `mongod` speaks it
//! through `saslStart`/`saslContinue` and `hello`'s `speculativeAuthenticate`.
//!
//! MongoDB's particulars: SCRAM-SHA-1 keys PBKDF2 with `hex(md5("<user>:mongo:<password>"))`,
//! SCRAM-SHA-256 with the SASLprep'd password; salts are 16 and 28 bytes, iteration counts 10000
//! and 15000; the server nonce is 24 random bytes in base64; with `skipEmptyExchange` the
//! conversation is done when the server signature is sent, without it one empty exchange follows.
//! Every failure is an `Err(String)` for the server's log only: the caller answers 18
//! `AuthenticationFailed` "Authentication failed." whatever went wrong.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use rand::RngCore as _;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// Random bytes in the server's half of the nonce (MongoDB: three 64-bit words).
const SERVER_NONCE_BYTES: usize = 24;
/// `mongod` refuses client nonces shorter than this.
const MIN_CLIENT_NONCE_CHARS: usize = 4;

/// A SCRAM variant, by the hash function it uses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Mechanism {
    Sha1,
    Sha256,
}

impl Mechanism {
    /// Both, in the order `mongod` lists them in `hello`'s `saslSupportedMechs`.
    pub(crate) const ALL: [Mechanism; 2] = [Mechanism::Sha1, Mechanism::Sha256];

    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|mechanism| mechanism.name() == name)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Mechanism::Sha1 => "SCRAM-SHA-1",
            Mechanism::Sha256 => "SCRAM-SHA-256",
        }
    }

    /// `scramIterationCount` and `scramSHA256IterationCount` at their defaults.
    fn iterations(self) -> u32 {
        match self {
            Mechanism::Sha1 => 10_000,
            Mechanism::Sha256 => 15_000,
        }
    }

    /// `mongod` salts with the hash length less four bytes.
    fn salt_len(self) -> usize {
        match self {
            Mechanism::Sha1 => 16,
            Mechanism::Sha256 => 28,
        }
    }

    /// The string PBKDF2 is keyed with: MongoDB's digest of the password for SCRAM-SHA-1, the
    /// SASLprep'd password for SCRAM-SHA-256.
    fn prepare_password(self, user: &str, password: &str) -> Result<String, String> {
        match self {
            Mechanism::Sha1 => {
                let digest = Md5::digest(format!("{user}:mongo:{password}").as_bytes());
                let mut hex = String::with_capacity(2 * digest.len());
                for byte in digest.iter() {
                    let _ = write!(hex, "{byte:02x}");
                }
                Ok(hex)
            }
            Mechanism::Sha256 => stringprep::saslprep(password)
                .map(|prepared| prepared.into_owned())
                .map_err(|error| format!("the password of {user:?} fails SASLprep: {error}")),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::Sha1 => Sha1::digest(data).to_vec(),
            Mechanism::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Mechanism::Sha1 => mac::<Hmac<Sha1>>(key, data),
            Mechanism::Sha256 => mac::<Hmac<Sha256>>(key, data),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with this HMAC, one hash length of output.
    fn salted_password(
        self,
        prepared: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<Vec<u8>, String> {
        let mut out = vec![0; self.hash(b"").len()];
        let derived = match self {
            Mechanism::Sha1 => {
                pbkdf2::pbkdf2::<Hmac<Sha1>>(prepared.as_bytes(), salt, iterations, &mut out)
            }
            Mechanism::Sha256 => {
                pbkdf2::pbkdf2::<Hmac<Sha256>>(prepared.as_bytes(), salt, iterations, &mut out)
            }
        };
        derived.map_err(|error| format!("PBKDF2: {error}"))?;
        Ok(out)
    }
}

fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    let mut mac =
        <M as KeyInit>::new_from_slice(key).map_err(|error| format!("HMAC key: {error}"))?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// What the server keeps for one user and mechanism: never the password itself.
pub(crate) struct ScramCredentials {
    salt: Vec<u8>,
    iterations: u32,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
    /// SHA-256 of the plaintext these keys came from, so a changed password is noticed.
    password_fingerprint: Vec<u8>,
}

impl ScramCredentials {
    fn derive(
        mechanism: Mechanism,
        user: &str,
        password: &str,
        salt: Vec<u8>,
        iterations: u32,
    ) -> Result<Self, String> {
        let prepared = mechanism.prepare_password(user, password)?;
        let salted = mechanism.salted_password(&prepared, &salt, iterations)?;
        let client_key = mechanism.hmac(&salted, b"Client Key")?;
        Ok(ScramCredentials {
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(&salted, b"Server Key")?,
            salt,
            iterations,
            password_fingerprint: fingerprint(password),
        })
    }
}

fn fingerprint(password: &str) -> Vec<u8> {
    Sha256::digest(password.as_bytes()).to_vec()
}

/// Credentials per user and mechanism, derived on first use (PBKDF2 is slow, in debug builds
/// especially) and kept, salt included, until the user's password changes: the driver caches its
/// salted password by salt and iteration count.
pub(crate) struct ScramCache {
    entries: Mutex<HashMap<(String, Mechanism), Arc<ScramCredentials>>>,
}

impl ScramCache {
    pub(crate) fn new() -> Self {
        ScramCache {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached credentials, or new ones with a new random salt. PBKDF2 runs outside the lock;
    /// when two conversations derive at once, the first to store wins and both use its salt.
    fn credentials(
        &self,
        user: &str,
        mechanism: Mechanism,
        password: &str,
    ) -> Result<Arc<ScramCredentials>, String> {
        let key = (user.to_owned(), mechanism);
        let wanted = fingerprint(password);
        let cached = self.lock().get(&key).cloned();
        if let Some(found) = cached.filter(|found| found.password_fingerprint == wanted) {
            return Ok(found);
        }
        let mut salt = vec![0; mechanism.salt_len()];
        rand::thread_rng().fill_bytes(&mut salt);
        let derived = Arc::new(ScramCredentials::derive(
            mechanism,
            user,
            password,
            salt,
            mechanism.iterations(),
        )?);
        let mut entries = self.lock();
        let entry = entries.entry(key).or_insert_with(|| Arc::clone(&derived));
        if entry.password_fingerprint != wanted {
            *entry = derived;
        }
        Ok(Arc::clone(entry))
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, Mechanism), Arc<ScramCredentials>>> {
        // The map is never left half-updated, so a panic elsewhere does not spoil it.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for ScramCache {
    fn default() -> Self {
        Self::new()
    }
}

/// The client-first-message, parsed as `mongod` does.
struct ClientFirst<'a> {
    /// `n,,` (or `y,,`, or with an `a=` authzid): its base64 is the expected `c=` later.
    gs2_header: &'a str,
    /// Everything after the gs2 header: the start of the AuthMessage.
    bare: &'a str,
    user: String,
    nonce: &'a str,
}

impl<'a> ClientFirst<'a> {
    fn parse(message: &'a str) -> Result<Self, String> {
        let (flag, rest) = message
            .split_once(',')
            .ok_or("client-first: no gs2 header")?;
        match flag {
            "n" | "y" => {}
            _ if flag.starts_with("p=") => {
                return Err("client-first: channel binding is not supported".into());
            }
            _ => return Err(format!("client-first: bad gs2 flag {flag:?}")),
        }
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or("client-first: gs2 header not closed")?;
        let gs2_header = &message[..message.len() - bare.len()];
        if bare.starts_with("m=") {
            return Err("client-first: mandatory extensions are not supported".into());
        }
        let mut fields = bare.split(',').filter(|field| !field.is_empty());
        let user = fields
            .next()
            .and_then(|field| field.strip_prefix("n="))
            .filter(|name| !name.is_empty())
            .map(decode_username)
            .ok_or("client-first: no user name")?;
        if !authzid.is_empty() {
            let authzid = authzid
                .strip_prefix("a=")
                .ok_or("client-first: bad authzid")?;
            if decode_username(authzid) != user {
                return Err(format!(
                    "client-first: authzid {authzid:?} is not user {user:?}"
                ));
            }
        }
        let nonce = fields
            .next()
            .and_then(|field| field.strip_prefix("r="))
            .filter(|nonce| nonce.len() >= MIN_CLIENT_NONCE_CHARS)
            .ok_or("client-first: no client nonce")?;
        if !nonce.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err("client-first: client nonce is not printable".into());
        }
        Ok(ClientFirst {
            gs2_header,
            bare,
            user,
            nonce,
        })
    }
}

/// `=2C` is `,` and `=3D` is `=`; like `mongod`, any other `=` is kept as it is (the Rust driver
/// does not escape names at all).
fn decode_username(escaped: &str) -> String {
    let mut name = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(at) = rest.find('=') {
        name.push_str(&rest[..at]);
        let after = &rest[at..];
        let (decoded, len) = match after.get(..3) {
            Some("=2C") => (",", 3),
            Some("=3D") => ("=", 3),
            _ => ("=", 1),
        };
        name.push_str(decoded);
        rest = &after[len..];
    }
    name.push_str(rest);
    name
}

/// The payload to send back, and whether the conversation is done with it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Continue(Vec<u8>),
    Done(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitClientFinal,
    /// The server signature went out without `done`; an empty exchange finishes.
    AwaitEmpty,
    Done,
    Failed,
}

/// One in-flight SCRAM exchange on a connection.
pub(crate) struct Conversation {
    mechanism: Mechanism,
    user: String,
    credentials: Arc<ScramCredentials>,
    skip_empty_exchange: bool,
    expected_binding: String,
    nonce: String,
    /// client-first-message-bare "," server-first-message
    auth_message_start: String,
    phase: Phase,
}

impl Conversation {
    /// `saslStart` (or `hello`'s `speculativeAuthenticate`, the same thing): the server-first
    /// message, or an error when the message is malformed or the user unknown. `password_of`
    /// gives a user's plaintext password. The first conversation of a user and mechanism runs
    /// PBKDF2 (tens of milliseconds in a debug build): call it where blocking is acceptable.
    pub(crate) fn start(
        mechanism: Mechanism,
        client_first: &[u8],
        skip_empty_exchange: bool,
        cache: &ScramCache,
        password_of: impl Fn(&str) -> Option<String>,
    ) -> Result<(Conversation, Vec<u8>), String> {
        let message = std::str::from_utf8(client_first).map_err(|_| "client-first: not UTF-8")?;
        let first = ClientFirst::parse(message)?;
        let password =
            password_of(&first.user).ok_or_else(|| format!("no user {:?}", first.user))?;
        let credentials = cache.credentials(&first.user, mechanism, &password)?;
        let mut server_nonce = [0; SERVER_NONCE_BYTES];
        rand::thread_rng().fill_bytes(&mut server_nonce);
        Ok(Self::begin(
            mechanism,
            &first,
            skip_empty_exchange,
            credentials,
            &BASE64.encode(server_nonce),
        ))
    }

    fn begin(
        mechanism: Mechanism,
        first: &ClientFirst<'_>,
        skip_empty_exchange: bool,
        credentials: Arc<ScramCredentials>,
        server_nonce: &str,
    ) -> (Conversation, Vec<u8>) {
        let nonce = format!("{}{server_nonce}", first.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credentials.salt),
            credentials.iterations
        );
        let conversation = Conversation {
            mechanism,
            user: first.user.clone(),
            credentials,
            skip_empty_exchange,
            expected_binding: BASE64.encode(first.gs2_header),
            nonce,
            auth_message_start: format!("{},{server_first}", first.bare),
            phase: Phase::AwaitClientFinal,
        };
        (conversation, server_first.into_bytes())
    }

    /// `saslContinue`. After a failure, or once done, every further step fails.
    pub(crate) fn next(&mut self, payload: &[u8]) -> Result<Step, String> {
        match self.phase {
            Phase::AwaitClientFinal => match self.verify_client_final(payload) {
                Ok(server_final) if self.skip_empty_exchange => {
                    self.phase = Phase::Done;
                    Ok(Step::Done(server_final))
                }
                Ok(server_final) => {
                    self.phase = Phase::AwaitEmpty;
                    Ok(Step::Continue(server_final))
                }
                Err(error) => {
                    self.phase = Phase::Failed;
                    Err(error)
                }
            },
            // `mongod` ignores what this last message carries.
            Phase::AwaitEmpty => {
                self.phase = Phase::Done;
                Ok(Step::Done(Vec::new()))
            }
            Phase::Done => Err("the conversation is already done".into()),
            Phase::Failed => Err("the conversation has failed".into()),
        }
    }

    /// The authenticated user's name once the conversation is done.
    pub(crate) fn user(&self) -> Option<&str> {
        (self.phase == Phase::Done).then_some(self.user.as_str())
    }

    /// Checks `c=<binding>,r=<nonce>[,ext...],p=<proof>`; answers `v=<ServerSignature>`.
    fn verify_client_final(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let message = std::str::from_utf8(payload).map_err(|_| "client-final: not UTF-8")?;
        let (without_proof, proof) = message.rsplit_once(',').ok_or("client-final: no proof")?;
        let proof = proof
            .strip_prefix("p=")
            .filter(|proof| !proof.is_empty())
            .ok_or("client-final: no proof")?;
        let mut fields = without_proof.split(',').filter(|field| !field.is_empty());
        let binding = fields.next().and_then(|field| field.strip_prefix("c="));
        if binding != Some(self.expected_binding.as_str()) {
            return Err(format!(
                "client-final: channel binding {binding:?} does not match the gs2 header"
            ));
        }
        let nonce = fields.next().and_then(|field| field.strip_prefix("r="));
        if nonce != Some(self.nonce.as_str()) {
            return Err("client-final: the nonce is not the server-first's".into());
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| "client-final: proof is not base64")?;
        let auth_message = format!("{},{without_proof}", self.auth_message_start);
        let (mechanism, credentials) = (self.mechanism, &self.credentials);
        let client_signature = mechanism.hmac(&credentials.stored_key, auth_message.as_bytes())?;
        if proof.len() != client_signature.len() {
            return Err("client-final: proof has the wrong length".into());
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        if !bool::from(mechanism.hash(&client_key).ct_eq(&credentials.stored_key)) {
            return Err(format!("client-final: wrong proof for {:?}", self.user));
        }
        let server_signature = mechanism.hmac(&credentials.server_key, auth_message.as_bytes())?;
        Ok(format!("v={}", BASE64.encode(server_signature)).into_bytes())
    }
}

#[cfg(test)]
mod tests;
