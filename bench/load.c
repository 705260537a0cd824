/*
 * load.c: a load generator for timestamp servers, in C, single-threaded on epoll.
 *
 * Why: the benchmark (bench/bench.ts) drives every server with scripts/tsLoad.ts, which spends
 * about 12.8 us of its own CPU per request; at a few tens of thousands of requests per second
 * that core is full, and the figures then say more about tsLoad than about the server. This
 * program does the same work (the same payloads, the same checks of every reply, the same JSON
 * figures as LoadResult in lib/extras/load.ts) with little more than the system calls a
 * request needs: a write and a read, a share of an epoll_wait, and for --proto ss a socket,
 * connect and close. Nothing is allocated per request.
 *
 *   cc -O2 -Wall -Wextra -o /tmp/load bench/load.c
 *   /tmp/load --proto tcp -c 16 -d 3 -p PORT            # against a tsTserv on PORT
 *   /tmp/load --proto ss -c 16 -d 3 --unix /tmp/ts.sock  # a tsTservSS on a Unix socket
 *   /tmp/load --proto udp -c 16 -d 3 -p PORT --timeout 1
 *
 * - tcp: each client keeps one connection and one request in flight: it sends its payload,
 *   reads until a stamp and the payload have come back (27 + size bytes), checks them and sends
 *   the next.
 * - ss: a new connection per request: connect, send the line, read the stamp and the line, then
 *   end-of-file; the latency runs from the start of the connect to the end-of-file.
 * - udp: a connect()ed socket per client; a reply that has not come within --timeout counts as
 *   lost and the next request goes out. A late reply (our payload, with an older number) is
 *   ignored.
 *
 * Each payload is `size` bytes, byte i = 'a' + (i + client) % 26, the first digits (up to 12)
 * the client's request number, and for ss a newline last: a late or misdirected reply cannot
 * pass for the right one. A wrong reply, a server that closes early, or a failed connect counts
 * as an error (the first 8 messages are kept, with counts); the client closes and tries again
 * 50 ms later. --warmup seconds come first (only errors count in them), then -d seconds are
 * measured; replies in flight at the deadline get 500 ms, then everything is closed: the
 * process ends within warmup + d + about 1 s whatever the server does.
 *
 * Prints one JSON object on stdout (--json is accepted, and changes nothing). Exit code 0 if
 * every reply was right, 1 if not or if none came, or if nothing listens at the start; 2 for a
 * bad command line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define STAMP_LENGTH 27
#define MAX_SIZE 1024 /* what a server reads at once: a reply is then one stamp + payload */
#define MAX_CONNS 10000
#define MAX_DIGITS 12
#define MAX_ERROR_KINDS 8
#define RETRY_NS (50 * 1000000LL)
#define GRACE_NS (500 * 1000000LL)
#define MAX_EVENTS 512

static const char NOT_STAMP[] = "a reply that is not a stamp and the payload";
static const char MORE_BYTES[] = "more bytes than the reply";

enum proto { TCP, SS, UDP };

/*
 * What a client is doing. RETRY: waiting 50 ms after a failure. CONNECTING and SENDING: its
 * request is not all written yet. WAITING: for the reply. ENDING: ss, the reply has come, now
 * the end-of-file.
 */
enum state { IDLE, RETRY, CONNECTING, SENDING, WAITING, ENDING };

struct client {
	int fd;
	uint8_t state;
	bool served;    /* a right reply while measuring */
	bool measured;  /* udp: the request in flight was sent while measuring */
	bool connected; /* tcp, ss: a byte has been written on this connection */
	bool out_armed; /* tcp, ss: EPOLLOUT asked for on this connection */
	uint32_t sent, got;
	uint64_t n;     /* the next request number */
	int64_t t0;     /* when the request in flight started */
	int64_t due;    /* RETRY: when to try again */
	uint8_t *payload, *buf;
};

/* The run, shared by its clients. */
static enum proto proto = TCP;
static int conns = 16, size = 64, port = -1;
static double duration = 10, warmup = 0, timeout_s = 1;
static const char *host = "127.0.0.1", *unix_path;
static struct sockaddr_storage server_addr;
static socklen_t server_len;
static char server_name[160];

