/* Base64: the RFC 4648 test vectors both ways, round trips of every length
 * 0..300, the sizes, and what the strict decoder must refuse. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "proto/base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encodes into a buffer of exactly the announced size (ASan sees any
 * overrun); returns a NUL-terminated copy to free. */
static char *encode(const unsigned char *in, size_t n)
{
	size_t size = base64_encoded_size(n);
	char *out = malloc(size ? size : 1);
	char *s = malloc(size + 1);

	assert_non_null(out);
	assert_non_null(s);
	assert_int_equal(base64_encode(in, n, out), size);
	memcpy(s, out, size);
	s[size] = '\0';
	free(out);
	return s;
}

/* Decodes into a buffer of exactly base64_decoded_max(n) bytes. */
static long decode(const char *in, size_t n, unsigned char **ret)
{
	size_t max = base64_decoded_max(n);
	unsigned char *out = malloc(max ? max : 1);

	assert_non_null(out);
	long r = base64_decode(in, n, out);
	if (r >= 0)
		assert_true((size_t)r <= max);
	*ret = out;
	return r;
}

static void decodes_to(const char *in, const char *want)
{
	unsigned char *out;
	long r = decode(in, strlen(in), &out);
	if (r != (long)strlen(want) || memcmp(out, want, strlen(want)) != 0) {
		free(out);
		fail_msg("\"%s\" decoded to %ld bytes, expected \"%s\"", in, r, want);
	}
	free(out);
}

static void refuses_len(const char *in, size_t n)
{
	/* An exact copy, without a terminator, so ASan sees reads past n. */
	char *copy = malloc(n ? n : 1);
	unsigned char *out;

	assert_non_null(copy);
	memcpy(copy, in, n);
	long r = decode(copy, n, &out);
	free(copy);
	free(out);
	/* And in place, where whatever follows `n` may look like more base64. */
	if (r == -1) {
		r = decode(in, n, &out);
		free(out);
	}
	if (r != -1)
		fail_msg("\"%.*s\" (%zu bytes) decoded to %ld bytes; expected a refusal", (int)n, in,
			 n, r);
}

static void refuses(const char *in)
{
	refuses_len(in, strlen(in));
}

/* ------------------------------------------------------------ tests */

static const struct {
	const char *plain, *encoded;
} vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void test_rfc4648_encode(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		char *s = encode((const unsigned char *)vectors[i].plain, strlen(vectors[i].plain));
		if (strcmp(s, vectors[i].encoded) != 0) {
			char got[64];
			snprintf(got, sizeof(got), "%s", s);
			free(s);
			fail_msg("\"%s\" encoded to \"%s\", expected \"%s\"", vectors[i].plain, got,
				 vectors[i].encoded);
		}
		free(s);
	}
}

static void test_rfc4648_decode(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		decodes_to(vectors[i].encoded, vectors[i].plain);
	/* Every value of the alphabet, and the all-ones bytes. */
	decodes_to("+/+/", "\xfb\xff\xbf");
	decodes_to("////", "\xff\xff\xff");
	unsigned char *out;
	assert_int_equal(decode("AAAA", 4, &out), 3);
	assert_int_equal(out[0] | out[1] | out[2], 0);
	free(out);
	assert_int_equal(decode("AA==", 4, &out), 1);
	assert_int_equal(out[0], 0);
	free(out);
}

