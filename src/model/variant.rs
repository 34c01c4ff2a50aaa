//! Variants: a table written as the changes it makes to another.
//!
//! ```text
//! model no-2msl-restart
//! extends rfc9293                      # a shipped model's name, or a path relative to this file
//! apply rfc1337-off                    # make another variant's changes here, in order
//! replace TIME-WAIT FIN|ACK|* -> TIME-WAIT send ACK @ 3.10.7.4
//! insert before TIME-WAIT RST|*: TIME-WAIT RST|* rst-exact -> CLOSED delete @ 3.10.7.4
//! insert after  LISTEN SYN|*: …
//! remove TIME-WAIT TIMEOUT-2MSL
//! ```
//!
//! A row is addressed by (state, input, guard), as `diff` matches rows across tables: in a valid
//! table that key names exactly one row (a second row with the same key would be shadowed).
//! `replace ROW` replaces the row with ROW's key. Edits are made in file order, so an anchor may
//! be a row an earlier edit inserted, and rows inserted after the same anchor keep file order.
//!
//! The result is an ordinary [`Table`] whose rows remember the file and line they were written
//! in, so verdicts cite the base's lines for what the variant left alone. The validator checks
//! that flattened table with every check it has; a problem it finds among rows the variant did
//! not write is blamed on the variant's lines that changed the state concerned ([`Variant::blame`]),
//! with the base's row as a note: the base validated by itself, so the variant caused it.
//!
//! A header the variant does not give (`rfc`, `msl`) is its base's. Bare section numbers mean the
//! RFC of the file they were written in: rows that move into a table with another `rfc` have
//! their citations qualified (`RFC9293 3.10.7.4`).

use std::sync::Arc;

use super::diag::{did_you_mean, Kind, Problem, Problems, Source, Span};
use super::diff::Key;
use super::parse::{parse_file, File};
use super::resolve::Resolve;
use super::state::State;
use super::{Cite, Row, Table, DEFAULT_MSL, DEFAULT_RFC};

/// How deep `extends` and `apply` may nest: deep enough for any real profile, and a bound on
/// what a symlink loop (a new name at every level) can make the loader do.
const MAX_DEPTH: usize = 16;

/// Where `insert` puts its row, relative to the anchor row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Before,
    After,
}

/// One change a variant makes.
#[derive(Clone, Debug)]
pub enum Op {
    /// The row with this row's key becomes this row.
    Replace(Row),
    /// A new row, before or after the row `anchor`.
    Insert { place: Place, anchor: Key, row: Row },
    /// The row with this key goes.
    Remove(Key),
    /// Every change of the named variant, made here in its order.
    Apply(String),
}

/// A change as written: the operation, and where.
#[derive(Clone, Debug)]
pub struct Edit {
    pub op: Op,
    pub line: usize,
    /// The whole line.
    pub span: Span,
    /// The part that names the row: the key, the new row, or the applied name.
    pub target: Span,
    pub source: Source,
}

impl Edit {
    pub(crate) fn new(op: Op, line: usize, span: Span, target: Span, source: &Source) -> Edit {
        Edit { op, line, span, target, source: source.clone() }
    }
}

/// A change made to the base, with the line of the variant's own file it is blamed on: the
/// edit itself, or the `apply` line that brought it from another variant.
#[derive(Clone, Debug)]
pub struct Applied {
    pub edit: Edit,
    pub at: Span,
    /// The states of the rows it replaced, inserted or removed, both ends.
    pub states: Vec<State>,
}

/// What a flattened table remembers of being a variant.
#[derive(Clone, Debug)]
pub struct Variant {
    /// The base as named after `extends`.
    pub base_name: String,
    /// The base, flattened and validated.
    pub base: Table,
    /// `extends NAME` in the variant's file.
    pub extends: Span,
    /// Every change, in the order made (`apply` expanded).
    pub changes: Vec<Applied>,
}

