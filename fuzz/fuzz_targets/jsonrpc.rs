//! Request decoding: any bytes as a POST /mcp body (JSON-RPC and the seed's direct-call form)
//! must be classified or rejected with a JSON-RPC error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match coda_mcp::http::classify_message(data) {
        Ok(coda_mcp::http::Message::Direct(v)) => assert!(v.is_object()),
        Ok(coda_mcp::http::Message::Mcp) => {}
        Err(code) => assert!((-32700..=-32600).contains(&code)),
    }
    // Arguments of any shape against a real tool schema: validated, never a panic.
    if let Ok(args) = serde_json::from_slice::<serde_json::Value>(data) {
        let catalogue = coda_mcp::tools::Catalogue::new(false);
        if let Some((_, schema)) = catalogue.get("coda_create_rows") {
            let _ = coda_mcp::tools::validate_arguments(&args, schema);
        }
    }
});
