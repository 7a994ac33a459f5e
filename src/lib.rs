//! Coda MCP Desktop's engine: a local MCP server for the Coda API, with no GUI dependency.
//!
//! The faces (the `coda-mcp` CLI, later the desktop shell and the dashboard) configure an
//! [`Engine`] and start [`http::start`]; see `ARCHITECTURE.md` for the map.

pub mod apps;
pub mod audit;
pub mod bounded;
pub mod caller;
pub mod clients;
pub mod coda;
pub mod control;
pub mod defaults;
pub mod demo;
pub mod doctor;
pub mod engine;
pub mod events;
pub mod flags;
pub mod guides;
pub mod health;
pub mod http;
pub mod launch;
pub mod mcp;
pub mod mcp_log;
pub mod metrics;
pub mod netshare;
pub mod oauth;
pub mod openapi;
pub mod packaging;
pub mod private;
pub mod prompts;
pub mod public;
pub mod runtime;
pub mod secrets;
pub mod settings;
pub mod stdio;
pub mod tools;
pub mod toolsets;
pub mod tunnel;

pub use engine::{Engine, EngineConfig};
