//! The plugin configuration, as the host hands it over.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(config) = filter_core::config::parse(data) {
        let _ = filter_core::authorize::Gate::from_config(std::rc::Rc::new(config));
    }
});
