/*
 * lwIP under tcpcheck: lwIP's raw TCP API on one raw-IP network interface, driven over the
 * stack protocol (docs/stack-protocol.md) by stacks/c/tcpcheck_stack.c. Built by build.sh, which
 * fetches lwIP's source; lwipopts.h says how lwIP is configured.
 *
 * The wire. lwIP is 192.0.2.1 on a /24 with tcpcheck's peer 192.0.2.2 on it, on a network
 * interface whose input is ip4_input and whose output hands each IPv4 packet (a pbuf chain,
 * flattened) to tcpcheck_output. No link layer: the packets are the protocol's.
 *
 * The user. The harness plays lwIP's application as a blocking socket user would, as the
 * smoltcp and Linux adapters do (src/adapter/):
 * - OPEN-PASSIVE binds 192.0.2.1:8080 and listens. The connection is the pcb lwIP hands to the
 *   accept callback (when the handshake completes); the listener is then closed, so that there
 *   is one connection, as the table has one TCB. OPEN-ACTIVE binds 8080 and connects to
 *   192.0.2.2:40000. Either is refused (changes nothing) while a listener or a connection exists.
 * - SEND queues the text in the harness and offers it to lwIP (tcp_write, copied, then
 *   tcp_output) at once and again after every input and timer, as a blocking write completes
 *   later: in ESTABLISHED and CLOSE-WAIT, as far as lwIP's send buffer allows. While the
 *   connection is still opening (SYN-SENT, SYN-RECEIVED, or not yet accepted) the text waits,
 *   as a socket's write waits for the connection (lwIP's own socket layer never calls tcp_write
 *   before the connection is established, though the raw API would take it). Text left when
 *   the connection can no longer send is dropped: the user's write failed.
 * - RECEIVE returns everything lwIP delivered and the user has not read, and only then tells
 *   lwIP it was read (tcp_recved), so lwIP's receive window is the socket buffer's space.
 * - CLOSE is tcp_shutdown(pcb, 0, 1), shutdown(SHUT_WR), behind queued text as after a
 *   blocking write; on a listener, or a connection still in SYN-SENT, it is tcp_close, which
 *   deletes it (RFC 9293 3.10.4), as the Linux adapter's close() does.
 * - ABORT is tcp_abort of the connection (tcp_close of a lone listener: lwIP asserts on
 *   tcp_abort of a listen pcb).
 * - What a socket user cannot do (can_call): CLOSE or ABORT a connection not yet accepted (it
 *   has no descriptor for it), OPEN-ACTIVE on a listener.
 * - Nagle is off (TCP_NODELAY), as in the other adapters: holding back a small segment is a
 *   sender's choice the table does not model.
 *
 * State. lwIP moves and frees pcbs without telling the application (a connection entering
 * TIME-WAIT moves to tcp_tw_pcbs, and is freed from there silently), and a connection in
 * SYN-RECEIVED is not the application's until accepted, so the state is read from the pcb
 * lists by the run's 4-tuple; LISTEN if only the listener exists, CLOSED if nothing does.
 *
 * Time. lwIP's clock (sys_now, milliseconds) is tcpcheck's virtual clock: microseconds / 1000.
 * lwIP's TCP timer runs every TCP_TMR_INTERVAL (250 ms): tcp_fasttmr every tick (delayed ACKs),
 * tcp_slowtmr every other tick (retransmissions, persist probes, TIME-WAIT and the other
 * timeouts, counted in 500 ms ticks). The timer is started when the first pcb becomes active
 * and stopped when none is left, so its phase depends on the run. advance() fires each tick at
 * its own due time: a jump over several would fire the periodic timer once.
 *
 * Most ticks only move counters (a retransmission timer counting up, TIME-WAIT counting down):
 * those are skipped, their effect on the counters applied at once (see skippable()), and every
 * tick that may do anything else is fired for real.
 *
 * Deadline. When lwIP next acts on its own: sends something or changes the connection's
 * state. A tick where counters merely move is not an act. Computed by simulation: lwIP's state
 * is saved, its time run forward (skipping as above) until lwIP sends or the state changes, and
 * the state restored. TCPCHECK_LWIP_CHECK=1 checks every skip against firing the
 * ticks for real and aborts on a difference (slow: for testing the harness).
 *
 * Resetting. lwIP keeps all its state in global variables. build.sh links lwIP's .data and
 * .bss into two sections of their own (tcpcheck_lwip_data, tcpcheck_lwip_bss; the linker
 * provides their bounds), which are saved once after lwip_init and the interface's setup and
 * copied back on RESET; the harness's own lwIP-facing state (the interface, the clock, the
 * user's pcbs and queues) is one struct, saved and restored with them. The same copies, to and
 * from a scratch area, make the deadline's simulation.
 *
 * Crashes. A failed lwIP assertion prints to stderr and aborts (arch/cc.h): tcpcheck's crash.
 * One that fails inside the deadline's simulation ends the simulation instead, and that tick
 * is the deadline: the assertion fails for real when tcpcheck lets time run to it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#include "tcpcheck_stack.h"

#define STACK_PORT 8080
#define PEER_PORT 40000

/* Ticks advance() fires in one call before it gives up on reaching `to` tick by tick (at four
 * ticks a second, 72 hours of virtual time); then the clock jumps and lwIP catches up once. */
