//! Dialled numbers in node configs: a number (or a prefix of one) becomes
//! the user part of a SIP URI, so it is checked with the SIP URI grammar
//! when the scenario loads instead of failing every call at run time.

use crate::sim::check::field;
use crate::sim::FieldError;

/// A dialled number (or a prefix of one, `sample` completing it): it becomes
/// the user part of a SIP URI, so it must be one (RFC 3261 `user`, without
/// the `:password` that `build_request` refuses).
pub fn dial_number(prefix: &str, name: &str, value: &str, sample: &str) -> Result<(), FieldError> {
    let user = format!("{value}{sample}");
    let uri = format!("sip:{user}@host");
    let why = match crate::sip::uri::check_uri(&uri) {
        Err(why) => why,
        Ok(_) if user.contains(':') => "a ':' would read as a URI password".into(),
        Ok(_) => return Ok(()),
    };
    Err(FieldError::new(
        field(prefix, name),
        format!("{value:?} is not a number to dial: {why}"),
    ))
}