static int ep;
static struct client *clients;
static uint32_t expected, bufcap, digits;
static bool running = true, measuring, cut_off;
static int busy; /* clients with a request (or a connection attempt) under way */
static uint64_t requests, errors, lost, refused;
static int64_t now;

static struct {
	char text[160];
	uint64_t count;
} kinds[MAX_ERROR_KINDS];
static int nkinds;

/* A FIFO of clients waiting to retry: every wait is 50 ms, so the order of entry is the order
 * of their due times, and each client is in it at most once. */
static int *retry_ring;
static int retry_head, retry_len;

static int64_t clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/*
 * Latencies in ns, log-linear: exact below 256 ns, then 128 buckets per power of two (each at
 * most 1/128 of its value wide, so under 0.4% from its middle), up to 2^36 ns (68 s).
 */
#define SUB_BITS 7
#define SUB_COUNT (1 << SUB_BITS)
#define LINEAR (2 * SUB_COUNT)
#define TOP_BIT 36
#define BUCKETS (LINEAR + (TOP_BIT - SUB_BITS - 1) * SUB_COUNT)

static uint64_t hist[BUCKETS], hist_count;
static int64_t hist_max;

static int bucket_of(int64_t v)
{
	if (v < LINEAR)
		return v < 1 ? 1 : (int)v;
	if (v >= (1LL << TOP_BIT))
		v = (1LL << TOP_BIT) - 1;
	int e = 63 - __builtin_clzll((uint64_t)v); /* >= SUB_BITS + 1 */
	return LINEAR + (e - SUB_BITS - 1) * SUB_COUNT + (int)((v >> (e - SUB_BITS)) - SUB_COUNT);
}

/* The middle of a bucket, in ns. */
static double bucket_value(int i)
{
	if (i < LINEAR)
		return i;
	int k = i - LINEAR, e = k / SUB_COUNT + SUB_BITS + 1;
	int64_t width = 1LL << (e - SUB_BITS);
	return (double)((SUB_COUNT + k % SUB_COUNT) * width) + (width - 1) / 2.0;
}

static void hist_record(int64_t ns)
{
	hist[bucket_of(ns)]++;
	hist_count++;
	if (ns > hist_max)
		hist_max = ns;
}

/* As HdrHistogram reckons it (node:perf_hooks, which tsLoad uses): the value under which
 * `percent` of the count lies. */
static double percentile_ms(double percent)
{
	uint64_t want = (uint64_t)(percent / 100 * hist_count + 0.5), seen = 0;
	if (want < 1)
		want = 1;
	for (int i = 0; i < BUCKETS; i++) {
		seen += hist[i];
		if (seen >= want) {
			double v = bucket_value(i);
			return (v > hist_max ? hist_max : v) / 1e6;
		}
	}
	return hist_max / 1e6;
}

/* The stamp: `[Thu Jun  4 19:56:18 2020] `, as Python's time.ctime() writes the time. */
static const char WEEKDAYS[] = "SunMonTueWedThuFriSat";
static const char MONTHS[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
static uint8_t last_stamp[STAMP_LENGTH];
static bool have_stamp;

static bool in_list(const uint8_t *p, const char *list, int count)
{
	for (int i = 0; i < count; i++)
		if (memcmp(p, list + 3 * i, 3) == 0)
			return true;
	return false;
}

static bool digit(uint8_t b) { return b >= '0' && b <= '9'; }

static bool is_stamp(const uint8_t *s)
{
	return s[0] == '[' && in_list(s + 1, WEEKDAYS, 7) && s[4] == ' ' &&
	       in_list(s + 5, MONTHS, 12) && s[8] == ' ' && (s[9] == ' ' || (s[9] >= '1' && s[9] <= '3')) &&
	       digit(s[10]) && s[11] == ' ' && digit(s[12]) && digit(s[13]) && s[14] == ':' &&
	       digit(s[15]) && digit(s[16]) && s[17] == ':' && digit(s[18]) && digit(s[19]) &&
	       s[20] == ' ' && digit(s[21]) && digit(s[22]) && digit(s[23]) && digit(s[24]) &&
	       s[25] == ']' && s[26] == ' ';
}

/* The stamp changes once a second: the last good one is kept, and mostly a memcmp does. */
static bool stamp_ok(const uint8_t *s)
{
	if (have_stamp && memcmp(s, last_stamp, STAMP_LENGTH) == 0)
		return true;
	if (!is_stamp(s))
		return false;
	memcpy(last_stamp, s, STAMP_LENGTH);
	have_stamp = true;
	return true;
}

static void failed(const char *text)
{
	if (cut_off)
		return; /* closed by us, not the server's fault */
	errors++;
	for (int i = 0; i < nkinds; i++) {
		if (strcmp(kinds[i].text, text) == 0) {
			kinds[i].count++;
			return;
		}
	}
	if (nkinds < MAX_ERROR_KINDS) {
		snprintf(kinds[nkinds].text, sizeof kinds[nkinds].text, "%s", text);
		kinds[nkinds++].count = 1;
	}
}

static bool is_busy(int state) { return state >= CONNECTING; }

static void set_state(struct client *c, int state)
{
	busy += is_busy(state) - is_busy(c->state);
	c->state = (uint8_t)state;
}

/* Writes request number n into the payload's digits. */
static void number(struct client *c)
{
	uint64_t n = c->n++;
	for (int i = (int)digits - 1; i >= 0; i--) {
		c->payload[i] = (uint8_t)('0' + n % 10);
		n /= 10;
	}
}

static void answered(struct client *c)
{
	if (!measuring)
		return;
	requests++;
	c->served = true;
	hist_record(now - c->t0);
}

static void close_fd(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd); /* also takes it out of the epoll set */
	c->fd = -1;
}

