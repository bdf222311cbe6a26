//! A small HTTP/1.1 server on std::net with one thread per connection, shared by the
//! issuer and the echo upstream. Besides answering, it can stop listening (so connects
//! are refused), close every open connection, and hold requests unanswered (to make a
//! client time out): the failure modes outage tests need.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const MAX_LINE: usize = 16 * 1024;
const MAX_HEADERS: usize = 256;
const MAX_BODY: usize = 4 * 1024 * 1024;
/// A held request is let go after this long even if nobody releases it, so a test that
/// forgets cannot leak threads for the whole run.
const MAX_HANG: Duration = Duration::from_secs(120);
const STATE_CHANGE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target exactly as sent (path and query, undecoded).
    pub target: String,
    pub version: String,
    /// Header lines in arrival order, names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    fn keep_alive(&self) -> bool {
        let connection = self.header("connection").map(str::to_ascii_lowercase);
        match connection.as_deref() {
            Some(value) if value.contains("close") => false,
            Some(value) if value.contains("keep-alive") => true,
            _ => self.version != "HTTP/1.0",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send only this many bytes of the body (the `content-length` still announces all of
    /// it), then close the connection: a response reset mid-body.
    pub cut_after: Option<usize>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            cut_after: None,
        }
    }

    /// This response, reset after `bytes` bytes of its body.
    pub fn cut_after(mut self, bytes: usize) -> Response {
        self.cut_after = Some(bytes);
        self
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response::new(status, "application/json", value.to_string())
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What to do with one request.
pub enum Action {
    Respond(Response),
    /// Close the connection without answering.
    Close,
    /// Keep the connection open without answering until [`Server::release_held`] or
    /// the server stops, then close it.
    Hold,
}

pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: &Request) -> Action;
}

