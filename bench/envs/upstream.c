/* The benchmark's upstream app (bench/envs/run.sh builds it with `cc -O2`): a small single-threaded
 * epoll HTTP/1.1 server. Every request gets the same 13-byte 200 answer ("Hello, world\n", with
 * Content-Length, keep-alive unless the client asks otherwise), except a GET whose path ends in
 * `/ws` with `Upgrade: websocket`: an RFC 6455 handshake (SHA-1 and base64 done here, no library),
 * then every text or binary frame is echoed back unmasked with the same opcode and FIN bit, a ping
 * gets a pong, a close gets a close with the same payload and the connection ends.
 *
 * Listens on the unix socket $ATRIUM_SOCKET (how Atrium runs it inside an environment's sandbox:
 * uid without privileges, no network but lo) and/or on 127.0.0.1:PORT:
 *   upstream [-s SOCKET_PATH] [-p PORT]     (-s overrides $ATRIUM_SOCKET; at least one of the two)
 * Prints "upstream: listening ..." on stderr once it accepts connections. SIGTERM/SIGINT: exits 0
 * (the unix socket file is removed). Request bodies (Content-Length) are read and ignored; a chunked
 * request body is answered 411 and the connection closed. Headers above 64 KiB: 431 and close.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_HEADER (64 * 1024)
#define MAX_FRAME (16 * 1024 * 1024)
#define BODY "Hello, world\n"

/* ---- SHA-1 (FIPS 180-4) and base64, just enough for Sec-WebSocket-Accept ------------------------- */
static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const unsigned char *p) {
  uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
    else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
    else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
    else f = b ^ c ^ d, k = 0xCA62C1D6;
    uint32_t t = rol(a, 5) + f + e + k + w[i];
    e = d, d = c, c = rol(b, 30), b = a, a = t;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20]) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  unsigned char blk[64];
  size_t i = 0;
  for (; i + 64 <= len; i += 64) sha1_block(h, msg + i);
  size_t rest = len - i;
  memset(blk, 0, 64);
  memcpy(blk, msg + i, rest);
  blk[rest] = 0x80;
  if (rest >= 56) {
    sha1_block(h, blk);
    memset(blk, 0, 64);
  }
  uint64_t bits = (uint64_t)len * 8;
  for (int j = 0; j < 8; j++) blk[63 - j] = (unsigned char)(bits >> (8 * j));
  sha1_block(h, blk);
  for (int j = 0; j < 5; j++) out[4 * j] = h[j] >> 24, out[4 * j + 1] = h[j] >> 16, out[4 * j + 2] = h[j] >> 8, out[4 * j + 3] = h[j];
}

static size_t base64(const unsigned char *in, size_t n, char *out) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    out[o++] = t[v >> 18 & 63];
    out[o++] = t[v >> 12 & 63];
    out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? t[v & 63] : '=';
  }
  out[o] = 0;
  return o;
}

/* ---- connections ---------------------------------------------------------------------------------- */
typedef struct {
  char *p;
  size_t len, cap, off; /* unread data is p[off, len) */
} buf_t;

typedef struct {
  int fd;
  int ws;              /* after the upgrade: WebSocket frames */
  int closing;         /* close once the output is flushed */
  int want_out;        /* EPOLLOUT registered */
  size_t skip;         /* request body bytes still to discard */
  buf_t in, out;
} conn_t;

static int ep;
static conn_t **conns;
static int nconns;
static volatile sig_atomic_t stop;
static const char *sock_path;

static void on_signal(int s) { (void)s; stop = 1; }

static int buf_reserve(buf_t *b, size_t more) {
  if (b->off > 0 && b->off == b->len) b->off = b->len = 0;
  if (b->len + more <= b->cap) return 0;
  if (b->off > 0) { /* compact first */
    memmove(b->p, b->p + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    if (b->len + more <= b->cap) return 0;
  }
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) return -1;
  b->p = p;
  b->cap = cap;
  return 0;
}

