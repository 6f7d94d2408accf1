#include <string.h>

#include "tinyunfold/protocol.h"
#include "tu_proto_le.h"

tu_status tu_proto_info_unpack(const uint8_t *src, size_t len, tu_proto_info *m) {
    if (src == NULL || m == NULL) {
        return TU_ERROR_ARG;
    }
    if (len < 31U || len > TU_PROTO_MAX_INFO) {
        return TU_ERROR_SIZE;
    }
    memset(m, 0, sizeof *m);
    m->proto = src[0];
    m->abi = tu_le_get16(&src[1]);
    m->in_len = tu_le_get32(&src[3]);
    m->out_len = tu_le_get32(&src[7]);
    m->sample_rate = tu_le_get32(&src[11]);
    m->hop = tu_le_get16(&src[15]);
    m->window = tu_le_get16(&src[17]);
    m->stride = tu_le_get16(&src[19]);
    memcpy(m->model_hash, &src[21], 8U);
    size_t p = 29U;
    m->kind_len = src[p++];
    if (m->kind_len > TU_PROTO_INFO_MAX_KIND || p + m->kind_len + 1U > len) {
        return TU_ERROR_SIZE;
    }
    m->kind = (const char *)&src[p];
    p += m->kind_len;
    m->n_classes = src[p++];
    if (m->n_classes > TU_PROTO_INFO_MAX_CLASSES) {
        return TU_ERROR_SIZE;
    }
    for (uint8_t c = 0U; c < m->n_classes; ++c) {
        if (p >= len) {
            return TU_ERROR_SIZE;
        }
        m->class_len[c] = src[p++];
        if (m->class_len[c] > TU_PROTO_INFO_MAX_NAME || p + m->class_len[c] > len) {
            return TU_ERROR_SIZE;
        }
        m->class_names[c] = (const char *)&src[p];
        p += m->class_len[c];
    }
    return (p == len) ? TU_OK : TU_ERROR_SIZE;
}
