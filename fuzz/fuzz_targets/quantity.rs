//! Quantities: sizes (`--max-file-size 25MiB`, `max_size`), number conditions in rules
//! (`>= 250GB`) and version requirements (`>= 17.12.1, != 18.06.0`); never a panic, and a
//! size is never beyond its range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_preflight::value::quantity::{NumberCmp, parse_size};
use wa_preflight::value::version::{Version, VersionReq};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(n) = parse_size(text) {
        assert!(n <= wa_preflight::bounds::SIZE_BYTES.max);
    }
    let _ = NumberCmp::parse(text);
    if let (Ok(req), Some(v)) = (VersionReq::parse(text), Version::parse_lenient(text)) {
        let _ = req.matches(&v);
    }
    let _ = Version::parse_lenient(text);
});
