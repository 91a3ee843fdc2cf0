//! Length-framed JSON over TCP: the wire format of the public API and the
//! internal RPC.
//!
//! A frame is a 4-byte big-endian length, then that many bytes of JSON.
//! Frames are bounded by [`FRAME_LEN_MAX`]; a longer one is a protocol error
//! and closes the connection.

use serde::{de::DeserializeOwned, Serialize};
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest frame accepted, in bytes.
pub const FRAME_LEN_MAX: usize = 1 << 20;

/// Writes one value as a frame.
pub async fn write_frame<W, T>(out: &mut W, value: &T) -> io::Result<()>
where
    W: tokio::io::AsyncWrite + Unpin,
    T: Serialize,
{
    let body = serde_json::to_vec(value).map_err(io::Error::other)?;
    assert!(body.len() <= FRAME_LEN_MAX, "frame of {} bytes", body.len());
    let mut bytes = Vec::with_capacity(4 + body.len());
    bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&body);
    out.write_all(&bytes).await?;
    out.flush().await
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub async fn read_frame<R, T>(input: &mut R) -> io::Result<Option<T>>
where
    R: tokio::io::AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut len = [0u8; 4];
    match input.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > FRAME_LEN_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds {FRAME_LEN_MAX}"),
        ));
    }
    let mut body = vec![0u8; len];
    input.read_exact(&mut body).await?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
