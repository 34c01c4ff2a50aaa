//! The TCP connection state machine as data: a transition table, its parser and its validator.
//!
//! A table file (`models/*.tcp`) is line-oriented:
//!
//! ```text
//! model rfc9293            # the model's name
//! rfc 9293                 # the RFC that bare section numbers refer to (default 9293)
//! msl 2min                 # maximum segment lifetime (default 2min, RFC 9293 3.4.2)
//! # FROM       INPUT      GUARD            -> TO           ACTIONS                    @ CITE
//! LISTEN       SYN|*                       -> SYN-RECEIVED accept-syn; send SYN|ACK   @ 3.10.7.2
//! ESTABLISHED  RST|*      rst-in-window    -> ESTABLISHED  send challenge-ACK         @ RFC5961 3.2
//! ```
//!
//! Rows for a (state, input) are tried top to bottom and the first whose guard holds fires:
//! Rust `match` semantics. [`Table::parse`] reads a file; [`Table::validate`] checks it the way
//! rustc checks a `match` (exhaustive, no unreachable arm) and yields a [`Model`].

/// The rows of the smallest valid table, for the model's unit tests: CLOSED and LISTEN, every
/// call and segment handled, LISTEN reachable. A macro, so that a test can `concat!` the header
/// it needs onto it and keep a `const`.
#[cfg(test)]
macro_rules! minimal_rows {
    () => {
        "CLOSED OPEN-PASSIVE -> LISTEN @ 1
CLOSED OPEN-ACTIVE -> CLOSED @ 1
CLOSED SEND -> CLOSED @ 1
CLOSED RECEIVE -> CLOSED @ 1
CLOSED CLOSE -> CLOSED @ 1
CLOSED ABORT -> CLOSED @ 1
CLOSED * -> CLOSED @ 1
LISTEN CLOSE -> CLOSED delete @ 1
LISTEN OPEN-ACTIVE -> LISTEN @ 1
LISTEN OPEN-PASSIVE -> LISTEN @ 1
LISTEN SEND -> LISTEN @ 1
LISTEN RECEIVE -> LISTEN @ 1
LISTEN ABORT -> LISTEN @ 1
LISTEN * -> LISTEN @ 1
"
    };
}

pub mod action;
mod diag;
pub mod diff;
pub mod guard;
pub mod input;
mod parse;
mod print;
pub mod resolve;
pub mod shipped;
pub(crate) mod spelled;
pub mod state;
mod validate;
pub mod variant;

use std::fmt;

pub use action::{AckExpr, Action, ReopenIsn, SendSpec, SeqExpr, Signal};
pub use diag::{did_you_mean, render, Kind, Problem, Problems, Source, Span};
pub use guard::{Atom, Family, Guard, GuardMasks, Literal, Valuation};
pub use input::{Call, Flags, Input, Pattern, Timer};
pub use state::State;
pub use validate::{Model, Stats};

use crate::time::Duration;

/// RFC 9293 3.4.2 (after RFC 793): "MSL … is 2 minutes" — an engineering choice, overridable.
pub const DEFAULT_MSL: Duration = Duration::from_secs(120);
/// The RFC bare section numbers refer to when a table does not say.
pub const DEFAULT_RFC: u16 = 9293;

/// One reference: an RFC (or the table's own, when `None`) and a section number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CiteRef {
    pub rfc: Option<u16>,
    pub section: String,
    /// A page of an RFC without numbered subsections (RFC 793's event processing).
    pub page: Option<u16>,
}

impl fmt::Display for CiteRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(rfc) = self.rfc {
            write!(f, "RFC{rfc} ")?;
        }
        f.write_str(&self.section)?;
        match self.page {
            Some(page) => write!(f, " p.{page}"),
            None => Ok(()),
        }
    }
}

/// A row's citations, at least one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cite(pub Vec<CiteRef>);

impl Cite {
    /// The citation with every bare section qualified by the table's RFC: `RFC 9293 3.10.7.4`.
    pub fn qualified(&self, default_rfc: u16) -> String {
        let refs: Vec<String> = self
            .0
            .iter()
            .map(|r| {
                let page = r.page.map(|p| format!(" p.{p}")).unwrap_or_default();
                format!("RFC {} {}{page}", r.rfc.unwrap_or(default_rfc), r.section)
            })
            .collect();
        refs.join(", ")
    }
}

impl fmt::Display for Cite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// What a row says, independent of where it was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    pub from: State,
    pub input: Pattern,
    pub guard: Guard,
    pub to: State,
    pub actions: Vec<Action>,
    pub cite: Cite,
}

/// Where each part of a row was written, for diagnostics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowSpans {
    pub row: Span,
    pub from: Span,
    pub input: Span,
    /// One span per guard literal.
    pub guard: Vec<Span>,
    pub to: Span,
    /// One span per action.
    pub actions: Vec<Span>,
    pub cite: Span,
}

/// A row of a table: the rule, and the file, 1-based line and spans where it was written. In a
/// variant's flattened table the rows come from several files, so each row knows its own.
#[derive(Clone, Debug)]
pub struct Row {
    pub rule: Rule,
    pub line: usize,
    pub spans: RowSpans,
    pub source: Source,
}

impl Row {
    /// `file:line`, as verdicts cite the row.
    pub fn location(&self) -> String {
        format!("{}:{}", self.source.name, self.line)
    }
}

/// A table, not yet validated: a file's rows, or a variant's flattened onto its base.
#[derive(Clone, Debug)]
pub struct Table {
    pub name: String,
    pub rfc: u16,
    pub msl: Duration,
    pub rows: Vec<Row>,
    /// The file the table was read from (a variant's own file).
    pub source: Source,
    /// For a variant: its base and what it changed.
    pub variant: Option<std::sync::Arc<variant::Variant>>,
}

impl Table {
    /// Parses a table file; a variant's bases are found among the shipped models
    /// ([`resolve::Embedded`]). Every problem in the file is reported, not only the first.
    pub fn parse(source: Source) -> Result<Table, Problems> {
        Table::parse_with(source, &resolve::Embedded)
    }

    /// Parses a table file, finding a variant's bases with `resolver`, and flattens it.
    pub fn parse_with(source: Source, resolver: &dyn resolve::Resolve) -> Result<Table, Problems> {
        variant::flatten(&source, resolver)
    }

    /// Parses and validates in one step, as every command wants.
    pub fn load(source: Source) -> Result<Model, Problems> {
        Table::parse(source)?.validate()
    }

    /// [`Table::load`] with bases found by `resolver` (files on disk, for the CLI).
    pub fn load_with(source: Source, resolver: &dyn resolve::Resolve) -> Result<Model, Problems> {
        Table::parse_with(source, resolver)?.validate()
    }

    /// `file:line` of a row, as verdicts cite it: the file it was written in.
    pub fn row_location(&self, row: &Row) -> String {
        row.location()
    }
}
