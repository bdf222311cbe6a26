//! One worker VM: the module instantiated under the proxy-wasm ABI 0.2.1 and WASI preview1,
//! with the host functions answering as the profile's host does.

use crate::{Callout, Profile, Request, Response, SharedKv, Upstream};
use std::time::{SystemTime, UNIX_EPOCH};
use wasmi::{
    Caller, Engine, Error, Extern, Func, FuncType, Instance, Linker, Module, Store, Val, ValType,
};

/// A callout's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

const OK: i32 = 0;
const NOT_FOUND: i32 = 1;
const BAD_ARGUMENT: i32 = 2;
const CAS_MISMATCH: i32 = 8;
const INTERNAL_FAILURE: i32 = 10;
const UNIMPLEMENTED: i32 = 12;

const ROOT: u32 = 1;

/// A local response: status, headers, body.
type Local = (u16, Vec<(String, String)>, Vec<u8>);

/// The request whose callbacks run.
#[derive(Default)]
struct RequestState {
    headers: Vec<(String, String)>,
    sent: Vec<(String, String)>,
    response_headers: Vec<(String, String)>,
    local: Option<Local>,
    resumed: bool,
    /// What the filter set with `proxy_set_property`, in order.
    properties: Vec<(String, String)>,
}

struct Pending {
    token: u32,
    context: u32,
    callout: Callout,
}

pub struct State {
    profile: Profile,
    shared: SharedKv,
    config: Vec<u8>,
    /// The context whose callback runs (0: none).
    current: u32,
    in_root_callout_callback: bool,
    in_configure: bool,
    tick_ms: Option<u32>,
    request: Option<RequestState>,
    pending: Vec<Pending>,
    next_token: u32,
    reply: Option<Option<Reply>>,
    logs: Vec<String>,
    violations: Vec<String>,
    metrics: Vec<(String, i64)>,
    random: u64,
}

impl State {
    /// Records what the real host would not survive, and ends the call.
    fn crash(&mut self, what: String) -> Error {
        self.violations.push(what.clone());
        Error::new(what)
    }
}

pub struct Vm {
    store: Store<State>,
    instance: Instance,
    upstream: Upstream,
    configured: Option<bool>,
    poisoned: bool,
    next_context: u32,
}

type Ctx<'a> = Caller<'a, State>;

fn memory(caller: &Ctx<'_>) -> Result<wasmi::Memory, Error> {
    caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| Error::new("no memory export"))
}

fn read(caller: &Ctx<'_>, ptr: i32, len: i32) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0; usize::try_from(len).map_err(|_| Error::new("negative length"))?];
    let at = usize::try_from(ptr).map_err(|_| Error::new("negative pointer"))?;
    memory(caller)?
        .read(caller, at, &mut buf)
        .map_err(|e| Error::new(format!("read out of bounds: {e}")))?;
    Ok(buf)
}

fn read_str(caller: &Ctx<'_>, ptr: i32, len: i32) -> Result<String, Error> {
    String::from_utf8(read(caller, ptr, len)?).map_err(|_| Error::new("name is not UTF-8"))
}

fn write(caller: &mut Ctx<'_>, ptr: i32, bytes: &[u8]) -> Result<(), Error> {
    let at = usize::try_from(ptr).map_err(|_| Error::new("negative pointer"))?;
    let mem = memory(caller)?;
    mem.write(caller, at, bytes)
        .map_err(|e| Error::new(format!("write out of bounds: {e}")))
}

/// Hands `bytes` to the module the ABI's way: memory from `proxy_on_memory_allocate`, its
/// address and size written to the two out-parameters.
fn give(caller: &mut Ctx<'_>, bytes: &[u8], ptr_out: i32, size_out: i32) -> Result<(), Error> {
    let alloc = caller
        .get_export("proxy_on_memory_allocate")
        .and_then(Extern::into_func)
        .ok_or_else(|| Error::new("no proxy_on_memory_allocate"))?
        .typed::<i32, i32>(&*caller)?;
    let size = i32::try_from(bytes.len()).map_err(|_| Error::new("too large"))?;
    let at = alloc.call(&mut *caller, size)?;
    write(caller, at, bytes)?;
    write(caller, ptr_out, &at.to_le_bytes())?;
    write(caller, size_out, &size.to_le_bytes())
}

