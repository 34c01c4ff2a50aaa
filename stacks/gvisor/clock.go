// The virtual clock gVisor runs on: tcpip.Clock (pkg/tcpip/tcpip.go:119-130) over tcpcheck's
// time. Timers are a heap; nothing fires on its own: advance (harness.go) pops the timers that
// fall due, one at a time, sets the clock to each one's time and runs its callback there, on
// the harness's goroutine (tcpip.Clock says "in its own goroutine": the callbacks gVisor
// registers only lock the endpoint and hand queued work to the TCP processors, which the
// harness waits for after each one).

package main

import (
	"container/heap"
	"math"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// epoch is what Now() reads at time 0: a fixed instant, so that nothing depends on the wall
// clock.
var epoch = time.Unix(1_000_000_000, 0)

// monoBase is what NowMonotonic() reads at time 0. Not 0: gVisor takes a zero MonotonicTime
// to mean "never" (endpoint.go:3210, the last out-of-window ACK; snd.go:463, the first
// retransmission), and a real monotonic clock never reads 0 (it counts from boot).
const monoBase = time.Hour

type vclock struct {
	mu      sync.Mutex
	now     int64 // ns since RESET
	pending timerHeap
	order   uint64 // timers due at the same time fire in the order they were set
}

// vtimer is a timer of the virtual clock: a tcpip.Timer.
type vtimer struct {
	c     *vclock
	when  int64 // ns since RESET
	order uint64
	index int // in c.pending; -1 when not pending
	f     func()
}

func (c *vclock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return epoch.Add(time.Duration(c.now))
}

func (c *vclock) NowMonotonic() tcpip.MonotonicTime {
	c.mu.Lock()
	defer c.mu.Unlock()
	return tcpip.MonotonicTime{}.Add(monoBase + time.Duration(c.now))
}

func (c *vclock) AfterFunc(d time.Duration, f func()) tcpip.Timer {
	t := &vtimer{c: c, index: -1, f: f}
	t.Reset(d)
	return t
}

// after is now + d, saturating: gVisor arms timers with math.MaxInt64 to mean never
// (pkg/tcpip/transport/tcp/timer.go:79).
func (c *vclock) after(d time.Duration) int64 {
	if d < 0 {
		d = 0
	}
	if int64(d) > math.MaxInt64-c.now {
		return math.MaxInt64
	}
	return c.now + int64(d)
}

func (t *vtimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.c.pending, t.index)
	return true
}

func (t *vtimer) Reset(d time.Duration) {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.index >= 0 {
		heap.Remove(&c.pending, t.index)
	}
	t.when = c.after(d)
	c.order++
	t.order = c.order
	heap.Push(&c.pending, t)
}

// popDue takes the first timer due by `to` (ns) off the heap and sets the clock to its time;
// nil if none is due.
func (c *vclock) popDue(to int64) *vtimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 || c.pending[0].when > to {
		return nil
	}
	t := heap.Pop(&c.pending).(*vtimer)
	if t.when > c.now {
		c.now = t.when
	}
	return t
}

// set moves the clock forward to `to` (ns); never back.
func (c *vclock) set(to int64) {
	c.mu.Lock()
	if to > c.now {
		c.now = to
	}
	c.mu.Unlock()
}

func (c *vclock) nowNs() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// idle: no timer is pending.
func (c *vclock) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) == 0
}

// each calls f with every pending timer (in heap order, which f must not depend on).
func (c *vclock) each(f func(*vtimer)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.pending {
		f(t)
	}
}

// timerHeap orders timers by time, then by when they were set.
type timerHeap []*vtimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when != h[j].when {
		return h[i].when < h[j].when
	}
	return h[i].order < h[j].order
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*vtimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