#define MAX_TICKS (1u << 20)

/* Ticks the deadline's simulation fires (skipped ones do not count) before it concludes that
 * lwIP will not act: far more than any sequence of lwIP's timers needs (an RTO or a probe is one
 * fired tick after the skipped ones, and a connection gives up after at most 12 of them). */
#define SIM_TICKS 10000u

/* The linker's bounds of lwIP's variables (build.sh renames lwIP's .data and .bss). */
extern char __start_tcpcheck_lwip_data[], __stop_tcpcheck_lwip_data[];
extern char __start_tcpcheck_lwip_bss[], __stop_tcpcheck_lwip_bss[];

/* A growable byte buffer, outside the saved state: only its length is part of a run. */
struct text {
    uint8_t *p;
    size_t cap;
};

/* The harness's lwIP-facing state: everything a run changes outside lwIP's own variables. */
struct run {
    struct netif netif;
    uint64_t clock_ms;        /* lwIP's clock: sys_now() */
    uint64_t seed;            /* RESET's seed, for ISNs */
    uint32_t isns;            /* ISNs drawn in this run */
    int next_tick_slow;       /* whether lwIP's next TCP timer tick runs tcp_slowtmr */
    struct tcp_pcb *listener; /* the user's listening pcb */
    struct tcp_pcb *conn;     /* the user's connection (connected or accepted); see conn() */
    int close_listener;       /* a connection was accepted: close the listener after this input */
    size_t unsent_at, unsent_end; /* SEND text lwIP has not taken: unsent.p[at .. end) */
    int close_pending;        /* a CLOSE waits behind that text */
    size_t received;          /* text delivered and not read: received.p[0 .. received) */
    int deadline_known;       /* `deadline` holds for the state as it is */
    uint64_t deadline;
    int simulating;           /* inside the deadline's simulation: packets are not reported */
    int acted;                /* the simulation saw lwIP send */
};

static struct run run;
static struct run clean_run, sim_run;
static struct text unsent, received;
static uint8_t *clean_lwip, *sim_lwip; /* copies of lwIP's data and bss, one after the other */
static int check_skips;              /* TCPCHECK_LWIP_CHECK */
static ip_addr_t stack_ip, peer_ip;

static size_t lwip_data_size(void) {
    return (size_t)(__stop_tcpcheck_lwip_data - __start_tcpcheck_lwip_data);
}

static size_t lwip_bss_size(void) {
    return (size_t)(__stop_tcpcheck_lwip_bss - __start_tcpcheck_lwip_bss);
}

static void save(uint8_t *lwip, struct run *r) {
    memcpy(lwip, __start_tcpcheck_lwip_data, lwip_data_size());
    memcpy(lwip + lwip_data_size(), __start_tcpcheck_lwip_bss, lwip_bss_size());
    *r = run;
}

static void restore(const uint8_t *lwip, const struct run *r) {
    memcpy(__start_tcpcheck_lwip_data, lwip, lwip_data_size());
    memcpy(__start_tcpcheck_lwip_bss, lwip + lwip_data_size(), lwip_bss_size());
    run = *r;
}

static void fail(const char *what) {
    fprintf(stderr, "tcpcheck-lwip: %s\n", what);
    abort();
}

static void reserve(struct text *t, size_t need) {
    if (need <= t->cap)
        return;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(t->p, cap);
    if (!p)
        fail("out of memory");
    t->p = p;
    t->cap = cap;
}

/* ---- lwIP's port: clock, ISNs, diagnostics ---- */

u32_t sys_now(void) {
    return (u32_t)run.clock_ms;
}

/* splitmix64: a good 64-bit mix, so that neighbouring seeds give unrelated ISNs. */
static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

/* LWIP_HOOK_TCP_ISN (lwipopts.h): the n-th ISN of a run is a function of the seed and n. */
uint32_t tcpcheck_lwip_isn(void) {
    run.isns++;
    return (uint32_t)(mix(run.seed ^ mix(run.isns)) >> 32);
}

/* Where a failed assertion inside the deadline's simulation returns to (see simulate). */
static jmp_buf sim_exit;

void tcpcheck_lwip_assert(const char *message, int line, const char *file) {
    if (run.simulating)
        longjmp(sim_exit, 1);
    fprintf(stderr, "lwIP assertion \"%s\" failed at line %d in %s\n", message, line, file);
    fflush(stderr);
    abort();
}

void tcpcheck_lwip_diag(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fputs("lwIP: ", stderr);
    vfprintf(stderr, fmt, args);
    va_end(args);
}

