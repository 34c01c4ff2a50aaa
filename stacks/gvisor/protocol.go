// The child's side of the tcpcheck stack protocol (docs/stack-protocol.md), in Go: framing, the
// hello, the request loop, the report, and the shared-memory transport. It mirrors
// stacks/c/tcpcheck_stack.c (without the fork server, which Go cannot be: the stack resets in
// place). Requests are read in big chunks and cut into frames in one buffer; answers are
// composed whole and written once every request that has arrived is answered, each frame inside
// one write (or one shared-memory batch).

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// maxFrame is the largest frame either side may send (type and body): "Frames".
const maxFrame = 1 << 20

// chunk is the bytes asked of each read of stdin.
const chunk = 64 << 10

// noDeadline is u64::MAX: "none".
const noDeadline = ^uint64(0)

// The calls, numbered as in "Requests".
const (
	callOpenPassive = iota
	callOpenActive
	callSend
	callReceive
	callClose
	callAbort
)

// allCalls: every call can be made.
const allCalls = 63

// The states, numbered as in "Answers".
const (
	stateClosed = iota
	stateListen
	stateSynSent
	stateSynReceived
	stateEstablished
	stateFinWait1
	stateFinWait2
	stateCloseWait
	stateClosing
	stateLastAck
	stateTimeWait
	stateUnknown = 255
)

// driven is what the protocol drives: the harness around gVisor (harness.go).
type driven interface {
	reset(seed uint64)
	call(now uint64, call int, text []byte)
	packet(now uint64, p []byte)
	advance(to uint64)
	report() (state, calls int, deadline uint64)
	// crashed: the stack panicked on the server's goroutine; it is given up.
	crashed()
}

// server is the child's side of one process's conversation with tcpcheck.
type server struct {
	stk     driven
	shm     *shm // nil: the pipes
	in      []byte
	start   int    // unread input is in[start:end]
	end     int    // see start
	frames  uint64 // request frames taken so far
	out     []byte // answers composed and not yet written
	packets []byte // packets sent since the last answer, each as u16 length + bytes
	npacket int
	text    []byte // what RECEIVE read
	now     uint64 // time of the last request, µs since RESET

	skipping bool // the stack panicked: requests are skipped until the next RESET
	crashes  int  // stacks given up after a panic

	check *determinism // TCPCHECK_GVISOR_CHECK: every run is served twice and compared
}

// determinism is the self-check TCPCHECK_GVISOR_CHECK=1 turns on: each run's requests and
// answers are recorded, and when the next RESET comes the run is served again, from its own
// RESET, on a fresh stack; the answers must be the same, byte for byte, or the process exits
// with status 3 saying where they differ. (Twice as slow: for testing the harness.)
type determinism struct {
	frames [][]byte // the run's requests, each its type then its body
	first  []byte   // the answers they got
	runs   int
}

// serve serves a request, recording it and its answer; a RESET first replays the run before.
func (d *determinism) serve(s *server, typ byte, body []byte) {
	if typ == 'R' {
		if len(d.frames) > 0 {
			d.replay(s)
		}
		d.frames, d.first = d.frames[:0], d.first[:0]
	}
	start := len(s.out)
	s.handle(typ, body)
	if len(d.frames) > 0 || typ == 'R' {
		d.frames = append(d.frames, append([]byte{typ}, body...))
		d.first = append(d.first, s.out[start:]...)
	}
}

func (d *determinism) replay(s *server) {
	out, skipping, now := s.out, s.skipping, s.now
	s.out, s.skipping = nil, false
	for _, f := range d.frames {
		if !s.skipping {
			s.handle(f[0], f[1:])
		}
	}
	second := s.out
	s.out, s.skipping, s.now = out, skipping, now
	d.runs++
	if !bytes.Equal(d.first, second) {
		at := 0
		for at < len(d.first) && at < len(second) && d.first[at] == second[at] {
			at++
		}
		fmt.Fprintf(os.Stderr, "tcpcheck-gvisor: run %d (%d requests) was answered differently when served again, from byte %d of its answers (%d and %d bytes)\n",
			d.runs, len(d.frames), at, len(d.first), len(second))
		os.Exit(3)
	}
}

// maxCrashes: how many panicked stacks the process gives up (and keeps) before it lets a
// panic end it.
const maxCrashes = 256

// output records a packet the stack sent, for the next report. A report holds at most 65535
// packets of at most 65535 bytes (u16 fields); beyond that the packet is dropped, as a full NIC
// queue drops.
func (s *server) output(p []byte) {
	if len(p) > 0xffff || s.npacket == 0xffff {
		fmt.Fprintf(os.Stderr, "tcpcheck-gvisor: dropped a sent packet of %d bytes (report full)\n", len(p))
		return
	}
	s.packets = binary.LittleEndian.AppendUint16(s.packets, uint16(len(p)))
	s.packets = append(s.packets, p...)
	s.npacket++
}

