//! The requests wrk sends: files of one request per line, `<Authorization value>` TAB
//! `<DPoP proof or nothing>`, read by the wrk script and sent in order.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;

use serde_json::json;

use crate::proof::{self, ProofBuilder};
use crate::token::tamper;
use crate::{unix_now, IssuerHandle, Key};

/// One request's credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub authorization: String,
    pub dpop: Option<String>,
}

impl Credentials {
    pub fn bearer(token: &str) -> Credentials {
        Credentials {
            authorization: format!("Bearer {token}"),
            dpop: None,
        }
    }
}

/// Writes `requests` to `path`, one per line.
pub fn write(path: &Path, requests: &[Credentials]) -> io::Result<PathBuf> {
    let mut out = io::BufWriter::new(fs::File::create(path)?);
    for request in requests {
        out.write_all(request.authorization.as_bytes())?;
        out.write_all(b"\t")?;
        if let Some(proof) = &request.dpop {
            out.write_all(proof.as_bytes())?;
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(path.to_path_buf())
}

/// How long the distinct tokens live: long enough for later runs to reuse them.
pub const DISTINCT_TOKEN_LIFETIME: u64 = 86_400;
/// Kept tokens are reused only while they stay valid at least this much longer.
const REUSE_MARGIN: u64 = 3_600;

/// `count` RS256 tokens from `issuer`, each different (its own `jti`), so each needs its
/// own signature check. Signing thousands of RSA tokens takes a while, so they are kept in
/// `dir` and reused by the next run while they are valid for the same issuer, audience and
/// signing key. The second value says whether they were reused.
pub fn distinct_tokens(issuer: &IssuerHandle, count: usize, dir: &Path) -> (Vec<String>, bool) {
    let path = dir.join(format!("rs256-tokens-{count}.txt"));
    let now = unix_now();
    let identity = format!(
        "{} {} {}",
        issuer.issuer(),
        issuer.audience(),
        Key::Rsa1.thumbprint()
    );
    if let Some(kept) = kept_tokens(&path, &identity, count, now) {
        return (kept, true);
    }
    let base = issuer
        .token_builder()
        .issued_at(now)
        .expires_in(DISTINCT_TOKEN_LIFETIME as i64);
    let tokens = in_parallel(count, |i| {
        base.clone()
            .claim("jti", json!(format!("bench-{i}")))
            .build()
    });
    let header = format!("{identity} {}\n", now + DISTINCT_TOKEN_LIFETIME);
    // Not keeping them only costs the next run the time to mint them again.
    let _ = fs::write(&path, header + &tokens.join("\n"));
    (tokens, false)
}

fn kept_tokens(path: &Path, identity: &str, count: usize, now: u64) -> Option<Vec<String>> {
    let text = fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let (kept_identity, expires) = lines.next()?.rsplit_once(' ')?;
    let expires: u64 = expires.parse().ok()?;
    if kept_identity != identity || expires < now + REUSE_MARGIN {
        return None;
    }
    let tokens: Vec<String> = lines.map(str::to_string).collect();
    (tokens.len() == count).then_some(tokens)
}

/// The same tokens with one bit of each signature flipped.
pub fn bad_signatures(tokens: &[String]) -> Vec<String> {
    tokens
        .iter()
        .map(|t| tamper::flip_signature_bit(t))
        .collect()
}

/// `count` DPoP requests for `GET url` with the bound `token`, each with its own proof
/// (fresh `jti`, `iat` now) signed by `client`.
pub fn dpop_requests(token: &str, client: Key, url: &str, count: usize) -> Vec<Credentials> {
    let authorization = format!("DPoP {token}");
    let base = ProofBuilder::new(client, "GET", url).access_token(token);
    in_parallel(count, |_| Credentials {
        authorization: authorization.clone(),
        dpop: Some(base.clone().jti(&proof::random_jti()).build()),
    })
}

/// `make(0..count)` spread over the machine's cores (signing is the slow part).
fn in_parallel<T: Send>(count: usize, make: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let workers = thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let per_worker = count.div_ceil(workers.max(1)).max(1);
    let make = &make;
    thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(per_worker)
            .map(|start| {
                let end = (start + per_worker).min(count);
                scope.spawn(move || (start..end).map(make).collect::<Vec<T>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_making_keeps_order_and_count() {
        assert_eq!(in_parallel(7, |i| i), vec![0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(in_parallel(0, |i| i), Vec::<usize>::new());
    }
}
