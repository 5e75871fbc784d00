/*
 * omd event filter matcher (see matcher.h and docs/filters.md).
 *
 * Semantics are shared, line for line, with the pure-Python twin in omd/filters/_python.py and
 * omd/filters/_scan.py: change one, change the other, and the differential tests will tell.
 */
#include "matcher.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 10000      /* nesting a skipped JSON value may have (both twins) */
#define NUMBER_BUF 128       /* number tokens up to this length parse without malloc */
#define NO_FILTER 0xFFFFFFFFu
#define ONES 0x0101010101010101ull  /* SWAR: one in every byte */
#define HIGHS 0x8080808080808080ull /* SWAR: bit 7 of every byte */

enum { L_EQ = 0, L_NE = 1, L_GLOB = 2, L_NGLOB = 3 };
enum { D_EQ = 0, D_NE = 1, D_LT = 2, D_LE = 3, D_GT = 4, D_GE = 5 };
enum { V_STR = 0, V_NUM = 1, V_TRUE = 2, V_FALSE = 3, V_NULL = 4, V_CONTAINER = 5 };
enum { S_KEY = 0, S_INDEX = 1 };

typedef struct { const uint8_t *p; uint32_t n; } span;
typedef struct { uint8_t op; span key, val; } label_t;
typedef struct { uint8_t type; uint32_t index; span key; } seg_t;
typedef struct {
    uint8_t op, vtype;
    span str;
    double num;
    uint32_t nsegs;
    seg_t *segs;
} data_t;
typedef struct {
    uint32_t nkinds, nlabels, ndata;
    span *kinds;
    label_t *labels;
    data_t *data;
} filter_t;

struct omf_set {
    uint8_t *prog;          /* private copy: every span points into it */
    void *arena;            /* filters, kinds, labels, data and segments, one block */
    uint32_t nfilters;
    filter_t *filters;
    uint32_t handle;
    uint64_t stamp;         /* last bank event that matched this set: emit each set once */
    uint32_t idx_refs[2];   /* entries this set has in the bank's label index, per label */
};

/* ------------------------------------------------------------------------------------------
 * Program loader: two passes over the same reader, the first counts, the second fills. */

typedef struct { const uint8_t *p, *end; int ok; } reader;

static uint32_t rd_u32(reader *r) {
    if (!r->ok || r->end - r->p < 4) { r->ok = 0; return 0; }
    uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
                 (uint32_t)r->p[3] << 24;
    r->p += 4;
    return v;
}

static uint8_t rd_u8(reader *r) {
    if (!r->ok || r->end - r->p < 1) { r->ok = 0; return 0; }
    return *r->p++;
}

static span rd_span(reader *r) {
    span s = {NULL, 0};
    uint32_t n = rd_u32(r);
    if (!r->ok || (size_t)(r->end - r->p) < n) { r->ok = 0; return s; }
    s.p = r->p;
    s.n = n;
    r->p += n;
    return s;
}

static double rd_f64(reader *r) {
    double d = 0.0;
    uint64_t v = 0;
    if (!r->ok || r->end - r->p < 8) { r->ok = 0; return d; }
    for (int i = 7; i >= 0; i--) v = v << 8 | r->p[i];
    memcpy(&d, &v, 8);
    r->p += 8;
    if (d != d) r->ok = 0; /* no JSON literal is NaN */
    return d;
}

/* A count can never exceed the bytes left: each item takes at least one byte. */
static uint32_t rd_count(reader *r) {
    uint32_t n = rd_u32(r);
    if (r->ok && n > (size_t)(r->end - r->p)) r->ok = 0;
    return n;
}

typedef struct { size_t filters, kinds, labels, data, segs; } counts;

