//! Every check a DPoP proof goes through in real Envoy: `typ`,
//! `alg`, `jwk`, signature, required claims, `jti`, `iat`, `htm`, `htu`, `ath`, replay, and
//! the `DPoP` header itself. Each refusal is asserted whole: status, body `error` and
//! `error_description`, the `WWW-Authenticate` line, and that the upstream never saw it.
//!
//! The main listener runs the demo configuration with DPoP defaults (ES256 only, `iat`
//! leeway 30 s, offset 300 s); the `multi` listener allows every DPoP algorithm with a
//! 5 s leeway and a 60 s offset.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod contract;
mod dpop_support;

use common::*;
use contract::*;
use dpop_support::*;
use serde_json::json;
use testbed::unix_now;

const MULTI: &str = "multi";
const MULTI_LEEWAY: u64 = 5;
const MULTI_OFFSET: u64 = 60;
const PRIVATE: &str = "/api/private";

static STACK: SharedStack = SharedStack::new();

fn start() -> Stack {
    start_stack(1, |issuer| {
        let multi = dpop_config(
            issuer,
            json!({
                "dpop_algorithms": ALL_DPOP_ALGS,
                "dpop_iat_leeway": MULTI_LEEWAY,
                "dpop_iat_offset": MULTI_OFFSET,
            }),
        );
        (demo_config(issuer), vec![(MULTI, multi)])
    })
}

/// What the `multi` listener's challenges offer.
fn multi_offer() -> Offer {
    default_offer().algs(&ALL_DPOP_ALGS)
}

/// Sends `proof` with `token` as `GET /api/private` to `listener`.
fn get_private(token: &str, proof: &ProofBuilder) -> Request {
    Request::get(PRIVATE).dpop(token, &proof.build())
}

/// A proof whose signature is `alg` made by `key`, while its header names `header_alg`.
fn signed_as(proof: &ProofBuilder, key: Key, alg: &str) -> String {
    let [header, payload, _] = tamper::segments(&proof.build());
    let input = format!("{header}.{payload}");
    format!(
        "{input}.{}",
        testbed::b64url(&key.sign(alg, input.as_bytes()))
    )
}

/// The main listener (DPoP defaults) and an access token bound to `client-1`.
struct Defaults {
    stack: StackGuard,
    token: String,
    port: u16,
}

impl Defaults {
    fn new() -> Defaults {
        let stack = STACK.lock(start);
        let token = bound_token(&stack, Key::Client1);
        let port = stack.gateway.port();
        Defaults { stack, token, port }
    }

    /// A valid ES256 proof by `client-1` for `GET /api/private` with the token.
    fn proof(&self) -> ProofBuilder {
        proof_for(
            &self.stack,
            MAIN_LISTENER,
            Key::Client1,
            "GET",
            PRIVATE,
            &self.token,
        )
    }

    /// Sends `proof` with the token: refused as `invalid_dpop_proof` with `description`.
    fn refused(&self, proof: ProofBuilder, description: &str) {
        let request = get_private(&self.token, &proof);
        Target::main(&self.stack).refused(&request, &invalid_dpop_proof(description), description);
    }

    /// Sends `proof` with the token: it passes.
    fn allowed(&self, proof: ProofBuilder) -> Echoed {
        Target::main(&self.stack).allowed(&get_private(&self.token, &proof), "a valid proof")
    }
}

#[test]
fn a_fresh_es256_proof_for_the_bound_token_passes() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let proof = t.proof().build();
    let echoed = Target::listener(s, main).allowed(
        &Request::get(PRIVATE).dpop(token, &proof),
        "a fresh ES256 proof for the bound token passes",
    );
    assert_eq!(echoed.header("x-auth-sub"), Some("user_123"));
    assert_eq!(echoed.header("dpop"), Some(proof.as_str()));
}

#[test]
fn the_dpop_scheme_name_is_case_insensitive() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    for scheme in ["dpop", "DPOP", "DpOp"] {
        let request = Request::get(PRIVATE)
            .header("Authorization", &format!("{scheme} {token}"))
            .header("DPoP", &t.proof().build());
        Target::listener(s, main).allowed(&request, "the DPoP scheme name is case-insensitive");
    }
}

