/*
 * chase_ref.c - dependent-load pointer chase, the C latency reference for memwall_lab.
 *
 * Usage:   chase_ref LOADS REPEATS [SIZE_BYTES ...]
 *   LOADS    dependent loads per timed repeat (rounded up to a multiple of 8)
 *   REPEATS  timed repeats per size; the minimum is reported
 *   SIZE_BYTES working sets to measure (default: 4 KiB, 8 KiB, ... 256 MiB)
 * Output:  one line per size, "<size_bytes> <ns_per_load>".
 *
 * Method (lmbench lat_mem_rd / tinymembench): the working set holds one node per
 * 64-byte cache line, linked in a random cyclic permutation (a random order of
 * the lines, each pointing to the next, the last back to the first), so every
 * load depends on the one before and the prefetcher cannot guess the next line.
 * One untimed pass warms the caches and TLB; each timed repeat then goes on down
 * the cycle from where the previous one stopped (restarting at the head would
 * replay lines that are now cached). The loop is `p = *(void **)p`, unrolled 8x,
 * so the loop overhead is a fraction of a cycle per load and is not subtracted:
 * the result is the full load-to-use latency, L1 hit included.
 *
 * Build: cc -O2 chase_ref.c -o chase_ref
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define LINE 64
#define HUGE_ALIGN (2UL * 1024 * 1024)
/* numpy asks for huge pages on allocations of 4 MiB and more (numpy's alloc.c). */
#define HUGE_THRESHOLD (4UL * 1024 * 1024)
#define WARM_LOADS_MAX (1L << 22)

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* xorshift64*: a small, seedable generator, so every run builds the same cycle. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t next_random(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/*
 * Allocate `bytes` aligned to 2 MiB and, for large buffers, advise transparent huge
 * pages. On Linux numpy does the same for arrays of 4 MiB and more
 * (madvise(MADV_HUGEPAGE)), so memwall_lab's chain and this one see the same page
 * size: with 4 KiB pages a 256 MiB chase also pays for TLB misses on most loads.
 */
static void *alloc_buffer(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, HUGE_ALIGN, bytes) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (bytes >= HUGE_THRESHOLD)
        madvise(p, bytes, MADV_HUGEPAGE); /* advice only: failure is harmless */
#endif
    return p;
}

/* Link the `nodes` lines of `buf` into one random cycle; return the head. */
static void **build_cycle(char *buf, size_t nodes)
{
    size_t *order = malloc(nodes * sizeof *order);
    if (!order)
        return NULL;
    for (size_t i = 0; i < nodes; i++)
        order[i] = i;
    for (size_t i = nodes - 1; i > 0; i--) { /* Fisher-Yates shuffle */
        size_t j = (size_t)(next_random() % (i + 1));
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < nodes; i++) /* order[i] -> order[i + 1], last -> first */
        *(void **)(buf + order[i] * LINE) = buf + order[(i + 1) % nodes] * LINE;
    void **head = (void **)(buf + order[0] * LINE);
    free(order);
    return head;
}

/* Follow the chain for `loads` dependent loads (a multiple of 8); return where it ended. */
static void **chase(void **p, long loads)
{
    for (long i = 0; i < loads; i += 8) {
        p = (void **)*p;
        p = (void **)*p;
        p = (void **)*p;
        p = (void **)*p;
        p = (void **)*p;
        p = (void **)*p;
        p = (void **)*p;
        p = (void **)*p;
    }
    return p;
}

static void *volatile sink; /* keeps the chase observable, so it is not optimised away */

/* Minimum ns per load over `repeats` timed runs at a working set of `bytes`; < 0 on error. */
static double measure(size_t bytes, long loads, int repeats)
{
    size_t nodes = bytes / LINE;
    char *buf = alloc_buffer(nodes * LINE);
    if (!buf)
        return -1.0;
    void **p = build_cycle(buf, nodes);
    if (!p) {
        free(buf);
        return -1.0;
    }
    long warm = 2 * (long)nodes < WARM_LOADS_MAX ? 2 * (long)nodes : WARM_LOADS_MAX;
    p = chase(p, (warm + 7) / 8 * 8);
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        double t0 = now_seconds();
        p = chase(p, loads); /* go on from where the last repeat stopped */
        double t = now_seconds() - t0;
        if (t < best)
            best = t;
    }
    sink = p;
    free(buf);
    return best / (double)loads * 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s LOADS REPEATS [SIZE_BYTES ...]\n", argv[0]);
        return 2;
    }
    long loads = (atol(argv[1]) + 7) / 8 * 8;
    int repeats = atoi(argv[2]);
    if (loads < 8 || repeats < 1) {
        fprintf(stderr, "LOADS must be >= 8 and REPEATS >= 1\n");
        return 2;
    }
    size_t defaults[64];
    size_t count = 0;
    for (size_t s = 4096; s <= 256UL * 1024 * 1024; s *= 2)
        defaults[count++] = s;
    int given = argc - 3;
    for (int i = 0; i < (given ? given : (int)count); i++) {
        size_t bytes = given ? (size_t)atoll(argv[3 + i]) : defaults[i];
        if (bytes < 2 * LINE) {
            fprintf(stderr, "size %zu is below two cache lines\n", bytes);
            return 2;
        }
        double ns = measure(bytes, loads, repeats);
        if (ns < 0) {
            fprintf(stderr, "cannot allocate %zu bytes\n", bytes);
            return 1;
        }
        printf("%zu %.4f\n", bytes / LINE * LINE, ns);
        fflush(stdout);
    }
    return 0;
}
