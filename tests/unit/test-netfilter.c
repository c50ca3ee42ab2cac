/* netfilter (deny_networks): parsing and its errors, count, describe, and
 * which socket addresses are denied, including v4-mapped IPv6 and bad input. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/netfilter.h"

#define fail_unless_contains(hay, needle)                                          \
	do {                                                                       \
		if (!strstr((hay), (needle)))                                      \
			fail_msg("'%s' does not contain '%s'", (hay), (needle));  \
	} while (0)

/* ------------------------------------------------------------ helpers */

/* Parses `list` and expects success. */
static struct netfilter *parse_ok(const char *list)
{
	char err[256] = "";
	struct netfilter *nf = NULL;
	int r = netfilter_parse(list, &nf, err, sizeof(err));
	if (r < 0)
		fail_msg("netfilter_parse(\"%s\") failed (%d): %s", list, r, err);
	assert_non_null(nf);
	return nf;
}

/* Parses `list`, expects -EINVAL, *ret untouched and an error containing
 * `entry` (the offending entry) and `also` if not NULL. */
static void parse_fails(const char *list, const char *entry, const char *also)
{
	char err[256] = "";
	struct netfilter *sentinel = (struct netfilter *)&sentinel;
	struct netfilter *nf = sentinel;
	int r = netfilter_parse(list, &nf, err, sizeof(err));
	if (r != -EINVAL)
		fail_msg("netfilter_parse(\"%s\") returned %d, expected -EINVAL", list, r);
	assert_ptr_equal(nf, sentinel);
	fail_unless_contains(err, entry);
	if (also)
		fail_unless_contains(err, also);
}

/* Whether `nf` denies the textual address `a`, as the family its text says. */
static bool denies(const struct netfilter *nf, const char *a)
{
	if (strchr(a, ':')) {
		struct sockaddr_in6 sin6;
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(80);
		if (inet_pton(AF_INET6, a, &sin6.sin6_addr) != 1)
			fail_msg("bad test address %s", a);
		return netfilter_denies(nf, (const struct sockaddr *)&sin6, sizeof(sin6));
	}
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(80);
	if (inet_pton(AF_INET, a, &sin.sin_addr) != 1)
		fail_msg("bad test address %s", a);
	return netfilter_denies(nf, (const struct sockaddr *)&sin, sizeof(sin));
}

#define assert_denied(nf, a)                                               \
	do {                                                               \
		if (!denies((nf), (a)))                                    \
			fail_msg("%s should be denied", (a));              \
	} while (0)

#define assert_allowed(nf, a)                                              \
	do {                                                               \
		if (denies((nf), (a)))                                     \
			fail_msg("%s should be allowed", (a));             \
	} while (0)

static void assert_describes(const struct netfilter *nf, const char *expected)
{
	char buf[1024];
	memset(buf, 'x', sizeof(buf));
	netfilter_describe(nf, buf, sizeof(buf));
	assert_string_equal(buf, expected);
}

/* ------------------------------------------------------------ parsing */

static void test_error_prefix_out_of_range(void **state)
{
	(void)state;
	parse_fails("10.0.0.0/33", "10.0.0.0/33", "out of range (0 to 32)");
	parse_fails("0.0.0.0/999", "0.0.0.0/999", "out of range (0 to 32)");
	parse_fails("::/129", "::/129", "out of range (0 to 128)");
	parse_fails("fc00::/1000", "fc00::/1000", NULL);
	parse_fails("10.0.0.0/4294967304", "10.0.0.0/4294967304", NULL);
}

static void test_error_prefix_malformed(void **state)
{
	(void)state;
	const char *why = "must be a number from 0 to";
	parse_fails("10.0.0.0/", "10.0.0.0/", why);
	parse_fails("10.0.0.0/+8", "10.0.0.0/+8", why);
	parse_fails("10.0.0.0/-8", "10.0.0.0/-8", why);
	parse_fails("10.0.0.0/8a", "10.0.0.0/8a", why);
	parse_fails("10.0.0.0/ 8", "10.0.0.0/", why);
	parse_fails("10.0.0.0/0x8", "10.0.0.0/0x8", why);
	parse_fails("10.0.0.0/08", "10.0.0.0/08", why);
	parse_fails("10.0.0.0/8/8", "10.0.0.0/8/8", why);
	parse_fails("fc00::/", "fc00::/", "must be a number from 0 to 128");
	parse_fails("fc00::/+7", "fc00::/+7", why);
	/* The separator ends the entry, leaving "/8" on its own. */
	parse_fails("10.0.0.0 /8", "/8", NULL);
}

