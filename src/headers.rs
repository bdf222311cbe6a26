//! Header reads as text: header values are client-controlled bytes, converted lossily so a
//! value that is not UTF-8 becomes an invalid credential rather than a trap.

use crate::host::{self, Map};

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

pub fn get(map: Map, name: &str) -> Option<String> {
    host::header(map, name).map(lossy)
}

pub fn request(name: &str) -> Option<String> {
    get(Map::RequestHeaders, name)
}

pub fn set_request(name: &str, value: Option<&str>) {
    let _ = host::set_header(Map::RequestHeaders, name, value.map(str::as_bytes));
}