// received records text a RECEIVE returned.
func (s *server) received(text []byte) {
	s.text = append(s.text, text...)
}

func (s *server) frame(typ byte, body []byte) {
	s.out = binary.LittleEndian.AppendUint32(s.out, uint32(len(body)+1))
	s.out = append(s.out, typ)
	s.out = append(s.out, body...)
}

// flush writes the composed answers: one batch through shared memory, or stdout.
func (s *server) flush() error {
	if len(s.out) == 0 {
		return nil
	}
	var err error
	if s.shm != nil {
		s.shm.send(s.out)
	} else {
		_, err = os.Stdout.Write(s.out) // os.File.Write retries short writes
	}
	s.out = s.out[:0]
	return err
}

// refuse answers a malformed request with an `E` frame naming it.
func (s *server) refuse(format string, args ...any) error {
	msg := fmt.Sprintf("frame %d: ", s.frames) + fmt.Sprintf(format, args...)
	fmt.Fprintf(os.Stderr, "tcpcheck-gvisor: %s\n", msg)
	s.frame('E', []byte(msg))
	s.flush()
	return fmt.Errorf("%s", msg)
}

// report appends the answer to a request: state, calls, deadline, RECEIVE's text and the
// packets sent since the last answer (as many as fit a frame; the rest said on stderr).
func (s *server) report() {
	state, calls, deadline := s.stk.report()
	const fixed = 1 + 1 + 1 + 8 + 4 + 2 // type, state, calls, deadline, text length, count
	if len(s.text) > maxFrame-fixed {
		fmt.Fprintf(os.Stderr, "tcpcheck-gvisor: RECEIVE's text cut to fit a frame\n")
		s.text = s.text[:maxFrame-fixed]
	}
	room, kept, count := maxFrame-fixed-len(s.text), 0, 0
	for count < s.npacket {
		size := 2 + int(binary.LittleEndian.Uint16(s.packets[kept:]))
		if kept+size > room {
			break
		}
		kept += size
		count++
	}
	if count < s.npacket {
		fmt.Fprintf(os.Stderr, "tcpcheck-gvisor: %d sent packets dropped: more than a frame holds\n", s.npacket-count)
	}
	s.out = binary.LittleEndian.AppendUint32(s.out, uint32(fixed+len(s.text)+kept))
	s.out = append(s.out, 'r', byte(state), byte(calls&allCalls))
	s.out = binary.LittleEndian.AppendUint64(s.out, deadline)
	s.out = binary.LittleEndian.AppendUint32(s.out, uint32(len(s.text)))
	s.out = append(s.out, s.text...)
	s.out = binary.LittleEndian.AppendUint16(s.out, uint16(count))
	s.out = append(s.out, s.packets[:kept]...)
	s.text = s.text[:0]
	s.packets = s.packets[:0]
	s.npacket = 0
}

// next takes the next request frame: its type and body, io.EOF at a clean end of input, or
// another error after a malformed frame (answered with `E`). Answers composed so far are
// written before waiting for more input: tcpcheck waits for them before it sends more.
func (s *server) next() (byte, []byte, error) {
	for {
		have := s.end - s.start
		if have >= 4 {
			n := int(binary.LittleEndian.Uint32(s.in[s.start:]))
			if n == 0 || n > maxFrame {
				s.frames++
				return 0, nil, s.refuse("a frame length of 1 to %d bytes, not %d", maxFrame, n)
			}
			if have >= 4+n {
				typ, body := s.in[s.start+4], s.in[s.start+5:s.start+4+n]
				s.start += 4 + n
				s.frames++
				return typ, body, nil
			}
		}
		if err := s.flush(); err != nil {
			return 0, nil, err
		}
		// Room for what one read may bring: move the unread part to the front.
		if len(s.in)-s.end < s.room() {
			copy(s.in, s.in[s.start:s.end])
			s.start, s.end = 0, have
		}
		var got int
		var err error
		if s.shm != nil {
			got = s.shm.recv(s.in[s.end:])
			if got == 0 {
				err = io.EOF
			}
		} else {
			got, err = os.Stdin.Read(s.in[s.end:])
		}
		s.end += got
		if err == io.EOF && got == 0 {
			if have == 0 {
				return 0, nil, io.EOF
			}
			s.frames++
			return 0, nil, s.refuse("stdin ended in the middle of the frame")
		}
		if err != nil && err != io.EOF {
			s.frames++
			return 0, nil, s.refuse("cannot read stdin: %v", err)
		}
	}
}

