//! The mapper between the learner's abstract words and a concrete stack.
//!
//! An abstract input is a *letter*: a named step of the fuzz script vocabulary
//! ([`crate::conform::script`]), so a word is a [`Script`] and a query is an oracle run: the
//! oracle's shadow numbers the peer's segments relative to what the stack should expect, as in
//! every fuzz run, and a difference the learner finds replays as a finding. After the stack
//! first differs from the table the shadow is no longer told anything (the oracle's
//! `to_the_end`), so the peer's numbers stay where the table's view of the stack left them.
//!
//! An abstract output is what the stack did in one step, as text: the segments it sent, each
//! as its flags, payload length and number classes, then text a RECEIVE returned, then the
//! state it reports if it reports one: `SYN|ACK(isn,nxt) [SYN-RECEIVED]`. Numbers are classed
//! relative to the peer's view of the connection ([`View`]), which it keeps from what it sent
//! and what the stack sent, so that a stack's own choices (its ISN, its window) never show.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::conform::script::{Inject, Kind, Rel, Script, Step, UserCall, Wait, Window};
use crate::conform::{Oracle, Params, Record, Run, Stack, Workspace};
use crate::model::{Model, State};
use crate::wire::{Control, Segment, SeqNum};

use super::lsharp::{Stop, Sul};
use super::mealy::{Input, Output, Outputs};
use super::workers::{Local, Workers};

/// One abstract input: a name and the script step it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Letter {
    pub name: &'static str,
    pub step: Step,
    pub about: &'static str,
}

const fn segment(kind: Kind, seq: Rel, len: u8) -> Step {
    Step::Inject(Inject { kind, seq, ack: Rel::Exact, len, window: Window::Open })
}

/// Every letter an alphabet may use, in the order alphabets list them.
pub const LETTERS: &[Letter] = &[
    Letter { name: "listen", step: Step::User(UserCall::Listen), about: "the user's passive OPEN" },
    Letter { name: "connect", step: Step::User(UserCall::Connect), about: "the user's active OPEN" },
    Letter { name: "send", step: Step::User(UserCall::Send(1)), about: "the user SENDs one octet" },
    Letter { name: "receive", step: Step::User(UserCall::Receive), about: "the user RECEIVEs" },
    Letter { name: "close", step: Step::User(UserCall::Close), about: "the user's CLOSE" },
    Letter { name: "abort", step: Step::User(UserCall::Abort), about: "the user's ABORT" },
    Letter { name: "syn", step: segment(Kind::Syn, Rel::Exact, 0), about: "SYN at the expected number" },
    Letter { name: "syn-ack", step: segment(Kind::SynAck, Rel::Exact, 0), about: "SYN|ACK acknowledging all sent" },
    Letter { name: "ack", step: segment(Kind::Ack, Rel::Exact, 0), about: "ACK of all sent, at the expected number" },
    Letter { name: "data", step: segment(Kind::Ack, Rel::Exact, 1), about: "ACK with one octet of text" },
    Letter { name: "fin", step: segment(Kind::Fin, Rel::Exact, 0), about: "FIN|ACK at the expected number" },
    Letter { name: "fin-old", step: segment(Kind::Fin, Rel::Old(0), 0), about: "FIN|ACK one below: a retransmission" },
    Letter { name: "ack-old", step: segment(Kind::Ack, Rel::Old(0), 0), about: "ACK one below the expected number" },
    Letter { name: "rst", step: segment(Kind::Rst, Rel::Exact, 0), about: "RST at the expected number" },
    Letter { name: "rst-window", step: segment(Kind::Rst, Rel::InWindow(0), 0), about: "RST in the window, not exact" },
    Letter { name: "syn-window", step: segment(Kind::Syn, Rel::InWindow(0), 0), about: "SYN in the window" },
    Letter { name: "timer", step: Step::Wait(Wait::NextTimer), about: "until the table's next timer is due" },
    Letter { name: "msl", step: Step::Wait(Wait::Msl), about: "one maximum segment lifetime passes" },
];