static void test_error_host_bits(void **state)
{
	char err[256] = "";
	struct netfilter *nf = NULL;
	(void)state;

	assert_int_equal(netfilter_parse("10.0.0.1/8", &nf, err, sizeof(err)), -EINVAL);
	assert_null(nf);
	assert_string_equal(err, "10.0.0.1/8: host bits set below /8; did you mean 10.0.0.0/8?");

	parse_fails("192.168.1.1/24", "192.168.1.1/24", "did you mean 192.168.1.0/24?");
	parse_fails("10.0.0.0/6", "10.0.0.0/6", "did you mean 8.0.0.0/6?");
	parse_fails("11.0.0.0/7", "11.0.0.0/7", "did you mean 10.0.0.0/7?");
	parse_fails("0.0.0.1/0", "0.0.0.1/0", "did you mean 0.0.0.0/0?");
	parse_fails("fc00::1/7", "fc00::1/7", "did you mean fc00::/7?");
	parse_fails("fd00::/7", "fd00::/7", "did you mean fc00::/7?");
	parse_fails("2001:db8::1/127", "2001:db8::1/127", "did you mean 2001:db8::/127?");
}

static void test_error_not_an_address(void **state)
{
	(void)state;
	/* Non-canonical IPv4 that inet_aton(3) would take. */
	parse_fails("127.1", "127.1", NULL);
	parse_fails("010.0.0.1", "010.0.0.1", NULL);
	parse_fails("0x7f.0.0.1", "0x7f.0.0.1", NULL);
	parse_fails("2130706433", "2130706433", NULL);
	parse_fails("1.2.3.256", "1.2.3.256", NULL);
	parse_fails("1.2.3.4.5", "1.2.3.4.5", NULL);
	parse_fails("localhost", "localhost", NULL);
	parse_fails("1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8:9", NULL);
	parse_fails("fc00:::1", "fc00:::1", NULL);
	parse_fails("/8", "/8", NULL);
	parse_fails("[::1]", "[::1]", NULL);
	/* Longer than any address: still named, not silently cut. */
	parse_fails("1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb/128",
		    "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb/128", NULL);
}

static void test_error_zone_id(void **state)
{
	(void)state;
	parse_fails("fe80::1%eth0", "fe80::1%eth0", "zone");
	parse_fails("fe80::%1/64", "fe80::%1/64", "zone");
}

/* The message names the bad entry, not its neighbours, and a failed parse
 * takes none of the good ones. */
static void test_error_names_the_bad_entry(void **state)
{
	char err[256] = "";
	struct netfilter *nf = NULL;
	(void)state;

	assert_int_equal(netfilter_parse("10.0.0.0/8, 192.168.0.1/16 ::1", &nf, err,
					 sizeof(err)), -EINVAL);
	assert_null(nf);
	assert_string_equal(err, "192.168.0.1/16: host bits set below /16; "
			    "did you mean 192.168.0.0/16?");

	parse_fails("::1,127.1,fc00::/7", "127.1", NULL);
	assert_int_equal(netfilter_parse("::1,127.1,fc00::/7", &nf, err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "::1"));
	assert_null(strstr(err, "fc00"));
}

