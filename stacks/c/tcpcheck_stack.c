/*
 * tcpcheck_stack.c: the child's side of the tcpcheck stack protocol; see tcpcheck_stack.h for
 * the API and docs/stack-protocol.md for the protocol.
 *
 * Requests are read in big chunks into one buffer and cut into frames there, so a request costs
 * no system call of its own. Answers are composed whole in a growable buffer and written when
 * the requests that have arrived are all answered (tcpcheck sends a RESET together with the
 * request after it): each frame goes out inside one write(), never split across two, so a child
 * that dies leaves no half frame behind it.
 *
 * The fork server (reset == NULL) keeps the request buffer in a shared mapping: the copy
 * serving a run reads requests from it as the parent would, and when the next RESET comes it
 * leaves the buffer just after that RESET, with a note of how its run ended, and exits. The
 * parent, which waited for it, reads the note and forks the next copy. Nothing is lost or read
 * twice, and no bytes are passed through a pipe between the two.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS on glibc */
#include "tcpcheck_stack.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif

/* The largest frame either side may send (type and body): docs/stack-protocol.md, "Frames". */
#define MAX_FRAME (1u << 20)

/* Bytes asked of each read(): many requests at once when tcpcheck has sent several. */
#define CHUNK (64u * 1024u)

/* The request buffer holds a whole frame of the largest size plus one chunk being read. */
#define INPUT_CAPACITY (4u + MAX_FRAME + CHUNK)

/* How a fork server's copy ended its run (struct input's `handoff`). */
enum handoff { RUNNING = 0, AT_RESET, AT_EOF, AT_ERROR };

/* Requests read and not yet taken; shared between a fork server and its copies. */
struct input {
    size_t start, end;  /* the unread bytes are data[start .. end) */
    uint64_t frames;    /* request frames taken so far (frame numbers in errors are 1-based) */
    uint64_t consumed;  /* stream bytes before data[0], for error offsets */
    size_t last;        /* where the last frame taken began in data, to give it back */
    int handoff;        /* enum handoff: set by a copy before it exits */
    uint64_t seed;      /* with AT_RESET: the seed of the RESET that ended the run */
    uint8_t data[INPUT_CAPACITY];
};

/* A growable byte buffer. */
struct buf {
    uint8_t *p;
    size_t len, cap;
};

/*
 * The shared-memory transport (docs/stack-protocol.md, "Shared memory"), if tcpcheck offered it
 * in TCPCHECK_SHM and the stack resets in place: requests and answers go through the mapped
 * file instead of the pipes. Layout: a 64-byte header (magic, version, capacity), then the
 * requests' header line (seq, waiting, len) and data, then the answers'.
 */
struct shm {
    uint8_t *base;
    size_t capacity;
    uint32_t seen[2]; /* the seq last seen or published, per way */
};
enum way { REQUESTS = 0, ANSWERS = 1 };

static struct {
    const struct tcpcheck_stack *stack;
    struct shm *shm;     /* NULL: the pipes */
    void *ctx;
    struct input *in;
    struct buf out;      /* answers composed and not yet written */
    struct buf packets;  /* packets sent since the last answer, each as u16 length + bytes */
    unsigned npackets;
    struct buf text;     /* what RECEIVE read */
    uint64_t now;        /* the time of the last request, µs since RESET */
    uint64_t seed;
    int stdout_gone;
} g;

/* Out of memory in the library is the child's crash: say so and abort, as an assertion would. */
static void grow(struct buf *b, size_t more) {
    if (b->cap - b->len >= more)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < more)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        fprintf(stderr, "tcpcheck_stack: out of memory (%zu bytes)\n", cap);
        abort();
    }
    b->p = p;
    b->cap = cap;
}

static void put(struct buf *b, const void *bytes, size_t n) {
    grow(b, n);
    if (n)
        memcpy(b->p + b->len, bytes, n);
    b->len += n;
}

