/*
 * Fuzz target of the C filter matcher (native/matcher.c): program loader, topic and data
 * scanning, the bank and its resumable batch call.
 *
 * Input: u16 program length, program, u16 topic length, topic, the rest is the data frame
 * (lengths little-endian, clamped to what is there).
 *
 * Two builds (docs/filters.md, "Fuzzing"):
 *   libFuzzer:  clang -g -O1 -fsanitize=fuzzer,address,undefined -Inative \
 *                 native/fuzz/fuzz_matcher.c native/matcher.c -o fuzz_matcher
 *   standalone: cc -g -O1 -fsanitize=address,undefined -DOMF_FUZZ_MAIN -Inative \
 *                 native/fuzz/fuzz_matcher.c native/matcher.c -o fuzz_matcher
 * The standalone build runs a seeded mutation loop over a corpus directory, so CI needs
 * no clang: ./fuzz_matcher CORPUS_DIR ITERATIONS SEED
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matcher.h"

static const uint8_t MATCH_ALL[] = {'O', 'M', 'F', '1', 0, 0, 0, 0};

typedef struct { const uint8_t *prog, *topic, *data; size_t plen, tlen, dlen; } parts;

static size_t take(const uint8_t **p, size_t *left) {
    if (*left < 2) { *p += *left; *left = 0; return 0; }
    size_t n = (size_t)(*p)[0] | (size_t)(*p)[1] << 8;
    *p += 2;
    *left -= 2;
    return n < *left ? n : *left;
}

static parts split(const uint8_t *in, size_t size) {
    parts x;
    const uint8_t *p = in;
    size_t left = size;
    x.plen = take(&p, &left);
    x.prog = p; p += x.plen; left -= x.plen;
    x.tlen = take(&p, &left);
    x.topic = p; p += x.tlen; left -= x.tlen;
    x.data = p;
    x.dlen = left;
    return x;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size) {
    parts x = split(in, size);
    omf_set *s = omf_set_new(x.prog, x.plen);
    if (s) {
        omf_set_match(s, x.topic, x.tlen, x.data, x.dlen);
        omf_set_match(s, x.data, x.dlen, x.topic, x.tlen);
        omf_set_match(s, NULL, 0, NULL, 0);
        omf_set_free(s);
    }
    omf_bank *b = omf_bank_new();
    if (!b) return 0;
    uint32_t h1 = 0, h2 = 0, h3 = 0;
    int ok1 = omf_bank_add(b, x.prog, x.plen, &h1) == 1;
    omf_bank_add(b, MATCH_ALL, sizeof MATCH_ALL, &h2);
    int ok3 = omf_bank_add(b, x.prog, x.plen, &h3) == 1;
    /* Three events: the frames, the frames swapped, and NULL frames; a tiny output buffer
     * forces resumed calls. */
    omf_frame frames[6] = {{x.topic, x.tlen}, {x.data, x.dlen}, {x.data, x.dlen},
                           {x.topic, x.tlen}, {NULL, 0}, {NULL, 0}};
    size_t n = 3, i = 0, got = 0;
    uint32_t out[8];
    while (i < n) {
        size_t next = omf_bank_match(b, n, frames, i, out, 4, &got);
        if (next == i) break;
        i = next;
    }
    if (ok1) omf_bank_remove(b, h1);
    omf_bank_remove(b, h1);
    if (ok3 && (x.tlen + x.dlen) & 1) omf_bank_remove(b, h3); /* sometimes leave sets for bank_free */
    omf_bank_free(b);
    return 0;
}

#ifdef OMF_FUZZ_MAIN
#include <dirent.h>

static uint64_t rng;

static uint32_t rnd(uint32_t n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return n ? (uint32_t)(rng % n) : 0;
}

typedef struct { uint8_t *p; size_t n; } buf;

static buf *corpus;
static size_t ncorpus;

