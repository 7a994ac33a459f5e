//! What a person changes while the server runs, for every face: the controls themselves
//! (`controls.rs`: Coda token, connection key, tunnel, Claude Desktop, settings) and the
//! dashboard's Setup routes over them (`setup.rs`), which the HTTP layer mounts without
//! knowing what they do. Above the HTTP layer: [`start`] serves an engine with controls.

mod controls;
mod setup;

use std::sync::Arc;

use tokio::net::TcpListener;

pub use controls::{
    follow_tunnel, supervise_tunnel, ControlError, ControlOptions, Controls, ProviderFactory,
};
pub use setup::admin;

use crate::http::RunningServer;
use crate::Engine;

/// Serves `engine` on `listener` with controls made from `options`: the dashboard's Setup
/// routes mounted, and the public face handed to the controls for the tunnel to serve.
pub async fn start(
    engine: Engine,
    listener: TcpListener,
    options: ControlOptions,
) -> std::io::Result<(RunningServer, Arc<Controls>)> {
    let controls = Arc::new(Controls::new(options));
    let admin = setup::admin(controls.clone(), engine.clone());
    let server = crate::http::start_with(engine, listener, admin).await?;
    controls.set_public_face(Some(Arc::new(server.public_face())));
    Ok((server, controls))
}
