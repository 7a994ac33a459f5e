//! The Rust integration tests, in one binary so that CI links them once: each module is
//! one concern (ARCHITECTURE.md, "Tests"); `common` is the shared harness (one way to start a
//! server in this process or to spawn the binary), `upstream` a proxy in front of the demo.
//! Run one module with `cargo test --test it <module>::`.

mod common;
mod upstream;

mod abuse;
mod all_tools;
mod chatgpt;
mod cli;
mod coda_rules;
mod connect;
mod contract;
mod dashboard;
mod doctor;
mod faults;
mod http_protocol;
mod keychain;
mod layering;
mod load;
mod mcp_tools;
mod oauth;
mod openai_tunnel;
mod progress;
mod readme_walk;
mod security;
mod setup;
mod tunnel;
