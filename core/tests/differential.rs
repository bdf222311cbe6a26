//! Differential tests of the filter's own RSA (RS256/384/512, PS256/384/512) and P-256
//! (ES256) verifiers against a reference implementation: `ring` natively, RustCrypto's `rsa`
//! and `p256` on wasm32 (ring does not build there without a wasm C toolchain). `make test`
//! runs them natively and on the wasm build with `simd128` under Node's V8, the engine
//! Envoy uses, so the SIMD code is checked where it runs.
//!
//! Keys are random (RSA 2048, 3072 and 4096 bits, P-256), and so are messages. Each valid
//! signature is followed by mutations: single bits of the signature, message and key, whole
//! 32-bit limbs of the signature, and edge values (a signature of 0, 1, n−1, n, n+1 or all
//! ones; a leading zero byte added or dropped; for ES256, r or s in {0, 1, n−1, n, n+1},
//! the high-S twin, points off the curve and the point at infinity). Both sides must give the
//! same verdict on every case. A signature not below the modulus is refused whatever the
//! reference says (RFC 8017 §5.2.2).
//!
//! `DIFFERENTIAL_CASES` sets the cases per algorithm (default 6000), `DIFFERENTIAL_SEED` the
//! seed (default: from the clock; printed, so a failure can be replayed).

#![allow(clippy::expect_used, clippy::indexing_slicing)]

use filter_core::algorithm::Algorithm;
use filter_core::crypto::VerifyingKey;

/// A small, fast generator (SplitMix64): the tests need varied bytes, not secrecy.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn flip_bit(&mut self, bytes: &mut [u8]) {
        if !bytes.is_empty() {
            let bit = self.below(bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
        }
    }
}

impl rsa::rand_core::TryRng for Rng {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.next() as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.next())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for byte in dst {
            *byte = self.next() as u8;
        }
        Ok(())
    }
}

impl rsa::rand_core::TryCryptoRng for Rng {}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rng() -> Rng {
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let seed = setting("DIFFERENTIAL_SEED", clock);
    println!("DIFFERENTIAL_SEED={seed}");
    Rng(seed)
}

fn cases() -> usize {
    setting("DIFFERENTIAL_CASES", 6000) as usize
}

/// Mutations that follow each valid signature; the rest of the cases are random ones.
const MUTATIONS_PER_SIGNATURE: usize = 48;

/// One case the two sides disagree on, in hex, for the failure message.
fn describe(what: &str, parts: &[(&str, &[u8])], ours: bool, theirs: bool) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let parts: Vec<String> = parts
        .iter()
        .map(|(k, v)| format!("{k}={}", hex(v)))
        .collect();
    format!(
        "{what}: ours {ours}, reference {theirs}: {}",
        parts.join(" ")
    )
}

/// Whether big-endian `a` (as long as `b` or shorter) is at least `b`.
fn at_least(a: &[u8], b: &[u8]) -> bool {
    let strip = |x: &[u8]| -> Vec<u8> { x.iter().copied().skip_while(|&v| v == 0).collect() };
    let (a, b) = (strip(a), strip(b));
    (a.len(), a) >= (b.len(), b)
}

mod reference {
    use filter_core::algorithm::Algorithm;

