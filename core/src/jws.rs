//! Compact JWS (RFC 7515 §7.1): split, decode and parse, then verify on request.
//!
//! The length is checked before anything else is done with the string. The header and payload
//! must be strict JSON objects (see [`crate::json`]). Header members this module reads are
//! type-checked; what their values mean (which `alg` is allowed, which `typ`, which `crit`) is
//! the caller's decision, and so are the claims.

use std::fmt;

use serde_json::{Map, Value};

use crate::algorithm::Algorithm;
use crate::b64::{self, B64Error};
use crate::crypto::{SignatureError, VerifyingKey};
use crate::json::{self, JsonError};

/// Longest compact JWS accepted. Access tokens and DPoP proofs are well under 2 KiB; the bound
/// leaves room for large claim sets while keeping per-request work small.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Header,
    Payload,
    Signature,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Segment::Header => "header",
            Segment::Payload => "payload",
            Segment::Signature => "signature",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwsError {
    // The compact form.
    TooLong {
        len: usize,
        max: usize,
    },
    /// Not three dot-separated segments (JWE has five, JSON serialization has none).
    SegmentCount {
        found: usize,
    },
    EmptySegment(Segment),
    Encoding {
        segment: Segment,
        error: B64Error,
    },
    Json {
        segment: Segment,
        error: JsonError,
    },
    // The header's members.
    MissingAlg,
    HeaderMemberType {
        member: &'static str,
        expected: &'static str,
    },
    EmptyCrit,
}

impl fmt::Display for JwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwsError::TooLong { len, max } => {
                write!(f, "token is {len} bytes, more than the {max} allowed")
            }
            JwsError::SegmentCount { found } => {
                write!(f, "token has {found} segments, expected 3")
            }
            JwsError::EmptySegment(segment) => write!(f, "token {segment} is empty"),
            JwsError::Encoding { segment, error } => {
                write!(f, "token {segment} is not base64url: {error}")
            }
            JwsError::Json { segment, error } => {
                write!(f, "token {segment} is not a valid JSON object: {error}")
            }
            JwsError::MissingAlg => f.write_str("token header has no alg"),
            JwsError::HeaderMemberType { member, expected } => {
                write!(f, "token header member {member} is not {expected}")
            }
            JwsError::EmptyCrit => f.write_str("token header crit is empty"),
        }
    }
}

impl std::error::Error for JwsError {}

/// The JOSE header members the filter reads, type-checked, plus the whole header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub alg: String,
    pub kid: Option<String>,
    pub typ: Option<String>,
    pub crit: Option<Vec<String>>,
    pub jwk: Option<Map<String, Value>>,
    pub raw: Map<String, Value>,
}

/// A decoded compact JWS whose payload is a JSON object. Nothing in it is trusted until
/// [`Jws::verify`] succeeds.
#[derive(Debug, Clone)]
pub struct Jws<'a> {
    pub header: Header,
    pub claims: Map<String, Value>,
    signing_input: &'a str,
    signature: Vec<u8>,
}

impl Jws<'_> {
    /// Checks the signature over the token's own `header.payload` text with `alg`, which must be
    /// the algorithm the header names.
    pub fn verify(&self, key: &VerifyingKey, alg: Algorithm) -> Result<(), SignatureError> {
        verify_parts(&self.header, self.signing_input, &self.signature, key, alg)
    }

    /// `header.payload` exactly as it appears in the token.
    pub fn signing_input(&self) -> &str {
        self.signing_input
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
}

/// A decoded compact JWS whose payload is left as bytes, for signed content that is not a
/// JSON object.
#[derive(Debug, Clone)]
pub struct Compact<'a> {
    pub header: Header,
    pub payload: Vec<u8>,
    signing_input: &'a str,
    signature: Vec<u8>,
}

impl Compact<'_> {
    pub fn verify(&self, key: &VerifyingKey, alg: Algorithm) -> Result<(), SignatureError> {
        verify_parts(&self.header, self.signing_input, &self.signature, key, alg)
    }

    pub fn signing_input(&self) -> &str {
        self.signing_input
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
}

fn verify_parts(
    header: &Header,
    signing_input: &str,
    signature: &[u8],
    key: &VerifyingKey,
    alg: Algorithm,
) -> Result<(), SignatureError> {
    if header.alg != alg.name() {
        return Err(SignatureError::NotHeaderAlgorithm { alg });
    }
    key.verify(alg, signing_input.as_bytes(), signature)
}

pub fn decode(compact: &str) -> Result<Jws<'_>, JwsError> {
    let Compact {
        header,
        payload,
        signing_input,
        signature,
    } = decode_compact(compact)?;
    let claims = json::parse_object(&payload).map_err(|error| JwsError::Json {
        segment: Segment::Payload,
        error,
    })?;
    Ok(Jws {
        header,
        claims,
        signing_input,
        signature,
    })
}

