//! The model checker: two endpoints executing the table, a lossy network and a clock, explored
//! breadth-first; properties with RFC reasons; shortest counterexamples as sequence diagrams.

mod bitstate;
mod fingerprint;
mod frontier;
mod graph;
pub mod memory;
mod parallel;
pub mod property;
pub mod search;
mod visited;
pub mod world;

pub use bitstate::Coverage;
pub use frontier::Spill;
pub use memory::{Footprint, Memory};
pub use property::{Property, Violation};
pub use search::{
    bfs, replay, Counterexample, FullGraph, Limits, Outcome, PairEdge, Progress, Replayed, Request, Stats, Stopped,
};
pub use world::{Bounds, Step, Workload, World};
