//! The host calls the filter makes, through the raw ABI. The SDK's own wrappers panic on any
//! status they do not expect, and a panic traps the VM (on APISIX's host a trapped instance
//! fails every later request of its worker). Hosts do answer such statuses: APISIX's host
//! answers `Unimplemented` for time, tick and shared data, and `BadArgument` for properties
//! outside a request. Here every call returns what the host said, as a `Result`.
//!
//! Statuses are read as plain `u32`, never as an enum, so no value a host returns can be an
//! invalid Rust value.

use filter_core::header_map;
use std::ptr::null_mut;

/// A proxy-wasm status other than `Ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u32);

impl Status {
    pub const NOT_FOUND: Status = Status(1);
    pub const CAS_MISMATCH: Status = Status(8);
    pub const UNIMPLEMENTED: Status = Status(12);
}

fn check(status: u32) -> Result<(), Status> {
    if status == 0 {
        Ok(())
    } else {
        Err(Status(status))
    }
}

/// Map types of the ABI.
#[derive(Debug, Clone, Copy)]
#[allow(clippy::enum_variant_names)] // the ABI's own names
#[repr(u32)]
pub enum Map {
    RequestHeaders = 0,
    ResponseHeaders = 2,
    CallResponseHeaders = 6,
}

const BUFFER_CALL_RESPONSE_BODY: u32 = 4;
const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;
const STREAM_REQUEST: u32 = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_current_time_nanoseconds(time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(
        kind: u32,
        start: usize,
        max: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(map: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_get_header_map_value(
        map: u32,
        key: *const u8,
        key_len: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map: u32,
        key: *const u8,
        key_len: usize,
        value: *const u8,
        value_len: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map: u32, key: *const u8, key_len: usize) -> u32;
    fn proxy_get_property(
        path: *const u8,
        path_len: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_get_shared_data(
        key: *const u8,
        key_len: usize,
        data: *mut *mut u8,
        size: *mut usize,
        cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key: *const u8,
        key_len: usize,
        value: *const u8,
        value_len: usize,
        cas: u32,
    ) -> u32;
    fn proxy_continue_stream(stream: u32) -> u32;
    fn proxy_log(level: u32, message: *const u8, message_len: usize) -> u32;
    fn proxy_set_property(
        path: *const u8,
        path_len: usize,
        value: *const u8,
        value_len: usize,
    ) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_send_local_response(
        status: u32,
        details: *const u8,
        details_len: usize,
        body: *const u8,
        body_len: usize,
        headers: *const u8,
        headers_len: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, name_len: usize, id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
    fn proxy_record_metric(id: u32, value: u64) -> u32;
    fn proxy_call_foreign_function(
        name: *const u8,
        name_len: usize,
        arguments: *const u8,
        arguments_len: usize,
        result: *mut *mut u8,
        result_len: *mut usize,
    ) -> u32;
}

/// Takes ownership of a buffer the host returned.
///
/// Safety: `data` and `size` are what a host call just wrote. The ABI has the host allocate
/// that buffer through the module's `proxy_on_memory_allocate` (the SDK's allocator, which
/// hands out a `Vec<u8>` of exactly the requested capacity) with exactly `size` bytes, so the
/// buffer is a leaked `Vec<u8>` of length and capacity `size`. A null pointer or a zero size
/// holds nothing to free.
unsafe fn take(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() || size == 0 {
        return Vec::new();
    }
    Vec::from_raw_parts(data, size, size)
}

/// Unix time in nanoseconds from the host's clock.
pub fn host_time_ns() -> Result<u64, Status> {
    let mut time = 0u64;
    // Safety: the host writes one u64 to a valid, aligned local.
    check(unsafe { proxy_get_current_time_nanoseconds(&mut time) })?;
    Ok(time)
}

pub fn set_tick_period_ms(period: u32) -> Result<(), Status> {
    // Safety: no pointers.
    check(unsafe { proxy_set_tick_period_milliseconds(period) })
}

fn buffer(kind: u32, max: usize) -> Result<Vec<u8>, Status> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // Safety: the host writes a pointer and a size to valid locals; see `take`.
    check(unsafe { proxy_get_buffer_bytes(kind, 0, max, &mut data, &mut size) })?;
    Ok(unsafe { take(data, size) })
}

pub fn plugin_configuration() -> Result<Vec<u8>, Status> {
    buffer(BUFFER_PLUGIN_CONFIGURATION, usize::MAX)
}

pub fn call_response_body(max: usize) -> Result<Vec<u8>, Status> {
    buffer(BUFFER_CALL_RESPONSE_BODY, max)
}

/// One header's value; `None` when absent.
pub fn header(map: Map, name: &str) -> Option<Vec<u8>> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // Safety: `name` is valid for its length; the host writes a pointer and a size; see `take`.
    let status = unsafe {
        proxy_get_header_map_value(map as u32, name.as_ptr(), name.len(), &mut data, &mut size)
    };
    let value = unsafe { take(data, size) };
    (status == 0).then_some(value)
}

/// Every header line of `map`, in order, in the ABI's map encoding (`header_map::decode`);
/// empty when the host has none.
pub fn header_map(map: Map) -> Vec<u8> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // Safety: as in `header`.
    let status = unsafe { proxy_get_header_map_pairs(map as u32, &mut data, &mut size) };
    let bytes = unsafe { take(data, size) };
    if status != 0 {
        return Vec::new();
    }
    bytes
}

/// Sets (or with `None` removes) a header.
pub fn set_header(map: Map, name: &str, value: Option<&[u8]>) -> Result<(), Status> {
    // Safety: `name` and `value` are valid for their lengths.
    check(unsafe {
        match value {
            Some(v) => proxy_replace_header_map_value(
                map as u32,
                name.as_ptr(),
                name.len(),
                v.as_ptr(),
                v.len(),
            ),
            None => proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len()),
        }
    })
}

