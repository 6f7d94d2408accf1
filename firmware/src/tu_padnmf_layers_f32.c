/* CMSIS-style implementation of tu_padnmf_layers_f32 (see tinyunfold/padnmf.h).
 *
 * The two kept products are short contiguous loops (one column range of the compact dictionary
 * against one column of the transposed work buffer):
 *   dot:  u = ((0 + w0 q0) + w1 q1) + ...        (Wᵀ Q at a kept entry, f ascending)
 *   axpy: v[t] = v[t] + w[t] h                    (W H, one kept row r at a time, r ascending)
 * On a single-precision FPU (__ARM_FP) they move 8 (then 4) floats per VLDM/VSTM, as CMSIS-DSP's
 * own Helium/NEON kernels do with vector loads; every element still gets one rounded VMUL.F32 and
 * one rounded VADD.F32 in the same order as the portable twin (firmware/src/ref), so the bits are
 * the same. Elsewhere (the host build) the plain C loops below run. */
#include <stddef.h>

#include "arm_math.h"
#include "tinyunfold/padnmf.h"

#if defined(__ARM_FP) && (__ARM_FP & 4)
#define TU_VLDM 1
#endif

static inline float tu_dot_f32(const float *pA, const float *pB, uint32_t n) {
    float acc = 0.0f;
#if defined(TU_VLDM)
    for (uint32_t blk = n >> 3U; blk > 0U; --blk) {
        __asm volatile("vldmia %[a]!, {s0-s7}\n\t"
                       "vldmia %[b]!, {s16-s23}\n\t"
                       "vmul.f32 s0, s0, s16\n\t"
                       "vadd.f32 %[acc], %[acc], s0\n\t"
                       "vmul.f32 s1, s1, s17\n\t"
                       "vadd.f32 %[acc], %[acc], s1\n\t"
                       "vmul.f32 s2, s2, s18\n\t"
                       "vadd.f32 %[acc], %[acc], s2\n\t"
                       "vmul.f32 s3, s3, s19\n\t"
                       "vadd.f32 %[acc], %[acc], s3\n\t"
                       "vmul.f32 s4, s4, s20\n\t"
                       "vadd.f32 %[acc], %[acc], s4\n\t"
                       "vmul.f32 s5, s5, s21\n\t"
                       "vadd.f32 %[acc], %[acc], s5\n\t"
                       "vmul.f32 s6, s6, s22\n\t"
                       "vadd.f32 %[acc], %[acc], s6\n\t"
                       "vmul.f32 s7, s7, s23\n\t"
                       "vadd.f32 %[acc], %[acc], s7\n\t"
                       : [a] "+r"(pA), [b] "+r"(pB), [acc] "+t"(acc)
                       :
                       : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s16", "s17", "s18", "s19",
                         "s20", "s21", "s22", "s23", "memory");
    }
    if ((n & 4U) != 0U) {
        __asm volatile("vldmia %[a]!, {s0-s3}\n\t"
                       "vldmia %[b]!, {s16-s19}\n\t"
                       "vmul.f32 s0, s0, s16\n\t"
                       "vadd.f32 %[acc], %[acc], s0\n\t"
                       "vmul.f32 s1, s1, s17\n\t"
                       "vadd.f32 %[acc], %[acc], s1\n\t"
                       "vmul.f32 s2, s2, s18\n\t"
                       "vadd.f32 %[acc], %[acc], s2\n\t"
                       "vmul.f32 s3, s3, s19\n\t"
                       "vadd.f32 %[acc], %[acc], s3\n\t"
                       : [a] "+r"(pA), [b] "+r"(pB), [acc] "+t"(acc)
                       :
                       : "s0", "s1", "s2", "s3", "s16", "s17", "s18", "s19", "memory");
    }
    n &= 3U;
#endif
    while (n > 0U) {
        acc += *pA++ * *pB++;
        --n;
    }
    return acc;
}