pub fn decode_compact(compact: &str) -> Result<Compact<'_>, JwsError> {
    if compact.len() > MAX_TOKEN_LEN {
        return Err(JwsError::TooLong {
            len: compact.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    let found = compact.bytes().filter(|&b| b == b'.').count() + 1;
    let count_error = JwsError::SegmentCount { found };
    if found != 3 {
        return Err(count_error);
    }
    let (signing_input, signature_b64) = compact.rsplit_once('.').ok_or(count_error.clone())?;
    let (header_b64, payload_b64) = signing_input.split_once('.').ok_or(count_error)?;

    for (segment, text) in [
        (Segment::Header, header_b64),
        (Segment::Payload, payload_b64),
        (Segment::Signature, signature_b64),
    ] {
        if text.is_empty() {
            return Err(JwsError::EmptySegment(segment));
        }
    }
    let decode =
        |segment, text| b64::decode(text).map_err(|error| JwsError::Encoding { segment, error });
    let header_bytes = decode(Segment::Header, header_b64)?;
    let payload = decode(Segment::Payload, payload_b64)?;
    let signature = decode(Segment::Signature, signature_b64)?;

    let raw = json::parse_object(&header_bytes).map_err(|error| JwsError::Json {
        segment: Segment::Header,
        error,
    })?;
    let header = parse_header(raw)?;
    Ok(Compact {
        header,
        payload,
        signing_input,
        signature,
    })
}

fn parse_header(raw: Map<String, Value>) -> Result<Header, JwsError> {
    let string = |member: &'static str| match raw.get(member) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(JwsError::HeaderMemberType {
            member,
            expected: "a string",
        }),
    };
    let alg = string("alg")?.ok_or(JwsError::MissingAlg)?;
    let kid = string("kid")?;
    let typ = string("typ")?;
    let crit = match raw.get("crit") {
        None => None,
        Some(value) => {
            const NOT_LIST: JwsError = JwsError::HeaderMemberType {
                member: "crit",
                expected: "an array of strings",
            };
            let list = value.as_array().ok_or(NOT_LIST)?;
            if list.is_empty() {
                return Err(JwsError::EmptyCrit);
            }
            let names = list
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or(NOT_LIST))
                .collect::<Result<Vec<_>, _>>()?;
            Some(names)
        }
    };
    let jwk = match raw.get("jwk") {
        None => None,
        Some(Value::Object(map)) => Some(map.clone()),
        Some(_) => {
            return Err(JwsError::HeaderMemberType {
                member: "jwk",
                expected: "an object",
            })
        }
    };
    Ok(Header {
        alg,
        kid,
        typ,
        crit,
        jwk,
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwk::{parse_jwk, parse_jwks};
    use serde_json::json;

    // RFC 7515 Appendix A.3 (ES256).
    const A3_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    const A3_TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

    fn a3_key() -> VerifyingKey {
        parse_jwk(&json::parse_object(A3_JWK.as_bytes()).unwrap())
            .unwrap()
            .key()
            .clone()
    }

    fn token(header: &Value, payload: &Value, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64::encode(header.to_string().as_bytes()),
            b64::encode(payload.to_string().as_bytes()),
            b64::encode(signature)
        )
    }

    fn header_error(header: Value) -> JwsError {
        decode(&token(&header, &json!({}), b"sig")).unwrap_err()
    }

    #[test]
    fn rfc7515_a3_decodes_and_verifies() {
        let jws = decode(A3_TOKEN).unwrap();
        assert_eq!(jws.header.alg, "ES256");
        assert_eq!(jws.header.kid, None);
        assert_eq!(jws.claims.get("iss"), Some(&json!("joe")));
        assert_eq!(jws.claims.get("exp"), Some(&json!(1300819380)));
        assert_eq!(jws.signature().len(), 64);
        assert_eq!(jws.signing_input(), A3_TOKEN.rsplit_once('.').unwrap().0);
        assert_eq!(jws.verify(&a3_key(), Algorithm::ES256), Ok(()));
    }

    #[test]
    fn verify_refuses_an_algorithm_other_than_the_headers() {
        let jws = decode(A3_TOKEN).unwrap();
        assert_eq!(
            jws.verify(&a3_key(), Algorithm::ES384),
            Err(SignatureError::NotHeaderAlgorithm {
                alg: Algorithm::ES384
            })
        );
    }

    #[test]
    fn signature_covers_the_encoded_header_and_payload() {
        // Same JSON, re-encoded differently: the signature must no longer match.
        let (input, sig) = A3_TOKEN.rsplit_once('.').unwrap();
        let (h, _) = input.split_once('.').unwrap();
        let claims = json!({"iss":"joe","exp":1300819380,"http://example.com/is_root":true});
        let other = format!("{h}.{}.{sig}", b64::encode(claims.to_string().as_bytes()));
        let jws = decode(&other).unwrap();
        assert_eq!(
            jws.verify(&a3_key(), Algorithm::ES256),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn length_is_checked_before_anything_else() {
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            decode(&long).unwrap_err(),
            JwsError::TooLong {
                len: MAX_TOKEN_LEN + 1,
                max: MAX_TOKEN_LEN
            }
        );
        let header = json!({"alg":"ES256"});
        let fits = token(&header, &json!({"p": "x".repeat(100)}), b"s");
        assert!(decode(&fits).is_ok());
    }

    #[test]
    fn exactly_three_segments() {
        assert_eq!(decode("").unwrap_err(), JwsError::SegmentCount { found: 1 });
        assert_eq!(
            decode("a.b").unwrap_err(),
            JwsError::SegmentCount { found: 2 }
        );
        assert_eq!(
            decode("a.b.c.d.e").unwrap_err(),
            JwsError::SegmentCount { found: 5 }
        );
        assert_eq!(
            decode(&format!("{A3_TOKEN}.")).unwrap_err(),
            JwsError::SegmentCount { found: 4 }
        );
    }

    #[test]
    fn no_segment_may_be_empty() {
        let (input, _) = A3_TOKEN.rsplit_once('.').unwrap();
        let (h, p) = input.split_once('.').unwrap();
        assert_eq!(
            decode(&format!("{input}.")).unwrap_err(),
            JwsError::EmptySegment(Segment::Signature)
        );
        assert_eq!(
            decode(&format!("{h}..sig")).unwrap_err(),
            JwsError::EmptySegment(Segment::Payload)
        );
        assert_eq!(
            decode(&format!(".{p}.sig")).unwrap_err(),
            JwsError::EmptySegment(Segment::Header)
        );
        assert_eq!(
            decode("..").unwrap_err(),
            JwsError::EmptySegment(Segment::Header)
        );
    }

    #[test]
    fn segments_must_be_strict_base64url() {
        let (input, sig) = A3_TOKEN.rsplit_once('.').unwrap();
        let (h, p) = input.split_once('.').unwrap();
        assert_eq!(
            decode(&format!("{h}=.{p}.{sig}")).unwrap_err(),
            JwsError::Encoding {
                segment: Segment::Header,
                error: B64Error::Padding { offset: h.len() }
            }
        );
        assert_eq!(
            decode(&format!("{h}.{p} .{sig}")).unwrap_err(),
            JwsError::Encoding {
                segment: Segment::Payload,
                error: B64Error::InvalidCharacter { offset: p.len() }
            }
        );
        assert_eq!(
            decode(&format!("{h}.{p}.{}", sig.replace('-', "+"))).unwrap_err(),
            JwsError::Encoding {
                segment: Segment::Signature,
                error: B64Error::InvalidCharacter {
                    offset: sig.find('-').unwrap()
                }
            }
        );
    }

    #[test]
    fn header_and_payload_must_be_strict_json_objects() {
        let header = json!({"alg":"ES256"});
        let h = b64::encode(header.to_string().as_bytes());
        assert_eq!(
            decode(&format!("{h}.{}.c2ln", b64::encode(b"foo"))).unwrap_err(),
            JwsError::Json {
                segment: Segment::Payload,
                error: JsonError::Syntax { line: 1, column: 2 }
            }
        );
        assert_eq!(
            decode(&format!("{h}.{}.c2ln", b64::encode(b"[1]"))).unwrap_err(),
            JwsError::Json {
                segment: Segment::Payload,
                error: JsonError::NotAnObject
            }
        );
        assert_eq!(
            decode(&format!(
                "{}.{}.c2ln",
                b64::encode(br#"{"alg":"ES256","alg":"none"}"#),
                b64::encode(b"{}")
            ))
            .unwrap_err(),
            JwsError::Json {
                segment: Segment::Header,
                error: JsonError::DuplicateMember("alg".into())
            }
        );
        assert_eq!(
            decode(&format!(
                "{h}.{}.c2ln",
                b64::encode(br#"{"sub":"a","sub":"b"}"#)
            ))
            .unwrap_err(),
            JwsError::Json {
                segment: Segment::Payload,
                error: JsonError::DuplicateMember("sub".into())
            }
        );
    }

    #[test]
    fn header_member_types_are_checked() {
        assert_eq!(header_error(json!({"kid":"k"})), JwsError::MissingAlg);
        assert_eq!(
            header_error(json!({"alg":1})),
            JwsError::HeaderMemberType {
                member: "alg",
                expected: "a string"
            }
        );
        assert_eq!(
            header_error(json!({"alg":"ES256","kid":1})),
            JwsError::HeaderMemberType {
                member: "kid",
                expected: "a string"
            }
        );
        assert_eq!(
            header_error(json!({"alg":"ES256","typ":null})),
            JwsError::HeaderMemberType {
                member: "typ",
                expected: "a string"
            }
        );
        assert_eq!(
            header_error(json!({"alg":"ES256","crit":"exp"})),
            JwsError::HeaderMemberType {
                member: "crit",
                expected: "an array of strings"
            }
        );
        assert_eq!(
            header_error(json!({"alg":"ES256","crit":["exp",1]})),
            JwsError::HeaderMemberType {
                member: "crit",
                expected: "an array of strings"
            }
        );
        assert_eq!(
            header_error(json!({"alg":"ES256","crit":[]})),
            JwsError::EmptyCrit
        );
        assert_eq!(
            header_error(json!({"alg":"ES256","jwk":"x"})),
            JwsError::HeaderMemberType {
                member: "jwk",
                expected: "an object"
            }
        );
    }

    #[test]
    fn header_members_are_exposed() {
        let header = json!({"alg":"ES256","kid":"k1","typ":"dpop+jwt","crit":["b64x"],"jwk":{"kty":"EC"},"x":1});
        let text = token(&header, &json!({"a":1}), b"sig");
        let jws = decode(&text).unwrap();
        assert_eq!(
            jws.header,
            Header {
                alg: "ES256".into(),
                kid: Some("k1".into()),
                typ: Some("dpop+jwt".into()),
                crit: Some(vec!["b64x".into()]),
                jwk: Some(json!({"kty":"EC"}).as_object().unwrap().clone()),
                raw: header.as_object().unwrap().clone(),
            }
        );
        assert_eq!(jws.signature(), b"sig");
    }

    #[test]
    fn unknown_alg_names_decode_and_are_left_to_the_caller() {
        let text = token(&json!({"alg":"none"}), &json!({}), b"x");
        let jws = decode(&text).unwrap();
        assert_eq!(jws.header.alg, "none");
        assert_eq!(Algorithm::from_name(&jws.header.alg), None);
    }

    #[test]
    fn compact_keeps_a_non_json_payload() {
        let text = format!(
            "{}.{}.c2ln",
            b64::encode(br#"{"alg":"EdDSA"}"#),
            b64::encode(b"foo")
        );
        let compact = decode_compact(&text).unwrap();
        assert_eq!(compact.payload, b"foo");
        assert_eq!(compact.header.alg, "EdDSA");
        assert_eq!(compact.signing_input(), text.rsplit_once('.').unwrap().0);
        assert_eq!(compact.signature(), b"sig");
    }

    #[test]
    fn display_is_one_line() {
        for e in [
            JwsError::TooLong { len: 1, max: 0 },
            JwsError::SegmentCount { found: 2 },
            JwsError::EmptySegment(Segment::Signature),
            JwsError::Encoding {
                segment: Segment::Header,
                error: B64Error::Padding { offset: 3 },
            },
            JwsError::Json {
                segment: Segment::Payload,
                error: JsonError::DuplicateMember("a\"\n".into()),
            },
            JwsError::MissingAlg,
            JwsError::EmptyCrit,
        ] {
            let text = e.to_string();
            assert!(!text.contains(['\r', '\n', '"']), "{text}");
        }
        assert_eq!(
            JwsError::Encoding {
                segment: Segment::Header,
                error: B64Error::Padding { offset: 3 }
            }
            .to_string(),
            "token header is not base64url: padding at offset 3 is not allowed"
        );
    }

    /// Deterministic mutations of valid tokens and key sets: decoding must return, never panic.
    #[test]
    fn mutated_inputs_never_panic() {
        let jwks = format!(r#"{{"keys":[{A3_JWK}]}}"#);
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            // xorshift64*: a fixed sequence, so failures reproduce.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let alphabet = b"AZaz09-_.=+/ {}\"\\:,[]\x00\xff";
        let key = a3_key();
        for round in 0..4000 {
            let source = if round % 2 == 0 {
                A3_TOKEN.as_bytes()
            } else {
                jwks.as_bytes()
            };
            let mut bytes = source.to_vec();
            let edits = 1 + (next() % 8) as usize;
            for _ in 0..edits {
                let pos = (next() as usize) % (bytes.len() + 1);
                match next() % 4 {
                    0 if pos < bytes.len() => {
                        bytes[pos] = alphabet[(next() as usize) % alphabet.len()]
                    }
                    1 if pos < bytes.len() => {
                        bytes.remove(pos);
                    }
                    2 => bytes.insert(pos, alphabet[(next() as usize) % alphabet.len()]),
                    _ => bytes.truncate(pos),
                }
            }
            if round % 2 == 0 {
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    if let Ok(jws) = decode(text) {
                        let _ = jws.verify(&key, Algorithm::ES256);
                    }
                    let _ = decode_compact(text);
                }
            } else {
                let _ = parse_jwks(&bytes);
            }
        }
    }
}