/// A property; `Ok(None)` when the host has none by that path.
pub fn property(path: &[&str]) -> Result<Option<Vec<u8>>, Status> {
    let mut encoded = Vec::new();
    for segment in path {
        encoded.extend_from_slice(segment.as_bytes());
        encoded.push(0);
    }
    let (mut data, mut size) = (null_mut(), 0usize);
    // Safety: `encoded` is valid for its length; see `take`.
    let status =
        unsafe { proxy_get_property(encoded.as_ptr(), encoded.len(), &mut data, &mut size) };
    let value = unsafe { take(data, size) };
    match check(status) {
        Ok(()) => Ok(Some(value)),
        Err(Status::NOT_FOUND) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Calls one of the host's own functions by name. Only Envoy has the ones this filter uses:
/// Kong's host traps on a name it does not know, so callers ask only once the host is known.
pub fn call_foreign(name: &str, arguments: &[u8]) -> Result<Vec<u8>, Status> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // Safety: `name` and `arguments` are valid for their lengths; see `take`.
    let status = unsafe {
        proxy_call_foreign_function(
            name.as_ptr(),
            name.len(),
            arguments.as_ptr(),
            arguments.len(),
            &mut data,
            &mut size,
        )
    };
    let value = unsafe { take(data, size) };
    check(status).map(|()| value)
}

/// A shared-data value and its revision; `Ok(None)` when the key was never written.
pub fn shared_get(key: &str) -> Result<Option<(Vec<u8>, u32)>, Status> {
    let (mut data, mut size, mut cas) = (null_mut(), 0usize, 0u32);
    // Safety: `key` is valid for its length; the host writes to valid locals; see `take`.
    let status =
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    let value = unsafe { take(data, size) };
    match check(status) {
        Ok(()) => Ok(Some((value, cas))),
        Err(Status::NOT_FOUND) => Ok(None),
        Err(other) => Err(other),
    }
}

pub fn shared_set(key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Status> {
    // Safety: `key` and `value` are valid for their lengths.
    check(unsafe {
        proxy_set_shared_data(
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
            cas.unwrap_or(0),
        )
    })
}

/// Log levels of the ABI.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

/// Writes one line to the host's log; a host that refuses it loses the line, nothing more.
pub fn log(level: LogLevel, message: &str) {
    // Safety: the pointer is valid for its length.
    let _ = unsafe { proxy_log(level as u32, message.as_ptr(), message.len()) };
}

/// Sets the property `path` (one segment) of the current request. Envoy keeps it in the
/// request's filter state as `wasm.<path>`.
pub fn set_property(path: &str, value: &[u8]) -> Result<(), Status> {
    // Safety: both pointers are valid for their lengths.
    check(unsafe { proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) })
}

/// Lets a paused request go on.
pub fn resume_request() -> Result<(), Status> {
    // Safety: no pointers.
    check(unsafe { proxy_continue_stream(STREAM_REQUEST) })
}

/// Makes the calls that follow act on `context_id` (a paused request) instead of the
/// context whose callback runs. Only Envoy's host switches; see `capabilities::is_envoy`.
pub fn set_effective_context(context_id: u32) -> Result<(), Status> {
    // Safety: no pointers.
    check(unsafe { proxy_set_effective_context(context_id) })
}

/// Answers the current request with a local response.
pub fn send_response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Result<(), Status> {
    let pairs = header_map::encode(headers);
    // Safety: every pointer is valid for its length; an empty details string is allowed.
    check(unsafe {
        proxy_send_local_response(
            u32::from(status),
            std::ptr::null(),
            0,
            body.as_ptr(),
            body.len(),
            pairs.as_ptr(),
            pairs.len(),
            -1,
        )
    })
}

#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum MetricKind {
    Counter = 0,
    Gauge = 1,
}

/// A metric's id. APISIX's host answers `Ok` without writing an id: the id stays 0, which
/// that host's recording stubs accept and drop.
pub fn define_metric(kind: MetricKind, name: &str) -> Result<u32, Status> {
    let mut id = 0u32;
    // Safety: `name` is valid for its length; the host writes one u32 to a valid local.
    check(unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn increment_metric(id: u32, by: i64) {
    // Safety: no pointers. Statistics never fail a request.
    let _ = unsafe { proxy_increment_metric(id, by) };
}

pub fn record_metric(id: u32, value: u64) {
    // Safety: no pointers.
    let _ = unsafe { proxy_record_metric(id, value) };
}
