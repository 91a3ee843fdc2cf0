//! SIP dialogs (RFC 3261 section 12): not yet written; see the SIP issue.