/* ---- the network interface ---- */

static err_t netif_output(struct netif *netif, struct pbuf *p, const ip4_addr_t *dst) {
    static uint8_t packet[0xffff];
    (void)netif, (void)dst;
    if (run.simulating) {
        run.acted = 1;
        return ERR_OK;
    }
    u16_t len = pbuf_copy_partial(p, packet, p->tot_len, 0);
    tcpcheck_output(packet, len);
    return ERR_OK;
}

static err_t netif_setup(struct netif *netif) {
    netif->name[0] = 't';
    netif->name[1] = 'c';
    netif->output = netif_output;
    netif->mtu = 1500; /* above TCP_MSS + 40: lwIP announces TCP_MSS (tcp_out.c:1501) */
    netif->flags = 0;  /* no broadcast, no ARP: a point-to-point raw-IP link */
    return ERR_OK;
}

/* ---- the connection ---- */

static int is_tuple(const struct tcp_pcb *pcb) {
    return pcb->local_port == STACK_PORT && pcb->remote_port == PEER_PORT && ip_addr_cmp(&pcb->local_ip, &stack_ip) &&
           ip_addr_cmp(&pcb->remote_ip, &peer_ip);
}

/* The pcb of the run's 4-tuple, accepted or not, in TIME-WAIT or not; NULL if none. */
static struct tcp_pcb *tuple_pcb(void) {
    for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next)
        if (is_tuple(pcb))
            return pcb;
    for (struct tcp_pcb *pcb = tcp_tw_pcbs; pcb; pcb = pcb->next)
        if (is_tuple(pcb))
            return pcb;
    return NULL;
}

static int listed(const struct tcp_pcb *list, const struct tcp_pcb *pcb) {
    for (; list; list = list->next)
        if (list == pcb)
            return 1;
    return 0;
}

/* The connection is gone (reset, aborted, timed out, closed and deleted): so is the text it
 * had received and the user had not read, as a socket's receive queue goes with it (RFC 9293:
 * a reset flushes all segment queues; a deleted TCB has none). */
static void forget_conn(void) {
    run.conn = NULL;
    run.received = 0;
}

/* The user's connection, if lwIP still has it: lwIP frees a pcb at the end of TIME-WAIT
 * without calling back, so the pointer is only trusted while the pcb is on a list. */
static struct tcp_pcb *conn(void) {
    if (run.conn && !listed(tcp_active_pcbs, run.conn) && !listed(tcp_tw_pcbs, run.conn))
        forget_conn();
    return run.conn;
}

/* A passive connection lwIP has and the user has not accepted (SYN-RECEIVED). */
static int unaccepted(void) {
    return !conn() && run.listener && tuple_pcb();
}

/* Still opening: a SEND waits (RFC 9293 3.10.2 queues it). */
static int opening(const struct tcp_pcb *pcb) {
    return pcb->state == SYN_SENT || pcb->state == SYN_RCVD;
}

/* The states where a SEND is taken, now or once the connection is open. */
static int can_send(const struct tcp_pcb *pcb) {
    return opening(pcb) || pcb->state == ESTABLISHED || pcb->state == CLOSE_WAIT;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
    (void)arg, (void)pcb, (void)err;
    if (!p)
        return ERR_OK; /* the peer's FIN: the next read would return 0 */
    reserve(&received, run.received + p->tot_len);
    run.received += pbuf_copy_partial(p, received.p + run.received, p->tot_len, 0);
    pbuf_free(p);
    return ERR_OK;
}

/* lwIP freed the pcb (reset, aborted, timed out, fully closed): arg is the pcb it was. */
static void on_err(void *arg, err_t err) {
    (void)err;
    if (arg == run.conn)
        forget_conn();
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err) {
    (void)arg, (void)pcb, (void)err;
    return ERR_OK;
}

/* The user's callbacks on a pcb that is the connection. */
static void adopt(struct tcp_pcb *pcb) {
    tcp_arg(pcb, pcb);
    tcp_recv(pcb, on_recv);
    tcp_err(pcb, on_err);
    tcp_nagle_disable(pcb);
    run.conn = pcb;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err) {
    (void)arg;
    /* One connection per run: the peer's segments all carry the run's 4-tuple. A second
     * (impossible from tcpcheck) is refused, which makes lwIP abort it. */
    if (err != ERR_OK || !pcb || conn())
        return ERR_VAL;
    adopt(pcb);
    run.close_listener = 1;
    return ERR_OK;
}

/* Offers queued SEND text to lwIP, and a CLOSE behind it; drops them when the connection can
 * no longer send. Called after every call, input and timer tick. */
