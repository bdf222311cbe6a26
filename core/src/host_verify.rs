//! RSA signature checks by the host, where it offers them. Envoy registers a foreign function,
//! `verify_signature`, that checks a signature with BoringSSL: an RS256 check through it costs
//! about 16 µs inside Envoy, against 51 µs for this crate's own RSA in wasm (BENCHMARKS.md).
//! This module builds the function's argument, reads its answer and decides when it may be
//! used; the shell only carries the bytes ([`SignatureHost`]).
//!
//! The argument is the protobuf message `VerifySignatureArguments` of Envoy's
//! `source/extensions/common/wasm/ext/verify_signature.proto`: `hash_function` (1, a name such
//! as `sha256`), `public_key` (2, DER SubjectPublicKeyInfo), `signature` (3) and `text` (4, the
//! signed bytes). The answer is `VerifySignatureResult`: `result` (1, bool) and `error` (2).
//!
//! Only RS256, RS384 and RS512 go to the host. Envoy verifies with the key type's default
//! scheme: PKCS#1 v1.5 for RSA, so PS256/384/512 would be checked under the wrong scheme, and
//! DER-encoded ECDSA, where JOSE sends r‖s. Those stay with the own verifiers.
//!
//! The host is trusted only after [`self_test`]: a built-in valid RS256 signature must be
//! answered true and the same signature with one bit changed false. Any call that fails later
//! (a status other than Ok, an answer that is not the expected message) falls back to the own
//! verifier for that token; only a well-formed answer decides.

use crate::algorithm::Algorithm;
use crate::b64;

/// The name Envoy registers the function under.
pub const FUNCTION: &str = "verify_signature";

/// Calls the host's signature function.
pub trait SignatureHost: std::fmt::Debug {
    /// The function's answer to `arguments`; `None` when the host did not answer Ok.
    fn call(&mut self, arguments: &[u8]) -> Option<Vec<u8>>;
}

/// The hash name the host takes for `alg`, for the algorithms it may check.
pub fn hash_name(alg: Algorithm) -> Option<&'static str> {
    match alg {
        Algorithm::RS256 => Some("sha256"),
        Algorithm::RS384 => Some("sha384"),
        Algorithm::RS512 => Some("sha512"),
        _ => None,
    }
}

/// The host's verdict on `signature` over `message`: `None` when the call failed or the
/// answer could not be read, so the caller decides with its own verifier.
pub fn check(
    host: &mut dyn SignatureHost,
    hash: &str,
    spki: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Option<bool> {
    read_result(&host.call(&arguments(hash, spki, signature, message))?)
}

/// Whether the host answers a known valid RS256 signature true and a corrupted copy false.
pub fn self_test(host: &mut dyn SignatureHost) -> bool {
    let (Ok(n), Ok(mut signature)) = (b64::decode(TEST_N), b64::decode(TEST_SIGNATURE)) else {
        return false;
    };
    let spki = rsa_spki(&n, &[1, 0, 1]);
    let message = TEST_MESSAGE.as_bytes();
    let valid = check(host, "sha256", &spki, message, &signature);
    if let Some(byte) = signature.get_mut(100) {
        *byte ^= 1;
    }
    let corrupted = check(host, "sha256", &spki, message, &signature);
    valid == Some(true) && corrupted == Some(false)
}

/// `VerifySignatureArguments` with the key as DER.
pub fn arguments(hash: &str, spki: &[u8], signature: &[u8], message: &[u8]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(hash.len() + spki.len() + signature.len() + message.len() + 16);
    for (field, value) in [
        (1, hash.as_bytes()),
        (2, spki),
        (3, signature),
        (4, message),
    ] {
        out.push(field << 3 | WIRE_BYTES);
        push_varint(&mut out, value.len() as u64);
        out.extend_from_slice(value);
    }
    out
}

const WIRE_VARINT: u8 = 0;
const WIRE_BYTES: u8 = 2;

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A varint from the front of `bytes`, and the rest.
fn take_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, bytes.get(i + 1..)?));
        }
    }
    None
}