/* After a failure: close (tcp, ss), and try again in 50 ms if the run goes on. */
static void retry_later(struct client *c)
{
	if (proto != UDP)
		close_fd(c);
	if (!running) {
		set_state(c, IDLE);
		return;
	}
	set_state(c, RETRY);
	c->due = now + RETRY_NS;
	retry_ring[(retry_head + retry_len++) % conns] = (int)(c - clients);
}

static void fail(struct client *c, const char *text)
{
	failed(text);
	retry_later(c);
}

static void fail_errno(struct client *c, const char *prefix, int err)
{
	char text[160];
	snprintf(text, sizeof text, "%s%s", prefix, strerror(err));
	fail(c, text);
}

static void stream_connect(struct client *c);

/* Writes what is left of the request; on a connection just begun, this is also how a failed
 * connect shows. */
static void send_rest(struct client *c)
{
	while (c->sent < (uint32_t)size) {
		ssize_t n = send(c->fd, c->payload + c->sent, size - c->sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (!c->out_armed) {
					struct epoll_event ev = {
						.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
						.data.u32 = (uint32_t)(c - clients)};
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
					c->out_armed = true;
				}
				return;
			}
			fail_errno(c, c->connected ? "" : "cannot connect: ", errno);
			return;
		}
		c->connected = true;
		c->sent += (uint32_t)n;
	}
	c->got = 0;
	set_state(c, WAITING);
}

/* tcp: the next request on the same connection. */
static void send_next(struct client *c)
{
	number(c);
	c->t0 = now;
	c->sent = 0;
	set_state(c, SENDING);
	send_rest(c);
}

/*
 * A new connection, and (for ss) its request. On loopback the handshake is mostly done by the
 * time connect() returns, so the request is written at once and epoll is asked only for the
 * reply; else it waits for EPOLLOUT. Edge-triggered, so the events asked for never change.
 */
static void stream_connect(struct client *c)
{
	int family = unix_path ? AF_UNIX : server_addr.ss_family;
	now = clock_ns();
	c->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fail_errno(c, "cannot connect: ", errno);
		return;
	}
	if (proto == TCP && !unix_path) {
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	if (connect(c->fd, (struct sockaddr *)&server_addr, server_len) < 0 && errno != EINPROGRESS) {
		fail_errno(c, "cannot connect: ", errno);
		return;
	}
	number(c);
	c->t0 = now;
	c->sent = 0;
	c->connected = false;
	set_state(c, CONNECTING);
	for (;;) { /* the first write, as send_rest but without touching epoll yet */
		ssize_t n = send(c->fd, c->payload + c->sent, size - c->sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			fail_errno(c, c->connected ? "" : "cannot connect: ", errno);
			return;
		}
		c->connected = true;
		c->sent += (uint32_t)n;
		if (c->sent == (uint32_t)size)
			break;
	}
	bool done = c->sent == (uint32_t)size;
	c->out_armed = !done;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (done ? 0 : EPOLLOUT),
				 .data.u32 = (uint32_t)(c - clients)};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		fail_errno(c, "", errno);
		return;
	}
	if (done) {
		c->got = 0;
		set_state(c, WAITING);
	} else if (c->connected) {
		set_state(c, SENDING);
	}
}

