//! The list endpoint's query string.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskcore_api::list_query::{created_range, parse_list, Params};
use taskcore_core::TaskTypes;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let params = Params::parse(Some(raw));
    if let Ok(mut request) = parse_list(&params, 1, &TaskTypes::default()) {
        let _ = request.paginate(1234);
        let _ = params.link_to_page(2);
    }
    let _ = created_range(&params);
});
