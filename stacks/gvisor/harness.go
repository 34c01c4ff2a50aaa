// gVisor's netstack driven as the stack protocol's stack: the user, the wire, state, time and
// the deadline. main.go's header comment says what each does and why.

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"reflect"
	"sync"

	"gvisor.dev/gvisor/pkg/bufferv2"
	gvrand "gvisor.dev/gvisor/pkg/rand"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

const (
	nicID     = 1
	stackPort = 8080
	peerPort  = 40000
	// mtu of the link: 576, the datagram every IPv4 host must accept (RFC 791), as the smoltcp
	// adapter's; gVisor announces MTU - 40 = 536 (see main.go).
	mtu = 576
	// backlog of the listener: more than the one connection a run has, so that its SYN never
	// meets gVisor's SYN cookies (accept.go:475-480 sends cookies once backlog - 1 handshakes
	// are pending).
	backlog = 8
	// maxFires bounds the timers one advance fires one by one (a timer re-armed for now would
	// fire for ever); beyond it the clock jumps. Far more than any run's timers.
	maxFires = 1 << 16
)

var (
	stackAddr = tcpip.Address("\xc0\x00\x02\x01") // 192.0.2.1
	peerAddr  = tcpip.Address("\xc0\x00\x02\x02") // 192.0.2.2
	tuple     = stack.TransportEndpointID{LocalPort: stackPort, LocalAddress: stackAddr, RemotePort: peerPort, RemoteAddress: peerAddr}
)

// harness is gVisor and its user for one run; reset makes a new one.
type harness struct {
	srv   *server
	clock *vclock
	s     *stack.Stack
	link  *wire

	listener tcpip.Endpoint // the user's listening endpoint
	conn     tcpip.Endpoint // the user's connection (connected or accepted)
	unsent   []byte         // SEND text gVisor has not taken
	closing  bool           // a CLOSE waits behind unsent

	owned []ownedTimer // scratch for deadline

	// The last report's deadline, state and packets sent, until an input: for checkActed.
	told, toldSent uint64
	toldState      int
	toldWhat       string
	toldTimer      *vtimer
	checkDeadlines bool // TCPCHECK_GVISOR_CHECK
}

// ---- the wire ----

// wire is the link: raw IPv4 both ways, no link layer. Inbound packets are injected with
// channel.Endpoint's InjectInbound; outbound ones go straight into the next report.
type wire struct {
	*channel.Endpoint
	mu   sync.Mutex
	srv  *server
	dead bool   // the stack it belongs to is being torn down: its packets are not news
	sent uint64 // packets sent
}

// WritePackets implements stack.LinkEndpoint: every packet gVisor sends, whole, in order.
func (w *wire) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, pkt := range pkts.AsSlice() {
		if !w.dead {
			var p []byte
			for _, s := range pkt.AsSlices() {
				p = append(p, s...)
			}
			w.srv.output(p)
			w.sent++
		}
		n++
	}
	return n, nil
}

// ---- randomness ----

// seeded is a deterministic source for everything gVisor draws at random, from RESET's seed:
// splitmix64 (cheap to seed, unlike math/rand's source), behind a lock, as
// stack.Options.RandSource must be thread-safe (stack.go:229-234).
type seeded struct {
	mu    sync.Mutex
	state uint64
}

func newSeeded(seed uint64, stream uint64) *seeded {
	return &seeded{state: mix(seed ^ mix(stream))}
}

func (s *seeded) Uint64() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state += 0x9e3779b97f4a7c15
	return mix(s.state)
}

func (s *seeded) Int63() int64 { return int64(s.Uint64() >> 1) }

func (s *seeded) Seed(seed int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = uint64(seed)
}

// Read makes it an io.Reader (SecureRNG, gVisor's pkg/rand.Reader).
func (s *seeded) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b [8]byte
	for i := 0; i < len(p); i += 8 {
		s.state += 0x9e3779b97f4a7c15
		binary.LittleEndian.PutUint64(b[:], mix(s.state))
		copy(p[i:], b[:])
	}
	return len(p), nil
}

// mix is splitmix64's step, as in stacks/lwip/harness.c: neighbouring seeds give unrelated
// streams.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// ---- reset ----

