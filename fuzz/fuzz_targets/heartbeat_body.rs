//! Any heartbeat body: facts or an error naming the field, never a panic; accepted facts stay
//! within the documented bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(facts) = outage_source_http::parse_heartbeat_body(data) {
        assert!(
            facts
                .boot_id
                .as_ref()
                .is_none_or(|b| b.chars().count() <= 64)
        );
        assert!(facts.fw.as_ref().is_none_or(|f| f.chars().count() <= 64));
    }
});