static int load(reader *r, counts *c, omf_set *s) {
    uint8_t magic[4];
    for (int i = 0; i < 4; i++) magic[i] = rd_u8(r);
    if (!r->ok || memcmp(magic, "OMF1", 4) != 0) return 0;
    uint32_t nf = rd_count(r);
    size_t fi = 0, ki = 0, li = 0, di = 0, si = 0;
    for (uint32_t f = 0; f < nf && r->ok; f++) {
        filter_t *F = s ? &s->filters[fi] : NULL;
        fi++;
        uint32_t nk = rd_count(r);
        if (F) F->nkinds = nk;
        span *kinds = s ? ((span *)((char *)s->arena + c->filters * sizeof(filter_t))) + ki : NULL;
        for (uint32_t k = 0; k < nk && r->ok; k++) {
            span sp = rd_span(r);
            if (kinds) kinds[k] = sp;
        }
        ki += nk;
        uint32_t nl = rd_count(r);
        label_t *labels = s ? ((label_t *)((char *)s->arena + c->filters * sizeof(filter_t) +
                                           c->kinds * sizeof(span))) + li : NULL;
        for (uint32_t l = 0; l < nl && r->ok; l++) {
            uint8_t op = rd_u8(r);
            span key = rd_span(r);
            span val = rd_span(r);
            if (op > L_NGLOB) r->ok = 0;
            if (labels) { labels[l].op = op; labels[l].key = key; labels[l].val = val; }
        }
        li += nl;
        uint32_t nd = rd_count(r);
        data_t *data = s ? ((data_t *)((char *)s->arena + c->filters * sizeof(filter_t) +
                                       c->kinds * sizeof(span) + c->labels * sizeof(label_t))) + di
                         : NULL;
        for (uint32_t d = 0; d < nd && r->ok; d++) {
            data_t D;
            memset(&D, 0, sizeof D);
            D.op = rd_u8(r);
            D.vtype = rd_u8(r);
            if (D.op > D_GE || D.vtype > V_NULL) r->ok = 0;
            if (D.vtype == V_STR) D.str = rd_span(r);
            else if (D.vtype == V_NUM) D.num = rd_f64(r);
            D.nsegs = rd_count(r);
            if (D.nsegs == 0) r->ok = 0;
            seg_t *segs = s ? ((seg_t *)((char *)s->arena + c->filters * sizeof(filter_t) +
                                         c->kinds * sizeof(span) + c->labels * sizeof(label_t) +
                                         c->data * sizeof(data_t))) + si : NULL;
            for (uint32_t g = 0; g < D.nsegs && r->ok; g++) {
                seg_t G;
                memset(&G, 0, sizeof G);
                G.type = rd_u8(r);
                if (G.type == S_KEY) G.key = rd_span(r);
                else if (G.type == S_INDEX) G.index = rd_u32(r);
                else r->ok = 0;
                if (segs) segs[g] = G;
            }
            D.segs = segs;
            si += D.nsegs;
            if (data) data[d] = D;
        }
        di += nd;
        if (F) {
            F->kinds = kinds;
            F->nlabels = nl;
            F->labels = labels;
            F->ndata = nd;
            F->data = data;
        }
    }
    if (!r->ok || r->p != r->end) return 0;
    if (!s) { c->filters = fi; c->kinds = ki; c->labels = li; c->data = di; c->segs = si; }
    return 1;
}

omf_set *omf_set_new(const uint8_t *prog, size_t len) {
    if (!prog || len > 0x7FFFFFFF) return NULL;
    counts c = {0, 0, 0, 0, 0};
    reader r = {prog, prog + len, 1};
    if (!load(&r, &c, NULL)) return NULL;
    omf_set *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->prog = malloc(len ? len : 1);
    size_t size = c.filters * sizeof(filter_t) + c.kinds * sizeof(span) +
                  c.labels * sizeof(label_t) + c.data * sizeof(data_t) + c.segs * sizeof(seg_t);
    s->arena = calloc(1, size ? size : 1);
    if (!s->prog || !s->arena) { omf_set_free(s); return NULL; }
    memcpy(s->prog, prog, len);
    s->filters = (filter_t *)s->arena;
    s->nfilters = (uint32_t)c.filters;
    reader r2 = {s->prog, s->prog + len, 1};
    if (!load(&r2, &c, s)) { omf_set_free(s); return NULL; }
    return s;
}

void omf_set_free(omf_set *s) {
    if (!s) return;
    free(s->prog);
    free(s->arena);
    free(s);
}

/* ------------------------------------------------------------------------------------------
 * Topic frame: Kind NUL (key=value NUL)*, the last NUL optional. */

static span topic_kind(const uint8_t *t, size_t tl) {
    span s = {t, 0};
    const uint8_t *z = tl ? memchr(t, 0, tl) : NULL;
    s.n = (uint32_t)(z ? (size_t)(z - t) : tl);
    return s;
}

/* The first label `key` of the topic; 0 when absent. A field is `key=value`; fields without
 * `=` are ignored. Keys never contain `=` or NUL (the parser cannot produce them), so a field
 * holds the key when it starts with the key followed by `=`. */