// crashed gives up a stack that panicked: its packets are no longer news, and it is not torn
// down (the panic may have left its locks held).
func (h *harness) crashed() {
	if h.link != nil {
		h.link.mu.Lock()
		h.link.dead = true
		h.link.mu.Unlock()
	}
	h.s, h.link, h.listener, h.conn = nil, nil, nil, nil
}

func (h *harness) reset(seed uint64) {
	if h.s != nil {
		h.link.mu.Lock()
		h.link.dead = true
		h.link.mu.Unlock()
		h.s.Close()
		h.s.Wait()
		// Endpoints the user closed are kept in a global set until gVisor finishes with them
		// (tcpip.AddDanglingEndpoint, endpoint.go:1097); the old stack never will.
		for _, e := range tcpip.GetDanglingEndpoints() {
			tcpip.DeleteDanglingEndpoint(e)
		}
	}
	// IPv4 draws its IP ID counters and hash key from gVisor's pkg/rand when the protocol is
	// made (network/ipv4/ipv4.go:1853, network/hash/hash.go:28): seeded like the rest.
	gvrand.Reader = newSeeded(seed, 3)
	h.clock = &vclock{}
	h.link = &wire{Endpoint: channel.New(0, mtu, ""), srv: h.srv}
	h.s = stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
		Clock:              h.clock,
		RandSource:         newSeeded(seed, 1),
		SecureRNG:          newSeeded(seed, 2),
	})
	h.listener, h.conn, h.unsent, h.closing = nil, nil, h.unsent[:0], false
	h.told = noDeadline
	opts := []tcpip.SettableTransportProtocolOption{
		ptr(tcpip.TCPTimeWaitTimeoutOption(timeWait)),
		ptr(tcpip.TCPMaxRetriesOption(maxRetries)),
	}
	for _, o := range opts {
		if err := h.s.SetTransportProtocolOption(tcp.ProtocolNumber, o); err != nil {
			fail("setting %T: %s", o, err)
		}
	}
	if err := h.s.CreateNIC(nicID, h.link); err != nil {
		fail("CreateNIC: %s", err)
	}
	addr := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: stackAddr, PrefixLen: 24}}
	if err := h.s.AddProtocolAddress(nicID, addr, stack.AddressProperties{}); err != nil {
		fail("AddProtocolAddress: %s", err)
	}
	h.s.SetRouteTable([]tcpip.Route{{Destination: addr.AddressWithPrefix.Subnet(), NIC: nicID}})
}

func ptr[T any](v T) *T { return &v }

// ---- quiet ----

// quiesce returns once gVisor has done all the work its inputs gave it. Segments are processed
// on the TCP dispatcher's goroutines; Stack.Pause returns only when every processor has taken
// its pause request with its queue of endpoints empty (transport/tcp/dispatcher.go:290-298,
// 462-471: a processor that finds work re-asserts the request and does the work first), and
// Resume lets them wait for more. With GOMAXPROCS 1 (main.go) the processors run only while
// the harness waits here.
func (h *harness) quiesce() {
	h.s.Pause()
	h.s.Resume()
}

// settle is run after every call, packet and timer: gVisor finishes its work, then the user
// does what a blocking socket user would do next (accept, write what waits), until nothing
// changes.
func (h *harness) settle() {
	h.quiesce()
	for i := 0; i < 8 && h.user(); i++ {
		h.quiesce()
	}
}

// ---- the connection ----

// tupleEndpoint is gVisor's endpoint of the run's 4-tuple, accepted or not, in TIME-WAIT or
// not, while gVisor still has it registered; nil if none.
func (h *harness) tupleEndpoint() tcpip.Endpoint {
	ep := h.s.FindTransportEndpoint(ipv4.ProtocolNumber, tcp.ProtocolNumber, tuple, nicID)
	if ep == nil {
		return nil
	}
	// The demuxer falls back to the listener (bound to the local port only): not the tuple's.
	e, ok := ep.(tcpip.Endpoint)
	if !ok || e == h.listener || epState(e) == tcp.StateListen {
		return nil
	}
	return e
}

func epState(e tcpip.Endpoint) tcp.EndpointState {
	return tcp.EndpointState(e.State())
}

// alive: an endpoint that is (still, or about to be) a TCB.
func alive(e tcpip.Endpoint) bool {
	switch epState(e) {
	case tcp.StateInitial, tcp.StateBound, tcp.StateClose, tcp.StateError:
		return false
	}
	return true
}

