//! Row-level differences between two tables, keyed by (state, input, guard) — the part of a
//! row that says *when* it fires; what it does (target, actions, citation) is compared.

use std::collections::HashMap;

use super::guard::{Family, Guard, Valuation};
use super::input::{Input, Pattern};
use super::state::State;
use super::{Model, Row, Table};

/// The part of a row that identifies it across tables.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub from: State,
    pub input: Pattern,
    pub guard: Guard,
}

impl Key {
    pub fn of(row: &Row) -> Key {
        Key { from: row.rule.from, input: row.rule.input, guard: row.rule.guard.normalized() }
    }
}

/// `FROM INPUT [GUARD]`, as a variant names a row.
impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.from, self.input)?;
        if !self.guard.is_empty() {
            write!(f, " {}", self.guard)?;
        }
        Ok(())
    }
}

/// One difference, with the rows on each side.
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    Removed(&'a Row),
    Added(&'a Row),
    /// The same case, another target or other actions: what the table does there changed.
    Changed(&'a Row, &'a Row),
    /// The same case, target and actions, cited elsewhere: only the reason given changed. Kept
    /// apart so that a re-cited table does not read as a table that behaves differently.
    Recited(&'a Row, &'a Row),
}

impl Change<'_> {
    /// Whether the change is in what a row does (or which rows there are), not only in its
    /// citation.
    pub fn is_behaviour(&self) -> bool {
        !matches!(self, Change::Recited(..))
    }
}

/// Header fields (name, rfc, msl) that differ, as `(field, a, b)`.
pub fn header_changes(a: &Table, b: &Table) -> Vec<(&'static str, String, String)> {
    let fields = [
        ("model", a.name.clone(), b.name.clone()),
        ("rfc", a.rfc.to_string(), b.rfc.to_string()),
        ("msl", a.msl.to_string(), b.msl.to_string()),
    ];
    fields.into_iter().filter(|(_, x, y)| x != y).collect()
}

/// Rows removed from `a`, changed or re-cited, then added in `b`, each group in file order.
/// Citations are compared as their tables mean them, each bare section qualified by its own
/// table's RFC: `3.10.1` in an RFC 9293 table and `RFC9293 3.10.1` in a variant that says
/// `rfc 793` are the same citation.
pub fn diff<'a>(a: &'a Table, b: &'a Table) -> Vec<Change<'a>> {
    let first_by_key = |t: &'a Table| {
        let mut map: HashMap<Key, &'a Row> = HashMap::new();
        for row in &t.rows {
            map.entry(Key::of(row)).or_insert(row);
        }
        map
    };
    let (in_a, in_b) = (first_by_key(a), first_by_key(b));
    let mut changes = Vec::new();
    for row in &a.rows {
        match in_b.get(&Key::of(row)) {
            None => changes.push(Change::Removed(row)),
            Some(other) => {
                let (x, y) = (&row.rule, &other.rule);
                if (x.to, &x.actions) != (y.to, &y.actions) {
                    changes.push(Change::Changed(row, other));
                } else if x.cite.qualified(a.rfc) != y.cite.qualified(b.rfc) {
                    changes.push(Change::Recited(row, other));
                }
            }
        }
    }
    changes.extend(b.rows.iter().filter(|r| !in_a.contains_key(&Key::of(r))).map(Change::Added));
    changes
}

/// A case two models answer differently: the state, input and guard valuation, and the row
/// each fires (`None`: the state is not in that model).
#[derive(Clone, Debug)]
pub struct Disagreement<'a> {
    pub state: State,
    pub input: Input,
    pub when: Guard,
    pub rows: [Option<&'a Row>; 2],
}

