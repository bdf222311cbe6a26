//! Signature verification backends measured side by side, in wasm32-wasip1 and natively.

pub mod alg;
pub mod wycheproof;

#[cfg(feature = "compact")]
pub mod backend_compact;
#[cfg(feature = "own")]
pub mod backend_own;
#[cfg(feature = "own")]
pub mod backend_own_p256;
#[cfg(feature = "p256-013")]
pub mod backend_p256_013;
#[cfg(feature = "ring")]
pub mod backend_ring;
#[cfg(feature = "rustcrypto")]
pub mod backend_rustcrypto;
// The filter's own verifiers, compiled here from the core crate's sources so the bench measures
// exactly the code the filter runs.
#[cfg(feature = "own")]
#[path = "../../../core/src/crypto/p256_verify.rs"]
pub mod p256_verify;
#[cfg(feature = "own")]
#[path = "../../../core/src/crypto/rsa_verify.rs"]
pub mod rsa_verify;
/// Limits `rsa_verify` takes from its parent module in the core crate.
#[cfg(feature = "own")]
pub const RSA_MIN_BITS: usize = 2048;
#[cfg(feature = "own")]
pub const RSA_MAX_BITS: usize = 8192;
#[cfg(feature = "own")]
pub const RSA_MAX_EXPONENT: u64 = (1 << 33) - 1;

pub mod probe;
pub mod sha;
