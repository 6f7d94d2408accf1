/* tu_orders_reset_f32: forget the previous frame (orders.h). */
#include <stddef.h>

#include "tinyunfold/orders.h"

tu_status tu_orders_reset_f32(tu_orders_instance_f32 *S) {
    if (S == NULL) {
        return TU_ERROR_ARG;
    }
    S->f0_prev = 0.0f;
    S->has_prev = 0U;
    return TU_OK;
}