impl Variant {
    /// A problem the validator found in the flattened table, pointed at the variant's own
    /// lines when it lies among rows the variant did not write: at the changes to `state` (or
    /// at `extends`, when no change touched it), the original location kept as a note.
    pub(crate) fn blame(&self, own: &Source, problem: Problem, state: Option<State>) -> Problem {
        if problem.source().is_none_or(|s| s.same_file(own)) {
            return problem;
        }
        // A case left unmatched or a state left unreachable comes from a row taken away; a row
        // that never fires, from one put in front of it. Those changes are named first.
        let takes_away = matches!(problem.kind, Kind::NonExhaustive | Kind::UnreachableState);
        let rank = |op: &Op| match (op, takes_away) {
            (Op::Remove(_), true) | (Op::Insert { .. }, false) => 0,
            (Op::Replace(_), _) => 1,
            _ => 2,
        };
        let mut touching: Vec<&Applied> =
            self.changes.iter().filter(|c| state.is_none_or(|s| c.states.contains(&s))).collect();
        touching.sort_by_key(|c| rank(&c.edit.op));
        let mut spans: Vec<Span> = Vec::new();
        for change in touching {
            if !spans.contains(&change.at) {
                spans.push(change.at);
            }
        }
        let (primary, label) = match (spans.first(), state) {
            (Some(&span), Some(state)) => (span, format!("this changes the rows of {state}")),
            (Some(&span), None) => (span, "this change".to_string()),
            (None, _) => (self.extends, format!("the problem is in {}", self.base_name)),
        };
        let mut blamed = Problem::new(problem.kind, primary, problem.message.clone(), label).in_source(own);
        for &span in spans.iter().skip(1).take(3) {
            blamed = blamed.label(span, "and this");
        }
        if let Some(help) = &problem.help {
            blamed = blamed.help(help.clone());
        }
        let mut note = problem.into_note();
        note.message = format!("in the flattened table, at {}", note.location());
        note.help = None;
        blamed.note(note)
    }
}

/// Reads `source` and, for a variant, its bases, into one table (not yet validated).
pub(crate) fn flatten(source: &Source, resolver: &dyn Resolve) -> Result<Table, Problems> {
    Loader { resolver, chain: vec![source.name.to_string()] }.table(source)
}

struct Loader<'r> {
    resolver: &'r dyn Resolve,
    /// The files being read, outermost first: a name met again is a cycle.
    chain: Vec<String>,
}

/// A row of the table being built, with the anchor it was inserted after (so rows inserted
/// after one anchor keep the order they were written in).
struct Slot {
    row: Row,
    after: Option<Key>,
}

