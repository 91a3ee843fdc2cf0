//! Sim time for node code: the current time as milliseconds since the
//! start of the run, and sleeping until an absolute sim time.
//!
//! Deadlines travel between nodes as absolute sim milliseconds (the RPC
//! frame's `deadline_ms`), so every node must read the same clock: the
//! simulation's, through `turmoil::sim_elapsed()`. Node code never reads the
//! wall clock.

use std::time::Duration;

/// Milliseconds of sim time since the run started. Outside a simulated host
/// (which node code never is) it reads 0.
pub fn now_ms() -> u64 {
    turmoil::sim_elapsed()
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Sleeps until sim time `at_ms` (returns at once if it has passed).
pub async fn sleep_until_ms(at_ms: u64) {
    let now = now_ms();
    if at_ms > now {
        tokio::time::sleep(Duration::from_millis(at_ms - now)).await;
    }
}

/// Sleeps for a duration of sim time.
pub async fn sleep(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}