static void flush(void) {
    struct tcp_pcb *pcb = conn();
    if (run.unsent_at == run.unsent_end && !run.close_pending)
        return;
    if (!pcb) {
        if (unaccepted())
            return; /* still opening: the user's write blocks until accept */
        run.unsent_at = run.unsent_end = 0;
        run.close_pending = 0;
        return;
    }
    if (opening(pcb))
        return;
    if (!can_send(pcb)) {
        run.unsent_at = run.unsent_end = 0;
        run.close_pending = 0;
        return;
    }
    int wrote = 0;
    while (run.unsent_at < run.unsent_end) {
        size_t n = run.unsent_end - run.unsent_at;
        if (n > tcp_sndbuf(pcb))
            n = tcp_sndbuf(pcb);
        if (n == 0 || tcp_write(pcb, unsent.p + run.unsent_at, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
            break; /* no room: offered again later */
        run.unsent_at += n;
        wrote = 1;
    }
    if (wrote)
        tcp_output(pcb);
    if (run.close_pending && run.unsent_at == run.unsent_end) {
        run.close_pending = 0;
        tcp_shutdown(pcb, 0, 1);
    }
}

/* After every call, input and timer tick. */
static void settle(void) {
    if (run.close_listener) {
        run.close_listener = 0;
        if (run.listener)
            tcp_close(run.listener);
        run.listener = NULL;
    }
    flush();
}

/* ---- the user's calls ---- */

static void open_conn(int active) {
    if (run.listener || conn())
        return; /* "connection already exists" */
    struct tcp_pcb *pcb = tcp_new();
    if (!pcb)
        return;
    if (tcp_bind(pcb, &stack_ip, STACK_PORT) != ERR_OK) {
        tcp_close(pcb);
        return;
    }
    if (active) {
        adopt(pcb);
        if (tcp_connect(pcb, &peer_ip, PEER_PORT, on_connected) != ERR_OK) {
            run.conn = NULL;
            tcp_close(pcb);
        }
        return;
    }
    struct tcp_pcb *listener = tcp_listen(pcb);
    if (!listener) {
        tcp_close(pcb);
        return;
    }
    tcp_accept(listener, on_accept);
    run.listener = listener;
}

static void send_text(const uint8_t *text, size_t len) {
    struct tcp_pcb *pcb = conn();
    if (pcb ? !can_send(pcb) : !unaccepted())
        return; /* CLOSED, LISTEN or closing: RFC 9293 3.10.2 refuses a SEND */
    if (run.unsent_at == run.unsent_end)
        run.unsent_at = run.unsent_end = 0;
    reserve(&unsent, run.unsent_end + len);
    memcpy(unsent.p + run.unsent_end, text, len);
    run.unsent_end += len;
}

static void receive(void) {
    struct tcp_pcb *pcb = conn();
    tcpcheck_text(received.p, run.received);
    for (size_t left = run.received; pcb && left > 0;) {
        u16_t n = left > 0xffff ? 0xffff : (u16_t)left;
        tcp_recved(pcb, n);
        left -= n;
    }
    run.received = 0;
}

static void close_conn(void) {
    struct tcp_pcb *pcb = conn();
    if (!pcb) {
        if (run.listener && !unaccepted()) {
            tcp_close(run.listener); /* LISTEN: delete the TCB */
            run.listener = NULL;
        }
        return;
    }
    if (pcb->state == SYN_SENT) {
        /* RFC 9293 3.10.4: delete the TCB; tcp_shutdown would refuse (ERR_CONN). */
        forget_conn();
        run.unsent_at = run.unsent_end = 0;
        tcp_close(pcb);
        return;
    }
    if (can_send(pcb) && run.unsent_at < run.unsent_end) {
        run.close_pending = 1;
        return;
    }
    run.unsent_at = run.unsent_end = 0;
    tcp_shutdown(pcb, 0, 1);
}

static void abort_conn(void) {
    struct tcp_pcb *pcb = conn();
    run.unsent_at = run.unsent_end = 0;
    run.close_pending = 0;
    run.received = 0;
    if (pcb) {
        forget_conn();
        tcp_abort(pcb);
    } else if (run.listener && !unaccepted()) {
        tcp_close(run.listener);
        run.listener = NULL;
    }
}

/* ---- time ---- */

/* Fires lwIP's next timer if it is due by `to_ms`, at its own time; 0 if none is. */
static int tick(uint64_t to_ms) {
    u32_t sleep = sys_timeouts_sleeptime();
    if (sleep == SYS_TIMEOUTS_SLEEPTIME_INFINITE || run.clock_ms + sleep > to_ms)
        return 0;
    run.clock_ms += sleep;
    u32_t slow_ticks = tcp_ticks;
    sys_check_timeouts(); /* the TCP timer is lwIP's only timer in this configuration */
    run.next_tick_slow = tcp_ticks == slow_ticks;
    settle();
    return 1;
}

/*
 * Skipping ticks. Most ticks of lwIP's TCP timer only move counters: a connection waiting for
 * its retransmission timer, idle in ESTABLISHED or counting down TIME-WAIT goes through
 * hundreds of them (a minute is 240). skippable() says how many of the next ticks are of that
 * kind, from the conditions tcp_slowtmr and tcp_fasttmr test (core/tcp.c:1193-1471,
 * 1480-1523), and skip() applies their effect on the counters at once, without firing them.
 * The first tick that may do anything else (send, change a state, free a pcb, drop queued
 * segments, fail an assertion) is always fired for real.
 *
 * Three of the counters are lwIP's file-static variables, made visible to the harness by
 * build.sh (objcopy --globalize-symbol; lwIP's source is not changed).
 * TCPCHECK_LWIP_CHECK=1 fires every skipped tick for real as well, on a copy, and
 * aborts unless lwIP's variables and the harness's state come out byte for byte the same.
 */
extern u8_t tcp_timer, tcp_timer_ctr;   /* core/tcp.c:188-189 */
extern struct sys_timeo *next_timeout; /* core/timeouts.c */

/* Slow ticks of the timer's next `n` ticks. */
static uint32_t slow_among(uint32_t n) {
    return run.next_tick_slow ? (n + 1) / 2 : n / 2;
}

/* Ticks before the m-th slow tick from now (0-based): the index of that tick. */
static uint32_t slow_tick(uint32_t m) {
    return (run.next_tick_slow ? 0 : 1) + 2 * m;
}

/* The m of the first slow tick at which tcp_ticks - since exceeds `limit` (u32, as lwIP
 * compares): tcp_ticks is then tcp_ticks + 1 + m. */
static uint32_t slow_until_exceeds(u32_t since, uint32_t limit) {
    u32_t elapsed = tcp_ticks - since;
    return elapsed >= limit ? 0 : limit - elapsed;
}

static uint32_t min_u32(uint32_t a, uint32_t b) {
    return a < b ? a : b;
}

/* Whether tcp_output (called on every slow tick by the poll, core/tcp.c:1420-1432) would do
 * nothing: no ACK to send, and the first unsent segment neither fits the window nor starts the
 * persist timer (core/tcp_out.c:1262-1322). */
static int output_idle(const struct tcp_pcb *pcb) {
    if (pcb->flags & (TF_ACK_NOW | TF_NAGLEMEMERR))
        return 0;
    const struct tcp_seg *seg = pcb->unsent;
    if (!seg)
        return 1;
    u32_t wnd = LWIP_MIN(pcb->snd_wnd, pcb->cwnd);
    int fits = lwip_ntohl(seg->tcphdr->seqno) - pcb->lastack + seg->len <= wnd;
    int starts_persist = wnd == pcb->snd_wnd && !pcb->unacked && pcb->persist_backoff == 0;
    return !fits && !starts_persist;
}

/* How many of the timer's next ticks only move counters: UINT32_MAX if all of them. */
static uint32_t skippable(void) {
    if (!next_timeout)
        return UINT32_MAX; /* the timer is off: no ticks */
    if (!tcp_active_pcbs && !tcp_tw_pcbs)
        return 0; /* the next tick stops the timer */
    /* The harness's own queue: offered to lwIP after each tick (settle) unless the
     * connection is still opening, when the offer does nothing. */
    struct tcp_pcb *c = conn();
    if (run.close_listener || ((run.unsent_at < run.unsent_end || run.close_pending) && c && !opening(c)))
        return 0;
    uint32_t n = UINT32_MAX;
    for (const struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next) {
        /* tcp_fasttmr: a delayed ACK, a pending FIN, refused data. */
        if ((pcb->flags & (TF_ACK_DELAY | TF_CLOSEPEND)) || pcb->refused_data || pcb->pollinterval != 0 ||
            ip_get_option(pcb, SOF_KEEPALIVE) || !output_idle(pcb))
            return 0;
        /* tcp_slowtmr, in its order. */
        uint32_t m = UINT32_MAX;
        if ((pcb->state == SYN_SENT && pcb->nrtx >= TCP_SYNMAXRTX) || pcb->nrtx >= TCP_MAXRTX) {
            m = 0;
        } else if (pcb->persist_backoff > 0) {
            if (pcb->unacked || !pcb->unsent || pcb->persist_probe >= TCP_MAXRTX ||
                pcb->persist_backoff > 7 /* tcp_persist_backoff[] has 7 */)
                m = 0; /* asserts (core/tcp.c:1237-1238) or gives up */
            else {
                static const u8_t backoff[7] = {3, 6, 12, 24, 48, 96, 120}; /* core/tcp.c:166 */
                u8_t due = backoff[pcb->persist_backoff - 1];
                m = pcb->persist_cnt + 1u >= due ? 0 : due - pcb->persist_cnt - 1u;
            }
        } else if (pcb->rtime >= 0) {
            m = pcb->rtime == 0x7fff || pcb->rtime + 1 >= pcb->rto ? 0 : (uint32_t)(pcb->rto - pcb->rtime - 1);
        }
        if (pcb->state == SYN_RCVD)
            m = min_u32(m, slow_until_exceeds(pcb->tmr, TCP_SYN_RCVD_TIMEOUT / TCP_SLOW_INTERVAL));
        if (pcb->state == LAST_ACK)
            m = min_u32(m, slow_until_exceeds(pcb->tmr, 2 * TCP_MSL / TCP_SLOW_INTERVAL));
        if (pcb->state == FIN_WAIT_2 && (pcb->flags & TF_RXCLOSED))
            m = min_u32(m, slow_until_exceeds(pcb->tmr, TCP_FIN_WAIT_TIMEOUT / TCP_SLOW_INTERVAL));
        if (pcb->ooseq) { /* dropped when tcp_ticks - tmr >= rto * TCP_OOSEQ_TIMEOUT */
            u32_t limit = (u32_t)pcb->rto * TCP_OOSEQ_TIMEOUT;
            m = min_u32(m, limit == 0 ? 0 : slow_until_exceeds(pcb->tmr, limit - 1));
        }
        if (m != UINT32_MAX)
            n = min_u32(n, slow_tick(m));
    }
    for (const struct tcp_pcb *pcb = tcp_tw_pcbs; pcb; pcb = pcb->next)
        n = min_u32(n, slow_tick(slow_until_exceeds(pcb->tmr, 2 * TCP_MSL / TCP_SLOW_INTERVAL)));
    return n;
}

/* The effect of the timer's next `n` ticks (n <= skippable()), without firing them. */
static void skip_counters(uint32_t n) {
    uint32_t slow = slow_among(n);
    tcp_timer = (u8_t)(tcp_timer + n);
    tcp_timer_ctr = (u8_t)(tcp_timer_ctr + n + slow);
    tcp_ticks += slow;
    for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next) {
        pcb->last_timer = tcp_timer_ctr;
        if (slow == 0)
            continue;
        tcp_active_pcbs_changed = 0; /* cleared before each poll (core/tcp.c:1424) */
        pcb->polltmr = 0;
        if (pcb->persist_backoff > 0)
            pcb->persist_cnt = (u8_t)(pcb->persist_cnt + slow);
        else if (pcb->rtime >= 0)
            pcb->rtime = (s16_t)min_u32((uint32_t)pcb->rtime + slow, 0x7fff);
    }
    u32_t last_due = next_timeout->time + (u32_t)TCP_TMR_INTERVAL * (n - 1);
    next_timeout->time = last_due + TCP_TMR_INTERVAL;
    run.clock_ms = last_due;
    run.next_tick_slow ^= n & 1;
}

static uint8_t *check_lwip;
static struct run check_run;

static void skip(uint32_t n) {
    if (!check_skips) {
        skip_counters(n);
        return;
    }
    /* Fire them for real, keep the result, then skip from the same start and compare. */
    static uint8_t *before_lwip;
    static struct run before_run;
    size_t size = lwip_data_size() + lwip_bss_size();
    if (!before_lwip && !(before_lwip = malloc(size)))
        fail("out of memory");
    save(before_lwip, &before_run);
    int simulating = run.simulating;
    run.simulating = 1; /* what they send is a difference, not a packet */
    for (uint32_t i = 0; i < n; i++)
        if (!tick(UINT64_MAX))
            fail("a skipped tick was not due");
    run.simulating = simulating;
    save(check_lwip, &check_run);
    restore(before_lwip, &before_run);
    skip_counters(n);
    uint8_t *now_lwip = before_lwip;
    struct run now_run;
    save(now_lwip, &now_run);
    for (size_t i = 0; i < size; i++)
        if (now_lwip[i] != check_lwip[i]) {
            fprintf(stderr, "tcpcheck-lwip: skipping %u ticks differs from firing them at byte %zu of lwIP's state\n",
                    n, i);
            abort();
        }
    if (memcmp(&now_run, &check_run, sizeof now_run) != 0) {
        fprintf(stderr, "tcpcheck-lwip: skipping %u ticks differs from firing them in the harness's state\n", n);
        abort();
    }
}

/* Lets lwIP's time run to `to_ms`: every timer tick due by then at its own time, skipping
 * those that only move counters; at most MAX_TICKS fired. */
static void run_to(uint64_t to_ms) {
    for (unsigned fired = 0; fired < MAX_TICKS;) {
        u32_t sleep = sys_timeouts_sleeptime();
        if (sleep == SYS_TIMEOUTS_SLEEPTIME_INFINITE || run.clock_ms + sleep > to_ms)
            break;
        uint64_t due = (to_ms - (run.clock_ms + sleep)) / TCP_TMR_INTERVAL + 1; /* ticks due by to_ms */
        uint32_t n = min_u32(skippable(), (uint32_t)(due < UINT32_MAX ? due : UINT32_MAX));
        if (n > 0) {
            skip(n);
            continue;
        }
        tick(to_ms);
        fired++;
        if (fired == MAX_TICKS)
            fprintf(stderr, "tcpcheck-lwip: stopped after %u timer ticks\n", fired);
    }
    if (to_ms > run.clock_ms)
        run.clock_ms = to_ms;
}

static void advance_to(uint64_t to_us) {
    run_to(to_us / 1000);
}

/* ---- the deadline ---- */

static int state_now(void) {
    struct tcp_pcb *pcb = tuple_pcb();
    if (pcb)
        return (int)pcb->state; /* lwIP's enum tcp_state has the protocol's numbering */
    return run.listener ? TCPCHECK_STATE_LISTEN : TCPCHECK_STATE_CLOSED;
}

/*
 * The deadline: lwIP's timer run forward on a copy of its state until it sends or the
 * connection's state changes, skipping the ticks that cannot (so a 2-minute TIME-WAIT costs one
 * tick); the time of that tick, or no deadline if no tick can do anything within SIM_TICKS
 * fired ones. A tick at which an lwIP assertion fails counts as one where lwIP acts: the
 * assertion leaves the simulation (whose state is thrown away), and fails for real when
 * tcpcheck lets time run to it, so the crash is reported at the step where it happens.
 */
static uint64_t simulate(void) {
    static uint64_t at;
    if (skippable() == UINT32_MAX)
        return TCPCHECK_NO_DEADLINE; /* nothing pending: no need to copy anything */
    save(sim_lwip, &sim_run);
    run.simulating = 1;
    run.acted = 0;
    int before = state_now();
    at = TCPCHECK_NO_DEADLINE;
    if (setjmp(sim_exit) == 0) {
        for (unsigned fired = 0; fired < SIM_TICKS; fired++) {
            uint32_t n = skippable();
            if (n == UINT32_MAX)
                break;
            if (n > 0)
                skip(n);
            if (!tick(UINT64_MAX))
                break;
            if (run.acted || state_now() != before) {
                at = run.clock_ms * 1000;
                break;
            }
        }
    } else {
        at = run.clock_ms * 1000; /* the tick that failed an assertion */
    }
    restore(sim_lwip, &sim_run);
    return at;
}

/* ---- the stack protocol's callbacks ---- */

static void on_reset(void *ctx, uint64_t seed) {
    (void)ctx;
    restore(clean_lwip, &clean_run);
    run.seed = seed;
}

/* Calls and packets come after the library has let time run to `now` (on_advance). */
static void on_call(void *ctx, uint64_t now, enum tcpcheck_call call, const uint8_t *text, size_t len) {
    (void)ctx, (void)now;
    switch (call) {
    case TCPCHECK_OPEN_PASSIVE: open_conn(0); break;
    case TCPCHECK_OPEN_ACTIVE: open_conn(1); break;
    case TCPCHECK_SEND: send_text(text, len); break;
    case TCPCHECK_RECEIVE: receive(); break;
    case TCPCHECK_CLOSE: close_conn(); break;
    case TCPCHECK_ABORT: abort_conn(); break;
    }
    settle();
    run.deadline_known = 0;
}

static void on_packet(void *ctx, uint64_t now, const uint8_t *bytes, size_t len) {
    (void)ctx, (void)now;
    /* As a driver would: one PBUF_RAM pbuf per packet; one lwIP cannot hold is dropped. */
    struct pbuf *p = len <= 0xffff ? pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM) : NULL;
    if (p) {
        pbuf_take(p, bytes, (u16_t)len);
        if (run.netif.input(p, &run.netif) != ERR_OK)
            pbuf_free(p);
    }
    settle();
    run.deadline_known = 0;
}

