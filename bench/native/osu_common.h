/* Shared helpers for the OSU-style reference benchmarks (osu_latency.c, osu_bw.c, osu_allreduce.c).
 *
 * Every program runs ONE repetition over a list of sizes and rank 0 prints one JSON object per size
 * on stdout; everything else goes to stderr. Options (all programs):
 *   --sizes LIST        comma-separated byte counts (default: OSU's power-of-two range)
 *   --iters-scale F     multiply the OSU iteration and warm-up counts (e.g. 0.1 for a quick run)
 *   --iters N           fixed timed iterations for every size (overrides the OSU schedule)
 *   --warmup N          fixed warm-up iterations for every size
 *   --hugepages         2 MiB-aligned buffers with madvise(MADV_HUGEPAGE)
 *   --thread-level L    MPI_Init_thread with single|funneled|serialized|multiple (default: MPI_Init)
 *
 * Iteration schedule (OSU 5.x/7.x osu_util.h; "large" means size > 8192 bytes):
 *   latency    10000 iters / 100 warm-up, large 1000 / 10
 *   bw           100 iters /  10 warm-up, large   20 /  2   (window of 64 messages per iteration)
 *   allreduce   1000 iters / 100 warm-up, large  100 / 10
 * Scaled counts are rounded and clamped to at least 1.
 *
 * Output, one line per size (extra members: bw "window"; allreduce "min", "max" over ranks):
 *   {"bench":"latency","impl":"c","size":8,"iters":10000,"warmup":100,"value":0.43,"unit":"us",
 *    "pages":"normal","ranks":2,"thread":"single"}
 * "pages" is what /proc/self/smaps shows for the buffers on all ranks: "huge", "normal" or "mixed".
 * "thread" is the thread level MPI provided.
 */
#ifndef OSU_COMMON_H
#define OSU_COMMON_H

#define _DEFAULT_SOURCE /* posix_memalign, madvise under -std=c11 */

#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define OSU_LARGE_MESSAGE_SIZE 8192L
#define OSU_MAX_BYTES (1L << 30)
#define OSU_MAX_SIZES 256
#define OSU_PAGE 4096UL
#define OSU_HUGE_PAGE (2UL << 20)

/* What differs between the three programs. */
typedef struct {
  const char *name;  /* program name for messages */
  const char *ranks; /* rank count for the usage line */
  long multiple;     /* sizes must be a multiple of this */
  long dmin, dmax;   /* default size range (powers of two) */
  long small_iters, small_warmup, large_iters, large_warmup;
} osu_bench;

typedef struct {
  long sizes[OSU_MAX_SIZES];
  int nsizes;
  double iters_scale;
  long iters, warmup; /* -1: use the schedule */
  int hugepages;
  int thread_level; /* -1: plain MPI_Init */
} osu_opts;

typedef struct {
  void *p;
  size_t len;  /* allocated (rounded) length */
  int advised; /* madvise(MADV_HUGEPAGE) succeeded */
} osu_buf;

static inline void osu_usage(const osu_bench *b) {
  fprintf(stderr,
          "usage: mpirun -n %s %s [--sizes N,N,...] [--iters-scale F] [--iters N] [--warmup N]\n"
          "         [--hugepages] [--thread-level single|funneled|serialized|multiple]\n"
          "  sizes in bytes%s, default %ld..%ld (powers of two); rank 0 prints one JSON line per size\n",
          b->ranks, b->name, b->multiple > 1 ? " (multiples of 4)" : "", b->dmin, b->dmax);
}

