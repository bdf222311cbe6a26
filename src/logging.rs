//! The `log` crate's macros write to the host's log, and a panic is logged (message and
//! location, at critical level) before the VM traps, so that no trap goes unexplained. Both
//! use the raw host call and ignore its status: logging never panics.

use crate::host::{self, LogLevel};

struct HostLogger;

impl log::Log for HostLogger {
    fn enabled(&self, _metadata: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = match record.level() {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        host::log(level, &record.args().to_string());
    }

    fn flush(&self) {}
}

static LOGGER: HostLogger = HostLogger;

/// Installs the logger and the panic hook; called once, when the module starts. The host
/// filters by level itself (`proxy_get_log_level` is not imported: Kong's host declares it
/// with another signature).
pub fn install() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Trace);
    std::panic::set_hook(Box::new(|panic| {
        host::log(LogLevel::Critical, &format!("auth0-wasm-filter {panic}"));
    }));
}
