#include <string.h>

#include "tinyunfold/protocol.h"
#include "tu_proto_le.h"

size_t tu_proto_info_pack(uint8_t *dst, size_t cap, const tu_proto_info *m) {
    if (dst == NULL || m == NULL || m->kind_len > TU_PROTO_INFO_MAX_KIND ||
        m->n_classes > TU_PROTO_INFO_MAX_CLASSES) {
        return 0U;
    }
    size_t need = 30U + 1U + m->kind_len + 1U;
    for (uint8_t c = 0U; c < m->n_classes; ++c) {
        if (m->class_len[c] > TU_PROTO_INFO_MAX_NAME) {
            return 0U;
        }
        need += 1U + m->class_len[c];
    }
    if (need > cap || need > TU_PROTO_MAX_INFO) {
        return 0U;
    }
    dst[0] = m->proto;
    tu_le_put16(&dst[1], m->abi);
    tu_le_put32(&dst[3], m->in_len);
    tu_le_put32(&dst[7], m->out_len);
    tu_le_put32(&dst[11], m->sample_rate);
    tu_le_put16(&dst[15], m->hop);
    tu_le_put16(&dst[17], m->window);
    tu_le_put16(&dst[19], m->stride);
    memcpy(&dst[21], m->model_hash, 8U);
    size_t p = 29U;
    dst[p++] = m->kind_len;
    if (m->kind_len > 0U) {
        memcpy(&dst[p], m->kind, m->kind_len);
    }
    p += m->kind_len;
    dst[p++] = m->n_classes;
    for (uint8_t c = 0U; c < m->n_classes; ++c) {
        dst[p++] = m->class_len[c];
        if (m->class_len[c] > 0U) {
            memcpy(&dst[p], m->class_names[c], m->class_len[c]);
        }
        p += m->class_len[c];
    }
    return p;
}
