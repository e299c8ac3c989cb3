/*
 * stream_ref.c - STREAM-style copy and triad, the C reference for memwall_lab.
 *
 * Usage:   stream_ref N [NTIMES [BLOCK]]
 *   N       elements per double array (memwall_lab uses default_array_bytes() / 8)
 *   NTIMES  timed repeats of each kernel, the first discarded (default 10)
 *   BLOCK   elements per block of triad_2pass (memwall_lab passes its
 *           measure.TRIAD_BLOCK_ELEMENTS; default 131072)
 * Threads: OpenMP, set with OMP_NUM_THREADS.
 * Output:  one machine-readable line per kernel, "<kernel> <best_bytes_per_s>",
 *          plus "threads <n>", "elements <n>" and "checksum <x>" lines. Kernels:
 *          copy, triad (STREAM's fused loop) and triad_2pass (the same triad done
 *          the way numpy must do it: two passes per block, see below).
 *
 * Method (McCalpin's STREAM): arrays are initialised in parallel with the same
 * static schedule as the kernels (first touch puts each page near the thread
 * that uses it), every kernel runs NTIMES times, the first repeat is discarded,
 * and the best (shortest) time is reported. Bytes are counted the STREAM way:
 * 8 bytes per element for each array named, 2 arrays for copy and 3 for triad
 * (write-allocate traffic is not counted, exactly as memwall_lab counts).
 *
 * Build: cc -O2 -fopenmp stream_ref.c -o stream_ref
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define HUGE_ALIGN (2UL * 1024 * 1024)
/* numpy asks for huge pages on allocations of 4 MiB and more (numpy's alloc.c). */
#define HUGE_THRESHOLD (4UL * 1024 * 1024)
#define SCALAR 3.0
/* numpy has no fused multiply-add ufunc, so memwall_lab computes a triad block by block
 * in two passes, a = SCALAR * c, then a = a + b, while the block is still in cache.
 * triad_2pass does exactly that in C, which separates the cost of the two passes from
 * the cost of Python. */
#define DEFAULT_TRIAD_BLOCK 131072L

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/*
 * Allocate `bytes` aligned to 2 MiB and, for large arrays, advise transparent huge
 * pages. On Linux numpy does the same for arrays of 4 MiB and more
 * (madvise(MADV_HUGEPAGE)), so the C reference and memwall_lab see the same page
 * size and the same TLB behaviour; without this the comparison would measure page
 * sizes, not code.
 */
static double *alloc_array(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, HUGE_ALIGN, bytes) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (bytes >= HUGE_THRESHOLD)
        madvise(p, bytes, MADV_HUGEPAGE); /* advice only: failure is harmless */
#endif
    return (double *)p;
}

/* a = b + SCALAR * c in two passes per `block` elements, blocks split statically. */
static void triad_2pass(double *a, const double *b, const double *c, long n, long block)
{
    long blocks = (n + block - 1) / block;
#pragma omp parallel for schedule(static)
    for (long k = 0; k < blocks; k++) {
        long low = k * block, high = low + block < n ? low + block : n;
        for (long j = low; j < high; j++)
            a[j] = SCALAR * c[j];
        __asm__ volatile("" ::: "memory"); /* keep the compiler from fusing the passes */
        for (long j = low; j < high; j++)
            a[j] = a[j] + b[j];
    }
}

static int thread_count(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s N [NTIMES [BLOCK]]\n", argv[0]);
        return 2;
    }
    long n = atol(argv[1]);
    int ntimes = argc > 2 ? atoi(argv[2]) : 10;
    long block = argc > 3 ? atol(argv[3]) : DEFAULT_TRIAD_BLOCK;
    if (n < 1 || ntimes < 2 || block < 1) {
        fprintf(stderr, "N and BLOCK must be >= 1 and NTIMES >= 2\n");
        return 2;
    }
    size_t bytes = (size_t)n * sizeof(double);
    double *a = alloc_array(bytes), *b = alloc_array(bytes), *c = alloc_array(bytes);
    if (!a || !b || !c) {
        fprintf(stderr, "cannot allocate 3 arrays of %zu bytes\n", bytes);
        return 1;
    }

    /* Parallel first touch, same schedule as the kernels. */
#pragma omp parallel for schedule(static)
    for (long j = 0; j < n; j++) {
        a[j] = 1.0;
        b[j] = 2.0;
        c[j] = 0.0;
    }

    double best_copy = 1e30, best_triad = 1e30, best_2pass = 1e30;
    for (int k = 0; k < ntimes; k++) {
        double t0 = now_seconds();
#pragma omp parallel for schedule(static)
        for (long j = 0; j < n; j++)
            c[j] = a[j];
        double t1 = now_seconds();
#pragma omp parallel for schedule(static)
        for (long j = 0; j < n; j++)
            a[j] = b[j] + SCALAR * c[j];
        double t2 = now_seconds();
        triad_2pass(a, b, c, n, block);
        double t3 = now_seconds();
        if (k > 0) { /* the first repeat is discarded, as STREAM does */
            if (t1 - t0 < best_copy)
                best_copy = t1 - t0;
            if (t2 - t1 < best_triad)
                best_triad = t2 - t1;
            if (t3 - t2 < best_2pass)
                best_2pass = t3 - t2;
        }
    }

    /* Use the results so the compiler cannot drop the loops. */
    double checksum = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : checksum)
    for (long j = 0; j < n; j++)
        checksum += a[j] + c[j];

    printf("threads %d\n", thread_count());
    printf("elements %ld\n", n);
    printf("copy %.6e\n", 2.0 * (double)bytes / best_copy);
    printf("triad %.6e\n", 3.0 * (double)bytes / best_triad);
    printf("triad_2pass %.6e\n", 3.0 * (double)bytes / best_2pass);
    printf("checksum %.6e\n", checksum);
    free(a);
    free(b);
    free(c);
    return 0;
}
