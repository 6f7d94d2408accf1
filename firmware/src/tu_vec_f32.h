/* Private to firmware/src (the CMSIS-style kernel set): the two contiguous loops of the
 * mask-aware NMF kernels, as static inline functions.
 *   tu_dot_f32:  ((0 + a0 b0) + a1 b1) + ...     sequential, like arm_dot_prod_f32
 *   tu_axpy_f32: v[t] = v[t] + w[t] h             one rounded product, one rounded sum
 * On a single-precision FPU (__ARM_FP) they move 8 (then 4) floats per VLDM/VSTM, as CMSIS-DSP's
 * Helium/NEON kernels do with vector loads; every element still gets one VMUL.F32 and one
 * VADD.F32 in the portable loops' order, so the bits are the same. Elsewhere (the host build) the
 * plain C loops run. */
#ifndef TU_VEC_F32_H
#define TU_VEC_F32_H

#include <stdint.h>

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

#endif /* TU_VEC_F32_H */