static inline int osu_parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  if (s == NULL || *s == '\0' || *s == '-' || *s == '+' || *s == ' ') return -1;
  long v = strtol(s, &end, 10);
  if (*end != '\0' || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

/* Returns 0 on success, 1 for --help, -1 on error (message in err). */
static inline int osu_parse(int argc, char **argv, const osu_bench *b, osu_opts *o, char *err,
                            size_t errlen) {
  static const char *levels[] = {"single", "funneled", "serialized", "multiple"};
  static const int level_ids[] = {MPI_THREAD_SINGLE, MPI_THREAD_FUNNELED, MPI_THREAD_SERIALIZED,
                                  MPI_THREAD_MULTIPLE};
  memset(o, 0, sizeof *o);
  o->iters_scale = 1.0;
  o->iters = o->warmup = -1;
  o->thread_level = -1;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i], *val = NULL;
    char name[32];
    const char *eq = strchr(a, '=');
    size_t n = eq ? (size_t)(eq - a) : strlen(a);
    if (n >= sizeof name) n = sizeof name - 1;
    memcpy(name, a, n);
    name[n] = '\0';
    if (!strcmp(name, "-h") || !strcmp(name, "--help")) return 1;
    if (!strcmp(name, "--hugepages") && !eq) {
      o->hugepages = 1;
      continue;
    }
    int takes = !strcmp(name, "--sizes") || !strcmp(name, "--iters-scale") ||
                !strcmp(name, "--iters") || !strcmp(name, "--warmup") ||
                !strcmp(name, "--thread-level");
    if (!takes) {
      snprintf(err, errlen, "unknown argument '%s'", a);
      return -1;
    }
    val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (val == NULL) {
      snprintf(err, errlen, "%s needs a value", name);
      return -1;
    }
    if (!strcmp(name, "--sizes")) {
      char buf[4096], *save = NULL;
      if (strlen(val) >= sizeof buf) {
        snprintf(err, errlen, "--sizes list too long");
        return -1;
      }
      strcpy(buf, val);
      o->nsizes = 0;
      for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long v;
        if (o->nsizes == OSU_MAX_SIZES) {
          snprintf(err, errlen, "--sizes: at most %d sizes", OSU_MAX_SIZES);
          return -1;
        }
        if (osu_parse_long(t, 0, OSU_MAX_BYTES, &v) || v % b->multiple) {
          snprintf(err, errlen, "--sizes: '%s' is not a byte count in [0, %ld]%s", t, OSU_MAX_BYTES,
                   b->multiple > 1 ? " that is a multiple of 4" : "");
          return -1;
        }
        o->sizes[o->nsizes++] = v;
      }
      if (o->nsizes == 0 || val[strlen(val) - 1] == ',' || val[0] == ',' || strstr(val, ",,")) {
        snprintf(err, errlen, "--sizes: malformed list '%s'", val);
        return -1;
      }
    } else if (!strcmp(name, "--iters-scale")) {
      char *end;
      o->iters_scale = strtod(val, &end);
      if (*val == '\0' || *end != '\0' || !isfinite(o->iters_scale) || o->iters_scale <= 0 ||
          o->iters_scale > 1000) {
        snprintf(err, errlen, "--iters-scale: '%s' is not a number in (0, 1000]", val);
        return -1;
      }
    } else if (!strcmp(name, "--iters") || !strcmp(name, "--warmup")) {
      int is_iters = !strcmp(name, "--iters");
      if (osu_parse_long(val, is_iters ? 1 : 0, 100000000L, is_iters ? &o->iters : &o->warmup)) {
        snprintf(err, errlen, "%s: '%s' is not an integer in [%d, 100000000]", name, val, is_iters);
        return -1;
      }
    } else {
      o->thread_level = -2;
      for (int k = 0; k < 4; ++k)
        if (!strcmp(val, levels[k])) o->thread_level = level_ids[k];
      if (o->thread_level == -2) {
        snprintf(err, errlen, "--thread-level: '%s' is not single|funneled|serialized|multiple", val);
        return -1;
      }
    }
  }
  if (o->nsizes == 0) /* OSU default range: powers of two from dmin to dmax */
    for (long s = b->dmin; s <= b->dmax; s = s ? s * 2 : 1) o->sizes[o->nsizes++] = s;
  return 0;
}

static inline const char *osu_thread_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE: return "single";
    case MPI_THREAD_FUNNELED: return "funneled";
    case MPI_THREAD_SERIALIZED: return "serialized";
    default: return "multiple";
  }
}

/* Parses the options and initialises MPI. On bad arguments or --help, rank 0 prints the usage,
 * MPI is finalised and the process exits (2 on error, 0 for --help). Returns the provided thread
 * level. */
static inline int osu_setup(int *argc, char ***argv, const osu_bench *b, osu_opts *o, int *rank,
                            int *nranks) {
  char err[256] = "";
  int rc = osu_parse(*argc, *argv, b, o, err, sizeof err);
  int provided = MPI_THREAD_SINGLE;
  if (rc == 0 && o->thread_level >= 0) {
    MPI_Init_thread(argc, argv, o->thread_level, &provided);
  } else {
    MPI_Init(argc, argv);
    MPI_Query_thread(&provided);
  }
  MPI_Comm_rank(MPI_COMM_WORLD, rank);
  MPI_Comm_size(MPI_COMM_WORLD, nranks);
  if (rc != 0) {
    if (*rank == 0) {
      if (rc < 0) fprintf(stderr, "%s: %s\n", b->name, err);
      osu_usage(b);
    }
    MPI_Finalize();
    exit(rc < 0 ? 2 : 0);
  }
  if (o->thread_level >= 0 && provided < o->thread_level && *rank == 0)
    fprintf(stderr, "%s: warning: requested thread level %s, got %s\n", b->name,
            osu_thread_name(o->thread_level), osu_thread_name(provided));
  return provided;
}

