//! RFC 3261 section 17 transactions: not yet written; see the SIP issue.
