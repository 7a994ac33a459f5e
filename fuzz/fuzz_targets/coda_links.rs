//! Coda URL and ID parsing: any text must parse to IDs or to nothing, never panic, and
//! whatever it returns must be a non-empty doc ID.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(link) = coda_mcp::tools::links::parse(text) {
            assert!(!link.doc_id.is_empty());
        }
        let _ = coda_mcp::tools::links::is_url(text);
    }
});
