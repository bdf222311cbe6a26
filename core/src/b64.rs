//! Strict unpadded base64url (RFC 7515 §2, RFC 4648 §5).
//!
//! One byte string has exactly one accepted encoding: padding, whitespace, characters of the
//! standard alphabet (`+`, `/`) and non-zero unused trailing bits are all refused. A lenient
//! decoder would let two different token strings carry the same signed bytes, which breaks
//! caching and replay checks keyed on the string.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{DecodeError, Engine};

const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum B64Error {
    /// A byte outside the base64url alphabet (whitespace, `+`, `/`, non-ASCII, ...).
    InvalidCharacter { offset: usize },
    /// A `=` anywhere: JOSE encodings never carry padding.
    Padding { offset: usize },
    /// A length that no unpadded encoding has (one symbol left over in the last group).
    InvalidLength { len: usize },
    /// The last symbol carries bits that decoding would silently drop.
    NonCanonical { offset: usize },
}

impl fmt::Display for B64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            B64Error::InvalidCharacter { offset } => {
                write!(f, "character at offset {offset} is not base64url")
            }
            B64Error::Padding { offset } => write!(f, "padding at offset {offset} is not allowed"),
            B64Error::InvalidLength { len } => write!(f, "length {len} is not a base64url length"),
            B64Error::NonCanonical { offset } => {
                write!(f, "symbol at offset {offset} has non-zero unused bits")
            }
        }
    }
}

impl std::error::Error for B64Error {}

pub fn decode(s: &str) -> Result<Vec<u8>, B64Error> {
    ENGINE.decode(s.as_bytes()).map_err(|e| match e {
        DecodeError::InvalidByte(offset, b'=') => B64Error::Padding { offset },
        DecodeError::InvalidByte(offset, _) => B64Error::InvalidCharacter { offset },
        DecodeError::InvalidLength(_) => B64Error::InvalidLength { len: s.len() },
        DecodeError::InvalidLastSymbol(offset, _) => B64Error::NonCanonical { offset },
        // Only reachable with padding present; report where the first `=` sits.
        DecodeError::InvalidPadding => B64Error::Padding {
            offset: s.find('=').unwrap_or(s.len()),
        },
    })
}

pub fn encode(bytes: &[u8]) -> String {
    ENGINE.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_tail_length() {
        let data: Vec<u8> = (0u8..=255).collect();
        for len in 0..=data.len() {
            let bytes = &data[..len];
            assert_eq!(decode(&encode(bytes)), Ok(bytes.to_vec()), "len {len}");
        }
    }

    #[test]
    fn encodes_with_url_alphabet_and_no_padding() {
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(encode(b"f"), "Zg");
        assert_eq!(encode(b""), "");
    }

    #[test]
    fn empty_input_decodes_to_empty() {
        assert_eq!(decode(""), Ok(Vec::new()));
    }

    #[test]
    fn padding_is_refused() {
        assert_eq!(decode("Zg=="), Err(B64Error::Padding { offset: 2 }));
        assert_eq!(decode("Zm8="), Err(B64Error::Padding { offset: 3 }));
    }

    #[test]
    fn standard_alphabet_is_refused() {
        assert_eq!(decode("-_8"), Ok(vec![0xfb, 0xff]));
        assert_eq!(decode("+/8"), Err(B64Error::InvalidCharacter { offset: 0 }));
    }

    #[test]
    fn whitespace_is_refused() {
        assert_eq!(
            decode("Zm 9v"),
            Err(B64Error::InvalidCharacter { offset: 2 })
        );
        assert_eq!(
            decode("Zm9v\n"),
            Err(B64Error::InvalidCharacter { offset: 4 })
        );
        assert_eq!(
            decode(" Zm9v"),
            Err(B64Error::InvalidCharacter { offset: 0 })
        );
    }

    #[test]
    fn non_ascii_is_refused() {
        assert_eq!(
            decode("Zé9v"),
            Err(B64Error::InvalidCharacter { offset: 1 })
        );
    }

    #[test]
    fn impossible_length_is_refused() {
        assert_eq!(decode("Z"), Err(B64Error::InvalidLength { len: 1 }));
        assert_eq!(decode("Zm9vY"), Err(B64Error::InvalidLength { len: 5 }));
    }

    #[test]
    fn non_zero_trailing_bits_are_refused() {
        // "Zg" is the canonical form of "f"; "Zh" decodes to the same byte with a stray bit.
        assert_eq!(decode("Zh"), Err(B64Error::NonCanonical { offset: 1 }));
        assert_eq!(decode("Zm8"), Ok(b"fo".to_vec()));
        assert_eq!(decode("Zm9"), Err(B64Error::NonCanonical { offset: 2 }));
        assert_eq!(decode("Zm-"), Err(B64Error::NonCanonical { offset: 2 }));
    }

    #[test]
    fn display_is_one_line_without_quotes() {
        for e in [
            B64Error::InvalidCharacter { offset: 1 },
            B64Error::Padding { offset: 2 },
            B64Error::InvalidLength { len: 5 },
            B64Error::NonCanonical { offset: 3 },
        ] {
            let text = e.to_string();
            assert!(!text.contains(['\r', '\n', '"']), "{text}");
        }
        assert_eq!(
            B64Error::Padding { offset: 2 }.to_string(),
            "padding at offset 2 is not allowed"
        );
    }
}
