/**
 * @file model.h
 * @brief The interface every generated model implements (build/<preset>/generated/tu_model.c).
 *        The generated tu_model_config.h defines TU_MODEL_IN_LEN / TU_MODEL_OUT_LEN.
 */
#ifndef TINYUNFOLD_MODEL_H
#define TINYUNFOLD_MODEL_H

#include "tinyunfold/status.h"
#include "tu_model_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Bind the generated constants and static buffers to the model's instance. */
tu_status tu_model_init(void);

/**
 * @brief One forward pass.
 * @param[in]  pSrc TU_MODEL_IN_LEN floats (the model's input block, row-major)
 * @param[out] pDst TU_MODEL_OUT_LEN floats
 */
tu_status tu_model_forward(const float *pSrc, float *pDst);

#ifdef __cplusplus
}
#endif
#endif /* TINYUNFOLD_MODEL_H */
