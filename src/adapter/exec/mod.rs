//! Any stack, in any language: a child process that speaks the stack protocol
//! (`docs/stack-protocol.md`) on its stdin and stdout, behind [`Stack`].
//!
//! Every request is answered by a report that carries everything the oracle asks next (the
//! packets sent since, the state, the next deadline, which calls can be made, RECEIVE's text),
//! so a script step costs one round trip; [`Stack::reset`] only queues its request, which goes
//! out with the next one. A child that dies, stops answering within the answer timeout, or writes
//! something that is not a frame is a [`Fault`]: the oracle turns it into a `crash`, `hang` or
//! `protocol` verdict at the step that caused it, and the next [`Stack::reset`] starts a new
//! child. Nothing a child does can panic or block the harness.
//!
//! Children run in a process group of their own, so a Ctrl-C at the terminal reaches only
//! tcpcheck, which stops its jobs and ends them, instead of killing every child at once (which
//! would look like a crash of each). Each child is ended when its [`Exec`] is dropped.

pub mod protocol;
pub mod serve;
pub mod shm;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::ops::Range;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Duration as WallDuration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::conform::{Check, Clock, Fault, Params, Stack};
use crate::model::{Call, State};
use crate::time::{Duration, Instant};
use protocol::{kind, shown, Frames, Hello, ReportView, Request, Reset, Transport, ALL_CALLS, CALLS};
use shm::{Interrupted, Region, Way};

/// How long a child may take to answer a request (plus, on a real clock, the wait itself).
pub const ANSWER_TIMEOUT: WallDuration = WallDuration::from_secs(2);

/// How long a starting child may take to say hello.
const HELLO_TIMEOUT: WallDuration = WallDuration::from_secs(10);

/// The tail of a child's stderr that is kept, and the lines of it a verdict quotes.
const STDERR_TAIL: usize = 4096;
const STDERR_LINES: usize = 4;

/// A child that cannot be started or does not say a valid hello: the user's command is wrong.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stack in a child process.
pub struct Exec {
    command: Vec<String>,
    seed: u64,
    hello: Hello,
    timeout: WallDuration,
    io: RefCell<Io>,
    /// A listener stays beside the connection ([`Stack::serve`]). The protocol has no call
    /// for it and a child's stack holds one TCB, as smoltcp's socket does, so the adapter makes
    /// the passive OPEN again whenever the child reports the connection gone (CLOSED).
    serving: bool,
}

/// The child and what it last reported: behind a `RefCell` because the oracle's questions
/// (`state`, `can_call`, `next_deadline`) take `&self` and may have to read a queued reset's answer.
struct Io {
    child: Option<Running>,
    /// The shared-memory transport, if the child took it.
    shared: Option<Region>,
    /// Requests queued but not yet written (a reset waits for the request after it).
    out: Vec<u8>,
    /// Kinds of the requests written or queued whose answers are not read, oldest first.
    awaited: VecDeque<u8>,
    frames: Frames,
    view: ReportView,
    /// Packets reported and not yet taken, as ranges of `sent`.
    sent: Vec<u8>,
    queue: VecDeque<Range<usize>>,
    text: Vec<u8>,
    state: Option<State>,
    calls: u8,
    deadline: Option<Instant>,
    /// The latest time a request named, for a real clock's answer timeout.
    now: Instant,
    /// The time the last request, an advance, reached (see [`Stack::advance`]).
    advanced: Option<Instant>,
    fault: Option<Fault>,
    stderr: Vec<u8>,
}

struct Running {
    process: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    /// `None` once the child closed it.
    stderr: Option<ChildStderr>,
}

