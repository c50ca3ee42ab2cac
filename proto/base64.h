/* Base64 (RFC 4648, standard alphabet, padded), for binary bodies and file
 * contents carried in JSON strings. */
#ifndef ASYNCJOB_PROTO_BASE64_H
#define ASYNCJOB_PROTO_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes needed to encode `n` bytes (without a terminating NUL). */
size_t base64_encoded_size(size_t n);
/* Encodes into `out` (base64_encoded_size(n) bytes); returns that size. */
size_t base64_encode(const unsigned char *in, size_t n, char *out);

/* The most bytes `n` characters of base64 can decode to. */
size_t base64_decoded_max(size_t n);
/* Decodes strict, padded base64 (no whitespace, no other alphabet). Returns
 * the decoded size, or -1 when `in` is not such base64. `out` needs
 * base64_decoded_max(n) bytes. */
long base64_decode(const char *in, size_t n, unsigned char *out);

#endif