/// Named alphabets: what `--alphabet` takes besides a list of letters.
pub const ALPHABETS: &[(&str, &str, &str)] = &[
    (
        "core",
        "listen,connect,close,abort,syn,syn-ack,ack,fin,rst,rst-window,msl",
        "opening, closing, resets and TIME-WAIT (the default)",
    ),
    ("small", "listen,connect,close,syn,syn-ack,ack,fin,rst,msl", "the tests' alphabet: fewer queries"),
    (
        "no-wait",
        "listen,connect,close,abort,syn,syn-ack,ack,fin,rst,rst-window",
        "core without waiting: for real-time stacks, where an MSL is minutes",
    ),
    (
        "full",
        "listen,connect,send,receive,close,abort,syn,syn-ack,ack,data,fin,fin-old,ack-old,rst,rst-window,syn-window,timer,msl",
        "every letter; text makes the machine large",
    ),
];

/// The learner's inputs, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alphabet {
    letters: Vec<Letter>,
}

impl Alphabet {
    /// A named alphabet or a comma-separated list of letters.
    pub fn parse(text: &str) -> Result<Alphabet, String> {
        let list = ALPHABETS.iter().find(|(name, _, _)| *name == text).map_or(text, |(_, list, _)| *list);
        let mut letters: Vec<Letter> = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let Some(letter) = LETTERS.iter().find(|l| l.name == name) else {
                let names: Vec<&str> = LETTERS.iter().map(|l| l.name).collect();
                let sets: Vec<&str> = ALPHABETS.iter().map(|a| a.0).collect();
                return Err(format!(
                    "unknown letter `{name}`; expected an alphabet ({}) or a comma-separated list of: {}",
                    sets.join(", "),
                    names.join(", ")
                ));
            };
            if letters.contains(letter) {
                return Err(format!("letter `{name}` is listed twice"));
            }
            letters.push(*letter);
        }
        if letters.is_empty() {
            return Err("the alphabet is empty; name at least one letter".into());
        }
        Ok(Alphabet { letters })
    }

    pub fn len(&self) -> usize {
        self.letters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.letters.is_empty()
    }

    pub fn name(&self, input: Input) -> &'static str {
        self.letters[usize::from(input)].name
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.letters.iter().map(|l| l.name)
    }

    /// A word as the script the oracle runs.
    pub fn script(&self, word: &[Input]) -> Script {
        Script { steps: word.iter().map(|&i| self.letters[usize::from(i)].step).collect() }
    }

    /// The longest prefix of `script` this alphabet can say, as a word (a fuzz corpus entry or
    /// a finding as a counterexample candidate).
    pub fn word(&self, script: &Script) -> Vec<Input> {
        script
            .steps
            .iter()
            .map_while(|step| self.letters.iter().position(|l| l.step == *step).map(|i| i as Input))
            .collect()
    }
}

/// The peer's view of the connection, kept from what it sent and what the stack sent. Numbers
/// are classed against it; the table's projection tells configurations apart by it too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct View {
    /// Just after the stack's last new octet, SYN or FIN (its SND.NXT, seen from the wire).
    pub stack_next: Option<SeqNum>,
    /// Just after the peer's last segment at the number the stack expected (RCV.NXT if it
    /// took it).
    pub peer_next: Option<SeqNum>,
    /// The ACK number of the peer's last segment that carried one.
    pub last_ack: Option<SeqNum>,
}

