//! Stacks under test behind [`crate::conform::Stack`]: our own endpoint running any model, so a
//! mutant table can play the part of a buggy stack, smoltcp in process, and the Linux kernel
//! through a TUN device in a private network namespace, and any stack in any language as a
//! child process speaking the stack protocol ([`exec`]).

#[cfg(unix)]
pub mod exec;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod reference;
pub mod smoltcp;

#[cfg(unix)]
pub use exec::Exec;
#[cfg(target_os = "linux")]
pub use linux::Linux;
pub use reference::Reference;
pub use smoltcp::Smoltcp;
