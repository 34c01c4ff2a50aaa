/*
 * lwIP's port header for tcpcheck (a Linux process, little-endian, C99 with <stdint.h>): the
 * types and byte order come from lwIP's defaults in lwip/arch.h; what is set here is how lwIP
 * reports a problem.
 */
#ifndef TCPCHECK_LWIP_ARCH_CC_H
#define TCPCHECK_LWIP_ARCH_CC_H

/* A failed lwIP assertion ends the process with SIGABRT, which tcpcheck reports as a `crash`
 * finding with the message (the tail of stderr). Never stdout: it carries the protocol. Inside
 * the harness's look-ahead for the deadline it ends the look-ahead instead (harness.c). */
#if defined(__GNUC__)
__attribute__((noreturn))
#endif
void tcpcheck_lwip_assert(const char *message, int line, const char *file);
#define LWIP_PLATFORM_ASSERT(message) tcpcheck_lwip_assert(message, __LINE__, __FILE__)

/* lwIP's diagnostics (only with LWIP_DEBUG) go to stderr too: LWIP_PLATFORM_DIAG(("fmt", ...)). */
void tcpcheck_lwip_diag(const char *fmt, ...);
#define LWIP_PLATFORM_DIAG(args)                                                                                   \
    do {                                                                                                           \
        tcpcheck_lwip_diag args;                                                                                   \
    } while (0)

#endif /* TCPCHECK_LWIP_ARCH_CC_H */