impl Exec {
    /// Starts `command` (split into words as a shell would, without a shell) and reads its
    /// hello. `seed` goes with every reset: it seeds the stack's ISNs.
    pub fn spawn(command: &str, seed: u64) -> Result<Exec, StartError> {
        let words = shlex::split(command)
            .filter(|w| !w.is_empty())
            .ok_or_else(|| StartError(format!("`{command}` is not a command line (an unclosed quote?)")))?;
        let mut io = Io::new();
        let hello = io.start(&words).map_err(|e| StartError(format!("`{command}`: {e}")))?;
        Ok(Exec { command: words, seed, hello, timeout: ANSWER_TIMEOUT, io: RefCell::new(io), serving: false })
    }

    /// Changes how long a request may go unanswered before the child counts as hung.
    pub fn with_answer_timeout(mut self, timeout: WallDuration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The child's process id, while one runs.
    pub fn pid(&self) -> Option<u32> {
        self.io.borrow().child.as_ref().map(|c| c.process.id())
    }

    /// The passive OPEN of a listener that stays, again, once the child reports its connection
    /// gone ([`Exec::serving`]).
    fn relisten(&mut self) {
        let io = self.io.get_mut();
        if self.serving && io.fault.is_none() && io.awaited.is_empty() && io.state == Some(State::Closed) {
            let now = io.now;
            self.request(Request::Call { now, call: Call::OpenPassive, text: &[] });
        }
    }

    fn request(&mut self, request: Request<'_>) {
        let io = self.io.get_mut();
        if io.fault.is_some() {
            return;
        }
        let wait = match request {
            Request::Advance { to } if self.hello.params.clock == Clock::Real => {
                WallDuration::from_micros(to.since(io.now.min(to)).as_micros())
            }
            _ => WallDuration::ZERO,
        };
        if let Request::Call { now, .. } | Request::Packet { now, .. } | Request::Advance { to: now } = request {
            io.now = io.now.max(now);
        }
        io.advanced = None;
        io.text.clear();
        request.write(&mut io.out);
        io.awaited.push_back(kind_of(&request));
        io.exchange(self.timeout + wait);
    }
}

fn kind_of(request: &Request<'_>) -> u8 {
    match request {
        Request::Reset { .. } => kind::RESET,
        Request::Call { .. } => kind::CALL,
        Request::Packet { .. } => kind::PACKET,
        Request::Advance { .. } => kind::ADVANCE,
    }
}

fn describe(kind: u8) -> &'static str {
    match kind {
        kind::RESET => "RESET",
        kind::CALL => "a user call",
        kind::PACKET => "a packet",
        _ => "ADVANCE",
    }
}

impl Io {
    fn new() -> Io {
        Io {
            child: None,
            shared: None,
            out: Vec::new(),
            awaited: VecDeque::new(),
            frames: Frames::default(),
            view: ReportView::default(),
            sent: Vec::new(),
            queue: VecDeque::new(),
            text: Vec::new(),
            state: None,
            calls: ALL_CALLS,
            deadline: None,
            now: Instant::ZERO,
            advanced: None,
            fault: None,
            stderr: Vec::new(),
        }
    }

    /// Starts a child and reads its hello.
    fn start(&mut self, words: &[String]) -> Result<Hello, String> {
        self.stop();
        let (program, args) = words.split_first().ok_or("an empty command")?;
        // Offered to the child; the file is removed once both have mapped it (or not).
        let path = shared_path();
        let region = Region::create(&path, shm::CAPACITY).ok();
        let mut command = Command::new(program);
        if region.is_some() {
            command.env(shm::ENV, &path);
        }
        let spawned = command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn();
        let hello =
            spawned.map_err(|e| format!("cannot start `{program}`: {e}")).and_then(|process| self.greet(process));
        let _ = std::fs::remove_file(&path);
        let hello = hello?;
        self.shared = region.filter(|_| hello.transport == Transport::Shared);
        Ok(hello)
    }