// typ
#[test]
fn typ_missing() {
    let t = Defaults::new();
    t.refused(t.proof().remove_header("typ"), BAD_TYP)
}

#[test]
fn typ_jwt() {
    let t = Defaults::new();
    t.refused(t.proof().header("typ", json!("JWT")), BAD_TYP)
}

#[test]
fn typ_compared_exactly_not_case_insensitively() {
    let t = Defaults::new();
    t.refused(t.proof().header("typ", json!("DPoP+JWT")), BAD_TYP)
}

#[test]
fn typ_application_dpop_jwt() {
    let t = Defaults::new();
    t.refused(
        t.proof().header("typ", json!("application/dpop+jwt")),
        BAD_TYP,
    )
}

#[test]
fn typ_not_a_string_the_header_cannot_be_decoded() {
    let t = Defaults::new();
    t.refused(t.proof().header("typ", json!(1)), UNDECODABLE)
}

// alg
#[test]
fn es384_is_not_in_the_default_dpop_algorithms() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let token = &t.token;
    t.refused(
        ProofBuilder::new(Key::Ec384, "GET", &s.gateway.url(PRIVATE)).access_token(token),
        BAD_ALG,
    )
}

#[test]
fn rs256_is_not_in_the_default_dpop_algorithms() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let token = &t.token;
    t.refused(
        ProofBuilder::new(Key::Rsa3072, "GET", &s.gateway.url(PRIVATE)).access_token(token),
        BAD_ALG,
    )
}

#[test]
fn alg_none() {
    let t = Defaults::new();
    t.refused(
        t.proof().alg("none").signer(Signer::Bytes(vec![0])),
        BAD_ALG,
    )
}

#[test]
fn alg_hs256_keyed_with_the_public_key() {
    let t = Defaults::new();
    let secret = Key::Client1.public_pem().into_bytes();
    t.refused(t.proof().alg("HS256").signer(Signer::Hmac(secret)), BAD_ALG)
}

#[test]
fn alg_names_are_case_sensitive() {
    let t = Defaults::new();
    t.refused(t.proof().alg("es256"), BAD_ALG)
}

// jwk
#[test]
fn jwk_missing() {
    let t = Defaults::new();
    t.refused(t.proof().remove_header("jwk"), BAD_JWK)
}

#[test]
fn jwk_with_the_private_member_d() {
    let t = Defaults::new();
    let mut jwk = Key::Client1.bare_public_jwk();
    jwk["d"] = json!(testbed::b64url(&[7u8; 32]));
    t.refused(t.proof().jwk(jwk), BAD_JWK)
}

#[test]
fn jwk_of_type_okp_for_es256() {
    let t = Defaults::new();
    t.refused(t.proof().jwk(Key::Ed1.bare_public_jwk()), BAD_JWK)
}

#[test]
fn jwk_of_type_rsa_for_es256() {
    let t = Defaults::new();
    t.refused(t.proof().jwk(Key::AttackerRsa.bare_public_jwk()), BAD_JWK)
}

#[test]
fn jwk_on_p_384_for_es256() {
    let t = Defaults::new();
    t.refused(t.proof().jwk(Key::Ec384.bare_public_jwk()), BAD_JWK)
}

#[test]
fn jwk_whose_own_alg_is_not_the_proofs() {
    let t = Defaults::new();
    let mut jwk = Key::Client1.bare_public_jwk();
    jwk["alg"] = json!("ES384");
    t.refused(t.proof().jwk(jwk), BAD_JWK)
}

#[test]
fn jwk_point_not_on_the_curve() {
    let t = Defaults::new();
    let mut jwk = Key::Client1.bare_public_jwk();
    jwk["y"] = Key::Client2.bare_public_jwk()["y"].clone();
    t.refused(t.proof().jwk(jwk), BAD_JWK)
}