/* ss: the reply and its end-of-file have come. */
static void ss_done(struct client *c)
{
	answered(c);
	close_fd(c);
	if (running)
		stream_connect(c);
	else
		set_state(c, IDLE);
}

/*
 * Reads what has come. Edge-triggered: the buffer holds more than a whole reply, so a read that
 * does not fill it has emptied the socket, and the next bytes (or end-of-file) bring a new
 * event.
 */
static void stream_read(struct client *c, uint32_t events)
{
	uint32_t room = bufcap - c->got;
	ssize_t n = recv(c->fd, c->buf + c->got, room, 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			fail_errno(c, "", errno);
		return;
	}
	if (n == 0) {
		if (c->state == ENDING)
			ss_done(c);
		else
			fail(c, c->got == 0 ? "the server closed the connection"
					    : "the server closed in mid-reply");
		return;
	}
	if (c->state == ENDING) {
		fail(c, MORE_BYTES);
		return;
	}
	c->got += (uint32_t)n;
	/* Tell a server that does not stamp its replies (an echo server, say) at once. */
	if (c->buf[0] != '[' || (c->got >= STAMP_LENGTH && !stamp_ok(c->buf))) {
		fail(c, NOT_STAMP);
		return;
	}
	if (c->got > expected) {
		fail(c, MORE_BYTES);
		return;
	}
	if (c->got < expected)
		return;
	if (memcmp(c->buf + STAMP_LENGTH, c->payload, size) != 0) {
		fail(c, NOT_STAMP);
		return;
	}
	now = clock_ns();
	if (proto == SS) {
		/* The end-of-file has come already if the event said so and the read took all. */
		if ((events & EPOLLRDHUP) && (uint32_t)n < room)
			ss_done(c);
		else
			set_state(c, ENDING);
		return;
	}
	answered(c);
	if (running) {
		send_next(c);
	} else {
		close_fd(c);
		set_state(c, IDLE);
	}
}

static void stream_event(struct client *c, uint32_t events)
{
	if (c->state == CONNECTING || c->state == SENDING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		send_rest(c);
		if (c->state != WAITING)
			return;
	}
	if (c->state == WAITING || c->state == ENDING)
		stream_read(c, events);
}

/* udp: the request in flight counts as lost, if it was sent while measuring. */
static void udp_lost(struct client *c)
{
	if (c->measured)
		lost++;
	c->measured = false;
}

static void udp_send(struct client *c)
{
	number(c);
	c->t0 = now;
	c->measured = measuring;
	set_state(c, WAITING);
	if (send(c->fd, c->payload, size, 0) < 0) {
		if (errno == ECONNREFUSED && running) {
			/* Nothing listens there (an ICMP port unreachable came back): lost. */
			refused++;
			udp_lost(c);
			retry_later(c);
			return;
		}
		failed(strerror(errno)); /* then it times out, as a datagram lost would */
	}
}

/* Whether the datagram is the reply to an earlier request of ours, already counted lost. */
static bool udp_late(struct client *c, ssize_t n)
{
	return n == (ssize_t)expected &&
	       memcmp(c->buf + STAMP_LENGTH + digits, c->payload + digits, size - digits) == 0;
}

static void udp_event(struct client *c)
{
	ssize_t n = recv(c->fd, c->buf, bufcap, MSG_TRUNC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		if (errno == ECONNREFUSED && running) {
			refused++;
			if (c->state == WAITING) {
				udp_lost(c);
				retry_later(c);
			}
			return;
		}
		failed(strerror(errno));
		return;
	}
	now = clock_ns();
	if (c->state == WAITING && n == (ssize_t)expected &&
	    memcmp(c->buf + STAMP_LENGTH, c->payload, size) == 0 && stamp_ok(c->buf)) {
		c->measured = false;
		answered(c);
		if (running)
			udp_send(c);
		else
			set_state(c, IDLE);
		return;
	}
	if (udp_late(c, n))
		return;
	failed(NOT_STAMP);
	if (c->state != WAITING)
		return;
	c->measured = false; /* answered, if wrongly */
	if (running)
		udp_send(c);
	else
		set_state(c, IDLE);
}

