//! Stacks under test behind [`crate::conform::Stack`]: our own endpoint running any model, so a
//! mutant table can play the part of a buggy stack.

pub mod reference;

pub use reference::Reference;