    /// Takes a started child's pipes and reads its hello.
    fn greet(&mut self, mut process: Child) -> Result<Hello, String> {
        let (Some(stdin), Some(stdout), stderr) = (process.stdin.take(), process.stdout.take(), process.stderr.take())
        else {
            let _ = process.kill();
            return Err("its pipes could not be set up".into());
        };
        self.child = Some(Running { process, stdin, stdout, stderr });
        self.frames = Frames::default();
        self.stderr.clear();
        self.awaited.clear();
        self.out.clear();
        let hello = match self.read_frame(HELLO_TIMEOUT, "the hello") {
            Ok((kind::HELLO, body)) => std::str::from_utf8(&self.frames.bytes()[body])
                .map_err(|e| format!("the hello is not UTF-8 text ({e})"))
                .and_then(Hello::parse),
            Ok((other, _)) => Err(format!("a hello frame (type `H`) first, not {}", shown(other))),
            Err(fault) => Err(fault.detail),
        };
        hello.map_err(|e| {
            let tail = self.stderr_tail();
            self.stop();
            format!("the child's hello: {e}{tail}\n  help: see docs/stack-protocol.md, `The hello`")
        })
    }

    /// Writes queued requests and reads the answers to all of them; a failure becomes the fault.
    fn exchange(&mut self, timeout: WallDuration) {
        if let Err(fault) = self.try_exchange(timeout) {
            self.fault = Some(fault);
            self.stop();
        }
    }

    fn try_exchange(&mut self, timeout: WallDuration) -> Result<(), Fault> {
        let Some(child) = &mut self.child else { return Err(self.crash("no child is running".into())) };
        let sent = match &mut self.shared {
            Some(region) => region.send(Way::Requests, &self.out),
            None => child.stdin.write_all(&self.out).map_err(|e| format!("it stopped reading its stdin ({e})")),
        };
        self.out.clear();
        if let Err(e) = sent {
            return Err(self.died(&e));
        }
        while let Some(&asked) = self.awaited.front() {
            let (kind, body) = self.read_frame(timeout, describe(asked))?;
            self.awaited.pop_front();
            match kind {
                kind::REPORT => {
                    let bytes = &self.frames.bytes()[body.clone()];
                    if let Err((at, message)) = self.view.parse_into(bytes, body.start) {
                        let error = self.frames.body_error(&body, at, format!("expected {message}"));
                        return Err(self.broke(error.to_string()));
                    }
                    self.take_report(asked);
                }
                kind::ERROR => {
                    let text = String::from_utf8_lossy(&self.frames.bytes()[body]).into_owned();
                    return Err(self.broke(format!("the child answered {} with an error: {text}", describe(asked))));
                }
                kind::CRASHED => {
                    // The stack died and the child survived it (a fork server's copy was killed,
                    // or a panic was caught): it awaits the next reset, so this fault keeps it.
                    let text = String::from_utf8_lossy(&self.frames.bytes()[body]).into_owned();
                    self.awaited.clear();
                    let detail = format!("{text} (the child reported it and lives on){}", self.stderr_tail());
                    self.fault = Some(Fault { check: Check::Crash, detail });
                    return Ok(());
                }
                other => {
                    let error = self.frames.body_error(
                        &body,
                        0,
                        format!("expected a report (`r`), an error (`E`) or `x`, not {}", shown(other)),
                    );
                    return Err(self.broke(error.to_string()));
                }
            }
        }
        Ok(())
    }

    /// Keeps what a report says; a reset's report starts the run afresh.
    fn take_report(&mut self, asked: u8) {
        let bytes = self.frames.bytes();
        if asked == kind::RESET {
            self.queue.clear();
        }
        if self.queue.is_empty() {
            self.sent.clear();
        }
        for range in &self.view.packets {
            let start = self.sent.len();
            self.sent.extend_from_slice(&bytes[range.clone()]);
            self.queue.push_back(start..self.sent.len());
        }
        self.text.clear();
        self.text.extend_from_slice(&bytes[self.view.text.clone()]);
        (self.state, self.calls, self.deadline) = (self.view.state, self.view.calls, self.view.deadline);
    }

