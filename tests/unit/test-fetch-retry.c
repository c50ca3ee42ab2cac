/* fetch_retry_delay: the wait between a fetch's attempts doubles from the
 * backoff, stops at a minute, and gives way to the server's Retry-After. */
#include "config.h"

#include <limits.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/fetch-retry.h"

#define NO_RETRY_AFTER (-1.0)

/* Exact comparisons: every value here is a power of two times a short
 * binary fraction, which double arithmetic holds exactly. */
#define assert_delay(attempt, backoff, retry_after, expected)                          \
	do {                                                                          \
		double got_ = fetch_retry_delay((attempt), (backoff), (retry_after));  \
		if (got_ != (expected))                                               \
			fail_msg("fetch_retry_delay(%u, %g, %g) = %g, expected %g",   \
				 (unsigned)(attempt), (double)(backoff),               \
				 (double)(retry_after), got_, (double)(expected));     \
	} while (0)

static void test_doubles_per_attempt(void **state)
{
	(void)state;
	assert_delay(1, 0.5, NO_RETRY_AFTER, 0.5);
	assert_delay(2, 0.5, NO_RETRY_AFTER, 1.0);
	assert_delay(3, 0.5, NO_RETRY_AFTER, 2.0);
	assert_delay(4, 0.5, NO_RETRY_AFTER, 4.0);
	assert_delay(1, 0.25, NO_RETRY_AFTER, 0.25);
	assert_delay(5, 0.25, NO_RETRY_AFTER, 4.0);
	/* Attempt 0 is not one that failed; it waits no less than the first. */
	assert_delay(0, 0.5, NO_RETRY_AFTER, 0.5);
}

static void test_capped_at_a_minute(void **state)
{
	(void)state;
	assert_delay(7, 0.5, NO_RETRY_AFTER, 32.0);
	assert_delay(8, 0.5, NO_RETRY_AFTER, FETCH_RETRY_MAX_WAIT);    /* 64 */
	assert_delay(10, 0.5, NO_RETRY_AFTER, FETCH_RETRY_MAX_WAIT);
	assert_delay(1, 60, NO_RETRY_AFTER, FETCH_RETRY_MAX_WAIT);
	assert_delay(2, 60, NO_RETRY_AFTER, FETCH_RETRY_MAX_WAIT);
	assert_delay(2, 40, NO_RETRY_AFTER, FETCH_RETRY_MAX_WAIT);     /* 80 */
	/* Where 2^n overflows a double the cap still holds. */
	assert_delay(UINT_MAX, 0.5, NO_RETRY_AFTER, FETCH_RETRY_MAX_WAIT);
	assert_true(FETCH_RETRY_MAX_WAIT == 60.0);
}

static void test_zero_backoff(void **state)
{
	(void)state;
	assert_delay(1, 0, NO_RETRY_AFTER, 0.0);
	assert_delay(9, 0, NO_RETRY_AFTER, 0.0);
	assert_delay(UINT_MAX, 0, NO_RETRY_AFTER, 0.0);
}

static void test_retry_after_wins(void **state)
{
	(void)state;
	/* Shorter than the backoff and longer than it. */
	assert_delay(5, 60, 1.0, 1.0);
	assert_delay(1, 0.5, 7.0, 7.0);
	/* "Retry-After: 0" means now, not "no header". */
	assert_delay(3, 8, 0.0, 0.0);
	/* Capped like the backoff. */
	assert_delay(1, 0.5, 3600.0, FETCH_RETRY_MAX_WAIT);
	assert_delay(1, 0.5, 1e300, FETCH_RETRY_MAX_WAIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doubles_per_attempt),
		cmocka_unit_test(test_capped_at_a_minute),
		cmocka_unit_test(test_zero_backoff),
		cmocka_unit_test(test_retry_after_wins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