/* A short or missing error buffer is fine: truncated, terminated. */
static void test_error_buffer(void **state)
{
	char err[8];
	struct netfilter *nf = NULL;
	(void)state;

	memset(err, 'x', sizeof(err));
	assert_int_equal(netfilter_parse("10.0.0.1/8", &nf, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "10.0.0.");
	assert_int_equal(netfilter_parse("10.0.0.1/8", &nf, NULL, 0), -EINVAL);
	memset(err, 'x', sizeof(err));
	assert_int_equal(netfilter_parse("10.0.0.1/8", &nf, err, 0), -EINVAL);
	assert_int_equal(err[0], 'x');
	assert_null(nf);
}

static void test_separators(void **state)
{
	(void)state;
	struct netfilter *nf = parse_ok("10.0.0.0/8,192.168.0.0/16 \t\n::1 ,, fc00::/7,\r\v\f"
					"169.254.0.0/16,");
	assert_int_equal(netfilter_count(nf), 5);
	assert_describes(nf, "10.0.0.0/8, 192.168.0.0/16, ::1/128, fc00::/7, 169.254.0.0/16");
	netfilter_free(nf);

	nf = parse_ok(",,, 8.8.8.8 ,");
	assert_int_equal(netfilter_count(nf), 1);
	assert_describes(nf, "8.8.8.8/32");
	netfilter_free(nf);
}

static void test_empty_lists(void **state)
{
	static const char *const lists[] = { "", " ", ",", " ,\t,\n, ", ",,,," };
	(void)state;

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		struct netfilter *nf = parse_ok(lists[i]);
		assert_int_equal(netfilter_count(nf), 0);
		assert_describes(nf, "");
		assert_allowed(nf, "127.0.0.1");
		assert_allowed(nf, "::1");
		assert_null(netfilter_free(nf));
	}
}

static void test_count(void **state)
{
	(void)state;
	struct netfilter *nf = parse_ok("1.2.3.4");
	assert_int_equal(netfilter_count(nf), 1);
	netfilter_free(nf);

	nf = parse_ok("10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 ::1 fe80::/10 fc00::/7 0.0.0.0/0");
	assert_int_equal(netfilter_count(nf), 7);
	netfilter_free(nf);

	assert_int_equal(netfilter_count(NULL), 0);
}

/* netfilter_add appends; a bad list adds nothing at all. */
static void test_add(void **state)
{
	char err[256] = "";
	(void)state;
	struct netfilter *nf = parse_ok("10.0.0.0/8");

	assert_int_equal(netfilter_add(nf, "::1, 127.0.0.0/8", err, sizeof(err)), 0);
	assert_int_equal(netfilter_count(nf), 3);
	assert_describes(nf, "10.0.0.0/8, ::1/128, 127.0.0.0/8");
	assert_denied(nf, "127.0.0.1");

	assert_int_equal(netfilter_add(nf, "192.168.0.0/16 8.8.8.8/8", err, sizeof(err)), -EINVAL);
	fail_unless_contains(err, "8.8.8.8/8");
	assert_int_equal(netfilter_count(nf), 3);
	assert_describes(nf, "10.0.0.0/8, ::1/128, 127.0.0.0/8");
	assert_allowed(nf, "192.168.1.1");

	assert_int_equal(netfilter_add(nf, "", err, sizeof(err)), 0);
	assert_int_equal(netfilter_count(nf), 3);
	netfilter_free(nf);
}

/* ------------------------------------------------------------ describe */

static void test_describe_normalizes(void **state)
{
	(void)state;
	struct netfilter *nf = parse_ok("FC00:0000:0000::/7 0:0:0:0:0:0:0:1 "
					"::ffff:0:0/96 ::FFFF:7F00:1 10.0.0.0/8 0.0.0.0/0 ::/0");
	assert_describes(nf, "fc00::/7, ::1/128, ::ffff:0.0.0.0/96, ::ffff:127.0.0.1/128, "
			 "10.0.0.0/8, 0.0.0.0/0, ::/0");
	netfilter_free(nf);
}

static void test_describe_round_trip(void **state)
{
	char first[1024], second[1024];
	(void)state;
	struct netfilter *nf = parse_ok("10.0.0.0/8,172.16.0.0/12 192.168.0.0/16\t127.0.0.1 "
					"169.254.0.0/16 ::1 fe80::/10 FC00::/7 2001:DB8:0:0::/32 "
					"::ffff:0:0/96 64:ff9b::/96");
	netfilter_describe(nf, first, sizeof(first));

	struct netfilter *again = parse_ok(first);
	assert_int_equal(netfilter_count(again), netfilter_count(nf));
	netfilter_describe(again, second, sizeof(second));
	assert_string_equal(first, second);
	assert_string_equal(first, "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 127.0.0.1/32, "
			    "169.254.0.0/16, ::1/128, fe80::/10, fc00::/7, 2001:db8::/32, "
			    "::ffff:0.0.0.0/96, 64:ff9b::/96");
	/* Same blocks, same decisions. */
	assert_denied(again, "172.31.255.255");
	assert_allowed(again, "172.32.0.0");
	assert_denied(again, "2001:db8:ffff::1");
	netfilter_free(again);
	netfilter_free(nf);
}

