//! A raw HTTP/1.1 client over `TcpStream`: it sends exactly the request line and header
//! lines it is given (duplicates, odd casing, `..` and `%2F` in paths, several
//! `Authorization` lines), which ordinary clients normalise away.

use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use crate::echo::Echoed;
use crate::server::{read_body, read_headers, read_line};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Written verbatim into the request line.
    pub target: String,
    /// Written verbatim, in order, after the default headers.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Add `host`, `content-length` (when there is a body) and, for one-shot sends,
    /// `connection: close`, unless the request already has them.
    pub default_headers: bool,
    pub timeout: Duration,
}

impl Request {
    pub fn new(method: &str, target: &str) -> Request {
        Request {
            method: method.into(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
            default_headers: true,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn get(target: &str) -> Request {
        Request::new("GET", target)
    }

    pub fn post(target: &str) -> Request {
        Request::new("POST", target)
    }

    /// Appends a header line (an existing one of the same name is kept).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Request {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// `Authorization: DPoP <token>` and `DPoP: <proof>`.
    pub fn dpop(self, token: &str, proof: &str) -> Request {
        self.header("Authorization", &format!("DPoP {token}"))
            .header("DPoP", proof)
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// A JSON body with its content type.
    pub fn json(self, value: &Value) -> Request {
        self.header("Content-Type", "application/json")
            .body(value.to_string())
    }

    /// Sends only what was set explicitly: no `host`, no `content-length`.
    pub fn raw(mut self) -> Request {
        self.default_headers = false;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = timeout;
        self
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    fn encode(&self, port: u16, close: bool) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        if self.default_headers {
            if !self.has_header("host") {
                out.push_str(&format!("host: 127.0.0.1:{port}\r\n"));
            }
            if close && !self.has_header("connection") {
                out.push_str("connection: close\r\n");
            }
            let needs_length =
                !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH");
            if needs_length
                && !self.has_header("content-length")
                && !self.has_header("transfer-encoding")
            {
                out.push_str(&format!("content-length: {}\r\n", self.body.len()));
            }
        }
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Header lines in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The request as the echo upstream saw it, if this response came from it.
    pub fn echoed(&self) -> Option<Echoed> {
        Echoed::parse(&self.body)
    }
}

/// Sends `request` to 127.0.0.1:`port` on a new connection and reads the response.
pub fn send(port: u16, request: &Request) -> io::Result<Response> {
    let mut connection = Connection::open_with_timeout(port, request.timeout)?;
    connection.exchange(request, true)
}

/// `GET target` with default headers.
pub fn get(port: u16, target: &str) -> io::Result<Response> {
    send(port, &Request::get(target))
}

/// One kept-alive connection, for several requests in a row on the same socket (and so
/// on the same Envoy worker).
pub struct Connection {
    port: u16,
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Connection {
    pub fn open(port: u16) -> io::Result<Connection> {
        Connection::open_with_timeout(port, DEFAULT_TIMEOUT)
    }

    pub fn open_with_timeout(port: u16, timeout: Duration) -> io::Result<Connection> {
        let stream =
            TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Connection {
            port,
            writer: stream,
            reader,
        })
    }

    /// Sends on this connection without asking the server to close it.
    pub fn send(&mut self, request: &Request) -> io::Result<Response> {
        self.exchange(request, false)
    }

    fn exchange(&mut self, request: &Request, close: bool) -> io::Result<Response> {
        self.writer.set_read_timeout(Some(request.timeout))?;
        self.writer.write_all(&request.encode(self.port, close))?;
        self.writer.flush()?;
        read_response(&mut self.reader, &request.method)
    }
}

fn read_response(reader: &mut BufReader<TcpStream>, method: &str) -> io::Result<Response> {
    let line = read_line(reader)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a response",
        )
    })?;
    let mut parts = line.splitn(3, ' ');
    let _version = parts.next();
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad status line {line:?}"),
        )
    })?;
    let reason = parts.next().unwrap_or("").to_string();
    let headers = read_headers(reader)?;
    let no_body =
        method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status);
    let framed = headers
        .iter()
        .any(|(n, _)| n == "content-length" || n == "transfer-encoding");
    let body = if no_body {
        Vec::new()
    } else if framed {
        read_body(reader, &headers)?
    } else {
        let mut body = Vec::new();
        reader.read_to_end(&mut body)?;
        body
    };
    Ok(Response {
        status,
        reason,
        headers,
        body,
    })
}
