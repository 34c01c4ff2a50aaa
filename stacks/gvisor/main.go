// gVisor's netstack under tcpcheck: gVisor's TCP (pkg/tcpip, Debian's golang-gvisor-gvisor-dev,
// gVisor's snapshot of 2022-12-19; file:line citations below are that snapshot's, under
// pkg/tcpip/) on one IPv4 network interface, driven over the stack protocol
// (docs/stack-protocol.md) by protocol.go, which mirrors stacks/c/tcpcheck_stack.c, shared
// memory included. Built by build.sh.
//
// The wire. gVisor is 192.0.2.1 on a /24 with tcpcheck's peer 192.0.2.2 on it, on a link of
// MTU 576 with no link layer: the peer's packets are injected as IPv4 packets
// (link/channel's InjectInbound), and every packet gVisor writes to the link goes, whole, into
// the next report (harness.go's wire).
//
// The user. The harness plays gVisor's application as a blocking socket user would, as the
// smoltcp, Linux and lwIP harnesses do, through gVisor's endpoint API (tcpip.Endpoint, which
// gVisor's own socket layer calls):
//   - OPEN-PASSIVE binds 192.0.2.1:8080 and listens (backlog 8: more than the run's one
//     connection, so its SYN never meets SYN cookies, transport/tcp/accept.go:475-480). The
//     connection is the endpoint Accept returns once the handshake completes; the listener is
//     then closed, so that there is one connection, as the table has one TCB. OPEN-ACTIVE binds
//     8080 and connects to 192.0.2.2:40000. Either is refused (changes nothing) while a
//     listener or a connection exists.
//   - SEND queues the text in the harness and offers it to gVisor (Write) at once and again
//     after every input and timer, as a blocking write completes later: in ESTABLISHED and
//     CLOSE-WAIT, as far as gVisor's send buffer takes it. While the connection is still
//     opening (SYN-SENT, SYN-RECEIVED, or not yet accepted) the text waits, as a socket's write
//     waits for the connection. Text left when the connection can no longer send is dropped:
//     the user's write failed.
//   - RECEIVE reads (Read) everything gVisor has delivered and the user has not read.
//   - CLOSE is Shutdown(ShutdownWrite), shutdown(SHUT_WR), behind queued text as after a
//     blocking write; on a listener, or a connection still in SYN-SENT, it is Close, which
//     deletes it (RFC 9293 3.10.4), as the Linux adapter's close() does.
//   - ABORT is SO_LINGER {on, 0} and Close (transport/tcp/endpoint.go:1047-1063: a RST in
//     ESTABLISHED, CLOSE-WAIT, FIN-WAIT-1, FIN-WAIT-2 and SYN-RECEIVED); Close of a lone
//     listener.
//   - What a socket user cannot do (the report's calls): CLOSE or ABORT a connection not yet
//     accepted (it has no descriptor for it), OPEN-ACTIVE on a listener, ABORT in TIME-WAIT
//     (as the Linux adapter: a socket's close() in TIME-WAIT leaves the TIME-WAIT to the
//     stack).
//   - A connection gVisor has ended (reset, timed out, closed) is closed by the user when next
//     looked at, as a socket user closes a dead socket.
//   - Nagle is off (TCP_NODELAY, SetDelayOption(false)), as in the other harnesses: holding
//     back a small segment is a sender's choice the table does not model. Everything else is
//     gVisor's default but for the two options the hello declares (TIME-WAIT and R2, below).
//
// State. Read from gVisor's endpoint of the run's 4-tuple (Stack.FindTransportEndpoint), which
// exists from the SYN on, before Accept (SYN-RECEIVED), and lingers in TIME-WAIT or LAST-ACK
// after the user let it go; the user's own endpoint if none; LISTEN if only the listener
// exists; CLOSED if nothing does. gVisor's states map one to one (transport/tcp/endpoint.go:
// 46-67); Connecting (Connect called, no SYN sent yet) is SYN-SENT, Initial, Bound, Close
// and Error are CLOSED.
//
// Quiet. gVisor processes segments on its TCP dispatcher's goroutines. After every call, packet
// and timer the harness waits until gVisor is quiet: Stack.Pause returns only once every
// processor has taken its pause request with its queue of endpoints empty (a processor that
// finds work queued re-asserts the request and does the work first,
// transport/tcp/dispatcher.go:290-298, 462-471), and Resume lets them wait for more (harness.go,
// quiesce). The process runs with GOMAXPROCS 1, so gVisor's goroutines run only while the
// harness waits for them, one at a time: each input is processed to the end before anything
// else happens, in one order.
//
// Time. gVisor's clock (tcpip.Clock) is the harness's virtual clock (clock.go): Now and
// NowMonotonic read tcpcheck's time (from a fixed origin; the monotonic clock starts at 1 h,
// not 0, which gVisor reads as "never"), and AfterFunc's timers sit in a heap and fire only
// when tcpcheck lets time run: advance pops each timer due by the target, sets the clock to its
// time and runs its callback there, on the harness's goroutine, then waits for quiet, so a
// retransmission due at 1 s and another at 3 s are two events, at 1 s and at 3 s. A 60 s
// TIME-WAIT costs one timer.
//
// Deadline. When gVisor will next act on its own: the earliest pending timer that will do
// something when it fires. Not simply the earliest pending timer: gVisor's TCP timers
// (transport/tcp/timer.go: retransmission, RACK reorder, tail-loss probe, keepalive) leave their
// clock timer running when they are disabled or moved later, and it then fires for nothing
// (timer.go:40-49, 103-126); the handshake's, TIME-WAIT's and FIN-WAIT-2's timers find nothing
// to do once their state is over. So each pending timer's owner is looked up, by reflection on
// gVisor's unexported endpoint fields (harness.go, ownedTimers; the field paths are found once
// and a missing field stops the process with a message): a TCP timer acts at its target if it
// is enabled, never otherwise; the others act at their own time while their state lasts. A
// timer owned by nothing the harness knows counts at its own time. The report's deadline is
// the first microsecond at or after that instant (gVisor's timers are in nanoseconds). One
// known case acts without showing it: a retransmission timer that expires while the peer's
// window is closed starts zero-window probing and only re-arms itself (the first probe goes at
// the next expiry, transport/tcp/snd.go:430-566); the deadline is still that expiry, as gVisor
// does act then. TCPCHECK_GVISOR_CHECK=1 (below) also checks every deadline told: once time
// passes it, gVisor must have sent, changed the connection's state or re-armed that timer.
//
// Resetting. A fresh stack per RESET: the old one is closed (Stack.Close, Wait) and a new one
// built, with a fresh clock at 0 and a fresh link. Everything gVisor draws at random is seeded
// from RESET's seed (harness.go, seeded: splitmix64 streams): Stack.Options.RandSource (the
// TCP secrets behind ISNs, ephemeral ports and timestamps, protocol.go:532-536, the
// dispatcher's hash key), Options.SecureRNG (SYN cookies' keys), and gVisor's pkg/rand.Reader,
// from which the IPv4 protocol draws its IP ID counters when it is made (network/ipv4/
// ipv4.go:1853): the IP IDs are gVisor's own and the same in every replay. The global set of
// dangling endpoints (tcpip.AddDanglingEndpoint) is emptied, as the old stack will not. Same
// seed, same requests: same answers, byte for byte. TCPCHECK_GVISOR_CHECK=1 serves every run
// twice, the second time on a fresh stack, and exits with status 3 (saying where, on stderr)
// if the answers differ (twice as slow: for testing the harness).
//
// Crashes. A panic on the harness's goroutine (a user call, an injected packet, a timer's
// callback) is reported as a fork server reports its copy's death: an `x` frame naming the
// panic and gVisor's function and line, the full panic on stderr; the stack is given up (not
// torn down: the panic may have left its locks held) and the run's remaining requests are
// skipped until the next RESET (protocol.go, crash). After 256 such stacks, or on one of
// gVisor's own goroutines, a panic ends the process: tcpcheck's crash verdict as well.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// What gVisor is, from its source (paths under pkg/tcpip/ of gVisor's snapshot 2022-12-19):
//   - msl: gVisor has no MSL, as Linux has none; declared 120 s (RFC 9293's) as the Linux
//     adapter does, so that TIME-WAIT's fixed length is judged, not excused.
//   - time-wait: DefaultTCPTimeWaitTimeout 60 s (transport/tcp/protocol.go:61-63, started at
//     transport/tcp/dispatcher.go:218-219); set explicitly (TCPTimeWaitTimeoutOption) to what
//     is declared.
//   - rto: InitialRTO 1 s for SYN and SYN-ACK (transport/tcp/connect.go:33-35, 187) and for
//     text (transport/tcp/snd.go:186) until an RTT sample: RFC 6298's, with MinRTO 200 ms and
//     MaxRTO 120 s (snd.go:32-35, 387-393), doubled on each timeout (snd.go:489-493). In
//     virtual time the peer answers at once, so a connection's first RTT sample makes it 200 ms
//     (the report's deadline tells tcpcheck so).
//   - max-retries: a SYN or SYN-ACK is resent with the timeout doubling from 1 s until it
//     would exceed MaxRTO (connect.go:588-600, 682-698): 6 retransmissions (at 1, 3, 7, 15, 31
//     and 63 s; DefaultSynRetries 6, protocol.go:65-67, says the same), then the connection is
//     given up at 127 s without a RST. Text is given up after MaxRetries 15 (snd.go:44-47,
//     561-563) by default; TCPMaxRetriesOption sets it to 6 here (as Linux's tcp_retries2
//     sysctl would), so that one R2 holds for both, as the table has one.
//   - window: a fresh connection's SYN or SYN-ACK offers min(receive buffer / 2, 10 · MSS · 2)
//     = 10720 (transport/tcp/endpoint.go:1214-1244; buffer 1 MiB, protocol.go:48, InitialCwnd
//     10, snd.go:38); once established it offers the buffer's space, 65535 without window
//     scaling (tcpcheck's peer offers none).
//   - mss: the route's MTU less the TCP header (endpoint.go:596-606): 576 - 20 - 20 = 536.
//   - ack-delay: none; gVisor acknowledges at once (quick ACK on, endpoint.go:855, and no
//     delayed-ACK timer in this snapshot).
//   - ack-throttle: an ACK for an unacceptable segment without text is sent at most once per
//     TCPInvalidRateLimitOption, 500 ms by default (stack/stack_options.go:35-37,
//     transport/tcp/endpoint.go:3206-3221, snd.go:1701-1707, connect.go:408).
//   - isn: RFC 6528's: a Jenkins hash of the 4-tuple keyed with a secret drawn from the seeded
//     RandSource, plus the monotonic clock in 64 ns ticks (connect.go:232-256,
//     protocol.go:532).
//   - timer-granularity: none; every timer fires at its own time.
//   - Not declared, as the table has no such timers: FIN-WAIT-2 times out after 60 s
//     (DefaultTCPLingerTimeout, protocol.go:53-55) only once the application closed the socket
//     (endpoint.go:1115-1119, rcv.go:306-309); the harness's CLOSE is a half close.
const (
	timeWait   = 60 * time.Second
	maxRetries = 6
)

const hello = "name gvisor 20221219\n" +
	"clock virtual\n" +
	"msl 120s\n" +
	"time-wait 60s\n" +
	"rto 1s\n" +
	"max-retries 6\n" +
	"window 10720\n" +
	"mss 536\n" +
	"ack-throttle 500ms\n" +
	"isn seeded by RESET (RFC 6528: a keyed hash of the 4-tuple, the key from the seed, plus the virtual clock in 64 ns ticks)\n" +
	"stack 192.0.2.1:8080\n" +
	"peer 192.0.2.2:40000\n"

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tcpcheck-gvisor: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	// One goroutine at a time ("Quiet" above).
	runtime.GOMAXPROCS(1)
	// A run allocates a stack's worth of small objects and drops them at the next RESET; what
	// stays live is one stack. Collect only when the heap reaches 64 MiB: rarely, and cheaply.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(64 << 20)
	srv := &server{}
	h := &harness{srv: srv}
	if c := os.Getenv("TCPCHECK_GVISOR_CHECK"); c != "" && c != "0" {
		h.checkDeadlines = true
	}
	h.reset(0) // requests before the first RESET are a run with seed 0
	os.Exit(serveProtocol(h, srv, hello))
}