static void test_describe_truncates(void **state)
{
	char buf[64];
	(void)state;
	struct netfilter *nf = parse_ok("10.0.0.0/8 192.168.0.0/16");
	const char *full = "10.0.0.0/8, 192.168.0.0/16";

	for (size_t size = 1; size <= strlen(full) + 1; size++) {
		memset(buf, 'x', sizeof(buf));
		netfilter_describe(nf, buf, size);
		assert_int_equal(strlen(buf), size - 1);
		assert_memory_equal(buf, full, size - 1);
		assert_int_equal(buf[size], 'x');
	}

	/* Size 0: nothing is written. */
	memset(buf, 'x', sizeof(buf));
	netfilter_describe(nf, buf, 0);
	assert_int_equal(buf[0], 'x');
	netfilter_describe(nf, NULL, 0);

	memset(buf, 'x', sizeof(buf));
	netfilter_describe(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "");
	netfilter_free(nf);
}

/* ------------------------------------------------------------ matching */

static void test_match_ipv4_prefix(void **state)
{
	(void)state;
	struct netfilter *nf = parse_ok("127.0.0.0/8");
	assert_denied(nf, "127.0.0.1");
	assert_denied(nf, "127.0.0.0");
	assert_denied(nf, "127.255.255.255");
	assert_allowed(nf, "128.0.0.1");
	assert_allowed(nf, "126.255.255.255");
	assert_allowed(nf, "10.0.0.1");
	netfilter_free(nf);

	/* A prefix that does not end on a byte. */
	nf = parse_ok("172.16.0.0/12");
	assert_denied(nf, "172.16.0.0");
	assert_denied(nf, "172.31.255.255");
	assert_allowed(nf, "172.32.0.0");
	assert_allowed(nf, "172.15.255.255");
	netfilter_free(nf);
}

static void test_match_ipv4_exact(void **state)
{
	(void)state;
	struct netfilter *nf = parse_ok("169.254.169.254/32 10.1.2.3");
	assert_denied(nf, "169.254.169.254");
	assert_allowed(nf, "169.254.169.255");
	assert_allowed(nf, "169.254.169.253");
	assert_denied(nf, "10.1.2.3");
	assert_allowed(nf, "10.1.2.2");
	assert_allowed(nf, "10.1.2.4");
	netfilter_free(nf);
}

static void test_match_ipv4_all(void **state)
{
	(void)state;
	struct netfilter *nf = parse_ok("0.0.0.0/0");
	assert_denied(nf, "0.0.0.0");
	assert_denied(nf, "8.8.8.8");
	assert_denied(nf, "255.255.255.255");
	assert_allowed(nf, "::1");
	assert_allowed(nf, "::");
	assert_allowed(nf, "2001:db8::1");
	/* Except v4-mapped, which is IPv4. */
	assert_denied(nf, "::ffff:8.8.8.8");
	netfilter_free(nf);
}