impl View {
    /// The class of a number against a reference: `nxt` if equal, else `old` or `new`.
    fn class(n: SeqNum, reference: Option<SeqNum>) -> &'static str {
        match reference.map(|r| n.distance_from(r)) {
            Some(0) => "nxt",
            Some(d) if d < 0 => "old",
            Some(_) => "new",
            None => "?",
        }
    }

    /// A segment the stack sent, as text; then takes it into the view.
    fn outbound(&mut self, s: &Segment) -> String {
        let ctl = s.ctl;
        let mut flags: Vec<&str> = [(Control::SYN, "SYN"), (Control::FIN, "FIN"), (Control::RST, "RST")]
            .into_iter()
            .filter(|(c, _)| ctl.contains(*c))
            .map(|(_, n)| n)
            .collect();
        if s.ack.is_some() {
            flags.push("ACK");
        }
        if flags.is_empty() {
            flags.push("NONE");
        }
        let seq = if ctl.contains(Control::SYN) {
            "isn"
        } else if ctl.contains(Control::RST) && self.stack_next != Some(s.seq) && self.last_ack == Some(s.seq) {
            // A RST numbered by the segment it answers (RFC 9293 3.10.7.1).
            "their-ack"
        } else if s.seq == SeqNum(0) && self.stack_next != Some(s.seq) {
            "0"
        } else {
            View::class(s.seq, self.stack_next)
        };
        let mut text = flags.join("|");
        if !s.payload.is_empty() {
            text.push_str(&format!("+{}", s.payload.len()));
        }
        match s.ack {
            Some(ack) => text.push_str(&format!("({seq},{})", View::class(ack, self.peer_next))),
            None => text.push_str(&format!("({seq})")),
        }
        // A SYN starts the stack's numbers afresh; a RST is numbered by what it answers.
        let advances = !ctl.contains(Control::RST) && self.stack_next.is_some_and(|n| s.end().distance_from(n) > 0);
        if ctl.contains(Control::SYN) || advances {
            self.stack_next = Some(s.end());
        }
        text
    }

    /// A segment the peer sent; `exact` if its number was the one the stack expected.
    fn inbound(&mut self, s: &Segment, exact: bool) {
        if exact {
            self.peer_next = Some(s.end());
        }
        if s.ack.is_some() {
            self.last_ack = s.ack;
        }
    }
}

/// What the stack did in each step of a run, as output texts, and the peer's view after it.
pub fn observe(run: &Run, script: &Script) -> (Vec<String>, View) {
    let mut view = View::default();
    let mut texts = Vec::with_capacity(script.steps.len());
    let mut sent: Vec<String> = Vec::new();
    let mut read = 0;
    for record in &run.trace {
        match record {
            Record::Inbound { segment, .. } => {
                let exact = matches!(script.steps.get(texts.len()), Some(Step::Inject(i)) if i.seq == Rel::Exact);
                view.inbound(segment, exact);
            }
            Record::Outbound { segment, .. } => sent.push(view.outbound(segment)),
            Record::Garbled { .. } => sent.push("garbled".into()),
            Record::Read { data, .. } => read += data.len(),
            Record::Stack { state, .. } => {
                let step = texts.len();
                texts.push(if step >= run.steps { "(stopped)".into() } else { step_text(&sent, read, *state) });
                sent.clear();
                read = 0;
            }
            Record::Call { .. } | Record::Row { .. } | Record::Told { .. } | Record::Waited { .. } => {}
        }
    }
    texts.resize(script.steps.len(), "(stopped)".into());
    (texts, view)
}

fn step_text(sent: &[String], read: usize, state: Option<State>) -> String {
    let mut text = if sent.is_empty() { "-".to_string() } else { sent.join(" ") };
    if read > 0 {
        text.push_str(&format!(" read {read}"));
    }
    if let Some(state) = state {
        text.push_str(&format!(" [{state}]"));
    }
    text
}

/// The oracle queries run through, judging by `model`: every word is played to its end, and
/// once the stack differs from the table the peer numbers its segments from the stack's own
/// ([`crate::conform::heard`]), so that what the stack answers later does not depend on its
/// random ISNs.
pub fn oracle(model: &Model, params: Params) -> Oracle<'_> {
    Oracle::new(model, params).to_the_end().follow_wire()
}