    /// The next frame from the child, waiting up to `timeout`; keeps its stderr meanwhile.
    fn read_frame(&mut self, timeout: WallDuration, awaited: &str) -> Result<(u8, Range<usize>), Fault> {
        // The clock only bounds how long a child may be silent; it never reaches the core. Read
        // once the wait is long: most answers come before a clock would be worth reading.
        let mut start = None;
        loop {
            match self.frames.take() {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(error) => return Err(self.broke(error.to_string())),
            }
            if self.shared.is_some() {
                self.receive_shared(timeout, awaited)?;
                continue;
            }
            #[allow(clippy::disallowed_methods)]
            let start = *start.get_or_insert_with(std::time::Instant::now);
            let Some(child) = &mut self.child else { return Err(self.crash("no child is running".into())) };
            #[allow(clippy::disallowed_methods)]
            let left = timeout.saturating_sub(start.elapsed());
            let ms = u16::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
            let (out_ready, err_ready) = {
                let mut fds = vec![PollFd::new(child.stdout.as_fd(), PollFlags::POLLIN)];
                if let Some(stderr) = &child.stderr {
                    fds.push(PollFd::new(stderr.as_fd(), PollFlags::POLLIN));
                }
                match poll(&mut fds, PollTimeout::from(ms)) {
                    Ok(0) => (false, false),
                    Ok(_) => (fds[0].any().unwrap_or(true), fds.get(1).is_some_and(|f| f.any().unwrap_or(true))),
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(self.broke(format!("cannot wait for the child: {e}"))),
                }
            };
            if err_ready {
                self.read_stderr();
            }
            if out_ready {
                let Some(child) = &mut self.child else { continue };
                const CHUNK: usize = 64 * 1024;
                let space = self.frames.space(CHUNK);
                let n = child.stdout.read(space);
                self.frames.filled(*n.as_ref().unwrap_or(&0));
                match n {
                    Ok(0) => return Err(self.stdout_ended(awaited)),
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(self.died(&format!("its stdout failed ({e})"))),
                }
            } else if !err_ready && left.is_zero() {
                return Err(self.hung(awaited, timeout));
            }
        }
    }