static int topic_label(const uint8_t *t, size_t tl, span key, span *val) {
    const uint8_t *end = t + tl, *p = t;
    while (p < end && *p) p++;
    if (p == end) return 0;
    p++;
    while (p < end) {
        if ((size_t)(end - p) > key.n && p[key.n] == '=' && memcmp(p, key.p, key.n) == 0 &&
            !memchr(p, 0, key.n) && !memchr(p, '=', key.n)) {
            const uint8_t *v = p + key.n + 1, *q = v;
            while (q < end && *q) q++;
            val->p = v;
            val->n = (uint32_t)(q - v);
            return 1;
        }
        while (p < end && *p) p++;
        if (p == end) return 0;
        p++;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Glob: `*`, `?`, `[...]` (`!` negates, `]` first is literal, `a-z` ranges) over UTF-8
 * characters; an invalid UTF-8 byte is a character of its own. */

static uint32_t utf8_char(const uint8_t *s, size_t i, size_t n, size_t *len) {
    uint8_t b = s[i];
    size_t need = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xC2 && b <= 0xDF ? 2 : 1;
    if (need > 1) {
        if (i + need > n) need = 1;
        else
            for (size_t k = 1; k < need; k++)
                if ((s[i + k] & 0xC0) != 0x80) { need = 1; break; }
    }
    *len = need;
    if (need == 1) return b;
    uint32_t cp = b & (0x7F >> need);
    for (size_t k = 1; k < need; k++) cp = cp << 6 | (s[i + k] & 0x3F);
    return cp;
}

/* Match the class at pat[pi] == '[' against one character; -1 when the class is unterminated. */
static int glob_class(const uint8_t *pat, size_t pn, size_t pi, uint32_t c, size_t *pend) {
    size_t j = pi + 1, l;
    int neg = 0, matched = 0, first = 1;
    if (j < pn && pat[j] == '!') { neg = 1; j++; }
    while (j < pn) {
        if (pat[j] == ']' && !first) break;
        first = 0;
        uint32_t lo = utf8_char(pat, j, pn, &l);
        j += l;
        if (j + 1 < pn && pat[j] == '-' && pat[j + 1] != ']') {
            uint32_t hi = utf8_char(pat, j + 1, pn, &l);
            j += 1 + l;
            if (lo <= c && c <= hi) matched = 1;
        } else if (c == lo) {
            matched = 1;
        }
    }
    if (j >= pn) return -1;
    *pend = j + 1;
    return matched != neg;
}

static int glob(const uint8_t *pat, size_t pn, const uint8_t *s, size_t sn) {
    size_t pi = 0, si = 0, star_pi = 0, star_si = 0, l, pend;
    int star = 0;
    while (si < sn) {
        if (pi < pn) {
            uint8_t c = pat[pi];
            if (c == '*') {
                star = 1; star_pi = pi++; star_si = si;
                continue;
            }
            if (c == '?') {
                utf8_char(s, si, sn, &l);
                pi++; si += l;
                continue;
            }
            if (c == '[') {
                uint32_t sc = utf8_char(s, si, sn, &l);
                int m = glob_class(pat, pn, pi, sc, &pend);
                if (m == 1) { pi = pend; si += l; continue; }
                if (m == -1 && s[si] == '[') { pi++; si++; continue; }
            } else if (c == s[si]) {
                pi++; si++;
                continue;
            }
        }
        if (!star) return 0;
        utf8_char(s, star_si, sn, &l);
        star_si += l;
        si = star_si;
        pi = star_pi + 1;
    }
    while (pi < pn && pat[pi] == '*') pi++;
    return pi == pn;
}

/* A topic frame parsed once per event: its kind, and its first MAX_TOPIC_LABELS fields as
 * (key, value) in frame order.  Fields past that limit are looked up in the frame itself. */
#define MAX_TOPIC_LABELS 24
typedef struct {
    const uint8_t *t;
    size_t tl;
    span kind;
    int parsed, complete;
    uint32_t n;
    span keys[MAX_TOPIC_LABELS], vals[MAX_TOPIC_LABELS];
} topic_t;

static void topic_init(topic_t *T, const uint8_t *t, size_t tl) {
    T->t = t;
    T->tl = tl;
    T->kind = topic_kind(t, tl);
    T->parsed = 0;
}

/* Record the field [f, end) whose first '=' is at eq (NULL: not a label); 0 when full. */
static inline int topic_field(topic_t *T, const uint8_t *f, const uint8_t *eq, const uint8_t *end) {
    if (!eq) return 1;
    if (T->n == MAX_TOPIC_LABELS) { T->complete = 0; return 0; }
    T->keys[T->n].p = f;
    T->keys[T->n].n = (uint32_t)(eq - f);
    T->vals[T->n].p = eq + 1;
    T->vals[T->n].n = (uint32_t)(end - eq - 1);
    T->n++;
    return 1;
}

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR_LE 1
/* Bit 7 set in exactly the bytes of x that are zero. */
static inline uint64_t zero_bytes(uint64_t x) {
    uint64_t t = (x & 0x7F7F7F7F7F7F7F7Full) + 0x7F7F7F7F7F7F7F7Full;
    return ~(t | x | 0x7F7F7F7F7F7F7F7Full);
}
#endif

static void topic_parse(topic_t *T) {
    const uint8_t *p = T->t + T->kind.n, *end = T->t + T->tl;
    T->parsed = 1;
    T->complete = 1;
    T->n = 0;
    if (p >= end) return;
    p++; /* the NUL after the kind */
    const uint8_t *f = p, *eq = NULL;
#ifdef SWAR_LE
    /* Eight bytes at a time: visit only the NULs and '=' signs. */
    for (const uint8_t *w = p; w < end; w += 8) {
        uint64_t x = 0;
        size_t left = (size_t)(end - w);
        if (left >= 8) {
            memcpy(&x, w, 8);
        } else { /* the tail, byte by byte: a short memcpy would stall the 8-byte load */
            for (size_t i = 0; i < left; i++) x |= (uint64_t)w[i] << (8 * i);
        }
        uint64_t m = zero_bytes(x) | zero_bytes(x ^ (ONES * '='));
        if (left < 8) m &= (1ull << (8 * left)) - 1;
        while (m) {
            const uint8_t *at = w + (__builtin_ctzll(m) >> 3);
            m &= m - 1;
            if (*at == '=') {
                if (!eq) eq = at;
            } else {
                if (!topic_field(T, f, eq, at)) return;
                f = at + 1;
                eq = NULL;
            }
        }
    }
#else
    for (const uint8_t *at = p; at < end; at++) {
        if (*at == '=') {
            if (!eq) eq = at;
        } else if (!*at) {
            if (!topic_field(T, f, eq, at)) return;
            f = at + 1;
            eq = NULL;
        }
    }
#endif
    if (f < end) topic_field(T, f, eq, end);
}

static inline int span_eq(span a, const uint8_t *p, size_t n) {
    if (a.n != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (a.p[i] != p[i]) return 0;
    return 1;
}

/* The first label `key` of the topic; 0 when absent. */
static int topic_get(topic_t *T, span key, span *val) {
    if (!T->parsed) topic_parse(T);
    for (uint32_t i = 0; i < T->n; i++)
        if (span_eq(T->keys[i], key.p, key.n)) { *val = T->vals[i]; return 1; }
    return T->complete ? 0 : topic_label(T->t, T->tl, key, val);
}

static int label_holds(const label_t *L, topic_t *T) {
    span v;
    int found = topic_get(T, L->key, &v);
    switch (L->op) {
    case L_EQ: return found && span_eq(L->val, v.p, v.n);
    case L_NE: return !found || !span_eq(L->val, v.p, v.n);
    case L_GLOB: return found && glob(L->val.p, L->val.n, v.p, v.n);
    default: return !found || !glob(L->val.p, L->val.n, v.p, v.n);
    }
}

/* ------------------------------------------------------------------------------------------
 * JSON scanner: validates what it passes, stops at the value asserted, allocates nothing. */

static const uint8_t *ws(const uint8_t *p, const uint8_t *e) {
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

static int hexval(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* 1 for bytes that end a run of plain string content: quote, backslash, control characters. */
static const uint8_t str_special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};


/* p at the opening quote; returns past the closing quote, NULL when malformed or truncated. */
static inline const uint8_t *skip_str(const uint8_t *p, const uint8_t *e, int *esc) {
    p++;
    for (;;) {
        while (e - p >= 8) {
            uint64_t x, q, b;
            memcpy(&x, p, 8);
            q = x ^ (ONES * '"');
            b = x ^ (ONES * '\\');
            /* Bit 7 of each byte that is a quote, a backslash or below 0x20; the lowest one is
             * exact (borrows only run upwards), so it locates the first special byte. */
            uint64_t m = ((q - ONES) & ~q) | ((b - ONES) & ~b) | ((x - ONES * 0x20) & ~x);
            m &= HIGHS;
            if (m) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                p += __builtin_ctzll(m) >> 3;
#endif
                break;
            }
            p += 8;
        }
        while (p < e && !str_special[*p]) p++;
        if (p >= e) return NULL;
        if (*p == '"') return p + 1;
        if (*p != '\\') return NULL;
        if (e - p < 2) return NULL;
        *esc = 1;
        uint8_t c = p[1];
        if (c == 'u') {
            if (e - p < 6) return NULL;
            for (int k = 2; k < 6; k++)
                if (hexval(p[k]) < 0) return NULL;
            p += 6;
        } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                   c == 'r' || c == 't') {
            p += 2;
        } else {
            return NULL;
        }
    }
}

static const uint8_t *skip_number(const uint8_t *p, const uint8_t *e) {
    if (p < e && *p == '-') p++;
    if (p >= e) return NULL;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') while (p < e && *p >= '0' && *p <= '9') p++;
    else return NULL;
    if (p < e && *p == '.') {
        p++;
        if (p >= e || *p < '0' || *p > '9') return NULL;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || *p < '0' || *p > '9') return NULL;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    return p;
}

static const uint8_t *skip_literal(const uint8_t *p, const uint8_t *e, const char *lit, size_t n) {
    if ((size_t)(e - p) < n || memcmp(p, lit, n) != 0) return NULL;
    return p + n;
}

/* p at a value (whitespace skipped); returns past it. Iterative: depth is a bit stack. */
static const uint8_t *skip_value(const uint8_t *p, const uint8_t *e) {
    uint8_t in_array[MAX_DEPTH / 8 + 1];
    int depth = 0, esc = 0;
value:
    if (p >= e) return NULL;
    switch (*p) {
    case '"':
        if (!(p = skip_str(p, e, &esc))) return NULL;
        break;
    case '{':
        p = ws(p + 1, e);
        if (p < e && *p == '}') { p++; break; }
        if (depth >= MAX_DEPTH) return NULL;
        in_array[depth / 8] &= (uint8_t)~(1u << (depth % 8));
        depth++;
        goto key;
    case '[':
        p = ws(p + 1, e);
        if (p < e && *p == ']') { p++; break; }
        if (depth >= MAX_DEPTH) return NULL;
        in_array[depth / 8] |= (uint8_t)(1u << (depth % 8));
        depth++;
        goto value;
    case 't': if (!(p = skip_literal(p, e, "true", 4))) return NULL; break;
    case 'f': if (!(p = skip_literal(p, e, "false", 5))) return NULL; break;
    case 'n': if (!(p = skip_literal(p, e, "null", 4))) return NULL; break;
    default:
        if (!(p = skip_number(p, e))) return NULL;
    }
after:
    if (depth == 0) return p;
    p = ws(p, e);
    if (p >= e) return NULL;
    if (in_array[(depth - 1) / 8] & (1u << ((depth - 1) % 8))) {
        if (*p == ',') { p = ws(p + 1, e); goto value; }
        if (*p == ']') { p++; depth--; goto after; }
        return NULL;
    }
    if (*p == ',') { p = ws(p + 1, e); goto key; }
    if (*p == '}') { p++; depth--; goto after; }
    return NULL;
key:
    if (p >= e || *p != '"') return NULL;
    if (!(p = skip_str(p, e, &esc))) return NULL;
    p = ws(p, e);
    if (p >= e || *p != ':') return NULL;
    p = ws(p + 1, e);
    goto value;
}

/* Decoded bytes of a JSON string body [p, e) (already validated), one code point at a time:
 * surrogate pairs combine, a lone surrogate is encoded as WTF-8 (both twins). */
typedef struct { const uint8_t *p, *e; uint8_t buf[4]; int bn, bi; } strdec;

static uint32_t read_u(const uint8_t *p) {
    return (uint32_t)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
}

static int dec_next(strdec *d) {
    if (d->bi < d->bn) return d->buf[d->bi++];
    if (d->p >= d->e) return -1;
    uint8_t c = *d->p;
    if (c != '\\') { d->p++; return c; }
    c = d->p[1];
    d->p += 2;
    switch (c) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'u': break;
    default: return c;
    }
    uint32_t cp = read_u(d->p);
    d->p += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF && d->e - d->p >= 6 && d->p[0] == '\\' && d->p[1] == 'u') {
        uint32_t lo = read_u(d->p + 2);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            d->p += 6;
        }
    }
    d->bi = 0;
    if (cp < 0x80) { d->bn = 0; return (int)cp; }
    if (cp < 0x800) {
        d->buf[0] = (uint8_t)(0xC0 | cp >> 6);
        d->buf[1] = (uint8_t)(0x80 | (cp & 0x3F));
        d->bn = 2;
    } else if (cp < 0x10000) {
        d->buf[0] = (uint8_t)(0xE0 | cp >> 12);
        d->buf[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        d->buf[2] = (uint8_t)(0x80 | (cp & 0x3F));
        d->bn = 3;
    } else {
        d->buf[0] = (uint8_t)(0xF0 | cp >> 18);
        d->buf[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
        d->buf[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        d->buf[3] = (uint8_t)(0x80 | (cp & 0x3F));
        d->bn = 4;
    }
    return d->buf[d->bi++];
}

/* Compare the JSON string body [p, e) with `lit` bytewise: <0, 0, >0. */
static int str_cmp(const uint8_t *p, const uint8_t *e, int esc, span lit) {
    if (!esc) {
        size_t n = (size_t)(e - p), m = lit.n < n ? lit.n : n;
        int c = m ? memcmp(p, lit.p, m) : 0;
        if (c) return c;
        return n < lit.n ? -1 : n > lit.n;
    }
    strdec d = {p, e, {0}, 0, 0};
    for (uint32_t i = 0;; i++) {
        int c = dec_next(&d);
        if (c < 0) return i < lit.n ? -1 : 0;
        if (i >= lit.n) return 1;
        if (c != lit.p[i]) return c - lit.p[i];
    }
}

typedef struct { int type; const uint8_t *p, *e; int esc; } jvalue;

/* Resolve the path of `D` in the data; 0 when missing or malformed on the way. */
static int find_path(const uint8_t *p, const uint8_t *e, const data_t *D, jvalue *v) {
    uint8_t closer = 0;
    p = ws(p, e);
    for (uint32_t g = 0; g < D->nsegs; g++) {
        const seg_t *G = &D->segs[g];
        if (G->type == S_KEY) {
            if (p >= e || *p != '{') return 0;
            p = ws(p + 1, e);
            for (;;) {
                int esc = 0;
                if (p >= e || *p != '"') return 0;
                const uint8_t *k = p + 1;
                if (!(p = skip_str(p, e, &esc))) return 0;
                size_t kn = (size_t)(p - 1 - k);
                int hit = esc ? str_cmp(k, p - 1, esc, G->key) == 0
                              : kn == G->key.n && memcmp(k, G->key.p, kn) == 0;
                p = ws(p, e);
                if (p >= e || *p != ':') return 0;
                p = ws(p + 1, e);
                if (hit) break;
                if (!(p = skip_value(p, e))) return 0;
                p = ws(p, e);
                if (p >= e || *p != ',') return 0;
                p = ws(p + 1, e);
            }
            closer = '}';
        } else {
            if (p >= e || *p != '[') return 0;
            p = ws(p + 1, e);
            for (uint32_t i = 0; i < G->index; i++) {
                if (!(p = skip_value(p, e))) return 0;
                p = ws(p, e);
                if (p >= e || *p != ',') return 0;
                p = ws(p + 1, e);
            }
            if (p < e && *p == ']') return 0;
            closer = ']';
        }
    }
    if (p >= e) return 0;
    const uint8_t *start = p;
    int esc = 0;
    switch (*p) {
    case '"':
        if (!(p = skip_str(p, e, &esc))) return 0;
        v->type = V_STR; v->p = start + 1; v->e = p - 1; v->esc = esc;
        break;
    case '{': case '[':
        return 0; /* containers are not comparable */
    case 't': if (!(p = skip_literal(p, e, "true", 4))) return 0; v->type = V_TRUE; break;
    case 'f': if (!(p = skip_literal(p, e, "false", 5))) return 0; v->type = V_FALSE; break;
    case 'n': if (!(p = skip_literal(p, e, "null", 4))) return 0; v->type = V_NULL; break;
    default:
        if (!(p = skip_number(p, e))) return 0;
        v->type = V_NUM; v->p = start; v->e = p;
    }
    p = ws(p, e);
    return p < e && (*p == ',' || *p == closer);
}

static int op_holds(uint8_t op, int c) {
    switch (op) {
    case D_EQ: return c == 0;
    case D_NE: return c != 0;
    case D_LT: return c < 0;
    case D_LE: return c <= 0;
    case D_GT: return c > 0;
    default: return c >= 0;
    }
}

static int data_holds(const data_t *D, const uint8_t *data, size_t dl) {
    jvalue v = {0, NULL, NULL, 0};
    if (!data || !find_path(data, data + dl, D, &v)) return 0;
    if (v.type == V_STR && D->vtype == V_STR) return op_holds(D->op, str_cmp(v.p, v.e, v.esc, D->str));
    if (v.type == V_NUM && D->vtype == V_NUM) {
        char buf[NUMBER_BUF];
        size_t n = (size_t)(v.e - v.p);
        char *s = n < NUMBER_BUF ? buf : malloc(n + 1); /* absurdly long numbers only */
        if (!s) return 0;
        memcpy(s, v.p, n);
        s[n] = 0;
        double x = strtod(s, NULL);
        if (s != buf) free(s);
        return op_holds(D->op, x < D->num ? -1 : x > D->num);
    }
    if (D->op == D_EQ) return v.type == D->vtype && v.type >= V_TRUE;
    if (D->op == D_NE) return !(v.type == D->vtype && v.type >= V_TRUE);
    return 0; /* ordering across types, or of booleans and null */
}

/* ------------------------------------------------------------------------------------------
 * Filters and sets */

static int filter_holds(const filter_t *F, topic_t *T, const uint8_t *d, size_t dl) {
    for (uint32_t i = 0; i < F->nlabels; i++)
        if (!label_holds(&F->labels[i], T)) return 0;
    for (uint32_t i = 0; i < F->ndata; i++)
        if (!data_holds(&F->data[i], d, dl)) return 0;
    return 1;
}

static int kind_in(const filter_t *F, span kind) {
    if (!F->nkinds) return 1;
    for (uint32_t i = 0; i < F->nkinds; i++)
        if (F->kinds[i].n == kind.n && memcmp(F->kinds[i].p, kind.p, kind.n) == 0) return 1;
    return 0;
}

static const uint8_t EMPTY[1] = {0};

int omf_set_match(const omf_set *s, const uint8_t *t, size_t tl, const uint8_t *d, size_t dl) {
    if (!s) return 0;
    if (!t) { t = EMPTY; tl = 0; }
    if (!d) { d = EMPTY; dl = 0; }
    if (!s->nfilters) return 1;
    topic_t T;
    topic_init(&T, t, tl);
    for (uint32_t f = 0; f < s->nfilters; f++)
        if (kind_in(&s->filters[f], T.kind) && filter_holds(&s->filters[f], &T, d, dl)) return 1;
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Bank: entries (set, filter) sorted by handle, in one list per kind and one for kind-less
 * filters, so an event only visits the filters that name its kind. */

typedef struct { omf_set *set; uint32_t filter, handle; } entry_t;
typedef struct { entry_t *v; uint32_t n, cap; } elist;
typedef struct { uint8_t *key; uint32_t klen; uint64_t hash; elist list; } kslot;
typedef struct { kslot *slots; uint32_t nslots, nused; } ktable;

/*
 * Entries of filters with kinds live in `kinds` (key: kind), or, when the filter pins an
 * indexed label with an exact `=` (path first, else node), in `idx` (key: kind NUL label NUL
 * value): an event then visits only the filters of its kind that do not pin the label, and
 * those that pin it to the event's own value.
 */
struct omf_bank {
    ktable kinds, idx;
    elist any;
    omf_set **sets;
    uint32_t nsets, live;
    uint32_t idx_refs[2];   /* entries in `idx` per indexed label: skip lookups of unused ones */
    uint64_t stamp;
};

#define IDX_KEY_MAX 512
static const char *const INDEXED[2] = {"path", "node"};

static uint64_t khash(const uint8_t *p, size_t n) {
    uint64_t a = 0, b = 0, m = 0;
    if (n >= 8) {
        memcpy(&a, p, 8);
        memcpy(&b, p + n - 8, 8);
        memcpy(&m, p + n / 2 - 4, 8);
    } else {
        for (size_t i = 0; i < n; i++) a = a << 8 | p[i];
    }
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ull;
    h ^= a * 0xFF51AFD7ED558CCDull;
    h = (h ^ (h >> 31)) + b * 0xC4CEB9FE1A85EC53ull;
    h = (h ^ (h >> 29)) + m * 0x94D049BB133111EBull;
    return h ^ (h >> 32);
}

static kslot *kfind(const ktable *t, const uint8_t *k, size_t n, uint64_t h) {
    if (!t->nslots) return NULL;
    uint32_t mask = t->nslots - 1;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        kslot *s = &t->slots[i];
        if (!s->key) return s;
        if (s->hash == h && s->klen == n && memcmp(s->key, k, n) == 0) return s;
    }
}

static int kgrow(ktable *t) {
    uint32_t n = t->nslots ? t->nslots * 2 : 64;
    kslot *old = t->slots;
    uint32_t oldn = t->nslots;
    kslot *slots = calloc(n, sizeof *slots);
    if (!slots) return 0;
    t->slots = slots;
    t->nslots = n;
    for (uint32_t i = 0; i < oldn; i++)
        if (old[i].key) *kfind(t, old[i].key, old[i].klen, old[i].hash) = old[i];
    free(old);
    return 1;
}

static elist *klist(ktable *t, const uint8_t *key, size_t n, int create) {
    if (!t->nused && !create) return NULL;
    uint64_t h = khash(key, n);
    kslot *s = kfind(t, key, n, h);
    if (s && s->key) return &s->list;
    if (!create) return NULL;
    if ((t->nused + 1) * 2 > t->nslots) {
        if (!kgrow(t)) return NULL;
        s = kfind(t, key, n, h);
    }
    s->key = malloc(n ? n : 1);
    if (!s->key) return NULL;
    memcpy(s->key, key, n);
    s->klen = (uint32_t)n;
    s->hash = h;
    t->nused++;
    return &s->list;
}

static void ktable_free(ktable *t) {
    for (uint32_t i = 0; i < t->nslots; i++) {
        free(t->slots[i].key);
        free(t->slots[i].list.v);
    }
    free(t->slots);
}

/* kind NUL label NUL value into buf; 0 when longer than IDX_KEY_MAX. */
static size_t idx_key(uint8_t *buf, span kind, const char *label, span value) {
    size_t ln = strlen(label), n = kind.n + ln + value.n + 2;
    if (n > IDX_KEY_MAX) return 0;
    memcpy(buf, kind.p, kind.n);
    buf[kind.n] = 0;
    memcpy(buf + kind.n + 1, label, ln);
    buf[kind.n + 1 + ln] = 0;
    memcpy(buf + kind.n + 2 + ln, value.p, value.n);
    return n;
}

/* The exact label a filter is indexed by, as (INDEXED index, value); -1 when none. */
static int index_label(const filter_t *F, span *value) {
    for (int j = 0; j < 2; j++) {
        size_t ln = strlen(INDEXED[j]);
        for (uint32_t i = 0; i < F->nlabels; i++) {
            const label_t *L = &F->labels[i];
            if (L->op == L_EQ && L->key.n == ln && memcmp(L->key.p, INDEXED[j], ln) == 0) {
                *value = L->val;
                return j;
            }
        }
    }
    return -1;
}

static int elist_insert(elist *l, entry_t e) {
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 4;
        entry_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) return 0;
        l->v = v;
        l->cap = cap;
    }
    uint32_t i = l->n;
    while (i > 0 && l->v[i - 1].handle > e.handle) i--;
    memmove(&l->v[i + 1], &l->v[i], (l->n - i) * sizeof *l->v);
    l->v[i] = e;
    l->n++;
    return 1;
}

