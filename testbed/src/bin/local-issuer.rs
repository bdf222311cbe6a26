//! The local issuer for the demo and for curl users.
//!
//!   local-issuer serve [--port 8081] [--domain issuer.local] [--audience https://api.example.com]
//!   local-issuer token [--scope S] [--sub S] [--jkt T] [--alg A] [--expires-in SECS] [--domain D] [--audience A]
//!   local-issuer dpop-token [--scope S] [--sub S] [--key client-1] [--domain D] [--audience A]
//!   local-issuer proof --htm GET --htu URL [--token T] [--nonce N] [--key client-1] [--alg ES256]
//!   local-issuer thumbprint [--key client-1]
//!
//! Tokens and proofs go to stdout alone, so `$(local-issuer token)` works in a shell.

use std::collections::HashMap;
use std::process::ExitCode;

use testbed::issuer::{mint, TokenRequest, DISCOVERY_PATH, JWKS_PATH, TOKEN_PATH};
use testbed::{Issuer, IssuerOptions, Key, ProofBuilder, DEFAULT_AUDIENCE, DEFAULT_DOMAIN};

const USAGE: &str = "usage:
  local-issuer serve [--port 8081] [--domain issuer.local] [--audience https://api.example.com]
  local-issuer token [--scope S] [--sub S] [--jkt T] [--alg A] [--expires-in SECS] [--domain D] [--audience A]
  local-issuer dpop-token [--scope S] [--sub S] [--key client-1] [--domain D] [--audience A]
  local-issuer proof --htm GET --htu URL [--token T] [--nonce N] [--key client-1] [--alg ES256]
  local-issuer thumbprint [--key client-1]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("local-issuer: {message}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (command, rest) = args.split_first().ok_or("no command given")?;
    match command.as_str() {
        "serve" => serve(&Flags::parse(rest, &["port", "domain", "audience"])?),
        "token" => token(&Flags::parse(
            rest,
            &[
                "scope",
                "sub",
                "jkt",
                "alg",
                "expires-in",
                "domain",
                "audience",
                "key",
            ],
        )?),
        "dpop-token" => dpop_token(&Flags::parse(
            rest,
            &["scope", "sub", "key", "domain", "audience", "expires-in"],
        )?),
        "proof" => proof(&Flags::parse(
            rest,
            &["htm", "htu", "token", "nonce", "key", "alg"],
        )?),
        "thumbprint" => {
            let flags = Flags::parse(rest, &["key"])?;
            println!("{}", flags.key("key", Key::Client1)?.thumbprint());
            Ok(())
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

struct Flags(HashMap<String, String>);

impl Flags {
    fn parse(args: &[String], known: &[&str]) -> Result<Flags, String> {
        let mut values = HashMap::new();
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let name = arg
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {arg:?}"))?;
            let (name, value) = match name.split_once('=') {
                Some((name, value)) => (name.to_string(), value.to_string()),
                None => (
                    name.to_string(),
                    iter.next()
                        .ok_or_else(|| format!("--{name} needs a value"))?
                        .clone(),
                ),
            };
            if !known.contains(&name.as_str()) {
                return Err(format!("unknown option --{name}"));
            }
            values.insert(name, value);
        }
        Ok(Flags(values))
    }

    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    fn or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }

    fn required(&self, name: &str) -> Result<String, String> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    fn number(&self, name: &str) -> Result<Option<u64>, String> {
        self.get(name)
            .map(|v| v.parse().map_err(|_| format!("--{name} must be a number")))
            .transpose()
    }

    fn key(&self, name: &str, default: Key) -> Result<Key, String> {
        match self.get(name) {
            Some(value) => Key::from_name(&value).map_err(|e| e.to_string()),
            None => Ok(default),
        }
    }
}

fn serve(flags: &Flags) -> Result<(), String> {
    let port: u16 = flags
        .or("port", "8081")
        .parse()
        .map_err(|_| "--port must be a port number")?;
    let options = IssuerOptions {
        domain: flags.or("domain", DEFAULT_DOMAIN),
        audience: flags.or("audience", DEFAULT_AUDIENCE),
        port,
        ..IssuerOptions::default()
    };
    let keys: Vec<&str> = options.keys.iter().map(|k| k.kid()).collect();
    let issuer = Issuer::start(options.clone())
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let base = format!("http://127.0.0.1:{}", issuer.port());
    println!(
        "local issuer for {} (audience {})",
        issuer.issuer(),
        issuer.audience()
    );
    println!("  discovery  GET  {base}{DISCOVERY_PATH}");
    println!(
        "  JWKS       GET  {base}{JWKS_PATH}   keys: {}",
        keys.join(", ")
    );
    println!("  tokens     POST {base}{TOKEN_PATH}   body e.g. {{\"scope\": \"read:messages\", \"sub\": \"user_123\"}}");
    println!("             (add \"jkt\": \"<thumbprint>\" for a DPoP-bound token)");
    loop {
        std::thread::park();
    }
}

fn token_request(flags: &Flags) -> Result<TokenRequest, String> {
    Ok(TokenRequest {
        scope: flags.get("scope"),
        sub: flags.get("sub"),
        jkt: flags.get("jkt"),
        alg: flags.get("alg"),
        key: flags.get("key"),
        expires_in: flags.number("expires-in")?,
        ..TokenRequest::default()
    })
}

fn print_token(flags: &Flags, request: &TokenRequest) -> Result<(), String> {
    let options = IssuerOptions::default();
    let minted = mint(
        &flags.or("domain", DEFAULT_DOMAIN),
        &flags.or("audience", DEFAULT_AUDIENCE),
        options.signing_key,
        options.token_lifetime,
        request,
    )
    .map_err(|e| e.to_string())?;
    println!("{}", minted.access_token);
    Ok(())
}

fn token(flags: &Flags) -> Result<(), String> {
    print_token(flags, &token_request(flags)?)
}

fn dpop_token(flags: &Flags) -> Result<(), String> {
    let client = flags.key("key", Key::Client1)?;
    let request = TokenRequest {
        scope: flags.get("scope"),
        sub: flags.get("sub"),
        jkt: Some(client.thumbprint()),
        expires_in: flags.number("expires-in")?,
        ..TokenRequest::default()
    };
    print_token(flags, &request)
}

fn proof(flags: &Flags) -> Result<(), String> {
    let key = flags.key("key", Key::Client1)?;
    let mut builder = ProofBuilder::new(key, &flags.required("htm")?, &flags.required("htu")?);
    if let Some(alg) = flags.get("alg") {
        builder = builder.alg(&alg);
    }
    if let Some(token) = flags.get("token") {
        builder = builder.access_token(&token);
    }
    if let Some(nonce) = flags.get("nonce") {
        builder = builder.nonce(&nonce);
    }
    println!("{}", builder.build());
    Ok(())
}
