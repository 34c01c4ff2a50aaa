//! tcpcheck checks TCP implementations against a formal, citable model of TCP.
//!
//! The connection state machine lives once, as data: a transition table in `models/*.tcp`,
//! parsed and validated by [`model`]. Everything else — pictures, diffs, and later the
//! reference endpoint, the model checker and the fuzz oracle — reads that table.

pub mod adapter;
pub mod conform;
pub mod endpoint;
pub mod explore;
pub mod export;
pub mod learn;
pub mod model;
pub mod packetdrill;
pub mod simulate;
pub mod time;
pub mod wire;
