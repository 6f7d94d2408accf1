/* tu_powf: x^y = expf(y logf(x)) for x >= 0 (twin: host/tinyunfold/golden/mathf.py::powf). */
#include "tinyunfold/mathf.h"

float tu_powf(float x, float y) {
    return tu_expf(y * tu_logf(x));
}