/// One query: `word` as an oracle run on a fresh `stack`, with the run (and its trace), the
/// stack's answer to each letter as text, and the peer's view at the end.
pub fn query<'m>(
    oracle: &Oracle<'m>,
    workspace: &mut Workspace<'m>,
    stack: &mut dyn Stack,
    alphabet: &Alphabet,
    word: &[Input],
) -> (Run, Vec<String>, View) {
    let script = alphabet.script(word);
    let run = oracle.run_in(workspace, stack, &script, true);
    let (texts, view) = observe(&run, &script);
    (run, texts, view)
}

/// A stack as a system under learning: every query an oracle run from a fresh stack, and a
/// batch of queries shared with [`Workers`]' stacks when there are some.
pub struct StackSul<'a, 'm> {
    oracle: &'a Oracle<'m>,
    workspace: Workspace<'m>,
    stack: &'a mut dyn Stack,
    alphabet: &'a Alphabet,
    pub outputs: Outputs,
    /// Set by Ctrl-C.
    stop: Option<&'a AtomicBool>,
    /// Called after every query with the count so far (progress for real-time stacks).
    progress: Box<dyn FnMut(u64) + 'a>,
    queries: u64,
    /// Queries allowed, if bounded (a real-time stack answers a few a second).
    max_queries: Option<u64>,
    /// Other stacks, each on a thread of its own, that answer a batch's words beside this one.
    workers: Option<&'a Workers<'a>>,
}

impl<'a, 'm> StackSul<'a, 'm> {
    /// Outputs are interned into `outputs`: machines compared with each other share one table.
    pub fn new(oracle: &'a Oracle<'m>, stack: &'a mut dyn Stack, alphabet: &'a Alphabet, outputs: Outputs) -> Self {
        StackSul {
            oracle,
            workspace: oracle.workspace(),
            stack,
            alphabet,
            outputs,
            stop: None,
            progress: Box::new(|_| {}),
            queries: 0,
            max_queries: None,
            workers: None,
        }
    }

    pub fn stop_on(self, flag: &'a AtomicBool) -> Self {
        StackSul { stop: Some(flag), ..self }
    }

    pub fn max_queries(self, max: Option<u64>) -> Self {
        StackSul { max_queries: max, ..self }
    }

    pub fn on_progress(self, progress: impl FnMut(u64) + 'a) -> Self {
        StackSul { progress: Box::new(progress), ..self }
    }

    /// Shares every batch of queries with `workers` (started on the same oracle and alphabet,
    /// their stacks made as this one was): the answers, and so the machine learned, are the
    /// same as this stack's alone would be, as every query starts from a reset.
    pub fn with_workers(self, workers: &'a Workers<'a>) -> Self {
        StackSul { workers: Some(workers), ..self }
    }

    /// Why no more queries may be asked, if `more` would be too many or Ctrl-C was pressed.
    fn stopped(&self, more: usize) -> Result<(), Stop> {
        if self.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Err(Stop::Interrupted);
        }
        match self.max_queries {
            Some(max) if self.queries + more as u64 > max => {
                Err(Stop::Limit(format!("{max} queries asked (raise --max-queries)")))
            }
            _ => Ok(()),
        }
    }

    /// Runs `word` on this stack and returns the run (with its trace), the stack's answers as
    /// text and the peer's view.
    fn run(&mut self, word: &[Input]) -> Result<(Run, Vec<String>, View), Stop> {
        self.stopped(1)?;
        let answer = query(self.oracle, &mut self.workspace, &mut *self.stack, self.alphabet, word);
        self.queries += 1;
        (self.progress)(self.queries);
        Ok(answer)
    }

    /// Runs `word` and returns the run (with its trace) and what the mapper made of it.
    pub fn execute(&mut self, word: &[Input]) -> Result<(Run, Vec<Output>, View), Stop> {
        let (run, texts, view) = self.run(word)?;
        let outputs = texts.iter().map(|t| self.outputs.intern(t)).collect();
        Ok((run, outputs, view))
    }

    pub fn recycle(&mut self, run: Run) {
        self.workspace.recycle(run);
    }

    /// `word` on this stack, as text.
    fn texts(&mut self, word: &[Input]) -> Result<Vec<String>, Stop> {
        let (run, texts, _) = self.run(word)?;
        self.recycle(run);
        Ok(texts)
    }
}