static int buf_add(buf_t *b, const void *data, size_t n) {
  if (buf_reserve(b, n) < 0) return -1;
  memcpy(b->p + b->len, data, n);
  b->len += n;
  return 0;
}

static void conn_free(conn_t *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  conns[c->fd] = NULL;
  free(c->in.p);
  free(c->out.p);
  free(c);
}

/* Writes what it can; registers EPOLLOUT for the rest. -1: the connection is gone (freed). */
static int flush_out(conn_t *c) {
  while (c->out.off < c->out.len) {
    ssize_t w = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL);
    if (w > 0) {
      c->out.off += (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    conn_free(c);
    return -1;
  }
  int pending = c->out.off < c->out.len;
  if (!pending) {
    c->out.off = c->out.len = 0;
    if (c->closing) {
      shutdown(c->fd, SHUT_WR);
      conn_free(c);
      return -1;
    }
  }
  if (pending != c->want_out) {
    struct epoll_event ev = {.events = EPOLLIN | (pending ? EPOLLOUT : 0), .data.fd = c->fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = pending;
  }
  return 0;
}

/* Case-insensitive search for the header NAME in the header block [h, end); its trimmed value. */
static int header(const char *h, const char *end, const char *name, const char **val, size_t *vlen) {
  size_t nl = strlen(name);
  const char *line = memchr(h, '\n', (size_t)(end - h)); /* skip the request line */
  while (line && line + 1 < end) {
    const char *s = line + 1;
    const char *e = memchr(s, '\n', (size_t)(end - s));
    if (!e) e = end;
    if ((size_t)(e - s) > nl && s[nl] == ':' && strncasecmp(s, name, nl) == 0) {
      const char *v = s + nl + 1, *ve = e;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      *val = v;
      *vlen = (size_t)(ve - v);
      return 1;
    }
    line = e < end ? e : NULL;
  }
  return 0;
}

static int has_token(const char *v, size_t n, const char *tok) { /* comma-separated list contains tok */
  size_t tl = strlen(tok);
  for (size_t i = 0; i + tl <= n; i++)
    if (strncasecmp(v + i, tok, tl) == 0 && (i == 0 || v[i - 1] == ' ' || v[i - 1] == ',') &&
        (i + tl == n || v[i + tl] == ' ' || v[i + tl] == ',' || v[i + tl] == '\t'))
      return 1;
  return 0;
}

static int reply_simple(conn_t *c, int code, const char *reason, int head_only, int keep) {
  char hdr[256];
  int n = snprintf(hdr, sizeof hdr,
                   "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n%s", code, reason,
                   strlen(BODY), keep ? "" : "Connection: close\r\n", head_only ? "" : BODY);
  if (!keep) c->closing = 1;
  return buf_add(&c->out, hdr, (size_t)n);
}

/* One complete request head in [s, s + n) (n includes the blank line). 0: go on; -1: close now. */
static int handle_request(conn_t *c, const char *s, size_t n) {
  const char *end = s + n;
  const char *sp1 = memchr(s, ' ', n);
  if (!sp1) return -1;
  const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
  const char *eol = memchr(s, '\r', n);
  if (!sp2 || !eol || sp2 > eol) return -1;
  int http10 = (size_t)(eol - sp2 - 1) >= 8 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0;
  int head_only = sp1 - s == 4 && memcmp(s, "HEAD", 4) == 0;
  int get = sp1 - s == 3 && memcmp(s, "GET", 3) == 0;
  const char *v;
  size_t vl;
  int keep = !http10;
  if (header(s, end, "Connection", &v, &vl)) {
    if (has_token(v, vl, "close")) keep = 0;
    else if (has_token(v, vl, "keep-alive")) keep = 1;
  }
  if (header(s, end, "Transfer-Encoding", &v, &vl) && !(vl == 8 && strncasecmp(v, "identity", 8) == 0)) {
    static const char r411[] = "HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    c->closing = 1;
    return buf_add(&c->out, r411, sizeof r411 - 1);
  }
  if (header(s, end, "Content-Length", &v, &vl)) c->skip = strtoull(v, NULL, 10);

  /* the path without the query: does it end in /ws? */
  const char *path = sp1 + 1, *pend = memchr(path, '?', (size_t)(sp2 - path));
  if (!pend) pend = sp2;
  const char *up, *key;
  size_t ul, kl;
  if (get && pend - path >= 3 && memcmp(pend - 3, "/ws", 3) == 0 && header(s, end, "Upgrade", &up, &ul) &&
      has_token(up, ul, "websocket") && header(s, end, "Sec-WebSocket-Key", &key, &kl) && kl > 0 && kl < 100) {
    unsigned char cat[160], dig[20];
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    memcpy(cat, key, kl);
    memcpy(cat + kl, guid, sizeof guid - 1);
    sha1(cat, kl + sizeof guid - 1, dig);
    char acc[32], hdr[256];
    base64(dig, 20, acc);
    int hn = snprintf(hdr, sizeof hdr,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: %s\r\n\r\n", acc);
    c->ws = 1;
    c->skip = 0;
    return buf_add(&c->out, hdr, (size_t)hn);
  }
  return reply_simple(c, 200, "OK", head_only, keep);
}

/* Frames in c->in: echo. Returns 0, or -1 to close now. */
static int handle_frames(conn_t *c) {
  for (;;) {
    unsigned char *p = (unsigned char *)c->in.p + c->in.off;
    size_t avail = c->in.len - c->in.off;
    if (avail < 2) return 0;
    int fin = p[0] & 0x80, op = p[0] & 0x0f, masked = p[1] & 0x80;
    uint64_t len = p[1] & 0x7f;
    size_t hl = 2;
    if (len == 126) {
      if (avail < 4) return 0;
      len = (uint64_t)p[2] << 8 | p[3];
      hl = 4;
    } else if (len == 127) {
      if (avail < 10) return 0;
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
      hl = 10;
    }
    if (len > MAX_FRAME) return -1;
    size_t ml = masked ? 4 : 0;
    if (avail < hl + ml + len) return 0;
    unsigned char *payload = p + hl + ml;
    if (masked)
      for (uint64_t i = 0; i < len; i++) payload[i] ^= p[hl + i % 4];
    c->in.off += hl + ml + (size_t)len;
    if (op == 0x9) op = 0xA;       /* ping -> pong */
    else if (op == 0xA) continue;  /* unsolicited pong: ignore */
    unsigned char h[10];
    size_t n = 0;
    h[n++] = (unsigned char)((fin ? 0x80 : 0) | op);
    if (len < 126) h[n++] = (unsigned char)len;
    else if (len < 65536) h[n++] = 126, h[n++] = (unsigned char)(len >> 8), h[n++] = (unsigned char)len;
    else {
      h[n++] = 127;
      for (int i = 7; i >= 0; i--) h[n++] = (unsigned char)(len >> (8 * i));
    }
    if (buf_add(&c->out, h, n) < 0 || buf_add(&c->out, payload, (size_t)len) < 0) return -1;
    if (op == 0x8) {  /* close: answered, then done */
      c->closing = 1;
      c->in.off = c->in.len;
      return 0;
    }
  }
}

static void on_readable(conn_t *c) {
  for (;;) {
    if (buf_reserve(&c->in, 16384) < 0) {
      conn_free(c);
      return;
    }
    ssize_t r = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (r <= 0) { /* EOF or error: drop (anything queued goes unsent) */
      conn_free(c);
      return;
    }
    c->in.len += (size_t)r;
    if ((size_t)r < c->in.cap - c->in.len + (size_t)r) break; /* short read: drained */
  }
  while (!c->closing && c->in.off < c->in.len) {
    if (c->ws) {
      if (handle_frames(c) < 0) {
        conn_free(c);
        return;
      }
      break;
    }
    if (c->skip) { /* discard a request body */
      size_t n = c->in.len - c->in.off;
      if (n > c->skip) n = c->skip;
      c->in.off += n;
      c->skip -= n;
      continue;
    }
    const char *s = c->in.p + c->in.off;
    size_t avail = c->in.len - c->in.off;
    const char *e = memmem(s, avail, "\r\n\r\n", 4);
    if (!e) {
      if (avail > MAX_HEADER) {
        static const char r431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        buf_add(&c->out, r431, sizeof r431 - 1);
        c->closing = 1;
      }
      break;
    }
    size_t n = (size_t)(e - s) + 4;
    c->in.off += n;
    if (handle_request(c, s, n) < 0) {
      conn_free(c);
      return;
    }
  }
  if (c->in.off == c->in.len) c->in.off = c->in.len = 0;
  flush_out(c);
}

static void add_conn(int fd) {
  if (fd >= nconns) {
    int n = nconns ? nconns : 1024;
    while (n <= fd) n *= 2;
    conn_t **p = realloc(conns, sizeof *p * (size_t)n);
    if (!p) {
      close(fd);
      return;
    }
    memset(p + nconns, 0, sizeof *p * (size_t)(n - nconns));
    conns = p;
    nconns = n;
  }
  conn_t *c = calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    return;
  }
  c->fd = fd;
  conns[fd] = c;
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static int listen_unix(const char *path) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof a.sun_path) {
    fprintf(stderr, "upstream: socket path too long (%zu bytes, max %zu): %s\n", strlen(path), sizeof a.sun_path - 1, path);
    exit(2);
  }
  strcpy(a.sun_path, path);
  unlink(path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1024) < 0) {
    fprintf(stderr, "upstream: %s: %s\n", path, strerror(errno));
    exit(1);
  }
  chmod(path, 0666); /* the proxies may run as another uid */
  return fd;
}

