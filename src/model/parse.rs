//! The table-file parser. Line-oriented; every problem is collected with its span, and a line
//! with problems is skipped so the rest of the file is still checked.

use super::action::{AckExpr, Action, ReopenIsn, SendSpec, SeqExpr, Signal};
use super::diag::{did_you_mean, Kind, Problem, Problems, Source, Span};
use super::diff::Key;
use super::guard::{Atom, Guard, Literal};
use super::input::{Call, Flags, Pattern, Timer};
use super::state::State;
use super::variant::{Edit, Op, Place};
use super::{Cite, CiteRef, Row, RowSpans, Rule};
use crate::time::Duration;

const ROW_SHAPE: &str = "a row reads `FROM INPUT [GUARD] -> TO [ACTION; …] @ SECTION`";

/// A piece of a line with its absolute byte offset.
#[derive(Clone, Copy)]
struct Piece<'a> {
    text: &'a str,
    offset: usize,
}

impl<'a> Piece<'a> {
    fn span(self) -> Span {
        Span::new(self.offset, self.text.len())
    }

    fn trim(self) -> Piece<'a> {
        let start = self.text.len() - self.text.trim_start().len();
        Piece { text: self.text.trim(), offset: self.offset + start }
    }

    /// Splits at the first occurrence of `pat` into (before, after).
    fn split_once(self, pat: &str) -> Option<(Piece<'a>, Piece<'a>)> {
        let at = self.text.find(pat)?;
        let after = at + pat.len();
        Some((
            Piece { text: &self.text[..at], offset: self.offset },
            Piece { text: &self.text[after..], offset: self.offset + after },
        ))
    }

    /// Splits on `sep`, trimming each part.
    fn split(self, sep: char) -> impl Iterator<Item = Piece<'a>> {
        let mut offset = self.offset;
        self.text.split(sep).map(move |part| {
            let piece = Piece { text: part, offset };
            offset += part.len() + sep.len_utf8();
            piece.trim()
        })
    }

    /// The first whitespace-separated word and the trimmed rest.
    fn first_word(self) -> (Piece<'a>, Piece<'a>) {
        let t = self.trim();
        let end = t.text.find(char::is_whitespace).unwrap_or(t.text.len());
        let word = Piece { text: &t.text[..end], offset: t.offset };
        let rest = Piece { text: &t.text[end..], offset: t.offset + end }.trim();
        (word, rest)
    }
}

/// One table file as written: a whole table (rows) or a variant (`extends` and edits). Headers
/// not given are `None`: a variant inherits them from its base.
#[derive(Clone, Debug)]
pub(crate) struct File {
    pub source: Source,
    pub name: String,
    pub rfc: Option<u16>,
    pub msl: Option<Duration>,
    /// The base a variant names, and where.
    pub extends: Option<(String, Span)>,
    pub rows: Vec<Row>,
    pub edits: Vec<Edit>,
}

struct Parser {
    source: Source,
    problems: Vec<Problem>,
    name: Option<(String, Span)>,
    rfc: Option<(u16, Span)>,
    msl: Option<(Duration, Span)>,
    extends: Option<(String, Span)>,
    rows: Vec<Row>,
    edits: Vec<Edit>,
}

/// Parses a table file. Every problem in the file is reported, not only the first.
pub(crate) fn parse_file(source: &Source) -> Result<File, Problems> {
    let mut p = Parser {
        source: source.clone(),
        problems: Vec::new(),
        name: None,
        rfc: None,
        msl: None,
        extends: None,
        rows: Vec::new(),
        edits: Vec::new(),
    };
    let mut offset = 0;
    for (index, raw) in source.text.split('\n').enumerate() {
        let content = raw.split('#').next().unwrap_or("").trim_end_matches('\r');
        p.line(index + 1, Piece { text: content, offset }.trim());
        offset += raw.len() + 1;
    }
    p.check_kind();
    let Parser { mut problems, name, rfc, msl, extends, rows, edits, .. } = p;
    if name.is_none() {
        problems.push(
            Problem::new(Kind::Header, Span::new(0, 0), "missing `model NAME` line", "expected here")
                .help("start the file with a line such as `model my-tcp`"),
        );
    }
    if !problems.is_empty() {
        return Err(Problems::new(source, problems));
    }
    Ok(File {
        source: source.clone(),
        name: name.map(|(n, _)| n).unwrap_or_default(),
        rfc: rfc.map(|(r, _)| r),
        msl: msl.map(|(m, _)| m),
        extends,
        rows,
        edits,
    })
}

