//! The local issuer: OIDC discovery, JWKS and token minting over plain HTTP on
//! 127.0.0.1, standing in for an Auth0 tenant. Tests steer it through [`IssuerHandle`]:
//! rotate keys, take it down in several ways, bring it back, change caching headers,
//! serve broken documents, and count what was fetched.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::keys::Key;
use crate::server::{Action, Handler, Request, Response, Server};
use crate::token::{issuer_url, TokenBuilder, DEFAULT_LIFETIME, DEFAULT_SCOPE, DEFAULT_SUBJECT};
use crate::{thumbprint, DEFAULT_AUDIENCE, DEFAULT_DOMAIN};

pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const TOKEN_PATH: &str = "/oauth/token";
pub const DEFAULT_CACHE_CONTROL: &str = "public, max-age=600";

/// A malformed JSON document the issuer serves on request (truncated mid-array).
pub const MALFORMED_JSON: &str = "{\"keys\": [{\"kty\": \"RSA\",";

#[derive(Debug, Clone)]
pub struct IssuerOptions {
    /// Tenant domain; the issuer is `https://<domain>/`.
    pub domain: String,
    /// `aud` of minted tokens.
    pub audience: String,
    /// 0: any free port.
    pub port: u16,
    /// Keys published in the JWKS.
    pub keys: Vec<Key>,
    /// Key that signs tokens minted over HTTP or [`IssuerHandle::mint`] when the request
    /// names no algorithm.
    pub signing_key: Key,
    /// `Cache-Control` on discovery and JWKS responses; `None` sends no such header.
    pub cache_control: Option<String>,
    /// `issuer` in the discovery document; `None`: `https://<domain>/`.
    pub discovery_issuer: Option<String>,
    /// `jwks_uri` in the discovery document; `None`: `https://<domain>/.well-known/jwks.json`.
    pub jwks_uri: Option<String>,
    /// Default `expires_in` of minted tokens, in seconds.
    pub token_lifetime: u64,
}

impl Default for IssuerOptions {
    fn default() -> Self {
        IssuerOptions {
            domain: DEFAULT_DOMAIN.into(),
            audience: DEFAULT_AUDIENCE.into(),
            port: 0,
            keys: default_published_keys(),
            signing_key: Key::Rsa1,
            cache_control: Some(DEFAULT_CACHE_CONTROL.into()),
            discovery_issuer: None,
            jwks_uri: None,
            token_lifetime: DEFAULT_LIFETIME,
        }
    }
}

/// Every good issuer key except [`Key::Rsa2`], which rotation tests publish later.
pub fn default_published_keys() -> Vec<Key> {
    vec![Key::Rsa1, Key::Rsa3072, Key::Ec1, Key::Ec384, Key::Ed1]
}

/// The JWKS document publishing `keys` (each with `kid` and `use: sig`).
pub fn jwks_of(keys: &[Key]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
}

/// How the issuer fails while it is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Not listening: connects are refused, open connections are closed.
    Refuse,
    /// Every request is answered with this status.
    Status(u16),
    /// Requests are read and never answered (the client times out).
    Hang,
}

/// The documents whose responses a test can replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Discovery,
    Jwks,
}

/// A token request, as the JSON body of `POST /oauth/token` carries it. Every field is
/// optional: `{}` mints the default token.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenRequest {
    pub scope: Option<String>,
    pub sub: Option<String>,
    /// Overrides the issuer's audience.
    pub audience: Option<String>,
    /// Binds the token: `cnf.jkt`.
    pub jkt: Option<String>,
    /// Binds the token to this public JWK's thumbprint.
    pub dpop_jwk: Option<Value>,
    pub expires_in: Option<u64>,
    /// Algorithm to sign with; picks the matching test key.
    pub alg: Option<String>,
    /// Test key (by name) to sign with.
    pub key: Option<String>,
    /// Extra claims merged last.
    pub claims: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequestError {
    NotAnObject,
    WrongType(&'static str),
    UnknownField(String),
    UnknownKey(String),
    UnknownAlgorithm(String),
}

impl std::fmt::Display for TokenRequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenRequestError::NotAnObject => f.write_str("the body must be a JSON object"),
            TokenRequestError::WrongType(field) => write!(f, "{field} has the wrong type"),
            TokenRequestError::UnknownField(field) => write!(f, "unknown field {field:?}"),
            TokenRequestError::UnknownKey(name) => write!(f, "no test key named {name:?}"),
            TokenRequestError::UnknownAlgorithm(alg) => write!(f, "no test key signs {alg:?}"),
        }
    }
}

