//! Every access-token check of the Bearer path, over real HTTP through Envoy: each failing
//! token is answered 401 `invalid_token` with the error on the Bearer challenge and never
//! reaches the upstream; each passing variant reaches it.
//!
//! Cases are grouped by what they check; each group shares one gateway.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod contract;

use common::*;
use contract::Target;
use serde_json::{json, Value};
use testbed::{b64url, unix_now};

const PRIVATE: &str = "/api/private";

/// Every named token is refused with 401 `invalid_token` on `path`; afterwards the filter
/// still serves a good token and has not trapped.
fn refused(stack: &Stack, path: &str, cases: &[(&str, String)]) {
    let target = Target::main(stack);
    for (case, token) in cases {
        let response = target.denied(&Request::get(path).bearer(token), case);
        contract::invalid_token().check(&response, case);
    }
    still_serving(stack);
}

/// A trapped VM would fail every later request: a good token must still pass, and the log
/// must show no panic and no failed VM call.
fn still_serving(stack: &Stack) {
    let token = stack.token().claim("jti", json!("liveness")).build();
    Target::main(stack).allowed(
        &Request::get(PRIVATE).bearer(&token),
        "a good token afterwards",
    );
    let log = stack.gateway.log();
    for sign in ["panicked", "Function: proxy_on", "wasm trap"] {
        assert!(
            !log.contains(sign),
            "the filter failed ({sign:?} in Envoy's log)"
        );
    }
}

/// Every named token passes on `path`.
fn accepted(target: &Target<'_>, path: &str, cases: &[(&str, String)]) {
    for (case, token) in cases {
        let echoed = target.allowed(&Request::get(path).bearer(token), case);
        assert_eq!(echoed.header("x-auth-sub"), Some("user_123"), "{case}");
    }
}

/// The compact form of `header` and `payload` JSON texts, signed as `alg` by `signer`.
fn assemble(header: &str, payload: &str, alg: &str, signer: &Signer) -> String {
    testbed::token::compact(header, payload, alg, signer)
}

/// JSON text of `object` with `extra` (raw `"name":value` text) put first, so a member
/// named in both appears twice.
fn with_leading_member(object: &serde_json::Map<String, Value>, extra: &str) -> String {
    let text = Value::Object(object.clone()).to_string();
    format!("{{{extra},{}", &text[1..])
}

