/* How long a fetch waits before its next attempt: exponential backoff,
 * unless the server said when (Retry-After), and never more than a minute.
 * Pure arithmetic, apart from the job so it can be tested on its own. */
#ifndef ASYNCJOBD_FETCH_RETRY_H
#define ASYNCJOBD_FETCH_RETRY_H

/* The longest wait between two attempts, whatever the backoff or the
 * server ask for: a job should not sit idle for longer on anyone's word. */
#define FETCH_RETRY_MAX_WAIT 60.0

/* Seconds to wait after failed attempt number `attempt` (1 for the first):
 * `backoff` doubled for each attempt after the first, or `retry_after`
 * (the server's Retry-After; negative when there was none) whenever it is
 * given, 0 included; either way at most FETCH_RETRY_MAX_WAIT. */
double fetch_retry_delay(unsigned attempt, double backoff, double retry_after);

#endif