/// This stack takes its share of a batch on the learner's thread.
impl Local for StackSul<'_, '_> {
    fn answer(&mut self, word: &[Input]) -> Result<Vec<String>, Stop> {
        self.texts(word)
    }

    fn answered_elsewhere(&mut self) {
        self.queries += 1;
        (self.progress)(self.queries);
    }
}

impl Sul for StackSul<'_, '_> {
    fn query(&mut self, word: &[Input]) -> Result<Vec<Output>, Stop> {
        let (run, outputs, _) = self.execute(word)?;
        self.recycle(run);
        Ok(outputs)
    }

    /// The words are answered by this stack and the workers' together; the texts are interned
    /// in the order of `words`, whoever answered first, so output numbers do not depend on
    /// the workers either.
    fn query_all(&mut self, words: &[Vec<Input>]) -> Result<Vec<Vec<Output>>, Stop> {
        self.stopped(words.len())?;
        let texts = match self.workers {
            Some(workers) if words.len() > 1 => workers.answer(words, self)?,
            _ => words.iter().map(|w| self.texts(w)).collect::<Result<Vec<_>, Stop>>()?,
        };
        Ok(texts.iter().map(|t| t.iter().map(|t| self.outputs.intern(t)).collect()).collect())
    }

    fn jobs(&self) -> usize {
        1 + self.workers.map_or(0, |w| w.running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::Reference;
    use crate::model::shipped::Shipped;

    #[test]
    fn alphabets_parse_by_name_or_list_and_explain_mistakes() {
        assert_eq!(Alphabet::parse("core").unwrap().len(), 11);
        let a = Alphabet::parse("listen, syn ,ack").unwrap();
        assert_eq!(a.names().collect::<Vec<_>>(), ["listen", "syn", "ack"]);
        let e = Alphabet::parse("listen,sin").unwrap_err();
        assert!(e.contains("unknown letter `sin`") && e.contains("syn-ack"), "{e}");
        assert!(Alphabet::parse("syn,syn").unwrap_err().contains("twice"));
        assert!(Alphabet::parse(" , ").is_err());
        for (name, list, _) in ALPHABETS {
            assert!(Alphabet::parse(list).is_ok(), "{name}");
        }
    }

    #[test]
    fn a_script_maps_back_to_its_word_up_to_the_first_unknown_step() {
        let a = Alphabet::parse("small").unwrap();
        let word = vec![0, 3, 5, 1];
        let mut script = a.script(&word);
        assert_eq!(a.word(&script), word);
        script.steps.insert(2, Step::Wait(Wait::Ms(3)));
        assert_eq!(a.word(&script), vec![0, 3]);
    }

    #[test]
    fn the_passive_handshake_reads_as_the_rfc_draws_it() {
        let model = Shipped::find("rfc9293").unwrap().load().unwrap();
        let mut stack = Reference::new(&model, 1);
        let oracle = oracle(&model, stack.params().clone());
        let alphabet = Alphabet::parse("listen,syn,ack,fin,rst,connect").unwrap();
        let mut sul = StackSul::new(&oracle, &mut stack, &alphabet, Outputs::default());
        let (_, outputs, _) = sul.execute(&[0, 1, 2, 3, 4, 5]).unwrap();
        let texts: Vec<&str> = outputs.iter().map(|&o| sul.outputs.text(o)).collect();
        assert_eq!(
            texts,
            [
                "- [LISTEN]",
                "SYN|ACK(isn,nxt) [SYN-RECEIVED]",
                "- [ESTABLISHED]",
                "ACK(nxt,nxt) [CLOSE-WAIT]",
                "- [CLOSED]",
                "SYN(isn) [SYN-SENT]",
            ]
        );
    }
}
