//! The SCRAM server against a client written here with the RFC 5802/7677 math, and against the
//! published conversations (RFC 7677's, and the MongoDB authentication spec's for SCRAM-SHA-1).

use super::*;

/// A SCRAM client doing what the driver does: escapes the name, prepares the password MongoDB's
/// way, proves knowledge of it and checks the server's signature.
struct Client {
    mechanism: Mechanism,
    user: String,
    password: String,
    nonce: String,
}

impl Client {
    fn new(mechanism: Mechanism, user: &str, password: &str) -> Self {
        Client {
            mechanism,
            user: user.to_owned(),
            password: password.to_owned(),
            nonce: "fyko+d2lbbFgONRv9qkxdawL".to_owned(),
        }
    }

    fn bare(&self) -> String {
        let name = self.user.replace('=', "=3D").replace(',', "=2C");
        format!("n={name},r={}", self.nonce)
    }

    fn first(&self) -> Vec<u8> {
        format!("n,,{}", self.bare()).into_bytes()
    }

    /// The client-final message for this server-first, and the server-final it must get back.
    fn last(&self, server_first: &[u8]) -> (Vec<u8>, Vec<u8>) {
        self.last_claiming(server_first, "biws", None)
    }

    /// The same, with a proof that is right for whatever channel binding and nonce it claims.
    fn last_claiming(
        &self,
        server_first: &[u8],
        binding: &str,
        nonce: Option<&str>,
    ) -> (Vec<u8>, Vec<u8>) {
        let (full_nonce, salt, iterations) = server_first_fields(server_first);
        assert!(full_nonce.starts_with(&self.nonce), "{full_nonce}");
        let server_first = std::str::from_utf8(server_first).unwrap();
        let prepared = match self.mechanism {
            Mechanism::Sha1 => {
                let digest =
                    Md5::digest(format!("{}:mongo:{}", self.user, self.password).as_bytes());
                digest.iter().map(|byte| format!("{byte:02x}")).collect()
            }
            Mechanism::Sha256 => stringprep::saslprep(&self.password).unwrap().into_owned(),
        };
        let m = self.mechanism;
        let salted = m.salted_password(&prepared, &salt, iterations.parse().unwrap());
        let salted = salted.unwrap();
        let client_key = m.hmac(&salted, b"Client Key").unwrap();
        let without_proof = format!("c={binding},r={}", nonce.unwrap_or(&full_nonce));
        let auth_message = format!("{},{server_first},{without_proof}", self.bare());
        let signature = m
            .hmac(&m.hash(&client_key), auth_message.as_bytes())
            .unwrap();
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = m.hmac(&salted, b"Server Key").unwrap();
        let server_signature = m.hmac(&server_key, auth_message.as_bytes()).unwrap();
        (
            format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes(),
            format!("v={}", BASE64.encode(server_signature)).into_bytes(),
        )
    }
}

fn users(list: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let list: HashMap<String, String> = list
        .iter()
        .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()))
        .collect();
    move |user| list.get(user).cloned()
}

/// `saslStart` with `skipEmptyExchange`, as the driver sends it, with one user stored.
fn start(client: &Client, cache: &ScramCache, stored: &str) -> (Conversation, Vec<u8>) {
    let password_of = users(&[(&client.user, stored)]);
    Conversation::start(client.mechanism, &client.first(), true, cache, password_of).unwrap()
}

fn server_first_fields(server_first: &[u8]) -> (String, Vec<u8>, String) {
    let text = std::str::from_utf8(server_first).unwrap();
    let fields: HashMap<&str, &str> = text
        .split(',')
        .map(|field| field.split_once('=').unwrap())
        .collect();
    (
        fields["r"].to_owned(),
        BASE64.decode(fields["s"]).unwrap(),
        fields["i"].to_owned(),
    )
}