/* Programs for exactly `want` ranks: otherwise rank 0 says so, MPI is finalised and the process exits 2. */
static inline void osu_need_ranks(const osu_bench *b, int rank, int nranks, int want) {
  if (nranks == want) return;
  if (rank == 0) fprintf(stderr, "%s: needs exactly %d ranks, got %d\n", b->name, want, nranks);
  MPI_Finalize();
  exit(2);
}

static inline long osu_scaled(long base, double scale) {
  long v = (long)((double)base * scale + 0.5);
  return v < 1 ? 1 : v;
}

static inline void osu_iters(const osu_bench *s, const osu_opts *o, long size, long *iters,
                             long *warmup) {
  int large = size > OSU_LARGE_MESSAGE_SIZE;
  *iters = o->iters >= 0 ? o->iters : osu_scaled(large ? s->large_iters : s->small_iters, o->iters_scale);
  *warmup =
      o->warmup >= 0 ? o->warmup : osu_scaled(large ? s->large_warmup : s->small_warmup, o->iters_scale);
}

static inline long osu_max_size(const osu_opts *o) {
  long m = 0;
  for (int i = 0; i < o->nsizes; ++i)
    if (o->sizes[i] > m) m = o->sizes[i];
  return m;
}

/* Page-aligned (or 2 MiB-aligned + MADV_HUGEPAGE) buffer, touched before use. */
static inline void osu_alloc(osu_buf *b, size_t bytes, int huge) {
  size_t align = huge ? OSU_HUGE_PAGE : OSU_PAGE;
  b->len = (bytes + align - 1) / align * align;
  if (b->len == 0) b->len = align;
  b->advised = 0;
  if (posix_memalign(&b->p, align, b->len) != 0) {
    fprintf(stderr, "posix_memalign(%zu, %zu) failed\n", align, b->len);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  if (huge) b->advised = madvise(b->p, b->len, MADV_HUGEPAGE) == 0;
  memset(b->p, 0, b->len);
}

/* AnonHugePages (kB) of the mapping containing p, from /proc/self/smaps; -1 if unknown. */
static inline long osu_anon_huge_kb(const void *p) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) return -1;
  char line[512];
  unsigned long lo, hi, a = (unsigned long)p;
  int in = 0;
  long kb = -1;
  while (fgets(line, sizeof line, f)) {
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3)
      in = a >= lo && a < hi;
    else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
      break;
  }
  fclose(f);
  return kb;
}

/* Collective: "huge" if every buffer on every rank is backed by transparent huge pages, "normal"
 * if none is, "mixed" otherwise. */
static inline const char *osu_pages(const osu_buf *bufs, int n, const osu_opts *o,
                                    const osu_bench *b) {
  int local[2] = {0, n}, total[2];
  for (int i = 0; i < n; ++i) {
    long kb = osu_anon_huge_kb(bufs[i].p);
    local[0] += kb > 0 || (kb < 0 && bufs[i].advised);
  }
  MPI_Allreduce(local, total, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  const char *pages = total[0] == 0 ? "normal" : total[0] == total[1] ? "huge" : "mixed";
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0 && o->hugepages && strcmp(pages, "huge"))
    fprintf(stderr, "%s: warning: --hugepages requested but buffers are %s\n", b->name, pages);
  return pages;
}

/* One result line; extra is "" or a string of further ,"key":value members. */
static inline void osu_emit(const char *bench, long size, long iters, long warmup, double value,
                            const char *unit, const char *pages, int ranks, int thread,
                            const char *extra) {
  printf("{\"bench\":\"%s\",\"impl\":\"c\",\"size\":%ld,\"iters\":%ld,\"warmup\":%ld,"
         "\"value\":%.4f,\"unit\":\"%s\",\"pages\":\"%s\",\"ranks\":%d,\"thread\":\"%s\"%s}\n",
         bench, size, iters, warmup, value, unit, pages, ranks, osu_thread_name(thread), extra);
  fflush(stdout);
}

#endif