#[test]
fn jwk_coordinate_one_byte_short() {
    let t = Defaults::new();
    let mut jwk = Key::Client1.bare_public_jwk();
    let x = testbed::b64url_decode(jwk["x"].as_str().unwrap()).unwrap();
    jwk["x"] = json!(testbed::b64url(&x[1..]));
    t.refused(t.proof().jwk(jwk), BAD_JWK)
}

#[test]
fn jwk_with_kid_and_use_sig_the_thumbprint_covers_the_key_only() {
    let t = Defaults::new();
    t.allowed(t.proof().jwk(Key::Client1.public_jwk()));
}

#[test]
fn jwk_of_type_oct() {
    let t = Defaults::new();
    t.refused(
        t.proof()
            .jwk(json!({"kty": "oct", "k": testbed::b64url(b"0123456789abcdef0123456789abcdef")})),
        BAD_JWK,
    )
}

#[test]
fn jwk_not_an_object_the_header_cannot_be_decoded() {
    let t = Defaults::new();
    t.refused(t.proof().jwk(json!("client-1")), UNDECODABLE)
}

// signature
#[test]
fn signed_by_another_key_than_its_jwk_forged() {
    let t = Defaults::new();
    t.refused(t.proof().signing_key(Key::Client2), BAD_SIGNATURE)
}

#[test]
fn one_signature_bit_flipped() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let forged = tamper::flip_signature_bit(&t.proof().build());
    Target::listener(s, main).refused(
        &Request::get(PRIVATE).dpop(token, &forged),
        &invalid_dpop_proof(BAD_SIGNATURE),
        "one signature bit flipped",
    );
}

#[test]
fn claims_changed_after_signing() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let original = t.proof().build();
    let altered = t.proof().jti("another-jti");
    let claims = serde_json::Value::Object(altered.claims_map().clone());
    let forged = tamper::replace_claims(&original, &claims);
    Target::listener(s, main).refused(
        &Request::get(PRIVATE).dpop(token, &forged),
        &invalid_dpop_proof(BAD_SIGNATURE),
        "claims changed after signing",
    );
}

#[test]
fn empty_signature_the_proof_cannot_be_decoded() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let stripped = tamper::strip_signature(&t.proof().build());
    Target::listener(s, main).refused(
        &Request::get(PRIVATE).dpop(token, &stripped),
        &invalid_dpop_proof(UNDECODABLE),
        "empty signature: the proof cannot be decoded",
    );
}

#[test]
fn crit_header_the_proof_cannot_be_understood() {
    let t = Defaults::new();
    t.refused(
        t.proof()
            .header("crit", json!(["exp"]))
            .header("exp", json!(1)),
        UNDECODABLE,
    )
}

#[test]
fn each_missing_required_claim_is_named() {
    let t = Defaults::new();
    for claim in ["iat", "ath", "htm", "htu", "jti"] {
        t.refused(
            t.proof().remove_claim(claim),
            &format!("Missing required claim: {claim}"),
        );
    }
}

#[test]
fn iat_and_jti_missing() {
    let t = Defaults::new();
    t.refused(
        t.proof().remove_claim("jti").remove_claim("iat"),
        "Missing required claims: iat, jti",
    )
}

#[test]
fn htu_and_ath_missing_listed_in_the_contracts_order() {
    let t = Defaults::new();
    t.refused(
        t.proof().remove_claim("htu").remove_claim("ath"),
        "Missing required claims: ath, htu",
    )
}

#[test]
fn every_required_claim_missing() {
    let t = Defaults::new();
    t.refused(
        t.proof().raw_claims("{}"),
        "Missing required claims: iat, ath, htm, htu, jti",
    )
}

// jti
#[test]
fn jti_empty() {
    let t = Defaults::new();
    t.refused(t.proof().jti(""), BAD_JTI);
}

#[test]
fn jti_blank() {
    let t = Defaults::new();
    t.refused(t.proof().jti(" \t "), BAD_JTI);
}

#[test]
fn jti_a_number() {
    let t = Defaults::new();
    t.refused(t.proof().claim("jti", json!(42)), BAD_JTI)
}

// iat: default window [now - 300, now + 30]
#[test]
fn iat_400_s_old() {
    let t = Defaults::new();
    t.refused(t.proof().iat(unix_now() - 400), IAT_TOO_OLD)
}

