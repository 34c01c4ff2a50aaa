//! TIME-WAIT measured from the outside, on any stack: how long it lasts, whether a retransmitted
//! FIN restarts it, what a RST does to it.
//!
//! Each measurement is a separate, deterministic replay: bring a fresh stack into TIME-WAIT by an
//! active close, let time pass, then send a *probe* — a retransmission of the peer's FIN. A stack
//! in TIME-WAIT acknowledges it (RFC 9293 3.10.7.4); a closed one answers with a RST (3.10.7.1)
//! or nothing. A probe changes what it measures (it restarts the timer), so every point is
//! measured on its own replay, and the length of TIME-WAIT is found by bisection over the
//! probe's time. Only the stack's packets are read, never its reported state, so the probe
//! means the same on every adapter.
//!
//! On a real-time stack every wait is real, and bisection would take one TIME-WAIT per step (29
//! minutes for Linux's 60 s). There, if the stack reports its state, the length is *observed*
//! instead: one replay watches the reported state until TIME-WAIT ends, polling at the
//! resolution, and a wire probe then checks that the stack indeed no longer acknowledges the FIN
//! (so the reported state is not trusted blindly). Two replays and a few minutes in all.

use std::fmt;

use super::oracle::PEER_ISS;
use super::script::{PEER_MSS, PEER_WINDOW};
use super::{Clock, Params, Stack};
use crate::model::{Call, State};
use crate::time::{Duration, Instant};
use crate::wire::{Control, Segment, SeqNum};

/// What the stack did with a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// It acknowledged the FIN: still in TIME-WAIT.
    Ack,
    /// It answered with a RST: the connection is gone.
    Rst,
    /// It sent nothing.
    Silent,
    /// It sent something else.
    Other,
}

/// Why a measurement could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failed(pub String);

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the probes found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeWait {
    /// How long after the peer's FIN a probe is still acknowledged (to `resolution`).
    pub lasts: Duration,
    /// How long it lasts after a retransmitted FIN sent half-way through: `lasts` again if the
    /// FIN restarts the timer, the remaining half if not.
    pub after_restart: Duration,
    /// What a RST (with the exact sequence number) does: whether a later probe is still ACKed.
    pub survives_rst: bool,
    /// The bisection's resolution (at least a microsecond, the clock's).
    pub resolution: Duration,
    /// How long after the FIN the probe looked. `lasts` equal to it means "at least this long":
    /// the probe never saw TIME-WAIT end.
    pub limit: Duration,
    /// How much a real-time stack's timer may fire late from one replay to the next: zero on a
    /// virtual clock; on a real one, 1/8 of the measured length (Linux's timer wheel rounds a
    /// timeout up to its level's granularity, at most 1/8 of it: 60 s TIME-WAIT fires up to
    /// about 2 s late), so two replays that restart the same timer can differ by that much.
    pub jitter: Duration,
    /// How many replays the measurements took.
    pub replays: u32,
}

impl TimeWait {
    /// Whether TIME-WAIT was still there at the probe's limit: `lasts` is a lower bound, and
    /// whether a FIN restarts the timer cannot be told.
    pub fn outlasts_limit(&self) -> bool {
        self.lasts >= self.limit
    }

    /// Whether the retransmitted FIN restarted the timer (within the resolution and the jitter).
    pub fn restarts(&self) -> bool {
        self.after_restart.as_micros() + 2 * self.resolution.as_micros() + self.jitter.as_micros()
            >= self.lasts.as_micros()
    }
}

/// A tiny scripted peer: it plays one active close of the stack, nothing else.
struct Peer<'s> {
    stack: &'s mut dyn Stack,
    params: Params,
    now: Instant,
    /// The stack's next sequence number, learnt from its SYN.
    stack_nxt: SeqNum,
    /// Our FIN's sequence number.
    fin: SeqNum,
    buf: Vec<u8>,
}

