/* The wait between a fetch's attempts (see fetch-retry.h). */
#include "config.h"

#include <math.h>

#include "daemon/fetch-retry.h"

double fetch_retry_delay(unsigned attempt, double backoff, double retry_after)
{
	double wait;

	if (retry_after >= 0)
		wait = retry_after;
	else if (backoff <= 0)
		wait = 0;   /* not 0 * pow(): that is NaN once pow() overflows */
	else
		wait = backoff * pow(2, attempt > 1 ? attempt - 1 : 0);
	return wait < FETCH_RETRY_MAX_WAIT ? wait : FETCH_RETRY_MAX_WAIT;
}