impl Parser {
    fn error(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn line(&mut self, line: usize, content: Piece<'_>) {
        if content.text.is_empty() {
            return;
        }
        let (word, rest) = content.first_word();
        match word.text {
            "model" => self.model_name(word, rest),
            "msl" => self.directive_value(word, rest, Duration::parse, |p| &mut p.msl),
            "rfc" => self.directive_value(
                word,
                rest,
                |t| t.parse::<u16>().map_err(|_| format!("`{t}` is not an RFC number; expected e.g. `rfc 9293`")),
                |p| &mut p.rfc,
            ),
            "extends" => self.extends(word, rest),
            "apply" => self.apply(line, content, word, rest),
            "replace" => {
                if let Some(row) = self.row(line, rest) {
                    self.edits.push(Edit::new(Op::Replace(row), line, content.span(), rest.span(), &self.source));
                }
            }
            "remove" => {
                if let Some(key) = self.key(rest, word) {
                    self.edits.push(Edit::new(Op::Remove(key), line, content.span(), rest.span(), &self.source));
                }
            }
            "insert" => self.insert(line, content, rest),
            _ => {
                if let Some(row) = self.row(line, content) {
                    self.rows.push(row);
                }
            }
        }
    }

    /// A file is a whole table or a variant: rows beside `extends`, or edits without it, are
    /// reported at each offending line.
    fn check_kind(&mut self) {
        match &self.extends {
            Some((base, span)) => {
                let span = *span;
                let base = base.clone();
                let rows: Vec<Span> = self.rows.iter().map(|r| r.spans.row).collect();
                for row in rows {
                    self.error(
                        Problem::new(
                            Kind::Syntax,
                            row,
                            "a plain row in a variant",
                            "say what this row does to the base",
                        )
                        .label(span, "this file is a variant")
                        .help(format!(
                            "write `replace ROW` to change the row of {base} with the same state, input and guard, \
                                 or `insert before|after FROM INPUT [GUARD]: ROW` to add one"
                        )),
                    );
                }
            }
            None => {
                let edits: Vec<Span> = self.edits.iter().map(|e| e.span).collect();
                for span in edits {
                    self.error(
                        Problem::new(Kind::Syntax, span, "an edit in a table that extends nothing", "nothing to edit")
                            .help("name the base first, e.g. `extends rfc9293`, or write the row itself"),
                    );
                }
            }
        }
    }

    fn extends(&mut self, word: Piece<'_>, rest: Piece<'_>) {
        if !is_model_ref(rest.text) {
            let span = if rest.text.is_empty() { word.span() } else { rest.span() };
            return self.error(
                Problem::new(Kind::Syntax, span, "bad `extends` line", "expected a model name or a path")
                    .help("write e.g. `extends rfc9293` or `extends ../my-table.tcp`"),
            );
        }
        if let Some((_, first)) = &self.extends {
            let first = *first;
            return self.error(
                Problem::new(Kind::Header, rest.span(), "`extends` given twice", "second one here")
                    .label(first, "first one here")
                    .help("a variant has one base; `apply` makes another variant's changes as well"),
            );
        }
        self.extends = Some((rest.text.to_string(), rest.span()));
    }

    fn apply(&mut self, line: usize, content: Piece<'_>, word: Piece<'_>, rest: Piece<'_>) {
        if !is_model_ref(rest.text) {
            let span = if rest.text.is_empty() { word.span() } else { rest.span() };
            return self.error(
                Problem::new(Kind::Syntax, span, "bad `apply` line", "expected the name or path of a variant")
                    .help("write e.g. `apply rfc1337-off`: its edits are made here, in order"),
            );
        }
        let op = Op::Apply(rest.text.to_string());
        self.edits.push(Edit::new(op, line, content.span(), rest.span(), &self.source));
    }

    /// `insert before|after FROM INPUT [GUARD]: ROW`.
    fn insert(&mut self, line: usize, content: Piece<'_>, rest: Piece<'_>) {
        const SHAPE: &str = "write `insert before FROM INPUT [GUARD]: ROW` (or `after`)";
        let (place_word, rest) = rest.first_word();
        let place = match place_word.text {
            "before" => Place::Before,
            "after" => Place::After,
            _ => {
                let span = if place_word.text.is_empty() { content.span() } else { place_word.span() };
                return self.error(
                    Problem::new(Kind::Syntax, span, "`insert` needs a place", "expected `before` or `after`")
                        .help(SHAPE),
                );
            }
        };
        let Some((anchor, row)) = rest.split_once(":") else {
            return self.error(
                Problem::new(Kind::Syntax, rest.span(), "`insert` needs an anchor and a row", "expected `KEY: ROW`")
                    .help(SHAPE),
            );
        };
        let (anchor, row) = (anchor.trim(), row.trim());
        let anchor_key = self.key(anchor, place_word);
        let row = self.row(line, row);
        if let (Some(anchor), Some(row)) = (anchor_key, row) {
            let target = row.spans.row;
            self.edits.push(Edit::new(Op::Insert { place, anchor, row }, line, content.span(), target, &self.source));
        }
    }

    /// `FROM INPUT [GUARD]`: which row an edit is about, as `diff` matches rows.
    fn key(&mut self, text: Piece<'_>, after: Piece<'_>) -> Option<Key> {
        let (from_word, rest) = text.first_word();
        if from_word.text.is_empty() {
            self.error(
                Problem::new(
                    Kind::Syntax,
                    Span::new(after.span().end(), 0),
                    "missing row key",
                    "expected `FROM INPUT [GUARD]`",
                )
                .help("name the row by its state, input and guard, e.g. `TIME-WAIT RST|*`"),
            );
            return None;
        }
        let (input_word, guard_text) = rest.first_word();
        let from = self.state(from_word);
        let input = if input_word.text.is_empty() {
            self.error(
                Problem::new(
                    Kind::Syntax,
                    Span::new(from_word.span().end(), 0),
                    "row key has no input",
                    "expected an input",
                )
                .help("name the row by its state, input and guard, e.g. `TIME-WAIT RST|*`"),
            );
            None
        } else {
            self.pattern(input_word)
        };
        let guard = self.guard(guard_text);
        let guard = Guard(guard?.into_iter().map(|(lit, _)| lit).collect());
        Some(Key { from: from?, input: input?, guard: guard.normalized() })
    }

    fn model_name(&mut self, word: Piece<'_>, rest: Piece<'_>) {
        let ok = !rest.text.is_empty()
            && rest.text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            let span = if rest.text.is_empty() { word.span() } else { rest.span() };
            return self.error(
                Problem::new(
                    Kind::Syntax,
                    span,
                    "bad model name",
                    "expected one word of letters, digits, `-`, `_`, `.`",
                )
                .help("write e.g. `model rfc9293`"),
            );
        }
        self.set_once(word, rest, rest.text.to_string(), |p| &mut p.name);
    }