#[test]
fn both_mechanisms_authenticate_a_client_with_and_without_the_empty_exchange() {
    for mechanism in Mechanism::ALL {
        let cache = ScramCache::new();
        let client = Client::new(mechanism, "ada", "correct horse");
        for skip_empty_exchange in [true, false] {
            let password_of = users(&[("ada", "correct horse")]);
            let (mut conversation, server_first) = Conversation::start(
                mechanism,
                &client.first(),
                skip_empty_exchange,
                &cache,
                password_of,
            )
            .unwrap();
            assert_eq!(conversation.user(), None);
            let (client_final, server_final) = client.last(&server_first);
            if skip_empty_exchange {
                assert_eq!(
                    conversation.next(&client_final),
                    Ok(Step::Done(server_final))
                );
            } else {
                assert_eq!(
                    conversation.next(&client_final),
                    Ok(Step::Continue(server_final))
                );
                assert_eq!(
                    conversation.user(),
                    None,
                    "not done before the empty exchange"
                );
                assert_eq!(conversation.next(b""), Ok(Step::Done(Vec::new())));
            }
            assert_eq!(conversation.user(), Some("ada"), "{mechanism:?}");
            assert!(
                conversation.next(b"").is_err(),
                "a finished conversation takes no more steps"
            );
            assert_eq!(conversation.user(), Some("ada"));
        }
    }
}

#[test]
fn the_server_first_message_has_mongods_salt_iterations_and_nonce_and_the_salt_is_kept() {
    for (mechanism, salt_len, iterations) in [
        (Mechanism::Sha1, 16, "10000"),
        (Mechanism::Sha256, 28, "15000"),
    ] {
        let cache = ScramCache::new();
        let client = Client::new(mechanism, "ada", "pw");
        let (nonce, salt, i) = server_first_fields(&start(&client, &cache, "pw").1);
        let server_nonce = nonce.strip_prefix(&client.nonce).unwrap();
        assert_eq!(BASE64.decode(server_nonce).unwrap().len(), 24, "{nonce}");
        assert_eq!((salt.len(), i.as_str()), (salt_len, iterations));
        let (again_nonce, again_salt, _) = server_first_fields(&start(&client, &cache, "pw").1);
        assert_eq!(again_salt, salt, "the driver caches its keys by salt");
        assert_ne!(again_nonce, nonce, "every conversation has a fresh nonce");
    }
}

#[test]
fn a_wrong_password_fails_and_ends_the_conversation() {
    for mechanism in Mechanism::ALL {
        let right = Client::new(mechanism, "ada", "right");
        let wrong = Client::new(mechanism, "ada", "wrong");
        let (mut conversation, server_first) = start(&wrong, &ScramCache::new(), "right");
        assert!(conversation.next(&wrong.last(&server_first).0).is_err());
        assert_eq!(conversation.user(), None);
        assert!(
            conversation.next(&right.last(&server_first).0).is_err(),
            "no second try"
        );
        assert_eq!(conversation.user(), None);
    }
}

/// A conversation with a fixed server nonce, so a test can run the same one again.
fn replayable(client: &Client, cache: &ScramCache, password: &str) -> (Conversation, Vec<u8>) {
    let message = client.first();
    let first = ClientFirst::parse(std::str::from_utf8(&message).unwrap()).unwrap();
    let credentials = cache
        .credentials(&first.user, client.mechanism, password)
        .unwrap();
    Conversation::begin(
        client.mechanism,
        &first,
        true,
        credentials,
        "3rfcNHYJY1ZVvWVs7j",
    )
}

#[test]
fn a_tampered_nonce_binding_or_proof_fails() {
    let cache = ScramCache::new();
    let client = Client::new(Mechanism::Sha256, "ada", "pw");
    let (mut conversation, server_first) = replayable(&client, &cache, "pw");
    let (nonce, _, _) = server_first_fields(&server_first);
    let tampered_nonce = format!("{}A", &nonce[..nonce.len() - 1]);
    let (client_final, _) = client.last(&server_first);
    let text = String::from_utf8(client_final.clone()).unwrap();
    let (without_proof, proof) = text.rsplit_once(",p=").unwrap();
    let mut proof = BASE64.decode(proof).unwrap();
    proof[0] ^= 1;
    // Each proof but the last is right for the message it comes in: only the field gives it away.
    for (what, tampered) in [
        (
            "nonce",
            client
                .last_claiming(&server_first, "biws", Some(&tampered_nonce))
                .0,
        ),
        (
            "client nonce only",
            client
                .last_claiming(&server_first, "biws", Some(&client.nonce))
                .0,
        ),
        (
            "channel binding",
            client.last_claiming(&server_first, "eSws", None).0,
        ),
        (
            "proof",
            format!("{without_proof},p={}", BASE64.encode(&proof)).into_bytes(),
        ),
    ] {
        let (mut conversation, again) = replayable(&client, &cache, "pw");
        assert_eq!(again, server_first);
        assert!(conversation.next(&tampered).is_err(), "{what}");
        assert_eq!(conversation.user(), None, "{what}");
    }
    assert!(
        matches!(conversation.next(&client_final), Ok(Step::Done(_))),
        "the untampered one passes"
    );
}

