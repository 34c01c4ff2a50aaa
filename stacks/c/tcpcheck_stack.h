/*
 * tcpcheck_stack.h: the child's side of the tcpcheck stack protocol (docs/stack-protocol.md),
 * for a TCP stack written in C. C99, libc and POSIX only; one header and tcpcheck_stack.c.
 *
 * tcpcheck plays the stack's user and its remote peer. The stack, in a child process, only
 * has to do what it is told: make a user call, take a packet, let time pass. This library does
 * the rest: the hello, reading request frames from stdin, calling the callbacks below, and
 * answering each request with one report frame on stdout (the packets the stack sent since the
 * last answer, its state, its next deadline, the calls its user can make, RECEIVE's text).
 *
 * stdout belongs to the library: anything else written there breaks the protocol and is a
 * `protocol` finding. Log to stderr, which tcpcheck keeps and quotes with crashes.
 *
 * A minimal child (see examples/silent.c for one that compiles):
 *
 *     static const struct tcpcheck_stack stack = {
 *         .hello = "name my-stack 0.1\nclock virtual\nmsl 30s\nrto 1s\nmax-retries 5\n"
 *                  "window 4096\nmss 536\n",
 *         .reset = reset, .call = call, .packet = packet, .advance = advance,
 *         .state = state, .deadline = deadline,
 *     };
 *     int main(void) { return tcpcheck_serve(&stack, NULL); }
 */
#ifndef TCPCHECK_STACK_H
#define TCPCHECK_STACK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The protocol version this library speaks: the hello's first line is `tcpcheck-stack 1`. */
#define TCPCHECK_PROTOCOL_VERSION 1

/*
 * The user calls of RFC 9293 3.9.1 in the protocol's numbering, made as a socket user makes
 * them (docs/stack-protocol.md, "Requests"). A call the stack refuses (a second listen) should
 * change nothing: that is not an error, the oracle judges what the stack does.
 */
enum tcpcheck_call {
    TCPCHECK_OPEN_PASSIVE = 0, /* listen on the stack's port */
    TCPCHECK_OPEN_ACTIVE = 1,  /* connect from the stack's port to the peer */
    TCPCHECK_SEND = 2,         /* write the text (queue it if the connection is still opening) */
    TCPCHECK_RECEIVE = 3,      /* read everything received and not read; hand it to tcpcheck_text */
    TCPCHECK_CLOSE = 4,        /* no more to send: shutdown(SHUT_WR) */
    TCPCHECK_ABORT = 5         /* reset the connection: SO_LINGER 0 and close */
};

/* The `calls` bits of a report: bit i set if call i can be made now. */
#define TCPCHECK_CALL_BIT(call) (1u << (call))
#define TCPCHECK_ALL_CALLS 63u

/*
 * The connection's state as state() reports it: the RFC 9293 states. Report the connection
 * the script's calls and the peer's segments are about (a connection in SYN-RECEIVED not yet
 * accepted, or in TIME-WAIT after the user let it go, is still the connection); LISTEN when only
 * a listener exists; CLOSED when nothing does; UNKNOWN if the stack cannot tell.
 */
#define TCPCHECK_STATE_CLOSED 0
#define TCPCHECK_STATE_LISTEN 1
#define TCPCHECK_STATE_SYN_SENT 2
#define TCPCHECK_STATE_SYN_RECEIVED 3
#define TCPCHECK_STATE_ESTABLISHED 4
#define TCPCHECK_STATE_FIN_WAIT_1 5
#define TCPCHECK_STATE_FIN_WAIT_2 6
#define TCPCHECK_STATE_CLOSE_WAIT 7
#define TCPCHECK_STATE_CLOSING 8
#define TCPCHECK_STATE_LAST_ACK 9
#define TCPCHECK_STATE_TIME_WAIT 10
#define TCPCHECK_STATE_UNKNOWN 255

/* deadline() when nothing is pending, or the stack cannot tell. */
#define TCPCHECK_NO_DEADLINE UINT64_MAX

/*
 * A stack under test: its hello and its callbacks. Times are microseconds since the last
 * RESET. Every callback gets the `ctx` given to tcpcheck_serve.
 */