impl std::error::Error for TokenRequestError {}

impl TokenRequest {
    pub fn from_json(value: &Value) -> Result<TokenRequest, TokenRequestError> {
        let object = value.as_object().ok_or(TokenRequestError::NotAnObject)?;
        let mut request = TokenRequest::default();
        for (name, value) in object {
            let text = |field: &'static str| {
                value
                    .as_str()
                    .map(str::to_string)
                    .ok_or(TokenRequestError::WrongType(field))
            };
            match name.as_str() {
                "scope" => request.scope = Some(text("scope")?),
                "sub" => request.sub = Some(text("sub")?),
                "audience" | "aud" => request.audience = Some(text("audience")?),
                "jkt" => request.jkt = Some(text("jkt")?),
                "dpop_jwk" => {
                    if !value.is_object() {
                        return Err(TokenRequestError::WrongType("dpop_jwk"));
                    }
                    request.dpop_jwk = Some(value.clone());
                }
                "expires_in" => {
                    request.expires_in = Some(
                        value
                            .as_u64()
                            .ok_or(TokenRequestError::WrongType("expires_in"))?,
                    )
                }
                "alg" => request.alg = Some(text("alg")?),
                "key" => request.key = Some(text("key")?),
                "claims" => {
                    request.claims = value
                        .as_object()
                        .cloned()
                        .ok_or(TokenRequestError::WrongType("claims"))?
                }
                // Standard OAuth request members a client may send; this issuer grants anything.
                "grant_type" | "client_id" | "client_secret" => {}
                other => return Err(TokenRequestError::UnknownField(other.to_string())),
            }
        }
        Ok(request)
    }

    /// The `jkt` this request binds to, if any.
    pub fn binding(&self) -> Option<String> {
        self.jkt
            .clone()
            .or_else(|| self.dpop_jwk.as_ref().map(thumbprint))
    }
}

/// The test key that signs `alg` by default.
pub fn key_for_alg(alg: &str) -> Option<Key> {
    match alg {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => Some(Key::Rsa1),
        "ES256" => Some(Key::Ec1),
        "ES384" => Some(Key::Ec384),
        "EdDSA" => Some(Key::Ed1),
        _ => None,
    }
}

/// What `POST /oauth/token` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedToken {
    pub access_token: String,
    /// `Bearer`, or `DPoP` for a bound token.
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
}

impl MintedToken {
    pub fn to_json(&self) -> Value {
        json!({
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
        })
    }
}

/// Mints a token as an issuer for `domain`/`audience` signing with `default_key` would.
pub fn mint(
    domain: &str,
    audience: &str,
    default_key: Key,
    lifetime: u64,
    request: &TokenRequest,
) -> Result<MintedToken, TokenRequestError> {
    let (key, alg) = match (&request.key, &request.alg) {
        (Some(name), alg) => {
            let key =
                Key::from_name(name).map_err(|_| TokenRequestError::UnknownKey(name.clone()))?;
            (
                key,
                alg.clone().unwrap_or_else(|| key.default_alg().to_string()),
            )
        }
        (None, Some(alg)) => {
            let key = if default_key.signs(alg) {
                default_key
            } else {
                key_for_alg(alg).ok_or_else(|| TokenRequestError::UnknownAlgorithm(alg.clone()))?
            };
            (key, alg.clone())
        }
        (None, None) => (default_key, default_key.default_alg().to_string()),
    };
    let scope = request
        .scope
        .clone()
        .unwrap_or_else(|| DEFAULT_SCOPE.to_string());
    let expires_in = request.expires_in.unwrap_or(lifetime);
    let mut builder =
        TokenBuilder::for_issuer(domain, request.audience.as_deref().unwrap_or(audience))
            .key_alg(key, &alg)
            .sub(request.sub.as_deref().unwrap_or(DEFAULT_SUBJECT))
            .scope(&scope)
            .expires_in(i64::try_from(expires_in).unwrap_or(i64::MAX));
    let binding = request.binding();
    if let Some(jkt) = &binding {
        builder = builder.cnf_jkt(jkt);
    }
    for (name, value) in &request.claims {
        builder = builder.claim(name, value.clone());
    }
    Ok(MintedToken {
        access_token: builder.build(),
        token_type: if binding.is_some() { "DPoP" } else { "Bearer" },
        expires_in,
        scope,
    })
}