#[test]
fn a_token_must_be_three_base64url_segments_of_json_objects() {
    let stack = Stack::start();
    let target = Target::main(&stack);
    let good = stack.token().build();
    let [header, payload, signature] = tamper::segments(&good);
    let claims_text = Value::Object(stack.token().claims_map().clone()).to_string();
    let rs256 = |header_text: &str, payload_text: &str| {
        assemble(header_text, payload_text, "RS256", &Signer::Key(Key::Rsa1))
    };
    let good_header = r#"{"alg":"RS256","typ":"JWT","kid":"rsa-1"}"#;

    // The builders' raw JSON path itself yields a good token.
    accepted(
        &target,
        PRIVATE,
        &[
            ("control: raw JSON texts", rs256(good_header, &claims_text)),
            // JSON escapes decode before the kid is compared: this is `rsa-1`.
            (
                "kid written with a JSON escape",
                rs256(
                    r#"{"alg":"RS256","typ":"JWT","kid":"rsa\u002d1"}"#,
                    &claims_text,
                ),
            ),
        ],
    );

    refused(
        &stack,
        PRIVATE,
        &[
            ("one segment", "abc".to_string()),
            ("two segments", format!("{header}.{payload}")),
            ("four segments", format!("{good}.{signature}")),
            ("empty segments", "..".to_string()),
            ("empty header segment", format!(".{payload}.{signature}")),
            ("empty payload segment", format!("{header}..{signature}")),
            ("padded header", format!("{header}=.{payload}.{signature}")),
            (
                "padded signature",
                format!("{header}.{payload}.{signature}=="),
            ),
            (
                "standard-alphabet character in the header",
                format!("+{}.{payload}.{signature}", &header[1..]),
            ),
            (
                "standard-alphabet character in the payload",
                format!("{header}.{}/.{signature}", &payload[..payload.len() - 1]),
            ),
            (
                "whitespace inside the token",
                format!("{header}. {payload}.{signature}"),
            ),
            ("header is not JSON", rs256("not json", &claims_text)),
            ("payload is not JSON", rs256(good_header, "not json")),
            (
                "header is a JSON array",
                rs256(r#"["RS256"]"#, &claims_text),
            ),
            ("payload is a JSON string", rs256(good_header, r#""sub""#)),
            (
                "header has trailing data",
                rs256(&format!("{good_header}{{}}"), &claims_text),
            ),
            (
                "payload is truncated JSON",
                rs256(good_header, &claims_text[..claims_text.len() - 1]),
            ),
        ],
    );
}

#[test]
fn duplicate_member_names_are_refused_in_header_and_payload() {
    let stack = Stack::start();
    let claims = stack.token().claims_map().clone();
    let claims_text = Value::Object(claims.clone()).to_string();
    let rs256 = |header_text: &str, payload_text: &str| {
        assemble(header_text, payload_text, "RS256", &Signer::Key(Key::Rsa1))
    };
    refused(
        &stack,
        PRIVATE,
        &[
            (
                "header repeats kid",
                rs256(
                    r#"{"alg":"RS256","typ":"JWT","kid":"rsa-1","kid":"rsa-1"}"#,
                    &claims_text,
                ),
            ),
            (
                "header repeats alg with another value",
                rs256(
                    r#"{"alg":"none","typ":"JWT","kid":"rsa-1","alg":"RS256"}"#,
                    &claims_text,
                ),
            ),
            (
                "payload repeats sub",
                rs256(
                    r#"{"alg":"RS256","typ":"JWT","kid":"rsa-1"}"#,
                    &with_leading_member(&claims, r#""sub":"admin""#),
                ),
            ),
            (
                "payload repeats aud",
                rs256(
                    r#"{"alg":"RS256","typ":"JWT","kid":"rsa-1"}"#,
                    &with_leading_member(&claims, r#""aud":"https://other.example.com""#),
                ),
            ),
            (
                "payload repeats a member of a nested object",
                rs256(
                    r#"{"alg":"RS256","typ":"JWT","kid":"rsa-1"}"#,
                    &with_leading_member(&claims, r#""act":{"sub":"a","sub":"b"}"#),
                ),
            ),
        ],
    );
}

#[test]
fn header_checks_alg_crit_typ_and_kid() {
    let stack = Stack::start();
    let target = Target::main(&stack);
    let token = || stack.token();
    let rsa_pem = Key::Rsa1.public_pem();
    refused(
        &stack,
        PRIVATE,
        &[
            // Only RS256 is configured (the default).
            (
                "RS384, not configured",
                token().key_alg(Key::Rsa1, "RS384").build(),
            ),
            (
                "PS256, not configured",
                token().key_alg(Key::Rsa1, "PS256").build(),
            ),
            ("ES256, not configured", token().key(Key::Ec1).build()),
            ("EdDSA, not configured", token().key(Key::Ed1).build()),
            (
                "alg none, empty signature",
                token().alg("none").signer(Signer::Empty).build(),
            ),
            (
                "alg none, RS256 signature kept",
                token().alg("none").build(),
            ),
            (
                "alg NONE",
                token().alg("NONE").signer(Signer::Empty).build(),
            ),
            ("alg missing", token().remove_header("alg").build()),
            (
                "alg not a string",
                token().header("alg", json!(["RS256"])).build(),
            ),
            ("alg in lower case", token().alg("rs256").build()),
            (
                "HS256 keyed with the public key PEM",
                token()
                    .alg("HS256")
                    .signer(Signer::Hmac(rsa_pem.clone().into_bytes()))
                    .build(),
            ),
            (
                "HS512 keyed with the public key PEM",
                token()
                    .alg("HS512")
                    .signer(Signer::Hmac(rsa_pem.into_bytes()))
                    .build(),
            ),
            // RFC 7515 §4.1.11: an extension the recipient does not understand.
            (
                "crit names exp",
                token().header("crit", json!(["exp"])).build(),
            ),
            (
                "crit names an unknown extension",
                token()
                    .header("crit", json!(["urn:example:ext"]))
                    .header("urn:example:ext", json!(true))
                    .build(),
            ),
            (
                "crit b64",
                token()
                    .header("crit", json!(["b64"]))
                    .header("b64", json!(false))
                    .build(),
            ),
            (
                "crit not an array",
                token().header("crit", json!("exp")).build(),
            ),
            ("typ dpop+jwt", token().typ("dpop+jwt").build()),
            ("typ DPoP+JWT", token().typ("DPoP+JWT").build()),
            ("typ JOSE", token().typ("JOSE").build()),
            (
                "typ id-token style application/jwt",
                token().typ("application/jwt").build(),
            ),
            ("typ empty", token().typ("").build()),
            ("typ not a string", token().header("typ", json!(1)).build()),
            ("kid missing", token().remove_header("kid").build()),
            ("kid of another case", token().kid("RSA-1").build()),
            ("kid with a trailing space", token().kid("rsa-1 ").build()),
            ("kid not a string", token().header("kid", json!(1)).build()),
        ],
    );
    let typ = |value: &str| (value.to_string(), token().typ(value).build());
    let passing: Vec<(String, String)> = vec![
        typ("JWT"),
        typ("jwt"),
        typ("at+jwt"),
        typ("AT+JWT"),
        typ("application/at+jwt"),
        typ("Application/AT+JWT"),
        (
            "typ absent".to_string(),
            token().remove_header("typ").build(),
        ),
    ];
    let passing: Vec<(&str, String)> = passing
        .iter()
        .map(|(c, t)| (c.as_str(), t.clone()))
        .collect();
    accepted(&target, PRIVATE, &passing);
}

#[test]
fn keys_embedded_in_the_header_are_never_used() {
    let stack = Stack::start();
    let attacker = || stack.token().key(Key::AttackerRsa);
    let attacker_jwk = Key::AttackerRsa.public_jwk();
    let jwks_url = "https://attacker.example/.well-known/jwks.json";
    // A syntactically plausible certificate chain entry; no certificate is ever trusted.
    let x5c = json!([b64url(b"not a certificate, and never looked at")]);
    refused(
        &stack,
        PRIVATE,
        &[
            (
                "jwk with its own kid",
                attacker().header("jwk", attacker_jwk.clone()).build(),
            ),
            (
                "jwk without kid",
                attacker()
                    .remove_header("kid")
                    .header("jwk", attacker_jwk.clone())
                    .build(),
            ),
            (
                "jwk under a published kid",
                attacker()
                    .kid(Key::Rsa1.kid())
                    .header("jwk", attacker_jwk.clone())
                    .build(),
            ),
            (
                "jku without kid",
                attacker()
                    .remove_header("kid")
                    .header("jku", json!(jwks_url))
                    .build(),
            ),
            (
                "jku with kid",
                attacker().header("jku", json!(jwks_url)).build(),
            ),
            (
                "x5u",
                attacker()
                    .remove_header("kid")
                    .header("x5u", json!(jwks_url))
                    .build(),
            ),
            (
                "x5c",
                attacker()
                    .remove_header("kid")
                    .header("x5c", x5c.clone())
                    .build(),
            ),
            (
                "x5c under a published kid",
                attacker().kid(Key::Rsa1.kid()).header("x5c", x5c).build(),
            ),
        ],
    );
}

#[test]
fn the_signature_must_verify_with_the_published_key() {
    let stack = Stack::start();
    let good = stack.token().build();
    let [header, payload, signature] = tamper::segments(&good);
    let mut claims = stack.token().claims_map().clone();
    claims.insert("sub".into(), json!("admin"));
    refused(
        &stack,
        PRIVATE,
        &[
            ("one bit flipped", tamper::flip_signature_bit(&good)),
            ("signature removed", tamper::strip_signature(&good)),
            (
                "signature truncated",
                format!("{header}.{payload}.{}", &signature[..signature.len() - 4]),
            ),
            (
                "claims swapped after signing",
                tamper::replace_claims(&good, &Value::Object(claims)),
            ),
            (
                "header swapped after signing",
                tamper::replace_header(
                    &good,
                    &json!({"alg": "RS256", "kid": "rsa-1", "typ": "at+jwt"}),
                ),
            ),
            (
                "signed by an unpublished key under a published kid",
                stack.token().key(Key::Rsa2).kid(Key::Rsa1.kid()).build(),
            ),
            (
                "signature of another token",
                format!(
                    "{header}.{payload}.{}",
                    tamper::segments(&stack.token().sub("x").build())[2]
                ),
            ),
            (
                "signature bytes all zero",
                stack.token().signer(Signer::Bytes(vec![0; 256])).build(),
            ),
        ],
    );
    // On Envoy these RS256 signatures were checked by Envoy's own verify_signature.
    assert!(
        stack
            .gateway
            .log()
            .contains("RS256/384/512 signatures are checked by Envoy's verify_signature"),
        "the filter did not take Envoy's signature check"
    );
}

#[test]
fn issuer_audience_and_time_claims() {
    let stack = Stack::start();
    let target = Target::main(&stack);
    let token = || stack.token();
    let now = unix_now();
    refused(
        &stack,
        PRIVATE,
        &[
            (
                "iss of another tenant",
                token().issuer_domain("other.local").build(),
            ),
            (
                "iss without its trailing slash",
                token().claim("iss", json!("https://issuer.local")).build(),
            ),
            (
                "iss over http",
                token().claim("iss", json!("http://issuer.local/")).build(),
            ),
            (
                "iss in another case",
                token().claim("iss", json!("https://ISSUER.local/")).build(),
            ),
            ("iss missing", token().remove_claim("iss").build()),
            (
                "iss not a string",
                token()
                    .claim("iss", json!(["https://issuer.local/"]))
                    .build(),
            ),
            (
                "aud of another API",
                token().aud(json!("https://other.example.com")).build(),
            ),
            (
                "aud with a trailing slash",
                token().aud(json!("https://api.example.com/")).build(),
            ),
            (
                "aud array without ours",
                token()
                    .aud(json!(["https://a.example.com", "https://b.example.com"]))
                    .build(),
            ),
            ("aud empty array", token().aud(json!([])).build()),
            ("aud missing", token().remove_claim("aud").build()),
            ("aud a number", token().aud(json!(1)).build()),
            ("exp missing", token().remove_claim("exp").build()),
            (
                "exp past beyond the skew",
                token().claim("exp", json!(now - 120)).build(),
            ),
            ("exp long past", token().issued_at(now - 7200).build()),
            (
                "exp a string",
                token()
                    .claim("exp", json!((now + 3600).to_string()))
                    .build(),
            ),
            (
                "nbf in the future beyond the skew",
                token().claim("nbf", json!(now + 120)).build(),
            ),
            ("iat missing", token().remove_claim("iat").build()),
            (
                "iat in the future beyond the skew",
                token().claim("iat", json!(now + 120)).build(),
            ),
            (
                "iat a string",
                token().claim("iat", json!(now.to_string())).build(),
            ),
        ],
    );
    accepted(
        &target,
        PRIVATE,
        &[
            (
                "aud array holding ours",
                token()
                    .aud(json!(["https://a.example.com", "https://api.example.com"]))
                    .build(),
            ),
            (
                "exp past but within the 60 s skew",
                token().claim("exp", json!(now - 20)).build(),
            ),
            ("nbf past", token().claim("nbf", json!(now - 60)).build()),
            (
                "exp and iat with fractions (NumericDate)",
                token()
                    .claim("iat", json!(now as f64 - 0.25))
                    .claim("exp", json!(now as f64 + 3600.5))
                    .build(),
            ),
            (
                "nbf in the future within the skew",
                token().claim("nbf", json!(now + 20)).build(),
            ),
            (
                "iat in the future within the skew",
                token().claim("iat", json!(now + 20)).build(),
            ),
        ],
    );
}

#[test]
fn scope_claims_must_be_strings_or_arrays_of_strings() {
    let stack = Stack::start();
    let target = Target::main(&stack);
    let token = || stack.token().remove_claim("scope");
    for path in [PRIVATE, "/api/messages"] {
        refused(
            &stack,
            path,
            &[
                ("scope a number", token().claim("scope", json!(42)).build()),
                (
                    "scope an array with a number",
                    token().claim("scope", json!(["read:messages", 3])).build(),
                ),
                (
                    "scope an object",
                    token()
                        .claim("scope", json!({"read:messages": true}))
                        .build(),
                ),
                (
                    "scope a boolean",
                    token().claim("scope", json!(true)).build(),
                ),
                ("scope null", token().claim("scope", Value::Null).build()),
                ("scp a number", token().claim("scp", json!(7)).build()),
                (
                    "scp an array with null",
                    token().claim("scp", json!(["read:messages", null])).build(),
                ),
                (
                    "valid scp but invalid scope",
                    token()
                        .claim("scp", json!(["read:messages"]))
                        .claim("scope", json!(1))
                        .build(),
                ),
            ],
        );
    }
    accepted(
        &target,
        "/api/messages",
        &[
            (
                "scope string",
                token().scope("openid read:messages").build(),
            ),
            (
                "scope array of strings",
                token()
                    .claim("scope", json!(["openid", "read:messages"]))
                    .build(),
            ),
            (
                "scp array",
                token().claim("scp", json!(["read:messages"])).build(),
            ),
            (
                "scp string",
                token().claim("scp", json!("read:messages")).build(),
            ),
            (
                "scope and scp united",
                token()
                    .scope("openid")
                    .claim("scp", json!(["read:messages"]))
                    .build(),
            ),
        ],
    );
    let response = target.denied(
        &Request::get("/api/messages").bearer(&token().claim("scp", json!(["openid"])).build()),
        "scp without the scope",
    );
    contract::insufficient_scope("read:messages").check(&response, "scp without the scope");
}

/// The key set the all-algorithms gateway's issuer publishes: the default keys, with
/// `rsa-3072` restricted to RS256 by its own `alg`, plus keys that must never be used.
fn jwks_with_unusable_keys() -> Value {
    let mut enc = Key::Rsa2.public_jwk();
    enc["use"] = json!("enc");
    json!({"keys": [
        Key::Rsa1.public_jwk(),
        Key::Rsa3072.public_jwk_with_alg("RS256"),
        Key::Ec1.public_jwk(),
        Key::Ec384.public_jwk(),
        Key::Ed1.public_jwk(),
        Key::RsaSmall.public_jwk(),
        enc,
    ]})
}

const ALL_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

fn all_algorithms_stack() -> Stack {
    Stack::with_config(|issuer| {
        issuer.publish_jwks(jwks_with_unusable_keys());
        with(demo_config(issuer), "algorithms", json!(ALL_ALGORITHMS))
    })
}

/// An ECDSA JOSE signature (r||s) re-encoded as ASN.1 DER, which JWS never uses.
fn der_ecdsa(raw: &[u8]) -> Vec<u8> {
    let integer = |half: &[u8]| {
        let trimmed: Vec<u8> = half.iter().copied().skip_while(|b| *b == 0).collect();
        let mut body = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
            vec![0]
        } else {
            Vec::new()
        };
        body.extend(trimmed);
        let mut out = vec![0x02, body.len() as u8];
        out.extend(body);
        out
    };
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut content = integer(r);
    content.extend(integer(s));
    let mut out = vec![0x30, content.len() as u8];
    out.extend(content);
    out
}

#[test]
fn every_supported_algorithm_is_accepted_when_configured() {
    let stack = all_algorithms_stack();
    let target = Target::main(&stack);
    let mut cases: Vec<(String, String)> = Vec::new();
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        cases.push((
            format!("{alg} rsa-1"),
            stack.token().key_alg(Key::Rsa1, alg).build(),
        ));
    }
    cases.push((
        "RS256 rsa-3072 (its JWK's alg)".into(),
        stack.token().key_alg(Key::Rsa3072, "RS256").build(),
    ));
    cases.push(("ES256 ec-1".into(), stack.token().key(Key::Ec1).build()));
    cases.push((
        "ES384 ec384-1".into(),
        stack.token().key(Key::Ec384).build(),
    ));
    cases.push(("EdDSA ed-1".into(), stack.token().key(Key::Ed1).build()));
    let cases: Vec<(&str, String)> = cases.iter().map(|(c, t)| (c.as_str(), t.clone())).collect();
    accepted(&target, PRIVATE, &cases);
}

#[test]
fn the_algorithm_must_fit_the_key_and_unusable_keys_are_never_used() {
    let stack = all_algorithms_stack();
    let token = || stack.token();
    let es256 = token().key(Key::Ec1).build();
    let [header, payload, signature] = tamper::segments(&es256);
    let der = der_ecdsa(&testbed::b64url_decode(&signature).unwrap());
    refused(
        &stack,
        PRIVATE,
        &[
            // Signed by the EC key as ES256, but naming the RSA key.
            (
                "ES256 header, RSA kid",
                token().key(Key::Ec1).kid(Key::Rsa1.kid()).build(),
            ),
            (
                "RS256 header, EC kid",
                token().key(Key::Rsa1).kid(Key::Ec1.kid()).build(),
            ),
            (
                "EdDSA header, EC kid",
                token().key(Key::Ed1).kid(Key::Ec1.kid()).build(),
            ),
            (
                "ES384 header, P-256 kid",
                token().key(Key::Ec384).kid(Key::Ec1.kid()).build(),
            ),
            (
                "ES256 header, P-384 kid",
                token().key(Key::Ec1).kid(Key::Ec384.kid()).build(),
            ),
            (
                "ES256 header, Ed25519 kid",
                token().key(Key::Ec1).kid(Key::Ed1.kid()).build(),
            ),
            (
                "PS256 with a key whose JWK says RS256",
                token().key_alg(Key::Rsa3072, "PS256").build(),
            ),
            (
                "RS512 with a key whose JWK says RS256",
                token().key_alg(Key::Rsa3072, "RS512").build(),
            ),
            (
                "ES256 signature in DER",
                format!("{header}.{payload}.{}", b64url(&der)),
            ),
            (
                "RSA key under 2048 bits",
                token().key(Key::RsaSmall).build(),
            ),
            (
                "key published for encryption",
                token().key(Key::Rsa2).build(),
            ),
            (
                "alg none",
                token().alg("none").signer(Signer::Empty).build(),
            ),
            (
                "HS256 keyed with the EC public key PEM",
                token()
                    .alg("HS256")
                    .kid(Key::Ec1.kid())
                    .signer(Signer::Hmac(Key::Ec1.public_pem().into_bytes()))
                    .build(),
            ),
            (
                "HS256 keyed with the RSA public key PEM",
                token()
                    .alg("HS256")
                    .signer(Signer::Hmac(Key::Rsa1.public_pem().into_bytes()))
                    .build(),
            ),
        ],
    );
}

#[test]
fn hostile_inputs_are_refused_without_harming_the_filter() {
    let stack = Stack::start();
    let claims = stack.token().claims_map().clone();
    let header = r#"{"alg":"RS256","typ":"JWT","kid":"rsa-1"}"#;
    let rs256 = |payload: &str| assemble(header, payload, "RS256", &Signer::Key(Key::Rsa1));
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let oversized = format!("{0}.{0}.{0}", "A".repeat(12 * 1024));
    let good = stack.token().build();
    let [head, payload, _] = tamper::segments(&good);
    refused(
        &stack,
        PRIVATE,
        &[
            ("token of 36 KiB", oversized),
            ("thousands of segments", ".".repeat(5000)),
            (
                "deeply nested claim",
                rs256(&with_leading_member(&claims, &format!("\"deep\":{deep}"))),
            ),
            (
                "payload not UTF-8",
                format!("{head}.{}.{}", b64url(b"{\"sub\":\"\xff\xfe\"}"), "AAAA"),
            ),
            ("NUL in kid", stack.token().kid("rsa-1\u{0}").build()),
            (
                "signature of 10 KiB",
                format!("{head}.{payload}.{}", b64url(&vec![7u8; 10 * 1024])),
            ),
        ],
    );
}
