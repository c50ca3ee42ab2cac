/* "Did you mean ...?": the nearest of a list of words to one mistyped, for
 * the CLI's commands and the configuration file's keys. */
#ifndef ASYNCJOB_PROTO_SUGGEST_H
#define ASYNCJOB_PROTO_SUGGEST_H

#include <stddef.h>

/* The Damerau-Levenshtein distance (optimal string alignment): insertions,
 * deletions, substitutions and swaps of two neighbours count one each. */
size_t edit_distance(const char *a, const char *b);

/* The candidate nearest `word`, when it is near enough to be what was meant
 * (a third of the word's length, at least 1, at most 3 edits); NULL when
 * none is. `next` gives the i-th candidate or NULL after the last. */
const char *suggest_nearest(const char *word, const char *(*next)(size_t i, void *arg),
			    void *arg);

#endif
