/*
 * Timestamp servers in C on epoll, written plainly, for the benchmark to measure ours against:
 * about the least a server can do for this protocol on this machine, so its figures are the
 * machine's limit rather than a language's.
 *
 *   cc -O2 -Wall -Wextra -o /tmp/epoll_server bench/peers/epoll_server.c
 *   /tmp/epoll_server tcp|ss|udp [PORT [HOST]]
 *   /tmp/epoll_server tcp|ss /PATH              (on a Unix socket)
 *
 * - tcp: a reply to each read of up to 1024 bytes: the stamp and the bytes, in one write.
 * - ss: one line per connection, as the book's SocketServer: read up to the newline (or 1024
 *   bytes), reply with the stamp and the line, then close.
 * - udp: each datagram (cut to 1024 bytes, as recvfrom(1024)) back to its sender, stamped.
 *
 * The stamp is `[` + the time as Python's time.ctime() writes it + `] `, made again only when
 * the second changes. Binds 127.0.0.1, port 0 (any free one) unless told otherwise, and prints
 * "listening on PORT" (or the path) once bound. SIGTERM or SIGINT: exit 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUFSIZ_READ 1024
#define STAMP_MAX 64

enum mode { TCP, SS, UDP };

/* A connection: for ss the line so far; for both, the rest of a reply the socket had no room
 * for (then it is written before anything more is read). */
struct conn {
	int fd;
	bool more;     /* ss: the client sent more than its line (or may have) */
	bool draining; /* ss: replied and shut, with more sent: read until the client closes */
	size_t line_len, pending_len, pending_off;
	char line[BUFSIZ_READ];
	char pending[STAMP_MAX + BUFSIZ_READ];
};

static enum mode mode;
static int ep;
static const char *unix_path;
static char stamp[STAMP_MAX];
static size_t stamp_len;
static time_t stamp_time = -1;

/* `[Thu Jun  4 19:56:18 2020] `: the C locale's names are ctime()'s. */
static void update_stamp(void)
{
	time_t t = time(NULL);
	if (t == stamp_time)
		return;
	struct tm tm;
	char text[STAMP_MAX - 4];
	localtime_r(&t, &tm);
	strftime(text, sizeof text, "%a %b %e %H:%M:%S %Y", &tm);
	stamp_len = (size_t)snprintf(stamp, sizeof stamp, "[%s] ", text);
	stamp_time = t;
}

static void on_stop(int sig)
{
	(void)sig;
	if (unix_path)
		unlink(unix_path);
	_exit(0);
}

static void drop(struct conn *c)
{
	close(c->fd); /* also takes it out of the epoll set */
	free(c);
}

static void watch(struct conn *c, int op, unsigned events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};
	epoll_ctl(ep, op, c->fd, &ev);
}

/* ss: the reply is out: shut our side (the client reads to end-of-file), then close. If the
 * client sent more than its line, closing with those bytes unread would send a reset, which
 * could destroy the reply before the client reads it: read them away until the client closes. */
static void finish_ss(struct conn *c, bool more)
{
	shutdown(c->fd, SHUT_WR);
	if (!more) {
		drop(c);
		return;
	}
	c->draining = true;
	watch(c, EPOLL_CTL_MOD, EPOLLIN);
}

/* Writes `len` bytes; what the socket takes not now waits for EPOLLOUT. False if the peer has
 * gone (and the connection was dropped). */
static bool reply(struct conn *c, const char *bytes, size_t len)
{
	ssize_t n = send(c->fd, bytes, len, MSG_NOSIGNAL);
	if (n < 0 && errno != EAGAIN) {
		drop(c);
		return false;
	}
	size_t done = n < 0 ? 0 : (size_t)n;
	if (done < len) {
		memcpy(c->pending, bytes + done, len - done);
		c->pending_len = len - done;
		c->pending_off = 0;
		watch(c, EPOLL_CTL_MOD, EPOLLOUT);
	}
	return true;
}

/* EPOLLOUT: the rest of a reply. */
static void write_pending(struct conn *c)
{
	ssize_t n = send(c->fd, c->pending + c->pending_off, c->pending_len, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno != EAGAIN)
			drop(c);
		return;
	}
	c->pending_off += (size_t)n;
	c->pending_len -= (size_t)n;
	if (c->pending_len > 0)
		return;
	if (mode == SS)
		finish_ss(c, c->more);
	else
		watch(c, EPOLL_CTL_MOD, EPOLLIN);
}

static void on_tcp(struct conn *c)
{
	char buf[STAMP_MAX + BUFSIZ_READ];
	update_stamp();
	ssize_t n = read(c->fd, buf + stamp_len, BUFSIZ_READ);
	if (n <= 0) {
		if (n == 0 || errno != EAGAIN)
			drop(c);
		return;
	}
	memcpy(buf, stamp, stamp_len);
	reply(c, buf, stamp_len + (size_t)n);
}