static void put_le(struct buf *b, uint64_t v, int bytes) {
    uint8_t le[8];
    for (int i = 0; i < bytes; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    put(b, le, (size_t)bytes);
}

static uint64_t get_le(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void tcpcheck_output(const uint8_t *packet, size_t len) {
    /* A report holds at most 65535 packets of at most 65535 bytes each (u16 fields); an IPv4
     * packet is never longer. Beyond that the packet is dropped, as a full NIC queue drops. */
    if (len > 0xffff || g.npackets == 0xffff) {
        fprintf(stderr, "tcpcheck_stack: dropped a sent packet of %zu bytes (report full)\n", len);
        return;
    }
    put_le(&g.packets, len, 2);
    put(&g.packets, packet, len);
    g.npackets++;
}

void tcpcheck_text(const uint8_t *text, size_t len) {
    put(&g.text, text, len);
}

uint64_t tcpcheck_seed(void) {
    return g.seed;
}

static void shm_send(enum way way, const uint8_t *p, size_t len);

/* Writes everything composed, whatever short writes and signals do; 0, or -1 if stdout is gone.
 * Through shared memory, everything composed is one batch: the answers to one batch of
 * requests. */
static int flush(void) {
    if (g.shm) {
        if (g.out.len)
            shm_send(ANSWERS, g.out.p, g.out.len);
        g.out.len = 0;
        return 0;
    }
    size_t done = 0;
    while (done < g.out.len && !g.stdout_gone) {
        ssize_t n = write(STDOUT_FILENO, g.out.p + done, g.out.len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "tcpcheck_stack: cannot write stdout: %s\n", n < 0 ? strerror(errno) : "0 bytes written");
            g.stdout_gone = 1;
            break;
        }
        done += (size_t)n;
    }
    g.out.len = 0;
    return g.stdout_gone ? -1 : 0;
}

/* Appends a frame of `type` with the body `body` (len bytes) to the answers. */
static void frame(char type, const void *body, size_t len) {
    put_le(&g.out, len + 1, 4);
    put(&g.out, &type, 1);
    put(&g.out, body, len);
}

/* A malformed request: an `E` frame naming the frame and the byte of the stream it is at. */
static int refuse(uint64_t frame_no, uint64_t offset, const char *fmt, ...) {
    char message[512];
    int n = snprintf(message, sizeof message, "frame %llu at byte %llu: ", (unsigned long long)frame_no,
                     (unsigned long long)offset);
    va_list args;
    va_start(args, fmt);
    vsnprintf(message + n, sizeof message - (size_t)n, fmt, args);
    va_end(args);
    fprintf(stderr, "tcpcheck_stack: %s\n", message);
    frame('E', message, strlen(message));
    flush();
    return -1;
}

/*
 * Appends the report answering a request: state, calls, deadline, RECEIVE's text and the
 * packets sent since the last one. A report is one frame of at most MAX_FRAME bytes; packets
 * that would not fit are dropped (and said so on stderr), which only a stack flooding the wire
 * can cause.
 */
static void report(void) {
    const struct tcpcheck_stack *s = g.stack;
    int state = s->state(g.ctx);
    if (state < 0 || (state > TCPCHECK_STATE_TIME_WAIT && state != TCPCHECK_STATE_UNKNOWN))
        state = TCPCHECK_STATE_UNKNOWN;
    unsigned calls = s->can_call ? s->can_call(g.ctx) & TCPCHECK_ALL_CALLS : TCPCHECK_ALL_CALLS;
    uint64_t deadline = s->deadline(g.ctx);

    const size_t fixed = 1 + 1 + 1 + 8 + 4 + 2; /* type, state, calls, deadline, text length, count */
    if (g.text.len > MAX_FRAME - fixed) {
        fprintf(stderr, "tcpcheck_stack: RECEIVE's text cut to fit a frame\n");
        g.text.len = MAX_FRAME - fixed;
    }
    size_t room = MAX_FRAME - fixed - g.text.len, kept = 0;
    unsigned count = 0;
    while (count < g.npackets) {
        size_t size = 2 + (size_t)get_le(g.packets.p + kept, 2);
        if (kept + size > room)
            break;
        kept += size;
        count++;
    }
    if (count < g.npackets)
        fprintf(stderr, "tcpcheck_stack: %u sent packets dropped: more than a frame holds\n", g.npackets - count);

    put_le(&g.out, fixed + g.text.len + kept, 4);
    put(&g.out, "r", 1);
    uint8_t head[2] = {(uint8_t)state, (uint8_t)calls};
    put(&g.out, head, 2);
    put_le(&g.out, deadline, 8);
    put_le(&g.out, g.text.len, 4);
    put(&g.out, g.text.p, g.text.len);
    put_le(&g.out, count, 2);
    put(&g.out, g.packets.p, kept);
    g.text.len = 0;
    g.packets.len = 0;
    g.npackets = 0;
}

/* The header of `way`: seq, waiting and len, each a u32 the other process reads too. */
static uint32_t *shm_word(enum way way, int index) {
    size_t header = way == REQUESTS ? 64 : 128 + ((g.shm->capacity + 63) / 64) * 64;
    return (uint32_t *)(g.shm->base + header) + index;
}

static uint8_t *shm_data(enum way way) {
    return (uint8_t *)shm_word(way, 0) + 64;
}

static void futex(uint32_t *word, int op, uint32_t value, const struct timespec *timeout) {
#ifdef __linux__
    /* Not FUTEX_PRIVATE: the word is shared with tcpcheck's process. */
    syscall(SYS_futex, word, op, value, timeout, NULL, 0);
#else
    (void)word, (void)op, (void)value, (void)timeout;
#endif
}

/* Publishes a batch: data, then len, then seq (sequentially consistent), then a wake if the
 * other side said it sleeps. */
static void shm_send(enum way way, const uint8_t *p, size_t len) {
    if (len > g.shm->capacity) {
        fprintf(stderr, "tcpcheck_stack: an answer batch of %zu bytes exceeds the shared area\n", len);
        abort();
    }
    memcpy(shm_data(way), p, len);
    __atomic_store_n(shm_word(way, 2), (uint32_t)len, __ATOMIC_RELAXED);
    __atomic_store_n(shm_word(way, 0), ++g.shm->seen[way], __ATOMIC_SEQ_CST);
    if (__atomic_exchange_n(shm_word(way, 1), 0, __ATOMIC_SEQ_CST))
        futex(shm_word(way, 0), FUTEX_WAKE, 1, NULL);
}

/* Whether stdin has ended (tcpcheck is gone), without waiting. */
static int stdin_ended(void) {
    struct pollfd fd = {.fd = STDIN_FILENO, .events = POLLIN};
    return poll(&fd, 1, 0) > 0;
}

/*
 * Waits for the next batch of requests and copies it to `to` (room for `room` bytes): its
 * length, or 0 when tcpcheck is gone. Spins about a microsecond (tcpcheck is usually busy on
 * the other core for less), yields a while (it may be waiting for this core), then sleeps on
 * the futex in slices of 10 ms, looking at stdin between them.
 */
static ssize_t shm_recv(uint8_t *to, size_t room) {
    uint32_t *seq = shm_word(REQUESTS, 0), last = g.shm->seen[REQUESTS];
    int ready = 0;
    for (int i = 0; i < 32 && !ready; i++)
        ready = __atomic_load_n(seq, __ATOMIC_ACQUIRE) != last;
    for (int i = 0; i < 64 && !ready; i++) {
        sched_yield();
        ready = __atomic_load_n(seq, __ATOMIC_ACQUIRE) != last;
    }
    while (!ready) {
        __atomic_store_n(shm_word(REQUESTS, 1), 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(seq, __ATOMIC_SEQ_CST) == last) {
            struct timespec slice = {0, 10 * 1000 * 1000};
            futex(seq, FUTEX_WAIT, last, &slice);
        }
        ready = __atomic_load_n(seq, __ATOMIC_ACQUIRE) != last;
        if (!ready && stdin_ended())
            return 0;
    }
    g.shm->seen[REQUESTS] = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
    size_t len = __atomic_load_n(shm_word(REQUESTS, 2), __ATOMIC_ACQUIRE);
    if (len > room || len > g.shm->capacity) {
        fprintf(stderr, "tcpcheck_stack: a request batch of %zu bytes does not fit\n", len);
        abort();
    }
    memcpy(to, shm_data(REQUESTS), len);
    return (ssize_t)len;
}

/* Maps the file tcpcheck names in TCPCHECK_SHM, if it is a transport file of version 1. */
static struct shm *shm_open_offered(void) {
    const char *path = getenv("TCPCHECK_SHM");
    if (!path)
        return NULL;
    int fd = open(path, O_RDWR);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 128) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    uint8_t *base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED)
        return NULL;
    static struct shm shm;
    uint32_t head[3];
    memcpy(head, base, sizeof head);
    size_t capacity = head[2], need = 128 + 2 * ((capacity + 63) / 64 * 64) + 128;
    /* "TCPS", version 1, and a file as long as its capacity says. */
    if (head[0] != 0x53504354u || head[1] != 1 || need > (size_t)st.st_size) {
        munmap(base, (size_t)st.st_size);
        return NULL;
    }
    shm.base = base;
    shm.capacity = capacity;
    return &shm;
}

