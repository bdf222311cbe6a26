//! The whole decision for one request, with an in-memory replay store (see
//! `filter_fuzz::decide` for the input's lines).
#![no_main]
use filter_core::config::Config;
use std::rc::Rc;

thread_local! {
    static CONFIG: Option<Rc<Config>> = filter_fuzz::authorize_config();
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(config) = CONFIG.with(Clone::clone) else {
        panic!("the authorize target's configuration must parse");
    };
    let _ = filter_fuzz::decide(config, data);
});
