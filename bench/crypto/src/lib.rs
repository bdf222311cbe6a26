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
// The filter's own verifiers are the core crate's (`filter_core::crypto::{rsa_verify,p256_verify}`),
// so the bench measures exactly the code the filter runs.

pub mod probe;
pub mod sha;