    /// The next batch of answers through shared memory. Between futex naps it looks at the
    /// pipes: stderr is kept, and anything on stdout means the child died (end of file) or
    /// broke the protocol (it must be silent there now).
    #[allow(clippy::disallowed_methods)]
    fn receive_shared(&mut self, timeout: WallDuration, awaited: &str) -> Result<(), Fault> {
        let Some(mut region) = self.shared.take() else { return Ok(()) };
        let mut stdout_stirred = false;
        // Timed from the first nap on: the spinning before it is a few microseconds.
        let mut start = None;
        let received = region.recv(Way::Answers, 1000, || {
            let start = *start.get_or_insert_with(std::time::Instant::now);
            while self.stderr_ready() {
                self.read_stderr();
            }
            let Some(child) = &self.child else { return Err(Interrupted::Stopped) };
            let mut fds = [PollFd::new(child.stdout.as_fd(), PollFlags::POLLIN)];
            stdout_stirred = matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0);
            if stdout_stirred || start.elapsed() >= timeout {
                return Err(Interrupted::Stopped);
            }
            Ok(())
        });
        match received {
            Ok(batch) => {
                self.frames.push(batch);
                self.shared = Some(region);
                Ok(())
            }
            Err(Interrupted::Stopped) if stdout_stirred => {
                let mut byte = [0u8; 1];
                match self.child.as_mut().map(|c| c.stdout.read(&mut byte)) {
                    Some(Ok(1)) => Err(self
                        .broke("the child wrote to its stdout, which the shared-memory transport keeps silent".into())),
                    _ => Err(self.stdout_ended(awaited)),
                }
            }
            Err(Interrupted::Stopped) => Err(self.hung(awaited, timeout)),
        }
    }

    /// The child's stdout ended while an answer was awaited: it died, or closed it.
    fn stdout_ended(&mut self, awaited: &str) -> Fault {
        let partial = self.frames.pending();
        let mid = if partial > 0 { format!(" after {partial} bytes of an unfinished frame") } else { String::new() };
        self.died(&format!("its stdout ended{mid} while tcpcheck awaited an answer to {awaited}"))
    }

    /// No answer within `timeout` (the caller then kills the child).
    fn hung(&self, awaited: &str, timeout: WallDuration) -> Fault {
        let detail = format!(
            "no answer to {awaited} within {:.1}s: the child was killed{}",
            timeout.as_secs_f64(),
            self.stderr_tail()
        );
        Fault { check: Check::Hang, detail }
    }

    /// Reads what the child's stderr has, keeping the tail.
    fn read_stderr(&mut self) {
        let Some(stderr) = self.child.as_mut().and_then(|c| c.stderr.as_mut()) else { return };
        let mut buf = [0u8; 4096];
        match stderr.read(&mut buf) {
            Ok(0) | Err(_) => {
                if let Some(child) = &mut self.child {
                    child.stderr = None;
                }
            }
            Ok(n) => {
                self.stderr.extend_from_slice(&buf[..n]);
                if self.stderr.len() > STDERR_TAIL {
                    self.stderr.drain(..self.stderr.len() - STDERR_TAIL);
                }
            }
        }
    }

    /// The last lines of the child's stderr, for a verdict, or nothing.
    fn stderr_tail(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        if lines.is_empty() {
            return String::new();
        }
        let tail = lines[lines.len().saturating_sub(STDERR_LINES)..].join(" | ");
        format!("; its stderr ends: {tail}")
    }

    /// The child's stdout or stdin ended: collect how it ended and what it last said.
    fn died(&mut self, what: &str) -> Fault {
        let status = self.reap();
        let how = match status {
            Some(status) => ended(status),
            None => "it was still running, and was killed".into(),
        };
        Fault { check: Check::Crash, detail: format!("{what}; {how}{}", self.stderr_tail()) }
    }

    fn crash(&self, detail: String) -> Fault {
        Fault { check: Check::Crash, detail }
    }

    /// The child broke the protocol.
    fn broke(&mut self, detail: String) -> Fault {
        // What it said on stderr before it went wrong may explain it.
        while self.child.as_ref().is_some_and(|c| c.stderr.is_some()) && self.stderr_ready() {
            self.read_stderr();
        }
        Fault { check: Check::Protocol, detail: format!("{detail}{}", self.stderr_tail()) }
    }

    fn stderr_ready(&self) -> bool {
        let Some(stderr) = self.child.as_ref().and_then(|c| c.stderr.as_ref()) else { return false };
        let mut fds = [PollFd::new(stderr.as_fd(), PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
    }

    /// Waits a moment for the child to exit, reading the rest of its stderr; kills it if it does
    /// not. Its exit status if it exited by itself.
    fn reap(&mut self) -> Option<ExitStatus> {
        for _ in 0..200 {
            if self.stderr_ready() {
                self.read_stderr();
                continue;
            }
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.process.try_wait() {
                while self.stderr_ready() {
                    self.read_stderr();
                }
                return Some(status);
            }
            std::thread::sleep(WallDuration::from_millis(1));
        }
        None
    }

    /// Ends the child, if one runs: closes its stdin (a well-behaved child exits), then kills it.
    fn stop(&mut self) {
        self.shared = None;
        let Some(Running { mut process, stdin, .. }) = self.child.take() else { return };
        drop(stdin);
        for _ in 0..20 {
            if let Ok(Some(_)) = process.try_wait() {
                return;
            }
            std::thread::sleep(WallDuration::from_micros(500));
        }
        let _ = process.kill();
        let _ = process.wait();
    }
}

/// A fresh name for a transport file: in memory (`/dev/shm`) where there is one.
fn shared_path() -> std::path::PathBuf {
    static FILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = Path::new("/dev/shm");
    let dir = if dir.is_dir() { dir.to_path_buf() } else { std::env::temp_dir() };
    dir.join(format!("tcpcheck-{}-{n}", std::process::id()))
}

/// How a child ended, in words.
fn ended(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("it exited with status {code}"),
        (None, Some(signal)) => {
            let name = nix::sys::signal::Signal::try_from(signal).map_or("", |s| s.as_str());
            format!("it was killed by signal {signal} ({name})")
        }
        _ => format!("it ended ({status})"),
    }
}

