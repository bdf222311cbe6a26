//! Every decision the filter makes, as plain Rust with no proxy-wasm types.
//!
//! The shell (`src/` at the repository root) reads request headers, the clock and host
//! callouts, and hands them to [`authorize`]; it applies what comes back.
//! Time is always passed in as Unix seconds, never read here.

pub mod access_token;
pub mod algorithm;
pub mod authorize;
pub mod b64;
pub mod config;
pub mod config_error;
pub mod crypto;
pub mod discovery;
pub mod dpop;
pub mod dpop_settings;
pub mod extract;
pub mod forward;
pub mod header_map;
pub mod host_verify;
pub mod json;
pub mod jwk;
pub mod jwks_cache;
pub mod jws;
pub mod key_fetch;
pub mod key_record;
pub mod key_source;
pub mod nonce;
pub mod proof_keys;
pub mod rejection;
pub mod replay;
pub mod request;
pub mod rules;
pub mod scope;
pub mod shared;
pub mod token_cache;
pub mod token_policy;
pub mod url;
