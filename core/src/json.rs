//! Strict JSON objects from untrusted bytes.
//!
//! serde_json keeps the last of several members with the same name; other parsers keep the
//! first. RFC 7515 §5.2 and RFC 8259 §4 leave the choice open, which is how a header or claim
//! set can mean one thing to the issuer's parser and another to ours. So a duplicate name at any
//! depth is an error here. Input size and nesting depth are bounded before and while parsing.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Larger than any token, JWKS or configuration this filter accepts; callers with a tighter
/// bound check it first.
pub const MAX_INPUT_LEN: usize = 1024 * 1024;

/// More objects and arrays nested in one another than this (the top-level object counts) are
/// refused. JOSE headers, claim sets, JWKS
/// documents and the configuration need a handful of levels.
pub const MAX_DEPTH: usize = 32;

/// Member names and values quoted in error context are cut to this many bytes.
const CONTEXT_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    TooLarge {
        len: usize,
        max: usize,
    },
    TooDeep {
        max: usize,
    },
    /// The name as it appears after unescaping, cut to a short excerpt.
    DuplicateMember(String),
    /// Well-formed JSON whose top level is not an object.
    NotAnObject,
    /// Input ended inside a value.
    Truncated,
    Syntax {
        line: usize,
        column: usize,
    },
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::TooLarge { len, max } => {
                write!(f, "JSON is {len} bytes, more than the {max} allowed")
            }
            JsonError::TooDeep { max } => write!(f, "JSON nests deeper than {max} levels"),
            JsonError::DuplicateMember(name) => {
                write!(f, "duplicate member name '{}'", excerpt(name))
            }
            JsonError::NotAnObject => f.write_str("JSON is not an object"),
            JsonError::Truncated => f.write_str("JSON ends too early"),
            JsonError::Syntax { line, column } => {
                write!(f, "malformed JSON at line {line} column {column}")
            }
        }
    }
}

impl std::error::Error for JsonError {}

pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    if bytes.len() > MAX_INPUT_LEN {
        return Err(JsonError::TooLarge {
            len: bytes.len(),
            max: MAX_INPUT_LEN,
        });
    }
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictValue {
        depth: 0,
        found: &found,
    }
    .deserialize(&mut de)
    .and_then(|value| de.end().map(|()| value));
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(JsonError::NotAnObject),
        Err(e) => Err(found.into_inner().unwrap_or_else(|| classify(&e))),
    }
}

fn classify(e: &serde_json::Error) -> JsonError {
    match e.classify() {
        serde_json::error::Category::Eof => JsonError::Truncated,
        _ => JsonError::Syntax {
            line: e.line(),
            column: e.column(),
        },
    }
}

/// Cuts `s` to a short prefix on a character boundary, for error context.
pub(crate) fn clip(s: &str) -> String {
    if s.len() <= CONTEXT_LEN {
        return s.to_owned();
    }
    let mut end = CONTEXT_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + 3);
    out.push_str(s.get(..end).unwrap_or_default());
    out.push_str("...");
    out
}

/// Displays an untrusted string so it can sit inside a one-line message or a quoted header
/// parameter: only printable ASCII other than `"`, `'` and `\` passes, everything else is `?`.
pub(crate) fn excerpt(s: &str) -> Excerpt<'_> {
    Excerpt(s)
}

pub(crate) struct Excerpt<'a>(&'a str);

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for c in self.0.chars().take(CONTEXT_LEN + 3) {
            let shown = if c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '\\') || c == ' ' {
                c
            } else {
                '?'
            };
            f.write_char(shown)?;
        }
        Ok(())
    }
}

/// Builds a `serde_json::Value` like serde_json's own visitor, but refuses duplicate member
/// names and excess depth. The precise reason is left in `found`, because serde's error type
/// can only carry text.
struct StrictValue<'a> {
    depth: usize,
    found: &'a RefCell<Option<JsonError>>,
}

