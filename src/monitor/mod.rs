//! The replication monitor.

pub mod alert;
pub mod api;
pub mod config;
pub mod content;
pub mod doctor;
mod heal;
pub mod http;
pub mod prometheus;
pub mod store;
pub mod watch;
