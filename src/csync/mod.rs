//! Child-to-parent delegation synchronisation (RFC 7477, RFC 9975).

pub mod agent;
pub mod decide;
pub mod delegation;
pub mod edit;
pub mod notify;
pub mod record;
pub mod scan;
pub mod state;
pub mod validate;