    fn directive_value<T>(
        &mut self,
        word: Piece<'_>,
        rest: Piece<'_>,
        parse: impl Fn(&str) -> Result<T, String>,
        slot: impl Fn(&mut Self) -> &mut Option<(T, Span)>,
    ) {
        match parse(rest.text) {
            Ok(value) => self.set_once(word, rest, value, slot),
            Err(msg) => {
                let span = if rest.text.is_empty() { word.span() } else { rest.span() };
                self.error(Problem::new(Kind::Syntax, span, format!("bad `{}` line", word.text), msg));
            }
        }
    }

    fn set_once<T>(
        &mut self,
        word: Piece<'_>,
        rest: Piece<'_>,
        value: T,
        slot: impl Fn(&mut Self) -> &mut Option<(T, Span)>,
    ) {
        let span = Span::new(word.offset, rest.span().end() - word.offset);
        if let Some((_, first)) = slot(self) {
            let first = *first;
            return self.error(
                Problem::new(Kind::Header, span, format!("`{}` given twice", word.text), "second one here")
                    .label(first, "first one here")
                    .help("keep one of the two lines"),
            );
        }
        *slot(self) = Some((value, span));
    }

    fn row(&mut self, line: usize, content: Piece<'_>) -> Option<Row> {
        let before = self.problems.len();
        let Some((left, right)) = content.split_once("->") else {
            self.error(
                Problem::new(
                    Kind::Syntax,
                    content.span(),
                    "not a row, directive or comment",
                    "expected `->` in this line",
                )
                .help(format!(
                    "{ROW_SHAPE}; directives are `model`, `rfc`, `msl`, and in a variant `extends`, `apply`, \
                     `replace`, `insert` and `remove`; comments start with `#`"
                )),
            );
            return None;
        };
        let (middle, cite) = match right.split_once("@") {
            Some((m, c)) => (m, Some(c.trim())),
            None => (right, None),
        };

        let (from_word, rest) = left.first_word();
        let (input_word, guard_text) = rest.first_word();
        let from = self.state(from_word);
        let input = if input_word.text.is_empty() {
            let end = Span::new(left.trim().span().end(), 0);
            self.error(
                Problem::new(Kind::Syntax, end, "row has no input", "expected an input before `->`").help(ROW_SHAPE),
            );
            None
        } else {
            self.pattern(input_word)
        };
        let guard = self.guard(guard_text);

        let (to_word, actions_text) = middle.first_word();
        let to = if to_word.text.is_empty() {
            self.error(
                Problem::new(
                    Kind::Syntax,
                    Span::new(middle.offset, 0),
                    "row has no target state",
                    "expected a state after `->`",
                )
                .help(ROW_SHAPE),
            );
            None
        } else {
            self.state(to_word)
        };
        let actions = self.actions(actions_text);

        let cite = match cite {
            Some(c) if !c.text.is_empty() => self.cite(c),
            other => {
                let at = other.map_or(content.span().end(), |c| c.offset);
                self.error(
                    Problem::new(
                        Kind::Uncited,
                        Span::new(at, 0),
                        "row cites no RFC section",
                        "expected `@ SECTION` here",
                    )
                    .help("end the row with its source, e.g. `@ 3.10.7.4` or `@ 3.10.7.4, RFC5961 3.2`"),
                );
                None
            }
        };

        if self.problems.len() != before {
            return None;
        }
        let (from, input, guard, to, actions, cite) = (from?, input?, guard?, to?, actions?, cite?);
        let (guard, guard_spans): (Vec<_>, Vec<_>) = guard.into_iter().unzip();
        let (actions, action_spans): (Vec<_>, Vec<_>) = actions.into_iter().unzip();
        Some(Row {
            rule: Rule { from, input, guard: Guard(guard), to, actions, cite: cite.0 },
            line,
            spans: RowSpans {
                row: content.span(),
                from: from_word.span(),
                input: input_word.span(),
                guard: guard_spans,
                to: to_word.span(),
                actions: action_spans,
                cite: cite.1,
            },
            source: self.source.clone(),
        })
    }