static void test_match_ipv6(void **state)
{
	(void)state;
	struct netfilter *nf = parse_ok("::1/128");
	assert_denied(nf, "::1");
	assert_allowed(nf, "::2");
	assert_allowed(nf, "::");
	assert_allowed(nf, "2001:db8::1");
	netfilter_free(nf);

	nf = parse_ok("fc00::/7");
	assert_denied(nf, "fc00::");
	assert_denied(nf, "fd12::1");
	assert_denied(nf, "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	assert_allowed(nf, "fe00::1");
	assert_allowed(nf, "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	assert_allowed(nf, "fe80::1");
	netfilter_free(nf);

	/* A prefix inside the last byte. */
	nf = parse_ok("2001:db8::/125");
	assert_denied(nf, "2001:db8::7");
	assert_allowed(nf, "2001:db8::8");
	netfilter_free(nf);

	nf = parse_ok("::/0");
	assert_denied(nf, "2001:db8::1");
	assert_denied(nf, "::");
	assert_allowed(nf, "127.0.0.1");
	netfilter_free(nf);
}

static void test_match_v4_mapped(void **state)
{
	(void)state;
	struct netfilter *nf = parse_ok("127.0.0.0/8");
	assert_denied(nf, "::ffff:127.0.0.1");
	assert_denied(nf, "::ffff:127.255.255.255");
	assert_allowed(nf, "::ffff:8.8.8.8");
	assert_allowed(nf, "::ffff:128.0.0.1");
	/* Only the ::ffff:0:0/96 form is IPv4: not v4-compatible, not NAT64,
	 * not the same bits elsewhere. */
	assert_allowed(nf, "::127.0.0.1");
	assert_allowed(nf, "64:ff9b::127.0.0.1");
	assert_allowed(nf, "::fffe:127.0.0.1");
	assert_allowed(nf, "1::ffff:127.0.0.1");
	netfilter_free(nf);

	nf = parse_ok("10.1.2.3");
	assert_denied(nf, "::ffff:10.1.2.3");
	assert_allowed(nf, "::ffff:10.1.2.4");
	netfilter_free(nf);

	/* IPv6 blocks that cover mapped addresses apply as written. */
	nf = parse_ok("::ffff:0:0/96");
	assert_denied(nf, "::ffff:8.8.8.8");
	assert_denied(nf, "::ffff:127.0.0.1");
	assert_allowed(nf, "8.8.8.8");
	assert_allowed(nf, "::1");
	netfilter_free(nf);

	nf = parse_ok("::ffff:127.0.0.1");
	assert_denied(nf, "::ffff:127.0.0.1");
	assert_allowed(nf, "::ffff:127.0.0.2");
	assert_allowed(nf, "127.0.0.1");
	netfilter_free(nf);
}

/* An IPv4 block never matches an IPv6 address with the same leading bytes,
 * and the other way round. */
static void test_match_families_apart(void **state)
{
	(void)state;
	struct netfilter *nf = parse_ok("32.1.13.184/29 127.0.0.1");
	assert_denied(nf, "32.1.13.184");
	/* 2001:db8:: starts with the bytes 32.1.13.184. */
	assert_allowed(nf, "2001:db8::1");
	assert_allowed(nf, "7f00:1::");
	assert_allowed(nf, "::7f00:1");
	netfilter_free(nf);

	nf = parse_ok("2001:db8::/29 7f00::/8 ::/96");
	assert_denied(nf, "2001:db8::1");
	assert_denied(nf, "7f00::1");
	assert_allowed(nf, "32.1.13.184");
	assert_allowed(nf, "127.0.0.1");
	assert_allowed(nf, "0.0.0.1");
	netfilter_free(nf);
}

/* Order does not matter and any one block is enough. */
static void test_match_many_blocks(void **state)
{
	(void)state;
	struct netfilter *nf = parse_ok("10.0.0.0/8 fc00::/7 192.168.0.0/16 ::1 127.0.0.0/8");
	assert_denied(nf, "10.9.8.7");
	assert_denied(nf, "192.168.255.1");
	assert_denied(nf, "127.0.0.53");
	assert_denied(nf, "::1");
	assert_denied(nf, "fd00::53");
	assert_denied(nf, "::ffff:192.168.0.1");
	assert_allowed(nf, "8.8.8.8");
	assert_allowed(nf, "2606:4700::1111");
	assert_allowed(nf, "::ffff:1.1.1.1");
	netfilter_free(nf);
}

static void test_other_families_denied(void **state)
{
	(void)state;
	struct netfilter *nf = parse_ok("");
	struct sockaddr_un un;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	strcpy(un.sun_path, "/tmp/x");
	assert_true(netfilter_denies(nf, (const struct sockaddr *)&un, sizeof(un)));
	assert_true(netfilter_denies(NULL, (const struct sockaddr *)&un, sizeof(un)));

	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNSPEC;
	assert_true(netfilter_denies(nf, (const struct sockaddr *)&ss, sizeof(ss)));
	ss.ss_family = AF_PACKET;
	assert_true(netfilter_denies(NULL, (const struct sockaddr *)&ss, sizeof(ss)));
	netfilter_free(nf);
}

/* A sockaddr shorter than its family's struct is refused, whatever the
 * filter, as is a missing one. */
static void test_short_len_denied(void **state)
{
	(void)state;
	struct netfilter *nf = parse_ok("");
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, "8.8.8.8", &sin.sin_addr), 1);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr), 1);

	/* The full lengths pass, so the refusals below are about length. */
	assert_false(netfilter_denies(nf, (const struct sockaddr *)&sin, sizeof(sin)));
	assert_false(netfilter_denies(nf, (const struct sockaddr *)&sin6, sizeof(sin6)));
	assert_false(netfilter_denies(NULL, (const struct sockaddr *)&sin6, sizeof(sin6)));

	assert_true(netfilter_denies(nf, (const struct sockaddr *)&sin, sizeof(sin) - 1));
	assert_true(netfilter_denies(NULL, (const struct sockaddr *)&sin, sizeof(sin) - 1));
	assert_true(netfilter_denies(nf, (const struct sockaddr *)&sin, 0));
	assert_true(netfilter_denies(nf, (const struct sockaddr *)&sin, 1));
	/* Long enough for an IPv4 sockaddr, not for IPv6. */
	assert_true(netfilter_denies(nf, (const struct sockaddr *)&sin6, sizeof(sin6) - 1));
	assert_true(netfilter_denies(nf, (const struct sockaddr *)&sin6, sizeof(sin)));
	assert_true(netfilter_denies(NULL, (const struct sockaddr *)&sin6, sizeof(sin6) - 1));
	assert_true(netfilter_denies(nf, NULL, sizeof(sin)));
	assert_true(netfilter_denies(NULL, NULL, 0));
	netfilter_free(nf);
}