static void on_advance(void *ctx, uint64_t to) {
    (void)ctx;
    advance_to(to);
    /* Ticks before the deadline changed nothing that shows; the one at it did. */
    if (run.deadline_known && run.deadline <= to)
        run.deadline_known = 0;
}

static int on_state(void *ctx) {
    (void)ctx;
    return state_now();
}

static uint64_t on_deadline(void *ctx) {
    (void)ctx;
    if (!run.deadline_known) {
        run.deadline = simulate();
        run.deadline_known = 1;
    }
    return run.deadline;
}

static unsigned on_can_call(void *ctx) {
    (void)ctx;
    unsigned calls = TCPCHECK_ALL_CALLS;
    if (run.listener)
        calls &= ~TCPCHECK_CALL_BIT(TCPCHECK_OPEN_ACTIVE);
    if (unaccepted())
        calls &= ~(TCPCHECK_CALL_BIT(TCPCHECK_CLOSE) | TCPCHECK_CALL_BIT(TCPCHECK_ABORT));
    return calls;
}

/*
 * What lwIP is, from its source (lwIP 2.1.3; files under src/, line numbers of that release):
 * - msl: TCP_MSL 60000 ms (include/lwip/priv/tcp_priv.h:137).
 * - time-wait: a TIME-WAIT pcb is freed when tcp_ticks - pcb->tmr > 2 * TCP_MSL /
 *   TCP_SLOW_INTERVAL (core/tcp.c:1446), 240 slow ticks of 500 ms: 120 s counted in ticks, so
 *   it ends between 120 s and 120.5 s after it began, at a slow tick. LAST-ACK times out the
 *   same way (core/tcp.c:1373).
 * - rto: pcb->rto = 3000 / TCP_SLOW_INTERVAL (core/tcp.c:1901), 6 slow ticks; rtime counts slow
 *   ticks from the segment's sending, so the first retransmission comes 2.5 to 3 s after it.
 *   Backoff doubles (tcp_backoff, core/tcp.c:1286-1290); a SYN is resent without backoff.
 * - max-retries: TCP_MAXRTX 12 (include/lwip/opt.h:1246, checked at core/tcp.c:1232); a SYN
 *   gives up after TCP_SYNMAXRTX 6 (opt.h:1253, core/tcp.c:1229). The pcb is freed at the next
 *   slow tick after the last retransmission, without a RST.
 * - window: TCP_WND 4 * TCP_MSS = 2144 (lwipopts.h, lwIP's default, opt.h:1239).
 * - mss: TCP_MSS 536 (lwipopts.h, lwIP's default, opt.h:1293), announced as is on an interface
 *   whose MTU allows it (core/tcp_out.c:1501).
 * - ack-delay: a delayed ACK goes at the next tcp_fasttmr (core/tcp.c:1493), every
 *   TCP_FAST_INTERVAL 250 ms (include/lwip/priv/tcp_priv.h:124).
 * - Not declared, as the table has no such timers: SYN-RECEIVED gives up after
 *   TCP_SYN_RCVD_TIMEOUT 20 s, and FIN-WAIT-2 after TCP_FIN_WAIT_TIMEOUT 20 s but only once the
 *   application closed both directions (tcp_priv.h:131-132, core/tcp.c:1316-1325, 1363-1367);
 *   the harness's CLOSE is a half close, so FIN-WAIT-2 waits for ever.
 * - timer-granularity: the slow tick, TCP_SLOW_INTERVAL 500 ms (tcp_priv.h:128): TIME-WAIT
 *   and a retransmission come at the first slow tick after their time.
 * - ack-throttle: none; lwIP 2.1.3 does not rate-limit the ACKs it sends for unacceptable
 *   segments.
 */