/* udp: requests unanswered for --timeout are lost; the next one goes out. */
static void udp_check(int64_t timeout_ns)
{
	for (int i = 0; i < conns; i++) {
		struct client *c = &clients[i];
		if (c->state == WAITING && now - c->t0 >= timeout_ns) {
			udp_lost(c);
			udp_send(c);
		}
	}
}

static void run_retries(void)
{
	while (retry_len > 0) {
		struct client *c = &clients[retry_ring[retry_head]];
		if (c->state == RETRY && c->due > now)
			return;
		retry_head = (retry_head + 1) % conns;
		retry_len--;
		if (c->state != RETRY)
			continue;
		if (!running)
			set_state(c, IDLE);
		else if (proto == UDP)
			udp_send(c);
		else
			stream_connect(c);
	}
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: load --proto tcp|ss|udp -c CONNS -d SECONDS [--warmup SECONDS] [--size BYTES]\n"
		"            [--timeout SECONDS] (-p PORT [--host HOST] | --unix PATH)\n"
		"  -c, --conns N       clients at once, each with one request in flight (1 to %d)\n"
		"  -d, --duration S    seconds measured\n"
		"      --warmup S      seconds of load first, not counted (default 0)\n"
		"      --size N        payload bytes, a newline included for ss (2 to %d, default 64)\n"
		"      --timeout S     udp: a reply is lost after this long (default 1)\n"
		"  -p, --port N        server port, at --host (default 127.0.0.1)\n"
		"      --unix PATH     tcp and ss: a Unix socket instead\n"
		"Prints one JSON object with the figures.\n",
		MAX_CONNS, MAX_SIZE);
}

static void bad(const char *fmt, ...)
{
	va_list args;
	va_start(args, fmt);
	fprintf(stderr, "load: ");
	vfprintf(stderr, fmt, args);
	fprintf(stderr, "\n");
	va_end(args);
	usage(stderr);
	exit(2);
}

static long whole(const char *name, const char *text, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < min || v > max) {
		fprintf(stderr, "load: %s must be a whole number from %ld to %ld, not \"%s\"\n", name,
			min, max, text);
		exit(2);
	}
	return v;
}

static double seconds_arg(const char *name, const char *text, bool zero)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || end == text || *end || !(v >= 0) || (!zero && v == 0) || v > 3600) {
		fprintf(stderr, "load: %s must be seconds, %s 3600, not \"%s\"\n", name,
			zero ? "0 to" : "more than 0, up to", text);
		exit(2);
	}
	return v;
}

static void parse(int argc, char **argv)
{
	static const struct option options[] = {
		{"proto", required_argument, 0, 'P'}, {"conns", required_argument, 0, 'c'},
		{"duration", required_argument, 0, 'd'}, {"warmup", required_argument, 0, 'W'},
		{"size", required_argument, 0, 's'}, {"timeout", required_argument, 0, 'T'},
		{"port", required_argument, 0, 'p'}, {"host", required_argument, 0, 'H'},
		{"unix", required_argument, 0, 'U'}, {"json", no_argument, 0, 'J'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	bool host_given = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:d:p:h", options, NULL)) != -1) {
		switch (opt) {
		case 'P':
			if (strcmp(optarg, "tcp") == 0)
				proto = TCP;
			else if (strcmp(optarg, "ss") == 0)
				proto = SS;
			else if (strcmp(optarg, "udp") == 0)
				proto = UDP;
			else
				bad("--proto must be tcp, ss or udp, not \"%s\"", optarg);
			break;
		case 'c': conns = (int)whole("--conns", optarg, 1, MAX_CONNS); break;
		case 'd': duration = seconds_arg("--duration", optarg, false); break;
		case 'W': warmup = seconds_arg("--warmup", optarg, true); break;
		case 's': size = (int)whole("--size", optarg, 2, MAX_SIZE); break;
		case 'T': timeout_s = seconds_arg("--timeout", optarg, false); break;
		case 'p': port = (int)whole("--port", optarg, 1, 65535); break;
		case 'H': host = optarg; host_given = true; break;
		case 'U': unix_path = optarg; break;
		case 'J': break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2); /* getopt has said what was wrong */
		}
	}
	if (optind < argc)
		bad("unexpected argument \"%s\"", argv[optind]);
	if (unix_path) {
		if (proto == UDP)
			bad("--unix is for tcp and ss");
		if (port >= 0 || host_given)
			bad("--unix goes instead of -p and --host");
	} else if (port < 0) {
		bad("-p PORT (or --unix PATH) is needed");
	}
}

