//! Every backend against every Wycheproof vector file for its algorithms: valid vectors verify,
//! invalid ones are rejected. "Acceptable" ones (an RSA DigestInfo without the NULL parameter)
//! must be rejected too: JOSE follows RFC 8017's single encoding.

use crypto_bench::alg::Backend;
use crypto_bench::wycheproof::{self, VectorFile};
use std::path::PathBuf;

fn vectors() -> Vec<VectorFile> {
    let dir = std::env::var_os("WYCHEPROOF_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../core/tests/vectors/wycheproof")
        });
    wycheproof::load(&dir).unwrap()
}

fn check_all<B: Backend>() -> usize {
    let mut cases = 0;
    for file in vectors().iter().filter(|f| B::supports(f.alg)) {
        let outcome = wycheproof::run::<B>(file);
        assert_eq!(outcome.failures, vec![], "{} on {}", B::NAME, file.name);
        assert_eq!(
            outcome.acceptable_accepted,
            0,
            "{} on {}",
            B::NAME,
            file.name
        );
        cases += file.cases.len();
    }
    cases
}

#[cfg(feature = "own")]
#[test]
fn own_rsa_agrees_with_every_rsa_vector() {
    assert_eq!(check_all::<crypto_bench::backend_own::Own>(), 1542);
}

#[cfg(feature = "own")]
#[test]
fn own_p256_agrees_with_every_es256_vector() {
    assert_eq!(
        check_all::<crypto_bench::backend_own_p256::OwnP256>(),
        262
    );
}

#[cfg(feature = "ring")]
#[test]
fn ring_agrees_with_every_vector() {
    assert_eq!(check_all::<crypto_bench::backend_ring::Ring>(), 2235);
}

#[cfg(feature = "rustcrypto")]
#[test]
fn rustcrypto_agrees_with_every_vector() {
    assert_eq!(
        check_all::<crypto_bench::backend_rustcrypto::RustCrypto>(),
        2235
    );
}

#[cfg(feature = "compact")]
#[test]
fn ed25519_compact_agrees_with_every_ed25519_vector() {
    assert_eq!(check_all::<crypto_bench::backend_compact::Compact>(), 151);
}
