//! Header reads that never trap: the SDK's `String` readers panic on bytes that are not
//! UTF-8, and header values are client-controlled. Values are read as bytes and converted
//! lossily, so a malformed credential becomes an invalid one.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MapType;

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

pub fn get(map: MapType, name: &str) -> Option<String> {
    hostcalls::get_map_value_bytes(map, name).ok().flatten().map(lossy)
}

pub fn request(name: &str) -> Option<String> {
    get(MapType::HttpRequestHeaders, name)
}

/// Every request header line, in order.
pub fn all_request() -> Vec<(String, String)> {
    hostcalls::get_map_bytes(MapType::HttpRequestHeaders)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| (name, lossy(value)))
        .collect()
}

pub fn set_request(name: &str, value: Option<&str>) {
    let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value);
}
