//! The form in which one worker hands a fetched key set to the others through the host's
//! shared data: a short text header, then the JWKS document exactly as fetched. Each worker
//! parses the document itself, so no parsed key ever crosses a thread.

/// A key set as fetched, with the times that govern it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord<'a> {
    pub fetched_at: u64,
    pub fresh_until: u64,
    pub jwks: &'a [u8],
}

const MAGIC: &str = "jwks1";

pub fn encode(record: &KeyRecord<'_>) -> Vec<u8> {
    let head = format!("{MAGIC} {} {}\n", record.fetched_at, record.fresh_until);
    let mut out = Vec::with_capacity(head.len() + record.jwks.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(record.jwks);
    out
}

/// `None` for anything that is not a record this version wrote.
pub fn decode(bytes: &[u8]) -> Option<KeyRecord<'_>> {
    let newline = bytes.iter().position(|&b| b == b'\n')?;
    let (head, rest) = bytes.split_at(newline);
    let jwks = rest.get(1..)?;
    let head = std::str::from_utf8(head).ok()?;
    let mut parts = head.split(' ');
    if parts.next()? != MAGIC {
        return None;
    }
    let fetched_at = parts.next()?.parse().ok()?;
    let fresh_until = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(KeyRecord { fetched_at, fresh_until, jwks })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let record = KeyRecord { fetched_at: 10, fresh_until: 610, jwks: b"{\"keys\":[]}\n" };
        assert_eq!(decode(&encode(&record)), Some(record));
    }

    #[test]
    fn garbage_is_none() {
        for bytes in [&b""[..], b"jwks1 1 2", b"jwks2 1 2\n{}", b"jwks1 a 2\n{}", b"jwks1 1 2 3\n{}", b"\xff\n"] {
            assert_eq!(decode(bytes), None);
        }
    }
}
