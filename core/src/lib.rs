//! Every decision the filter makes, as plain Rust with no proxy-wasm types.
//!
//! The shell (`src/` at the repository root) reads request headers, the clock and host
//! callouts, and hands them to [`authorize`]; it applies what comes back.
//! Time is always passed in as Unix seconds, never read here.

pub mod algorithm;
pub mod b64;
pub mod json;
pub mod jwk;
pub mod crypto;
pub mod jws;
pub mod url;
pub mod config;
pub mod rules;
pub mod extract;
pub mod scope;
pub mod access_token;
pub mod rejection;
pub mod forward;
pub mod discovery;
pub mod key_record;
pub mod jwks_cache;
pub mod token_cache;
pub mod authorize;
pub mod dpop;
pub mod proof_keys;
pub mod nonce;
pub mod replay;