impl StrictValue<'_> {
    fn fail<E: de::Error>(&self, error: JsonError) -> E {
        let message = error.to_string();
        *self.found.borrow_mut() = Some(error);
        E::custom(message)
    }

    /// Called on entering an array or object; `depth` counts the containers around it.
    fn enter<E: de::Error>(&self) -> Result<StrictValue<'_>, E> {
        if self.depth >= MAX_DEPTH {
            return Err(self.fail(JsonError::TooDeep { max: MAX_DEPTH }));
        }
        Ok(StrictValue {
            depth: self.depth + 1,
            found: self.found,
        })
    }

    fn child(&self) -> StrictValue<'_> {
        StrictValue {
            depth: self.depth,
            found: self.found,
        }
    }
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // The JSON grammar has no NaN or infinity, so this only guards a broken invariant.
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inside = self.enter()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inside.child())? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let inside = self.enter()?;
        let mut map = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            if map.contains_key(&name) {
                return Err(self.fail(JsonError::DuplicateMember(clip(&name))));
            }
            let value = access.next_value_seed(inside.child())?;
            map.insert(name, value);
        }
        Ok(Value::Object(map))
    }
}

/// Why a JSON number is not a usable NumericDate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateError {
    /// Before 1970.
    Negative,
    /// A fraction or exponent form too large (≥ 10¹⁸ s) to be read exactly; an integer of
    /// any size is read as it is (far in the future).
    TooLarge,
}

