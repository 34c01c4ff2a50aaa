//! packetdrill's grammar (`parser.y`), by recursive descent over [`super::lex`]'s tokens.
//!
//! Every problem carries its span, what was expected and a hint, and the parser goes on at the
//! next line that can start an event, so one run reports every mistake in a file. Constructs
//! that parse but that tcpcheck cannot play (UDP, ICMP, encapsulation, IP header fields, shell
//! commands, python, options of AccECN) become [`Action::Unsupported`]; deciding what to do
//! with the ones that are understood is [`super::plan`]'s business. Never panics.

use super::ast::{
    Action, Direction, Event, Expr, Packet, PdScript, ScriptOption, Syscall, TcpOption, Time, Unsupported,
};
use super::lex::{lex, Tok, Token};
use super::vocab;
use crate::model::{did_you_mean, Kind, Problem, Problems, Source, Span};

/// Parses a whole script; all problems together on failure.
pub fn parse(source: &Source) -> Result<PdScript, Problems> {
    let tokens = lex(&source.text).map_err(|p| Problems::new(source, vec![*p]))?;
    let mut p = Parser { toks: &tokens, pos: 0, text: &source.text, problems: Vec::new() };
    let script = p.script();
    if p.problems.is_empty() {
        Ok(script)
    } else {
        Err(Problems::new(source, p.problems))
    }
}

/// Problems a file may report before the parser gives up on it.
const MAX_PROBLEMS: usize = 100;

struct Parser<'t> {
    toks: &'t [Token],
    pos: usize,
    text: &'t str,
    problems: Vec<Problem>,
}

/// A problem is boxed: it is large, and the happy path should not carry its size.
type Parsed<T> = Result<T, Box<Problem>>;

impl<'t> Parser<'t> {
    fn peek(&self) -> Option<&'t Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self, ahead: usize) -> Option<&'t Tok> {
        self.toks.get(self.pos + ahead).map(|t| &t.tok)
    }

    /// The span of the next token, or an empty one at the end of the text.
    fn here(&self) -> Span {
        self.toks.get(self.pos).map_or(Span::new(self.text.len(), 0), |t| t.span)
    }

    fn prev_end(&self) -> usize {
        self.pos.checked_sub(1).and_then(|i| self.toks.get(i)).map_or(0, |t| t.span.end())
    }