// conn is the user's connection while it is a connection; once gVisor has ended it (reset,
// timed out, closed), the user closes the endpoint, as a socket user closes a dead socket.
func (h *harness) connection() tcpip.Endpoint {
	if h.conn != nil && !alive(h.conn) {
		h.conn.Close()
		h.conn = nil
	}
	return h.conn
}

// unaccepted: a passive connection gVisor has and the user has not accepted (SYN-RECEIVED).
func (h *harness) unaccepted() bool {
	return h.connection() == nil && h.listener != nil && h.tupleEndpoint() != nil
}

func opening(e tcpip.Endpoint) bool {
	s := epState(e)
	return s == tcp.StateConnecting || s == tcp.StateSynSent || s == tcp.StateSynRecv
}

// canSend: the states where a SEND is taken, now or once the connection is open.
func canSend(e tcpip.Endpoint) bool {
	s := epState(e)
	return opening(e) || s == tcp.StateEstablished || s == tcp.StateCloseWait
}

// user does what the user does between calls: accepts the connection and closes the
// listener, offers queued text and a CLOSE behind it. Whether it did anything.
func (h *harness) user() bool {
	did := false
	if h.listener != nil && h.connection() == nil {
		if ep, _, err := h.listener.Accept(nil); err == nil {
			h.adopt(ep)
			h.listener.Close()
			h.listener = nil
			did = true
		}
	}
	if len(h.unsent) == 0 && !h.closing {
		return did
	}
	c := h.connection()
	if c == nil {
		if !h.unaccepted() {
			h.unsent, h.closing = h.unsent[:0], false // the user's write failed
		}
		return did
	}
	if opening(c) {
		return did
	}
	if !canSend(c) {
		h.unsent, h.closing = h.unsent[:0], false
		return did
	}
	if len(h.unsent) > 0 {
		n, _ := c.Write(bytes.NewReader(h.unsent), tcpip.WriteOptions{})
		if n > 0 {
			h.unsent = h.unsent[:copy(h.unsent, h.unsent[n:])]
			did = true
		}
	}
	if h.closing && len(h.unsent) == 0 {
		h.closing = false
		c.Shutdown(tcpip.ShutdownWrite)
		did = true
	}
	return did
}

// adopt makes an endpoint the user's connection: TCP_NODELAY.
func (h *harness) adopt(ep tcpip.Endpoint) {
	ep.SocketOptions().SetDelayOption(false)
	h.conn = ep
}

func (h *harness) newEndpoint() tcpip.Endpoint {
	var wq waiter.Queue
	ep, err := h.s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if err != nil {
		fail("NewEndpoint: %s", err)
	}
	ep.SocketOptions().SetDelayOption(false)
	return ep
}

// ---- the user's calls ----

func (h *harness) call(now uint64, call int, text []byte) {
	h.told = noDeadline
	switch call {
	case callOpenPassive, callOpenActive:
		h.open(call == callOpenActive)
	case callSend:
		c := h.connection()
		if c == nil && !h.unaccepted() || c != nil && !canSend(c) {
			break // CLOSED, LISTEN or closing: RFC 9293 3.10.2 refuses a SEND
		}
		h.unsent = append(h.unsent, text...)
	case callReceive:
		h.receive()
	case callClose:
		h.close()
	case callAbort:
		h.abort()
	}
	h.settle()
	h.advance(now) // a timer the call armed for now
}

func (h *harness) open(active bool) {
	if h.listener != nil || h.connection() != nil {
		return // "connection already exists"
	}
	ep := h.newEndpoint()
	if err := ep.Bind(tcpip.FullAddress{Addr: stackAddr, Port: stackPort}); err != nil {
		ep.Close()
		return
	}
	if active {
		switch ep.Connect(tcpip.FullAddress{NIC: nicID, Addr: peerAddr, Port: peerPort}).(type) {
		case nil, *tcpip.ErrConnectStarted:
			h.adopt(ep)
		default:
			ep.Close()
		}
		return
	}
	if err := ep.Listen(backlog); err != nil {
		ep.Close()
		return
	}
	h.listener = ep
}

func (h *harness) receive() {
	c := h.connection()
	if c == nil {
		return
	}
	var b bytes.Buffer
	for {
		r, err := c.Read(&b, tcpip.ReadOptions{})
		if err != nil || r.Count == 0 {
			break
		}
	}
	h.srv.received(b.Bytes())
}