/* A sockaddr at an odd address (libcurl's is aligned, but nothing says a
 * caller's must be) is read correctly. */
static void test_unaligned(void **state)
{
	(void)state;
	struct netfilter *nf = parse_ok("127.0.0.0/8 ::1");
	_Alignas(16) unsigned char raw[sizeof(struct sockaddr_in6) + 1];
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "::1", &sin6.sin6_addr), 1);
	memcpy(raw + 1, &sin6, sizeof(sin6));
	assert_true(netfilter_denies(nf, (const struct sockaddr *)(raw + 1), sizeof(sin6)));
	assert_int_equal(inet_pton(AF_INET6, "::2", &sin6.sin6_addr), 1);
	memcpy(raw + 1, &sin6, sizeof(sin6));
	assert_false(netfilter_denies(nf, (const struct sockaddr *)(raw + 1), sizeof(sin6)));
	netfilter_free(nf);
}

static void test_null_filter(void **state)
{
	(void)state;
	assert_allowed(NULL, "127.0.0.1");
	assert_allowed(NULL, "0.0.0.0");
	assert_allowed(NULL, "::1");
	assert_allowed(NULL, "::ffff:127.0.0.1");
	assert_int_equal(netfilter_count(NULL), 0);
	assert_describes(NULL, "");
	assert_null(netfilter_free(NULL));
	assert_int_equal(netfilter_add(NULL, "10.0.0.0/8", NULL, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_prefix_out_of_range),
		cmocka_unit_test(test_error_prefix_malformed),
		cmocka_unit_test(test_error_host_bits),
		cmocka_unit_test(test_error_not_an_address),
		cmocka_unit_test(test_error_zone_id),
		cmocka_unit_test(test_error_names_the_bad_entry),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_separators),
		cmocka_unit_test(test_empty_lists),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_describe_normalizes),
		cmocka_unit_test(test_describe_round_trip),
		cmocka_unit_test(test_describe_truncates),
		cmocka_unit_test(test_match_ipv4_prefix),
		cmocka_unit_test(test_match_ipv4_exact),
		cmocka_unit_test(test_match_ipv4_all),
		cmocka_unit_test(test_match_ipv6),
		cmocka_unit_test(test_match_v4_mapped),
		cmocka_unit_test(test_match_families_apart),
		cmocka_unit_test(test_match_many_blocks),
		cmocka_unit_test(test_other_families_denied),
		cmocka_unit_test(test_short_len_denied),
		cmocka_unit_test(test_unaligned),
		cmocka_unit_test(test_null_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
