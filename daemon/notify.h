/* Telling the service manager how the daemon is doing (sd_notify): READY=1
 * once the socket accepts, STATUS= with the job counts, RELOADING=1 and
 * READY=1 around a reload, STOPPING=1, and WATCHDOG=1 pings from the event
 * loop when the unit sets WatchdogSec=. Built without libsystemd, or started
 * by something that does not listen ($NOTIFY_SOCKET unset), there is no
 * notifier: every function here accepts NULL and does nothing. */
#ifndef ASYNCJOBD_NOTIFY_H
#define ASYNCJOBD_NOTIFY_H

struct daemon;
struct notifier;

/* Returns a notifier for `d`, or NULL when nobody listens. Arms the
 * watchdog timer (the only periodic wakeup the daemon has) when
 * $WATCHDOG_USEC asks for pings, at half that interval. The caller owns
 * the result and frees it before `d`. */
struct notifier *notifier_new(struct daemon *d);
/* NULL is fine. */
struct notifier *notifier_free(struct notifier *n);

/* READY=1 with the first STATUS=: the socket accepts connections. */
void notifier_ready(struct notifier *n);
/* RELOADING=1: a configuration reload began. */
void notifier_reloading(struct notifier *n);
/* READY=1: the reload is over (applied or refused). */
void notifier_reloaded(struct notifier *n);
/* STOPPING=1: the shutdown began. */
void notifier_stopping(struct notifier *n);
/* Some job changed state: STATUS= is sent on the next loop turn, and at
 * most once a second, by a one-shot timer armed only now. */
void notifier_jobs_changed(struct notifier *n);

#endif