/*
 * Takes the next request frame: 1 and its type and body, 0 at a clean end of stdin, -1 after a
 * malformed frame or a read error (answered with `E`). Answers composed so far are written
 * before waiting for more input: tcpcheck waits for them before it sends the next request.
 */
static int next_frame(char *type, const uint8_t **body, size_t *len) {
    struct input *in = g.in;
    for (;;) {
        size_t have = in->end - in->start;
        if (have >= 4) {
            uint64_t n = get_le(in->data + in->start, 4);
            if (n == 0 || n > MAX_FRAME)
                return refuse(in->frames + 1, in->consumed + in->start,
                              "a frame length of 1 to %u bytes, not %llu", MAX_FRAME, (unsigned long long)n);
            if (have >= 4 + n) {
                in->last = in->start;
                *type = (char)in->data[in->start + 4];
                *body = in->data + in->start + 5;
                *len = (size_t)n - 1;
                in->start += 4 + (size_t)n;
                in->frames++;
                return 1;
            }
        }
        if (flush() < 0)
            return -1;
        /* Room for a chunk: move the unread part to the front when the end is near. */
        if (INPUT_CAPACITY - in->end < CHUNK) {
            memmove(in->data, in->data + in->start, have);
            in->consumed += in->start;
            in->start = 0;
            in->end = have;
        }
        ssize_t got = g.shm ? shm_recv(in->data + in->end, INPUT_CAPACITY - in->end)
                            : read(STDIN_FILENO, in->data + in->end, INPUT_CAPACITY - in->end);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return refuse(in->frames + 1, in->consumed + in->end, "cannot read stdin: %s", strerror(errno));
        if (got == 0) {
            if (have == 0)
                return 0;
            return refuse(in->frames + 1, in->consumed + in->start, "stdin ended in the middle of the frame");
        }
        in->end += (size_t)got;
    }
}