struct State {
    accepting: bool,
    bound: bool,
    stopping: bool,
    hold_generation: u64,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    connections: Mutex<HashMap<u64, TcpStream>>,
    next_connection: AtomicU64,
    handler: Arc<dyn Handler>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn close_all_connections(&self) {
        let connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        for stream in connections.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

pub struct Server {
    shared: Arc<Shared>,
    port: u16,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds 127.0.0.1:`port` (0: any free port) and serves until dropped.
    pub fn start(port: u16, handler: Arc<dyn Handler>) -> io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                accepting: true,
                bound: true,
                stopping: false,
                hold_generation: 0,
            }),
            changed: Condvar::new(),
            connections: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(0),
            handler,
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("http-accept-{port}"))
                .spawn(move || accept_loop(shared, listener, port))?
        };
        Ok(Server {
            shared,
            port,
            acceptor: Some(acceptor),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `false`: stop listening (connects are refused) and close every open connection.
    /// `true`: listen again on the same port. Returns once the change is in effect.
    pub fn set_accepting(&self, accepting: bool) {
        {
            let mut state = self.shared.state();
            if state.accepting == accepting {
                return;
            }
            state.accepting = accepting;
            self.shared.changed.notify_all();
        }
        if !accepting {
            self.wake_acceptor();
            self.shared.close_all_connections();
        }
        let deadline = Instant::now() + STATE_CHANGE_TIMEOUT;
        let mut state = self.shared.state();
        while state.bound != accepting && Instant::now() < deadline {
            let (next, _) = self
                .shared
                .changed
                .wait_timeout(state, Duration::from_millis(50))
                .unwrap_or_else(|p| p.into_inner());
            state = next;
        }
    }

    /// Lets every held request go (their connections are closed unanswered).
    pub fn release_held(&self) {
        let mut state = self.shared.state();
        state.hold_generation += 1;
        self.shared.changed.notify_all();
    }

    /// Closes every open connection, e.g. so a client's pooled connections cannot
    /// outlive a change of behaviour.
    pub fn close_connections(&self) {
        self.shared.close_all_connections();
    }

    fn wake_acceptor(&self) {
        let _ = TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_secs(1),
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let was_bound = {
            let mut state = self.shared.state();
            state.stopping = true;
            state.hold_generation += 1;
            self.shared.changed.notify_all();
            state.bound
        };
        if was_bound {
            self.wake_acceptor();
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.shared.close_all_connections();
    }
}

fn accept_loop(shared: Arc<Shared>, first: TcpListener, port: u16) {
    let mut listener = Some(first);
    loop {
        if let Some(bound) = listener.take() {
            serve_listener(&shared, &bound);
            drop(bound);
        }
        let mut state = shared.state();
        state.bound = false;
        shared.changed.notify_all();
        while !state.accepting && !state.stopping {
            state = shared
                .changed
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
        if state.stopping {
            return;
        }
        drop(state);
        // The port was ours a moment ago; rebinding can only fail if something else
        // grabbed it meanwhile, so keep trying briefly rather than give up at once.
        let deadline = Instant::now() + STATE_CHANGE_TIMEOUT;
        while listener.is_none() && Instant::now() < deadline {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(bound) => listener = Some(bound),
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
        let mut state = shared.state();
        state.bound = listener.is_some();
        shared.changed.notify_all();
        if listener.is_none() {
            state.accepting = false;
        }
    }
}

fn serve_listener(shared: &Arc<Shared>, listener: &TcpListener) {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) => {
                if shared.state().stopping {
                    return;
                }
                thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        {
            let state = shared.state();
            if state.stopping || !state.accepting {
                return;
            }
        }
        let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            shared
                .connections
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, clone);
        }
        let shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name("http-conn".into())
            .spawn(move || {
                serve_connection(&shared, stream);
                shared
                    .connections
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
            });
        if spawned.is_err() {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

fn serve_connection(shared: &Shared, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => break,
            Err(_) => {
                let response = Response::new(400, "text/plain", "bad request\n");
                let _ = write_response(&mut writer, &response, false);
                break;
            }
        };
        {
            let state = shared.state();
            if state.stopping || !state.accepting {
                break;
            }
        }
        match shared.handler.handle(&request) {
            Action::Respond(response) => {
                let keep_alive = request.keep_alive();
                if write_response(&mut writer, &response, keep_alive).is_err() || !keep_alive {
                    break;
                }
            }
            Action::Close => break,
            Action::Hold => {
                hold(shared);
                break;
            }
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

fn hold(shared: &Shared) {
    let deadline = Instant::now() + MAX_HANG;
    let mut state = shared.state();
    let generation = state.hold_generation;
    while state.hold_generation == generation && !state.stopping {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let (next, _) = shared
            .changed
            .wait_timeout(state, deadline - now)
            .unwrap_or_else(|p| p.into_inner());
        state = next;
    }
}

/// Reads one request; `Ok(None)` when the peer closed the connection between requests.
pub fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let line = match read_line(reader)? {
        Some(line) => line,
        None => return Ok(None),
    };
    let mut parts = line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && !t.is_empty() => (m, t, v),
        _ => return Err(invalid("malformed request line")),
    };
    let headers = read_headers(reader)?;
    let mut request = Request {
        method: method.into(),
        target: target.into(),
        version: version.into(),
        headers,
        body: Vec::new(),
    };
    request.body = read_body(reader, &request.headers)?;
    Ok(Some(request))
}

/// Reads header lines up to the blank line; names lower-cased.
pub fn read_headers(reader: &mut impl BufRead) -> io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let line =
            read_line(reader)?.ok_or_else(|| invalid("connection closed inside the headers"))?;
        if line.is_empty() {
            return Ok(headers);
        }
        if headers.len() >= MAX_HEADERS {
            return Err(invalid("too many headers"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("header line without a colon"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
}

/// Reads a body framed by `content-length` or `transfer-encoding: chunked`; no framing
/// means no body (requests) — callers reading a response without framing read to EOF
/// themselves.
pub fn read_body(reader: &mut impl BufRead, headers: &[(String, String)]) -> io::Result<Vec<u8>> {
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return read_chunked(reader);
    }
    match find("content-length") {
        Some(length) => {
            let length: usize = length.parse().map_err(|_| invalid("bad content-length"))?;
            if length > MAX_BODY {
                return Err(invalid("body too large"));
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body)?;
            Ok(body)
        }
        None => Ok(Vec::new()),
    }
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line =
            read_line(reader)?.ok_or_else(|| invalid("connection closed inside a chunked body"))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the blank line.
            read_headers(reader)?;
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(invalid("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(body.get_mut(start..).unwrap_or_default())?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// One line without its CRLF (or LF); `None` at EOF before any byte.
pub fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut bytes = Vec::new();
    let read = reader
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut bytes)?;
    if read == 0 {
        return Ok(None);
    }
    if bytes.last() != Some(&b'\n') {
        return Err(invalid(if read > MAX_LINE {
            "line too long"
        } else {
            "connection closed mid-line"
        }));
    }
    bytes.pop();
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

fn write_response(
    writer: &mut impl Write,
    response: &Response,
    keep_alive: bool,
) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    )
    .into_bytes();
    for (name, value) in &response.headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\n", response.body.len()).as_bytes());
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let sent = response
        .cut_after
        .unwrap_or(usize::MAX)
        .min(response.body.len());
    out.extend_from_slice(response.body.get(..sent).unwrap_or_default());
    writer.write_all(&out)?;
    writer.flush()?;
    if response.cut_after.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "cut mid-body",
        ));
    }
    Ok(())
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}