func (h *harness) close() {
	c := h.connection()
	if c == nil {
		if h.listener != nil && !h.unaccepted() {
			h.listener.Close() // LISTEN: delete the TCB
			h.listener = nil
		}
		return
	}
	if s := epState(c); s == tcp.StateSynSent || s == tcp.StateConnecting {
		// RFC 9293 3.10.4: delete the TCB, as close() does.
		h.unsent = h.unsent[:0]
		c.Close()
		h.conn = nil
		return
	}
	if canSend(c) && len(h.unsent) > 0 {
		h.closing = true
		return
	}
	h.unsent = h.unsent[:0]
	c.Shutdown(tcpip.ShutdownWrite)
}

func (h *harness) abort() {
	h.unsent, h.closing = h.unsent[:0], false
	if c := h.connection(); c != nil {
		c.SocketOptions().SetLinger(tcpip.LingerOption{Enabled: true, Timeout: 0})
		c.Close()
		h.conn = nil
	} else if h.listener != nil && !h.unaccepted() {
		h.listener.Close()
		h.listener = nil
	}
}

// ---- packets ----

func (h *harness) packet(now uint64, p []byte) {
	h.told = noDeadline
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: bufferv2.MakeWithData(append([]byte(nil), p...))})
	h.link.InjectInbound(header.IPv4ProtocolNumber, pkt)
	pkt.DecRef()
	h.settle()
	h.advance(now)
}

// ---- time ----

// advance lets time run to `to` (µs): every timer due by then fires at its own time, in order,
// and gVisor and its user settle after each.
func (h *harness) advance(to uint64) {
	toNs := int64(math.MaxInt64)
	if to < math.MaxInt64/1000 {
		toNs = int64(to) * 1000
	}
	told := h.told
	for fired := 0; fired < maxFires; fired++ {
		t := h.clock.popDue(toNs)
		if t == nil {
			break
		}
		if h.checkDeadlines && told != noDeadline && uint64(t.when) > told*1000 {
			h.checkActed(told)
			told = noDeadline
		}
		t.f()
		h.settle()
	}
	if h.checkDeadlines && told != noDeadline && to >= told {
		h.checkActed(told)
	}
	h.clock.set(toNs)
}

// checkActed is TCPCHECK_GVISOR_CHECK's test of the deadline: once time has run past the
// deadline the last report told, gVisor must have acted: sent something, changed the
// connection's state, or re-armed the timer that made the deadline for later (a retransmission
// timer that expires while the peer's window is closed starts zero-window probing and sends
// its first probe at the next expiry, snd.go:430-566). A timer that fired for nothing (the
// deadline's owner was misread) fails the test: exit with status 4.
func (h *harness) checkActed(told uint64) {
	h.told = noDeadline
	if h.link.sent != h.toldSent || h.state(h.tupleEndpoint()) != h.toldState {
		return
	}
	if t := h.toldTimer; t != nil && t.index >= 0 && t.when > int64(told)*1000 {
		return
	}
	fmt.Fprintf(os.Stderr, "tcpcheck-gvisor: the deadline told, %d µs (%s), passed without gVisor acting\n", told, h.toldWhat)
	os.Exit(4)
}

// ---- what the report says ----

// report is the state, the calls the user can make and the deadline, for the report.
func (h *harness) report() (int, int, uint64) {
	if h.s == nil {
		return stateUnknown, allCalls, noDeadline
	}
	tuple := h.tupleEndpoint()
	state := h.state(tuple)
	deadline := h.deadline(tuple)
	h.told, h.toldState, h.toldSent = deadline, state, h.link.sent
	return state, h.calls(tuple, state), deadline
}

// state: the connection's, LISTEN if only the listener exists, CLOSED if nothing does.
func (h *harness) state(tuple tcpip.Endpoint) int {
	if tuple != nil && alive(tuple) {
		return protocolState(epState(tuple))
	}
	if c := h.connection(); c != nil {
		return protocolState(epState(c))
	}
	if h.listener != nil {
		return stateListen
	}
	return stateClosed
}