impl Loader<'_> {
    fn table(&mut self, source: &Source) -> Result<Table, Problems> {
        let file = parse_file(source)?;
        let Some((base_name, extends)) = file.extends.clone() else {
            return Ok(Table {
                name: file.name,
                rfc: file.rfc.unwrap_or(DEFAULT_RFC),
                msl: file.msl.unwrap_or(DEFAULT_MSL),
                rows: file.rows,
                source: source.clone(),
                variant: None,
            });
        };
        let one = |p: Problem| Problems::new(source, vec![p]);
        let base = self.validated(&base_name, source, extends, "base").map_err(one)?;
        let rfc = file.rfc.unwrap_or(base.rfc);
        let mut slots: Vec<Slot> =
            base.rows.iter().map(|r| Slot { row: qualified(r.clone(), base.rfc, rfc), after: None }).collect();
        let mut changes = Vec::new();
        let mut problems = Vec::new();
        for edit in &file.edits {
            match self.expand(edit, &file, rfc) {
                Ok(edits) => {
                    for e in edits {
                        match apply(&mut slots, &e, &base_name) {
                            Ok(states) => changes.push(Applied { edit: e, at: edit.span, states }),
                            Err(p) => problems.push(from_elsewhere(p, edit, &e)),
                        }
                    }
                }
                Err(p) => problems.push(p),
            }
        }
        if !problems.is_empty() {
            return Err(Problems::new(source, problems));
        }
        Ok(Table {
            name: file.name,
            rfc,
            msl: file.msl.unwrap_or(base.msl),
            rows: slots.into_iter().map(|s| s.row).collect(),
            source: source.clone(),
            variant: Some(Arc::new(Variant { base_name, base, extends, changes })),
        })
    }

    /// The table `name` names from `from`, flattened and validated; a problem at `at` if it
    /// cannot be found, is part of a cycle, or is not valid (its own problems as notes).
    // A `Problem` is large, but it is the rare path, and every caller collects it into `Problems`.
    #[allow(clippy::result_large_err)]
    fn validated(&mut self, name: &str, from: &Source, at: Span, role: &str) -> Result<Table, Problem> {
        let problem = |message: String, label: &str| Problem::new(Kind::Variant, at, message, label).in_source(from);
        let source = self.resolver.resolve(name, from).map_err(|why| {
            problem(format!("cannot find the {role} `{name}`: {why}"), "named here")
                .help("name a shipped model (`tcpcheck validate` lists them) or a .tcp file relative to this one")
        })?;
        if self.chain.iter().any(|n| **n == *source.name) {
            let cycle = format!("{} -> {}", self.chain.join(" -> "), source.name);
            return Err(problem(format!("`{name}` leads back to itself: {cycle}"), "closes the cycle")
                .help("a table cannot build on itself; make one of them a whole table"));
        }
        if self.chain.len() >= MAX_DEPTH {
            return Err(problem(format!("variants nested deeper than {MAX_DEPTH}"), "one too many")
                .help("extend the table further up the chain directly"));
        }
        self.chain.push(source.name.to_string());
        let result = self.table(&source).and_then(Table::validate);
        self.chain.pop();
        result.map(super::Model::into_table).map_err(|base| {
            let n = base.problems.len();
            let mut p = problem(
                format!("the {role} `{name}` ({}) is not a valid table: {n} problem{}", source.name, plural(n)),
                "named here",
            )
            .help(format!("fix {} first", source.name));
            for inner in base.problems.into_iter().take(5) {
                p = p.note(inner.into_note());
            }
            p
        })
    }

    /// The edits `edit` stands for: itself, or for `apply` every change of the named variant,
    /// with citations qualified for a table on `rfc`.
    #[allow(clippy::result_large_err)] // as `validated`
    fn expand(&mut self, edit: &Edit, file: &File, rfc: u16) -> Result<Vec<Edit>, Problem> {
        let Op::Apply(name) = &edit.op else { return Ok(vec![edit.clone()]) };
        let applied = self.validated(name, &file.source, edit.target, "variant")?;
        let Some(variant) = &applied.variant else {
            return Err(Problem::new(
                Kind::Variant,
                edit.target,
                format!("`{name}` is a whole table"),
                "not a variant",
            )
            .in_source(&file.source)
            .help("`apply` makes a variant's changes; to start from a whole table, write `extends`"));
        };
        Ok(variant
            .changes
            .iter()
            .map(|c| {
                let mut e = c.edit.clone();
                match &mut e.op {
                    Op::Replace(row) | Op::Insert { row, .. } => *row = qualified(row.clone(), applied.rfc, rfc),
                    Op::Remove(_) | Op::Apply(_) => {}
                }
                e
            })
            .collect())
    }
}

