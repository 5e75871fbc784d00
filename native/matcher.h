/*
 * omd event filter matcher: compiled filter sets, a bank of filter sets indexed by kind, and a
 * bounded JSON scanner for data assertions.
 *
 * Filter sets arrive as a compact program (see omd/filters/_native.py, `encode_program`); the
 * loader checks every length and count, so any byte string is safe to load: a malformed program
 * is refused (NULL), never read out of bounds.  Matching reads the topic and data frames within
 * the lengths given and allocates nothing.
 *
 * The block between the CDEF markers is read by native/build_matcher.py as the cffi cdef.
 */
#ifndef OMD_MATCHER_H
#define OMD_MATCHER_H

#include <stddef.h>
#include <stdint.h>

/* CDEF-BEGIN */
typedef struct omf_set omf_set;
typedef struct omf_bank omf_bank;
typedef struct { const uint8_t *p; size_t n; } omf_frame;

omf_set *omf_set_new(const uint8_t *prog, size_t len);
void omf_set_free(omf_set *set);
int omf_set_match(const omf_set *set, const uint8_t *topic, size_t tlen,
                  const uint8_t *data, size_t dlen);

omf_bank *omf_bank_new(void);
void omf_bank_free(omf_bank *bank);
int omf_bank_add(omf_bank *bank, const uint8_t *prog, size_t len, uint32_t *handle);
int omf_bank_remove(omf_bank *bank, uint32_t handle);
size_t omf_bank_match(omf_bank *bank, size_t n, const omf_frame *frames, size_t start,
                      uint32_t *out, size_t out_cap, size_t *out_n);
/* CDEF-END */

#endif