static void on_ss(struct conn *c)
{
	if (c->draining) {
		char scratch[BUFSIZ_READ];
		ssize_t n = read(c->fd, scratch, sizeof scratch);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			drop(c);
		return;
	}
	size_t room = BUFSIZ_READ - c->line_len;
	ssize_t n = read(c->fd, c->line + c->line_len, room);
	if (n < 0) {
		if (errno != EAGAIN)
			drop(c);
		return;
	}
	if (n == 0 && c->line_len == 0) {
		drop(c); /* gone without a line */
		return;
	}
	size_t from = c->line_len, end = c->line_len + (size_t)n;
	char *newline = memchr(c->line + from, '\n', end - from);
	size_t len = newline ? (size_t)(newline - c->line) + 1 : end;
	c->line_len = end;
	if (!newline && n > 0 && end < BUFSIZ_READ)
		return; /* more of the line to come */
	/* A line, a full buffer, or the client's end-of-file after part of a line: reply. */
	char buf[STAMP_MAX + BUFSIZ_READ];
	update_stamp();
	memcpy(buf, stamp, stamp_len);
	memcpy(buf + stamp_len, c->line, len);
	/* Bytes past the line, or perhaps some unread (the read filled the buffer). */
	c->more = n > 0 && (len < end || (size_t)n == room);
	if (!reply(c, buf, stamp_len + len))
		return;
	if (c->pending_len == 0)
		finish_ss(c, c->more);
}

static void on_udp(int fd)
{
	char buf[STAMP_MAX + BUFSIZ_READ];
	for (;;) {
		struct sockaddr_storage from;
		socklen_t from_len = sizeof from;
		update_stamp();
		ssize_t n = recvfrom(fd, buf + stamp_len, BUFSIZ_READ, 0, (struct sockaddr *)&from,
				     &from_len);
		if (n < 0)
			return; /* EAGAIN: all read */
		memcpy(buf, stamp, stamp_len);
		/* A sender that has gone is no reason to stop. */
		sendto(fd, buf, stamp_len + (size_t)n, 0, (struct sockaddr *)&from, from_len);
	}
}

static void on_accept(int listener)
{
	for (;;) {
		int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN: all taken; or out of files: the next event tries again */
		struct conn *c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		if (mode == TCP && !unix_path) {
			int one = 1; /* a reply per read: never hold one back */
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		}
		watch(c, EPOLL_CTL_ADD, EPOLLIN);
	}
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	const char *given = argc > 1 ? argv[1] : "tcp";
	const char *port = argc > 2 ? argv[2] : "0", *host = argc > 3 ? argv[3] : "127.0.0.1";
	if (strcmp(given, "tcp") == 0)
		mode = TCP;
	else if (strcmp(given, "ss") == 0)
		mode = SS;
	else if (strcmp(given, "udp") == 0)
		mode = UDP;
	else {
		fprintf(stderr, "usage: epoll_server tcp|ss|udp [PORT [HOST]] | tcp|ss /PATH\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	tzset();

	int socktype = mode == UDP ? SOCK_DGRAM : SOCK_STREAM;
	int type = socktype | SOCK_NONBLOCK | SOCK_CLOEXEC;
	int fd;
	char where[128];
	if (port[0] == '/') {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		if (mode == UDP || strlen(port) >= sizeof sun.sun_path) {
			fprintf(stderr, "epoll_server: a Unix socket is for tcp and ss, at a short path\n");
			return 2;
		}
		strcpy(sun.sun_path, port);
		unlink(port); /* a stale socket from an earlier run */
		if ((fd = socket(AF_UNIX, type, 0)) < 0 ||
		    bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0)
			die(port);
		unix_path = port;
		snprintf(where, sizeof where, "%s", port);
	} else {
		struct addrinfo hints = {.ai_socktype = socktype, .ai_flags = AI_PASSIVE}, *res;
		int err = getaddrinfo(host, port, &hints, &res);
		if (err) {
			fprintf(stderr, "epoll_server: %s port %s: %s\n", host, port, gai_strerror(err));
			return 1;
		}
		int one = 1;
		if ((fd = socket(res->ai_family, type, 0)) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
		    bind(fd, res->ai_addr, res->ai_addrlen) < 0)
			die("epoll_server: bind");
		freeaddrinfo(res);
		struct sockaddr_storage bound;
		socklen_t len = sizeof bound;
		getsockname(fd, (struct sockaddr *)&bound, &len);
		int number = ntohs(bound.ss_family == AF_INET6
					   ? ((struct sockaddr_in6 *)&bound)->sin6_port
					   : ((struct sockaddr_in *)&bound)->sin_port);
		snprintf(where, sizeof where, "%d", number);
	}
	if (mode != UDP && listen(fd, SOMAXCONN) < 0)
		die("epoll_server: listen");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_server: epoll");
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}; /* NULL: the listener */
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_server: epoll");
	printf("listening on %s\n", where);
	fflush(stdout);

	struct epoll_event events[256];
	for (;;) {
		int n = epoll_wait(ep, events, 256, -1);
		for (int i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;
			if (!c && mode == UDP)
				on_udp(fd);
			else if (!c)
				on_accept(fd);
			else if (c->pending_len > 0)
				write_pending(c);
			else if (mode == TCP)
				on_tcp(c);
			else
				on_ss(c);
		}
	}
}