static void elist_drop(elist *l, const omf_set *s) {
    uint32_t j = 0;
    for (uint32_t i = 0; i < l->n; i++)
        if (l->v[i].set != s) l->v[j++] = l->v[i];
    l->n = j;
}

omf_bank *omf_bank_new(void) { return calloc(1, sizeof(omf_bank)); }

void omf_bank_free(omf_bank *b) {
    if (!b) return;
    ktable_free(&b->kinds);
    ktable_free(&b->idx);
    free(b->any.v);
    for (uint32_t i = 0; i < b->nsets; i++) omf_set_free(b->sets[i]);
    free(b->sets);
    free(b);
}

static void unlink_set(omf_bank *b, omf_set *s) {
    b->idx_refs[0] -= s->idx_refs[0];
    b->idx_refs[1] -= s->idx_refs[1];
    s->idx_refs[0] = s->idx_refs[1] = 0;
    elist_drop(&b->any, s);
    for (uint32_t i = 0; i < b->kinds.nslots; i++) elist_drop(&b->kinds.slots[i].list, s);
    for (uint32_t i = 0; i < b->idx.nslots; i++) elist_drop(&b->idx.slots[i].list, s);
}

static int link_filter(omf_bank *b, omf_set *s, uint32_t f) {
    const filter_t *F = &s->filters[f];
    entry_t e = {s, f, s->handle};
    if (!F->nkinds) return elist_insert(&b->any, e);
    span value;
    int j = index_label(F, &value);
    for (uint32_t k = 0; k < F->nkinds; k++) {
        uint8_t key[IDX_KEY_MAX];
        size_t n = j >= 0 ? idx_key(key, F->kinds[k], INDEXED[j], value) : 0;
        elist *l = n ? klist(&b->idx, key, n, 1)
                     : klist(&b->kinds, F->kinds[k].p, F->kinds[k].n, 1);
        if (!l || !elist_insert(l, e)) return 0;
        if (n) s->idx_refs[j]++;
    }
    return 1;
}

