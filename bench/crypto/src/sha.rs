//! SHA-256 implementations available in this build (every request hashes the access token for
//! the DPoP `ath` check and for the verified-token cache key).

pub struct Sha {
    pub name: &'static str,
    pub digest: fn(&[u8]) -> [u8; 32],
}

pub fn sha2_010(input: &[u8]) -> [u8; 32] {
    use sha2_010::Digest;
    sha2_010::Sha256::digest(input).into()
}

#[cfg(any(feature = "own", feature = "rustcrypto", feature = "probe-sha-011"))]
pub fn sha2_011(input: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    let mut out = [0u8; 32];
    out.copy_from_slice(&sha2::Sha256::digest(input));
    out
}

#[cfg(feature = "ring")]
pub fn ring_digest(input: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, input).as_ref());
    out
}

pub const ALL: &[Sha] = &[
    Sha {
        name: "sha2-0.10",
        digest: sha2_010,
    },
    #[cfg(any(feature = "own", feature = "rustcrypto", feature = "probe-sha-011"))]
    Sha {
        name: "sha2-0.11",
        digest: sha2_011,
    },
    #[cfg(feature = "ring")]
    Sha {
        name: "ring",
        digest: ring_digest,
    },
];
