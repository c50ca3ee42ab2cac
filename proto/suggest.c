/* Nearest-word suggestions (suggest.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "proto/suggest.h"

/* Words longer than this are not compared: a typo is short. */
#define MAX_WORD 64

size_t edit_distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	/* Three rows of the table: two back, the last, this one. */
	size_t rows[3][MAX_WORD + 1];

	if (n > MAX_WORD || m > MAX_WORD)
		return (size_t)-1;
	for (size_t j = 0; j <= m; j++)
		rows[1][j] = j;
	for (size_t i = 1; i <= n; i++) {
		size_t *cur = rows[(i + 1) % 3], *prev = rows[i % 3], *prev2 = rows[(i + 2) % 3];
		cur[0] = i;
		for (size_t j = 1; j <= m; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t d = prev[j] + 1;
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			if (prev[j - 1] + cost < d)
				d = prev[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    prev2[j - 2] + 1 < d)
				d = prev2[j - 2] + 1;
			cur[j] = d;
		}
	}
	return rows[(n + 1) % 3][m];
}

const char *suggest_nearest(const char *word, const char *(*next)(size_t i, void *arg), void *arg)
{
	size_t len = strlen(word), best_d = (size_t)-1;
	size_t allowed = len / 3 < 1 ? 1 : len / 3 > 3 ? 3 : len / 3;
	const char *best = NULL, *c;

	for (size_t i = 0; (c = next(i, arg)); i++) {
		size_t d = edit_distance(word, c);
		if (d < best_d) {
			best_d = d;
			best = c;
		}
	}
	return best_d <= allowed ? best : NULL;
}
