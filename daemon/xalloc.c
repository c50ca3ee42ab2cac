/* Aborting allocators for the daemon. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/log.h"
#include "daemon/xalloc.h"

_Noreturn void xalloc_die(void)
{
	log_crit("out of memory");
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		xalloc_die();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		xalloc_die();
	return p;
}

void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		xalloc_die();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		xalloc_die();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		xalloc_die();
	return p;
}

void xevtimer_add(struct event *timer, const struct timeval *tv)
{
	if (evtimer_add(timer, tv) < 0)
		xalloc_die();
}