/* Returns 1 and sets *handle, 0 for a malformed program, -1 when out of memory. */
int omf_bank_add(omf_bank *b, const uint8_t *prog, size_t len, uint32_t *handle) {
    if (!b || !handle) return 0;
    omf_set *s = omf_set_new(prog, len);
    if (!s) return 0;
    uint32_t h = 0;
    while (h < b->nsets && b->sets[h]) h++;
    if (h == b->nsets) {
        if (b->nsets >= 0x7FFFFFFFu) { omf_set_free(s); return -1; }
        uint32_t n = b->nsets ? b->nsets * 2 : 16;
        omf_set **sets = realloc(b->sets, n * sizeof *sets);
        if (!sets) { omf_set_free(s); return -1; }
        memset(sets + b->nsets, 0, (n - b->nsets) * sizeof *sets);
        b->sets = sets;
        b->nsets = n;
    }
    s->handle = h;
    s->stamp = b->stamp;
    int ok = 1;
    if (!s->nfilters) ok = elist_insert(&b->any, (entry_t){s, NO_FILTER, h});
    for (uint32_t f = 0; ok && f < s->nfilters; f++) ok = link_filter(b, s, f);
    if (!ok) {
        s->idx_refs[0] = s->idx_refs[1] = 0; /* not yet counted in the bank */
        unlink_set(b, s);
        omf_set_free(s);
        return -1;
    }
    b->sets[h] = s;
    b->idx_refs[0] += s->idx_refs[0];
    b->idx_refs[1] += s->idx_refs[1];
    b->live++;
    *handle = h;
    return 1;
}