/// The first case in which `a` and `b` fire rows with a different target or actions, or `None`
/// when they behave alike everywhere: how a table rewritten (as a variant, or with rows split
/// or merged) is shown to mean the same. Citations and row shapes may differ.
pub fn first_disagreement<'a>(a: &'a Model, b: &'a Model) -> Option<Disagreement<'a>> {
    let mut states: Vec<State> = a.states().iter().chain(b.states()).copied().collect();
    states.sort();
    states.dedup();
    for state in states {
        for input in Input::all() {
            let (ca, cb) = (a.candidates(state, input), b.candidates(state, input));
            let rows =
                ca.iter().map(|&i| &a.rows()[usize::from(i)]).chain(cb.iter().map(|&i| &b.rows()[usize::from(i)]));
            let mut families: Vec<Family> = rows.flat_map(|r| r.rule.guard.families()).collect();
            families.sort();
            families.dedup();
            for valuation in Valuation::enumerate(&families) {
                let (x, y) = (a.fire(state, input, &valuation), b.fire(state, input, &valuation));
                let does = |r: Option<(usize, &Row)>| r.map(|(_, r)| (r.rule.to, r.rule.actions.clone()));
                if does(x) != does(y) {
                    let when = valuation.describe(&families);
                    return Some(Disagreement { state, input, when, rows: [x.map(|r| r.1), y.map(|r| r.1)] });
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;

    fn table(text: &str) -> Table {
        Table::parse(Source::new("t.tcp", text)).unwrap()
    }

    #[test]
    fn guard_order_does_not_matter_but_actions_do() {
        let a = table("model a\nCLOSED * a & b -> CLOSED @ 1\n".replace("a & b", "seq-ok & ack-ok").as_str());
        let b = table("model b\nCLOSED * ack-ok & seq-ok -> CLOSED send ACK @ 1\nCLOSED ACK -> CLOSED @ 2\n");
        let changes = diff(&a, &b);
        assert!(matches!(changes[..], [Change::Changed(..), Change::Added(_)]));
        assert_eq!(header_changes(&a, &b), vec![("model", "a".into(), "b".into())]);
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn a_citation_alone_is_a_recital_and_is_compared_qualified() {
        let a = table("model a\nrfc 9293\nCLOSED * -> CLOSED @ 3.10.1\nCLOSED ACK -> CLOSED @ 3.10.2\n");
        let b = table("model b\nrfc 793\nCLOSED * -> CLOSED @ RFC9293 3.10.1\nCLOSED ACK -> CLOSED @ 3.10.2\n");
        // The first row cites the same section of RFC 9293 in both; the second, RFC 9293's
        // 3.10.2 and RFC 793's.
        let changes = diff(&a, &b);
        assert!(matches!(changes[..], [Change::Recited(x, _)] if x.line == 4), "{changes:?}");
        assert!(!changes[0].is_behaviour());
    }

    #[test]
    fn rows_split_differently_can_behave_alike() {
        let load = |text: &str| Table::load(Source::new("t.tcp", text)).unwrap();
        let head =
            "model m\nCLOSED OPEN-PASSIVE -> CLOSED @ 1\nCLOSED OPEN-ACTIVE -> CLOSED @ 1\nCLOSED SEND -> CLOSED @ 1\n\
                    CLOSED RECEIVE -> CLOSED @ 1\nCLOSED CLOSE -> CLOSED @ 1\nCLOSED ABORT -> CLOSED @ 1\n";
        let one = load(&format!("{head}CLOSED RST|* -> CLOSED @ 1\nCLOSED * -> CLOSED send ACK @ 1\n"));
        let two = load(&format!(
            "{head}CLOSED RST|ACK|* -> CLOSED @ 2\nCLOSED RST|* -> CLOSED @ 2\nCLOSED * -> CLOSED send ACK @ 2\n"
        ));
        assert!(first_disagreement(&one, &two).is_none());
        let other = load(&format!("{head}CLOSED RST -> CLOSED send ACK @ 1\nCLOSED * -> CLOSED send ACK @ 1\n"));
        let d = first_disagreement(&one, &other).unwrap();
        assert_eq!((d.state, d.input.to_string()), (State::Closed, "RST".to_string()));
        assert_eq!(d.rows.map(|r| r.unwrap().line), [8, 8]);
    }
}
