/*
 * lwIP's configuration for tcpcheck: the raw TCP API over IPv4 and one raw-IP network
 * interface, no operating system (NO_SYS), lwIP's own timers driven by the harness's virtual
 * clock. Everything not set here is lwIP's default (src/include/lwip/opt.h of lwIP 2.1.3), so
 * the TCP under test is lwIP's as shipped; the hello in harness.c declares the TCP parameters
 * that follow from it, with the lines they come from.
 *
 * Memory is sized so that a fuzz run never runs out (an allocation failure would make lwIP drop
 * or hold back segments, a difference the oracle would blame on TCP) and small enough that the
 * harness's snapshot of lwIP's state copies in a microsecond or so (harness.c, "Resetting").
 */
#ifndef TCPCHECK_LWIPOPTS_H
#define TCPCHECK_LWIPOPTS_H

#include <stdint.h>

/* No OS: no threads, no semaphores; the harness calls into lwIP from one thread. */
#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_NETCONN 0
#define LWIP_SOCKET 0

/* Memory: lwIP's heap (PBUF_RAM: segments being sent, packets being received, out-of-order
 * segments) and pools, all static arrays inside lwIP, so that they are part of the snapshot. */
#define MEM_ALIGNMENT 8
#define MEM_SIZE (16 * 1024)
#define MEMP_NUM_TCP_PCB 4
#define MEMP_NUM_TCP_PCB_LISTEN 2
#define MEMP_NUM_TCP_SEG 32
#define MEMP_NUM_PBUF 16
/* Input goes through PBUF_RAM (one packet, one allocation) and TCP sends from PBUF_RAM, so the
 * pool of fixed-size receive buffers is unused; it is as small as lwIP's sanity check allows
 * (init.c: TCP_WND must fit in the pool). */
#define PBUF_POOL_SIZE 5

/* The protocols: IPv4 and TCP on a raw-IP interface. No ARP, Ethernet, UDP, ICMP, DHCP,
 * fragmentation or reassembly: tcpcheck's peer sends TCP segments in whole IPv4 packets. */
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define LWIP_ICMP 0
#define LWIP_RAW 0
#define LWIP_UDP 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
#define IP_REASSEMBLY 0
#define IP_FRAG 0
#define LWIP_TCP 1

/* TCP: lwIP's defaults, written out because the hello declares them. The receive window is
 * TCP_WND (4 * TCP_MSS = 2144, opt.h default), no window scaling, no timestamps, no SACK. */
#define TCP_MSS 536
#define TCP_WND (4 * TCP_MSS)
/* The send buffer is twice lwIP's default (2 * TCP_MSS), so that the harness's own queue of
 * text lwIP cannot take yet (harness.c) is rarely used; TCP_SND_QUEUELEN follows from it. */
#define TCP_SND_BUF (4 * TCP_MSS)

/* Each SEND is a write on a TCP_NODELAY socket: tcp_write copies, Nagle is off per pcb. */

/* Initial sequence numbers from RESET's seed (harness.c): the same seed, the same run. The
 * addresses and ports are not mixed in: a run has one 4-tuple. */
uint32_t tcpcheck_lwip_isn(void);
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) tcpcheck_lwip_isn()

/* Checksums are computed and checked in software: a segment with a bad checksum is dropped by
 * lwIP, as by any host (opt.h defaults, written out). */
#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_TCP 1

/* No statistics, no debug output: nothing lwIP prints may reach stdout, which is the
 * protocol's. Assertions stay on (LWIP_NOASSERT is not defined): a failed one aborts, and
 * tcpcheck reports it as a crash (arch/cc.h). */
#define LWIP_STATS 0

#endif /* TCPCHECK_LWIPOPTS_H */