#[test]
fn iat_60_s_in_the_future() {
    let t = Defaults::new();
    t.refused(t.proof().iat(unix_now() + 60), IAT_FROM_FUTURE)
}

#[test]
fn iat_negative() {
    let t = Defaults::new();
    t.refused(t.proof().claim("iat", json!(-5)), IAT_TOO_OLD)
}

#[test]
fn iat_240_s_old_is_inside_the_default_offset() {
    let t = Defaults::new();
    t.allowed(t.proof().iat(unix_now() - 240));
}

#[test]
fn iat_20_s_ahead_is_inside_the_default_leeway() {
    let t = Defaults::new();
    t.allowed(t.proof().iat(unix_now() + 20));
}

#[test]
fn iat_a_string() {
    let t = Defaults::new();
    t.refused(
        t.proof().claim("iat", json!(unix_now().to_string())),
        BAD_IAT,
    )
}

// htm
#[test]
fn htm_post_on_a_get_request() {
    let t = Defaults::new();
    t.refused(t.proof().claim("htm", json!("POST")), HTM_MISMATCH)
}

#[test]
fn htm_compared_case_insensitively() {
    let t = Defaults::new();
    t.allowed(t.proof().claim("htm", json!("get")));
}

#[test]
fn htm_post_on_a_post_request() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let proof = proof_for(s, main, Key::Client1, "post", PRIVATE, token).build();
    Target::listener(s, main).allowed(
        &Request::post(PRIVATE).dpop(token, &proof),
        "htm post on a POST request",
    );
}

#[test]
fn htu_with_upper_case_scheme() {
    let t = Defaults::new();
    let port = t.port;
    t.allowed(
        t.proof()
            .claim("htu", json!(format!("HTTP://127.0.0.1:{port}{PRIVATE}"))),
    );
}

#[test]
fn htu_with_upper_case_host() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let proof = ProofBuilder::new(Key::Client1, "GET", "http://API.Example.TEST/api/private")
        .access_token(token);
    let request = get_private(token, &proof).header("host", "api.example.test");
    Target::listener(s, main).allowed(&request, "htu with upper-case host");
}

#[test]
fn request_host_in_upper_case_htu_in_lower_case() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let proof = ProofBuilder::new(Key::Client1, "GET", "http://api.example.test/api/private")
        .access_token(token);
    let request = get_private(token, &proof).header("host", "API.EXAMPLE.TEST");
    Target::listener(s, main).allowed(&request, "request host in upper case, htu in lower case");
}

#[test]
fn htu_with_the_default_port() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let proof = ProofBuilder::new(
        Key::Client1,
        "GET",
        "http://api.example.test:80/api/private",
    )
    .access_token(token);
    let request = get_private(token, &proof).header("host", "api.example.test");
    Target::listener(s, main).allowed(&request, "htu with the default port");
}

#[test]
fn request_authority_with_the_default_port_htu_without() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let proof = ProofBuilder::new(Key::Client1, "GET", "http://api.example.test/api/private")
        .access_token(token);
    let request = get_private(token, &proof).header("host", "api.example.test:80");
    Target::listener(s, main).allowed(
        &request,
        "request authority with the default port, htu without",
    );
}

#[test]
fn htu_with_dot_segments() {
    let t = Defaults::new();
    let port = t.port;
    t.allowed(t.proof().claim(
        "htu",
        json!(format!("http://127.0.0.1:{port}/api/x/../private")),
    ));
    t.allowed(t.proof().claim(
        "htu",
        json!(format!("http://127.0.0.1:{port}/api/./private")),
    ));
}

#[test]
fn request_query_ignored() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let proof = t.proof().build();
    Target::listener(s, main).allowed(
        &Request::get("/api/private?page=2").dpop(token, &proof),
        "request query ignored",
    );
}

#[test]
fn htu_query_and_fragment_ignored() {
    let t = Defaults::new();
    let port = t.port;
    t.allowed(t.proof().claim(
        "htu",
        json!(format!("http://127.0.0.1:{port}{PRIVATE}?page=2")),
    ));
    t.allowed(t.proof().claim(
        "htu",
        json!(format!("http://127.0.0.1:{port}{PRIVATE}#top")),
    ));
}