struct tcpcheck_stack {
    /*
     * The hello after its first line: `key value` lines, each ending in a newline (the keys are
     * in docs/stack-protocol.md, "The hello"; name, clock, msl, rto, max-retries, window and
     * mss are required). The library writes `tcpcheck-stack 1` before it.
     */
    const char *hello;

    /*
     * Make the stack as new: no connection, no listener, nothing queued, its clock at 0, and
     * everything it draws at random seeded from `seed`, so the same seed and requests give the
     * same answers byte for byte (that is what makes a finding replay). Packets the stack sends
     * while being reset are discarded.
     *
     * NULL makes the library a fork server instead, for stacks whose state cannot be reset:
     * the process initialises once, and each RESET runs in a fresh fork()ed copy of it, which
     * reads the seed with tcpcheck_seed(). A copy that crashes is reported to tcpcheck as a
     * crash (an `x` frame) and the next RESET forks another. Slower (a fork per run) but
     * needs nothing from the stack.
     */
    void (*reset)(void *ctx, uint64_t seed);

    /*
     * A user call at time `now`. `text` and `len` are SEND's text (len 0 for the other calls).
     * RECEIVE hands what it read to tcpcheck_text. The library has already let time run to
     * `now` (advance) when `now` is later than the last request's time.
     */
    void (*call)(void *ctx, uint64_t now, enum tcpcheck_call call, const uint8_t *text, size_t len);

    /*
     * A packet from the peer at time `now`: one IPv4 packet (header and TCP segment) as on the
     * wire, to be handed to the stack's input as a network interface would. It may be malformed
     * on purpose (a bad checksum, a truncated header): the stack must drop it, not crash. Time
     * has been advanced to `now` first, as for call.
     */
    void (*packet)(void *ctx, uint64_t now, const uint8_t *p, size_t len);

    /*
     * Let time run to `to`, firing every timer that falls due on the way, in order and each
     * at its own time (a retransmission due at 1 s and another at 3 s are two events, the
     * second after the first's backoff). `to` never goes backwards within a run; it may equal
     * the last time (fire what is due now).
     */
    void (*advance)(void *ctx, uint64_t to);

    /* The connection's state, a TCPCHECK_STATE_* value. */
    int (*state)(void *ctx);

    /*
     * When the stack will next act on its own (send a retransmission, a delayed ACK or a
     * probe, or change the connection's state: the end of TIME-WAIT), or TCPCHECK_NO_DEADLINE.
     * It must be a time when something happens, not merely when a periodic timer ticks: the
     * oracle follows the stack's retransmission timer by it, and a deadline where nothing is
     * sent reads as a missing retransmission. When unsure, answer TCPCHECK_NO_DEADLINE.
     */
    uint64_t (*deadline)(void *ctx);

    /*
     * Optional: the TCPCHECK_CALL_BIT()s of the calls the stack's user can make now, for
     * socket APIs that cannot express every call in every state (a socket user has no
     * descriptor for a connection not yet accepted). tcpcheck ends a run without a verdict at a
     * call that cannot be made. NULL means every call always can (TCPCHECK_ALL_CALLS).
     */
    unsigned (*can_call)(void *ctx);
};

/*
 * Inside the callbacks: the stack sent this packet (an IPv4 packet, as on the wire). Call it
 * from the network interface's output routine. The library copies it and reports the packets
 * with the next answer, oldest first.
 */
void tcpcheck_output(const uint8_t *packet, size_t len);

/* Inside the RECEIVE call: the text it read (may be called several times; the pieces join). */
void tcpcheck_text(const uint8_t *text, size_t len);

/* The seed of the current run (the last RESET's); 0 before the first. */
uint64_t tcpcheck_seed(void);

/*
 * Serves the protocol on stdin and stdout until stdin ends: writes the hello, then answers
 * every request. Returns 0 at the end of stdin; nonzero after a malformed request (which has
 * been answered with an `E` frame saying what was wrong, and where) or when stdout is gone.
 * SIGPIPE is ignored from then on, so a vanished tcpcheck is an error return, not a signal.
 */
int tcpcheck_serve(const struct tcpcheck_stack *stack, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* TCPCHECK_STACK_H */
