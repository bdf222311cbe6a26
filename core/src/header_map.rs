//! The proxy-wasm ABI's encoding of a header map: a count, then each name's and value's
//! length, then the bytes of each name and value, each followed by a NUL. All numbers are
//! little-endian u32. The host's answer is decoded without copying and without trusting its
//! numbers.

/// Encodes `pairs` (local responses and callouts send headers this way).
pub fn encode(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    out.extend_from_slice(&len(pairs.len()));
    for (name, value) in pairs {
        out.extend_from_slice(&len(name.len()));
        out.extend_from_slice(&len(value.len()));
    }
    for (name, value) in pairs {
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(value.as_bytes());
        out.push(0);
    }
    out
}

/// The lines of an encoded map, borrowed from `bytes`; `None` for anything malformed.
pub fn decode(bytes: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let word = |at: usize| -> Option<usize> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(b)).ok()
    };
    let count = word(0)?;
    // Each pair takes at least 10 bytes (two lengths and two NULs): bounds the count.
    if count > bytes.len() / 10 {
        return None;
    }
    let mut at = 4 + count * 8;
    let mut pairs = Vec::with_capacity(count);
    for i in 0..count {
        let (name_len, value_len) = (word(4 + i * 8)?, word(8 + i * 8)?);
        let name = bytes.get(at..at.checked_add(name_len)?)?;
        at = at.checked_add(name_len)?.checked_add(1)?;
        let value = bytes.get(at..at.checked_add(value_len)?)?;
        at = at.checked_add(value_len)?.checked_add(1)?;
        pairs.push((name, value));
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        let pairs = [
            (":status", "401"),
            ("www-authenticate", "Bearer realm=\"api\""),
            ("x", ""),
        ];
        let encoded = encode(&pairs);
        let want: Vec<(&[u8], &[u8])> = pairs
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        assert_eq!(decode(&encoded), Some(want));
        assert_eq!(decode(&encode(&[])), Some(vec![]));
    }

    #[test]
    fn malformed_maps_decode_to_none() {
        let good = encode(&[("a", "b")]);
        for cut in 0..good.len() - 1 {
            assert_eq!(decode(&good[..cut]), None, "cut at {cut}");
        }
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(decode(&[]), None);
        // A length that points past the end.
        let mut long = good.clone();
        long[4] = 0xff;
        assert_eq!(decode(&long), None);
    }
}