/// `result` of a `VerifySignatureResult` (false when absent, as protobuf has it); `None` for
/// bytes that are not such a message.
pub fn read_result(mut bytes: &[u8]) -> Option<bool> {
    let mut result = false;
    while !bytes.is_empty() {
        let (key, rest) = take_varint(bytes)?;
        let (field, wire) = (key >> 3, (key & 7) as u8);
        bytes = match wire {
            WIRE_VARINT => {
                let (value, rest) = take_varint(rest)?;
                if field == 1 {
                    result = value != 0;
                }
                rest
            }
            WIRE_BYTES => {
                let (len, rest) = take_varint(rest)?;
                rest.get(usize::try_from(len).ok()?..)?
            }
            _ => return None,
        };
    }
    Some(result)
}

/// DER SubjectPublicKeyInfo of an RSA key (RFC 8017 A.1.1 inside RFC 5280 4.1), from the
/// big-endian modulus and exponent.
pub fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut key = der_unsigned(n);
    key.extend(der_unsigned(e));
    let mut bits = vec![0u8]; // no unused bits
    bits.extend(der(0x30, &key));
    let mut body = der(0x30, &RSA_ENCRYPTION);
    body.extend(der(0x03, &bits));
    der(0x30, &body)
}

/// rsaEncryption (1.2.840.113549.1.1.1) with NULL parameters, inside its SEQUENCE.
const RSA_ENCRYPTION: [u8; 13] = [
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let significant = bytes.get(first..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(body);
    out
}

/// A non-negative INTEGER: leading zero octets dropped, one added where the top bit is set.
fn der_unsigned(value: &[u8]) -> Vec<u8> {
    let first = value.iter().position(|&b| b != 0).unwrap_or(value.len());
    let digits = value.get(first..).unwrap_or_default();
    let mut body = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_none_or(|&b| b & 0x80 != 0) {
        body.push(0);
    }
    body.extend_from_slice(digits);
    der(0x02, &body)
}

// The self-test's RS256 signature: a 2048-bit key made for it, e = 65537.
const TEST_MESSAGE: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9";
const TEST_N: &str = "rM6sD6u0asHhvLRmGJdxD0ZSYVOPTkR8a-y5qjcEFE1DUOIk2dRCbHt9kyk9Rq6K2esXVBTDO6HHmM78bc6c282SQwtqS42FxZhP_ZgmdDKMVaeQS8V-8eaOZ-JK3Kz5PxWG7UP49kHQ8pp-fnyODG8lOQNXiRWeVErX6PweE9K9-x12xaMb3lIiHgwHirCnRD768qck-bk2ciVHPwVkqthum9Q7f1c8nU9rYC8xMkfsPy14lWMQnvD1NOBDi1339N5lM6ZyvuaSVGx7mP0O71ZIDE5syYG0U38XIyWvqLn2ZScjLa08x538kyFt9ksyV1otcx3pAGVKfcPI1dOZBQ";
const TEST_SIGNATURE: &str = "DIsHU5vgagOr9gxoExZdt4fzjn9GIzdVgPUkugPoQGxRiQ-5obkm_PgFu4xLXwWfwsuKMeZKumrU2id61WBvrVbAiQlunlZTnTsj7kHsm6_sZWo9tM-Ef5o9-2pIRFB_eX-F_xVCLAcwMIKd6Oxj_YG1ARwy4TegEAV1bIBod4nPbNS7yS67Cp1IM4wRwE4COdWHWIqgMBITyY7ObRqWP98vrK2UbNDr-WF9ubnzwMqB5U0eRSa4iqmhIZneX62I68641Ft89biuxy3civaBsm20IIGVJ78cAydIMf-8crbDUDNpbHqtFGTbo21DFurWBsuBJC4UUhmGYH0GOIkACw";

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Answers(Vec<Option<Vec<u8>>>);
    impl SignatureHost for Answers {
        fn call(&mut self, _: &[u8]) -> Option<Vec<u8>> {
            self.0.remove(0)
        }
    }

    #[test]
    fn arguments_are_the_protobuf_fields_in_order() {
        let args = arguments("sha256", &[0xaa; 200], &[1, 2], b"m");
        let mut want = vec![0x0a, 6];
        want.extend(b"sha256");
        want.extend([0x12, 0xc8, 0x01]);
        want.extend([0xaa; 200]);
        want.extend([0x1a, 2, 1, 2, 0x22, 1, b'm']);
        assert_eq!(args, want);
    }

    #[test]
    fn results_are_read_and_anything_else_is_not_a_verdict() {
        assert_eq!(read_result(&[0x08, 0x01]), Some(true));
        assert_eq!(read_result(&[]), Some(false));
        let mut refused = vec![0x12, 3];
        refused.extend(b"bad");
        assert_eq!(read_result(&refused), Some(false));
        refused.extend([0x08, 0x01]);
        assert_eq!(read_result(&refused), Some(true));
        // Truncated, an unknown wire type, a length past the end, an endless varint.
        for bad in [
            &[0x08][..],
            &[0x0d, 0, 0, 0, 0],
            &[0x12, 5, 1],
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ] {
            assert_eq!(read_result(bad), None, "{bad:?}");
        }
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rsa_spki_is_the_der_wycheproof_gives_for_its_keys() {
        let files = [
            include_str!("../tests/vectors/wycheproof/rsa_signature_2048_sha256_test.json"),
            include_str!("../tests/vectors/wycheproof/rsa_pss_2048_sha256_mgf1_32_test.json"),
        ];
        let mut seen = 0;
        for file in files {
            let doc: serde_json::Value = serde_json::from_str(file).unwrap();
            for group in doc["testGroups"].as_array().unwrap() {
                let key = &group["publicKey"];
                let n = unhex(key["modulus"].as_str().unwrap());
                let e = unhex(key["publicExponent"].as_str().unwrap());
                let want = unhex(group["publicKeyDer"].as_str().unwrap());
                assert_eq!(rsa_spki(&n, &e), want);
                seen += 1;
            }
        }
        assert!(seen >= 2);
    }

    #[test]
    fn the_self_test_signature_is_valid_and_its_corruption_is_not() {
        use crate::crypto::rsa_verify::{HashAlg, RsaPublicKey, Scheme};
        let key = RsaPublicKey::new(&b64::decode(TEST_N).unwrap(), 65537).unwrap();
        let mut signature = b64::decode(TEST_SIGNATURE).unwrap();
        let scheme = Scheme::Pkcs1v15(HashAlg::Sha256);
        assert!(key
            .verify(scheme, TEST_MESSAGE.as_bytes(), &signature)
            .is_ok());
        signature[100] ^= 1;
        assert!(key
            .verify(scheme, TEST_MESSAGE.as_bytes(), &signature)
            .is_err());
    }

    #[test]
    fn arbitrary_answers_never_panic() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in 0..2000 {
            let bytes: Vec<u8> = (0..len % 64)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let _ = read_result(&bytes);
        }
    }

    #[test]
    fn self_test_needs_true_for_the_valid_and_false_for_the_corrupted_signature() {
        let yes = Some(vec![0x08, 0x01]);
        let no = Some(vec![]);
        assert!(self_test(&mut Answers(vec![yes.clone(), no.clone()])));
        assert!(!self_test(&mut Answers(vec![yes.clone(), yes.clone()])));
        assert!(!self_test(&mut Answers(vec![no.clone(), no.clone()])));
        assert!(!self_test(&mut Answers(vec![None, no.clone()])));
        assert!(!self_test(&mut Answers(vec![yes, None])));
    }
}