/// Makes one edit; the states it touched, or why it does not apply (at the edit's own line).
#[allow(clippy::result_large_err)] // as `Loader::validated`
fn apply(slots: &mut Vec<Slot>, edit: &Edit, base: &str) -> Result<Vec<State>, Problem> {
    let find = |slots: &[Slot], key: &Key| slots.iter().position(|s| Key::of(&s.row) == *key);
    let missing = |slots: &[Slot], key: &Key, what: &str| {
        let keys = |same_input: bool| -> Vec<String> {
            let near = slots.iter().map(|s| Key::of(&s.row));
            near.filter(|k| k.from == key.from && (!same_input || k.input == key.input))
                .map(|k| k.to_string())
                .collect()
        };
        let (same_input, same_state) = (keys(true), keys(false));
        let help = match (same_input.as_slice(), did_you_mean(&key.to_string(), same_state.iter().map(String::as_str)))
        {
            ([one], _) => format!("did you mean `{one}`?"),
            ([], Some(k)) => format!("did you mean `{k}`?"),
            ([], None) => format!("rows are named by state, input and guard, as `tcpcheck show {base}` prints them"),
            (several, _) => format!("the rows for {} {} are: `{}`", key.from, key.input, several.join("`, `")),
        };
        Problem::new(Kind::Variant, edit.target, format!("no row `{key}` {what}"), "not a row of the table so far")
            .in_source(&edit.source)
            .help(help)
    };
    match &edit.op {
        Op::Replace(row) => {
            let key = Key::of(row);
            let i = find(slots, &key).ok_or_else(|| missing(slots, &key, "to replace"))?;
            let old = std::mem::replace(&mut slots[i].row, row.clone());
            Ok(vec![old.rule.from, old.rule.to, row.rule.to])
        }
        Op::Remove(key) => {
            let i = find(slots, key).ok_or_else(|| missing(slots, key, "to remove"))?;
            let old = slots.remove(i).row;
            Ok(vec![old.rule.from, old.rule.to])
        }
        Op::Insert { place, anchor, row } => {
            let a = find(slots, anchor).ok_or_else(|| missing(slots, anchor, "to insert at"))?;
            let key = Key::of(row);
            if let Some(j) = find(slots, &key) {
                let there = &slots[j].row;
                let p = Problem::new(
                    Kind::Variant,
                    edit.target,
                    format!("a row `{key}` is there already"),
                    "inserted again",
                )
                .in_source(&edit.source)
                .help("`replace` it instead: two rows with one key would leave the second unreachable");
                return Err(p.label_in(&there.source, there.spans.row, format!("{} is that row", there.location())));
            }
            let at = match place {
                Place::Before => a,
                Place::After => {
                    let mut at = a + 1;
                    while slots.get(at).is_some_and(|s| s.after.as_ref() == Some(anchor)) {
                        at += 1;
                    }
                    at
                }
            };
            let after = (*place == Place::After).then(|| anchor.clone());
            slots.insert(at, Slot { row: row.clone(), after });
            Ok(vec![row.rule.from, row.rule.to])
        }
        Op::Apply(_) => Ok(Vec::new()),
    }
}

/// A problem with an edit brought by `apply`, moved to the `apply` line with the edit's own
/// line as a note.
fn from_elsewhere(problem: Problem, written: &Edit, edit: &Edit) -> Problem {
    if written.source.same_file(&edit.source) && written.span == edit.span {
        return problem;
    }
    let mut p = Problem::new(problem.kind, written.target, problem.message.clone(), "in a change this applies")
        .in_source(&written.source);
    if let Some(help) = &problem.help {
        p = p.help(help.clone());
    }
    p.note(problem.into_note())
}

