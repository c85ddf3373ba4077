//! Every JSON body validator: tasks, updates, retries, periodic tasks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskcore_core::validate::periodic::{parse_periodic, Mode};
use taskcore_core::validate::{parse_create, parse_retry, parse_update};
use taskcore_core::TaskTypes;

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Object(body)) = serde_json::from_slice(data) else {
        return;
    };
    let types = TaskTypes::default();
    let _ = parse_create(&body, &types);
    let _ = parse_update(&body, &types, false);
    let _ = parse_update(&body, &types, true);
    let _ = parse_retry(&body);
    for mode in [Mode::Create, Mode::Replace, Mode::Patch] {
        let _ = parse_periodic(&body, &types, mode);
    }
});