    fn bump(&mut self) -> Option<&'t Token> {
        let t = self.toks.get(self.pos);
        self.pos += usize::from(t.is_some());
        t
    }

    fn is_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn eat_punct(&mut self, c: char) -> bool {
        let yes = self.is_punct(c);
        self.pos += usize::from(yes);
        yes
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn eat_word(&mut self, w: &str) -> bool {
        let yes = self.is_word(w);
        self.pos += usize::from(yes);
        yes
    }

    /// An error at the next token: `expected`, what was found, and a hint.
    fn expected(&self, expected: &str, help: &str) -> Box<Problem> {
        let found = self.peek().map_or("the end of the file".to_string(), Tok::describe);
        Box::new(
            Problem::new(
                Kind::Syntax,
                self.here(),
                format!("expected {expected}, found {found}"),
                format!("expected {expected}"),
            )
            .help(help.to_string()),
        )
    }

    fn expect_punct(&mut self, c: char, help: &str) -> Parsed<Span> {
        let span = self.here();
        if self.eat_punct(c) {
            Ok(span)
        } else {
            Err(self.expected(&format!("`{c}`"), help))
        }
    }

    /// An integer within `min..=max`, named `what` in errors.
    fn integer(&mut self, what: &str, min: i64, max: i64, help: &str) -> Parsed<(i64, Span)> {
        let span = self.here();
        let n = match self.peek() {
            Some(Tok::Int(n)) | Some(Tok::Hex(n)) => *n,
            _ => return Err(self.expected(what, help)),
        };
        if n < min || n > max {
            return Err(Box::new(
                Problem::new(Kind::Syntax, span, format!("{what} {n} is out of range"), "here")
                    .help(format!("it must be between {min} and {max}")),
            ));
        }
        self.pos += 1;
        Ok((n, span))
    }

    fn script(&mut self) -> PdScript {
        let mut script = PdScript::default();
        while let Some(Tok::Option(name)) = self.peek() {
            let span = self.here();
            self.pos += 1;
            let value = if self.eat_punct('=') { self.option_value() } else { None };
            script.options.push(ScriptOption { name: name.clone(), value, span });
        }
        while self.pos < self.toks.len() && self.problems.len() < MAX_PROBLEMS {
            let start = self.pos;
            match self.event() {
                Ok(event) => script.events.push(event),
                Err(problem) => {
                    self.problems.push(*problem);
                    self.pos = self.pos.max(start + 1);
                    self.recover();
                }
            }
        }
        script
    }

    /// `--name=value`: the value's tokens as written, up to the next option or event.
    fn option_value(&mut self) -> Option<String> {
        let start = self.here().offset;
        let line = self.line_of(start);
        while self.pos < self.toks.len()
            && !matches!(self.peek(), Some(Tok::Option(_)))
            && self.line_of(self.here().offset) == line
        {
            self.pos += 1;
        }
        let text = self.text.get(start..self.prev_end().max(start)).unwrap_or("").trim();
        (!text.is_empty()).then(|| text.to_string())
    }

    fn line_of(&self, offset: usize) -> usize {
        self.text.get(..offset).unwrap_or(self.text).matches('\n').count()
    }

    /// After an error: on to the first token of a later line that can start an event, outside
    /// brackets.
    fn recover(&mut self) {
        let line = self.line_of(self.prev_end().saturating_sub(1));
        self.skip_rest_of_line(line);
    }

    /// Skips the tokens left on `line` (and those within brackets opened there).
    fn skip_rest_of_line(&mut self, line: usize) {
        let mut depth = 0i32;
        while let Some(t) = self.toks.get(self.pos) {
            let starts_event = matches!(t.tok, Tok::Int(_) | Tok::Float(_) | Tok::Punct('+') | Tok::Punct('*'));
            if depth <= 0 && self.line_of(t.span.offset) > line && starts_event {
                break;
            }
            match t.tok {
                Tok::Punct('(' | '[' | '{') => depth += 1,
                Tok::Punct(')' | ']' | '}') => depth -= 1,
                _ => {}
            }
            self.pos += 1;
        }
    }

    fn event(&mut self) -> Parsed<Event> {
        let span = self.here();
        // The init and cleanup commands: a shell command without a time, first or last.
        if let Some(Tok::BackQuoted(command)) = self.peek() {
            self.pos += 1;
            return Ok(Event { time: Time::Any, span, action: Action::Shell(command.clone()) });
        }
        let time = self.event_time()?;
        let line = self.line_of(span.offset);
        let action = self.action(line)?;
        Ok(Event { time, span, action })
    }

    fn event_time(&mut self) -> Parsed<Time> {
        const HELP: &str =
            "an event starts with its time: `0.100` (absolute), `+0.1` (relative), `*` or a range `0.1~0.2`";
        if self.eat_punct('*') {
            return Ok(Time::Any);
        }
        if self.eat_punct('+') {
            let from = self.time(HELP)?;
            if self.eat_punct('~') {
                self.expect_punct('+', "a relative range is written `+0.1~+0.2`")?;
                let to = self.time(HELP)?;
                return Ok(Time::RelativeRange(from, to));
            }
            return Ok(Time::Relative(from));
        }
        let from = self.time(HELP)?;
        if self.eat_punct('~') {
            let to = self.time(HELP)?;
            return Ok(Time::AbsoluteRange(from, to));
        }
        Ok(Time::Absolute(from))
    }

    /// Seconds, as an integer or a decimal, to microseconds.
    fn time(&mut self, help: &str) -> Parsed<u64> {
        let span = self.here();
        let us = match self.peek() {
            Some(Tok::Int(n)) if *n >= 0 => (*n as u64).checked_mul(1_000_000),
            Some(Tok::Float(f)) if !f.starts_with('-') => vocab::micros(f),
            Some(Tok::Int(_)) | Some(Tok::Float(_)) => {
                return Err(Box::new(
                    Problem::new(Kind::Syntax, span, "negative time", "here").help("times are never negative"),
                ))
            }
            _ => return Err(self.expected("a time", help)),
        };
        self.pos += 1;
        us.ok_or_else(|| {
            Box::new(
                Problem::new(Kind::Syntax, span, "time too large", "here").help("times are at most 2^64 microseconds"),
            )
        })
    }

    fn action(&mut self, line: usize) -> Parsed<Action> {
        let span = self.here();
        match self.peek() {
            Some(Tok::Punct('<')) => self.packet(Direction::Inbound, line),
            Some(Tok::Punct('>')) => self.packet(Direction::Outbound, line),
            Some(Tok::Ellipsis) => {
                self.pos += 1;
                let end = self.time("a blocking call's end time follows `...`: `0.1...0.2 accept(...)`")?;
                self.syscall(Some(end)).map(Action::Syscall)
            }
            Some(Tok::Word(_)) if self.peek_at(1) == Some(&Tok::Punct('(')) => self.syscall(None).map(Action::Syscall),
            Some(Tok::BackQuoted(command)) => {
                self.pos += 1;
                Ok(Action::Shell(command.clone()))
            }
            Some(Tok::Code(code)) => {
                self.pos += 1;
                Ok(match vocab::state_assertion(code) {
                    Some(states) => Action::StateIs(states),
                    None => unsupported("a python block (%{ ... }%) other than `assert tcpi_state == ...`", span),
                })
            }
            _ => Err(self.expected(
                "a packet, a system call, a shell command or a code block",
                "after the time comes `<` (inbound packet), `>` (outbound packet), `name(args) = result`, `` `cmd` `` or `%{ code }%`",
            )),
        }
    }

    /// `< S. 0:0(0) ack 1 win 32792 <mss 1460,nop>`.
    fn packet(&mut self, direction: Direction, line: usize) -> Parsed<Action> {
        let span = self.here();
        self.pos += 1;
        let what = match self.peek() {
            Some(Tok::Word(w)) if matches!(w.as_str(), "ipv4" | "ipv6" | "gre" | "GREv0" | "mpls") => {
                Some(format!("an encapsulated packet (`{w} ...`)"))
            }
            Some(Tok::Word(w)) if w == "encap" => Some("a PSP-encapsulated packet".to_string()),
            Some(Tok::Word(w)) if w == "udp" => Some("a UDP packet".to_string()),
            Some(Tok::Word(w)) if w == "icmp" => Some("an ICMP packet".to_string()),
            Some(Tok::Punct('(' | '[')) => Some("IP header fields on a packet (ECN, TOS, TTL, flow label)".to_string()),
            Some(Tok::Int(_)) if self.peek_at(1) == Some(&Tok::Punct('>')) => {
                Some("explicit ports on a packet".to_string())
            }
            _ => None,
        };
        if let Some(what) = what {
            self.skip_rest_of_line(line);
            return Ok(unsupported(&what, span));
        }
        let flags = self.flags()?;
        let flags = match flags {
            Ok(bits) => bits,
            Err(what) => {
                self.skip_rest_of_line(line);
                return Ok(unsupported(&what, span));
            }
        };
        const SEQ_HELP: &str = "the sequence range is `start:end(length)`, e.g. `1:1001(1000)`, relative to the ISN";
        let (start, start_span) = self.integer("a start sequence number", 0, u32::MAX.into(), SEQ_HELP)?;
        self.expect_punct(':', SEQ_HELP)?;
        let (end, end_span) = self.integer("an end sequence number", 0, u32::MAX.into(), SEQ_HELP)?;
        self.expect_punct('(', SEQ_HELP)?;
        let (len, _) = self.integer("a payload length", 0, u16::MAX.into(), SEQ_HELP)?;
        self.expect_punct(')', SEQ_HELP)?;
        if end != start + len {
            return Err(Box::new(
                Problem::new(
                    Kind::Syntax,
                    Span::new(start_span.offset, end_span.end() - start_span.offset),
                    format!("inconsistent sequence numbers: {start} + {len} is not {end}"),
                    "here",
                )
                .help("the end of the range must be its start plus the payload length"),
            ));
        }
        let mut packet = Packet {
            direction,
            flags,
            start: start as u32,
            len: len as u16,
            ack: None,
            window: None,
            urgent: None,
            options: Some(Vec::new()),
            span,
        };
        if self.eat_word("ack") {
            packet.ack = Some(
                self.integer("an acknowledgment number", 0, u32::MAX.into(), "`ack N`, relative to the receiver's ISN")?
                    .0 as u32,
            );
        }
        if self.eat_word("win") {
            packet.window =
                Some(self.integer("a window", 0, u16::MAX.into(), "`win N`, the raw 16-bit field")?.0 as u16);
        }
        if self.eat_word("urg") {
            packet.urgent = Some(self.integer("an urgent pointer", 0, u16::MAX.into(), "`urg N`")?.0 as u16);
        }
        if self.is_punct('<') {
            packet.options = self.tcp_options()?;
        }
        Ok(Action::Packet(packet))
    }

    /// The flag letters: the flags byte, or what makes the packet unsupported.
    fn flags(&mut self) -> Parsed<Result<u8, String>> {
        const HELP: &str =
            "flags are tcpdump's letters: S F R P U E W and `.` for ACK (`S.`, `P.`, `F.`), or `-` for none";
        let letters = match self.peek() {
            Some(Tok::Punct('.')) => {
                self.pos += 1;
                return Ok(Ok(0x10));
            }
            Some(Tok::Punct('-')) => {
                self.pos += 1;
                return Ok(Ok(0));
            }
            Some(Tok::Word(w)) => w.clone(),
            _ => return Err(self.expected("TCP flags", HELP)),
        };
        let span = self.here();
        self.pos += 1;
        let mut text = letters;
        if self.eat_punct('.') {
            text.push('.');
        } else if let Some(Tok::Float(f)) = self.peek() {
            // `S.0` and the like: AccECN's ACE counter written after the ACK dot.
            text.push_str(f);
            self.pos += 1;
        }
        match vocab::flags_from_letters(&text) {
            Ok(bits) => Ok(Ok(bits)),
            Err(vocab::FlagError::AccEcn(c)) => Ok(Err(format!("an AccECN flag (`{c}`)"))),
            Err(vocab::FlagError::Unknown(c)) => {
                Err(Box::new(Problem::new(Kind::Syntax, span, format!("unknown TCP flag `{c}`"), "here").help(HELP)))
            }
        }
    }

    /// `<mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>` or `<...>` (`None`: not checked).
    fn tcp_options(&mut self) -> Parsed<Option<Vec<(TcpOption, Span)>>> {
        const HELP: &str = "options are nop, eol, mss N, wscale N, sackOK, sack A:B ..., TS val X ecr Y, md5 ..., FO ..., FOEXP ..., ECN ...; or `<...>` to accept any";
        self.pos += 1;
        if matches!(self.peek(), Some(Tok::Ellipsis)) {
            self.pos += 1;
            self.expect_punct('>', "`<...>` accepts any options")?;
            return Ok(None);
        }
        let mut out = Vec::new();
        loop {
            let span = self.here();
            let name = match self.peek() {
                Some(Tok::Word(w)) => w.clone(),
                _ => return Err(self.expected("a TCP option", HELP)),
            };
            self.pos += 1;
            let option = match name.as_str() {
                "nop" => TcpOption::Nop,
                "eol" => TcpOption::Eol,
                "mss" => TcpOption::Mss(self.integer("an MSS", 0, u16::MAX.into(), "`mss 1460`")?.0 as u16),
                "wscale" => TcpOption::WScale(self.integer("a window scale", 0, u8::MAX.into(), "`wscale 7`")?.0 as u8),
                "sackOK" => TcpOption::SackOk,
                "sack" => {
                    let mut blocks = Vec::new();
                    while matches!(self.peek(), Some(Tok::Int(_))) {
                        let (a, _) =
                            self.integer("a SACK block start", 0, u32::MAX.into(), "`sack 1:1001 2001:3001`")?;
                        self.expect_punct(':', "a SACK block is `start:end`")?;
                        let (b, _) = self.integer("a SACK block end", 0, u32::MAX.into(), "`sack 1:1001 2001:3001`")?;
                        blocks.push((a as u32, b as u32));
                    }
                    TcpOption::Sack(blocks)
                }
                "TS" => {
                    let help = "a timestamp is `TS val X ecr Y`";
                    if !self.eat_word("val") {
                        return Err(self.expected("`val`", help));
                    }
                    let (val, _) = self.integer("a timestamp value", 0, u32::MAX.into(), help)?;
                    if !self.eat_word("ecr") {
                        return Err(self.expected("`ecr`", help));
                    }
                    let (ecr, _) = self.integer("a timestamp echo reply", 0, u32::MAX.into(), help)?;
                    TcpOption::Timestamp { val: val as u32, ecr: ecr as u32 }
                }
                "md5" | "FO" | "FOEXP" | "ECN" => {
                    // Their arguments (a key, a cookie, AccECN counters) run to the next `,` or `>`.
                    while !matches!(self.peek(), None | Some(Tok::Punct(',' | '>'))) {
                        self.pos += 1;
                    }
                    TcpOption::Other(name.clone())
                }
                _ => {
                    let known = ["nop", "eol", "mss", "wscale", "sackOK", "sack", "TS", "md5", "FO", "FOEXP", "ECN"];
                    let mut problem = Problem::new(Kind::Unknown, span, format!("unknown TCP option `{name}`"), "here");
                    problem = match did_you_mean(&name, known.iter().copied()) {
                        Some(m) => problem.help(format!("did you mean `{m}`?")),
                        None => problem.help(HELP),
                    };
                    return Err(Box::new(problem));
                }
            };
            out.push((option, Span::new(span.offset, self.prev_end().saturating_sub(span.offset))));
            if self.eat_punct('>') {
                return Ok(Some(out));
            }
            self.expect_punct(',', "options are separated by `,` and the list ends with `>`")?;
        }
    }

    /// `name(args) = result [ERRNO (note)]`.
    fn syscall(&mut self, end: Option<u64>) -> Parsed<Syscall> {
        const HELP: &str = "a system call is `name(arg, ...) = result`, e.g. `write(4, ..., 1000) = 1000`";
        let name_span = self.here();
        let name = match self.bump().map(|t| &t.tok) {
            Some(Tok::Word(w)) => w.clone(),
            _ => return Err(self.expected("a system call", HELP)),
        };
        self.expect_punct('(', HELP)?;
        let mut args = Vec::new();
        if !self.eat_punct(')') {
            loop {
                let start = self.here().offset;
                let arg = self.expr()?;
                args.push((arg, Span::new(start, self.prev_end().saturating_sub(start))));
                if self.eat_punct(')') {
                    break;
                }
                self.expect_punct(',', "arguments are separated by `,` and end with `)`")?;
            }
        }
        self.expect_punct('=', "the expected result follows `=`: `= 0`, `= -1 EINPROGRESS (...)`")?;
        let result_start = self.here().offset;
        let result = self.expr()?;
        let result_span = Span::new(result_start, self.prev_end().saturating_sub(result_start));
        let errno = match self.peek() {
            Some(Tok::Word(w)) => {
                self.pos += 1;
                Some(w.clone())
            }
            _ => None,
        };
        if self.is_punct('(') {
            // The note, `(Operation now in progress)`: words for the reader.
            let mut depth = 0i32;
            while let Some(t) = self.bump() {
                match t.tok {
                    Tok::Punct('(') => depth += 1,
                    Tok::Punct(')') => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
        }
        Ok(Syscall { name, name_span, args, result, result_span, errno, end })
    }

    fn expr(&mut self) -> Parsed<Expr> {
        let first = self.primary()?;
        if !self.is_punct('|') {
            return Ok(first);
        }
        let mut parts = vec![first];
        while self.eat_punct('|') {
            parts.push(self.primary()?);
        }
        Ok(Expr::Or(parts))
    }

    fn primary(&mut self) -> Parsed<Expr> {
        const HELP: &str = "an argument is a number, a name, a string, `...`, `[list]` or `{struct}`";
        let Some(tok) = self.peek() else { return Err(self.expected("an expression", HELP)) };
        let expr = match tok {
            Tok::Ellipsis => {
                self.pos += 1;
                Expr::Ellipsis
            }
            Tok::Int(n) | Tok::Hex(n) => {
                self.pos += 1;
                Expr::Int(*n)
            }
            Tok::Float(f) | Tok::Addr(f) => {
                self.pos += 1;
                Expr::Word(f.clone())
            }
            Tok::Str(s) => {
                self.pos += 1;
                let mut text = s.clone();
                while let Some(Tok::Str(more)) = self.peek() {
                    text.push_str(more);
                    self.pos += 1;
                }
                // `"abc"...`: a string and whatever follows it.
                if matches!(self.peek(), Some(Tok::Ellipsis)) {
                    self.pos += 1;
                }
                Expr::Str(text)
            }
            Tok::Word(w) => {
                self.pos += 1;
                let mut expr = Expr::Word(w.clone());
                if self.eat_punct('(') {
                    let mut args = Vec::new();
                    if !self.eat_punct(')') {
                        loop {
                            args.push(self.expr()?);
                            if self.eat_punct(')') {
                                break;
                            }
                            self.expect_punct(',', "arguments are separated by `,` and end with `)`")?;
                        }
                    }
                    expr = Expr::Call(w.clone(), args);
                }
                if self.eat_punct('=') {
                    let value = self.expr()?;
                    expr = Expr::Assign(Box::new(expr), Box::new(value));
                }
                expr
            }
            Tok::Punct(open @ ('[' | '{')) => {
                let close = if *open == '[' { ']' } else { '}' };
                let is_list = *open == '[';
                self.pos += 1;
                let mut items = Vec::new();
                if !self.eat_punct(close) {
                    loop {
                        items.push(self.expr()?);
                        if self.eat_punct(close) {
                            break;
                        }
                        self.expect_punct(',', &format!("items are separated by `,` and end with `{close}`"))?;
                    }
                }
                if is_list {
                    Expr::List(items)
                } else {
                    Expr::Struct(items)
                }
            }
            _ => return Err(self.expected("an expression", HELP)),
        };
        Ok(expr)
    }
}

fn unsupported(what: &str, span: Span) -> Action {
    Action::Unsupported(Unsupported { what: what.to_string(), span })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<PdScript, Problems> {
        parse(&Source::new("t.pkt", text))
    }

    fn events(text: &str) -> Vec<Event> {
        parse_text(text).unwrap_or_else(|p| panic!("{}", p.render_plain())).events
    }

    #[test]
    fn a_passive_open_parses_into_events() {
        let script = "--tolerance_usecs=10000\n\
            0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
            +0  setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
            +0  bind(3, ..., ...) = 0\n\
            +0  listen(3, 1) = 0\n\
            +0  < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>\n\
            +0  > S. 0:0(0) ack 1 <...>\n\
            +.1 < . 1:1(0) ack 1 win 257\n\
            +0  accept(3, ..., ...) = 4\n\
            +0  write(4, ..., 1000) = 1000\n\
            +0  > P. 1:1001(1000) ack 1\n";
        let parsed = parse_text(script).unwrap();
        assert_eq!(parsed.option("tolerance_usecs"), Some("10000"));
        let e = &parsed.events;
        assert_eq!(e.len(), 10);
        assert_eq!(e[6].time, Time::Relative(100_000));
        let Action::Packet(syn) = &e[4].action else { panic!("{:?}", e[4]) };
        assert_eq!((syn.direction, syn.flags, syn.window), (Direction::Inbound, 0x02, Some(32792)));
        assert_eq!(syn.options.as_ref().unwrap()[0].0, TcpOption::Mss(1000));
        let Action::Packet(synack) = &e[5].action else { panic!() };
        assert_eq!((synack.flags, synack.ack, synack.options.is_none()), (0x12, Some(1), true));
        let Action::Syscall(write) = &e[8].action else { panic!() };
        assert_eq!((write.name.as_str(), write.args.len(), write.result.int()), ("write", 3, Some(1000)));
        let Action::Packet(data) = &e[9].action else { panic!() };
        assert_eq!((data.flags, data.start, data.len), (0x18, 1, 1000));
    }

    #[test]
    fn times_absolute_relative_any_and_ranges() {
        let e = events(
            "0.100 close(3) = 0\n+1 close(3) = 0\n* close(3) = 0\n0.1~0.2 close(3) = 0\n+.5~+1.25 close(3) = 0\n",
        );
        let times: Vec<Time> = e.iter().map(|e| e.time).collect();
        assert_eq!(
            times,
            [
                Time::Absolute(100_000),
                Time::Relative(1_000_000),
                Time::Any,
                Time::AbsoluteRange(100_000, 200_000),
                Time::RelativeRange(500_000, 1_250_000)
            ]
        );
    }

    #[test]
    fn errnos_notes_and_structured_arguments() {
        let e = events(
            "0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n\
             +0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0\n\
             +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n\
             +0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n\
             +0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0}, 0) = 10\n\
             +0...0.2 read(4, ..., 1000) = 5\n",
        );
        let Action::Syscall(c) = &e[0].action else { panic!() };
        assert_eq!((c.result.int(), c.errno.as_deref()), (Some(-1), Some("EINPROGRESS")));
        let Action::Syscall(l) = &e[1].action else { panic!() };
        assert_eq!(l.args[3].0.field("linger"), Some(&Expr::Int(0)));
        let Action::Syscall(f) = &e[2].action else { panic!() };
        assert!(f.args[2].0.mentions("O_NONBLOCK"));
        let Action::Syscall(r) = &e[5].action else { panic!() };
        assert_eq!(r.end, Some(200_000));
    }

    #[test]
    fn unsupported_constructs_are_named_with_their_place() {
        let e = events(
            "0 `sysctl -q net.ipv4.tcp_timestamps=0`\n\
             +0 < [ect0] S 0:0(0) win 100\n\
             +0 < udp (1472)\n\
             +0 > icmp unreachable frag_needed mtu 1200 [1:1461(1460)]\n\
             +0 %{ assert tcpi_snd_cwnd == 10 }%\n\
             +0 %{ assert tcpi_state == TCP_CLOSE, tcpi_state }%\n\
             +0 < S.2 0:0(0) ack 1 win 100\n",
        );
        let whats: Vec<String> = e
            .iter()
            .map(|e| match &e.action {
                Action::Unsupported(u) => u.what.clone(),
                Action::StateIs(s) => s.join(","),
                Action::Shell(c) => format!("shell {c}"),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(whats[0], "shell sysctl -q net.ipv4.tcp_timestamps=0", "{whats:?}");
        assert!(whats[1].contains("IP header"), "{whats:?}");
        assert!(whats[2].contains("UDP"), "{whats:?}");
        assert!(whats[3].contains("ICMP"), "{whats:?}");
        assert!(whats[4].contains("python"), "{whats:?}");
        assert_eq!(whats[5], "TCP_CLOSE");
        assert!(whats[6].contains("AccECN"), "{whats:?}");
        assert_eq!(e[1].span.offset, "0 `sysctl -q net.ipv4.tcp_timestamps=0`\n".len());
    }

    #[test]
    fn mistakes_are_reported_with_their_place_and_a_hint_and_parsing_goes_on() {
        let problems =
            parse_text("0 < S 0:10(0) win 1\n+0 > Q. 0:0(0) ack 1\n+0 < . 1:1(0) <mss 1,wsclae 7>\n+0 bogus\n")
                .unwrap_err();
        let text = problems.render_plain();
        assert_eq!(problems.problems.len(), 4, "{text}");
        assert!(text.contains("inconsistent sequence numbers: 0 + 0 is not 10"), "{text}");
        assert!(text.contains("unknown TCP flag `Q`"), "{text}");
        assert!(text.contains("did you mean `wscale`?"), "{text}");
        assert!(text.contains("expected a packet, a system call"), "{text}");
        assert_eq!(problems.problems[1].location(), "t.pkt:2:6");
    }

    #[test]
    fn out_of_range_numbers_are_errors() {
        for text in [
            "0 < S 4294967296:4294967296(0) win 1",
            "0 < S 0:0(0) win 65536",
            "0 < S 0:70000(70000) win 1",
            "-1 close(3) = 0",
        ] {
            assert!(parse_text(text).is_err(), "{text}");
        }
    }
}
