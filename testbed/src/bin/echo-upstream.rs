//! An upstream that answers every request 200 with the request it received, as JSON:
//! `{"method", "path", "headers": {name: value | [values]}}`.
//!
//!   echo-upstream [--port 8082]

use std::process::ExitCode;

use testbed::Echo;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = match args.as_slice() {
        [] => Ok(8082),
        [flag, value] if flag == "--port" => value
            .parse::<u16>()
            .map_err(|_| format!("bad port {value:?}")),
        [flag] if flag.starts_with("--port=") => {
            let value = &flag["--port=".len()..];
            value
                .parse::<u16>()
                .map_err(|_| format!("bad port {value:?}"))
        }
        _ => Err("usage: echo-upstream [--port 8082]".to_string()),
    };
    let port = match port {
        Ok(port) => port,
        Err(message) => {
            eprintln!("echo-upstream: {message}");
            return ExitCode::from(2);
        }
    };
    let echo = match Echo::start(port) {
        Ok(echo) => echo,
        Err(e) => {
            eprintln!("echo-upstream: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("echo upstream on http://127.0.0.1:{}", echo.port());
    loop {
        std::thread::park();
    }
}