/* Gives the frame next_frame returned last back, to be taken again. */
static void unread_frame(void) {
    g.in->start = g.in->last;
    g.in->frames--;
}

/* Byte offset in the stream of byte `at` of the last frame's body, for errors. */
static uint64_t body_offset(const uint8_t *body, size_t at) {
    return g.in->consumed + (uint64_t)(body - g.in->data) + at;
}

/* Reads a u64 field off a body, or refuses the frame saying which field was missing. */
static int field(const uint8_t *body, size_t len, size_t at, uint64_t *v, const char *what) {
    if (len < at + 8)
        return refuse(g.in->frames, body_offset(body, at), "expected %s (8 bytes), but the frame ends after %zu bytes",
                      what, len);
    *v = get_le(body + at, 8);
    return 0;
}

/* A RESET's seed; the run starts afresh: clock at 0, nothing reported from before. */
static int start_run(const uint8_t *body, size_t len) {
    if (field(body, len, 0, &g.seed, "a u64 seed") < 0)
        return -1;
    g.now = 0;
    return 0;
}

static void clear_reports(void) {
    g.packets.len = 0;
    g.npackets = 0;
    g.text.len = 0;
}

/* Lets time run to `now` before an input, as the protocol asks, if it is later. */
static void catch_up(uint64_t now) {
    if (now > g.now) {
        g.stack->advance(g.ctx, now);
        g.now = now;
    }
}