/* A fixed xorshift, so a failure is reproducible. */
static uint32_t next_random(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void test_round_trip(void **state)
{
	uint32_t seed = 0x2545f491;
	(void)state;

	for (size_t n = 0; n <= 300; n++) {
		unsigned char *in = malloc(n ? n : 1);
		assert_non_null(in);
		for (size_t i = 0; i < n; i++)
			in[i] = (unsigned char)next_random(&seed);
		/* Also the extremes: all zero and all 0xff bytes. */
		if (n % 7 == 3)
			memset(in, 0xff, n);
		if (n % 7 == 5)
			memset(in, 0, n);

		char *s = encode(in, n);
		size_t len = strlen(s);
		assert_int_equal(len, (n + 2) / 3 * 4);
		size_t pad = (3 - n % 3) % 3;
		for (size_t i = 0; i < len; i++) {
			if (i >= len - pad)
				assert_int_equal(s[i], '=');
			else if (!strchr(alphabet, s[i]) || s[i] == '\0')
				fail_msg("length %zu: '%c' at %zu is not in the alphabet", n, s[i], i);
		}

		unsigned char *out;
		long r = decode(s, len, &out);
		if (r != (long)n || (n && memcmp(in, out, n) != 0)) {
			free(in);
			free(s);
			free(out);
			fail_msg("length %zu: round trip gave %ld bytes or different bytes", n, r);
		}
		free(out);
		free(s);
		free(in);
	}
}

static void test_sizes(void **state)
{
	(void)state;
	static const size_t enc[][2] = {
		{ 0, 0 }, { 1, 4 }, { 2, 4 }, { 3, 4 }, { 4, 8 }, { 5, 8 }, { 6, 8 }, { 7, 12 },
		{ 300, 400 }, { 301, 404 }, { 1024, 1368 },
	};
	static const size_t dec[][2] = {
		{ 0, 0 }, { 4, 3 }, { 8, 6 }, { 12, 9 }, { 400, 300 }, { 1368, 1026 },
		{ 1, 0 }, { 3, 0 }, { 5, 3 }, { 7, 3 },
	};
	for (size_t i = 0; i < sizeof(enc) / sizeof(enc[0]); i++)
		if (base64_encoded_size(enc[i][0]) != enc[i][1])
			fail_msg("base64_encoded_size(%zu) = %zu, expected %zu", enc[i][0],
				 base64_encoded_size(enc[i][0]), enc[i][1]);
	for (size_t i = 0; i < sizeof(dec) / sizeof(dec[0]); i++)
		if (base64_decoded_max(dec[i][0]) != dec[i][1])
			fail_msg("base64_decoded_max(%zu) = %zu, expected %zu", dec[i][0],
				 base64_decoded_max(dec[i][0]), dec[i][1]);
	/* The decoded maximum always holds what an encoding decodes to. */
	for (size_t n = 0; n < 100; n++)
		assert_true(base64_decoded_max(base64_encoded_size(n)) >= n);
}

static void test_refuses_length(void **state)
{
	(void)state;
	refuses("Z");
	refuses("Zg");
	refuses("Zg=");
	refuses("Zm9vY");
	refuses("Zm9vYg=");
	refuses("Zm9vYg===");
	/* A valid quantum followed by a stray character. */
	refuses("Zm9vA");
	/* Prefixes of valid base64 that are not whole quanta. */
	for (size_t n = 1; n < 12; n++)
		if (n % 4)
			refuses_len("Zm9vYmFyZm9v", n);
}

static void test_refuses_characters(void **state)
{
	(void)state;
	refuses("Zm9!");
	refuses("Zm9v!A==");
	refuses("Zm*v");
	refuses("Zm.v");
	refuses("Zm9v\x80\x80\x80\x80");
	refuses("\xc3\xa9" "AA");
	refuses_len("Zm\0v", 4);
	refuses_len("Zm9vYg\0=", 8);
	/* URL-safe alphabet. */
	refuses("-_-_");
	refuses("Zm-v");
	refuses("Zm_v");
	refuses("Zm9vYm-y");
}

static void test_refuses_whitespace(void **state)
{
	(void)state;
	refuses("Zm9 ");
	refuses(" Zm9");
	refuses("Zm\n9");
	refuses("Zm9v\r\nYm");
	refuses("Zm9v\tYmF");
	refuses("Zm9vYg==\n\n\n\n");
	refuses("    ");
}

static void test_refuses_padding(void **state)
{
	(void)state;
	refuses("Zg==Zg==");
	refuses("Zm8=Zm8=");
	refuses("Zg==Zm9v");
	refuses("Z===");
	refuses("====");
	refuses("=Zg=");
	refuses("==Zg");
	refuses("Zm=v");
	refuses("Zg=A");
	refuses("Zm9vYg=A");
	refuses("Zm9vY===");
	refuses("Zm9v====");
	/* One or two '=' in the last quantum are fine. */
	decodes_to("Zm9vYg==", "foob");
	decodes_to("Zm9vYmE=", "fooba");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_encode),
		cmocka_unit_test(test_rfc4648_decode),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_refuses_length),
		cmocka_unit_test(test_refuses_characters),
		cmocka_unit_test(test_refuses_whitespace),
		cmocka_unit_test(test_refuses_padding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
