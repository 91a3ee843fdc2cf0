//! `CancelToken`: how an RPC handler learns that its caller gave up.
//!
//! The server's connection task cancels the token when a `cancel` frame
//! arrives, when the connection closes before the response, or when the
//! request's propagated deadline passes. A handler awaits
//! [`CancelToken::cancelled`] beside its work (in a `select!`) and cleans
//! up; the SIP service, for one, cancels the SIP leg it was dialling.

use std::rc::Rc;
use tokio::sync::watch;

/// A one-way, one-shot cancellation flag. Cheap to clone.
#[derive(Clone)]
pub struct CancelToken {
    tx: Rc<watch::Sender<bool>>,
}

impl Default for CancelToken {
    fn default() -> CancelToken {
        CancelToken::new()
    }
}

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken {
            tx: Rc::new(watch::Sender::new(false)),
        }
    }

    /// Cancels; idempotent.
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once the token is cancelled (at once if it already is).
    pub async fn cancelled(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives as long as `self`, so `wait_for` cannot fail.
        let _ = rx.wait_for(|c| *c).await;
    }
}
