//! The child's side of the stack protocol, for any [`Stack`] in Rust: `tcpcheck stack-server`
//! serves the in-process stacks with it (the protocol's conformance test and speed baseline),
//! and a Rust stack in its own crate can serve itself the same way.

use std::io::{Read, Write};
use std::os::fd::AsFd;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::protocol::{call_number, frame, kind, Frames, Hello, Report, Request, Reset, Transport, CALLS};
use super::shm::{Interrupted, Region, Way};
use crate::conform::Stack;
use crate::time::Instant;

/// A way to break the protocol on purpose, to test what a harness does with a child that
/// misbehaves (`tcpcheck stack-server --fail`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sabotage {
    /// Abort (SIGABRT, as a failed C assertion does) instead of answering.
    Abort,
    /// Never answer, never exit.
    Hang,
    /// Answer with bytes that are not a frame.
    Garbage,
    /// Close stdout and wait for stdin to end.
    Close,
}

impl Sabotage {
    pub const NAMES: [&'static str; 4] = ["abort", "hang", "garbage", "close"];

    pub fn parse(name: &str) -> Option<Sabotage> {
        let all = [Sabotage::Abort, Sabotage::Hang, Sabotage::Garbage, Sabotage::Close];
        Sabotage::NAMES.iter().position(|&n| n == name).map(|i| all[i])
    }
}

/// When to sabotage: at the `step`-th request after a reset (1-based), in every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub how: Sabotage,
    pub step: u32,
}

/// How [`serve`] serves, beyond the stack.
#[derive(Default)]
pub struct Serving {
    /// Misbehave on purpose ([`Failure`]).
    pub failure: Option<Failure>,
    /// The shared memory the harness offered ([`super::shm::ENV`]), if it is to be used.
    pub shared: Option<Region>,
    /// What the hello says about resetting: [`Reset::Restart`] has the harness start a new
    /// child for every run (to measure or test that path; the child still serves `RESET`).
    pub reset: Reset,
}

/// The shared memory the harness offers in [`super::shm::ENV`], mapped; `None` (said on
/// stderr if it was offered) means the pipes.
pub fn offered_memory() -> Option<Region> {
    let path = std::env::var_os(super::shm::ENV)?;
    Region::open(path.as_ref()).map_err(|e| eprintln!("stack protocol: using the pipes: {e}")).ok()
}

/// [`serve`] on this process's stdin and stdout, as a child of `tcpcheck --stack exec:...` is
/// run. Each answer goes out in one write: the handle is our own on descriptor 1, not the
/// line-buffered `Stdout`.
pub fn serve_stdio<'s>(make: impl FnMut(u64) -> Box<dyn Stack + 's>, serving: Serving) -> Result<(), String> {
    let output = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .map_err(|e| format!("cannot use stdout: {e}"))?;
    serve(make, std::io::stdin().lock(), output, serving)
}

/// Serves stacks made by `make(seed)` until `input` ends. A new stack is made when a reset
/// brings a seed other than the current stack's; otherwise [`Stack::reset`] is enough.
/// With shared memory, requests and answers go through it after the hello; `input` then only
/// tells when the harness is gone.
/// An error is a malformed request or a broken pipe; it has been answered with an `E` frame
/// where that was still possible.
pub fn serve<'s>(
    make: impl FnMut(u64) -> Box<dyn Stack + 's>,
    mut input: impl Read + AsFd,
    mut output: impl Write,
    serving: Serving,
) -> Result<(), String> {
    let Serving { failure, mut shared, reset } = serving;
    let mut server = Server::new(make);
    let hello = Hello {
        params: server.stack.params().clone(),
        ack_throttle: server.stack.ack_throttle(),
        reset,
        transport: if shared.is_some() { Transport::Shared } else { Transport::Pipes },
    };
    let mut out = Vec::new();
    frame(&mut out, kind::HELLO, |b| b.extend_from_slice(hello.to_text().as_bytes()));
    output.write_all(&out).and_then(|()| output.flush()).map_err(|e| format!("cannot write the hello: {e}"))?;

    let mut frames = Frames::default();
    let mut step = 0u32;
    loop {
        // The next batch of requests: what one read returned, or one shared-memory batch.
        match &mut shared {
            Some(region) => {
                let gone = || if ended(&input) { Err(Interrupted::Stopped) } else { Ok(()) };
                match region.recv(Way::Requests, 10_000, gone) {
                    Ok(batch) => frames.push(batch),
                    Err(Interrupted::Stopped) => return Ok(()),
                }
            }
            None => {
                const CHUNK: usize = 64 * 1024;
                let n = match input.read(frames.space(CHUNK)) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
                    Err(e) => return Err(format!("cannot read stdin: {e}")),
                };
                frames.filled(n);
                if n == 0 {
                    return if frames.pending() == 0 {
                        Ok(())
                    } else {
                        Err(format!("stdin ended in the middle of frame {}", frames.count() + 1))
                    };
                }
            }
        }
        // Every whole request in it, answered in one batch.
        out.clear();
        loop {
            let (kind, body) = match frames.take() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => return Err(refuse(&mut output, shared.as_mut(), error.to_string())),
            };
            let request = match Request::parse(kind, &frames.bytes()[body.clone()]) {
                Ok(request) => request,
                Err((at, message)) => {
                    let error = frames.body_error(&body, at, format!("expected {message}"));
                    return Err(refuse(&mut output, shared.as_mut(), error.to_string()));
                }
            };
            step = if matches!(request, Request::Reset { .. }) { 0 } else { step + 1 };
            if let Some(f) = failure.filter(|f| f.step == step) {
                sabotage(f.how, output, shared, input);
            }
            server.answer(request, &mut out);
        }
        if out.is_empty() {
            continue;
        }
        match &mut shared {
            Some(region) => region.send(Way::Answers, &out)?,
            None => output.write_all(&out).and_then(|()| output.flush()).map_err(|e| format!("cannot answer: {e}"))?,
        }
    }
}

