//! Cron expressions and time zones, and the next run they give.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskcore_core::schedule::{parse_tz, Compiled, Schedule};
use taskcore_core::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (expr, tz) = text.split_once('|').unwrap_or((text, "Europe/Paris"));
    let Ok(zone) = parse_tz(tz) else {
        return;
    };
    if let Ok(c) = Compiled::new(&Schedule::Cron(expr.to_owned()), zone) {
        let at = Timestamp(1_734_700_000_000_000);
        let _ = c.next_after(at, at);
    }
});
