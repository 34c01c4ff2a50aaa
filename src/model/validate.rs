//! The validator: checks a table the way rustc checks a `match`.
//!
//! * **Exhaustive** — for every state the table names, every input that can happen there and
//!   every feasible valuation of the guard families its rows read, some row fires.
//! * **No unreachable row** — every row fires for at least one case; a row whose cases are all
//!   taken by earlier rows is shadowed, and one whose input cannot happen or whose guard cannot
//!   hold is impossible.
//! * Every state is reachable from CLOSED; every guard means something where it is used; rows
//!   that enter CLOSED delete the TCB and only those.
//!
//! Which timeouts "can happen" in a state is itself computed from the table: a timer may run in
//! a state if some reachable row enters it with the timer started and not stopped since.

use std::collections::BTreeSet;

use super::action::Action;
use super::diag::{Kind, Problem, Problems, Span};
use super::guard::{Family, Guard, GuardMasks, Valuation};
use super::input::{Flags, Input, Pattern, Timer};
use super::state::State;
use super::{Row, Table};

/// A set of timers, as bits indexed by `Timer as u8`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TimerSet(u8);

impl TimerSet {
    pub fn contains(self, t: Timer) -> bool {
        self.0 & (1 << t as u8) != 0
    }

    fn insert(&mut self, t: Timer) {
        self.0 |= 1 << t as u8;
    }

    fn remove(&mut self, t: Timer) {
        self.0 &= !(1 << t as u8);
    }

    fn is_subset(self, other: TimerSet) -> bool {
        self.0 & !other.0 == 0
    }
}

/// Figures for the one-line summary of `tcpcheck validate`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub rows: usize,
    pub states: usize,
    /// Distinct concrete inputs that can happen in some state of the table.
    pub inputs: usize,
    /// (state, input, guard valuation) cases enumerated, each matched by exactly one first row.
    pub cases: usize,
}

/// A validated table: exhaustive, without unreachable rows, ready to execute.
#[derive(Clone, Debug)]
pub struct Model {
    table: Table,
    /// Candidate rows per (state, input), in table order: `state * Input::COUNT + input`.
    dispatch: Vec<Vec<u16>>,
    /// Each row's guard as bits, by row index.
    guards: Vec<GuardMasks>,
    timers: [TimerSet; State::COUNT],
    states: Vec<State>,
    stats: Stats,
}