static void load_corpus(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    if (!d) { perror(dir); exit(2); }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        if (n < 0) { fclose(f); continue; }
        corpus = realloc(corpus, (ncorpus + 1) * sizeof *corpus);
        corpus[ncorpus].p = malloc((size_t)n + 1);
        corpus[ncorpus].n = fread(corpus[ncorpus].p, 1, (size_t)n, f);
        ncorpus++;
        fclose(f);
    }
    closedir(d);
}

static const char *TOKENS[] = {"{", "}", "[", "]", "\"", "\\", "\\u", "\\ud800", ":", ",", "\0",
                               "=", "*", "[!", "-", "1e999", "-0", "null", "true", "\xff", " "};

/* Mutate one region (program, topic or data) of a corpus entry, keeping the layout. */
static size_t mutate(const buf *src, uint8_t *dst, size_t cap) {
    parts x = split(src->p, src->n);
    const uint8_t *reg[3] = {x.prog, x.topic, x.data};
    size_t len[3] = {x.plen, x.tlen, x.dlen};
    uint8_t r[3][8192];
    uint32_t which = rnd(8);
    int target = which == 0 ? 0 : which < 3 ? 1 : 2;
    for (int k = 0; k < 3; k++) {
        if (len[k] > sizeof r[k]) len[k] = sizeof r[k];
        memcpy(r[k], reg[k], len[k]);
    }
    int rounds = 1 + (int)rnd(4);
    for (int m = 0; m < rounds; m++) {
        uint8_t *b = r[target];
        size_t n = len[target], pos = n ? rnd((uint32_t)n + 1) : 0;
        switch (rnd(6)) {
        case 0: if (n) b[rnd((uint32_t)n)] ^= (uint8_t)(1u << rnd(8)); break;
        case 1: if (n) b[rnd((uint32_t)n)] = (uint8_t)rnd(256); break;
        case 2: len[target] = pos; break;
        case 3: if (n > pos) { memmove(b + pos, b + pos + 1, n - pos - 1); len[target]--; } break;
        default: {
            const char *t = TOKENS[rnd(sizeof TOKENS / sizeof *TOKENS)];
            size_t tn = t[0] ? strlen(t) : 1;
            if (n + tn <= sizeof r[target]) {
                memmove(b + pos + tn, b + pos, n - pos);
                memcpy(b + pos, t, tn);
                len[target] += tn;
            }
        }
        }
    }
    size_t o = 0;
    for (int k = 0; k < 3; k++) {
        if (k < 2) {
            if (len[k] > 0xFFFF) len[k] = 0xFFFF;
            dst[o++] = (uint8_t)len[k];
            dst[o++] = (uint8_t)(len[k] >> 8);
        }
        if (o + len[k] > cap) len[k] = cap - o;
        memcpy(dst + o, r[k], len[k]);
        o += len[k];
    }
    return o;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s CORPUS_DIR ITERATIONS [SEED]\n", argv[0]);
        return 2;
    }
    load_corpus(argv[1]);
    long iters = atol(argv[2]);
    rng = argc > 3 ? strtoull(argv[3], NULL, 10) * 2654435761u + 1 : 88172645463325252ull;
    if (!ncorpus) { fprintf(stderr, "empty corpus\n"); return 2; }
    static uint8_t in[3 * 8192 + 4];
    for (size_t k = 0; k < ncorpus; k++) LLVMFuzzerTestOneInput(corpus[k].p, corpus[k].n);
    for (long it = 0; it < iters; it++) {
        size_t n = mutate(&corpus[rnd((uint32_t)ncorpus)], in, sizeof in);
        /* A copy sized exactly, so ASan sees any read past the end of the input. */
        uint8_t *exact = malloc(n ? n : 1);
        memcpy(exact, in, n);
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
    }
    for (size_t k = 0; k < ncorpus; k++) free(corpus[k].p);
    free(corpus);
    printf("fuzz_matcher: %ld iterations over %zu seeds, no crash\n", iters, ncorpus);
    return 0;
}
#endif