fn encode_pairs(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
    for (n, v) in pairs {
        out.extend_from_slice(&(n.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (n, v) in pairs {
        out.extend_from_slice(n.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

fn decode_pairs(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    let word =
        |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize);
    let count = word(0)?;
    let mut at = 4 + count * 8;
    let mut out = Vec::new();
    for i in 0..count {
        let (nl, vl) = (word(4 + i * 8)?, word(8 + i * 8)?);
        let name = String::from_utf8(bytes.get(at..at + nl)?.to_vec()).ok()?;
        at += nl + 1;
        let value = String::from_utf8_lossy(bytes.get(at..at + vl)?).into_owned();
        at += vl + 1;
        out.push((name, value));
    }
    Some(out)
}

/// The header map `map` as the host currently holds it.
fn map_of(state: &mut State, map: i32) -> Option<&mut Vec<(String, String)>> {
    match map {
        0 => state.request.as_mut().map(|r| &mut r.headers),
        2 => state.request.as_mut().map(|r| &mut r.response_headers),
        _ => None,
    }
}

fn call_reply_headers(state: &State) -> Vec<(String, String)> {
    match &state.reply {
        Some(Some(reply)) => {
            let mut headers = vec![(":status".to_owned(), reply.status.to_string())];
            headers.extend(reply.headers.iter().cloned());
            headers
        }
        _ => Vec::new(),
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn define(linker: &mut Linker<State>, profile: Profile) -> Result<(), Error> {
    let unimplemented = profile.lacks_time_tick_and_shared_data();
    linker.func_wrap(
        "env",
        "proxy_log",
        |caller: Ctx<'_>, level: i32, ptr: i32, len: i32| -> Result<i32, Error> {
            let message = String::from_utf8_lossy(&read(&caller, ptr, len)?).into_owned();
            let mut caller = caller;
            caller.data_mut().logs.push(format!("{level} {message}"));
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        move |mut caller: Ctx<'_>, out: i32| -> Result<i32, Error> {
            if unimplemented {
                return Ok(UNIMPLEMENTED);
            }
            write(&mut caller, out, &now_ns().to_le_bytes())?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        move |mut caller: Ctx<'_>, period: i32| -> Result<i32, Error> {
            let state = caller.data_mut();
            if unimplemented {
                return Ok(UNIMPLEMENTED);
            }
            if state.profile.tick_settable_once() {
                if state.current != ROOT {
                    return Err(state.crash("set_tick_period from a request context traps".into()));
                }
                if state.tick_ms.is_some() {
                    return Err(state
                        .crash("tick_period already set: a second set_tick_period traps".into()));
                }
            }
            state.tick_ms = u32::try_from(period).ok();
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut caller: Ctx<'_>,
         kind: i32,
         start: i32,
         max: i32,
         ptr_out: i32,
         size_out: i32|
         -> Result<i32, Error> {
            let state = caller.data_mut();
            let bytes = match kind {
                7 => state.config.clone(),
                4 => match &state.reply {
                    Some(Some(reply)) => reply.body.clone(),
                    _ => Vec::new(),
                },
                0 if state.in_configure && state.profile == Profile::Apisix => {
                    return Err(state
                        .crash("request body read in on_configure: the worker segfaults".into()))
                }
                _ => return Ok(NOT_FOUND),
            };
            let start = usize::try_from(start).unwrap_or(0).min(bytes.len());
            let end = start
                .saturating_add(usize::try_from(max).unwrap_or(usize::MAX))
                .min(bytes.len());
            let slice = bytes.get(start..end).unwrap_or_default().to_vec();
            give(&mut caller, &slice, ptr_out, size_out)?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut caller: Ctx<'_>, map: i32, ptr_out: i32, size_out: i32| -> Result<i32, Error> {
            let mut pairs = match map {
                6 => call_reply_headers(caller.data()),
                _ => match map_of(caller.data_mut(), map) {
                    Some(pairs) => pairs.clone(),
                    None => return Ok(NOT_FOUND),
                },
            };
            if map == 0 && !caller.data().profile.lists_pseudo_headers() {
                pairs.retain(|(name, _)| !name.starts_with(':'));
            }
            give(&mut caller, &encode_pairs(&pairs), ptr_out, size_out)?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut caller: Ctx<'_>,
         map: i32,
         kp: i32,
         kl: i32,
         ptr_out: i32,
         size_out: i32|
         -> Result<i32, Error> {
            let name = read_str(&caller, kp, kl)?;
            let pairs = match map {
                6 => call_reply_headers(caller.data()),
                _ => match map_of(caller.data_mut(), map) {
                    Some(pairs) => pairs.clone(),
                    None => return Ok(NOT_FOUND),
                },
            };
            match pairs.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                Some((_, value)) => {
                    give(&mut caller, value.as_bytes(), ptr_out, size_out)?;
                    Ok(OK)
                }
                None => Ok(NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_replace_header_map_value",
        |mut caller: Ctx<'_>, map: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> Result<i32, Error> {
            let (name, value) = (
                read_str(&caller, kp, kl)?.to_ascii_lowercase(),
                String::from_utf8_lossy(&read(&caller, vp, vl)?).into_owned(),
            );
            let Some(pairs) = map_of(caller.data_mut(), map) else {
                return Ok(NOT_FOUND);
            };
            pairs.retain(|(n, _)| *n != name);
            pairs.push((name, value));
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut caller: Ctx<'_>, map: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> Result<i32, Error> {
            let (name, value) = (
                read_str(&caller, kp, kl)?.to_ascii_lowercase(),
                String::from_utf8_lossy(&read(&caller, vp, vl)?).into_owned(),
            );
            let Some(pairs) = map_of(caller.data_mut(), map) else {
                return Ok(NOT_FOUND);
            };
            pairs.push((name, value));
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut caller: Ctx<'_>, map: i32, kp: i32, kl: i32| -> Result<i32, Error> {
            let name = read_str(&caller, kp, kl)?.to_ascii_lowercase();
            let Some(pairs) = map_of(caller.data_mut(), map) else {
                return Ok(NOT_FOUND);
            };
            pairs.retain(|(n, _)| *n != name);
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_property",
        |mut caller: Ctx<'_>, pp: i32, pl: i32, vp: i32, vl: i32| -> Result<i32, Error> {
            let path = read_str(&caller, pp, pl)?;
            let value = read(&caller, vp, vl)?;
            let state = caller.data_mut();
            let Some(request) = state.request.as_mut() else {
                return Ok(BAD_ARGUMENT);
            };
            // Envoy keeps any path in the filter state; the nginx hosts only set existing
            // nginx variables, and none of the filter's names is one.
            if state.profile != Profile::Envoy {
                return Ok(NOT_FOUND);
            }
            request
                .properties
                .push((path, String::from_utf8_lossy(&value).into_owned()));
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut caller: Ctx<'_>,
         pp: i32,
         pl: i32,
         ptr_out: i32,
         size_out: i32|
         -> Result<i32, Error> {
            let raw = read(&caller, pp, pl)?;
            let path: Vec<String> = raw
                .split(|b| *b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            let state = caller.data();
            let in_request = state.request.is_some();
            let value: Option<String> = match state.profile {
                Profile::Envoy => match path
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice()
                {
                    ["plugin_root_id"] | ["plugin_name"] => Some("auth0".into()),
                    _ => None,
                },
                Profile::Kong => match path
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice()
                {
                    ["ngx", "pid"] if in_request => Some("4242".into()),
                    ["connection", "tls_version"] if in_request => Some(String::new()),
                    _ => None,
                },
                Profile::Apisix => match path
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice()
                {
                    ["plugin_root_id"] => Some("wasm_filter".into()),
                    _ if !in_request => return Ok(BAD_ARGUMENT),
                    ["https"] => Some(String::new()),
                    ["request_uri"] => state
                        .request
                        .as_ref()
                        .and_then(|r| r.headers.iter().find(|(n, _)| n == ":path"))
                        .map(|(_, v)| v.clone()),
                    _ => None,
                },
            };
            match value {
                Some(v) => {
                    give(&mut caller, v.as_bytes(), ptr_out, size_out)?;
                    Ok(OK)
                }
                None => Ok(NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_shared_data",
        move |mut caller: Ctx<'_>,
              kp: i32,
              kl: i32,
              ptr_out: i32,
              size_out: i32,
              cas_out: i32|
              -> Result<i32, Error> {
            if unimplemented {
                return Ok(UNIMPLEMENTED);
            }
            let key = read_str(&caller, kp, kl)?;
            let entry = caller.data().shared.borrow().get(&key).cloned();
            match entry {
                Some((value, cas)) => {
                    give(&mut caller, &value, ptr_out, size_out)?;
                    write(&mut caller, cas_out, &cas.to_le_bytes())?;
                    Ok(OK)
                }
                None => Ok(NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_shared_data",
        move |caller: Ctx<'_>,
              kp: i32,
              kl: i32,
              vp: i32,
              vl: i32,
              cas: i32|
              -> Result<i32, Error> {
            if unimplemented {
                return Ok(UNIMPLEMENTED);
            }
            let (key, value) = (read_str(&caller, kp, kl)?, read(&caller, vp, vl)?);
            let state = caller.data();
            let mut kv = state.shared.borrow_mut();
            let cas = cas as u32;
            let next = match kv.get(&key) {
                Some((_, current)) if cas != 0 && *current != cas => return Ok(CAS_MISMATCH),
                Some((_, current)) => current.wrapping_add(1).max(1),
                None if cas != 0 && !state.profile.ignores_cas_on_absent_key() => {
                    return Ok(CAS_MISMATCH)
                }
                None => 1,
            };
            kv.insert(key, (value, next));
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_continue_stream",
        |mut caller: Ctx<'_>, stream: i32| -> Result<i32, Error> {
            let state = caller.data_mut();
            if stream != 0 {
                return Err(state.crash(format!(
                    "continue_stream({stream}): the filter only resumes requests"
                )));
            }
            if state.current == ROOT && !state.profile.switches_context() {
                return Err(
                    state.crash("resume from the root context: the worker segfaults".into())
                );
            }
            if let Some(request) = state.request.as_mut() {
                request.resumed = true;
            }
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut caller: Ctx<'_>,
         status: i32,
         _dp: i32,
         _dl: i32,
         bp: i32,
         bl: i32,
         hp: i32,
         hl: i32,
         _grpc: i32|
         -> Result<i32, Error> {
            let body = read(&caller, bp, bl)?;
            let headers = decode_pairs(&read(&caller, hp, hl)?)
                .ok_or_else(|| Error::new("malformed header map"))?;
            let state = caller.data_mut();
            if state.current == ROOT && !state.profile.switches_context() {
                return Err(state
                    .crash("local response from the root context: the worker segfaults".into()));
            }
            let Some(request) = state.request.as_mut() else {
                return Err(state.crash("local response outside a request".into()));
            };
            request.local = Some((u16::try_from(status).unwrap_or(0), headers, body));
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_http_call",
        |mut caller: Ctx<'_>,
         up: i32,
         ul: i32,
         hp: i32,
         hl: i32,
         _bp: i32,
         _bl: i32,
         _tp: i32,
         _tl: i32,
         _timeout: i32,
         token_out: i32|
         -> Result<i32, Error> {
            let upstream = read_str(&caller, up, ul)?;
            let headers = decode_pairs(&read(&caller, hp, hl)?)
                .ok_or_else(|| Error::new("malformed header map"))?;
            let state = caller.data_mut();
            if state.in_root_callout_callback && state.profile.crashes_on_root_chained_callout() {
                return Err(state.crash(
                    "callout from the root context's callout callback: the worker segfaults".into(),
                ));
            }
            if state.profile.callouts_only_from_requests() {
                if state.request.is_none() {
                    return Ok(BAD_ARGUMENT);
                }
                let context = state.current;
                if state.pending.iter().any(|p| p.context == context) {
                    state.logs.push("2 multiple calls are not supported".into());
                    return Ok(INTERNAL_FAILURE);
                }
            }
            let token = state.next_token;
            state.next_token += 1;
            let context = if state.request.is_some() {
                state.current
            } else {
                ROOT
            };
            state.pending.push(Pending {
                token,
                context,
                callout: Callout { upstream, headers },
            });
            write(&mut caller, token_out, &token.to_le_bytes())?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_effective_context",
        |mut caller: Ctx<'_>, context: i32| -> Result<i32, Error> {
            let state = caller.data_mut();
            if state.profile.switches_context() {
                state.current = context as u32;
            }
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut caller: Ctx<'_>, _kind: i32, np: i32, nl: i32, id_out: i32| -> Result<i32, Error> {
            let name = read_str(&caller, np, nl)?;
            let state = caller.data_mut();
            if state.profile.drops_metrics() {
                return Ok(OK);
            }
            state.metrics.push((name, 0));
            let id = state.metrics.len() as u32;
            write(&mut caller, id_out, &id.to_le_bytes())?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_increment_metric",
        |mut caller: Ctx<'_>, id: i32, by: i64| -> i32 {
            if let Some(m) = caller
                .data_mut()
                .metrics
                .get_mut((id as usize).wrapping_sub(1))
            {
                m.1 += by;
            }
            OK
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_record_metric",
        |mut caller: Ctx<'_>, id: i32, value: i64| -> i32 {
            if let Some(m) = caller
                .data_mut()
                .metrics
                .get_mut((id as usize).wrapping_sub(1))
            {
                m.1 = value;
            }
            OK
        },
    )?;
    // Kong's host traps on any name but its own `resolve_lua`; APISIX's answers Unimplemented.
    // Envoy's `verify_signature` runs BoringSSL, which this emulator does not have: it answers
    // NotFound, as Envoy does for a name it does not know, and the filter checks signatures
    // itself (the real function is exercised against real Envoy).
    linker.func_wrap(
        "env",
        "proxy_call_foreign_function",
        move |mut caller: Ctx<'_>,
              name: i32,
              name_len: i32,
              _args: i32,
              _args_len: i32,
              _result: i32,
              _result_len: i32|
              -> Result<i32, Error> {
            match profile {
                Profile::Envoy => Ok(NOT_FOUND),
                Profile::Apisix => Ok(UNIMPLEMENTED),
                Profile::Kong => {
                    let called = read(&caller, name, name_len)?;
                    let what = format!(
                        "unknown foreign function {:?}: Kong's host traps",
                        String::from_utf8_lossy(&called)
                    );
                    Err(caller.data_mut().crash(what))
                }
            }
        },
    )?;
    // WASI preview1, as far as a filter uses it.
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "clock_time_get",
        |mut caller: Ctx<'_>, _id: i32, _precision: i64, out: i32| -> Result<i32, Error> {
            write(&mut caller, out, &now_ns().to_le_bytes())?;
            Ok(0)
        },
    )?;
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "random_get",
        |mut caller: Ctx<'_>, ptr: i32, len: i32| -> Result<i32, Error> {
            let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            let state = caller.data_mut();
            for _ in 0..len {
                // xorshift64: test randomness, not a secret.
                state.random ^= state.random << 13;
                state.random ^= state.random >> 7;
                state.random ^= state.random << 17;
                bytes.push(state.random as u8);
            }
            write(&mut caller, ptr, &bytes)?;
            Ok(0)
        },
    )?;
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "environ_sizes_get",
        |mut caller: Ctx<'_>, count: i32, size: i32| -> Result<i32, Error> {
            write(&mut caller, count, &0u32.to_le_bytes())?;
            write(&mut caller, size, &0u32.to_le_bytes())?;
            Ok(0)
        },
    )?;
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "environ_get",
        |_: Ctx<'_>, _: i32, _: i32| -> i32 { 0 },
    )?;
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "fd_write",
        |mut caller: Ctx<'_>, _fd: i32, iovs: i32, n: i32, written: i32| -> Result<i32, Error> {
            let mut total = 0u32;
            let mut text = Vec::new();
            for i in 0..n {
                let iov = read(&caller, iovs + i * 8, 8)?;
                let half = |at: usize| {
                    iov.get(at..at + 4)
                        .and_then(|b| b.try_into().ok())
                        .map(i32::from_le_bytes)
                        .ok_or_else(|| Error::new("short iovec"))
                };
                let (ptr, len) = (half(0)?, half(4)?);
                text.extend(read(&caller, ptr, len)?);
                total += len as u32;
            }
            caller
                .data_mut()
                .logs
                .push(format!("stderr {}", String::from_utf8_lossy(&text)));
            write(&mut caller, written, &total.to_le_bytes())?;
            Ok(0)
        },
    )?;
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "proc_exit",
        |mut caller: Ctx<'_>, code: i32| -> Result<(), Error> {
            Err(caller
                .data_mut()
                .crash(format!("proc_exit({code}): the module aborted")))
        },
    )?;
    Ok(())
}

/// Any other import the module has: defined with the module's own signature, since the SDK
/// declares them; the filter must never call one.
fn define_unexpected(
    linker: &mut Linker<State>,
    name: &str,
    ty: FuncType,
    profile: Profile,
) -> Result<(), Error> {
    let owned = name.to_owned();
    let nyi = profile.unimplemented_calls().contains(&name);
    linker.func_new(
        "env",
        name,
        ty,
        move |mut caller: Ctx<'_>, _params: &[Val], results: &mut [Val]| {
            let what = if nyi {
                format!("{owned} is not implemented by this host")
            } else {
                format!("the filter called {owned}")
            };
            if nyi {
                return Err(caller.data_mut().crash(what));
            }
            caller.data_mut().violations.push(what);
            if let Some(r) = results.first_mut() {
                *r = Val::I32(UNIMPLEMENTED);
            }
            Ok(())
        },
    )?;
    Ok(())
}

fn signature(ty: &FuncType) -> String {
    let list = |types: &[ValType]| {
        types
            .iter()
            .map(|t| format!("{t:?}").to_lowercase())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> {}", list(ty.params()), list(ty.results()))
}

impl Vm {
    pub fn load(
        profile: Profile,
        bytes: &[u8],
        config: &[u8],
        shared: SharedKv,
        upstream: Upstream,
    ) -> Result<Vm, String> {
        let engine = Engine::default();
        let module = Module::new(&engine, bytes).map_err(|e| format!("not a wasm module: {e}"))?;
        let mut linker = Linker::<State>::new(&engine);
        define(&mut linker, profile).map_err(|e| e.to_string())?;
        let implemented = [
            "proxy_log",
            "proxy_get_current_time_nanoseconds",
            "proxy_set_tick_period_milliseconds",
            "proxy_get_buffer_bytes",
            "proxy_get_header_map_pairs",
            "proxy_get_header_map_value",
            "proxy_replace_header_map_value",
            "proxy_add_header_map_value",
            "proxy_remove_header_map_value",
            "proxy_get_property",
            "proxy_set_property",
            "proxy_get_shared_data",
            "proxy_set_shared_data",
            "proxy_continue_stream",
            "proxy_send_local_response",
            "proxy_http_call",
            "proxy_set_effective_context",
            "proxy_define_metric",
            "proxy_increment_metric",
            "proxy_record_metric",
            "proxy_call_foreign_function",
        ];
        for import in module.imports() {
            let name = import.name();
            let ty = match import.ty() {
                wasmi::ExternType::Func(ty) => ty.clone(),
                other => return Err(format!("unexpected import {name}: {other:?}")),
            };
            if profile.missing_imports().contains(&name) {
                return Err(format!(
                    "failed to load: unknown import: `{}::{name}` has not been defined",
                    import.module()
                ));
            }
            if let Some((_, host)) = profile.other_signatures().iter().find(|(n, _)| *n == name) {
                if signature(&ty) != *host {
                    return Err(format!(
                        "failed to load: incompatible import type for `{}::{name}`",
                        import.module()
                    ));
                }
            }
            if import.module() == "env" && !implemented.contains(&name) {
                define_unexpected(&mut linker, name, ty, profile).map_err(|e| e.to_string())?;
            }
        }
        let state = State {
            profile,
            shared,
            config: config.to_vec(),
            current: 0,
            in_root_callout_callback: false,
            in_configure: false,
            tick_ms: None,
            request: None,
            pending: Vec::new(),
            next_token: 1,
            reply: None,
            logs: Vec::new(),
            violations: Vec::new(),
            metrics: Vec::new(),
            random: now_ns() | 1,
        };
        let mut store = Store::new(&engine, state);
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .map_err(|e| format!("failed to instantiate: {e}"))?;
        let mut vm = Vm {
            store,
            instance,
            upstream,
            configured: None,
            poisoned: false,
            next_context: 2,
        };
        if vm.instance.get_func(&vm.store, "_initialize").is_some() {
            vm.call("_initialize", &[])?;
        }
        Ok(vm)
    }

    fn call(&mut self, name: &str, args: &[i32]) -> Result<i32, String> {
        if self.poisoned {
            return Err("the instance trapped before".into());
        }
        let func: Func = self
            .instance
            .get_func(&self.store, name)
            .ok_or_else(|| format!("no export {name}"))?;
        let params: Vec<Val> = args.iter().map(|a| Val::I32(*a)).collect();
        let mut results = vec![Val::I32(0); func.ty(&self.store).results().len()];
        match func.call(&mut self.store, &params, &mut results) {
            Ok(()) => Ok(match results.first() {
                Some(Val::I32(v)) => *v,
                _ => 0,
            }),
            Err(e) => {
                self.poisoned = true;
                let what = format!("trap in {name}: {e}");
                if !self
                    .store
                    .data()
                    .violations
                    .iter()
                    .any(|v| what.contains(v.as_str()))
                {
                    self.store.data_mut().violations.push(what.clone());
                }
                Err(what)
            }
        }
    }

    pub fn configured(&self) -> bool {
        self.configured == Some(true)
    }

    /// Creates the root context and configures it.
    pub fn configure(&mut self) {
        let len = self.store.data().config.len() as i32;
        self.store.data_mut().current = ROOT;
        let mut ok = self
            .call("proxy_on_context_create", &[ROOT as i32, 0])
            .is_ok();
        if ok && !self.store.data().profile.configures_lazily() {
            ok = self
                .call("proxy_on_vm_start", &[ROOT as i32, 0])
                .is_ok_and(|r| r != 0);
        }
        self.store.data_mut().in_configure = true;
        ok = ok
            && self
                .call("proxy_on_configure", &[ROOT as i32, len])
                .is_ok_and(|r| r != 0);
        self.store.data_mut().in_configure = false;
        self.configured = Some(ok);
        self.root_callouts();
    }

    /// Performs callouts made by the root context and delivers their answers to it.
    fn root_callouts(&mut self) {
        while let Some(index) = self
            .store
            .data()
            .pending
            .iter()
            .position(|p| p.context == ROOT)
        {
            let pending = self.store.data_mut().pending.remove(index);
            let reply = (self.upstream)(&pending.callout);
            self.deliver(ROOT, ROOT, pending.token, reply, true);
        }
    }

    /// Calls `proxy_on_http_call_response` with `context` as the id, for the callout of
    /// `owner` (APISIX's host passes the root context's id for a request's callout).
    fn deliver(&mut self, context: u32, owner: u32, token: u32, reply: Option<Reply>, root: bool) {
        let (headers, body) = match &reply {
            Some(r) => (r.headers.len() + 1, r.body.len()),
            None => (0, 0),
        };
        let state = self.store.data_mut();
        state.reply = Some(reply);
        state.current = owner;
        state.in_root_callout_callback = root;
        let _ = self.call(
            "proxy_on_http_call_response",
            &[context as i32, token as i32, headers as i32, body as i32, 0],
        );
        let state = self.store.data_mut();
        state.reply = None;
        state.in_root_callout_callback = false;
    }

    /// Delivers the answer to a callout the module never made, as a faulty host might: the
    /// module's dispatcher panics, which traps the VM.
    pub fn answer_unknown_callout(&mut self) {
        self.store.data_mut().current = ROOT;
        let _ = self.call(
            "proxy_on_http_call_response",
            &[ROOT as i32, 0x7fff_0000, 0, 0, 0],
        );
    }

    pub fn tick(&mut self) {
        if self.configured() && self.store.data().tick_ms.is_some() {
            self.store.data_mut().current = ROOT;
            let _ = self.call("proxy_on_tick", &[ROOT as i32]);
            self.root_callouts();
        }
    }

    pub fn send(&mut self, request: &Request) -> Response {
        let profile = self.store.data().profile;
        if self.configured.is_none() && profile.configures_lazily() {
            self.configure();
        }
        let refused = Response {
            status: 503,
            headers: Vec::new(),
            body: "failed to run wasm plugin".into(),
            upstream_saw: None,
            properties: Vec::new(),
        };
        if !self.configured() || self.poisoned {
            return refused;
        }
        let id = if profile == Profile::Apisix {
            2
        } else {
            self.next_context
        };
        self.next_context += 1;
        let authority = if profile.authority_is_server_name() {
            "kong:8000".to_owned()
        } else {
            request.host.clone()
        };
        let mut headers = vec![
            (":authority".to_owned(), authority),
            (":path".to_owned(), request.path.clone()),
            (":method".to_owned(), request.method.clone()),
            (":scheme".to_owned(), "http".to_owned()),
        ];
        if profile.keeps_host_header() {
            headers.push(("host".into(), request.host.clone()));
        }
        headers.extend(request.headers.iter().cloned());
        let count = if profile == Profile::Apisix {
            0
        } else {
            headers.len() as i32
        };
        self.store.data_mut().request = Some(RequestState {
            sent: headers.clone(),
            headers,
            ..RequestState::default()
        });
        self.store.data_mut().current = id;
        let mut result = self.call("proxy_on_context_create", &[id as i32, ROOT as i32]);
        if result.is_ok() {
            self.store.data_mut().current = id;
            result = self.call("proxy_on_request_headers", &[id as i32, count, 1]);
        }
        let mut forwarded = false;
        let mut action = result.unwrap_or(-1);
        while action >= 0 {
            let state = self.store.data();
            let request_state = state.request.as_ref();
            if request_state.is_some_and(|r| r.local.is_some()) {
                break;
            }
            if action == 0 || request_state.is_some_and(|r| r.resumed) {
                forwarded = true;
                break;
            }
            let Some(index) = state.pending.iter().position(|p| p.context == id) else {
                if profile.pause_without_callout_continues() {
                    self.store.data_mut().violations.push(
                        "a request paused with no callout goes on to the upstream unchecked".into(),
                    );
                    forwarded = true;
                } else {
                    self.store
                        .data_mut()
                        .violations
                        .push("a request paused with nothing of its own to resume it hangs".into());
                }
                break;
            };
            let pending = self.store.data_mut().pending.remove(index);
            let reply = (self.upstream)(&pending.callout);
            let context = if profile == Profile::Apisix { ROOT } else { id };
            self.deliver(context, id, pending.token, reply, false);
            self.store.data_mut().current = id;
            if self.poisoned {
                action = -1;
            } else if profile.pause_without_callout_continues() {
                // APISIX: the request goes on when the callback returns, unless it answered or
                // made another callout.
                let state = self.store.data();
                let more = state.pending.iter().any(|p| p.context == id);
                let local = state.request.as_ref().is_some_and(|r| r.local.is_some());
                if !more && !local {
                    forwarded = true;
                    break;
                }
            }
        }
        let outcome = self.store.data_mut().request.take().unwrap_or_default();
        let mut response = if self.poisoned {
            refused
        } else if let Some((status, headers, body)) = outcome.local.clone() {
            Response {
                status,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                upstream_saw: None,
                properties: Vec::new(),
            }
        } else if forwarded {
            let saw = if profile.ignores_request_header_changes() {
                outcome.sent.clone()
            } else {
                outcome.headers.clone()
            };
            Response {
                status: 200,
                headers: Vec::new(),
                body: "{}".into(),
                upstream_saw: Some(saw),
                properties: Vec::new(),
            }
        } else {
            Response {
                status: 504,
                headers: Vec::new(),
                body: "no answer".into(),
                upstream_saw: None,
                properties: Vec::new(),
            }
        };
        response.properties = outcome.properties.clone();
        // The response passes the filter's response callback, local responses included.
        if !self.poisoned {
            let mut response_headers = vec![(":status".to_owned(), response.status.to_string())];
            response_headers.extend(response.headers.iter().cloned());
            self.store.data_mut().request = Some(RequestState {
                response_headers,
                ..RequestState::default()
            });
            self.store.data_mut().current = id;
            let _ = self.call("proxy_on_response_headers", &[id as i32, 0, 1]);
            let _ = self.call("proxy_on_done", &[id as i32]);
            let _ = self.call("proxy_on_delete", &[id as i32]);
            if let Some(state) = self.store.data_mut().request.take() {
                response.headers = state
                    .response_headers
                    .into_iter()
                    .filter(|(n, _)| n != ":status")
                    .collect();
            }
        }
        self.store.data_mut().pending.retain(|p| p.context != id);
        self.store.data_mut().current = 0;
        response
    }

    pub fn logs(&self) -> &[String] {
        &self.store.data().logs
    }

    pub fn violations(&self) -> &[String] {
        &self.store.data().violations
    }

    pub fn metric(&self, name: &str) -> Option<i64> {
        self.store
            .data()
            .metrics
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
}