impl Model {
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The validated table, for building on (a variant's base).
    pub fn into_table(self) -> Table {
        self.table
    }

    pub fn name(&self) -> &str {
        &self.table.name
    }

    pub fn rows(&self) -> &[Row] {
        &self.table.rows
    }

    /// The states the table names, in RFC order.
    pub fn states(&self) -> &[State] {
        &self.states
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether `timer` may be running while in `state`.
    pub fn may_run(&self, state: State, timer: Timer) -> bool {
        self.timers[state.index()].contains(timer)
    }

    /// The rows that match `input` in `state`, in table order.
    pub fn candidates(&self, state: State, input: Input) -> &[u16] {
        &self.dispatch[state.index() * Input::COUNT + input.index()]
    }

    /// The row that fires, with its index: the first candidate whose guard holds under
    /// `valuation`.
    pub fn fire(&self, state: State, input: Input, valuation: &Valuation) -> Option<(usize, &Row)> {
        let bits = valuation.bits();
        let candidates = self.candidates(state, input);
        let i = candidates.iter().copied().find(|&i| self.guards[usize::from(i)].holds(bits))?;
        Some((usize::from(i), &self.table.rows[usize::from(i)]))
    }
}

fn first_match(rows: &[Row], candidates: &[u16], valuation: &Valuation) -> Option<u16> {
    candidates.iter().copied().find(|&i| rows[i as usize].rule.guard.holds(valuation))
}

impl Table {
    /// Checks the table; on success it becomes an executable [`Model`].
    pub fn validate(self) -> Result<Model, Problems> {
        // Each problem with the state it is about, so a variant can blame its own lines.
        let mut problems: Vec<(Problem, Option<State>)> = Vec::new();
        for row in &self.rows {
            let mut found = Vec::new();
            check_row(row, &mut found);
            problems.extend(found.into_iter().map(|p| (p, Some(row.rule.from))));
        }

        let mut present = [false; State::COUNT];
        present[State::Closed.index()] = true;
        for row in &self.rows {
            present[row.rule.from.index()] = true;
            present[row.rule.to.index()] = true;
        }
        let states: Vec<State> = State::ALL.iter().copied().filter(|s| present[s.index()]).collect();
        let (reached, timers) = reach(&self.rows);

        let mut dispatch = vec![Vec::new(); State::COUNT * Input::COUNT];
        for (i, row) in self.rows.iter().enumerate() {
            for input in Input::all().filter(|&inp| row.rule.input.matches(inp)) {
                dispatch[row.rule.from.index() * Input::COUNT + input.index()].push(i as u16);
            }
        }

        let mut fired = vec![false; self.rows.len()];
        let mut possible = vec![false; self.rows.len()];
        let mut shadowers: Vec<BTreeSet<u16>> = vec![BTreeSet::new(); self.rows.len()];
        let mut inputs_seen = BTreeSet::new();
        let mut cases = 0;
        for &state in &states {
            let mut missing: Vec<(Input, Vec<Guard>)> = Vec::new();
            for input in Input::all() {
                if let Input::Timeout(t) = input {
                    if !timers[state.index()].contains(t) {
                        continue;
                    }
                }
                inputs_seen.insert(input);
                let candidates = &dispatch[state.index() * Input::COUNT + input.index()];
                let mut families: Vec<Family> =
                    candidates.iter().flat_map(|&c| self.rows[c as usize].rule.guard.families()).collect();
                families.sort();
                families.dedup();
                let mut uncovered = Vec::new();
                for valuation in Valuation::enumerate(&families) {
                    cases += 1;
                    let Some(winner) = first_match(&self.rows, candidates, &valuation) else {
                        uncovered.push(valuation.describe(&families));
                        continue;
                    };
                    fired[winner as usize] = true;
                    for &c in candidates.iter().filter(|&&c| c != winner) {
                        if self.rows[c as usize].rule.guard.holds(&valuation) {
                            possible[c as usize] = true;
                            if c > winner {
                                shadowers[c as usize].insert(winner);
                            }
                        }
                    }
                }
                if !uncovered.is_empty() {
                    missing.push((input, uncovered));
                }
            }
            if !missing.is_empty() {
                problems.push((non_exhaustive(&self, state, &missing), Some(state)));
            }
        }

        for (i, row) in self.rows.iter().enumerate() {
            if fired[i] || !reached[row.rule.from.index()] {
                continue;
            }
            problems.push((unfired(&self, row, possible[i], &shadowers[i], &timers), Some(row.rule.from)));
        }

        for &state in &states {
            if !reached[state.index()] {
                let (source, span) = self
                    .rows
                    .iter()
                    .find(|r| r.rule.from == state)
                    .map(|r| (&r.source, r.spans.from))
                    .or_else(|| self.rows.iter().find(|r| r.rule.to == state).map(|r| (&r.source, r.spans.to)))
                    .unwrap_or((&self.source, Span::default()));
                let problem = Problem::new(
                    Kind::UnreachableState,
                    span,
                    format!("state {state} is unreachable from CLOSED"),
                    "no sequence of rows leads here",
                )
                .in_source(source)
                .help(format!("add a row whose target is {state}, or remove {state}'s rows"));
                problems.push((problem, Some(state)));
            }
        }

        if !problems.is_empty() {
            let problems = problems
                .into_iter()
                .map(|(p, state)| match &self.variant {
                    Some(variant) => variant.blame(&self.source, p, state),
                    None => p,
                })
                .collect();
            return Err(Problems::new(&self.source, problems));
        }
        let stats = Stats { rows: self.rows.len(), states: states.len(), inputs: inputs_seen.len(), cases };
        let guards = self.rows.iter().map(|row| row.rule.guard.masks()).collect();
        Ok(Model { table: self, dispatch, guards, timers, states, stats })
    }
}

/// Checks that need only the row itself: guard applicability and action consistency.
fn check_row(row: &Row, problems: &mut Vec<Problem>) {
    let rule = &row.rule;
    for (lit, span) in rule.guard.0.iter().zip(&row.spans.guard) {
        if let Err(why) = lit.atom.family().applies(rule.from, rule.input) {
            problems.push(
                Problem::new(Kind::Inapplicable, *span, format!("guard `{}` means nothing here", lit.atom), why)
                    .in_source(&row.source)
                    .help(format!("`{}`: {}", lit.atom, lit.atom.definition())),
            );
        }
    }
    let mut inconsistent = |span: Span, message: String, help: String| {
        problems.push(Problem::new(Kind::Inconsistent, span, message, "here").in_source(&row.source).help(help));
    };
    let has = |a: Action| rule.actions.contains(&a);
    let leaves = |s: State| rule.from != s && rule.to == s;
    if leaves(State::Closed) && !has(Action::Delete) {
        inconsistent(
            row.spans.to,
            format!("row enters CLOSED from {} without deleting the TCB", rule.from),
            "add `delete` to the actions (RFC 9293 3.10: \"delete the TCB, enter the CLOSED state\")".into(),
        );
    }
    let into_listen = rule.to == State::Listen && !matches!(rule.from, State::Closed | State::Listen);
    if into_listen && !has(Action::Flush) {
        inconsistent(
            row.spans.to,
            format!("row returns from {} to LISTEN without forgetting the connection", rule.from),
            "add `flush` to the actions (RFC 9293 3.10.7.4: \"return this connection to LISTEN\")".into(),
        );
    }
    for (action, span) in rule.actions.iter().zip(&row.spans.actions) {
        let needs = |bits: Flags, what: &str| {
            (!rule.input.requires(bits)).then(|| {
                (
                    format!("`{action}` on input `{}`, which may lack {what}", rule.input),
                    format!("write the input as `{bits}|…`"),
                )
            })
        };
        let issue = match action {
            Action::Delete if !leaves(State::Closed) => Some((
                "`delete` in a row that does not enter CLOSED".into(),
                "only rows into CLOSED delete the TCB".into(),
            )),
            Action::Flush if !into_listen => Some((
                "`flush` in a row that does not return to LISTEN".into(),
                "`flush` forgets a half-open connection while listening goes on".into(),
            )),
            Action::Reopen(_) if (rule.from, rule.to) != (State::TimeWait, State::SynReceived) => Some((
                "`reopen` in a row that does not go from TIME-WAIT to SYN-RECEIVED".into(),
                "`reopen` starts a new connection from TIME-WAIT on a SYN (RFC 1122 4.2.2.13)".into(),
            )),
            Action::Reopen(_) if !rule.input.requires(Flags::SYN) => Some((
                format!("`reopen` on input `{}`, which may lack a SYN", rule.input),
                "only a new SYN reopens a connection from TIME-WAIT".into(),
            )),
            Action::AcceptSyn => needs(Flags::SYN, "a SYN"),
            Action::AcceptAck => needs(Flags::ACK, "an ACK"),
            Action::AcceptFin => needs(Flags::FIN, "a FIN"),
            Action::Deliver => needs(Flags::DATA, "data"),
            _ => None,
        };
        if let Some((message, help)) = issue {
            inconsistent(*span, message, help);
        }
    }
}

/// Reachable states from CLOSED and, per state, the timers that may be running there.
fn reach(rows: &[Row]) -> ([bool; State::COUNT], [TimerSet; State::COUNT]) {
    let mut reached = [false; State::COUNT];
    let mut timers = [TimerSet::default(); State::COUNT];
    reached[State::Closed.index()] = true;
    let mut changed = true;
    while changed {
        changed = false;
        for row in rows {
            let rule = &row.rule;
            let from = rule.from.index();
            if !reached[from] {
                continue;
            }
            let mut running = timers[from];
            if let Pattern::Timeout(t) = rule.input {
                if !running.contains(t) {
                    continue;
                }
                running.remove(t);
            }
            for action in &rule.actions {
                match *action {
                    Action::Start(t) | Action::Restart(t) => running.insert(t),
                    Action::Stop(t) => running.remove(t),
                    Action::Delete | Action::Flush | Action::Reopen(_) => running = TimerSet::default(),
                    _ => {}
                }
            }
            let to = rule.to.index();
            if !reached[to] || !running.is_subset(timers[to]) {
                reached[to] = true;
                timers[to] = TimerSet(timers[to].0 | running.0);
                changed = true;
            }
        }
    }
    (reached, timers)
}

fn non_exhaustive(table: &Table, state: State, missing: &[(Input, Vec<Guard>)]) -> Problem {
    const SHOWN: usize = 4;
    let describe = |(input, guards): &(Input, Vec<Guard>)| {
        if guards.iter().all(Guard::is_empty) {
            return format!("`{input}`");
        }
        let shown: Vec<String> = guards.iter().take(2).map(|g| g.to_string()).collect();
        let more = if guards.len() > 2 { format!(" (+{} more)", guards.len() - 2) } else { String::new() };
        format!("`{input}` when {}{more}", shown.join(" | "))
    };
    let mut cases: Vec<String> = missing.iter().take(SHOWN).map(describe).collect();
    if missing.len() > SHOWN {
        cases.push(format!(
            "and {} more input{}",
            missing.len() - SHOWN,
            if missing.len() - SHOWN == 1 { "" } else { "s" }
        ));
    }
    let (first_input, first_guards) = &missing[0];
    let example_guard = first_guards.first().map(|g| format!(" {g}")).unwrap_or_default();
    // Point where a row would go: after the state's last row for the same kind of input.
    let same_kind = |p: Pattern| std::mem::discriminant(&p) == std::mem::discriminant(&kind_of(*first_input));
    let last_row = (table.rows.iter().rev())
        .find(|r| r.rule.from == state && same_kind(r.rule.input))
        .or_else(|| table.rows.iter().rev().find(|r| r.rule.from == state));
    let (source, span, label) = match last_row {
        Some(row) => (&row.source, row.spans.row, format!("rows for {state} end here")),
        None => {
            let (source, span) = (table.rows.iter().find(|r| r.rule.to == state))
                .map_or((&table.source, Span::default()), |r| (&r.source, r.spans.to));
            (source, span, format!("{state} is entered here but has no rows"))
        }
    };
    Problem::new(
        Kind::NonExhaustive,
        span,
        format!("rows for {state} are not exhaustive: no row matches {}", cases.join(", ")),
        label,
    )
    .in_source(source)
    .help(format!(
        "add a row such as `{state} {first_input}{example_guard} -> {state} … @ SECTION`, \
         or a catch-all `{state} * -> {state} @ SECTION` after the others"
    ))
}

/// A pattern of the same kind as `input`, to compare kinds.
fn kind_of(input: Input) -> Pattern {
    match input {
        Input::Call(c) => Pattern::Call(c),
        Input::Segment(flags) => Pattern::Segment { flags, rest: false },
        Input::Timeout(t) => Pattern::Timeout(t),
    }
}

fn unfired(
    table: &Table,
    row: &Row,
    possible: bool,
    shadowers: &BTreeSet<u16>,
    timers: &[TimerSet; State::COUNT],
) -> Problem {
    let rule = &row.rule;
    if possible {
        let mut p = Problem::new(
            Kind::Shadowed,
            row.spans.row,
            format!(
                "unreachable row: every case it matches is taken by {} earlier row{}",
                shadowers.len(),
                if shadowers.len() == 1 { "" } else { "s" }
            ),
            "this row never fires",
        )
        .in_source(&row.source)
        .help("delete it, move it above the rows that take its cases, or narrow their guards");
        // The nearest rows above are the likeliest culprits (a row just inserted, a guard just widened).
        for &s in shadowers.iter().rev().take(3) {
            let by = &table.rows[s as usize];
            let text = if by.source.same_file(&row.source) {
                format!("line {} fires first", by.line)
            } else {
                format!("{} fires first", by.location())
            };
            p = p.label_in(&by.source, by.spans.row, text);
        }
        return p;
    }
    let why = match rule.input {
        Pattern::Timeout(t) if !timers[rule.from.index()].contains(t) => {
            format!("TIMEOUT-{t} cannot happen in {}: no row enters {} with {t} running", rule.from, rule.from)
        }
        _ => format!("guard `{}` can never hold for input `{}`", rule.guard, rule.input),
    };
    Problem::new(Kind::Impossible, row.spans.row, format!("impossible row: {why}"), "this row never fires")
        .in_source(&row.source)
        .help("delete it, or fix the input or guard")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Atom, Source};

    /// A minimal valid table: CLOSED with every call and segment handled, a LISTEN to reach.
    const BASE: &str = concat!("model t\n", minimal_rows!());

    fn check(text: &str) -> Result<Model, Vec<(Kind, usize)>> {
        let source = Source::new("t.tcp", text);
        Table::parse(source.clone())
            .map_err(|e| panic!("{}", e.render_plain()))
            .unwrap()
            .validate()
            .map_err(|e| e.problems.iter().map(|p| (p.kind, source.locate(p.labels[0].0.offset).0)).collect())
    }

    #[test]
    fn base_table_is_valid() {
        let model = check(BASE).unwrap();
        assert_eq!(model.stats(), Stats { rows: 14, states: 2, inputs: 38, cases: 76 });
        assert_eq!(model.states(), [State::Closed, State::Listen]);
    }

    #[test]
    fn missing_case_is_reported_at_the_states_last_row() {
        let text = BASE.replace("LISTEN * -> LISTEN @ 1\n", "LISTEN SYN|* -> LISTEN @ 1\n");
        assert_eq!(check(&text).unwrap_err(), vec![(Kind::NonExhaustive, 15)]);
    }

    #[test]
    fn row_after_a_catch_all_is_shadowed() {
        let text = format!("{BASE}LISTEN ACK -> LISTEN @ 1\n");
        assert_eq!(check(&text).unwrap_err(), vec![(Kind::Shadowed, 16)]);
    }

    #[test]
    fn guards_split_cases_and_must_cover_every_value() {
        let text = BASE.replace(
            "LISTEN * -> LISTEN @ 1\n",
            "LISTEN * -> SYN-RECEIVED @ 1\nSYN-RECEIVED ABORT -> CLOSED delete @ 1\n\
             SYN-RECEIVED * seq-ok -> SYN-RECEIVED @ 1\nSYN-RECEIVED * !seq-ok & !seq-old -> SYN-RECEIVED @ 1\n",
        );
        let errors = check(&text).unwrap_err();
        // SYN-RECEIVED misses five calls (reported after its last call row, ABORT) and `seq-old` segments.
        assert_eq!(errors, vec![(Kind::NonExhaustive, 16)]);
    }

    #[test]
    fn contradictory_guard_is_impossible() {
        let text = BASE.replace(
            "LISTEN * -> LISTEN @ 1\n",
            "LISTEN ACK passive & !passive -> LISTEN @ 1\nLISTEN * -> LISTEN @ 1\n",
        );
        let errors = check(&text).unwrap_err();
        assert!(errors.contains(&(Kind::Inapplicable, 15)));
        assert!(errors.contains(&(Kind::Impossible, 15)));
    }

    #[test]
    fn timeout_of_a_timer_never_started_is_impossible() {
        let text = format!(
            "{}\nLISTEN TIMEOUT-RTO -> LISTEN @ 1\n",
            BASE.replace("LISTEN * -> LISTEN @ 1\n", "LISTEN * -> LISTEN @ 1")
        );
        assert_eq!(check(&text).unwrap_err(), vec![(Kind::Impossible, 16)]);
    }

    #[test]
    fn started_timer_demands_its_timeout_rows() {
        let text = BASE.replace("CLOSED OPEN-PASSIVE -> LISTEN @ 1", "CLOSED OPEN-PASSIVE -> LISTEN start 2MSL @ 1");
        assert_eq!(check(&text).unwrap_err(), vec![(Kind::NonExhaustive, 15)]);
        let fixed = format!("{text}LISTEN TIMEOUT-2MSL -> LISTEN @ 1\n");
        assert!(check(&fixed).unwrap().may_run(State::Listen, Timer::TwoMsl));
    }

    #[test]
    fn unreachable_state_and_missing_delete_are_reported() {
        let text = format!("{BASE}TIME-WAIT * -> CLOSED @ 1\n");
        let errors = check(&text).unwrap_err();
        assert!(errors.contains(&(Kind::Inconsistent, 16)), "{errors:?}");
        assert!(errors.contains(&(Kind::UnreachableState, 16)), "{errors:?}");
    }

    #[test]
    fn fire_takes_the_first_row_whose_guard_holds() {
        let model = Table::load(crate::model::shipped::Shipped::default_model().source()).unwrap();
        let mut v = Valuation::default();
        v.set(Family::Rst, Atom::RstInWindow.value());
        let (_, row) = model.fire(State::Established, Input::Segment(Flags::RST), &v).unwrap();
        assert_eq!(row.rule.actions, vec![Action::ChallengeAck]);
        v.set(Family::Rst, Atom::RstExact.value());
        let (_, row) = model.fire(State::Established, Input::Segment(Flags::RST.union(Flags::ACK)), &v).unwrap();
        assert_eq!(row.rule.to, State::Closed);
    }

    #[test]
    fn reopen_and_listening_belong_to_time_wait() {
        let load = |edit: &str| {
            let text = format!("model v\nextends rfc9293\n{edit}\n");
            Table::parse(Source::new("v.tcp", text)).unwrap().validate().map_err(|e| e.kinds())
        };
        let reuse = "insert before TIME-WAIT * seq-old: TIME-WAIT SYN listening & !seq-ok & !seq-old \
                     -> SYN-RECEIVED reopen above-old; accept-syn; send SYN|ACK; start RTO @ 1";
        assert!(load(reuse).is_ok());
        let to_closed = reuse.replace("-> SYN-RECEIVED", "-> CLOSED").replace("start RTO", "delete");
        assert_eq!(load(&to_closed).unwrap_err(), [Kind::Inconsistent]);
        let no_syn = reuse.replace("TIME-WAIT SYN listening", "TIME-WAIT ACK listening").replace("accept-syn; ", "");
        assert_eq!(load(&no_syn).unwrap_err(), [Kind::Inconsistent]);
        let listening_elsewhere = "insert before LISTEN *: LISTEN SYN listening -> LISTEN @ 1";
        assert!(load(listening_elsewhere).unwrap_err().contains(&Kind::Inapplicable));
    }
}
