/* deny_networks: parses CIDR block lists and judges the socket addresses
 * fetches are about to connect to against them. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/netfilter.h"

/* One block, compact: the network address in network byte order (only the
 * first 4 bytes are used for IPv4) and its prefix length. */
struct block {
	uint8_t addr[16];
	uint8_t prefix;
	uint8_t is_v6;
};

struct netfilter {
	struct block *blocks;   /* in the order they were configured */
	size_t n, cap;
};

/* Separators are spelled out rather than taken from isspace(3), so the
 * locale cannot change what splits a list. */
static const char separators[] = ", \t\n\v\f\r";

/* Longest entry worth handing to inet_pton: an IPv6 address with an embedded
 * IPv4 tail plus "/128". Anything longer is not an address. */
#define ENTRY_MAX (INET6_ADDRSTRLEN + 4)

static bool is_separator(char c)
{
	return c != '\0' && strchr(separators, c) != NULL;
}

static void set_error(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (!err || err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

/* The mask for byte `i` of an address under a /prefix. */
static uint8_t byte_mask(unsigned prefix, size_t i)
{
	if (prefix >= 8 * (i + 1))
		return 0xff;
	if (prefix <= 8 * i)
		return 0;
	return (uint8_t)(0xff << (8 - (prefix - 8 * i)));
}

/* Whether `addr` (`len` bytes) lies inside network `net`/prefix. */
static bool in_block(const uint8_t *net, unsigned prefix, const uint8_t *addr, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t m = byte_mask(prefix, i);
		if (m == 0)
			break;
		if ((addr[i] & m) != net[i])
			return false;
	}
	return true;
}

/* The prefix after '/': plain decimal digits only, no sign, no leading
 * zeros (so "/08" cannot be read as anything but an error), at most `max`.
 * Returns the prefix or -1 if malformed, -2 if out of range. */
static int parse_prefix(const char *s, unsigned max)
{
	size_t n = strlen(s);
	unsigned v = 0;

	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v > max ? -2 : (int)v;
}

/* Parses one entry (`len` bytes at `entry`, no separators in it). */
static int parse_entry(const char *entry, size_t len, struct block *ret, char *err,
		       size_t err_size)
{
	/* Shown in messages; long junk is cut so the message stays readable. */
	int shown = len > 200 ? 200 : (int)len;
	char buf[ENTRY_MAX + 1];
	struct block b = { .prefix = 0 };
	int family, prefix;
	unsigned max;
	char *slash;

	if (len > ENTRY_MAX) {
		set_error(err, err_size, "%.*s%s: not an IPv4 or IPv6 address or CIDR block",
			  shown, entry, len > (size_t)shown ? "..." : "");
		return -EINVAL;
	}
	memcpy(buf, entry, len);
	buf[len] = '\0';

	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';

	/* inet_pton(AF_INET6) refuses "%zone" anyway; a precise message saves
	 * the reader from guessing, and a zone would not restrict anything. */
	if (strchr(buf, '%')) {
		set_error(err, err_size, "%.*s: zone ids are not allowed in deny_networks",
			  shown, entry);
		return -EINVAL;
	}

	family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	max = family == AF_INET6 ? 128 : 32;
	if (inet_pton(family, buf, b.addr) != 1) {
		set_error(err, err_size, "%.*s: not an IPv4 or IPv6 address", shown, entry);
		return -EINVAL;
	}
	b.is_v6 = family == AF_INET6;

	if (slash) {
		prefix = parse_prefix(slash + 1, max);
		if (prefix == -1) {
			set_error(err, err_size, "%.*s: the prefix length must be a number from 0 to %u",
				  shown, entry, max);
			return -EINVAL;
		}
		if (prefix == -2) {
			set_error(err, err_size, "%.*s: prefix length out of range (0 to %u)",
				  shown, entry, max);
			return -EINVAL;
		}
	} else {
		prefix = (int)max;
	}
	b.prefix = (uint8_t)prefix;

	/* "10.0.0.1/8" is most likely a typo for a host or for 10.0.0.0/8;
	 * guessing either could deny too little, so refuse and suggest. */
	bool host_bits = false;
	struct block masked = b;
	for (size_t i = 0; i < max / 8; i++) {
		masked.addr[i] = (uint8_t)(b.addr[i] & byte_mask(b.prefix, i));
		host_bits |= masked.addr[i] != b.addr[i];
	}
	if (host_bits) {
		char text[INET6_ADDRSTRLEN];
		if (!inet_ntop(family, masked.addr, text, sizeof(text)))
			text[0] = '\0';
		set_error(err, err_size, "%.*s: host bits set below /%d; did you mean %s/%d?",
			  shown, entry, prefix, text, prefix);
		return -EINVAL;
	}

	*ret = b;
	return 0;
}

static int append(struct netfilter *nf, const struct block *b)
{
	if (nf->n == nf->cap) {
		size_t cap = nf->cap ? nf->cap * 2 : 8;
		struct block *p;

		if (cap > SIZE_MAX / sizeof(*p))
			return -ENOMEM;
		p = realloc(nf->blocks, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		nf->blocks = p;
		nf->cap = cap;
	}
	nf->blocks[nf->n++] = *b;
	return 0;
}

int netfilter_add(struct netfilter *nf, const char *list, char *err, size_t err_size)
{
	/* All or nothing: a config line with one bad entry adds none of its
	 * blocks, so a failed reload leaves the filter as it was. */
	size_t old_n;
	const char *p = list;
	int r = 0;

	if (!nf)
		return -EINVAL;
	if (!list)
		return 0;
	old_n = nf->n;
	while (*p) {
		size_t len = 0;
		struct block b;

		while (is_separator(*p))
			p++;
		if (!*p)
			break;
		while (p[len] && !is_separator(p[len]))
			len++;
		r = parse_entry(p, len, &b, err, err_size);
		if (r >= 0)
			r = append(nf, &b);
		if (r < 0) {
			if (r == -ENOMEM)
				set_error(err, err_size, "out of memory");
			nf->n = old_n;
			return r;
		}
		p += len;
	}
	return 0;
}

int netfilter_parse(const char *list, struct netfilter **ret, char *err, size_t err_size)
{
	struct netfilter *nf = calloc(1, sizeof(*nf));
	int r;

	if (!nf) {
		set_error(err, err_size, "out of memory");
		return -ENOMEM;
	}
	r = netfilter_add(nf, list, err, err_size);
	if (r < 0) {
		netfilter_free(nf);
		return r;
	}
	*ret = nf;
	return 0;
}

struct netfilter *netfilter_free(struct netfilter *nf)
{
	if (nf) {
		free(nf->blocks);
		free(nf);
	}
	return NULL;
}

/* Whether `addr` (4 or 16 bytes, per `v6`) is in any block of that family. */
static bool matches(const struct netfilter *nf, bool v6, const uint8_t *addr)
{
	if (!nf)
		return false;
	for (size_t i = 0; i < nf->n; i++) {
		const struct block *b = &nf->blocks[i];
		if ((bool)b->is_v6 == v6 && in_block(b->addr, b->prefix, addr, v6 ? 16 : 4))
			return true;
	}
	return false;
}

bool netfilter_denies(const struct netfilter *nf, const struct sockaddr *addr, socklen_t len)
{
	sa_family_t family;

	/* Anything we cannot read in full is refused: this is the last check
	 * before connect(), so doubt must fail closed. */
	if (!addr || len < (socklen_t)(offsetof(struct sockaddr, sa_family) + sizeof(family)))
		return true;
	/* Copies rather than casts: the caller's buffer need not be aligned
	 * for the larger sockaddr types. */
	memcpy(&family, (const char *)addr + offsetof(struct sockaddr, sa_family), sizeof(family));

	if (family == AF_INET) {
		struct sockaddr_in sin;
		if (len < (socklen_t)sizeof(sin))
			return true;
		memcpy(&sin, addr, sizeof(sin));
		return matches(nf, false, (const uint8_t *)&sin.sin_addr);
	}
	if (family == AF_INET6) {
		struct sockaddr_in6 sin6;
		if (len < (socklen_t)sizeof(sin6))
			return true;
		memcpy(&sin6, addr, sizeof(sin6));
		const uint8_t *a = sin6.sin6_addr.s6_addr;
		/* A v4-mapped address reaches the IPv4 host it carries (on a
		 * dual-stack socket), so IPv4 blocks must see it too; IPv6
		 * blocks covering ::ffff:0:0/96 still apply as written. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr) && matches(nf, false, a + 12))
			return true;
		return matches(nf, true, a);
	}
	return true;
}

size_t netfilter_count(const struct netfilter *nf)
{
	return nf ? nf->n : 0;
}

void netfilter_describe(const struct netfilter *nf, char *buf, size_t size)
{
	size_t used = 0;

	if (!buf || size == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; nf && i < nf->n && used < size; i++) {
		const struct block *b = &nf->blocks[i];
		char text[INET6_ADDRSTRLEN];
		int w;

		if (!inet_ntop(b->is_v6 ? AF_INET6 : AF_INET, b->addr, text, sizeof(text)))
			text[0] = '\0';
		w = snprintf(buf + used, size - used, "%s%s/%u", i ? ", " : "", text,
			     (unsigned)b->prefix);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	/* snprintf already terminated a truncated last piece; this is only
	 * belt and braces for the loop's exit conditions. */
	buf[size - 1 < used ? size - 1 : used] = '\0';
}