/* Finds the server's address once: every client then uses it, with no lookup per connection. */
static void resolve(void)
{
	if (unix_path) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&server_addr;
		if (strlen(unix_path) >= sizeof sun->sun_path)
			bad("--unix path too long: %s", unix_path);
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, unix_path);
		server_len = sizeof *sun;
		snprintf(server_name, sizeof server_name, "unix:%s", unix_path);
		return;
	}
	struct addrinfo hints = {.ai_socktype = proto == UDP ? SOCK_DGRAM : SOCK_STREAM}, *res;
	char service[16];
	snprintf(service, sizeof service, "%d", port);
	int err = getaddrinfo(host, service, &hints, &res);
	if (err) {
		fprintf(stderr, "load: cannot find %s: %s\n", host, gai_strerror(err));
		exit(1);
	}
	memcpy(&server_addr, res->ai_addr, res->ai_addrlen);
	server_len = res->ai_addrlen;
	freeaddrinfo(res);
	char text[INET6_ADDRSTRLEN];
	if (server_addr.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&server_addr)->sin6_addr, text, sizeof text);
		snprintf(server_name, sizeof server_name, "[%s]:%d", text, port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&server_addr)->sin_addr, text, sizeof text);
		snprintf(server_name, sizeof server_name, "%s:%d", text, port);
	}
}

/* tcp, ss: one connection first, within 1 s, so that a wrong port is one clear error rather
 * than a run of failures. */
static void reachable(void)
{
	int fd = socket(server_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int err = 0;
	if (fd < 0) {
		err = errno;
	} else if (connect(fd, (struct sockaddr *)&server_addr, server_len) < 0) {
		err = errno;
		if (err == EINPROGRESS) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			socklen_t len = sizeof err;
			if (poll(&p, 1, 1000) <= 0)
				err = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				err = errno;
		}
	}
	if (err) {
		fprintf(stderr, "load: cannot connect to %s: %s\n", server_name, strerror(err));
		exit(1);
	}
	close(fd);
}

/* Enough open files for every client's socket, if the hard limit allows. */
static void enough_files(void)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)conns + 16;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < need) {
			fprintf(stderr, "load: %d clients need more open files than allowed (ulimit -n)\n",
				conns);
			exit(1);
		}
	}
}

