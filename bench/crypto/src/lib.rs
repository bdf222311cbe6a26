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
#[cfg(feature = "own")]
pub mod p256_verify;
#[cfg(feature = "own")]
pub mod rsa_verify;

pub mod probe;
pub mod sha;