/// `row` moved from a table on RFC `from` into one on RFC `to`: bare sections qualified.
fn qualified(mut row: Row, from: u16, to: u16) -> Row {
    if from != to {
        let refs = row.rule.cite.0.iter().cloned().map(|mut r| {
            r.rfc.get_or_insert(from);
            r
        });
        row.rule.cite = Cite(refs.collect());
    }
    row
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;

    /// A small valid base: CLOSED and LISTEN, every input handled.
    const BASE: &str = concat!("model base\nrfc 9293\n", minimal_rows!());

    /// Files by name, as a resolver: what a directory of tables would be.
    struct Files(Vec<(&'static str, String)>);

    impl Resolve for Files {
        fn resolve(&self, name: &str, _from: &Source) -> Result<Source, String> {
            let (n, text) = self.0.iter().find(|(n, _)| *n == name).ok_or(format!("no `{name}`"))?;
            Ok(Source::new(format!("{n}.tcp"), text.as_str()))
        }
    }

    fn files(variant: &str) -> Files {
        Files(vec![("base", BASE.to_string()), ("v", variant.to_string())])
    }

    fn flat(variant: &str) -> Result<Table, Problems> {
        let resolver = files(variant);
        let source = resolver.resolve("v", &Source::new("", "")).unwrap();
        flatten(&source, &resolver)
    }

    #[track_caller]
    fn rows(variant: &str) -> Vec<String> {
        let table = flat(variant).unwrap_or_else(|p| panic!("{}", p.render_plain()));
        table
            .rows
            .iter()
            .filter(|r| r.rule.from == State::Listen)
            .map(|r| format!("{} {}", r.location(), Key::of(r)))
            .collect()
    }

    #[track_caller]
    fn problems(variant: &str) -> Vec<(Kind, String)> {
        let err = flat(variant).and_then(Table::validate).expect_err("should fail");
        err.problems.iter().map(|p| (p.kind, p.location())).collect()
    }

    #[test]
    fn edits_replace_insert_and_remove_in_file_order() {
        let v = "model v\nextends base\n\
                 replace LISTEN SEND -> LISTEN signal UNSPECIFIED @ 1\n\
                 insert after LISTEN CLOSE: LISTEN SYN|* -> LISTEN @ 2\n\
                 insert after LISTEN CLOSE: LISTEN RST|* -> LISTEN @ 2\n\
                 insert before LISTEN *: LISTEN ACK|* -> LISTEN @ 2\n\
                 remove LISTEN ABORT\n";
        assert_eq!(
            rows(&format!("{v}insert after LISTEN RECEIVE: LISTEN ABORT -> CLOSED delete @ 1\n")),
            [
                "base.tcp:10 LISTEN CLOSE",
                "v.tcp:4 LISTEN SYN|*",
                "v.tcp:5 LISTEN RST|*",
                "base.tcp:11 LISTEN OPEN-ACTIVE",
                "base.tcp:12 LISTEN OPEN-PASSIVE",
                "v.tcp:3 LISTEN SEND",
                "base.tcp:14 LISTEN RECEIVE",
                "v.tcp:8 LISTEN ABORT",
                "v.tcp:6 LISTEN ACK|*",
                "base.tcp:16 LISTEN *",
            ]
        );
        let table = flat(&format!("{v}insert after LISTEN RECEIVE: LISTEN ABORT -> CLOSED delete @ 1\n")).unwrap();
        assert_eq!(table.rows.len(), 17);
        let variant = table.variant.as_ref().unwrap();
        assert_eq!(variant.base.rows.len(), 14);
        assert_eq!(variant.changes.len(), 6);
        assert!(table.validate().is_ok());
    }

    #[test]
    fn an_unknown_row_is_an_error_at_the_edit_with_a_suggestion() {
        let err = flat("model v\nextends base\nremove LISTEN SND\n").unwrap_err();
        assert_eq!(err.kinds(), [Kind::Unknown]);
        let err = flat("model v\nextends base\nremove LISTEN OPEN-ACTIVE seq-ok\n").unwrap_err();
        assert_eq!(err.kinds(), [Kind::Variant]);
        assert_eq!(err.problems[0].location(), "v.tcp:3:8");
        assert_eq!(err.problems[0].help.as_deref(), Some("did you mean `LISTEN OPEN-ACTIVE`?"));
    }

    #[test]
    fn inserting_a_row_that_exists_is_an_error_naming_it() {
        let err = flat("model v\nextends base\ninsert before LISTEN *: LISTEN SEND -> LISTEN @ 1\n").unwrap_err();
        assert_eq!(err.kinds(), [Kind::Variant]);
        let p = &err.problems[0];
        assert!(p.message.contains("`LISTEN SEND` is there already"), "{}", p.message);
        assert_eq!(p.notes[0].location(), "base.tcp:13:1");
    }

    #[test]
    fn a_problem_among_base_rows_is_blamed_on_the_variant_line() {
        // Without its catch-all, LISTEN misses every segment: the base's last LISTEN row is where
        // the validator would point; the variant's `remove` is what did it.
        let found = problems("model v\nextends base\n\nremove LISTEN *\n");
        assert_eq!(found, [(Kind::NonExhaustive, "v.tcp:4:1".to_string())]);
        let err = flat("model v\nextends base\nremove LISTEN *\n").and_then(Table::validate).unwrap_err();
        assert_eq!(err.problems[0].notes[0].location(), "base.tcp:15:1");
        let text = err.render_plain();
        assert!(text.contains("v.tcp:3:1") && text.contains("base.tcp:15:1"), "{text}");
        // A row the variant wrote is pointed at directly, and its shadowers in the base as notes.
        let found = problems("model v\nextends base\ninsert after LISTEN *: LISTEN ACK -> LISTEN @ 1\n");
        assert_eq!(found, [(Kind::Shadowed, "v.tcp:3:24".to_string())]);
    }

    #[test]
    fn plain_rows_in_a_variant_and_edits_without_base_are_errors() {
        let err = flat("model v\nextends base\nLISTEN SEND -> LISTEN @ 1\n").unwrap_err();
        assert_eq!(err.kinds(), [Kind::Syntax]);
        assert!(err.problems[0].help.as_deref().unwrap().starts_with("write `replace ROW`"));
        let err = Table::parse(Source::new("t.tcp", "model t\nremove LISTEN SEND\n")).unwrap_err();
        assert_eq!(err.kinds(), [Kind::Syntax]);
    }

    #[test]
    fn missing_bases_and_cycles_are_errors_at_extends() {
        let err = flat("model v\nextends nowhere\n").unwrap_err();
        assert_eq!((err.kinds(), err.problems[0].location()), (vec![Kind::Variant], "v.tcp:2:9".to_string()));
        let resolver =
            Files(vec![("a", "model a\nextends b\n".to_string()), ("b", "model b\nextends a\n".to_string())]);
        let a = resolver.resolve("a", &Source::new("", "")).unwrap();
        let err = flatten(&a, &resolver).unwrap_err();
        let cycle = &err.problems[0];
        // The outer file reports that its base is invalid; the base's own problem is the cycle.
        assert_eq!(cycle.location(), "a.tcp:2:9");
        assert!(cycle.notes[0].message.contains("a.tcp -> b.tcp -> a.tcp"), "{}", cycle.notes[0].message);
        let own = Files(vec![("v", "model v\nextends v\n".to_string())]);
        let err = flatten(&own.resolve("v", &Source::new("", "")).unwrap(), &own).unwrap_err();
        assert!(err.problems[0].message.contains("leads back to itself"));
    }

    #[test]
    fn apply_makes_another_variants_changes_and_headers_are_inherited() {
        let resolver = Files(vec![
            ("base", BASE.replace("rfc 9293", "rfc 793\nmsl 30s")),
            (
                "switch",
                "model switch\nextends base\nrfc 9293\nreplace LISTEN SEND -> LISTEN signal UNSPECIFIED @ 3.10.2\n"
                    .into(),
            ),
            ("v", "model v\nextends base\napply switch\nreplace LISTEN RECEIVE -> LISTEN queue @ 1\n".into()),
        ]);
        let table = flatten(&resolver.resolve("v", &Source::new("", "")).unwrap(), &resolver).unwrap();
        assert_eq!((table.rfc, table.msl.to_string()), (793, "30s".to_string()));
        let send = table.rows.iter().find(|r| r.rule.input.to_string() == "SEND" && r.rule.from == State::Listen);
        // The switch's bare section meant RFC 9293; in an RFC 793 table it says so.
        assert_eq!(send.unwrap().rule.cite.to_string(), "RFC9293 3.10.2");
        assert_eq!(send.unwrap().location(), "switch.tcp:4");
        let changes = &table.variant.as_ref().unwrap().changes;
        assert_eq!(changes.len(), 2);
        let at = |c: &Applied| table.source.locate(c.at.offset).0;
        assert_eq!((at(&changes[0]), at(&changes[1])), (3, 4));
        assert!(table.validate().is_ok());
        // An applied change that does not fit is reported at the `apply` line, its own line a note.
        let resolver = Files(vec![
            ("base", BASE.to_string()),
            ("switch", "model switch\nextends base\nreplace LISTEN RECEIVE -> LISTEN queue @ 1\n".into()),
            ("v", "model v\nextends base\nremove LISTEN RECEIVE\napply switch\n".into()),
        ]);
        let err = flatten(&resolver.resolve("v", &Source::new("", "")).unwrap(), &resolver).unwrap_err();
        assert_eq!(err.problems[0].location(), "v.tcp:4:7");
        assert_eq!(err.problems[0].notes[0].location(), "switch.tcp:3:9");
    }
}
