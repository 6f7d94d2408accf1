/**
 * @file status.h
 * @brief Status codes and the runtime ABI version that generated code must match.
 */
#ifndef TINYUNFOLD_STATUS_H
#define TINYUNFOLD_STATUS_H

/** Bumped whenever an instance struct or a kernel signature changes; generated files check it. */
#define TU_RUNTIME_ABI_VERSION 4

/** @brief Result of every tinyunfold kernel. */
typedef enum {
    TU_OK = 0,             /**< success */
    TU_ERROR_ARG = -1,     /**< NULL pointer or zero size */
    TU_ERROR_SIZE = -2,    /**< matrix sizes do not agree (CMSIS ARM_MATH_SIZE_MISMATCH) */
    TU_ERROR_NUMERIC = -3, /**< NaN/Inf or negative input where forbidden */
} tu_status;

#endif /* TINYUNFOLD_STATUS_H */
