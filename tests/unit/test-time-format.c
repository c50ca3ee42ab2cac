/* The RFC 3339 timestamps in job objects: fixed dates around leap days and
 * century rules, times before 1970, and a sweep checked against the C
 * library's gmtime_r. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/daemon.h"

static void expect_format(int64_t ms, const char *want)
{
	char buf[32];
	format_rfc3339_ms(ms, buf);
	assert_string_equal(buf, want);
}

/* What gmtime_r and strftime make of the same instant. */
static void reference_format(int64_t ms, char buf[32])
{
	int64_t seconds = ms / 1000 - (ms % 1000 < 0);
	int milli = (int)(ms - seconds * 1000);
	time_t t = (time_t)seconds;
	struct tm tm;

	assert_non_null(gmtime_r(&t, &tm));
	strftime(buf, 24, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + 19, 13, ".%03dZ", milli);
}

static void test_fixed_dates(void **state)
{
	(void)state;
	expect_format(0, "1970-01-01T00:00:00.000Z");
	expect_format(999, "1970-01-01T00:00:00.999Z");
	expect_format(86399999, "1970-01-01T23:59:59.999Z");
	expect_format(951782400000, "2000-02-29T00:00:00.000Z");    /* divisible by 400: leap */
	expect_format(951868800000, "2000-03-01T00:00:00.000Z");
	expect_format(4107456000000, "2100-02-28T00:00:00.000Z");   /* divisible by 100: not leap */
	expect_format(4107542400000, "2100-03-01T00:00:00.000Z");
	expect_format(1709164800123, "2024-02-29T00:00:00.123Z");
	expect_format(1798761599999, "2026-12-31T23:59:59.999Z");
	expect_format(253402300799999, "9999-12-31T23:59:59.999Z");
}

static void test_before_the_epoch(void **state)
{
	(void)state;
	expect_format(-1, "1969-12-31T23:59:59.999Z");
	expect_format(-1000, "1969-12-31T23:59:59.000Z");
	expect_format(-1001, "1969-12-31T23:59:58.999Z");
	expect_format(-86400000, "1969-12-31T00:00:00.000Z");
	expect_format(-2208988800000, "1900-01-01T00:00:00.000Z");
}

static void test_agrees_with_gmtime(void **state)
{
	char got[32], want[32];
	uint64_t x = 88172645463325252ull;
	(void)state;

	/* Every day boundary of 1968..2104, then random instants up to 9999. */
	for (int64_t day = -730; day < 49000; day++) {
		int64_t ms = day * 86400000 - 1;
		format_rfc3339_ms(ms, got);
		reference_format(ms, want);
		assert_string_equal(got, want);
		format_rfc3339_ms(ms + 1, got);
		reference_format(ms + 1, want);
		assert_string_equal(got, want);
	}
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int64_t ms = (int64_t)(x % 253402300800000ull);
		format_rfc3339_ms(ms, got);
		reference_format(ms, want);
		assert_string_equal(got, want);
	}
}

/* The last text is kept: a time formatted again, or after another, is the
 * same as the first time. */
static void test_repeated_times(void **state)
{
	static const int64_t seq[] = { 1764060349240, 1764060349240, 1764060349241,
				       1764060349240, 1764060349240, -1, -1, 0, 1764060349241 };
	char got[32], want[32];
	(void)state;

	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		format_rfc3339_ms(seq[i], got);
		reference_format(seq[i], want);
		assert_string_equal(got, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_dates),
		cmocka_unit_test(test_before_the_epoch),
		cmocka_unit_test(test_agrees_with_gmtime),
		cmocka_unit_test(test_repeated_times),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