func protocolState(s tcp.EndpointState) int {
	switch s {
	case tcp.StateListen:
		return stateListen
	case tcp.StateConnecting, tcp.StateSynSent:
		return stateSynSent
	case tcp.StateSynRecv:
		return stateSynReceived
	case tcp.StateEstablished:
		return stateEstablished
	case tcp.StateFinWait1:
		return stateFinWait1
	case tcp.StateFinWait2:
		return stateFinWait2
	case tcp.StateCloseWait:
		return stateCloseWait
	case tcp.StateClosing:
		return stateClosing
	case tcp.StateLastAck:
		return stateLastAck
	case tcp.StateTimeWait:
		return stateTimeWait
	}
	return stateClosed
}

func bit(call int) int { return 1 << call }

// calls: what a socket user cannot do. CLOSE or ABORT a connection not yet accepted (no
// descriptor), OPEN-ACTIVE on a listener (connect on a listening socket fails), ABORT in
// TIME-WAIT (close() with SO_LINGER 0 in TIME-WAIT only marks gVisor's endpoint closed,
// endpoint.go:1049-1063, as Linux's user socket no longer reaches its timewait socket: the
// Linux adapter excludes the same call).
func (h *harness) calls(tuple tcpip.Endpoint, state int) int {
	calls := allCalls
	if h.listener != nil {
		calls &^= bit(callOpenActive)
		if h.connection() == nil && tuple != nil {
			calls &^= bit(callClose) | bit(callAbort) // unaccepted
		}
	}
	if state == stateTimeWait {
		calls &^= bit(callAbort)
	}
	return calls
}

// deadline: see main.go, "Deadline".
func (h *harness) deadline(tuple tcpip.Endpoint) uint64 {
	if h.clock.idle() {
		return noDeadline
	}
	owned := h.ownedTimers(tuple)
	best := int64(math.MaxInt64)
	h.toldWhat, h.toldTimer = "", nil
	h.clock.each(func(t *vtimer) {
		at, what := t.when, "a timer of no known endpoint"
		for _, o := range owned {
			if o.t == t {
				at, what = o.at, o.what
				break
			}
		}
		if at < best {
			best, h.toldWhat, h.toldTimer = at, what, t
		}
	})
	if best == math.MaxInt64 {
		return noDeadline
	}
	return uint64((best + 999) / 1000) // the first µs at or after it
}

// ownedTimer: a pending timer of the clock whose owner says when it will act: at `at` (ns), or
// never (math.MaxInt64).
type ownedTimer struct {
	t    *vtimer
	at   int64
	what string
}

// ownedTimers reads, from gVisor's TCP endpoints (by reflection: the fields are unexported),
// when each of their timers will really act:
//   - transport/tcp/timer.go's timer (the retransmission, RACK reorder, tail-loss probe and
//     keepalive timers, snd.go:107,138,141, endpoint.go:822) keeps its clock timer running when
//     disabled and when moved later (timer.go:40-49): the clock timer then fires for nothing
//     (checkExpiration, timer.go:103-126). It acts at `target` if its state is enabled, else
//     never.
//   - the handshake's SYN / SYN-ACK timer (connect.go:115) acts only while connecting
//     (connect.go:594); TIME-WAIT's (endpoint.go:580) only in TIME-WAIT (connect.go:1447);
//     FIN-WAIT-2's (endpoint.go:576) only in FIN-WAIT-2.
//
// The endpoints read are the user's connection and listener and the endpoint of the run's
// 4-tuple (the one the user closed, if it lingers): every endpoint a run can make. Any other
// pending timer acts at its own time.
func (h *harness) ownedTimers(tuple tcpip.Endpoint) []ownedTimer {
	h.owned = h.owned[:0]
	var seen [3]tcpip.Endpoint
	for i, e := range [3]tcpip.Endpoint{h.conn, h.listener, tuple} {
		if e == nil || e == seen[0] || e == seen[1] {
			continue
		}
		seen[i] = e
		h.owned = appendEndpointTimers(h.owned, e)
	}
	return h.owned
}

// Paths to the fields read, in gVisor's types; found once (fieldPaths).
var paths struct {
	once                                         sync.Once
	snd, keepaliveTimer, handshake, timeWait     []int
	finWait2, resend, reorder, probe, handshakeT []int
	state, target, nanoseconds, timer            []int
	retransmitTimer                              []int
}

