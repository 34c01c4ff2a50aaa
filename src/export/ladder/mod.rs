//! Ladder diagrams: the picture every TCP textbook draws. Two lifelines, time flowing down, one
//! slanted arrow per segment (a cross where one is lost, dashed for a network copy), and beside
//! each lifeline the state entered after each step, with its table row and RFC section.
//!
//! This module is the neutral model, built in the order things happened; [`from_trace`] builds
//! one from a `simulate` run or a `check` counterexample, [`from_run`] from a conformance run
//! (`replay`, `run`), and [`svg::write`] draws any of them. Keeping the picture apart from its
//! sources lets every command (and the HTML report) draw the same way.

mod run;
pub mod svg;
mod trace;

pub use run::from_run;
pub use trace::from_trace;

use crate::endpoint::Transition;
use crate::model::{Input, Table};
use crate::simulate::diagram::transition_lines;
use crate::time::Instant;

/// One of the two lifelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    Left,
    Right,
}

impl Lane {
    fn index(self) -> usize {
        self as usize
    }
}

/// The table row behind a state: shown as a numbered footnote and as a tooltip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cite {
    /// What fired: `LISTEN=>SYN-RECEIVED on SYN / accept-syn; send SYN|ACK; start RTO`.
    pub rule: String,
    /// Where the row is written: `models/rfc9293.tcp:118`.
    pub location: String,
    /// What it cites, qualified: `RFC 9293 3.10.7.2`.
    pub rfc: String,
}

impl Cite {
    /// The row `t` fired in `table`. A row index the table does not have (a stale transition)
    /// still gets a citation that says so rather than a panic.
    pub fn of(table: &Table, t: &Transition) -> Cite {
        let (rule, location) = transition_lines(table, t);
        match table.rows.get(t.row) {
            Some(row) => Cite { rule, location: table.row_location(row), rfc: row.rule.cite.qualified(table.rfc) },
            None => Cite { rule, location, rfc: String::new() },
        }
    }
}

/// How an arrow is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A segment an endpoint sent.
    Sent,
    /// A copy the network made: dashed.
    Copy,
    /// A segment the network forged (an off-path attacker): its own colour.
    Forged,
}

/// Names an arrow of one ladder; only [`Ladder::send`] makes one, so every id is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrowId(usize);

/// A segment on its way from one lifeline to the other.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Arrow {
    from: Lane,
    label: String,
    style: Style,
}

/// What an item of the ladder is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum What {
    Send(ArrowId),
    Arrive(ArrowId),
    /// The network lost the segment: the arrow ends in a cross.
    Lose(ArrowId),
    /// The segment outlived the maximum segment lifetime: the arrow ends in a cross.
    Expire(ArrowId),
    /// The state a lane entered (or stayed in), with the input when it is not a segment or a
    /// call already shown, and the row that fired.
    State {
        lane: Lane,
        state: String,
        changed: bool,
        on: Option<String>,
        cite: Cite,
    },
    /// A user call or what a user was told.
    Note {
        lane: Lane,
        text: String,
    },
    /// A verdict, across the picture.
    Verdict(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Item {
    at: Instant,
    what: What,
    /// Drawn in red: part of the step a verdict names.
    hot: bool,
}

/// A ladder diagram, built item by item in the order things happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ladder {
    title: String,
    lanes: [String; 2],
    arrows: Vec<Arrow>,
    items: Vec<Item>,
    /// The first item of the part that repeats forever (a lasso).
    loop_from: Option<usize>,
    hot: bool,
}

impl Ladder {
    /// An empty ladder: a title and the names of the left and right lifelines.
    pub fn new(title: impl Into<String>, left: impl Into<String>, right: impl Into<String>) -> Self {
        Ladder {
            title: title.into(),
            lanes: [left.into(), right.into()],
            arrows: Vec::new(),
            items: Vec::new(),
            loop_from: None,
            hot: false,
        }
    }

    fn push(&mut self, at: Instant, what: What) {
        self.items.push(Item { at, what, hot: self.hot });
    }

    /// From now on (until called with false), what is added is drawn in red.
    pub fn set_hot(&mut self, hot: bool) {
        self.hot = hot;
    }

    /// Marks the next item as the first of the part that repeats forever.
    pub fn loop_here(&mut self) {
        self.loop_from = Some(self.items.len());
    }

    /// A segment leaves `from` at `at`, labelled `label`.
    pub fn send(&mut self, at: Instant, from: Lane, label: impl Into<String>, style: Style) -> ArrowId {
        let id = ArrowId(self.arrows.len());
        self.arrows.push(Arrow { from, label: label.into(), style });
        self.push(at, What::Send(id));
        id
    }

    /// The segment reaches the other lifeline.
    pub fn arrive(&mut self, at: Instant, arrow: ArrowId) {
        self.push(at, What::Arrive(arrow));
    }

    /// The network loses the segment.
    pub fn lose(&mut self, at: Instant, arrow: ArrowId) {
        self.push(at, What::Lose(arrow));
    }

    /// The segment dies of old age in the network.
    pub fn expire(&mut self, at: Instant, arrow: ArrowId) {
        self.push(at, What::Expire(arrow));
    }

    /// `lane` fired the row of `t`: the state it entered, cited.
    pub fn transition(&mut self, lane: Lane, table: &Table, t: &Transition) {
        // A timeout is shown with the state it leads to: nothing else on the picture says why.
        let on = matches!(t.input, Input::Timeout(_)).then(|| t.input.to_string());
        let what = What::State { lane, state: t.to.to_string(), changed: t.from != t.to, on, cite: Cite::of(table, t) };
        self.push(t.at, what);
    }

    /// A user call on `lane`, or what its user was told.
    pub fn note(&mut self, at: Instant, lane: Lane, text: impl Into<String>) {
        self.push(at, What::Note { lane, text: text.into() });
    }

    /// A verdict, drawn as a box across the picture after what came before it.
    pub fn verdict(&mut self, at: Instant, lines: Vec<String>) {
        self.push(at, What::Verdict(lines));
    }

    pub fn title(&self) -> &str {
        &self.title
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::shipped::Shipped;

    #[test]
    fn cite_of_a_row_the_table_lacks_says_so() {
        let model = Shipped::find("rfc9293").unwrap().load().unwrap();
        let t = Transition {
            at: Instant::ZERO,
            input: Input::Timeout(crate::model::Timer::Rto),
            from: crate::model::State::Listen,
            to: crate::model::State::Listen,
            row: usize::MAX,
        };
        let cite = Cite::of(model.table(), &t);
        assert!(cite.location.contains("unknown"), "{cite:?}");
        assert_eq!(cite.rfc, "");
    }
}
