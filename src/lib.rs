//! The proxy-wasm shell: moves bytes between the host and `filter_core`, which makes every
//! decision. Root context: configuration, host capabilities, background key refresh.
//! Request context: read the request, ask the core, fetch keys when told to, apply the answer.

mod capabilities;
mod clock;
mod filter;
mod headers;
mod host;
mod logging;
mod metrics;
mod plugin;
mod request;
mod respond;
mod worker;

proxy_wasm::main! {{
    logging::install();
    proxy_wasm::set_root_context(|id| Box::new(plugin::Plugin::new(id)));
}}