static const char hello[] = "name lwip " LWIP_VERSION_STRING "\n"
                            "clock virtual\n"
                            "msl 60s\n"
                            "time-wait 120s\n"
                            "rto 3s\n"
                            "max-retries 12\n"
                            "window 2144\n"
                            "mss 536\n"
                            "ack-delay 250ms\n"
                            "timer-granularity 500ms\n"
                            "isn seeded by RESET (a hash of the seed and the count of ISNs drawn)\n"
                            "stack 192.0.2.1:8080\n"
                            "peer 192.0.2.2:40000\n";

int main(void) {
    const char *check = getenv("TCPCHECK_LWIP_CHECK");
    check_skips = check && *check && strcmp(check, "0") != 0;

    IP_ADDR4(&stack_ip, 192, 0, 2, 1);
    IP_ADDR4(&peer_ip, 192, 0, 2, 2);
    lwip_init();
    ip4_addr_t addr, mask, gw;
    IP4_ADDR(&addr, 192, 0, 2, 1);
    IP4_ADDR(&mask, 255, 255, 255, 0);
    IP4_ADDR(&gw, 0, 0, 0, 0);
    if (!netif_add(&run.netif, &addr, &mask, &gw, NULL, netif_setup, ip_input))
        fail("netif_add failed");
    netif_set_default(&run.netif);
    netif_set_up(&run.netif);
    netif_set_link_up(&run.netif);
    /* The deadline and the tick stepping assume the TCP timer is lwIP's only timer, and it
     * only runs while a pcb is active: none may be pending now. */
    if (sys_timeouts_sleeptime() != SYS_TIMEOUTS_SLEEPTIME_INFINITE)
        fail("lwIP has a timer other than TCP's: check lwipopts.h");
    run.next_tick_slow = 1; /* tcp_timer starts at 0: the first tick is slow (core/tcp.c:189, 239) */

    size_t size = lwip_data_size() + lwip_bss_size();
    clean_lwip = malloc(size);
    sim_lwip = malloc(size);
    check_lwip = malloc(size);
    if (!clean_lwip || !sim_lwip || !check_lwip)
        fail("out of memory");
    save(clean_lwip, &clean_run);

    static const struct tcpcheck_stack stack = {
        .hello = hello,
        .reset = on_reset,
        .call = on_call,
        .packet = on_packet,
        .advance = on_advance,
        .state = on_state,
        .deadline = on_deadline,
        .can_call = on_can_call,
    };
    return tcpcheck_serve(&stack, NULL);
}
