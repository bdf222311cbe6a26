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
    Some(KeyRecord {
        fetched_at,
        fresh_until,
        jwks,
    })
}

/// Which worker is fetching a key source, or how the last fetch ended: lets one worker fetch
/// for all of them, and lets the others answer their waiting requests when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchMark {
    Pending { since: u64 },
    Failed { at: u64 },
    Done { at: u64 },
}

impl FetchMark {
    pub fn encode(self) -> String {
        match self {
            FetchMark::Pending { since } => format!("pending {since}"),
            FetchMark::Failed { at } => format!("failed {at}"),
            FetchMark::Done { at } => format!("done {at}"),
        }
    }

    pub fn decode(bytes: &[u8]) -> Option<FetchMark> {
        let (state, time) = std::str::from_utf8(bytes).ok()?.split_once(' ')?;
        let time = time.parse().ok()?;
        match state {
            "pending" => Some(FetchMark::Pending { since: time }),
            "failed" => Some(FetchMark::Failed { at: time }),
            "done" => Some(FetchMark::Done { at: time }),
            _ => None,
        }
    }

    /// Whether another fetch may start at `now`: no fetch is pending, or the pending one
    /// outlived `lease` seconds (its worker went away without saying how it ended).
    pub fn allows_fetch(mark: Option<FetchMark>, now: u64, lease: u64) -> bool {
        match mark {
            Some(FetchMark::Pending { since }) => now >= since.saturating_add(lease),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_marks_round_trip_and_lease() {
        for mark in [
            FetchMark::Pending { since: 5 },
            FetchMark::Failed { at: 6 },
            FetchMark::Done { at: 7 },
        ] {
            assert_eq!(FetchMark::decode(mark.encode().as_bytes()), Some(mark));
        }
        assert_eq!(FetchMark::decode(b"pending x"), None);
        assert_eq!(FetchMark::decode(b"other 1"), None);
        let pending = Some(FetchMark::Pending { since: 100 });
        assert!(!FetchMark::allows_fetch(pending, 110, 11));
        assert!(FetchMark::allows_fetch(pending, 111, 11));
        assert!(FetchMark::allows_fetch(
            Some(FetchMark::Failed { at: 100 }),
            100,
            11
        ));
        assert!(FetchMark::allows_fetch(None, 0, 11));
    }

    #[test]
    fn round_trip() {
        let record = KeyRecord {
            fetched_at: 10,
            fresh_until: 610,
            jwks: b"{\"keys\":[]}\n",
        };
        assert_eq!(decode(&encode(&record)), Some(record));
    }

    #[test]
    fn garbage_is_none() {
        for bytes in [
            &b""[..],
            b"jwks1 1 2",
            b"jwks2 1 2\n{}",
            b"jwks1 a 2\n{}",
            b"jwks1 1 2 3\n{}",
            b"\xff\n",
        ] {
            assert_eq!(decode(bytes), None);
        }
    }
}
