//! packetdrill scripts in: a parser for packetdrill's language ([`parse`]), the plan that maps
//! a script onto the harness's steps and expectations ([`plan`]), and the judge that reads a
//! run's trace against those expectations ([`judge`]). Sans-IO: text in, a plan out; a trace
//! in, a verdict out. The oracle judges the same run beside the script ([`judge::Judged`]).
//!
//! Written from packetdrill's grammar (`gtests/net/packetdrill/lexer.l` and `parser.y` in
//! google/packetdrill) and its documentation; nothing is copied.

pub mod ast;
pub mod judge;
pub mod lex;
pub mod parse;
pub mod plan;
pub mod shell;
pub mod vocab;

pub use ast::PdScript;
pub use judge::{judge, Judged, Outcome};
pub use parse::parse;
pub use plan::{plan, Plan, Skip};