#[test]
fn the_published_conversations_replay_exactly() {
    // RFC 7677 section 3 (SCRAM-SHA-256), and the MongoDB authentication spec's SCRAM-SHA-1
    // example, whose PBKDF2 key is MongoDB's MD5 digest of "user:mongo:pencil".
    let rfc_7677 = (
        Mechanism::Sha256,
        "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
        (
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            "W22ZaJ0SNY7soEsUEjb6gQ==",
            4096,
        ),
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
    );
    let mongodb_spec = (
        Mechanism::Sha1,
        "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
        (
            "Ho+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE",
            "rQ9ZY3MntBeuP3E1TDVC4w==",
            10000,
        ),
        "r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,s=rQ9ZY3MntBeuP3E1TDVC4w==,i=10000",
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,p=MC2T8BvbmWRckDw8oWl5IVghwCY=",
        "v=UMWeI25JD1yNYZRMpZ4VHvhZ9e0=",
    );
    for (
        mechanism,
        client_first,
        (server_nonce, salt, iterations),
        server_first,
        client_final,
        server_final,
    ) in [rfc_7677, mongodb_spec]
    {
        let salt = BASE64.decode(salt).unwrap();
        let credentials =
            ScramCredentials::derive(mechanism, "user", "pencil", salt, iterations).unwrap();
        let first = ClientFirst::parse(client_first).unwrap();
        let (mut conversation, sent) =
            Conversation::begin(mechanism, &first, true, Arc::new(credentials), server_nonce);
        assert_eq!(String::from_utf8(sent).unwrap(), server_first);
        let reply = conversation.next(client_final.as_bytes());
        assert_eq!(
            reply,
            Ok(Step::Done(server_final.as_bytes().to_vec())),
            "{mechanism:?}"
        );
        assert_eq!(conversation.user(), Some("user"));
    }
}

#[test]
fn user_names_with_commas_and_equals_signs_authenticate() {
    let cache = ScramCache::new();
    for name in ["o,k=yes", "=2C", ",="] {
        let client = Client::new(Mechanism::Sha256, name, "pw");
        let (mut conversation, server_first) = start(&client, &cache, "pw");
        assert!(
            conversation.next(&client.last(&server_first).0).is_ok(),
            "{name}"
        );
        assert_eq!(conversation.user(), Some(name));
    }
    // The Rust driver sends names unescaped; like mongod, a lone '=' is taken as it is.
    let first = ClientFirst::parse("n,,n=a=b=3D,r=fyko+d2lbbFgONRv9qkxdawL").unwrap();
    assert_eq!(first.user, "a=b=");
}

#[test]
fn scram_sha_256_saslpreps_the_password_and_scram_sha_1_does_not() {
    // RFC 4013: SASLprep maps the soft hyphen to nothing, and prohibits control characters.
    for (mechanism, prepared) in [(Mechanism::Sha256, true), (Mechanism::Sha1, false)] {
        let client = Client::new(mechanism, "ada", "IX");
        let (mut conversation, server_first) = start(&client, &ScramCache::new(), "I\u{AD}X");
        let reply = conversation.next(&client.last(&server_first).0);
        assert_eq!(reply.is_ok(), prepared, "{mechanism:?}");
    }
    let bel = Client::new(Mechanism::Sha1, "bel", "a\u{7}b");
    let (mut conversation, server_first) = start(&bel, &ScramCache::new(), "a\u{7}b");
    assert!(conversation.next(&bel.last(&server_first).0).is_ok());
    let password_of = users(&[("bel", "a\u{7}b")]);
    let started = Conversation::start(
        Mechanism::Sha256,
        &bel.first(),
        true,
        &ScramCache::new(),
        password_of,
    );
    assert!(
        started.is_err(),
        "a password SASLprep refuses cannot be used with SCRAM-SHA-256"
    );
}