    #[cfg(not(target_arch = "wasm32"))]
    pub fn rsa(alg: Algorithm, n: &[u8], e: &[u8], message: &[u8], signature: &[u8]) -> bool {
        use ring::signature as r;
        let params: &r::RsaParameters = match alg {
            Algorithm::RS256 => &r::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &r::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &r::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &r::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &r::RSA_PSS_2048_8192_SHA384,
            _ => &r::RSA_PSS_2048_8192_SHA512,
        };
        r::RsaPublicKeyComponents { n, e }
            .verify(params, message, signature)
            .is_ok()
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn p256(x: &[u8], y: &[u8], message: &[u8], signature: &[u8]) -> bool {
        use ring::signature as r;
        let point = [&[4u8][..], x, y].concat();
        r::UnparsedPublicKey::new(&r::ECDSA_P256_SHA256_FIXED, point)
            .verify(message, signature)
            .is_ok()
    }

    #[cfg(target_arch = "wasm32")]
    pub fn rsa(alg: Algorithm, n: &[u8], e: &[u8], message: &[u8], signature: &[u8]) -> bool {
        use rsa::sha2::{Sha256, Sha384, Sha512};
        use rsa::signature::Verifier;
        let bits = (n.len() * 8) as u32;
        let (Ok(n), Ok(e)) = (
            rsa::BoxedUint::from_be_slice(n, bits),
            rsa::BoxedUint::from_be_slice(e, 64),
        ) else {
            return false;
        };
        let Ok(key) = rsa::PublicKey::new(n, e) else {
            return false;
        };
        macro_rules! check {
            ($scheme:ident, $hash:ty) => {{
                let Ok(sig) = rsa::$scheme::Signature::try_from(signature) else {
                    return false;
                };
                rsa::$scheme::VerifyingKey::<$hash>::new(key)
                    .verify(message, &sig)
                    .is_ok()
            }};
        }
        match alg {
            Algorithm::RS256 => check!(pkcs1v15, Sha256),
            Algorithm::RS384 => check!(pkcs1v15, Sha384),
            Algorithm::RS512 => check!(pkcs1v15, Sha512),
            Algorithm::PS256 => check!(pss, Sha256),
            Algorithm::PS384 => check!(pss, Sha384),
            _ => check!(pss, Sha512),
        }
    }

    #[cfg(target_arch = "wasm32")]
    pub fn p256(x: &[u8], y: &[u8], message: &[u8], signature: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier;
        let point = [&[4u8][..], x, y].concat();
        let Ok(key) = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point) else {
            return false;
        };
        let Ok(sig) = p256::ecdsa::Signature::from_slice(signature) else {
            return false;
        };
        key.verify(message, &sig).is_ok()
    }
}

/// One case: what it is, the key (RSA: n and e; P-256: x and y), the message, the signature.
type Case = (String, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

struct RsaKey {
    n: Vec<u8>,
    e: Vec<u8>,
    private: rsa::PrivateKey,
}

/// `DIFFERENTIAL_RSA_KEYS` random keys of each size (default 1), made once for all the RSA
/// tests of a run: generating them is the slow part under wasm.
fn rsa_keys() -> &'static [RsaKey] {
    use rsa::traits::PublicKeyParts;
    static KEYS: std::sync::OnceLock<Vec<RsaKey>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rng();
        let per_size = setting("DIFFERENTIAL_RSA_KEYS", 1);
        let mut keys = Vec::new();
        for bits in [2048, 3072, 4096] {
            for _ in 0..per_size {
                let private = rsa::PrivateKey::new(&mut rng, bits).expect("key generation");
                keys.push(RsaKey {
                    n: private.n_bytes().to_vec(),
                    e: private.e_bytes().to_vec(),
                    private,
                });
            }
        }
        keys
    })
}

fn rsa_sign(alg: Algorithm, key: &RsaKey, message: &[u8], rng: &mut Rng) -> Vec<u8> {
    use rsa::sha2::{Sha256, Sha384, Sha512};
    use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
    let private = key.private.clone();
    match alg {
        Algorithm::RS256 => rsa::pkcs1v15::SigningKey::<Sha256>::new(private)
            .sign(message)
            .to_vec(),
        Algorithm::RS384 => rsa::pkcs1v15::SigningKey::<Sha384>::new(private)
            .sign(message)
            .to_vec(),
        Algorithm::RS512 => rsa::pkcs1v15::SigningKey::<Sha512>::new(private)
            .sign(message)
            .to_vec(),
        Algorithm::PS256 => rsa::pss::SigningKey::<Sha256>::new(private)
            .sign_with_rng(rng, message)
            .to_vec(),
        Algorithm::PS384 => rsa::pss::SigningKey::<Sha384>::new(private)
            .sign_with_rng(rng, message)
            .to_vec(),
        _ => rsa::pss::SigningKey::<Sha512>::new(private)
            .sign_with_rng(rng, message)
            .to_vec(),
    }
}

/// `value` as a big-endian number of `len` bytes.
fn be(value: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0; len.saturating_sub(value.len())];
    out.extend_from_slice(&value[value.len().saturating_sub(len)..]);
    out
}

/// `n + delta` for a small signed delta, as many bytes as `n` (wrapping past the top).
fn add_small(n: &[u8], delta: i64) -> Vec<u8> {
    let mut out = n.to_vec();
    let mut carry = delta as i128;
    for byte in out.iter_mut().rev() {
        let sum = *byte as i128 + carry;
        *byte = sum.rem_euclid(256) as u8;
        carry = sum.div_euclid(256);
        if carry == 0 {
            break;
        }
    }
    out
}