/// A NumericDate (RFC 7519 §2) as whole seconds since 1970; a fraction is dropped.
pub fn numeric_date(number: &Number) -> Result<u64, DateError> {
    if let Some(whole) = number.as_u64() {
        return Ok(whole);
    }
    match number.as_f64() {
        Some(f) if f.is_finite() && f < 0.0 => Err(DateError::Negative),
        Some(f) if f.is_finite() && f < 1e18 => Ok(f as u64),
        _ => Err(DateError::TooLarge),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numeric_dates() {
        let date = |text: &str| match serde_json::from_str::<Value>(text) {
            Ok(Value::Number(n)) => numeric_date(&n),
            other => unreachable!("{text} is a number: {other:?}"),
        };
        assert_eq!(date("1700000000"), Ok(1_700_000_000));
        assert_eq!(date("1700000000.9"), Ok(1_700_000_000));
        assert_eq!(date("0"), Ok(0));
        assert_eq!(date("-1"), Err(DateError::Negative));
        assert_eq!(date("-0.5"), Err(DateError::Negative));
        assert_eq!(date("1e18"), Err(DateError::TooLarge));
        assert_eq!(date("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(date("1e300"), Err(DateError::TooLarge));
    }

    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<Map<String, Value>, JsonError> {
        parse_object(text.as_bytes())
    }

    #[test]
    fn parses_an_object_with_every_value_kind() {
        let map = parse(r#" {"s":"x","n":-3,"u":18446744073709551615,"f":1.5,"b":true,"z":null,"a":[1,{"k":[]}],"o":{}} "#)
            .unwrap();
        assert_eq!(
            Value::Object(map),
            json!({"s":"x","n":-3,"u":18446744073709551615u64,"f":1.5,"b":true,"z":null,"a":[1,{"k":[]}],"o":{}})
        );
    }

    #[test]
    fn duplicate_at_top_level_is_refused() {
        assert_eq!(
            parse(r#"{"alg":"RS256","alg":"none"}"#),
            Err(JsonError::DuplicateMember("alg".into()))
        );
    }

    #[test]
    fn duplicate_in_nested_object_is_refused() {
        assert_eq!(
            parse(r#"{"cnf":{"jkt":"a","jkt":"b"}}"#),
            Err(JsonError::DuplicateMember("jkt".into()))
        );
    }

    #[test]
    fn duplicate_inside_array_element_is_refused() {
        assert_eq!(
            parse(r#"{"keys":[{"kid":"1"},{"kid":"2","kid":"3"}]}"#),
            Err(JsonError::DuplicateMember("kid".into()))
        );
    }

    #[test]
    fn duplicate_spelled_with_an_escape_is_refused() {
        assert_eq!(
            parse(r#"{"sub":"a","\u0073ub":"b"}"#),
            Err(JsonError::DuplicateMember("sub".into()))
        );
    }

    #[test]
    fn same_name_in_sibling_objects_is_fine() {
        let map = parse(r#"{"a":{"x":1},"b":{"x":2}}"#).unwrap();
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn depth_at_the_limit_parses() {
        // The top-level object is the first of MAX_DEPTH nested containers.
        let n = MAX_DEPTH - 1;
        let text = format!(r#"{{"a":{}{}}}"#, "[".repeat(n), "]".repeat(n));
        assert!(matches!(parse(&text), Ok(map) if map.len() == 1));
        let objects = format!("{}1{}", r#"{"a":"#.repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        assert!(matches!(parse(&objects), Ok(map) if map.len() == 1));
    }

    #[test]
    fn depth_past_the_limit_is_refused() {
        let n = MAX_DEPTH;
        let text = format!(r#"{{"a":{}{}}}"#, "[".repeat(n), "]".repeat(n));
        assert_eq!(parse(&text), Err(JsonError::TooDeep { max: MAX_DEPTH }));
        let objects = format!("{}1{}", r#"{"a":"#.repeat(n + 1), "}".repeat(n + 1));
        assert_eq!(parse(&objects), Err(JsonError::TooDeep { max: MAX_DEPTH }));
    }

    #[test]
    fn very_deep_input_fails_without_overflowing_the_stack() {
        let text = "[".repeat(100_000);
        assert_eq!(
            parse_object(format!(r#"{{"a":{text}"#).as_bytes()),
            Err(JsonError::TooDeep { max: MAX_DEPTH })
        );
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let big = vec![b' '; MAX_INPUT_LEN + 1];
        assert_eq!(
            parse_object(&big),
            Err(JsonError::TooLarge {
                len: MAX_INPUT_LEN + 1,
                max: MAX_INPUT_LEN
            })
        );
    }

    #[test]
    fn non_objects_are_refused() {
        for text in ["[]", "\"x\"", "1", "null", "true"] {
            assert_eq!(parse(text), Err(JsonError::NotAnObject), "{text}");
        }
    }

    #[test]
    fn truncated_input_is_reported_as_such() {
        assert_eq!(parse(r#"{"a":"#), Err(JsonError::Truncated));
        assert_eq!(parse(""), Err(JsonError::Truncated));
    }

    #[test]
    fn syntax_errors_carry_their_position() {
        assert_eq!(
            parse("{\n\"a\":x}"),
            Err(JsonError::Syntax { line: 2, column: 5 })
        );
    }

    #[test]
    fn trailing_characters_are_refused() {
        assert!(matches!(
            parse(r#"{"a":1} x"#),
            Err(JsonError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            parse(r#"{"a":1}{}"#),
            Err(JsonError::Syntax { line: 1, .. })
        ));
    }

    #[test]
    fn invalid_utf8_and_lone_surrogates_are_refused() {
        assert!(matches!(
            parse_object(b"{\"a\":\"\xff\"}"),
            Err(JsonError::Syntax { .. })
        ));
        assert!(matches!(
            parse(r#"{"a":"\ud800"}"#),
            Err(JsonError::Syntax { .. })
        ));
    }

    #[test]
    fn trailing_comma_and_comments_are_refused() {
        assert!(matches!(
            parse(r#"{"a":1,}"#),
            Err(JsonError::Syntax { .. })
        ));
        assert!(matches!(parse("{/*c*/}"), Err(JsonError::Syntax { .. })));
    }

    #[test]
    fn out_of_range_number_is_refused() {
        assert!(matches!(
            parse(r#"{"a":1e400}"#),
            Err(JsonError::Syntax { .. })
        ));
    }

    #[test]
    fn duplicate_name_display_is_safe_for_a_header() {
        let e = parse("{\"a\\\"\\r\\n\":1,\"a\\\"\\r\\n\":2}").unwrap_err();
        assert_eq!(e, JsonError::DuplicateMember("a\"\r\n".into()));
        assert_eq!(e.to_string(), "duplicate member name 'a???'");
    }

    #[test]
    fn long_duplicate_name_is_clipped() {
        let name = "n".repeat(1000);
        let e = parse(&format!(r#"{{"{name}":1,"{name}":2}}"#)).unwrap_err();
        assert_eq!(
            e,
            JsonError::DuplicateMember(format!("{}...", "n".repeat(64)))
        );
    }

    #[test]
    fn every_display_is_one_line() {
        for e in [
            JsonError::TooLarge { len: 2, max: 1 },
            JsonError::TooDeep { max: 32 },
            JsonError::DuplicateMember("x".into()),
            JsonError::NotAnObject,
            JsonError::Truncated,
            JsonError::Syntax { line: 1, column: 2 },
        ] {
            let text = e.to_string();
            assert!(!text.contains(['\r', '\n', '"']), "{text}");
        }
    }
}