// room is the most one read of requests may bring: a chunk of the pipe, or a whole batch of
// the shared area (which holds whole frames only, so nothing is left unread before it).
func (s *server) room() int {
	if s.shm != nil {
		return s.shm.capacity
	}
	return chunk
}

// catchUp lets time run to `now` before an input, if it is later.
func (s *server) catchUp(now uint64) {
	if now > s.now {
		s.stk.advance(now)
		s.now = now
	}
}

// serve answers requests until stdin ends.
func (s *server) serve() error {
	for {
		typ, body, err := s.next()
		if err == io.EOF {
			return s.flush()
		}
		if err != nil {
			return err
		}
		if typ != 'R' && typ != 'C' && typ != 'P' && typ != 'A' {
			printable := typ > ' ' && typ < 127
			if printable {
				return s.refuse("expected a request type (R, C, P or A), not `%c`", typ)
			}
			return s.refuse("expected a request type (R, C, P or A), not byte %d", typ)
		}
		if len(body) < 8 {
			what := "a u64 time"
			if typ == 'R' {
				what = "a u64 seed"
			}
			return s.refuse("expected %s (8 bytes), but the frame ends after %d bytes", what, len(body))
		}
		if typ == 'C' && len(body) < 9 {
			return s.refuse("expected a call number (1 byte), but the frame ends after %d bytes", len(body))
		}
		if typ == 'C' && body[8] > callAbort {
			return s.refuse("expected a call number from 0 to 5 (OPEN-PASSIVE .. ABORT), not %d", body[8])
		}
		if s.skipping && typ != 'R' {
			continue // the rest of a run whose stack panicked
		}
		s.skipping = false
		if s.check != nil {
			s.check.serve(s, typ, body)
			continue
		}
		s.handle(typ, body)
	}
}

// handle serves one well-formed request and appends its answer: a report, or an `x` frame if
// the stack panicked on this goroutine (see crash).
func (s *server) handle(typ byte, body []byte) {
	defer func() {
		if r := recover(); r != nil {
			s.crash(r)
		}
	}()
	v := binary.LittleEndian.Uint64(body)
	switch typ {
	case 'R':
		s.now = 0
		s.stk.reset(v)
		// What the old connections sent while being torn down is not news.
		s.packets, s.npacket, s.text = s.packets[:0], 0, s.text[:0]
	case 'C':
		s.catchUp(v)
		s.stk.call(v, int(body[8]), body[9:])
	case 'P':
		s.catchUp(v)
		s.stk.packet(v, body[8:])
	case 'A':
		// Always called, even for the current time: a timer may be due right now.
		s.stk.advance(v)
		if v > s.now {
			s.now = v
		}
	}
	s.report()
}

// crash answers a request during which gVisor panicked (on this goroutine: a panic on one of
// gVisor's own goroutines ends the process, which tcpcheck reports as a crash as well). As a
// fork server reports its copy's death ("Resetting a stack with global state"): an `x` frame
// saying what the panic was and where, the full panic on stderr, and the requests of the run
// skipped until the next RESET. The stack that panicked is given up, not torn down: the
// panic may have left its locks held. After maxCrashes of them (each keeps its memory and its
// parked goroutines) the panic is let go and ends the process instead.
func (s *server) crash(r any) {
	trace := debug.Stack()
	if s.crashes >= maxCrashes {
		panic(r)
	}
	s.crashes++
	fmt.Fprintf(os.Stderr, "panic: %v\n\n%s", r, trace)
	where := ""
	lines := strings.Split(string(trace), "\n")
	for i := 0; i+1 < len(lines); i++ {
		if strings.HasPrefix(lines[i], "gvisor.dev/") {
			file := strings.TrimSpace(lines[i+1])
			if k := strings.LastIndex(file, " +0x"); k >= 0 {
				file = file[:k]
			}
			if k := strings.Index(file, "gvisor.dev/"); k >= 0 {
				file = file[k:]
			}
			fn := lines[i]
			if k := strings.LastIndex(fn, "("); k > 0 {
				fn = fn[:k]
			}
			where = fmt.Sprintf(" in %s (%s)", fn, file)
			break
		}
	}
	s.packets, s.npacket, s.text = s.packets[:0], 0, s.text[:0]
	s.frame('x', []byte(fmt.Sprintf("panicked: %v%s", r, where)))
	s.stk.crashed()
	s.skipping = true
}

