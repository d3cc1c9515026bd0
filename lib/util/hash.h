/*
 * hash.h - the one string hash of Postern.
 *
 * SipHash-2-4 (Aumasson and Bernstein, 2012) keyed with 128 random bits
 * drawn once per process: keys that come from the network (domain names,
 * addresses, queue IDs) cannot be chosen to collide, and every bit of the
 * result is well mixed, so a table may use the low bits directly.
 * Values differ from one process to the next: never store them.
 *
 * No memory is owned.
 */
#ifndef POSTERN_HASH_H
#define POSTERN_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t hash_bytes(const void *data, size_t len);
uint64_t hash_str(const char *str);

/* SipHash-2-4 with an explicit key (for tests against published vectors). */
uint64_t hash_siphash24(const unsigned char key[16], const void *data, size_t len);

#endif
