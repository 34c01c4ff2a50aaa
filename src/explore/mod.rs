//! The model checker: two endpoints executing the table, a lossy network and a clock, explored
//! breadth-first; properties with RFC reasons; shortest counterexamples as sequence diagrams.

pub mod property;
pub mod search;
pub mod world;

pub use property::{Property, Violation};
pub use search::{
    bfs, replay, Counterexample, FullGraph, Limits, Outcome, PairEdge, Progress, Replayed, Request, Stats, Stopped,
};
pub use world::{Bounds, Step, Workload, World};