#[test]
fn percent_encoding_normalised_in_htu_and_in_the_request() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let port = t.port;
    t.allowed(t.proof().claim(
        "htu",
        json!(format!("http://127.0.0.1:{port}/api/%70rivate")),
    ));
    let plain = t.proof().build();
    Target::listener(s, main).allowed(
        &Request::get("/api/%70rivate").dpop(token, &plain),
        "percent-encoding normalised in htu and in the request",
    );
    let upper = proof_for(s, main, Key::Client1, "GET", "/api/a%2Fb", token).build();
    Target::listener(s, main).allowed(
        &Request::get("/api/a%2fb").dpop(token, &upper),
        "percent-encoding normalised in htu and in the request",
    );
}

#[test]
fn htu_without_a_path_names_the_root() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let port = t.port;
    let proof = t
        .proof()
        .claim("htu", json!(format!("http://127.0.0.1:{port}")))
        .build();
    Target::listener(s, main).allowed(
        &Request::get("/").dpop(token, &proof),
        "htu without a path names the root",
    );
}

#[test]
fn htu_with_an_ipv6_host() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let proof = ProofBuilder::new(Key::Client1, "GET", "http://[::ABCD]:8080/api/private")
        .access_token(token);
    let request = get_private(token, &proof).header("host", "[::abcd]:8080");
    Target::listener(s, main).allowed(&request, "htu with an IPv6 host");
}

// htu: refused
#[test]
fn htu_without_the_requests_trailing_slash() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let proof = t.proof().build();
    Target::listener(s, main).refused(
        &Request::get("/api/private/").dpop(token, &proof),
        &invalid_dpop_proof(HTU_MISMATCH),
        "htu without the request's trailing slash",
    );
}

#[test]
fn htu_with_a_trailing_slash_the_request_lacks() {
    let t = Defaults::new();
    let port = t.port;
    t.refused(
        t.proof().claim(
            "htu",
            json!(format!("http://127.0.0.1:{port}/api/private/")),
        ),
        HTU_MISMATCH,
    )
}

#[test]
fn htu_https_on_a_plain_text_connection() {
    let t = Defaults::new();
    let port = t.port;
    t.refused(
        t.proof()
            .claim("htu", json!(format!("https://127.0.0.1:{port}{PRIVATE}"))),
        HTU_MISMATCH,
    )
}

#[test]
fn htu_naming_another_path() {
    let t = Defaults::new();
    let port = t.port;
    t.refused(
        t.proof().claim(
            "htu",
            json!(format!("http://127.0.0.1:{port}/api/messages")),
        ),
        HTU_MISMATCH,
    )
}

#[test]
fn htu_path_case_differs() {
    let t = Defaults::new();
    let port = t.port;
    t.refused(
        t.proof()
            .claim("htu", json!(format!("http://127.0.0.1:{port}/API/private"))),
        HTU_MISMATCH,
    )
}

#[test]
fn htu_naming_another_port() {
    let t = Defaults::new();
    let port = t.port;
    t.refused(
        t.proof().claim(
            "htu",
            json!(format!("http://127.0.0.1:{}{PRIVATE}", port ^ 1)),
        ),
        HTU_MISMATCH,
    )
}

#[test]
fn htu_naming_another_host() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let proof = ProofBuilder::new(Key::Client1, "GET", "http://other.example.test/api/private")
        .access_token(token);
    let request = get_private(token, &proof).header("host", "api.example.test");
    Target::listener(s, main).refused(
        &request,
        &invalid_dpop_proof(HTU_MISMATCH),
        "htu naming another host",
    );
}

#[test]
fn htu_with_a_doubled_slash_the_request_lacks() {
    let t = Defaults::new();
    let port = t.port;
    t.refused(
        t.proof().claim(
            "htu",
            json!(format!("http://127.0.0.1:{port}//api/private")),
        ),
        HTU_MISMATCH,
    )
}

