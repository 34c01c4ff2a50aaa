//! Printing a table and parsing it back gives the same rules: for random tables (proptest) and
//! for every shipped model.

use proptest::prelude::*;
use tcpcheck::model::shipped::SHIPPED;
use tcpcheck::model::*;
use tcpcheck::time::Duration;

fn pick<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(all)
}

fn pattern() -> impl Strategy<Value = Pattern> {
    prop_oneof![
        pick(Call::ALL).prop_map(Pattern::Call),
        pick(Timer::ALL).prop_map(Pattern::Timeout),
        (0u8..32, any::<bool>()).prop_map(|(bits, rest)| Pattern::Segment { flags: Flags::from_bits(bits), rest }),
    ]
}

fn guard() -> impl Strategy<Value = Guard> {
    proptest::collection::vec((pick(Atom::ALL), any::<bool>()), 0..4)
        .prop_map(|lits| Guard(lits.into_iter().map(|(atom, negated)| Literal { atom, negated }).collect()))
}

fn action() -> impl Strategy<Value = Action> {
    let send = (1u8..32, pick(SeqExpr::ALL), proptest::option::of(pick(AckExpr::ALL))).prop_map(|(bits, seq, ack)| {
        let ctl = Flags::from_bits(bits).without(Flags::ACK);
        // A segment needs at least one bit: give a bare one an ACK.
        let ack = if ctl.is_empty() { Some(ack.unwrap_or(AckExpr::RcvNxt)) } else { ack };
        Action::Send(SendSpec { ctl, seq, ack })
    });
    prop_oneof![
        send,
        pick(Timer::ALL).prop_map(Action::Start),
        pick(Timer::ALL).prop_map(Action::Stop),
        pick(Timer::ALL).prop_map(Action::Restart),
        pick(Signal::ALL).prop_map(Action::Signal),
        pick(&[
            Action::ChallengeAck,
            Action::Retransmit,
            Action::AcceptSyn,
            Action::AcceptAck,
            Action::Deliver,
            Action::AcceptFin,
            Action::Queue,
            Action::Read,
            Action::Flush,
            Action::Delete,
        ]),
    ]
}

fn cite() -> impl Strategy<Value = Cite> {
    let one = (
        proptest::option::of(1u16..10000),
        proptest::collection::vec(0u16..200, 1..5),
        proptest::option::of(1u16..200),
    )
        .prop_map(|(rfc, parts, page)| {
            let section = parts.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(".");
            CiteRef { rfc, section, page }
        });
    proptest::collection::vec(one, 1..3).prop_map(Cite)
}

fn rule() -> impl Strategy<Value = Rule> {
    (pick(State::ALL), pattern(), guard(), pick(State::ALL), proptest::collection::vec(action(), 0..5), cite())
        .prop_map(|(from, input, guard, to, actions, cite)| Rule { from, input, guard, to, actions, cite })
}

fn rules(table: &Table) -> Vec<Rule> {
    table.rows.iter().map(|r| r.rule.clone()).collect()
}

proptest! {
    #[test]
    fn printed_tables_parse_back_to_the_same_rules(
        name in "[a-z0-9][a-z0-9._-]{0,15}",
        rfc in any::<u16>(),
        msl in 0u64..10_000_000_000,
        rules_in in proptest::collection::vec(rule(), 0..20),
    ) {
        let source = Source::new("gen.tcp", "");
        let rows = rules_in
            .iter()
            .map(|rule| Row { rule: rule.clone(), line: 0, spans: RowSpans::default(), source: source.clone() })
            .collect();
        let table = Table { name, rfc, msl: Duration::from_micros(msl), rows, source, variant: None };
        let printed = table.to_string();
        let parsed = match Table::parse(Source::new("printed.tcp", printed.clone())) {
            Ok(t) => t,
            Err(e) => return Err(TestCaseError::fail(format!("{}\n{printed}", e.render_plain()))),
        };
        prop_assert_eq!(&parsed.name, &table.name);
        prop_assert_eq!(parsed.rfc, table.rfc);
        prop_assert_eq!(parsed.msl, table.msl);
        prop_assert_eq!(rules(&parsed), rules_in);
    }
}

#[test]
fn shipped_models_round_trip() {
    for shipped in SHIPPED {
        let model = shipped.load().unwrap();
        let printed = model.table().to_string();
        let again = Table::load(Source::new("printed.tcp", printed)).unwrap();
        assert_eq!(rules(again.table()), rules(model.table()), "{}", shipped.name);
    }
}