/* Answers a C, P or A request; -1 if it is malformed (answered with `E`). */
static int serve_request(char type, const uint8_t *body, size_t len) {
    const struct tcpcheck_stack *s = g.stack;
    uint64_t t;
    switch (type) {
    case 'C':
        if (field(body, len, 0, &t, "a u64 time") < 0)
            return -1;
        if (len < 9)
            return refuse(g.in->frames, body_offset(body, 8),
                          "expected a call number (1 byte), but the frame ends after %zu bytes", len);
        if (body[8] > TCPCHECK_ABORT)
            return refuse(g.in->frames, body_offset(body, 8),
                          "expected a call number from 0 to 5 (OPEN-PASSIVE .. ABORT), not %u", body[8]);
        catch_up(t);
        s->call(g.ctx, t, (enum tcpcheck_call)body[8], body + 9, len - 9);
        break;
    case 'P':
        if (field(body, len, 0, &t, "a u64 time") < 0)
            return -1;
        catch_up(t);
        s->packet(g.ctx, t, body + 8, len - 8);
        break;
    case 'A':
        if (field(body, len, 0, &t, "a u64 time") < 0)
            return -1;
        /* Always called, even for the current time: a timer may be due right now. */
        s->advance(g.ctx, t);
        if (t > g.now)
            g.now = t;
        break;
    default:
        return refuse(g.in->frames, body_offset(body, 0) - 1, "expected a request type (R, C, P or A), not %s%c%s",
                      type > ' ' && type < 127 ? "`" : "byte ", type > ' ' && type < 127 ? type : '?',
                      type > ' ' && type < 127 ? "`" : "");
    }
    report();
    return 0;
}

/* Serves requests with reset in place until stdin ends: 0, or -1 after an error. */
static int serve_in_place(void) {
    char type;
    const uint8_t *body;
    size_t len;
    int got;
    while ((got = next_frame(&type, &body, &len)) > 0) {
        if (type == 'R') {
            if (start_run(body, len) < 0)
                return -1;
            g.stack->reset(g.ctx, g.seed);
            clear_reports(); /* what the old connections sent while being torn down is not news */
            report();
        } else if (serve_request(type, body, len) < 0) {
            return -1;
        }
    }
    return got < 0 ? -1 : (flush() < 0 ? -1 : 0);
}

/* In a fork server's copy: serves one run, until the next RESET, the end of stdin or an error. */
static enum handoff serve_run(void) {
    char type;
    const uint8_t *body;
    size_t len;
    int got;
    while ((got = next_frame(&type, &body, &len)) > 0) {
        if (type == 'R') {
            if (field(body, len, 0, &g.in->seed, "a u64 seed") < 0)
                return AT_ERROR;
            return flush() < 0 ? AT_ERROR : AT_RESET;
        }
        if (serve_request(type, body, len) < 0)
            return AT_ERROR;
    }
    return got < 0 || flush() < 0 ? AT_ERROR : AT_EOF;
}