    fn unknown(&mut self, what: &str, word: Piece<'_>, known: Vec<&'static str>, extra: Option<&str>) {
        let mut help = match did_you_mean(word.text, known.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("{what}s are: {}", known.join(", ")),
        };
        if let Some(extra) = extra {
            help.push_str("; ");
            help.push_str(extra);
        }
        self.error(
            Problem::new(
                Kind::Unknown,
                word.span(),
                format!("unknown {what} `{}`", word.text),
                format!("not {} {what}", article(what)),
            )
            .help(help),
        );
    }

    fn state(&mut self, word: Piece<'_>) -> Option<State> {
        let state = State::from_name(word.text);
        if state.is_none() {
            self.unknown("state", word, State::names().collect(), None);
        }
        state
    }

    fn pattern(&mut self, word: Piece<'_>) -> Option<Pattern> {
        if let Some(call) = Call::from_name(word.text) {
            return Some(Pattern::Call(call));
        }
        if let Some(timer) = word.text.strip_prefix("TIMEOUT-") {
            let timer_piece = Piece { text: timer, offset: word.offset + "TIMEOUT-".len() };
            return self.timer(timer_piece).map(Pattern::Timeout);
        }
        match word.text {
            "*" => return Some(Pattern::Segment { flags: Flags::NONE, rest: true }),
            "NONE" => return Some(Pattern::Segment { flags: Flags::NONE, rest: false }),
            _ => {}
        }
        let looks_like_flags = word.text.contains('|') || Flags::from_name(word.text).is_some();
        if !looks_like_flags {
            let mut known: Vec<&str> = Call::names().collect();
            known.extend(["SYN", "ACK", "FIN", "RST", "DATA", "NONE", "TIMEOUT-RTO", "TIMEOUT-2MSL", "TIMEOUT-USER"]);
            self.unknown("input", word, known, Some("segments are flag sets such as `SYN|ACK` or `RST|*`"));
            return None;
        }
        let parts: Vec<Piece<'_>> = word.split('|').collect();
        let (last, flag_parts) = parts.split_last()?;
        let rest = last.text == "*";
        let flag_parts = if rest { flag_parts } else { &parts[..] };
        let flags = self.flags(flag_parts, true)?;
        Some(Pattern::Segment { flags, rest })
    }

