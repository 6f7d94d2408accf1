/*
 * Host-only entry points into the host build of CMSIS-DSP, for the Python golden reference
 * (ctypes): CMSIS functions whose internal order numpy cannot mirror cheaply.
 */
#include <stdint.h>

#include "arm_math.h"

/**
 * @brief Forward real FFT of n points, arm_rfft_fast_f32's packed output format.
 * @param[in]     n   power of two in [32, 4096]
 * @param[in,out] in  n samples (destroyed, as in CMSIS-DSP)
 * @param[out]    out n floats: Re0, Re(n/2), Re1, Im1, ..., Re(n/2-1), Im(n/2-1)
 * @return 0, or a CMSIS arm_status on a bad size
 */
int tu_host_rfft_f32(uint16_t n, float *in, float *out) {
    arm_rfft_fast_instance_f32 S;
    arm_status st = arm_rfft_fast_init_f32(&S, n);
    if (st != ARM_MATH_SUCCESS) {
        return (int)st;
    }
    arm_rfft_fast_f32(&S, in, out, 0U);
    return 0;
}
