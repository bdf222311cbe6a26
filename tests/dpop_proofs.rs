//! Every check a DPoP proof goes through in real Envoy (issue 3, "Proof checks"): `typ`,
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
mod dpop_support;

use common::*;
use dpop_support::*;
use serde_json::json;
use testbed::unix_now;

const MULTI: &str = "multi";
const MULTI_LEEWAY: u64 = 5;
const MULTI_OFFSET: u64 = 60;
const PRIVATE: &str = "/api/private";

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

#[test]
fn proof_checks_with_the_default_dpop_settings() {
    let stack = start();
    let s = &stack;
    let main = MAIN_LISTENER;
    let token = bound_token(s, Key::Client1);
    let proof = || proof_for(s, main, Key::Client1, "GET", PRIVATE, &token);
    let refused = |proof: ProofBuilder, description: &str| {
        assert_refused(
            s,
            main,
            &get_private(&token, &proof),
            &Refusal::proof(description),
        )
    };
    let allowed = |proof: ProofBuilder| assert_allowed(s, main, &get_private(&token, &proof));
    let mut cases = Cases::new("proof checks, default settings");

    cases.case("a fresh ES256 proof for the bound token passes", || {
        let proof = proof().build();
        let response = assert_allowed(s, main, &Request::get(PRIVATE).dpop(&token, &proof));
        let echoed = response.echoed().unwrap();
        assert_eq!(echoed.header("x-auth-sub"), Some("user_123"));
        assert_eq!(echoed.header("dpop"), Some(proof.as_str()));
    });
    cases.case("the DPoP scheme name is case-insensitive", || {
        for scheme in ["dpop", "DPOP", "DpOp"] {
            let request = Request::get(PRIVATE)
                .header("Authorization", &format!("{scheme} {token}"))
                .header("DPoP", &proof().build());
            assert_allowed(s, main, &request);
        }
    });

    // typ
    cases.case("typ missing", || {
        refused(proof().remove_header("typ"), BAD_TYP)
    });
    cases.case("typ JWT", || {
        refused(proof().header("typ", json!("JWT")), BAD_TYP)
    });
    cases.case("typ compared exactly, not case-insensitively", || {
        refused(proof().header("typ", json!("DPoP+JWT")), BAD_TYP)
    });
    cases.case("typ application/dpop+jwt", || {
        refused(
            proof().header("typ", json!("application/dpop+jwt")),
            BAD_TYP,
        )
    });
    cases.case("typ not a string: the header cannot be decoded", || {
        refused(proof().header("typ", json!(1)), UNDECODABLE)
    });

    // alg
    cases.case("ES384 is not in the default dpop_algorithms", || {
        refused(
            ProofBuilder::new(Key::Ec384, "GET", &s.gateway.url(PRIVATE)).access_token(&token),
            BAD_ALG,
        )
    });
    cases.case("RS256 is not in the default dpop_algorithms", || {
        refused(
            ProofBuilder::new(Key::Rsa3072, "GET", &s.gateway.url(PRIVATE)).access_token(&token),
            BAD_ALG,
        )
    });
    cases.case("alg none", || {
        refused(proof().alg("none").signer(Signer::Bytes(vec![0])), BAD_ALG)
    });
    cases.case("alg HS256 keyed with the public key", || {
        let secret = Key::Client1.public_pem().into_bytes();
        refused(proof().alg("HS256").signer(Signer::Hmac(secret)), BAD_ALG)
    });
    cases.case("alg names are case-sensitive", || {
        refused(proof().alg("es256"), BAD_ALG)
    });

    // jwk
    cases.case("jwk missing", || {
        refused(proof().remove_header("jwk"), BAD_JWK)
    });
    cases.case("jwk with the private member d", || {
        let mut jwk = Key::Client1.bare_public_jwk();
        jwk["d"] = json!(testbed::b64url(&[7u8; 32]));
        refused(proof().jwk(jwk), BAD_JWK)
    });
    cases.case("jwk of type OKP for ES256", || {
        refused(proof().jwk(Key::Ed1.bare_public_jwk()), BAD_JWK)
    });
    cases.case("jwk of type RSA for ES256", || {
        refused(proof().jwk(Key::AttackerRsa.bare_public_jwk()), BAD_JWK)
    });
    cases.case("jwk on P-384 for ES256", || {
        refused(proof().jwk(Key::Ec384.bare_public_jwk()), BAD_JWK)
    });
    cases.case("jwk whose own alg is not the proof's", || {
        let mut jwk = Key::Client1.bare_public_jwk();
        jwk["alg"] = json!("ES384");
        refused(proof().jwk(jwk), BAD_JWK)
    });
    cases.case("jwk point not on the curve", || {
        let mut jwk = Key::Client1.bare_public_jwk();
        jwk["y"] = Key::Client2.bare_public_jwk()["y"].clone();
        refused(proof().jwk(jwk), BAD_JWK)
    });
    cases.case("jwk coordinate one byte short", || {
        let mut jwk = Key::Client1.bare_public_jwk();
        let x = testbed::b64url_decode(jwk["x"].as_str().unwrap()).unwrap();
        jwk["x"] = json!(testbed::b64url(&x[1..]));
        refused(proof().jwk(jwk), BAD_JWK)
    });
    cases.case(
        "jwk with kid and use sig: the thumbprint covers the key only",
        || {
            allowed(proof().jwk(Key::Client1.public_jwk()));
        },
    );
    cases.case("jwk of type oct", || {
        refused(
            proof().jwk(
                json!({"kty": "oct", "k": testbed::b64url(b"0123456789abcdef0123456789abcdef")}),
            ),
            BAD_JWK,
        )
    });
    cases.case("jwk not an object: the header cannot be decoded", || {
        refused(proof().jwk(json!("client-1")), UNDECODABLE)
    });

    // signature
    cases.case("signed by another key than its jwk (forged)", || {
        refused(proof().signing_key(Key::Client2), BAD_SIGNATURE)
    });
    cases.case("one signature bit flipped", || {
        let forged = tamper::flip_signature_bit(&proof().build());
        assert_refused(
            s,
            main,
            &Request::get(PRIVATE).dpop(&token, &forged),
            &Refusal::proof(BAD_SIGNATURE),
        );
    });
    cases.case("claims changed after signing", || {
        let original = proof().build();
        let altered = proof().jti("another-jti");
        let claims = serde_json::Value::Object(altered.claims_map().clone());
        let forged = tamper::replace_claims(&original, &claims);
        assert_refused(
            s,
            main,
            &Request::get(PRIVATE).dpop(&token, &forged),
            &Refusal::proof(BAD_SIGNATURE),
        );
    });
    cases.case("empty signature: the proof cannot be decoded", || {
        let stripped = tamper::strip_signature(&proof().build());
        assert_refused(
            s,
            main,
            &Request::get(PRIVATE).dpop(&token, &stripped),
            &Refusal::proof(UNDECODABLE),
        );
    });
    cases.case("crit header: the proof cannot be understood", || {
        refused(
            proof()
                .header("crit", json!(["exp"]))
                .header("exp", json!(1)),
            UNDECODABLE,
        )
    });

    // required claims, one missing at a time, then several in the contract's order
    for claim in ["iat", "ath", "htm", "htu", "jti"] {
        cases.case(&format!("claim {claim} missing"), || {
            refused(
                proof().remove_claim(claim),
                &format!("Missing required claim: {claim}"),
            )
        });
    }
    cases.case("iat and jti missing", || {
        refused(
            proof().remove_claim("jti").remove_claim("iat"),
            "Missing required claims: iat, jti",
        )
    });
    cases.case(
        "htu and ath missing, listed in the contract's order",
        || {
            refused(
                proof().remove_claim("htu").remove_claim("ath"),
                "Missing required claims: ath, htu",
            )
        },
    );
    cases.case("every required claim missing", || {
        refused(
            proof().raw_claims("{}"),
            "Missing required claims: iat, ath, htm, htu, jti",
        )
    });

    // jti
    cases.case("jti empty", || refused(proof().jti(""), BAD_JTI));
    cases.case("jti blank", || refused(proof().jti(" \t "), BAD_JTI));
    cases.case("jti a number", || {
        refused(proof().claim("jti", json!(42)), BAD_JTI)
    });

    // iat: default window [now - 300, now + 30]
    cases.case("iat 400 s old", || {
        refused(proof().iat(unix_now() - 400), IAT_TOO_OLD)
    });
    cases.case("iat 60 s in the future", || {
        refused(proof().iat(unix_now() + 60), IAT_FROM_FUTURE)
    });
    cases.case("iat negative", || {
        refused(proof().claim("iat", json!(-5)), IAT_TOO_OLD)
    });
    cases.case("iat 240 s old is inside the default offset", || {
        allowed(proof().iat(unix_now() - 240));
    });
    cases.case("iat 20 s ahead is inside the default leeway", || {
        allowed(proof().iat(unix_now() + 20));
    });
    cases.case("iat a string", || {
        refused(proof().claim("iat", json!(unix_now().to_string())), BAD_IAT)
    });

    // htm
    cases.case("htm POST on a GET request", || {
        refused(proof().claim("htm", json!("POST")), HTM_MISMATCH)
    });
    cases.case("htm compared case-insensitively", || {
        allowed(proof().claim("htm", json!("get")));
    });
    cases.case("htm post on a POST request", || {
        let proof = proof_for(s, main, Key::Client1, "post", PRIVATE, &token).build();
        assert_allowed(s, main, &Request::post(PRIVATE).dpop(&token, &proof));
    });

    // htu: accepted after normalisation
    let port = s.gateway.port();
    cases.case("htu with upper-case scheme", || {
        allowed(proof().claim("htu", json!(format!("HTTP://127.0.0.1:{port}{PRIVATE}"))));
    });
    cases.case("htu with upper-case host", || {
        let proof = ProofBuilder::new(Key::Client1, "GET", "http://API.Example.TEST/api/private")
            .access_token(&token);
        let request = get_private(&token, &proof).header("host", "api.example.test");
        assert_allowed(s, main, &request);
    });
    cases.case("request host in upper case, htu in lower case", || {
        let proof = ProofBuilder::new(Key::Client1, "GET", "http://api.example.test/api/private")
            .access_token(&token);
        let request = get_private(&token, &proof).header("host", "API.EXAMPLE.TEST");
        assert_allowed(s, main, &request);
    });
    cases.case("htu with the default port", || {
        let proof = ProofBuilder::new(
            Key::Client1,
            "GET",
            "http://api.example.test:80/api/private",
        )
        .access_token(&token);
        let request = get_private(&token, &proof).header("host", "api.example.test");
        assert_allowed(s, main, &request);
    });
    cases.case(
        "request authority with the default port, htu without",
        || {
            let proof =
                ProofBuilder::new(Key::Client1, "GET", "http://api.example.test/api/private")
                    .access_token(&token);
            let request = get_private(&token, &proof).header("host", "api.example.test:80");
            assert_allowed(s, main, &request);
        },
    );
    cases.case("htu with dot segments", || {
        allowed(proof().claim(
            "htu",
            json!(format!("http://127.0.0.1:{port}/api/x/../private")),
        ));
        allowed(proof().claim(
            "htu",
            json!(format!("http://127.0.0.1:{port}/api/./private")),
        ));
    });
    cases.case("request query ignored", || {
        let proof = proof().build();
        assert_allowed(
            s,
            main,
            &Request::get("/api/private?page=2").dpop(&token, &proof),
        );
    });
    cases.case("htu query and fragment ignored", || {
        allowed(proof().claim(
            "htu",
            json!(format!("http://127.0.0.1:{port}{PRIVATE}?page=2")),
        ));
        allowed(proof().claim(
            "htu",
            json!(format!("http://127.0.0.1:{port}{PRIVATE}#top")),
        ));
    });
    cases.case(
        "percent-encoding normalised in htu and in the request",
        || {
            allowed(proof().claim(
                "htu",
                json!(format!("http://127.0.0.1:{port}/api/%70rivate")),
            ));
            let plain = proof().build();
            assert_allowed(
                s,
                main,
                &Request::get("/api/%70rivate").dpop(&token, &plain),
            );
            let upper = proof_for(s, main, Key::Client1, "GET", "/api/a%2Fb", &token).build();
            assert_allowed(s, main, &Request::get("/api/a%2fb").dpop(&token, &upper));
        },
    );
    cases.case("htu without a path names the root", || {
        let proof = proof()
            .claim("htu", json!(format!("http://127.0.0.1:{port}")))
            .build();
        assert_allowed(s, main, &Request::get("/").dpop(&token, &proof));
    });
    cases.case("htu with an IPv6 host", || {
        let proof = ProofBuilder::new(Key::Client1, "GET", "http://[::ABCD]:8080/api/private")
            .access_token(&token);
        let request = get_private(&token, &proof).header("host", "[::abcd]:8080");
        assert_allowed(s, main, &request);
    });

    // htu: refused
    cases.case("htu without the request's trailing slash", || {
        let proof = proof().build();
        assert_refused(
            s,
            main,
            &Request::get("/api/private/").dpop(&token, &proof),
            &Refusal::proof(HTU_MISMATCH),
        );
    });
    cases.case("htu with a trailing slash the request lacks", || {
        refused(
            proof().claim(
                "htu",
                json!(format!("http://127.0.0.1:{port}/api/private/")),
            ),
            HTU_MISMATCH,
        )
    });
    cases.case("htu https on a plain-text connection", || {
        refused(
            proof().claim("htu", json!(format!("https://127.0.0.1:{port}{PRIVATE}"))),
            HTU_MISMATCH,
        )
    });
    cases.case("htu naming another path", || {
        refused(
            proof().claim(
                "htu",
                json!(format!("http://127.0.0.1:{port}/api/messages")),
            ),
            HTU_MISMATCH,
        )
    });
    cases.case("htu path case differs", || {
        refused(
            proof().claim("htu", json!(format!("http://127.0.0.1:{port}/API/private"))),
            HTU_MISMATCH,
        )
    });
    cases.case("htu naming another port", || {
        refused(
            proof().claim(
                "htu",
                json!(format!("http://127.0.0.1:{}{PRIVATE}", port ^ 1)),
            ),
            HTU_MISMATCH,
        )
    });
    cases.case("htu naming another host", || {
        let proof = ProofBuilder::new(Key::Client1, "GET", "http://other.example.test/api/private")
            .access_token(&token);
        let request = get_private(&token, &proof).header("host", "api.example.test");
        assert_refused(s, main, &request, &Refusal::proof(HTU_MISMATCH));
    });
    cases.case("htu with a doubled slash the request lacks", || {
        refused(
            proof().claim(
                "htu",
                json!(format!("http://127.0.0.1:{port}//api/private")),
            ),
            HTU_MISMATCH,
        )
    });
    cases.case("htu relative", || {
        refused(proof().claim("htu", json!(PRIVATE)), HTU_MISMATCH)
    });
    cases.case("htu not a string", || {
        refused(proof().claim("htu", json!(1)), HTU_MISMATCH)
    });

    // ath
    cases.case("ath of another token", || {
        let other = s.token().bound_to(Key::Client1).sub("user_456").build();
        refused(proof().access_token(&other), ATH_MISMATCH)
    });
    cases.case("ath of the token padded", || {
        let ath = format!("{}=", testbed::keys::access_token_hash(&token));
        refused(proof().claim("ath", json!(ath)), ATH_MISMATCH)
    });

    // replay
    cases.case("the same proof twice", || {
        let proof = proof().build();
        let request = Request::get(PRIVATE).dpop(&token, &proof);
        assert_allowed(s, main, &request);
        assert_refused(s, main, &request, &Refusal::proof(REPLAYED));
        assert_refused(s, main, &request, &Refusal::proof(REPLAYED));
    });
    cases.case("a new proof reusing an accepted jti", || {
        let first = proof();
        let jti = first.claims_map()["jti"].as_str().unwrap().to_string();
        allowed(first);
        refused(proof().jti(&jti), REPLAYED);
    });
    cases.case(
        "a refused proof is not remembered: its jti stays usable",
        || {
            let jti = testbed::proof::random_jti();
            refused(
                proof().jti(&jti).claim("htm", json!("DELETE")),
                HTM_MISMATCH,
            );
            refused(proof().jti(&jti).iat(unix_now() - 400), IAT_TOO_OLD);
            allowed(proof().jti(&jti));
            refused(proof().jti(&jti), REPLAYED);
        },
    );

    // the DPoP header itself
    cases.case("two proofs in one header value", || {
        let (a, b) = (proof().build(), proof().build());
        let request = Request::get(PRIVATE)
            .header("Authorization", &format!("DPoP {token}"))
            .header("DPoP", &format!("{a},{b}"));
        assert_refused(s, main, &request, &Refusal::proof(MULTIPLE_PROOFS));
        let spaced = Request::get(PRIVATE)
            .header("Authorization", &format!("DPoP {token}"))
            .header("DPoP", &format!("{a}, {b}"));
        assert_refused(s, main, &spaced, &Refusal::proof(MULTIPLE_PROOFS));
        // Neither proof was remembered.
        assert_allowed(s, main, &Request::get(PRIVATE).dpop(&token, &a));
    });
    cases.case("two DPoP header lines", || {
        let (a, b) = (proof().build(), proof().build());
        let request = Request::get(PRIVATE).dpop(&token, &a).header("DPoP", &b);
        assert_refused(s, main, &request, &Refusal::proof(MULTIPLE_PROOFS));
        let same_twice = Request::get(PRIVATE).dpop(&token, &a).header("dpop", &a);
        assert_refused(s, main, &same_twice, &Refusal::proof(MULTIPLE_PROOFS));
    });
    cases.case("no DPoP header", || {
        let request = Request::get(PRIVATE).header("Authorization", &format!("DPoP {token}"));
        assert_refused(s, main, &request, &Refusal::dpop_request(PROOF_MISSING));
    });
    cases.case("an empty DPoP header", || {
        for value in ["", "   "] {
            let request = Request::get(PRIVATE)
                .header("Authorization", &format!("DPoP {token}"))
                .header("DPoP", value);
            assert_refused(s, main, &request, &Refusal::dpop_request(PROOF_MISSING));
        }
    });
    cases.case("a proof that is not a JWS", || {
        let request = Request::get(PRIVATE).dpop(&token, "not-a-proof");
        assert_refused(s, main, &request, &Refusal::proof(UNDECODABLE));
    });

    cases.finish();
}