struct Settings {
    jwks: Value,
    cache_control: Option<String>,
    discovery_issuer: Option<String>,
    jwks_uri: Option<String>,
    canned_discovery: Option<Response>,
    canned_jwks: Option<Response>,
    outage: Option<Outage>,
    /// How long the discovery document and the JWKS take to be answered.
    delay: Duration,
}

struct IssuerState {
    domain: String,
    audience: String,
    signing_key: Key,
    token_lifetime: u64,
    settings: Mutex<Settings>,
    discovery_fetches: AtomicU64,
    jwks_fetches: AtomicU64,
    token_requests: AtomicU64,
}

impl IssuerState {
    fn settings(&self) -> MutexGuard<'_, Settings> {
        self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn discovery_document(&self, settings: &Settings) -> Value {
        let issuer = settings
            .discovery_issuer
            .clone()
            .unwrap_or_else(|| issuer_url(&self.domain));
        let jwks_uri = settings
            .jwks_uri
            .clone()
            .unwrap_or_else(|| format!("https://{}{JWKS_PATH}", self.domain));
        json!({
            "issuer": issuer,
            "jwks_uri": jwks_uri,
            "token_endpoint": format!("https://{}{TOKEN_PATH}", self.domain),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "ES384", "EdDSA"],
            "dpop_signing_alg_values_supported": ["ES256", "ES384", "EdDSA", "RS256", "PS256"],
        })
    }

    fn with_cache_control(&self, response: Response, settings: &Settings) -> Response {
        match &settings.cache_control {
            Some(value) => response.with_header("cache-control", value),
            None => response,
        }
    }

    fn token_endpoint(&self, request: &Request) -> Response {
        if request.method != "POST" {
            return Response::json(
                405,
                &json!({"error": "invalid_request", "error_description": "use POST"}),
            )
            .with_header("allow", "POST");
        }
        let body: Value = if request.body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            match serde_json::from_slice(&request.body) {
                Ok(body) => body,
                Err(e) => return invalid_request(&format!("the body is not JSON: {e}")),
            }
        };
        let mut token_request = match TokenRequest::from_json(&body) {
            Ok(token_request) => token_request,
            Err(e) => return invalid_request(&e.to_string()),
        };
        // RFC 9449 §5: a client asks for a bound token by sending a proof; this issuer
        // only reads the key out of it.
        if token_request.binding().is_none() {
            if let Some(proof) = request.header("dpop") {
                match proof_jwk(proof) {
                    Some(jwk) => token_request.dpop_jwk = Some(jwk),
                    None => return invalid_request("the DPoP header holds no readable jwk"),
                }
            }
        }
        match mint(
            &self.domain,
            &self.audience,
            self.signing_key,
            self.token_lifetime,
            &token_request,
        ) {
            Ok(minted) => {
                Response::json(200, &minted.to_json()).with_header("cache-control", "no-store")
            }
            Err(e) => invalid_request(&e.to_string()),
        }
    }
}

fn invalid_request(description: &str) -> Response {
    Response::json(
        400,
        &json!({"error": "invalid_request", "error_description": description}),
    )
}

