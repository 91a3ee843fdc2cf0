//! The LB's data plane: the SIP proxy on UDP 5060 (work in progress: binds
//! the port while the resource is live; forwarding lands with the codec).

use super::LbConfig;
use crate::net::UdpEndpoint;
use crate::nodes::NodeCtx;

/// SIP port.
pub const SIP_PORT: u16 = 5060;

pub async fn serve(ctx: &NodeCtx, _config: LbConfig) -> turmoil::Result {
    let socket = UdpEndpoint::bind(ctx, SIP_PORT).await?;
    let mut buf = vec![0u8; 65536];
    loop {
        let _ = socket.recv_from(&mut buf).await?;
    }
}
