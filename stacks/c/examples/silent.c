/*
 * silent: the smallest complete stack-protocol child. Its "stack" takes every call and packet
 * and never sends anything, cannot tell its state and has no timers. Against it, tcpcheck's
 * oracle reports the first step where a TCP should have answered.
 *
 *     cc -O2 -I stacks/c stacks/c/examples/silent.c stacks/c/tcpcheck_stack.c -o silent
 *     tcpcheck fuzz --stack exec:./silent --time 10s
 *
 * With the argument `fork` it resets as a fork server instead (reset = NULL), which exercises
 * the library's fork path with nothing else in the way. With `crash` as well, it aborts on every
 * SYN it is sent, as a stack's failed assertion would: the fork server reports each such death
 * with an `x` frame and serves the next run (tests/exec.rs checks that tcpcheck makes it a
 * `crash` finding).
 */
#include <stdlib.h>
#include <string.h>

static int crash_on_syn;

#include "tcpcheck_stack.h"

static void reset(void *ctx, uint64_t seed) {
    (void)ctx, (void)seed;
}

static void call(void *ctx, uint64_t now, enum tcpcheck_call call, const uint8_t *text, size_t len) {
    (void)ctx, (void)now, (void)call, (void)text, (void)len;
}

static void packet(void *ctx, uint64_t now, const uint8_t *p, size_t len) {
    (void)ctx, (void)now;
    /* The TCP flags: byte 13 of the TCP header, after an IPv4 header of IHL words. */
    size_t flags = len > 0 ? (size_t)(p[0] & 0x0f) * 4 + 13 : len;
    if (crash_on_syn && flags < len && (p[flags] & 0x02))
        abort();
}

static void advance(void *ctx, uint64_t to) {
    (void)ctx, (void)to;
}

static int state(void *ctx) {
    (void)ctx;
    return TCPCHECK_STATE_UNKNOWN;
}

static uint64_t deadline(void *ctx) {
    (void)ctx;
    return TCPCHECK_NO_DEADLINE;
}

int main(int argc, char **argv) {
    struct tcpcheck_stack stack = {
        .hello = "name silent 1\nclock virtual\nmsl 30s\nrto 1s\nmax-retries 5\nwindow 4096\nmss 536\n",
        .reset = reset,
        .call = call,
        .packet = packet,
        .advance = advance,
        .state = state,
        .deadline = deadline,
    };
    if (argc > 1 && strcmp(argv[1], "fork") == 0)
        stack.reset = NULL;
    crash_on_syn = argc > 2 && strcmp(argv[2], "crash") == 0;
    return tcpcheck_serve(&stack, NULL);
}
