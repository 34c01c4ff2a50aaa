//! A packetdrill script as written: events with their times and spans. What the harness can
//! run is decided later ([`super::plan`]); here every construct packetdrill's grammar has is
//! kept, and the ones tcpcheck cannot play are [`Action::Unsupported`] with their location.

use crate::model::Span;

/// A parsed script.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PdScript {
    /// `--name=value` options at the top (`--tolerance_usecs=10000`).
    pub options: Vec<ScriptOption>,
    pub events: Vec<Event>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScriptOption {
    pub name: String,
    pub value: Option<String>,
    pub span: Span,
}

impl PdScript {
    /// The first construct the harness cannot play, if any.
    pub fn unsupported(&self) -> Option<(&str, Span)> {
        self.events.iter().find_map(|e| match &e.action {
            Action::Unsupported(u) => Some((u.what.as_str(), u.span)),
            _ => None,
        })
    }

    /// The value of option `--name`, if given.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.iter().rev().find(|o| o.name == name).and_then(|o| o.value.as_deref())
    }

    /// Whether flag `--name` (an option without a value) is given.
    pub fn flag(&self, name: &str) -> bool {
        self.options.iter().any(|o| o.name == name && o.value.is_none())
    }
}

/// One line of the script: when, and what.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub time: Time,
    /// The time's span: where the event starts.
    pub span: Span,
    pub action: Action,
}

/// When an event happens, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Time {
    /// `0.100`: from the start of the script.
    Absolute(u64),
    /// `+0.1`: after the previous event.
    Relative(u64),
    /// `*`: whenever (an outbound packet's time is not checked).
    Any,
    /// `0.1~0.2`.
    AbsoluteRange(u64, u64),
    /// `+0.1~+0.2`.
    RelativeRange(u64, u64),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Packet(Packet),
    Syscall(Syscall),
    /// `%{ assert tcpi_state == TCP_X }%`, or a `getsockopt` of `TCP_INFO` naming
    /// `tcpi_state`: the connection's state must be one of these (Linux's `TCP_*` names).
    StateIs(Vec<String>),
    /// `` `command` ``: a shell command (most set sysctls for the Linux the script was
    /// written against). The harness cannot run it on a stack; `run --ignore-shell` plays
    /// the rest of the script without it.
    Shell(String),
    Unsupported(Unsupported),
}

/// A construct tcpcheck cannot play: the script is skipped, saying which and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    pub what: String,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `<`: the peer (packetdrill) sends it to the stack.
    Inbound,
    /// `>`: the stack must send it.
    Outbound,
}

/// A TCP packet line.
#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    pub direction: Direction,
    /// The TCP flags byte the letters spell, ACK (`.`) included.
    pub flags: u8,
    /// Relative to the sender's ISN.
    pub start: u32,
    pub len: u16,
    /// Relative to the receiver's ISN; `Some` when `ack N` is written.
    pub ack: Option<u32>,
    pub window: Option<u16>,
    pub urgent: Option<u16>,
    /// `None` for `<...>` (not checked); otherwise the list, possibly empty.
    pub options: Option<Vec<(TcpOption, Span)>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpOption {
    Nop,
    Eol,
    Mss(u16),
    WScale(u8),
    SackOk,
    Sack(Vec<(u32, u32)>),
    Timestamp {
        val: u32,
        ecr: u32,
    },
    /// Any other option packetdrill knows (`md5`, `FO`, `FOEXP`, `ECN`), by its name.
    Other(String),
}

impl TcpOption {
    pub fn name(&self) -> &str {
        match self {
            TcpOption::Nop => "nop",
            TcpOption::Eol => "eol",
            TcpOption::Mss(_) => "mss",
            TcpOption::WScale(_) => "wscale",
            TcpOption::SackOk => "sackOK",
            TcpOption::Sack(_) => "sack",
            TcpOption::Timestamp { .. } => "TS",
            TcpOption::Other(name) => name,
        }
    }
}

/// `name(args) = result [ERRNO (note)]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Syscall {
    pub name: String,
    pub name_span: Span,
    pub args: Vec<(Expr, Span)>,
    pub result: Expr,
    pub result_span: Span,
    /// `EINPROGRESS` in `= -1 EINPROGRESS (Operation now in progress)`.
    pub errno: Option<String>,
    /// A blocking call's end time (`...0.2`), in microseconds as written.
    pub end: Option<u64>,
}

/// A system call's argument or result, as packetdrill's expression grammar has it.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `...`: anything.
    Ellipsis,
    Int(i64),
    Word(String),
    Str(String),
    /// `[a, b]`.
    List(Vec<Expr>),
    /// `{a, b}` (structs: `{onoff=1, linger=0}`).
    Struct(Vec<Expr>),
    /// `htons(8080)`, `msg_iov(1)`.
    Call(String, Vec<Expr>),
    /// `name=value`, `msg_iov(1)=[...]`.
    Assign(Box<Expr>, Box<Expr>),
    /// `O_RDWR|O_NONBLOCK`.
    Or(Vec<Expr>),
}

impl Expr {
    pub fn int(&self) -> Option<i64> {
        match self {
            Expr::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn word(&self) -> Option<&str> {
        match self {
            Expr::Word(w) => Some(w),
            _ => None,
        }
    }

    /// Whether this expression or one inside it is the word `w`.
    pub fn mentions(&self, w: &str) -> bool {
        match self {
            Expr::Word(x) => x == w,
            Expr::List(xs) | Expr::Struct(xs) | Expr::Or(xs) | Expr::Call(_, xs) => xs.iter().any(|x| x.mentions(w)),
            Expr::Assign(a, b) => a.mentions(w) || b.mentions(w),
            _ => false,
        }
    }

    /// The value of `name=value` inside this struct (one level).
    pub fn field(&self, name: &str) -> Option<&Expr> {
        match self {
            Expr::Struct(xs) => xs.iter().find_map(|x| match x {
                Expr::Assign(k, v) if k.word() == Some(name) => Some(&**v),
                _ => None,
            }),
            _ => None,
        }
    }
}
