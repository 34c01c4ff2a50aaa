//! Exports: pictures and machine-readable forms of models.

pub mod dot;
pub mod json;
pub mod ladder;
pub mod learned;
pub mod machine;
pub mod packetdrill;
pub mod palette;
pub mod pcap;
pub mod report;