    /// Reads `SYN|ACK`-style bits; `*` is only allowed as the last part (checked by the caller).
    fn flags(&mut self, parts: &[Piece<'_>], allow_data: bool) -> Option<Flags> {
        let mut flags = Flags::NONE;
        let mut ok = true;
        for part in parts {
            match Flags::from_name(part.text) {
                Some(Flags::DATA) if !allow_data => {
                    ok = false;
                    self.error(Problem::new(Kind::Syntax, part.span(), "unexpected `DATA`", "not here"));
                }
                Some(f) if flags.contains(f) => {
                    ok = false;
                    self.error(
                        Problem::new(
                            Kind::Syntax,
                            part.span(),
                            format!("flag `{}` repeated", part.text),
                            "already given",
                        )
                        .help("name each flag once"),
                    );
                }
                Some(f) => flags = flags.union(f),
                None if part.text == "*" => {
                    ok = false;
                    self.error(
                        Problem::new(Kind::Syntax, part.span(), "`*` must come last", "misplaced wildcard")
                            .help("write the required flags first, e.g. `RST|ACK|*`"),
                    );
                }
                None => {
                    ok = false;
                    let known = Flags::NAMED.iter().map(|(_, n)| *n).collect();
                    self.unknown("flag", *part, known, None);
                }
            }
        }
        ok.then_some(flags)
    }

    fn timer(&mut self, word: Piece<'_>) -> Option<Timer> {
        let timer = Timer::from_name(word.text);
        if timer.is_none() {
            self.unknown("timer", word, Timer::names().collect(), None);
        }
        timer
    }

    fn guard(&mut self, text: Piece<'_>) -> Option<Vec<(Literal, Span)>> {
        if text.text.is_empty() {
            return Some(Vec::new());
        }
        let mut lits = Vec::new();
        let mut ok = true;
        for part in text.split('&') {
            let (negated, name) = match part.text.strip_prefix('!') {
                Some(rest) => (true, Piece { text: rest, offset: part.offset + 1 }.trim()),
                None => (false, part),
            };
            if name.text.is_empty() || name.text.contains(char::is_whitespace) {
                ok = false;
                self.error(
                    Problem::new(Kind::Syntax, part.span(), "malformed guard", "expected `atom` or `!atom`")
                        .help("combine guard atoms with `&`, e.g. `ack-ok & !fin-acked`"),
                );
                continue;
            }
            match Atom::from_name(name.text) {
                Some(atom) => lits.push((Literal { atom, negated }, part.span())),
                None => {
                    ok = false;
                    self.unknown("guard", name, Atom::names().collect(), None);
                }
            }
        }
        ok.then_some(lits)
    }

    fn actions(&mut self, text: Piece<'_>) -> Option<Vec<(Action, Span)>> {
        let mut out = Vec::new();
        let mut ok = true;
        for part in text.split(';').filter(|p| !p.text.is_empty()) {
            match self.action(part) {
                Some(a) => out.push((a, part.span())),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn action(&mut self, part: Piece<'_>) -> Option<Action> {
        let (word, arg) = part.first_word();
        let needs_arg = |p: &mut Self, what: &str| {
            p.error(
                Problem::new(Kind::Syntax, part.span(), format!("`{}` needs {what}", word.text), "incomplete action")
                    .help(format!("write e.g. `{} {}`", word.text, example_arg(word.text))),
            );
        };
        match word.text {
            "send" | "start" | "stop" | "restart" | "signal" | "reopen" if arg.text.is_empty() => {
                needs_arg(self, "an argument");
                None
            }
            "send" => self.send(arg),
            "start" => self.timer(arg).map(Action::Start),
            "stop" => self.timer(arg).map(Action::Stop),
            "restart" => self.timer(arg).map(Action::Restart),
            "reopen" => {
                let rule = ReopenIsn::from_name(arg.text);
                if rule.is_none() {
                    self.unknown("ISS rule", arg, ReopenIsn::names().collect(), None);
                }
                rule.map(Action::Reopen)
            }
            "signal" => {
                let signal = Signal::from_name(arg.text);
                if signal.is_none() {
                    self.unknown("signal", arg, Signal::names().collect(), None);
                }
                signal.map(Action::Signal)
            }
            simple => {
                let action = match simple {
                    "retransmit" => Action::Retransmit,
                    "accept-syn" => Action::AcceptSyn,
                    "accept-ack" => Action::AcceptAck,
                    "deliver" => Action::Deliver,
                    "accept-fin" => Action::AcceptFin,
                    "queue" => Action::Queue,
                    "read" => Action::Read,
                    "flush" => Action::Flush,
                    "delete" => Action::Delete,
                    _ => {
                        self.unknown("action", word, Action::KEYWORDS.to_vec(), None);
                        return None;
                    }
                };
                if !arg.text.is_empty() {
                    self.error(
                        Problem::new(Kind::Syntax, arg.span(), format!("`{simple}` takes no argument"), "unexpected")
                            .help("separate actions with `;`"),
                    );
                    return None;
                }
                Some(action)
            }
        }
    }

    /// `SYN|ACK`, `RST(seq=SEG.ACK)`, `RST|ACK(seq=0, ack=SEG.SEQ+SEG.LEN)`, `challenge-ACK`.
    fn send(&mut self, arg: Piece<'_>) -> Option<Action> {
        if arg.text == "challenge-ACK" {
            return Some(Action::ChallengeAck);
        }
        let (flags_piece, rules) = match arg.split_once("(") {
            Some((f, r)) => {
                let r = r.trim();
                let Some(inner) = r.text.strip_suffix(')') else {
                    self.error(
                        Problem::new(Kind::Syntax, r.span(), "unclosed `(`", "expected `)` at the end")
                            .help("write e.g. `send RST(seq=SEG.ACK)`"),
                    );
                    return None;
                };
                (f.trim(), Some(Piece { text: inner, offset: r.offset }))
            }
            None => (arg, None),
        };
        let parts: Vec<Piece<'_>> = flags_piece.split('|').collect();
        let flags = self.flags(&parts, true)?;
        if flags.is_empty() {
            self.error(
                Problem::new(Kind::Syntax, flags_piece.span(), "nothing to send", "expected flags such as `ACK`")
                    .help("write e.g. `send ACK`, `send FIN|ACK` or `send challenge-ACK`"),
            );
            return None;
        }
        let mut spec = SendSpec::with_defaults(flags);
        for rule in rules.into_iter().flat_map(|r| r.split(',')) {
            let Some((key, value)) = rule.split_once("=") else {
                self.error(
                    Problem::new(Kind::Syntax, rule.span(), "malformed number rule", "expected `seq=…` or `ack=…`")
                        .help("e.g. `send RST|ACK(seq=0, ack=SEG.SEQ+SEG.LEN)`"),
                );
                return None;
            };
            let (key, value) = (key.trim(), value.trim());
            match key.text {
                "seq" => match SeqExpr::from_name(value.text) {
                    Some(e) => spec.seq = e,
                    None => {
                        self.unknown("sequence rule", value, SeqExpr::names().collect(), None);
                        return None;
                    }
                },
                "ack" if spec.ack.is_none() => {
                    self.error(
                        Problem::new(Kind::Syntax, rule.span(), "`ack=` without the ACK bit", "no ACK in this segment")
                            .help("add `ACK` to the flags, e.g. `RST|ACK(ack=SEG.SEQ+SEG.LEN)`"),
                    );
                    return None;
                }
                "ack" => match AckExpr::from_name(value.text) {
                    Some(e) => spec.ack = Some(e),
                    None => {
                        self.unknown("acknowledgment rule", value, AckExpr::names().collect(), None);
                        return None;
                    }
                },
                _ => {
                    self.unknown("number field", key, vec!["seq", "ack"], None);
                    return None;
                }
            }
        }
        Some(Action::Send(spec))
    }

    fn cite(&mut self, text: Piece<'_>) -> Option<(Cite, Span)> {
        let mut refs = Vec::new();
        for item in text.split(',') {
            match parse_cite_ref(item.text) {
                Some(r) => refs.push(r),
                None => {
                    self.error(
                        Problem::new(Kind::Syntax, item.span(), "malformed citation", "expected `[RFCnnnn] SECTION [p.NN]`")
                            .help(format!(
                                "cite a section of RFC {} as `3.10.7.4`, another RFC as `RFC5961 3.2`, a page as `3.9 p.72`",
                                self.rfc.map_or(super::DEFAULT_RFC, |(r, _)| r)
                            )),
                    );
                    return None;
                }
            }
        }
        Some((Cite(refs), text.span()))
    }
}

/// A model name (`rfc9293`) or a path (`../x.tcp`), as `extends` and `apply` take.
fn is_model_ref(text: &str) -> bool {
    !text.is_empty() && !text.contains(char::is_whitespace)
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn example_arg(keyword: &str) -> &'static str {
    match keyword {
        "send" => "ACK",
        "signal" => "RESET",
        "reopen" => "above-old",
        _ => "RTO",
    }
}

/// `3.10.7.4`, `RFC5961 3.2`, `RFC 5961 3.2`, `3.9 p.72`.
fn parse_cite_ref(text: &str) -> Option<CiteRef> {
    let mut words = text.split_whitespace().peekable();
    let mut rfc = None;
    if let Some(first) = words.peek().copied() {
        if let Some(num) = first.strip_prefix("RFC") {
            words.next();
            let num = if num.is_empty() { words.next()? } else { num };
            rfc = Some(num.parse::<u16>().ok()?);
        }
    }
    let section = words.next()?;
    let valid = section.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !valid {
        return None;
    }
    let page = match words.next() {
        Some(p) => Some(p.strip_prefix("p.")?.parse::<u16>().ok()?),
        None => None,
    };
    if words.next().is_some() {
        return None;
    }
    Some(CiteRef { rfc, section: section.to_string(), page })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Table, DEFAULT_MSL};

    fn parse(text: &str) -> Result<Table, Problems> {
        Table::parse(Source::new("t.tcp", text))
    }

    #[track_caller]
    fn problems(text: &str) -> Vec<(Kind, String)> {
        let err = parse(text).expect_err("should not parse");
        err.problems.iter().map(|p| (p.kind, p.location())).collect()
    }

    #[test]
    fn parses_a_row_with_every_column() {
        let t = parse("model m\nESTABLISHED FIN|ACK|* ack-ok & !fin-acked -> CLOSE-WAIT accept-fin; send ACK @ 3.10.7.4, RFC5961 3.2\n")
            .unwrap();
        let row = &t.rows[0];
        assert_eq!(row.line, 2);
        assert_eq!(row.rule.from, State::Established);
        assert_eq!(row.rule.input.to_string(), "FIN|ACK|*");
        assert_eq!(row.rule.guard.to_string(), "ack-ok & !fin-acked");
        assert_eq!(row.rule.actions.len(), 2);
        assert_eq!(row.rule.cite.to_string(), "3.10.7.4, RFC5961 3.2");
        assert_eq!(t.msl, DEFAULT_MSL);
    }

    #[test]
    fn reads_send_rules() {
        let t = parse("model m\nCLOSED * -> CLOSED send RST|ACK(seq=0, ack=SEG.SEQ+SEG.LEN) @ 3.10.7.1\n").unwrap();
        assert_eq!(t.rows[0].rule.actions[0].to_string(), "send RST|ACK(seq=0, ack=SEG.SEQ+SEG.LEN)");
    }

    #[test]
    fn misspelt_state_points_at_the_word() {
        let p = problems("model m\nCLOSED * -> SYN-RECIEVED @ 1\n");
        assert_eq!(p, vec![(Kind::Unknown, "t.tcp:2:13".into())]);
        let err = parse("model m\nCLOSED * -> SYN-RECIEVED @ 1\n").unwrap_err();
        assert_eq!(err.problems[0].help.as_deref(), Some("did you mean `SYN-RECEIVED`?"));
    }

    #[test]
    fn uncited_row_is_an_error() {
        assert_eq!(problems("model m\nCLOSED * -> CLOSED\n"), vec![(Kind::Uncited, "t.tcp:2:19".into())]);
        assert_eq!(problems("model m\nCLOSED * -> CLOSED @\n"), vec![(Kind::Uncited, "t.tcp:2:21".into())]);
    }

    #[test]
    fn collects_every_problem_in_the_file() {
        let p = problems("garbage\nmodel m\nmodel n\nCLOSED BOGUS nope -> X send @ 3\nCLOSED * -> CLOSED @ three\n");
        let kinds: Vec<Kind> = p.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [Kind::Syntax, Kind::Header, Kind::Unknown, Kind::Unknown, Kind::Unknown, Kind::Syntax, Kind::Syntax]
        );
    }

    #[test]
    fn missing_model_line_is_reported() {
        assert_eq!(problems("CLOSED * -> CLOSED @ 1\n"), vec![(Kind::Header, "t.tcp:1:1".into())]);
    }

    #[test]
    fn wildcard_must_come_last_and_flags_once() {
        assert_eq!(problems("model m\nCLOSED *|RST -> CLOSED @ 1\n").len(), 1);
        assert_eq!(problems("model m\nCLOSED ACK|ACK -> CLOSED @ 1\n").len(), 1);
    }

    #[test]
    fn ack_rule_needs_the_ack_bit() {
        assert_eq!(problems("model m\nCLOSED * -> CLOSED send RST(ack=RCV.NXT) @ 1\n").len(), 1);
    }

    #[test]
    fn citations_take_rfc_section_and_page() {
        assert_eq!(parse_cite_ref("RFC 793 3.9 p.72").map(|c| c.to_string()).as_deref(), Some("RFC793 3.9 p.72"));
        assert!(parse_cite_ref("3.").is_none());
        assert!(parse_cite_ref("RFC5961").is_none());
        assert!(parse_cite_ref("see 3.2").is_none());
    }

    #[test]
    fn odd_bytes_do_not_panic() {
        for text in [
            "model é\n",
            "é -> é @ é",
            "model m\r\nCLOSED * -> CLOSED @ 1\r\n",
            "->",
            "@",
            "model m\n-> @",
            "\u{feff}model m",
        ] {
            let _ = parse(text);
        }
    }
}
