//! The child's side of the stack protocol, for any [`Stack`] in Rust: `tcpcheck stack-server`
//! serves the in-process stacks with it (the protocol's conformance test and speed baseline),
//! and a Rust stack in its own crate can serve itself the same way.

use std::io::{Read, Write};

use super::protocol::{call_number, frame, kind, Frames, Hello, Report, Request, Reset, CALLS};
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

/// Serves stacks made by `make(seed)` until `input` ends. A new stack is made when a reset
/// brings a seed other than the current stack's; otherwise [`Stack::reset`] is enough.
/// An error is a malformed request or a broken pipe; it has been answered with an `E` frame
/// where that was still possible.
pub fn serve<'s>(
    mut make: impl FnMut(u64) -> Box<dyn Stack + 's>,
    mut input: impl Read,
    mut output: impl Write,
    failure: Option<Failure>,
) -> Result<(), String> {
    let mut seeded = 0;
    let mut stack = make(seeded);
    let hello = Hello { params: stack.params().clone(), ack_throttle: stack.ack_throttle(), reset: Reset::InPlace };
    let mut out = Vec::new();
    frame(&mut out, kind::HELLO, |b| b.extend_from_slice(hello.to_text().as_bytes()));
    output.write_all(&out).and_then(|()| output.flush()).map_err(|e| format!("cannot write the hello: {e}"))?;

    let mut frames = Frames::default();
    let (mut packets, mut sent, mut packet, mut text) = (Vec::new(), Vec::<u8>::new(), Vec::new(), Vec::new());
    let mut now = Instant::ZERO;
    let mut step = 0u32;
    loop {
        let (kind, body) = loop {
            match frames.take() {
                Ok(Some(frame)) => break frame,
                Ok(None) => {}
                Err(error) => return Err(refuse(&mut output, error.to_string())),
            }
            const CHUNK: usize = 64 * 1024;
            let n = match input.read(frames.space(CHUNK)) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
                Err(e) => return Err(format!("cannot read stdin: {e}")),
            };
            frames.filled(CHUNK, n);
            if n == 0 {
                return if frames.pending() == 0 {
                    Ok(())
                } else {
                    Err(format!("stdin ended in the middle of frame {}", frames.count() + 1))
                };
            }
        };
        let body_bytes = &frames.bytes()[body.clone()];
        let request = match Request::parse(kind, body_bytes) {
            Ok(request) => request,
            Err((at, message)) => {
                return Err(refuse(
                    &mut output,
                    frames.body_error(&body, at, format!("expected {message}")).to_string(),
                ))
            }
        };
        step = if matches!(request, Request::Reset { .. }) { 0 } else { step + 1 };
        if let Some(f) = failure.filter(|f| f.step == step) {
            sabotage(f.how, output, input);
        }
        match request {
            Request::Reset { seed } => {
                if seed != seeded {
                    (seeded, stack) = (seed, make(seed));
                }
                now = Instant::ZERO;
                stack.reset();
            }
            Request::Call { now: at, call, text: data } => {
                catch_up(stack.as_mut(), &mut now, at);
                text = stack.call(at, call, data);
            }
            Request::Packet { now: at, packet } => {
                catch_up(stack.as_mut(), &mut now, at);
                stack.inject(at, packet);
            }
            Request::Advance { to } => {
                now = now.max(to);
                stack.advance(to);
            }
        }
        let calls = CALLS.iter().filter(|&&c| stack.can_call(c)).fold(0u8, |bits, &c| bits | 1 << call_number(c));
        sent.clear();
        packets.clear();
        while stack.transmit(&mut packet) {
            packets.push(sent.len()..sent.len() + packet.len());
            sent.extend_from_slice(&packet);
        }
        let report = Report {
            state: stack.state(),
            calls,
            deadline: stack.next_deadline(),
            text: if matches!(request, Request::Call { .. }) { &text } else { &[] },
            packets: packets.iter().map(|r| &sent[r.clone()]).collect(),
        };
        out.clear();
        report.write(&mut out);
        output.write_all(&out).and_then(|()| output.flush()).map_err(|e| format!("cannot write an answer: {e}"))?;
    }
}

/// Lets time run to `at` before an input that comes later than the last one, as the protocol
/// asks (the oracle itself always advances first, so for it this does nothing).
fn catch_up(stack: &mut dyn Stack, now: &mut Instant, at: Instant) {
    if at > *now {
        stack.advance(at);
        *now = at;
    }
}

/// Answers a request that cannot be served with an `E` frame; the error to end with.
fn refuse(output: &mut impl Write, message: String) -> String {
    let mut out = Vec::new();
    frame(&mut out, kind::ERROR, |b| b.extend_from_slice(message.as_bytes()));
    let _ = output.write_all(&out).and_then(|()| output.flush());
    message
}

/// Misbehaves as asked, for good: the harness must cope, and this child never answers again.
fn sabotage(how: Sabotage, mut output: impl Write, mut input: impl Read) -> ! {
    eprintln!("stack-server: failing on purpose (--fail {})", Sabotage::NAMES[how as usize]);
    match how {
        Sabotage::Abort => std::process::abort(),
        Sabotage::Hang => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        Sabotage::Garbage => {
            let _ = output.write_all(b"\x05\x00\x00\x00Qgarbage").and_then(|()| output.flush());
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