int omf_bank_remove(omf_bank *b, uint32_t h) {
    if (!b || h >= b->nsets || !b->sets[h]) return 0;
    omf_set *s = b->sets[h];
    unlink_set(b, s);
    b->sets[h] = NULL;
    b->live--;
    omf_set_free(s);
    return 1;
}

/* One entry for one event: emit (index, handle) when its set holds and has not matched yet. */
static inline void visit(const entry_t *en, uint64_t stamp, topic_t *T, const uint8_t *d, size_t dl,
                         uint32_t index, uint32_t *out, size_t *k) {
    if (en->set->stamp == stamp) return;
    if (en->filter == NO_FILTER || filter_holds(&en->set->filters[en->filter], T, d, dl)) {
        en->set->stamp = stamp;
        out[2 * *k] = index;
        out[2 * *k + 1] = en->handle;
        ++*k;
    }
}

/* Match one event against the bank: append its (event index, handle) pairs at out[2 * *k]. */
static void match_event(omf_bank *b, uint32_t index, const uint8_t *t, size_t tl,
                        const uint8_t *d, size_t dl, uint32_t *out, size_t *k) {
    uint64_t stamp = ++b->stamp;
    topic_t T;
    topic_init(&T, t, tl);
    const entry_t *cur[4], *lim[4];
    int nl = 0;
    const elist *l = klist(&b->kinds, T.kind.p, T.kind.n, 0);
    if (l && l->n) { cur[nl] = l->v; lim[nl++] = l->v + l->n; }
    if (b->idx.nused) {
        for (int j = 0; j < 2; j++) {
            if (!b->idx_refs[j]) continue;
            span key = {(const uint8_t *)INDEXED[j], (uint32_t)strlen(INDEXED[j])}, value;
            uint8_t buf[IDX_KEY_MAX];
            size_t kn;
            if (!topic_get(&T, key, &value) || !(kn = idx_key(buf, T.kind, INDEXED[j], value)))
                continue;
            l = klist(&b->idx, buf, kn, 0);
            if (l && l->n) { cur[nl] = l->v; lim[nl++] = l->v + l->n; }
        }
    }
    if (b->any.n) { cur[nl] = b->any.v; lim[nl++] = b->any.v + b->any.n; }
    if (nl == 1) { /* the common case: one list, already in handle order */
        for (const entry_t *en = cur[0]; en < lim[0]; en++)
            visit(en, stamp, &T, d, dl, index, out, k);
        return;
    }
    for (;;) {
        int best = -1;
        for (int j = 0; j < nl; j++)
            if (cur[j] < lim[j] && (best < 0 || cur[j]->handle < cur[best]->handle)) best = j;
        if (best < 0) break;
        visit(cur[best]++, stamp, &T, d, dl, index, out, k);
    }
}