static inline void tu_axpy_f32(const float *pW, float h, float *pV, uint32_t n) {
#if defined(TU_VLDM)
    for (uint32_t blk = n >> 3U; blk > 0U; --blk) {
        __asm volatile("vldmia %[w]!, {s0-s7}\n\t"
                       "vldmia %[v], {s16-s23}\n\t"
                       "vmul.f32 s0, s0, %[h]\n\t"
                       "vmul.f32 s1, s1, %[h]\n\t"
                       "vmul.f32 s2, s2, %[h]\n\t"
                       "vmul.f32 s3, s3, %[h]\n\t"
                       "vmul.f32 s4, s4, %[h]\n\t"
                       "vmul.f32 s5, s5, %[h]\n\t"
                       "vmul.f32 s6, s6, %[h]\n\t"
                       "vmul.f32 s7, s7, %[h]\n\t"
                       "vadd.f32 s16, s16, s0\n\t"
                       "vadd.f32 s17, s17, s1\n\t"
                       "vadd.f32 s18, s18, s2\n\t"
                       "vadd.f32 s19, s19, s3\n\t"
                       "vadd.f32 s20, s20, s4\n\t"
                       "vadd.f32 s21, s21, s5\n\t"
                       "vadd.f32 s22, s22, s6\n\t"
                       "vadd.f32 s23, s23, s7\n\t"
                       "vstmia %[v]!, {s16-s23}\n\t"
                       : [w] "+r"(pW), [v] "+r"(pV)
                       : [h] "t"(h)
                       : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s16", "s17", "s18", "s19",
                         "s20", "s21", "s22", "s23", "memory");
    }
    if ((n & 4U) != 0U) {
        __asm volatile("vldmia %[w]!, {s0-s3}\n\t"
                       "vldmia %[v], {s16-s19}\n\t"
                       "vmul.f32 s0, s0, %[h]\n\t"
                       "vmul.f32 s1, s1, %[h]\n\t"
                       "vmul.f32 s2, s2, %[h]\n\t"
                       "vmul.f32 s3, s3, %[h]\n\t"
                       "vadd.f32 s16, s16, s0\n\t"
                       "vadd.f32 s17, s17, s1\n\t"
                       "vadd.f32 s18, s18, s2\n\t"
                       "vadd.f32 s19, s19, s3\n\t"
                       "vstmia %[v]!, {s16-s19}\n\t"
                       : [w] "+r"(pW), [v] "+r"(pV)
                       : [h] "t"(h)
                       : "s0", "s1", "s2", "s3", "s16", "s17", "s18", "s19", "memory");
    }
    n &= 3U;
#endif
    while (n > 0U) {
        *pV = *pV + *pW++ * h;
        ++pV;
        --n;
    }
}

tu_status tu_padnmf_layers_f32(const tu_padnmf_instance_f32 *S, const float *pW, const float *denom,
                               uint32_t n_layers, const float *pSrc, float *pH) {
    if (S == NULL || pW == NULL || denom == NULL || pSrc == NULL || pH == NULL) {
        return TU_ERROR_ARG;
    }
    const uint32_t F = S->n_features, N = S->n_frames;
    const float eps = S->eps;
    const uint16_t *ptr = S->h_ptr, *rows = S->h_rows, *lo = S->w_lo, *len = S->w_len;
    const uint32_t *off = S->w_off;
    float *Vt = S->scratch_nf; /* N x F */
    for (uint32_t k = 0; k < n_layers; ++k) {
        for (uint32_t j = 0; j < N; ++j) {
            float *v = &Vt[j * F];
            arm_fill_f32(0.0f, v, F);
            for (uint32_t i = ptr[j]; i < ptr[j + 1U]; ++i) { /* V = W H, r ascending */
                const uint32_t r = rows[i];
                tu_axpy_f32(&pW[off[r]], pH[i], &v[lo[r]], len[r]);
            }
            const float *x = &pSrc[j];
            for (uint32_t f = 0; f < F; ++f) {
                v[f] = *x / (v[f] + eps); /* Qᵀ, Q = X ⊘ (WH + ε) */
                x += N;
            }
        }
        for (uint32_t j = 0; j < N; ++j) {
            const float *q = &Vt[j * F];
            for (uint32_t i = ptr[j]; i < ptr[j + 1U]; ++i) {
                const uint32_t r = rows[i];
                const float u = tu_dot_f32(&pW[off[r]], &q[lo[r]], len[r]); /* Wᵀ Q */
                const float v = (pH[i] * u) / denom[r];                     /* eq. (4.2.2) */
                pH[i] = (v > eps) ? v : eps; /* ε-projection, eq. (3.2.38) */
            }
        }
    }
    return TU_OK;
}