#[test]
fn unknown_users_and_malformed_first_messages_fail() {
    let cache = ScramCache::new();
    let password_of = users(&[("ada", "pw")]);
    let start = |message: &[u8]| {
        Conversation::start(Mechanism::Sha256, message, true, &cache, &password_of)
    };
    for message in [
        &b"n,,n=bob,r=fyko+d2lbbFgONRv9qkxdawL"[..],
        b"p=tls-unique,,n=ada,r=fyko+d2lbbFgONRv9qkxdawL",
        b"x,,n=ada,r=fyko+d2lbbFgONRv9qkxdawL",
        b"n,,m=ext,n=ada,r=fyko+d2lbbFgONRv9qkxdawL",
        b"n,a=bob,n=ada,r=fyko+d2lbbFgONRv9qkxdawL",
        b"n,bob,n=ada,r=fyko+d2lbbFgONRv9qkxdawL",
        b"n,,r=fyko+d2lbbFgONRv9qkxdawL,n=ada",
        b"n,,n=ada,r=abc",
        b"n,,n=ada,r=fyko d2lbb",
        b"n,,n=ada",
        b"n,,n=,r=fyko+d2lbbFgONRv9qkxdawL",
        b"n=ada,r=fyko+d2lbbFgONRv9qkxdawL",
        b"",
        b"n,,n=ada,r=fyko\xff\xfe",
    ] {
        assert!(
            start(message).is_err(),
            "{}",
            String::from_utf8_lossy(message)
        );
    }
    // Forms mongod accepts besides the driver's: the `y` flag, a matching authzid, extensions.
    for message in [
        "y,,n=ada,r=fyko+d2lbbFgONRv9qkxdawL",
        "n,a=ada,n=ada,r=fyko+d2lbbFgONRv9qkxdawL",
        "n,,n=ada,r=fyko+d2lbbFgONRv9qkxdawL,x=ext",
    ] {
        assert!(start(message.as_bytes()).is_ok(), "{message}");
    }
}

#[test]
fn malformed_final_messages_fail() {
    let cache = ScramCache::new();
    let client = Client::new(Mechanism::Sha256, "ada", "pw");
    let (_, server_first) = replayable(&client, &cache, "pw");
    let (nonce, _, _) = server_first_fields(&server_first);
    let good = String::from_utf8(client.last(&server_first).0).unwrap();
    let proof = good.rsplit_once(",p=").unwrap().1;
    for message in [
        format!("c=biws,r={nonce}"),
        format!("c=biws,r={nonce},p="),
        format!("c=biws,r={nonce},p=not base64!"),
        format!("c=biws,r={nonce},p=AAAA"),
        format!("r={nonce},c=biws,p={proof}"),
        format!("c=biws,p={proof}"),
        format!("{good}\u{0}"),
        String::new(),
    ] {
        let (mut conversation, _) = replayable(&client, &cache, "pw");
        assert!(conversation.next(message.as_bytes()).is_err(), "{message}");
    }
    let (mut conversation, _) = replayable(&client, &cache, "pw");
    assert!(conversation.next(b"c=biws,r=\xff,p=AAAA").is_err());
}

#[test]
fn a_changed_password_takes_effect_and_the_old_one_stops_working() {
    let cache = ScramCache::new();
    for mechanism in Mechanism::ALL {
        let authenticates = |stored: &str, tried: &str| {
            let client = Client::new(mechanism, "ada", tried);
            let (mut conversation, server_first) = start(&client, &cache, stored);
            conversation.next(&client.last(&server_first).0).is_ok()
        };
        assert!(authenticates("one", "one"));
        assert!(authenticates("two", "two"));
        assert!(!authenticates("two", "one"), "{mechanism:?}");
    }
}

#[test]
fn conversations_starting_together_share_one_salt() {
    let cache = ScramCache::new();
    let salts: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    cache
                        .credentials("ada", Mechanism::Sha256, "pw")
                        .unwrap()
                        .salt
                        .clone()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| thread.join().unwrap())
            .collect()
    });
    let kept = cache.credentials("ada", Mechanism::Sha256, "pw").unwrap();
    assert!(salts.iter().all(|salt| *salt == kept.salt), "{salts:?}");
}

#[test]
fn mechanisms_are_known_by_their_exact_sasl_names() {
    for mechanism in Mechanism::ALL {
        assert_eq!(Mechanism::parse(mechanism.name()), Some(mechanism));
    }
    assert_eq!(Mechanism::parse("SCRAM-SHA-256"), Some(Mechanism::Sha256));
    assert_eq!(Mechanism::parse("SCRAM-SHA-1"), Some(Mechanism::Sha1));
    for other in [
        "PLAIN",
        "scram-sha-256",
        "SCRAM-SHA-512",
        "MONGODB-X509",
        "",
    ] {
        assert_eq!(Mechanism::parse(other), None, "{other}");
    }
}
