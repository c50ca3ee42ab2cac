/* Allocation for the daemon: running out of memory is fatal here, so callers
 * need no failure paths for it. The client library never uses these. */
#ifndef ASYNCJOBD_XALLOC_H
#define ASYNCJOBD_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Aborts with a log line naming what ran out; for libraries that report
 * allocation failure in their own way (json-c, libevent). */
_Noreturn void xalloc_die(void);

struct event;
struct timeval;
/* evtimer_add() that cannot fail: libevent fails to add a timer only when
 * its timer heap cannot grow, that is when memory runs out. Ignoring that
 * would leave a sleep, a timeout or a wait that never ends. */
void xevtimer_add(struct event *timer, const struct timeval *tv);

#endif