/* A JSON string: a path or an error message may hold anything. */
static void json_string(const char *text)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void print_json(double seconds, double cpu)
{
	uint64_t served = 0;
	for (int i = 0; i < conns; i++)
		served += clients[i].served;
	static const char *names[] = {"tcp", "ss", "udp"};
	printf("{\"proto\":\"%s\",\"server\":", names[proto]);
	json_string(server_name);
	printf(",\"conns\":%d,\"size\":%d,\"seconds\":%.6f,\"stoppedInWarmup\":false,"
	       "\"requests\":%llu,\"rate\":%.3f,",
	       conns, size, seconds, (unsigned long long)requests, seconds > 0 ? requests / seconds : 0);
	if (hist_count == 0)
		printf("\"latency\":{\"p50\":null,\"p90\":null,\"p99\":null,\"max\":null},");
	else
		printf("\"latency\":{\"p50\":%.6f,\"p90\":%.6f,\"p99\":%.6f,\"max\":%.6f},",
		       percentile_ms(50), percentile_ms(90), percentile_ms(99), hist_max / 1e6);
	printf("\"errors\":%llu,\"errorKinds\":{", (unsigned long long)errors);
	for (int i = 0; i < nkinds; i++) {
		if (i)
			putchar(',');
		json_string(kinds[i].text);
		printf(":%llu", (unsigned long long)kinds[i].count);
	}
	printf("},\"lost\":%llu,\"connsServed\":%llu,\"loadCpu\":%.4f}\n", (unsigned long long)lost,
	       (unsigned long long)served, seconds > 0 ? cpu / seconds : 0);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	parse(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	resolve();
	if (proto != UDP)
		reachable();
	enough_files();

	expected = STAMP_LENGTH + (uint32_t)size;
	bufcap = 2 * expected; /* room past a whole reply: a read that fills it has too much */
	digits = (uint32_t)(proto == SS ? size - 1 : size);
	if (digits > MAX_DIGITS)
		digits = MAX_DIGITS;
	size_t stride = ((size_t)size + bufcap + 63) & ~(size_t)63;
	uint8_t *arena = aligned_alloc(64, stride * conns);
	clients = calloc(conns, sizeof *clients);
	retry_ring = calloc(conns, sizeof *retry_ring);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!arena || !clients || !retry_ring || ep < 0) {
		perror("load");
		return 1;
	}
	for (int id = 0; id < conns; id++) {
		struct client *c = &clients[id];
		c->fd = -1;
		c->payload = arena + stride * id;
		c->buf = c->payload + size;
		for (int i = 0; i < size; i++)
			c->payload[i] = (uint8_t)('a' + (i + id) % 26);
		if (proto == SS)
			c->payload[size - 1] = '\n';
	}

	int64_t start = clock_ns(), timeout_ns = (int64_t)(timeout_s * 1e9);
	int64_t warm_end = start + (int64_t)(warmup * 1e9), measure_end = 0, grace_end = 0;
	int64_t measured_from = start, check_every = timeout_ns / 4, next_check = 0;
	if (check_every > RETRY_NS)
		check_every = RETRY_NS;
	double cpu_from = cpu_seconds(), cpu = 0, seconds = 0;
	enum { WARMING, MEASURING, GRACE } phase = WARMING;
	if (warmup == 0) {
		phase = MEASURING;
		measuring = true;
		measure_end = start + (int64_t)(duration * 1e9);
	}

	now = start;
	for (int id = 0; id < conns; id++) {
		struct client *c = &clients[id];
		if (proto != UDP) {
			stream_connect(c);
			continue;
		}
		c->fd = socket(server_addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)id};
		if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&server_addr, server_len) < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			fprintf(stderr, "load: cannot open %d UDP sockets: %s\n", conns, strerror(errno));
			return 1;
		}
		now = clock_ns();
		udp_send(c);
	}
	next_check = clock_ns() + check_every;

	struct epoll_event events[MAX_EVENTS];
	for (;;) {
		now = clock_ns();
		if (phase == WARMING && now >= warm_end) {
			phase = MEASURING;
			measuring = true;
			measured_from = now;
			measure_end = now + (int64_t)(duration * 1e9);
			cpu_from = cpu_seconds();
		}
		if (phase == MEASURING && now >= measure_end) {
			/* Replies in flight are still checked, but no longer counted. */
			seconds = (now - measured_from) / 1e9;
			cpu = cpu_seconds() - cpu_from;
			measuring = running = false;
			phase = GRACE;
			grace_end = now + GRACE_NS;
		}
		if (phase == GRACE && (busy == 0 || now >= grace_end))
			break;
		run_retries();
		if (proto == UDP && running && now >= next_check) {
			udp_check(timeout_ns);
			next_check = now + check_every;
		}

		int64_t next = phase == WARMING ? warm_end : phase == MEASURING ? measure_end : grace_end;
		if (retry_len > 0 && clients[retry_ring[retry_head]].due < next)
			next = clients[retry_ring[retry_head]].due;
		if (proto == UDP && running && next_check < next)
			next = next_check;
		int64_t wait = next - clock_ns();
		int ms = wait <= 0 ? 0 : (int)((wait + 999999) / 1000000);
		int n = epoll_wait(ep, events, MAX_EVENTS, ms);
		for (int i = 0; i < n; i++) {
			struct client *c = &clients[events[i].data.u32];
			if (proto == UDP)
				udp_event(c);
			else if (c->fd >= 0)
				stream_event(c, events[i].events);
		}
	}

	/* Cut off: what is still open is closed by us, and failures from here on are ours. */
	cut_off = true;
	for (int i = 0; i < conns; i++) {
		if (proto == UDP && clients[i].state == WAITING)
			udp_lost(&clients[i]);
		close_fd(&clients[i]);
	}
	print_json(seconds, cpu);
	return errors > 0 || requests == 0 ? 1 : 0;
}