impl Stack for Exec {
    fn params(&self) -> &Params {
        &self.hello.params
    }

    fn reset(&mut self) {
        self.serving = false;
        let io = self.io.get_mut();
        let restart = io.child.is_none() || self.hello.reset == Reset::Restart;
        io.fault = None;
        io.queue.clear();
        io.text.clear();
        (io.now, io.advanced) = (Instant::ZERO, None);
        (io.state, io.calls, io.deadline) = (Some(State::Closed), ALL_CALLS, None);
        if restart {
            if let Err(e) = io.start(&self.command) {
                io.fault = Some(Fault { check: Check::Crash, detail: format!("it could not be restarted: {e}") });
                return;
            }
        }
        // Goes out with the next request: one round trip saved per run.
        Request::Reset { seed: self.seed }.write(&mut io.out);
        io.awaited.push_back(kind::RESET);
    }

    fn call(&mut self, now: Instant, call: Call, data: &[u8]) -> Vec<u8> {
        self.request(Request::Call { now, call, text: data });
        let text = std::mem::take(&mut self.io.get_mut().text);
        self.relisten();
        text
    }

    fn inject(&mut self, now: Instant, packet: &[u8]) {
        self.request(Request::Packet { now, packet });
        self.relisten();
    }

    /// On a virtual clock, an advance to the time the last one reached, with nothing in
    /// between, would fire nothing (every timer due by then has fired): it is answered from the
    /// last report. The oracle makes such advances at the end of most waits for a timer.
    fn advance(&mut self, to: Instant) {
        let virtual_clock = self.hello.params.clock == Clock::Virtual;
        let io = self.io.get_mut();
        if virtual_clock && io.advanced == Some(to) && io.awaited.is_empty() && io.fault.is_none() {
            return;
        }
        self.request(Request::Advance { to });
        let io = self.io.get_mut();
        io.advanced = (io.fault.is_none()).then_some(to);
        self.relisten();
    }

    fn transmit(&mut self, out: &mut Vec<u8>) -> bool {
        let io = self.io.get_mut();
        let Some(range) = io.queue.pop_front() else { return false };
        out.clear();
        out.extend_from_slice(&io.sent[range]);
        true
    }

    fn state(&self) -> Option<State> {
        let mut io = self.io.borrow_mut();
        io.settle(self.timeout);
        if io.fault.is_some() {
            return None;
        }
        io.state
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut io = self.io.borrow_mut();
        io.settle(self.timeout);
        io.deadline
    }

    fn ack_throttle(&self) -> Option<Duration> {
        self.hello.ack_throttle
    }

    fn can_call(&self, call: Call) -> bool {
        let mut io = self.io.borrow_mut();
        io.settle(self.timeout);
        let bit = CALLS.iter().position(|&c| c == call).unwrap_or(0);
        io.fault.is_some() || io.calls & (1 << bit) != 0
    }

    fn fault(&self) -> Option<Fault> {
        self.io.borrow().fault.clone()
    }

    fn serve(&mut self, now: Instant, open: bool) -> bool {
        self.serving = open;
        if open {
            self.call(now, Call::OpenPassive, &[]);
        } else if self.state() == Some(State::Listen) {
            self.call(now, Call::Close, &[]);
        }
        true
    }
}

impl Io {
    /// Reads the answer to a queued reset before a question about the fresh stack.
    fn settle(&mut self, timeout: WallDuration) {
        if self.fault.is_none() && !self.awaited.is_empty() {
            self.exchange(timeout);
        }
    }
}

impl Drop for Exec {
    fn drop(&mut self) {
        self.io.get_mut().stop();
    }
}
