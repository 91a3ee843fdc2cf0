//! The driver's session timers (RFC 4028; the negotiation is in [`super::session_timer`]):
//! one timer per dialog that has one, refreshing (UPDATE at half the interval) when we
//! are the refresher, expiring (BYE, [`EndReason::SessionExpired`]) when we are not and
//! no refresh came, or when our refresh failed.

use tokio::time::Instant;

use super::driver::{Driver, Owner};
use super::session_timer::{Refresher, Session, SessionExpires};
use super::timer_wheel::TimerKey;
use super::EndReason;
use crate::sip::codec::Message;
use crate::sip::dialog::DialogId;
use crate::sip::header::Method;
use crate::sip::transaction::{Transaction, TransactionKey};

/// A dialog's running session timer.
pub(crate) struct Running {
    pub(super) dialog: DialogId,
    pub(super) session: Session,
    /// Our role in the dialog, named in our refreshes' `Session-Expires`.
    pub(super) role: Refresher,
}

impl Driver {
    /// Starts the session timer of `dialog` (which must be in `dialogs`).
    pub(super) fn start_session(&mut self, dialog: &DialogId, session: Session, role: Refresher) {
        self.next_session += 1;
        let id = self.next_session;
        let Some(entry) = self.dialogs.get_mut(dialog) else {
            return;
        };
        entry.session = Some(id);
        self.sessions.insert(
            id,
            Running {
                dialog: dialog.clone(),
                session,
                role,
            },
        );
        self.arm_session(id);
    }

    /// Arms session `id`'s next deadline from now: the refresh, or the expiry.
    fn arm_session(&mut self, id: u64) {
        let Some(running) = self.sessions.get(&id) else {
            return;
        };
        let after = if running.session.we_refresh {
            running.session.refresh_after()
        } else {
            running.session.expire_after()
        };
        self.wheel
            .set(TimerKey::Session(id), Instant::now() + after);
    }

    /// A refresh arrived for `dialog` (an UPDATE or re-INVITE with `Session-Expires`):
    /// the other end is alive, so the expiry starts over.
    pub(super) fn session_refreshed(&mut self, dialog: &DialogId) {
        if let Some(id) = self.dialogs.get(dialog).and_then(|e| e.session) {
            self.arm_session(id);
        }
    }

    /// Forgets the session timer of a dialog that ended.
    pub(super) fn stop_session(&mut self, id: Option<u64>) {
        if let Some(id) = id {
            self.wheel.clear(TimerKey::Session(id));
            self.sessions.remove(&id);
        }
    }

    /// Session `id`'s deadline: refresh, or give up.
    pub(super) fn session_due(&mut self, id: u64) {
        let Some(running) = self.sessions.get(&id) else {
            return;
        };
        let dialog = running.dialog.clone();
        if !running.session.we_refresh {
            self.end_dialog(&dialog, EndReason::SessionExpired, None);
            return;
        }
        // Fault point: this refresh is not sent; the next is due a refresh
        // interval from now.
        if crate::sim::buggify::here(crate::sim::buggify::SIP_REFRESH_SKIPPED) {
            self.arm_session(id);
            return;
        }
        let expires = SessionExpires {
            secs: running.session.interval.as_secs(),
            refresher: Some(running.role),
        };
        let via = self.via();
        let Some(entry) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        let peer = entry.peer;
        let Ok(update) = entry.dialog.new_request(Method::Update, via) else {
            return;
        };
        let mut edit = update.edit();
        edit.set_header("Session-Expires", &expires.header_value());
        let Ok(update) = edit.finish() else {
            return;
        };
        let key = TransactionKey::client(&update);
        let (tx, actions) = Transaction::client(update, self.config.timers);
        self.start_tx(tx, actions, peer, Owner::Refresh(id), key);
    }

    /// The answer to our refresh: a 2xx re-arms the next one; a failure ends the
    /// dialog (RFC 4028 section 10: a refresh that fails with 408 or 481 ends it; any
    /// other failure leaves it to expire, which for the refresher is now).
    pub(super) fn refresh_answered(&mut self, id: u64, response: &Message) {
        match response.status() {
            Some(200..=299) => self.arm_session(id),
            Some(300..) => self.refresh_failed(id),
            _ => {}
        }
    }

    /// Our refresh got no 2xx: the session is over.
    pub(super) fn refresh_failed(&mut self, id: u64) {
        if let Some(running) = self.sessions.get(&id) {
            let dialog = running.dialog.clone();
            self.end_dialog(&dialog, EndReason::SessionExpired, None);
        }
    }
}