static const char *signal_name(int sig) {
    switch (sig) {
    case SIGABRT: return "SIGABRT";
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGSYS: return "SIGSYS";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    case SIGQUIT: return "SIGQUIT";
    case SIGPIPE: return "SIGPIPE";
    case SIGALRM: return "SIGALRM";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    default: return "a signal";
    }
}

/*
 * The fork server: the process as initialised is never touched; each run is served by a fresh
 * fork()ed copy of it, from its RESET to the next. A copy that dies any other way is reported
 * with an `x` frame in place of the answer it did not give, and the requests left of its run
 * (tcpcheck sends none after a crash, but some may have been on the way) are skipped up to
 * the next RESET. Requests before the first RESET are served as a run with seed 0.
 */
static int fork_server(void) {
    struct input *in = g.in;
    int crashed = 0;
    char type;
    const uint8_t *body;
    size_t len;
    for (;;) {
        int got = next_frame(&type, &body, &len);
        if (got <= 0)
            return got < 0 ? -1 : 0;
        int answer_reset = type == 'R';
        if (answer_reset) {
            if (start_run(body, len) < 0)
                return -1;
        } else if (crashed) {
            continue;
        } else {
            unread_frame();
            g.seed = 0;
            g.now = 0;
        }
        for (;;) { /* one copy per run, as long as runs end at a RESET */
            in->handoff = RUNNING;
            pid_t pid = fork();
            if (pid < 0)
                return refuse(in->frames, in->consumed + in->start, "cannot fork a copy of the stack: %s", strerror(errno));
            if (pid == 0) {
                clear_reports();
                if (answer_reset)
                    report();
                in->handoff = serve_run();
                flush();
                _exit(0);
            }
            int status;
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && in->handoff != RUNNING) {
                if (in->handoff == AT_EOF)
                    return 0;
                if (in->handoff == AT_ERROR)
                    return -1;
                g.seed = in->seed; /* AT_RESET: the next run */
                g.now = 0;
                answer_reset = 1;
                crashed = 0;
                continue;
            }
            char what[96];
            if (WIFSIGNALED(status))
                snprintf(what, sizeof what, "killed by signal %d (%s)", WTERMSIG(status), signal_name(WTERMSIG(status)));
            else
                snprintf(what, sizeof what, "exited with status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            frame('x', what, strlen(what));
            if (flush() < 0)
                return -1;
            crashed = 1;
            break;
        }
    }
}

int tcpcheck_serve(const struct tcpcheck_stack *stack, void *ctx) {
    /* A vanished tcpcheck is a failed write and an error return, not a death by SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    g.stack = stack;
    g.ctx = ctx;
    /* Shared so that a fork server's copies read on from where the last one stopped; the
     * pages are touched only as far as requests reach. */
    g.in = mmap(NULL, sizeof *g.in, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g.in == MAP_FAILED) {
        fprintf(stderr, "tcpcheck_stack: cannot map the request buffer: %s\n", strerror(errno));
        return 1;
    }
    memset(g.in, 0, offsetof(struct input, data));

    /* Shared memory only with a reset in place: a fork server's copies read the pipes. */
    struct shm *shm = stack->reset ? shm_open_offered() : NULL;
    static const char first[] = "tcpcheck-stack 1\n", shared[] = "transport shm\n";
    const char *hello = stack->hello ? stack->hello : "";
    const char *transport = shm ? shared : "";
    put_le(&g.out, 1 + strlen(first) + strlen(hello) + strlen(transport), 4);
    put(&g.out, "H", 1);
    put(&g.out, first, strlen(first));
    put(&g.out, hello, strlen(hello));
    put(&g.out, transport, strlen(transport));
    if (flush() < 0)
        return 1;
    g.shm = shm; /* from here on, frames go through it */

    int result = stack->reset ? serve_in_place() : fork_server();
    return result < 0 ? 1 : 0;
}