/*
 * Match events [start, n) and append (event index, handle) pairs to out (2 * out_cap
 * uint32), handles ascending per event.  Stops before an event whose matches might not fit;
 * returns the index of the next event to match (n when done).  `frames` holds 2n frames:
 * topic 0, data 0, topic 1, data 1...; a NULL pointer is an empty frame.
 */
size_t omf_bank_match(omf_bank *b, size_t n, const omf_frame *frames, size_t start,
                      uint32_t *out, size_t out_cap, size_t *out_n) {
    size_t k = 0;
    if (out_n) *out_n = 0;
    if (!b || !frames || !out || !out_n || n > 0xFFFFFFFFu) return n;
    size_t i = start;
    for (; i < n; i++) {
        if (k + b->live > out_cap) break;
        const omf_frame *t = &frames[2 * i], *d = t + 1;
#if defined(__GNUC__)
        if (i + 1 < n) { /* the next event's frames are usually out of L1: start loading them */
            __builtin_prefetch(t[2].p);
            __builtin_prefetch(t[3].p);
            if (t[3].n > 64) __builtin_prefetch(t[3].p + 64);
        }
#endif
        match_event(b, (uint32_t)i, t->p ? t->p : EMPTY, t->p ? t->n : 0,
                    d->p ? d->p : EMPTY, d->p ? d->n : 0, out, &k);
    }
    *out_n = k;
    return i;
}