func path(t reflect.Type, names ...string) []int {
	var index []int
	for _, name := range names {
		f, ok := t.FieldByName(name)
		if !ok {
			fail("gVisor's %s has no field %s: the harness is written for gVisor 20221219", t, name)
		}
		index = append(index, f.Index...)
		t = f.Type
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	return index
}

func fieldPaths(ep reflect.Type) {
	paths.once.Do(func() {
		p := &paths
		p.snd = path(ep, "snd")
		p.keepaliveTimer = path(ep, "keepalive", "timer")
		p.handshake = path(ep, "h")
		p.timeWait = path(ep, "timeWaitTimer")
		p.finWait2 = path(ep, "finWait2Timer")
		snd := ep.FieldByIndex(p.snd).Type.Elem()
		p.resend = path(snd, "resendTimer")
		p.reorder = path(snd, "reorderTimer")
		p.probe = path(snd, "probeTimer")
		timer := snd.FieldByIndex(p.resend).Type
		p.state = path(timer, "state")
		p.target = path(timer, "target", "nanoseconds")
		p.timer = path(timer, "timer")
		hs := ep.FieldByIndex(p.handshake).Type.Elem()
		p.retransmitTimer = path(hs, "retransmitTimer")
		p.handshakeT = path(hs.FieldByIndex(p.retransmitTimer).Type.Elem(), "t")
	})
}

func appendEndpointTimers(owned []ownedTimer, e tcpip.Endpoint) []ownedTimer {
	v := reflect.ValueOf(e)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct || v.Elem().Type().Name() != "endpoint" {
		return owned
	}
	ep := v.Elem()
	fieldPaths(ep.Type())
	state := epState(e)
	if snd := ep.FieldByIndex(paths.snd); !snd.IsNil() {
		owned = appendTCPTimer(owned, snd.Elem().FieldByIndex(paths.resend), "retransmission")
		owned = appendTCPTimer(owned, snd.Elem().FieldByIndex(paths.reorder), "RACK reorder")
		owned = appendTCPTimer(owned, snd.Elem().FieldByIndex(paths.probe), "tail-loss probe")
	}
	owned = appendTCPTimer(owned, ep.FieldByIndex(paths.keepaliveTimer), "keepalive")
	if hs := ep.FieldByIndex(paths.handshake); !hs.IsNil() {
		if rt := hs.Elem().FieldByIndex(paths.retransmitTimer); !rt.IsNil() {
			connecting := state == tcp.StateSynSent || state == tcp.StateSynRecv || state == tcp.StateConnecting
			owned = appendClockTimer(owned, rt.Elem().FieldByIndex(paths.handshakeT), connecting, "handshake")
		}
	}
	owned = appendClockTimer(owned, ep.FieldByIndex(paths.timeWait), state == tcp.StateTimeWait, "TIME-WAIT")
	return appendClockTimer(owned, ep.FieldByIndex(paths.finWait2), state == tcp.StateFinWait2, "FIN-WAIT-2")
}

// enabled is timerStateEnabled (transport/tcp/timer.go:30).
const enabled = 1

// appendTCPTimer reads one of transport/tcp/timer.go's timers: {state, clock, target,
// clockTarget, timer}.
func appendTCPTimer(owned []ownedTimer, t reflect.Value, what string) []ownedTimer {
	vt := vtimerOf(t.FieldByIndex(paths.timer))
	if vt == nil {
		return owned
	}
	at := int64(math.MaxInt64)
	if t.FieldByIndex(paths.state).Int() == enabled {
		at = t.FieldByIndex(paths.target).Int() - int64(monoBase)
	}
	return append(owned, ownedTimer{vt, at, what})
}

// appendClockTimer reads a tcpip.Timer field that acts at its own time if `acts`, else never.
func appendClockTimer(owned []ownedTimer, f reflect.Value, acts bool, what string) []ownedTimer {
	vt := vtimerOf(f)
	if vt == nil {
		return owned
	}
	at := vt.when
	if !acts {
		at = math.MaxInt64
	}
	return append(owned, ownedTimer{vt, at, what})
}

// vtimerOf is the *vtimer in a tcpip.Timer interface field, or nil.
func vtimerOf(f reflect.Value) *vtimer {
	if f.Kind() != reflect.Interface || f.IsNil() {
		return nil
	}
	p := f.Elem()
	if p.Type() != reflect.TypeOf((*vtimer)(nil)) {
		return nil
	}
	return (*vtimer)(p.UnsafePointer())
}
