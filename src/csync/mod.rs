//! Child-to-parent delegation synchronisation (RFC 7477, RFC 9975).

pub mod record;
pub mod validate;
