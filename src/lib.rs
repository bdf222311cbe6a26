//! The proxy-wasm shell: moves bytes between the host and `filter_core`, which makes every
//! decision. Root context: configuration, key fetching, ticks. Request context: read the
//! request, ask the core, apply the answer.

mod clock;
mod filter;
mod headers;
mod metrics;
mod plugin;
mod respond;
mod worker;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Trace);
    proxy_wasm::set_root_context(|context_id| Box::new(plugin::Plugin::new(context_id)));
}}