// serveProtocol says hello and serves requests until stdin ends; the process's exit status.
func serveProtocol(stk driven, srv *server, hello string) int {
	srv.stk = stk
	srv.shm = openOfferedShm()
	srv.in = make([]byte, srv.room()+4+maxFrame)
	if c := os.Getenv("TCPCHECK_GVISOR_CHECK"); c != "" && c != "0" {
		srv.check = &determinism{}
	}
	text := "tcpcheck-stack 1\n" + hello
	if srv.shm != nil {
		text += "transport shm\n"
	}
	srv.frame('H', []byte(text))
	shm := srv.shm
	srv.shm = nil // the hello goes to stdout
	if err := srv.flush(); err != nil {
		return 1
	}
	srv.shm = shm
	if shm != nil {
		// Stdin stays open and silent: its end means tcpcheck is gone.
		go func() {
			io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}()
	}
	if err := srv.serve(); err != nil {
		return 1
	}
	return 0
}

// ---- shared memory ("Shared memory") ----

// shm is the mapped transport file: a 64-byte header (magic, version, capacity), then the
// requests' header line (seq, waiting, len) and data, then the answers'.
type shm struct {
	mem      []byte
	capacity int
	seen     [2]uint32 // the seq last seen or published, per way
}

const (
	requests = 0
	answers  = 1
)

// The waits: spin about a microsecond, yield a while, then sleep on the futex in slices,
// as the C library and the harness do.
const (
	spins    = 32
	yields   = 64
	sliceNs  = 10 * 1000 * 1000
	futexOp  = 0 // FUTEX_WAIT, not private: the word is shared with tcpcheck's process
	futexWak = 1 // FUTEX_WAKE
)

func openOfferedShm() *shm {
	path := os.Getenv("TCPCHECK_SHM")
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() < 128 {
		return nil
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	magic, version := binary.LittleEndian.Uint32(mem), binary.LittleEndian.Uint32(mem[4:])
	capacity := int(binary.LittleEndian.Uint32(mem[8:]))
	need := 128 + 2*((capacity+63)/64*64) + 128
	if magic != 0x53504354 || version != 1 || int64(need) > st.Size() {
		syscall.Munmap(mem)
		return nil
	}
	return &shm{mem: mem, capacity: capacity}
}

// word is the header word `index` (0 seq, 1 waiting, 2 len) of `way`.
func (m *shm) word(way, index int) *uint32 {
	header := 64
	if way == answers {
		header = 128 + (m.capacity+63)/64*64
	}
	return (*uint32)(unsafe.Pointer(&m.mem[header+4*index]))
}

func (m *shm) data(way int) []byte {
	header := 64
	if way == answers {
		header = 128 + (m.capacity+63)/64*64
	}
	return m.mem[header+64 : header+64+m.capacity]
}

func futex(word *uint32, op int, val uint32, timeout *syscall.Timespec) {
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(word)), uintptr(op), uintptr(val),
		uintptr(unsafe.Pointer(timeout)), 0, 0)
}

// send publishes a batch of answers: data, then len, then seq, then a wake if tcpcheck sleeps.
// Go's atomics are sequentially consistent.
func (m *shm) send(p []byte) {
	if len(p) > m.capacity {
		fmt.Fprintf(os.Stderr, "tcpcheck-gvisor: an answer batch of %d bytes exceeds the shared area\n", len(p))
		os.Exit(2)
	}
	copy(m.data(answers), p)
	atomic.StoreUint32(m.word(answers, 2), uint32(len(p)))
	m.seen[answers]++
	atomic.StoreUint32(m.word(answers, 0), m.seen[answers])
	if atomic.SwapUint32(m.word(answers, 1), 0) != 0 {
		futex(m.word(answers, 0), futexWak, 1, nil)
	}
}

// recv waits for the next batch of requests and copies it to `to`: its length. (The end of
// stdin ends the process: see serveProtocol.)
func (m *shm) recv(to []byte) int {
	seq, last := m.word(requests, 0), m.seen[requests]
	ready := false
	for i := 0; i < spins && !ready; i++ {
		ready = atomic.LoadUint32(seq) != last
	}
	for i := 0; i < yields && !ready; i++ {
		syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
		ready = atomic.LoadUint32(seq) != last
	}
	for !ready {
		atomic.StoreUint32(m.word(requests, 1), 1)
		if atomic.LoadUint32(seq) == last {
			slice := syscall.Timespec{Nsec: sliceNs}
			futex(seq, futexOp, last, &slice)
		}
		ready = atomic.LoadUint32(seq) != last
	}
	m.seen[requests] = atomic.LoadUint32(seq)
	n := int(atomic.LoadUint32(m.word(requests, 2)))
	if n > len(to) || n > m.capacity {
		fmt.Fprintf(os.Stderr, "tcpcheck-gvisor: a request batch of %d bytes does not fit\n", n)
		os.Exit(2)
	}
	return copy(to, m.data(requests)[:n])
}