/// The RSA cases that follow one valid signature: (name, n, e, message, signature).
fn rsa_variants(key: &RsaKey, message: &[u8], signature: &[u8], rng: &mut Rng) -> Vec<Case> {
    let len = key.n.len();
    let case = |name: &str, n: &[u8], e: &[u8], m: &[u8], s: Vec<u8>| -> Case {
        (name.into(), n.to_vec(), e.to_vec(), m.to_vec(), s)
    };
    let (n, e) = (&key.n, &key.e);
    let mut out = vec![
        case("valid", n, e, message, signature.to_vec()),
        case("signature 0", n, e, message, vec![0; len]),
        case("signature 1", n, e, message, be(&[1], len)),
        case("signature n-1", n, e, message, add_small(n, -1)),
        case("signature n", n, e, message, n.clone()),
        case("signature n+1", n, e, message, add_small(n, 1)),
        case("signature all ones", n, e, message, vec![0xff; len]),
        case(
            "signature with a leading zero byte",
            n,
            e,
            message,
            [&[0u8][..], signature].concat(),
        ),
        case(
            "signature without its first byte",
            n,
            e,
            message,
            signature[1..].to_vec(),
        ),
        case(
            "signature plus n",
            n,
            e,
            message,
            // s + n overflows the length: the low bytes only, which then differ from s.
            {
                let mut sum = signature.to_vec();
                let mut carry = 0u16;
                for i in (0..len).rev() {
                    let v = sum[i] as u16 + n[i] as u16 + carry;
                    sum[i] = v as u8;
                    carry = v >> 8;
                }
                sum
            },
        ),
    ];
    while out.len() < MUTATIONS_PER_SIGNATURE {
        let (mut n, mut e, mut m, mut s) =
            (n.clone(), e.clone(), message.to_vec(), signature.to_vec());
        let name = match rng.below(6) {
            0 | 1 => {
                rng.flip_bit(&mut s);
                "a signature bit flipped"
            }
            2 => {
                let limb = rng.below(len / 4) * 4;
                s[limb..limb + 4].copy_from_slice(&rng.bytes(4));
                "a signature limb replaced"
            }
            3 => {
                if m.is_empty() {
                    m.push(rng.next() as u8);
                } else {
                    rng.flip_bit(&mut m);
                }
                "a message bit flipped"
            }
            4 => {
                rng.flip_bit(&mut n);
                "a modulus bit flipped"
            }
            _ => {
                rng.flip_bit(&mut e);
                "an exponent bit flipped"
            }
        };
        out.push((name.into(), n, e, m, s));
    }
    out
}

fn rsa_differential(alg: Algorithm) {
    let keys = rsa_keys();
    let mut rng = rng();
    let total = cases();
    let (mut done, mut valid) = (0, 0);
    let mut disagreements = Vec::new();
    while done < total {
        let key = &keys[rng.below(keys.len())];
        let len = rng.below(300);
        let message = rng.bytes(len);
        let signature = rsa_sign(alg, key, &message, &mut rng);
        for (name, n, e, m, s) in rsa_variants(key, &message, &signature, &mut rng) {
            let ours = VerifyingKey::rsa(&n, &e).is_ok_and(|k| k.verify(alg, &m, &s).is_ok());
            let theirs = if s.len() == n.len() && at_least(&s, &n) {
                false
            } else {
                reference::rsa(alg, &n, &e, &m, &s)
            };
            valid += usize::from(theirs);
            if ours != theirs && disagreements.len() < 5 {
                disagreements.push(describe(
                    &format!("{alg:?} {} bits, {name}", key.n.len() * 8),
                    &[("n", &n), ("e", &e), ("message", &m), ("signature", &s)],
                    ours,
                    theirs,
                ));
            }
            done += 1;
        }
    }
    println!(
        "{alg:?}: {done} cases, {valid} valid, over {} keys",
        keys.len()
    );
    assert!(valid > 0, "no valid case: the test checks nothing");
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

/// The order n of P-256 and the field prime p, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];
const P256_P: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
];