#[test]
fn htu_relative() {
    let t = Defaults::new();
    t.refused(t.proof().claim("htu", json!(PRIVATE)), HTU_MISMATCH)
}

#[test]
fn htu_not_a_string() {
    let t = Defaults::new();
    t.refused(t.proof().claim("htu", json!(1)), HTU_MISMATCH)
}

// ath
#[test]
fn ath_of_another_token() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let other = s.token().bound_to(Key::Client1).sub("user_456").build();
    t.refused(t.proof().access_token(&other), ATH_MISMATCH)
}

#[test]
fn ath_of_the_token_padded() {
    let t = Defaults::new();
    let token = &t.token;
    let ath = format!("{}=", testbed::keys::access_token_hash(token));
    t.refused(t.proof().claim("ath", json!(ath)), ATH_MISMATCH)
}

// replay
#[test]
fn the_same_proof_twice() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let proof = t.proof().build();
    let request = Request::get(PRIVATE).dpop(token, &proof);
    Target::listener(s, main).allowed(&request, "the same proof twice");
    Target::listener(s, main).refused(
        &request,
        &invalid_dpop_proof(REPLAYED),
        "the same proof twice",
    );
    Target::listener(s, main).refused(
        &request,
        &invalid_dpop_proof(REPLAYED),
        "the same proof twice",
    );
}

#[test]
fn a_new_proof_reusing_an_accepted_jti() {
    let t = Defaults::new();
    let first = t.proof();
    let jti = first.claims_map()["jti"].as_str().unwrap().to_string();
    t.allowed(first);
    t.refused(t.proof().jti(&jti), REPLAYED);
}

#[test]
fn a_refused_proof_is_not_remembered_its_jti_stays_usable() {
    let t = Defaults::new();
    let jti = testbed::proof::random_jti();
    t.refused(
        t.proof().jti(&jti).claim("htm", json!("DELETE")),
        HTM_MISMATCH,
    );
    t.refused(t.proof().jti(&jti).iat(unix_now() - 400), IAT_TOO_OLD);
    t.allowed(t.proof().jti(&jti));
    t.refused(t.proof().jti(&jti), REPLAYED);
}

// the DPoP header itself
#[test]
fn two_proofs_in_one_header_value() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let (a, b) = (t.proof().build(), t.proof().build());
    let request = Request::get(PRIVATE)
        .header("Authorization", &format!("DPoP {token}"))
        .header("DPoP", &format!("{a},{b}"));
    Target::listener(s, main).refused(
        &request,
        &invalid_dpop_proof(MULTIPLE_PROOFS),
        "two proofs in one header value",
    );
    let spaced = Request::get(PRIVATE)
        .header("Authorization", &format!("DPoP {token}"))
        .header("DPoP", &format!("{a}, {b}"));
    Target::listener(s, main).refused(
        &spaced,
        &invalid_dpop_proof(MULTIPLE_PROOFS),
        "two proofs in one header value",
    );
    // Neither proof was remembered.
    Target::listener(s, main).allowed(
        &Request::get(PRIVATE).dpop(token, &a),
        "two proofs in one header value",
    );
}

#[test]
fn two_dpop_header_lines() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let (a, b) = (t.proof().build(), t.proof().build());
    let request = Request::get(PRIVATE).dpop(token, &a).header("DPoP", &b);
    Target::listener(s, main).refused(
        &request,
        &invalid_dpop_proof(MULTIPLE_PROOFS),
        "two DPoP header lines",
    );
    let same_twice = Request::get(PRIVATE).dpop(token, &a).header("dpop", &a);
    Target::listener(s, main).refused(
        &same_twice,
        &invalid_dpop_proof(MULTIPLE_PROOFS),
        "two DPoP header lines",
    );
}

#[test]
fn no_dpop_header() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let request = Request::get(PRIVATE).header("Authorization", &format!("DPoP {token}"));
    Target::listener(s, main).refused(
        &request,
        &invalid_request().on_dpop().described(PROOF_MISSING),
        "no DPoP header",
    );
}

