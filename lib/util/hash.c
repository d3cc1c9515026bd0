/*
 * hash.c - SipHash-2-4 with a per-process random key (see hash.h).
 */
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

#include "hash.h"

static unsigned char process_key[16];
static int process_key_ready;

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static uint64_t load64_le(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

struct sip_state {
    uint64_t v0, v1, v2, v3;
};

static void sip_round(struct sip_state *s)
{
    s->v0 += s->v1;
    s->v1 = rotl(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotl(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = rotl(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = rotl(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotl(s->v2, 32);
}

static void sip_absorb(struct sip_state *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

uint64_t hash_siphash24(const unsigned char key[16], const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t k0 = load64_le(key), k1 = load64_le(key + 8);
    struct sip_state s = {
        k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
        k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL,
    };
    unsigned char tail[8] = { 0 };
    size_t whole = len - len % 8;

    for (size_t i = 0; i < whole; i += 8)
        sip_absorb(&s, load64_le(p + i));
    memcpy(tail, p + whole, len % 8);
    tail[7] = (unsigned char)len;
    sip_absorb(&s, load64_le(tail));
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

/* 128 random bits; if the kernel cannot give them, time and pid. */
static void process_key_init(void)
{
    struct timeval tv;
    uint64_t fallback[2];

    if (getrandom(process_key, sizeof(process_key), GRND_NONBLOCK) != (ssize_t)sizeof(process_key)) {
        gettimeofday(&tv, NULL);
        fallback[0] = (uint64_t)tv.tv_sec * 1000003u ^ (uint64_t)tv.tv_usec;
        fallback[1] = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)&tv;
        memcpy(process_key, fallback, sizeof(process_key));
    }
    process_key_ready = 1;
}

uint64_t hash_bytes(const void *data, size_t len)
{
    if (!process_key_ready)
        process_key_init();
    return hash_siphash24(process_key, data, len);
}

uint64_t hash_str(const char *str)
{
    return hash_bytes(str, strlen(str));
}