fn proof_jwk(proof: &str) -> Option<Value> {
    let header = proof.split('.').next()?;
    let bytes = crate::b64url_decode(header).ok()?;
    let header: Value = serde_json::from_slice(&bytes).ok()?;
    header.get("jwk").filter(|jwk| jwk.is_object()).cloned()
}

impl Handler for IssuerState {
    fn handle(&self, request: &Request) -> Action {
        let path = request.path();
        match path {
            DISCOVERY_PATH => {
                self.discovery_fetches.fetch_add(1, Ordering::SeqCst);
            }
            JWKS_PATH => {
                self.jwks_fetches.fetch_add(1, Ordering::SeqCst);
            }
            TOKEN_PATH => {
                self.token_requests.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
        let delay = self.settings().delay;
        if !delay.is_zero() && matches!(path, DISCOVERY_PATH | JWKS_PATH) {
            std::thread::sleep(delay);
        }
        let settings = self.settings();
        match settings.outage {
            Some(Outage::Hang) => return Action::Hold,
            Some(Outage::Status(status)) => {
                return Action::Respond(Response::json(
                    status,
                    &json!({"error": "temporarily_unavailable", "error_description": "the issuer is down"}),
                ))
            }
            // Requests that were already read when the listener went away.
            Some(Outage::Refuse) => return Action::Close,
            None => {}
        }
        let response = match path {
            DISCOVERY_PATH => match &settings.canned_discovery {
                Some(canned) => canned.clone(),
                None => self.with_cache_control(
                    Response::json(200, &self.discovery_document(&settings)),
                    &settings,
                ),
            },
            JWKS_PATH => match &settings.canned_jwks {
                Some(canned) => canned.clone(),
                None => self.with_cache_control(Response::json(200, &settings.jwks), &settings),
            },
            TOKEN_PATH => {
                drop(settings);
                self.token_endpoint(request)
            }
            _ => Response::json(
                404,
                &json!({"error": "not_found", "error_description": "no such path"}),
            ),
        };
        Action::Respond(response)
    }
}

/// Starts issuers.
pub struct Issuer;

impl Issuer {
    pub fn start(options: IssuerOptions) -> io::Result<IssuerHandle> {
        let state = Arc::new(IssuerState {
            domain: options.domain,
            audience: options.audience,
            signing_key: options.signing_key,
            token_lifetime: options.token_lifetime,
            settings: Mutex::new(Settings {
                jwks: jwks_of(&options.keys),
                cache_control: options.cache_control,
                discovery_issuer: options.discovery_issuer,
                jwks_uri: options.jwks_uri,
                canned_discovery: None,
                canned_jwks: None,
                outage: None,
                delay: Duration::ZERO,
            }),
            discovery_fetches: AtomicU64::new(0),
            jwks_fetches: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
        });
        let server = Server::start(options.port, Arc::clone(&state) as Arc<dyn Handler>)?;
        Ok(IssuerHandle { server, state })
    }

    /// An issuer with the default options on any free port.
    pub fn start_default() -> io::Result<IssuerHandle> {
        Issuer::start(IssuerOptions::default())
    }
}

/// A running issuer; stops when dropped.
pub struct IssuerHandle {
    server: Server,
    state: Arc<IssuerState>,
}

impl IssuerHandle {
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    pub fn domain(&self) -> &str {
        &self.state.domain
    }

    pub fn audience(&self) -> &str {
        &self.state.audience
    }

    /// `https://<domain>/`.
    pub fn issuer(&self) -> String {
        issuer_url(&self.state.domain)
    }

    /// A token builder for this issuer's domain and audience.
    pub fn token_builder(&self) -> TokenBuilder {
        TokenBuilder::for_issuer(&self.state.domain, &self.state.audience)
    }

    /// Mints a token as `POST /oauth/token` would, without HTTP.
    pub fn mint(&self, request: &TokenRequest) -> Result<MintedToken, TokenRequestError> {
        mint(
            &self.state.domain,
            &self.state.audience,
            self.state.signing_key,
            self.state.token_lifetime,
            request,
        )
    }

    /// Publishes exactly `keys` from now on.
    pub fn publish(&self, keys: &[Key]) {
        self.state.settings().jwks = jwks_of(keys);
    }

    /// Publishes this document as the JWKS (any JSON, e.g. a key with `use: enc`).
    pub fn publish_jwks(&self, jwks: Value) {
        self.state.settings().jwks = jwks;
    }

    pub fn published_jwks(&self) -> Value {
        self.state.settings().jwks.clone()
    }

    pub fn set_cache_control(&self, value: Option<&str>) {
        self.state.settings().cache_control = value.map(str::to_string);
    }

    /// The discovery document's `issuer`; `None` restores `https://<domain>/`.
    pub fn set_discovery_issuer(&self, issuer: Option<&str>) {
        self.state.settings().discovery_issuer = issuer.map(str::to_string);
    }

    /// The discovery document's `jwks_uri`; `None` restores the default.
    pub fn set_jwks_uri(&self, uri: Option<&str>) {
        self.state.settings().jwks_uri = uri.map(str::to_string);
    }

    /// Answers `endpoint` with this response until [`IssuerHandle::serve_normally`].
    pub fn serve_canned(&self, endpoint: Endpoint, response: Response) {
        let mut settings = self.state.settings();
        match endpoint {
            Endpoint::Discovery => settings.canned_discovery = Some(response),
            Endpoint::Jwks => settings.canned_jwks = Some(response),
        }
    }

    /// 200 with `content-type: application/json` and [`MALFORMED_JSON`].
    pub fn serve_malformed_json(&self, endpoint: Endpoint) {
        self.serve_canned(
            endpoint,
            Response::new(200, "application/json", MALFORMED_JSON),
        );
    }

    pub fn serve_normally(&self, endpoint: Endpoint) {
        let mut settings = self.state.settings();
        match endpoint {
            Endpoint::Discovery => settings.canned_discovery = None,
            Endpoint::Jwks => settings.canned_jwks = None,
        }
    }

    /// Takes the issuer down; returns once connects are refused (for [`Outage::Refuse`]).
    pub fn go_down(&self, outage: Outage) {
        self.state.settings().outage = Some(outage);
        match outage {
            Outage::Refuse => self.server.set_accepting(false),
            Outage::Status(_) | Outage::Hang => self.server.set_accepting(true),
        }
    }

    /// Answers the discovery document and the JWKS only after `delay` from now on.
    pub fn answer_after(&self, delay: Duration) {
        self.state.settings().delay = delay;
    }

    /// Ends an outage: listening again, held requests let go (unanswered).
    pub fn come_back(&self) {
        self.state.settings().outage = None;
        self.server.set_accepting(true);
        self.server.release_held();
    }

    pub fn outage(&self) -> Option<Outage> {
        self.state.settings().outage
    }

    /// Closes every open connection (clients must reconnect).
    pub fn close_connections(&self) {
        self.server.close_connections();
    }

    /// Requests for the discovery document received so far (answered or not).
    pub fn discovery_fetches(&self) -> u64 {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }

    /// Requests for the JWKS received so far (answered or not).
    pub fn jwks_fetches(&self) -> u64 {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn token_requests(&self) -> u64 {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    pub fn reset_counters(&self) {
        self.state.discovery_fetches.store(0, Ordering::SeqCst);
        self.state.jwks_fetches.store(0, Ordering::SeqCst);
        self.state.token_requests.store(0, Ordering::SeqCst);
    }

    /// Waits until at least `count` JWKS requests arrived; false on timeout.
    pub fn wait_for_jwks_fetches(&self, count: u64, timeout: Duration) -> bool {
        wait_until(timeout, || self.jwks_fetches() >= count)
    }

    /// Waits until at least `count` discovery requests arrived; false on timeout.
    pub fn wait_for_discovery_fetches(&self, count: u64, timeout: Duration) -> bool {
        wait_until(timeout, || self.discovery_fetches() >= count)
    }
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