#[test]
fn an_empty_dpop_header() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    for value in ["", "   "] {
        let request = Request::get(PRIVATE)
            .header("Authorization", &format!("DPoP {token}"))
            .header("DPoP", value);
        Target::listener(s, main).refused(
            &request,
            &invalid_request().on_dpop().described(PROOF_MISSING),
            "an empty DPoP header",
        );
    }
}

#[test]
fn a_proof_that_is_not_a_jws() {
    let t = Defaults::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let request = Request::get(PRIVATE).dpop(token, "not-a-proof");
    Target::listener(s, main).refused(
        &request,
        &invalid_dpop_proof(UNDECODABLE),
        "a proof that is not a JWS",
    );
}

/// The `multi` listener: every DPoP algorithm, a 5 s leeway and a 60 s offset.
struct EveryAlgorithm {
    stack: StackGuard,
}

impl EveryAlgorithm {
    fn new() -> EveryAlgorithm {
        EveryAlgorithm {
            stack: STACK.lock(start),
        }
    }

    /// A token bound to `key` and the request carrying it with `proof`, made for it.
    fn send(&self, key: Key, proof: ProofBuilder) -> (String, Request) {
        let token = bound_token(&self.stack, key);
        let proof = proof.access_token(&token);
        let request = get_private(&token, &proof);
        (token, request)
    }

    /// A valid proof by `key` for `GET /api/private` on `multi`, without `ath` yet.
    fn new_proof(&self, key: Key) -> ProofBuilder {
        ProofBuilder::new(key, "GET", &listener_url(&self.stack, MULTI, PRIVATE))
    }

    /// Sends `proof` with a token bound to `key`: refused as `invalid_dpop_proof`.
    fn refused(&self, key: Key, proof: ProofBuilder, description: &str) {
        let (_, request) = self.send(key, proof);
        let expected = multi_offer().invalid_dpop_proof(description);
        Target::listener(&self.stack, MULTI).refused(&request, &expected, description);
    }
}

#[test]
fn a_proof_in_each_allowed_algorithm_passes() {
    let t = EveryAlgorithm::new();
    for (key, alg) in [
        (Key::Client1, "ES256"),
        (Key::Ec384, "ES384"),
        (Key::Ed1, "EdDSA"),
        (Key::Rsa3072, "RS256"),
        (Key::Rsa3072, "PS256"),
        (Key::AttackerRsa, "PS256"),
    ] {
        let (_, request) = t.send(key, t.new_proof(key).alg(alg));
        Target::listener(&t.stack, MULTI).allowed(&request, &format!("{alg} proof by {key}"));
    }
}

#[test]
fn rs384_is_not_a_dpop_algorithm() {
    let t = EveryAlgorithm::new();
    t.refused(
        Key::Rsa3072,
        t.new_proof(Key::Rsa3072).alg("RS384"),
        BAD_ALG,
    )
}

#[test]
fn es512_is_not_a_dpop_algorithm() {
    let t = EveryAlgorithm::new();
    t.refused(
        Key::Client1,
        t.new_proof(Key::Client1).alg("ES512"),
        BAD_ALG,
    )
}

#[test]
fn rsa_key_under_2048_bits() {
    let t = EveryAlgorithm::new();
    t.refused(Key::RsaSmall, t.new_proof(Key::RsaSmall), BAD_JWK)
}

#[test]
fn es384_with_a_p_256_jwk() {
    let t = EveryAlgorithm::new();
    t.refused(
        Key::Client1,
        t.new_proof(Key::Client1).alg("ES384"),
        BAD_JWK,
    )
}

#[test]
fn eddsa_with_an_ec_jwk() {
    let t = EveryAlgorithm::new();
    t.refused(
        Key::Client1,
        t.new_proof(Key::Client1).alg("EdDSA"),
        BAD_JWK,
    )
}

#[test]
fn rs256_with_an_okp_jwk() {
    let t = EveryAlgorithm::new();
    t.refused(Key::Ed1, t.new_proof(Key::Ed1).alg("RS256"), BAD_JWK)
}