#[test]
fn proof_checks_with_every_algorithm_allowed() {
    let stack = start();
    let s = &stack;
    let algs = &ALL_DPOP_ALGS[..];
    let mut cases = Cases::new("proof checks, every algorithm allowed");
    let send = |key: Key, proof: ProofBuilder| {
        let token = bound_token(s, key);
        let proof = proof.access_token(&token);
        (token.clone(), get_private(&token, &proof))
    };
    let new_proof = |key: Key| ProofBuilder::new(key, "GET", &listener_url(s, MULTI, PRIVATE));
    let refused = |key: Key, proof: ProofBuilder, description: &str| {
        let (_, request) = send(key, proof);
        assert_refused(s, MULTI, &request, &Refusal::proof_algs(description, algs));
    };

    for (key, alg) in [
        (Key::Client1, "ES256"),
        (Key::Ec384, "ES384"),
        (Key::Ed1, "EdDSA"),
        (Key::Rsa3072, "RS256"),
        (Key::Rsa3072, "PS256"),
        (Key::AttackerRsa, "PS256"),
    ] {
        cases.case(&format!("{alg} proof by {key} passes"), || {
            let (_, request) = send(key, new_proof(key).alg(alg));
            assert_allowed(s, MULTI, &request);
        });
    }
    cases.case("RS384 is not a DPoP algorithm", || {
        refused(Key::Rsa3072, new_proof(Key::Rsa3072).alg("RS384"), BAD_ALG)
    });
    cases.case("ES512 is not a DPoP algorithm", || {
        refused(Key::Client1, new_proof(Key::Client1).alg("ES512"), BAD_ALG)
    });
    cases.case("RSA key under 2048 bits", || {
        refused(Key::RsaSmall, new_proof(Key::RsaSmall), BAD_JWK)
    });
    cases.case("ES384 with a P-256 jwk", || {
        refused(Key::Client1, new_proof(Key::Client1).alg("ES384"), BAD_JWK)
    });
    cases.case("EdDSA with an EC jwk", || {
        refused(Key::Client1, new_proof(Key::Client1).alg("EdDSA"), BAD_JWK)
    });
    cases.case("RS256 with an OKP jwk", || {
        refused(Key::Ed1, new_proof(Key::Ed1).alg("RS256"), BAD_JWK)
    });
    cases.case("PS256 with an EC jwk", || {
        refused(Key::Ec384, new_proof(Key::Ec384).alg("PS256"), BAD_JWK)
    });
    cases.case("PS256 header over an RS256 signature", || {
        let token = bound_token(s, Key::Rsa3072);
        let proof = new_proof(Key::Rsa3072).alg("PS256").access_token(&token);
        let forged = signed_as(&proof, Key::Rsa3072, "RS256");
        let request = Request::get(PRIVATE).dpop(&token, &forged);
        assert_refused(
            s,
            MULTI,
            &request,
            &Refusal::proof_algs(BAD_SIGNATURE, algs),
        );
    });
    cases.case("RS256 header over a PS256 signature", || {
        let token = bound_token(s, Key::Rsa3072);
        let proof = new_proof(Key::Rsa3072).alg("RS256").access_token(&token);
        let forged = signed_as(&proof, Key::Rsa3072, "PS256");
        let request = Request::get(PRIVATE).dpop(&token, &forged);
        assert_refused(
            s,
            MULTI,
            &request,
            &Refusal::proof_algs(BAD_SIGNATURE, algs),
        );
    });
    cases.case("EdDSA proof signed by an EC key", || {
        refused(
            Key::Ed1,
            new_proof(Key::Ed1).signing_key(Key::Client1),
            BAD_SIGNATURE,
        )
    });
    cases.case("ES384 signature with a bit flipped", || {
        let token = bound_token(s, Key::Ec384);
        let proof = tamper::flip_signature_bit(&new_proof(Key::Ec384).access_token(&token).build());
        let request = Request::get(PRIVATE).dpop(&token, &proof);
        assert_refused(
            s,
            MULTI,
            &request,
            &Refusal::proof_algs(BAD_SIGNATURE, algs),
        );
    });

    // iat: configured window [now - 60, now + 5]
    cases.case("iat 45 s old is inside the configured offset", || {
        let (_, request) = send(Key::Client1, new_proof(Key::Client1).iat(unix_now() - 45));
        assert_allowed(s, MULTI, &request);
    });
    cases.case("iat 75 s old is outside the configured offset", || {
        refused(
            Key::Client1,
            new_proof(Key::Client1).iat(unix_now() - 75),
            IAT_TOO_OLD,
        )
    });
    cases.case("iat 2 s ahead is inside the configured leeway", || {
        let (_, request) = send(Key::Client1, new_proof(Key::Client1).iat(unix_now() + 2));
        assert_allowed(s, MULTI, &request);
    });
    cases.case("iat 15 s ahead is outside the configured leeway", || {
        refused(
            Key::Client1,
            new_proof(Key::Client1).iat(unix_now() + 15),
            IAT_FROM_FUTURE,
        )
    });
    cases.case(
        "no credentials: the challenge lists every configured algorithm",
        || {
            let request = Request::get(PRIVATE);
            let expected = Refusal::new(
                401,
                "invalid_request",
                NO_AUTHORIZATION,
                &plain_challenge(algs),
            );
            assert_refused(s, MULTI, &request, &expected);
        },
    );

    cases.finish();
}
