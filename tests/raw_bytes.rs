//! Header bytes that are not UTF-8 reach the filter as they are: they must be refused like
//! any other malformed credential, and the VM must keep serving afterwards.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `head` (request line and headers, without the final blank line) as raw bytes and
/// returns the status code.
fn raw_status(port: u16, head: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(head).unwrap();
    stream
        .write_all(b"Host: gateway\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn non_utf8_header_bytes_are_refused_and_the_vm_keeps_serving() {
    let stack = Stack::start();
    let g = &stack.gateway;
    let port = g.port();
    let token = stack.issuer.token_builder().build();
    let cases: [(&[u8], u16); 4] = [
        (
            b"GET /api/private HTTP/1.1\r\nAuthorization: Bearer \xff\xfe\r\n",
            401,
        ),
        (
            b"GET /api/private HTTP/1.1\r\nAuthorization: \xc3\x28 abc\r\n",
            401,
        ),
        (b"GET /api/public HTTP/1.1\r\nX-Auth-Sub: \xff\r\n", 200),
        (
            b"GET /api/private HTTP/1.1\r\nAuthorization: DPoP abc\r\nDPoP: \xff.\xfe.\xfd\r\n",
            401,
        ),
    ];
    for (head, want) in cases {
        let got = raw_status(port, head);
        assert_eq!(got, want, "{}", String::from_utf8_lossy(head));
        // A trapped VM would fail every later request: the next good one must pass.
        let ok = g.send(&Request::get("/api/private").bearer(&token));
        assert_eq!(ok.status, 200, "after {}", String::from_utf8_lossy(head));
    }
}