impl Peer<'_> {
    fn send(&mut self, ctl: Control, seq: SeqNum) -> Result<(), Failed> {
        let p = &self.params;
        let seg = Segment {
            src_port: p.hosts.peer().port(),
            dst_port: p.hosts.stack().port(),
            seq,
            ack: (!ctl.contains(Control::RST)).then_some(self.stack_nxt),
            ctl,
            window: PEER_WINDOW,
            mss: ctl.contains(Control::SYN).then_some(PEER_MSS),
            options: Vec::new(),
            payload: Vec::new(),
        };
        self.buf.clear();
        seg.write_ip(p.hosts.inbound(), &mut self.buf).map_err(|e| Failed(e.to_string()))?;
        self.stack.inject(self.now, &self.buf);
        Ok(())
    }

    /// Everything the stack sends now.
    fn take(&mut self) -> Vec<Segment> {
        let mut out = Vec::new();
        while out.len() < 64 && self.stack.transmit(&mut self.buf) {
            if let Ok(packet) = Segment::from_ip(&self.buf) {
                out.push(packet.segment);
            }
        }
        out
    }

    fn wait(&mut self, d: Duration) {
        self.now = self.now.after(d);
        self.stack.advance(self.now);
    }

    /// A stack that broke down (a child process that crashed or hung) measures nothing.
    fn healthy(&self) -> Result<(), Failed> {
        match self.stack.fault() {
            Some(fault) => Err(Failed(format!("{} at {}: {}", fault.check, self.now, fault.detail))),
            None => Ok(()),
        }
    }

    /// TIME-WAIT's length and its length after a FIN half-way, by bisection over replays, each
    /// probed once.
    fn bisected(
        &mut self,
        resolution: Duration,
        limit: Duration,
        spacing: Duration,
        replays: &mut u32,
    ) -> Result<(Duration, Duration), Failed> {
        // Whether a probe `d` after `lead` (a FIN retransmitted `lead` after the first, if any)
        // is still acknowledged.
        let mut acked = |lead: Option<Duration>, d: Duration| -> Result<bool, Failed> {
            *replays += 1;
            self.enter_time_wait()?;
            if let Some(lead) = lead {
                self.wait(lead);
                if self.probe()? != Answer::Ack {
                    return Ok(false);
                }
                self.wait(d.max(spacing));
                return Ok(self.probe()? == Answer::Ack);
            }
            self.wait(d);
            Ok(self.probe()? == Answer::Ack)
        };
        let bisect = |acked: &mut dyn FnMut(Duration) -> Result<bool, Failed>| -> Result<Duration, Failed> {
            if !acked(Duration::default())? {
                return Ok(Duration::default());
            }
            if acked(limit)? {
                return Ok(limit);
            }
            let (mut lo, mut hi) = (0u64, limit.as_micros());
            while hi - lo > resolution.as_micros().max(1) {
                let mid = lo + (hi - lo) / 2;
                if acked(Duration::from_micros(mid))? {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            Ok(Duration::from_micros(lo))
        };
        let lasts = bisect(&mut |d| acked(None, d))?;
        let half = Duration::from_micros(lasts.as_micros() / 2);
        let after_restart = if lasts.as_micros() > 0 { bisect(&mut |d| acked(Some(half), d))? } else { lasts };
        Ok((lasts, after_restart))
    }

    /// The same two lengths watched on the reported state, in two replays (see the module doc).
    fn observed(&mut self, resolution: Duration, limit: Duration) -> Result<(Duration, Duration), Failed> {
        self.enter_time_wait()?;
        let lasts = self.watch(resolution, limit);
        if lasts < limit && self.probe()? == Answer::Ack {
            return Err(Failed(format!(
                "the stack reported TIME-WAIT over after {lasts} but still acknowledged the FIN"
            )));
        }
        self.enter_time_wait()?;
        self.wait(Duration::from_micros(lasts.as_micros() / 2));
        let after_restart =
            if self.probe()? == Answer::Ack { self.watch(resolution, limit) } else { Duration::default() };
        Ok((lasts, after_restart))
    }

    /// Watches the reported state, every `step`, until it leaves TIME-WAIT or `limit` has
    /// passed; how long that took. Sends nothing: a probe would restart the timer.
    fn watch(&mut self, step: Duration, limit: Duration) -> Duration {
        let start = self.now;
        while self.stack.state() == Some(State::TimeWait) && self.now.since(start) < limit {
            self.wait(step);
        }
        self.now.since(start)
    }

    /// Waits up to a second (in steps of 10 ms) for a segment with `ctl` from the stack.
    fn expect(&mut self, ctl: Control, what: &str) -> Result<Segment, Failed> {
        for _ in 0..100 {
            if let Some(seg) = self.take().into_iter().find(|s| s.ctl.contains(ctl)) {
                return Ok(seg);
            }
            self.healthy()?;
            self.wait(Duration::from_micros(10_000));
        }
        Err(Failed(format!("the stack never sent {what} (at {})", self.now)))
    }

    /// Open actively, close, and have the peer ACK the stack's FIN and send its own: TIME-WAIT.
    fn enter_time_wait(&mut self) -> Result<(), Failed> {
        self.stack.reset();
        self.now = Instant::ZERO;
        self.stack.call(self.now, Call::OpenActive, &[]);
        let syn = self.expect(Control::SYN, "a SYN after connect")?;
        self.stack_nxt = syn.seq.add(1);
        self.send(Control::SYN, PEER_ISS)?;
        self.take();
        self.stack.call(self.now, Call::Close, &[]);
        let fin = self.expect(Control::FIN, "a FIN after close")?;
        self.stack_nxt = fin.seq.add(1);
        self.fin = PEER_ISS.add(1);
        self.send(Control::NONE, self.fin)?;
        self.send(Control::FIN, self.fin)?;
        self.take();
        Ok(())
    }

    /// Sends the peer's FIN again and reads the answer.
    fn probe(&mut self) -> Result<Answer, Failed> {
        self.take();
        self.send(Control::FIN, self.fin)?;
        // Delayed ACKs: give the stack its declared bound to answer.
        let mut answer = self.take();
        if answer.is_empty() && self.params.ack_delay > Duration::default() {
            self.wait(self.params.ack_delay);
            answer = self.take();
        }
        self.healthy()?;
        Ok(match answer.first() {
            None => Answer::Silent,
            Some(s) if s.ctl.contains(Control::RST) => Answer::Rst,
            Some(s) if s.ack == Some(self.fin.add(1)) && !s.ctl.contains(Control::SYN) => Answer::Ack,
            Some(_) => Answer::Other,
        })
    }
}

/// Measures TIME-WAIT on `stack`, bisecting to `resolution` up to `limit` after the FIN.
pub fn time_wait(stack: &mut dyn Stack, resolution: Duration, limit: Duration) -> Result<TimeWait, Failed> {
    let params = stack.params().clone();
    // A resolution of zero would compare the last acknowledged probe, a microsecond before the
    // end, with the end itself; and watch a real-time stack's state without pause.
    let resolution = resolution.max(Duration::from_micros(1));
    // A stack that rate-limits its ACKs (RFC 5961 7) cannot answer a second FIN sooner than
    // this after the first: a probe that follows a restarting FIN waits at least that long.
    let spacing = stack.ack_throttle().map_or(Duration::default(), |t| Duration::from_micros(t.as_micros() + 1000));
    let mut peer = Peer { stack, params, now: Instant::ZERO, stack_nxt: SeqNum(0), fin: SeqNum(0), buf: Vec::new() };
    let mut replays = 0;
    let observe = peer.params.clock == Clock::Real && peer.stack.state().is_some();
    let (lasts, after_restart) = if observe {
        replays += 2;
        peer.observed(resolution, limit)?
    } else {
        peer.bisected(resolution, limit, spacing, &mut replays)?
    };
    let half = Duration::from_micros(lasts.as_micros() / 2);
    // A RST with the exact sequence number a second in, then a probe a second later.
    replays += 1;
    peer.enter_time_wait()?;
    peer.wait(Duration::from_secs(1).min(half));
    let rst_seq = peer.fin.add(1);
    peer.send(Control::RST, rst_seq)?;
    peer.take();
    peer.wait(Duration::from_secs(1).min(half));
    let survives_rst = lasts.as_micros() > 0 && peer.probe()? == Answer::Ack;
    // A tick-driven stack ends TIME-WAIT at the first tick after 2*MSL: up to a tick late.
    let jitter = match peer.params.clock {
        Clock::Virtual => peer.params.granularity,
        Clock::Real => Duration::from_micros(lasts.as_micros() / 8).max(peer.params.granularity),
    };
    Ok(TimeWait { lasts, after_restart, survives_rst, resolution, limit, jitter, replays })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::Reference;
    use crate::model::shipped::Shipped;

    fn measure(model: &str) -> TimeWait {
        let model = Shipped::find(model).unwrap().load().unwrap();
        let mut stack = Reference::new(&model, 5);
        time_wait(&mut stack, Duration::from_micros(1000), Duration::from_secs(1200)).unwrap()
    }

    #[test]
    fn rfc9293_lingers_2msl_restarts_and_ignores_rst() {
        let tw = measure("rfc9293");
        // 2*MSL = 240 s; the last acknowledged probe is within the resolution of it.
        assert!(tw.lasts.as_micros().abs_diff(240_000_000) <= 1000, "{tw:?}");
        assert!(tw.restarts() && tw.survives_rst, "{tw:?}");
    }

    #[test]
    fn a_time_wait_longer_than_the_limit_is_a_lower_bound() {
        let model = Shipped::find("rfc9293").unwrap().load().unwrap();
        let mut stack = Reference::new(&model, 5);
        let tw = time_wait(&mut stack, Duration::from_micros(1000), Duration::from_secs(100)).unwrap();
        assert!(tw.outlasts_limit() && tw.lasts == Duration::from_secs(100), "{tw:?}");
        assert!(!measure("rfc9293").outlasts_limit());
    }

    #[test]
    fn a_resolution_of_zero_is_the_clock_s() {
        let model = Shipped::find("rfc9293").unwrap().load().unwrap();
        let mut stack = Reference::new(&model, 5);
        let tw = time_wait(&mut stack, Duration::default(), Duration::from_secs(1200)).unwrap();
        assert_eq!(tw.resolution, Duration::from_micros(1));
        assert!(tw.lasts.as_micros() + tw.resolution.as_micros() >= 240_000_000, "{tw:?}");
    }

    #[test]
    fn no_time_wait_lasts_nothing() {
        assert_eq!(measure("no-time-wait").lasts, Duration::default());
    }

    #[test]
    fn no_2msl_restart_is_seen_not_to_restart() {
        let tw = measure("no-2msl-restart");
        assert!(!tw.restarts(), "{tw:?}");
        assert!(tw.after_restart.as_micros().abs_diff(120_000_000) <= 2000, "{tw:?}");
    }

    #[test]
    fn rst_closes_time_wait_is_seen_closing() {
        let tw = measure("rst-closes-time-wait");
        assert!(!tw.survives_rst && tw.restarts(), "{tw:?}");
    }
}
