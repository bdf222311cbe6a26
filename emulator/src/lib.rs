//! A proxy-wasm host that runs the real filter module (`dist/auth0_wasm_filter.wasm`) the way
//! Envoy's, Kong's and APISIX's hosts do, so that the contract can be tested on hosts that
//! cannot be installed here. Each host's differences are in [`Profile`]. What would crash or
//! fail open on the real host is recorded as a violation (and ends the call where the real
//! host would crash): tests assert there are none.
//!
//! Requests run one at a time per worker; a callout is answered by the test's [`Upstream`]
//! as soon as the module makes it. Interleavings of waiting requests are the core's unit
//! tests' business; this host checks what the module asks of the host.

mod abi;
mod profile;

pub use profile::Profile;

use abi::{Reply, Vm};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A callout the module made: the host (cluster or `host:port`) and its headers.
#[derive(Debug, Clone)]
pub struct Callout {
    pub upstream: String,
    pub headers: Vec<(String, String)>,
}

impl Callout {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Answers callouts: `None` when nothing answers (refused, reset, timed out).
pub type Upstream = Rc<dyn Fn(&Callout) -> Option<Reply>>;

pub use abi::Reply as CalloutReply;

/// A client request. `host` is the client's `Host`.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub host: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn get(host: &str, path: &str) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
            host: host.into(),
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }
}

/// What the client got, and what the upstream saw if the request reached it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub upstream_saw: Option<Vec<(String, String)>>,
    /// What the filter set with `proxy_set_property` (Envoy's filter state), in order.
    pub properties: Vec<(String, String)>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Shared data of a gateway: key → (value, revision).
pub type SharedKv = Rc<RefCell<BTreeMap<String, (Vec<u8>, u32)>>>;

/// A gateway: one emulated host with its workers, each a VM with the module loaded.
pub struct Gateway {
    profile: Profile,
    workers: Vec<Vm>,
}

impl Gateway {
    /// Loads `module` into `workers` VMs and configures them as `profile`'s host does.
    /// Fails with the host's own error when the module cannot load.
    pub fn start(
        profile: Profile,
        module: &[u8],
        config: &str,
        workers: usize,
        upstream: Upstream,
    ) -> Result<Gateway, String> {
        let shared: SharedKv = Rc::default();
        let workers = (0..workers)
            .map(|_| {
                Vm::load(
                    profile,
                    module,
                    config.as_bytes(),
                    Rc::clone(&shared),
                    Rc::clone(&upstream),
                )
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mut gateway = Gateway { profile, workers };
        if !profile.configures_lazily() {
            for vm in &mut gateway.workers {
                vm.configure();
            }
        }
        Ok(gateway)
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Whether every worker accepted its configuration (on APISIX's host: once a request
    /// made it configure).
    pub fn configured(&self) -> bool {
        self.workers.iter().all(Vm::configured)
    }

    /// Sends `request` to worker `worker`.
    pub fn send(&mut self, worker: usize, request: &Request) -> Response {
        match self.workers.get_mut(worker) {
            Some(vm) => vm.send(request),
            None => Response {
                status: 0,
                headers: Vec::new(),
                body: String::new(),
                upstream_saw: None,
                properties: Vec::new(),
            },
        }
    }

    /// Delivers the answer to a callout worker `worker` never made (see
    /// [`Vm::answer_unknown_callout`]).
    pub fn answer_unknown_callout(&mut self, worker: usize) {
        if let Some(vm) = self.workers.get_mut(worker) {
            vm.answer_unknown_callout();
        }
    }

    /// Runs one tick on every worker that set a tick period, with the callouts it makes.
    pub fn tick(&mut self) {
        for vm in &mut self.workers {
            vm.tick();
        }
    }

    /// Every log line, as `worker level message`.
    pub fn logs(&self) -> Vec<String> {
        self.workers
            .iter()
            .enumerate()
            .flat_map(|(i, vm)| vm.logs().iter().map(move |l| format!("{i} {l}")))
            .collect()
    }

    /// What would have crashed, trapped or failed open on the real host.
    pub fn violations(&self) -> Vec<String> {
        self.workers
            .iter()
            .enumerate()
            .flat_map(|(i, vm)| {
                vm.violations()
                    .iter()
                    .map(move |v| format!("worker {i}: {v}"))
            })
            .collect()
    }

    /// The value of a metric by its full name, summed over workers (absent: `None`).
    pub fn metric(&self, name: &str) -> Option<i64> {
        let values: Vec<i64> = self
            .workers
            .iter()
            .filter_map(|vm| vm.metric(name))
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }
}