/// Whether the harness has gone: stdin at its end (or broken).
fn ended(input: &impl AsFd) -> bool {
    let mut fds = [PollFd::new(input.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

/// The stack being served and what its answers are built from.
struct Server<'s, F> {
    make: F,
    stack: Box<dyn Stack + 's>,
    seed: u64,
    now: Instant,
    text: Vec<u8>,
    packet: Vec<u8>,
    sent: Vec<u8>,
    packets: Vec<std::ops::Range<usize>>,
}

impl<'s, F: FnMut(u64) -> Box<dyn Stack + 's>> Server<'s, F> {
    fn new(mut make: F) -> Self {
        let stack = make(0);
        Server {
            make,
            stack,
            seed: 0,
            now: Instant::ZERO,
            text: Vec::new(),
            packet: Vec::new(),
            sent: Vec::new(),
            packets: Vec::new(),
        }
    }

    /// Does what `request` asks and appends its report to `out`.
    fn answer(&mut self, request: Request<'_>, out: &mut Vec<u8>) {
        self.text.clear();
        match request {
            Request::Reset { seed } => {
                if seed != self.seed {
                    (self.seed, self.stack) = (seed, (self.make)(seed));
                }
                self.now = Instant::ZERO;
                self.stack.reset();
            }
            Request::Call { now, call, text } => {
                self.catch_up(now);
                self.text = self.stack.call(now, call, text);
            }
            Request::Packet { now, packet } => {
                self.catch_up(now);
                self.stack.inject(now, packet);
            }
            Request::Advance { to } => {
                self.now = self.now.max(to);
                self.stack.advance(to);
            }
        }
        let stack = &mut self.stack;
        let calls = CALLS.iter().filter(|&&c| stack.can_call(c)).fold(0u8, |bits, &c| bits | 1 << call_number(c));
        self.sent.clear();
        self.packets.clear();
        while stack.transmit(&mut self.packet) {
            self.packets.push(self.sent.len()..self.sent.len() + self.packet.len());
            self.sent.extend_from_slice(&self.packet);
        }
        Report {
            state: stack.state(),
            calls,
            deadline: stack.next_deadline(),
            text: &self.text,
            packets: self.packets.iter().map(|r| &self.sent[r.clone()]).collect(),
        }
        .write(out);
    }

    /// Lets time run to `at` before an input that comes later than the last one, as the
    /// protocol asks (the oracle itself always advances first, so for it this does nothing).
    fn catch_up(&mut self, at: Instant) {
        if at > self.now {
            self.stack.advance(at);
            self.now = at;
        }
    }
}

/// Answers a request that cannot be served with an `E` frame; the error to end with.
fn refuse(output: &mut impl Write, shared: Option<&mut Region>, message: String) -> String {
    let mut out = Vec::new();
    frame(&mut out, kind::ERROR, |b| b.extend_from_slice(message.as_bytes()));
    let _ = match shared {
        Some(region) => region.send(Way::Answers, &out).map_err(|_| ()),
        None => output.write_all(&out).and_then(|()| output.flush()).map_err(|_| ()),
    };
    message
}

/// Misbehaves as asked, for good: the harness must cope, and this child never answers again.
fn sabotage(how: Sabotage, mut output: impl Write, shared: Option<Region>, mut input: impl Read) -> ! {
    eprintln!("stack-server: failing on purpose (--fail {})", Sabotage::NAMES[how as usize]);
    match how {
        Sabotage::Abort => std::process::abort(),
        Sabotage::Hang => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        Sabotage::Garbage => {
            let garbage = b"\x05\x00\x00\x00Qgarbage";
            let _ = match shared {
                Some(mut region) => region.send(Way::Answers, garbage).map_err(|_| ()),
                None => output.write_all(garbage).and_then(|()| output.flush()).map_err(|_| ()),
            };
        }
        Sabotage::Close => {
            // Our handle may be a duplicate of descriptor 1: close both.
            drop(output);
            if let Ok(null) = std::fs::File::open("/dev/null") {
                let _ = nix::unistd::dup2_stdout(null);
            }
        }
    }
    let _ = std::io::copy(&mut input, &mut std::io::sink());
    std::process::exit(0)
}