#[test]
fn ps256_with_an_ec_jwk() {
    let t = EveryAlgorithm::new();
    t.refused(Key::Ec384, t.new_proof(Key::Ec384).alg("PS256"), BAD_JWK)
}

#[test]
fn ps256_header_over_an_rs256_signature() {
    let t = EveryAlgorithm::new();
    let s: &Stack = &t.stack;
    let token = bound_token(s, Key::Rsa3072);
    let proof = t.new_proof(Key::Rsa3072).alg("PS256").access_token(&token);
    let forged = signed_as(&proof, Key::Rsa3072, "RS256");
    let request = Request::get(PRIVATE).dpop(&token, &forged);
    Target::listener(s, MULTI).refused(
        &request,
        &multi_offer().invalid_dpop_proof(BAD_SIGNATURE),
        "PS256 header over an RS256 signature",
    );
}

#[test]
fn rs256_header_over_a_ps256_signature() {
    let t = EveryAlgorithm::new();
    let s: &Stack = &t.stack;
    let token = bound_token(s, Key::Rsa3072);
    let proof = t.new_proof(Key::Rsa3072).alg("RS256").access_token(&token);
    let forged = signed_as(&proof, Key::Rsa3072, "PS256");
    let request = Request::get(PRIVATE).dpop(&token, &forged);
    Target::listener(s, MULTI).refused(
        &request,
        &multi_offer().invalid_dpop_proof(BAD_SIGNATURE),
        "RS256 header over a PS256 signature",
    );
}

#[test]
fn eddsa_proof_signed_by_an_ec_key() {
    let t = EveryAlgorithm::new();
    t.refused(
        Key::Ed1,
        t.new_proof(Key::Ed1).signing_key(Key::Client1),
        BAD_SIGNATURE,
    )
}

#[test]
fn es384_signature_with_a_bit_flipped() {
    let t = EveryAlgorithm::new();
    let s: &Stack = &t.stack;
    let token = bound_token(s, Key::Ec384);
    let proof = tamper::flip_signature_bit(&t.new_proof(Key::Ec384).access_token(&token).build());
    let request = Request::get(PRIVATE).dpop(&token, &proof);
    Target::listener(s, MULTI).refused(
        &request,
        &multi_offer().invalid_dpop_proof(BAD_SIGNATURE),
        "ES384 signature with a bit flipped",
    );
}

// iat: configured window [now - 60, now + 5]
#[test]
fn iat_45_s_old_is_inside_the_configured_offset() {
    let t = EveryAlgorithm::new();
    let s: &Stack = &t.stack;
    let (_, request) = t.send(Key::Client1, t.new_proof(Key::Client1).iat(unix_now() - 45));
    Target::listener(s, MULTI).allowed(&request, "iat 45 s old is inside the configured offset");
}

#[test]
fn iat_75_s_old_is_outside_the_configured_offset() {
    let t = EveryAlgorithm::new();
    t.refused(
        Key::Client1,
        t.new_proof(Key::Client1).iat(unix_now() - 75),
        IAT_TOO_OLD,
    )
}

#[test]
fn iat_2_s_ahead_is_inside_the_configured_leeway() {
    let t = EveryAlgorithm::new();
    let s: &Stack = &t.stack;
    let (_, request) = t.send(Key::Client1, t.new_proof(Key::Client1).iat(unix_now() + 2));
    Target::listener(s, MULTI).allowed(&request, "iat 2 s ahead is inside the configured leeway");
}

#[test]
fn iat_15_s_ahead_is_outside_the_configured_leeway() {
    let t = EveryAlgorithm::new();
    t.refused(
        Key::Client1,
        t.new_proof(Key::Client1).iat(unix_now() + 15),
        IAT_FROM_FUTURE,
    )
}

#[test]
fn no_credentials_the_challenge_lists_every_configured_algorithm() {
    let t = EveryAlgorithm::new();
    let s: &Stack = &t.stack;
    let request = Request::get(PRIVATE);
    let expected = multi_offer().no_credentials().described(NO_AUTHORIZATION);
    Target::listener(s, MULTI).refused(
        &request,
        &expected,
        "no credentials: the challenge lists every configured algorithm",
    );
}
