//! Time specs (`--since`, `--until`, `/v1/history?since=`): a time or an error, never a
//! panic, whatever "now" is.
#![no_main]

use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;
use wa_preflight::value::time::parse_when;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let nows = [
        OffsetDateTime::UNIX_EPOCH,
        OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
        time::PrimitiveDateTime::MIN.assume_utc(),
        time::PrimitiveDateTime::MAX.assume_utc(),
    ];
    for now in nows {
        let _ = parse_when(text, now);
    }
});
