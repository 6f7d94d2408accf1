/*
 * cmsis_compiler.h -- tinyunfold's own minimal replacement for CMSIS-Core's compiler header.
 *
 * CMSIS-DSP's arm_math_types.h includes "cmsis_compiler.h" on Arm targets. CMSIS-Core is not part
 * of the pinned CMSIS-DSP sources, so this header provides what the DSP headers and sources use:
 * attribute macros and the DSP/saturation intrinsics, mapped to GCC builtins and <arm_acle.h>.
 * Only GCC for Armv7E-M (Cortex-M4F/M7) is supported.
 */
#ifndef TU_CMSIS_COMPILER_H
#define TU_CMSIS_COMPILER_H

#if !defined(__GNUC__) || !defined(__ARM_ARCH)
#error "tinyunfold cmsis_compiler.h shim: GCC for Arm only (host builds define __GNUC_PYTHON__)"
#endif

#include <arm_acle.h>
#include <stdint.h>

#define __ASM __asm
#define __INLINE inline
#define __STATIC_INLINE static inline
#define __STATIC_FORCEINLINE __attribute__((always_inline)) static inline
#define __NO_RETURN __attribute__((__noreturn__))
#define __USED __attribute__((used))
#define __WEAK __attribute__((weak))
#define __PACKED __attribute__((packed, aligned(1)))
#define __PACKED_STRUCT struct __attribute__((packed, aligned(1)))
#define __ALIGNED(x) __attribute__((aligned(x)))
#define __RESTRICT __restrict

__STATIC_FORCEINLINE uint8_t __CLZ(uint32_t value) {
    return (value == 0U) ? 32U : (uint8_t)__builtin_clz(value);
}

__STATIC_FORCEINLINE uint32_t __ROR(uint32_t op1, uint32_t op2) {
    op2 %= 32U;
    return (op2 == 0U) ? op1 : ((op1 >> op2) | (op1 << (32U - op2)));
}

#if defined(__ARM_FEATURE_SAT) && (__ARM_FEATURE_SAT == 1)
#define __SSAT(x, n) __ssat((x), (n))
#define __USAT(x, n) __usat((x), (n))
#endif

#if defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1)
#define __QADD(a, b) __qadd((a), (b))
#define __QSUB(a, b) __qsub((a), (b))
#define __QADD8(a, b) __qadd8((a), (b))
#define __QSUB8(a, b) __qsub8((a), (b))
#define __QADD16(a, b) __qadd16((a), (b))
#define __QSUB16(a, b) __qsub16((a), (b))
#define __SHADD16(a, b) __shadd16((a), (b))
#define __SHSUB16(a, b) __shsub16((a), (b))
#define __QASX(a, b) __qasx((a), (b))
#define __QSAX(a, b) __qsax((a), (b))
#define __SHASX(a, b) __shasx((a), (b))
#define __SHSAX(a, b) __shsax((a), (b))
#define __SMUAD(a, b) __smuad((a), (b))
#define __SMUADX(a, b) __smuadx((a), (b))
#define __SMUSD(a, b) __smusd((a), (b))
#define __SMUSDX(a, b) __smusdx((a), (b))
#define __SMLAD(a, b, c) __smlad((a), (b), (c))
#define __SMLADX(a, b, c) __smladx((a), (b), (c))
#define __SMLSDX(a, b, c) __smlsdx((a), (b), (c))
#define __SMLALD(a, b, c) __smlald((a), (b), (c))
#define __SMLALDX(a, b, c) __smlaldx((a), (b), (c))
#define __SXTB16(a) __sxtb16((a))
#define __PKHBT(a, b, s)                                                                           \
    ((((uint32_t)(a)) & 0x0000FFFFUL) | ((((uint32_t)(b)) << (s)) & 0xFFFF0000UL))
#define __PKHTB(a, b, s)                                                                           \
    ((((uint32_t)(a)) & 0xFFFF0000UL) | ((((uint32_t)(b)) >> (s)) & 0x0000FFFFUL))

__STATIC_FORCEINLINE int32_t __SMMLA(int32_t op1, int32_t op2, int32_t op3) {
    int32_t result;
    __ASM volatile("smmla %0, %1, %2, %3" : "=r"(result) : "r"(op1), "r"(op2), "r"(op3));
    return result;
}
#endif

#endif /* TU_CMSIS_COMPILER_H */
