/* deny_networks: address blocks fetches may not connect to. The check runs
 * on the address a connection is actually made to (after name resolution,
 * for every redirect), so neither DNS tricks nor redirects get around it. */
#ifndef ASYNCJOBD_NETFILTER_H
#define ASYNCJOBD_NETFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct netfilter;

/* Parses a list of CIDR blocks separated by commas and/or whitespace, such as
 * "10.0.0.0/8, 169.254.0.0/16 ::1/128 fc00::/7". A bare address is a single
 * host (/32 or /128). Host bits set below the prefix are an error ("10.0.0.1/8"),
 * as are prefixes out of range and anything inet_pton(3) does not take.
 * An empty list denies nothing. Returns 0 and a new filter in *ret, or
 * -EINVAL with a message naming the bad entry in `err`, or -ENOMEM. */
int netfilter_parse(const char *list, struct netfilter **ret, char *err, size_t err_size);

/* Adds the blocks of another list to `nf` (for repeated config lines). */
int netfilter_add(struct netfilter *nf, const char *list, char *err, size_t err_size);

struct netfilter *netfilter_free(struct netfilter *nf);

/* Whether a connection to `addr` is refused. IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) are judged as the IPv4 address they carry. Families other
 * than AF_INET and AF_INET6 are always refused. A NULL filter denies nothing
 * (but the family rule still holds). */
bool netfilter_denies(const struct netfilter *nf, const struct sockaddr *addr, socklen_t len);

/* The number of blocks. */
size_t netfilter_count(const struct netfilter *nf);

/* Writes the blocks as normalized CIDR text, comma separated ("" for none),
 * truncated to `size`. */
void netfilter_describe(const struct netfilter *nf, char *buf, size_t size);

#endif