/// n − v for 32-byte big-endian v < n.
fn n_minus(v: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = P256_N[i] as i16 - v[i] as i16 - borrow;
        out[i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    out
}

fn p256_differential() {
    use p256::ecdsa::signature::Signer;
    let mut rng = rng();
    let total = cases();
    let (mut done, mut valid) = (0, 0);
    let mut disagreements = Vec::new();
    while done < total {
        let Ok(signing) = p256::ecdsa::SigningKey::from_slice(&rng.bytes(32)) else {
            continue;
        };
        let point = signing.verifying_key().to_sec1_point(false);
        let point = point.as_bytes();
        let (x, y) = (point[1..33].to_vec(), point[33..65].to_vec());
        let len = rng.below(300);
        let message = rng.bytes(len);
        let signature: p256::ecdsa::Signature = signing.sign(&message);
        let signature = signature.to_bytes().to_vec();
        let (r, s) = (signature[..32].to_vec(), signature[32..].to_vec());
        let with_r = |r: Vec<u8>| [r, s.clone()].concat();
        let with_s = |s: Vec<u8>| [r.clone(), s].concat();
        let m = message.clone();
        let mut variants: Vec<Case> = vec![
            (
                "valid".into(),
                x.clone(),
                y.clone(),
                m.clone(),
                signature.clone(),
            ),
            (
                "high-S twin".into(),
                x.clone(),
                y.clone(),
                m.clone(),
                with_s(n_minus(&s)),
            ),
            (
                "point at infinity".into(),
                vec![0; 32],
                vec![0; 32],
                m.clone(),
                signature.clone(),
            ),
            (
                "y + 1".into(),
                x.clone(),
                add_small(&y, 1),
                m.clone(),
                signature.clone(),
            ),
            (
                "x = p".into(),
                P256_P.to_vec(),
                y.clone(),
                m.clone(),
                signature.clone(),
            ),
            (
                "y = p".into(),
                x.clone(),
                P256_P.to_vec(),
                m.clone(),
                signature.clone(),
            ),
        ];
        for (name, value) in [
            ("0", vec![0; 32]),
            ("1", be(&[1], 32)),
            ("n-1", add_small(&P256_N, -1)),
            ("n", P256_N.to_vec()),
            ("n+1", add_small(&P256_N, 1)),
        ] {
            let (rv, sv) = (with_r(value.clone()), with_s(value));
            variants.push((format!("r = {name}"), x.clone(), y.clone(), m.clone(), rv));
            variants.push((format!("s = {name}"), x.clone(), y.clone(), m.clone(), sv));
        }
        while variants.len() < MUTATIONS_PER_SIGNATURE {
            let (mut kx, mut ky, mut m, mut sig) =
                (x.clone(), y.clone(), message.clone(), signature.clone());
            let name = match rng.below(5) {
                0 | 1 => {
                    rng.flip_bit(&mut sig);
                    "a signature bit flipped"
                }
                2 => {
                    let limb = rng.below(16) * 4;
                    sig[limb..limb + 4].copy_from_slice(&rng.bytes(4));
                    "a signature limb replaced"
                }
                3 => {
                    if m.is_empty() {
                        m.push(rng.next() as u8);
                    } else {
                        rng.flip_bit(&mut m);
                    }
                    "a message bit flipped"
                }
                _ => {
                    if rng.below(2) == 0 {
                        rng.flip_bit(&mut kx);
                    } else {
                        rng.flip_bit(&mut ky);
                    }
                    "a key bit flipped"
                }
            };
            variants.push((name.into(), kx, ky, m, sig));
        }
        for (name, kx, ky, m, sig) in variants {
            let ours = VerifyingKey::ec("P-256", &kx, &ky)
                .is_ok_and(|k| k.verify(Algorithm::ES256, &m, &sig).is_ok());
            let theirs = reference::p256(&kx, &ky, &m, &sig);
            valid += usize::from(theirs);
            if ours != theirs && disagreements.len() < 5 {
                disagreements.push(describe(
                    &format!("ES256, {name}"),
                    &[("x", &kx), ("y", &ky), ("message", &m), ("signature", &sig)],
                    ours,
                    theirs,
                ));
            }
            done += 1;
        }
    }
    println!("ES256: {done} cases, {valid} valid");
    assert!(valid > 0, "no valid case: the test checks nothing");
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

#[test]
fn rs256_agrees_with_the_reference() {
    rsa_differential(Algorithm::RS256);
}

#[test]
fn rs384_agrees_with_the_reference() {
    rsa_differential(Algorithm::RS384);
}

#[test]
fn rs512_agrees_with_the_reference() {
    rsa_differential(Algorithm::RS512);
}

#[test]
fn ps256_agrees_with_the_reference() {
    rsa_differential(Algorithm::PS256);
}

#[test]
fn ps384_agrees_with_the_reference() {
    rsa_differential(Algorithm::PS384);
}

#[test]
fn ps512_agrees_with_the_reference() {
    rsa_differential(Algorithm::PS512);
}

#[test]
fn es256_agrees_with_the_reference() {
    p256_differential();
}