static int listen_tcp(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1024) < 0) {
    fprintf(stderr, "upstream: 127.0.0.1:%d: %s\n", port, strerror(errno));
    exit(1);
  }
  return fd;
}

int main(int argc, char **argv) {
  int port = 0, opt;
  sock_path = getenv("ATRIUM_SOCKET");
  while ((opt = getopt(argc, argv, "s:p:")) != -1) {
    if (opt == 's') sock_path = optarg;
    else if (opt == 'p') port = atoi(optarg);
    else {
      fprintf(stderr, "usage: upstream [-s SOCKET_PATH] [-p PORT]  (default socket: $ATRIUM_SOCKET)\n");
      return 2;
    }
  }
  if ((!sock_path || !*sock_path) && port <= 0) {
    fprintf(stderr, "upstream: no $ATRIUM_SOCKET, -s or -p: nothing to listen on\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  ep = epoll_create1(EPOLL_CLOEXEC);
  int lu = -1, lt = -1;
  if (sock_path && *sock_path) {
    lu = listen_unix(sock_path);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lu};
    epoll_ctl(ep, EPOLL_CTL_ADD, lu, &ev);
  }
  if (port > 0) {
    lt = listen_tcp(port);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lt};
    epoll_ctl(ep, EPOLL_CTL_ADD, lt, &ev);
  }
  fprintf(stderr, "upstream: listening on%s%s%s", lu >= 0 ? " unix:" : "", lu >= 0 ? sock_path : "", lt >= 0 ? "" : "\n");
  if (lt >= 0) fprintf(stderr, " 127.0.0.1:%d\n", port);
  struct epoll_event evs[256];
  while (!stop) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("upstream: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lu || fd == lt) {
        for (;;) {
          int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) break;
          if (fd == lt) {
            int one = 1;
            setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          }
          add_conn(cfd);
        }
        continue;
      }
      conn_t *c = fd < nconns ? conns[fd] : NULL;
      if (!c) continue;
      if (evs[i].events & EPOLLOUT) {
        if (flush_out(c) < 0) continue;
      }
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
  }
  if (lu >= 0) unlink(sock_path);
  return 0;
}
