//! `config.schema.json` (what editors, Kong's `.meta.json` and CI pipelines check a
//! configuration against) describes the configuration the filter parses: the same fields at
//! every level, the same bounds, the same algorithm names.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use filter_core::config;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const SCHEMA: &str = include_str!("../../config.schema.json");

fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("the schema is JSON")
}

/// The smallest configuration that parses, with `changes` merged at the top level.
fn config_with(changes: Value) -> Value {
    let mut doc =
        json!({"domain": "tenant.example.com", "audience": "https://api", "upstream": "auth0"});
    for (name, value) in changes.as_object().unwrap() {
        doc[name] = value.clone();
    }
    doc
}

fn parse(doc: &Value) -> Result<config::Config, String> {
    config::parse(doc.to_string().as_bytes()).map_err(|e| e.to_string())
}

/// The fields the parser knows at the level of `doc`'s unknown field `zz_unknown`.
fn parser_fields(doc: Value) -> BTreeSet<String> {
    let message = parse(&doc).expect_err("an unknown field is refused");
    let list = message
        .split_once("expected ")
        .map(|(_, list)| list)
        .unwrap_or_else(|| panic!("no field list in {message}"));
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn schema_fields(object: &Value) -> BTreeSet<String> {
    assert_eq!(object["additionalProperties"], json!(false), "{object}");
    object["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn the_schema_has_the_fields_of_every_level() {
    let schema = schema();
    let rule = &schema["properties"]["rules"]["items"];
    let levels = [
        ("top", &schema, config_with(json!({"zz_unknown": 1}))),
        (
            "rules[]",
            rule,
            config_with(json!({"rules": [{"match": {"path": "/"}, "zz_unknown": 1}]})),
        ),
        (
            "rules[].match",
            &rule["properties"]["match"],
            config_with(json!({"rules": [{"match": {"path": "/", "zz_unknown": 1}}]})),
        ),
        (
            "forward",
            &schema["properties"]["forward"],
            config_with(json!({"forward": {"zz_unknown": 1}})),
        ),
        (
            "filter_state",
            &schema["properties"]["filter_state"],
            config_with(json!({"filter_state": {"zz_unknown": 1}})),
        ),
        (
            "dpop_nonce",
            &schema["properties"]["dpop_nonce"],
            config_with(json!({"dpop_nonce": {"secret": "x", "zz_unknown": 1}})),
        ),
    ];
    for (level, object, doc) in levels {
        assert_eq!(schema_fields(object), parser_fields(doc), "{level}");
    }
}

#[test]
fn the_schema_bounds_are_the_parser_bounds() {
    let schema = schema();
    let mut checked = 0;
    for (name, field) in schema["properties"].as_object().unwrap() {
        let (Some(min), Some(max)) = (field["minimum"].as_u64(), field["maximum"].as_u64()) else {
            continue;
        };
        for (value, ok) in [(min, true), (max, true), (max + 1, false)] {
            let result = parse(&config_with(json!({ name: value })));
            assert_eq!(result.is_ok(), ok, "{name} = {value}: {result:?}");
        }
        if min > 0 {
            let below = parse(&config_with(json!({ name: min - 1 })));
            assert!(below.is_err(), "{name} below {min}");
        }
        checked += 1;
    }
    assert!(checked >= 7, "{checked} bounded fields");
}

#[test]
fn the_schema_algorithms_are_the_accepted_ones() {
    let schema = schema();
    for (field, also) in [("algorithms", json!({})), ("dpop_algorithms", json!({}))] {
        let names = schema["properties"][field]["items"]["enum"]
            .as_array()
            .unwrap();
        for name in names {
            let mut changes = also.clone();
            changes[field] = json!([name]);
            assert!(parse(&config_with(changes)).is_ok(), "{field}: {name}");
        }
        let mut changes = also.clone();
        changes[field] = json!(["HS256"]);
        assert!(parse(&config_with(changes)).is_err(), "{field}: HS256");
    }
}

/// Every complete configuration shown in the README (a `json` block with an `audience`) is
/// accepted by the parser.
#[test]
fn the_readme_configurations_parse() {
    let readme = include_str!("../../README.md");
    let mut parsed = 0;
    for block in readme.split("```json").skip(1) {
        let text = block.split("```").next().unwrap_or_default();
        let Ok(doc @ Value::Object(_)) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        if doc.get("audience").is_some() {
            assert!(parse(&doc).is_ok(), "{doc}: {:?}", parse(&doc).err());
            parsed += 1;
        }
    }
    assert!(parsed > 0, "the README shows a complete configuration");
}
