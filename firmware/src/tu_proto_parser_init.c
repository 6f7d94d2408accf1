#include "tinyunfold/protocol.h"

void tu_proto_parser_init(tu_proto_parser *P, uint8_t *payload, uint16_t capacity) {
    P->payload = payload;
    P->capacity = capacity;
    P->state = 0U;
    P->type = 0U;
    P->seq = 0U;
    P->len = 0U;
    P->index = 0U;
    P->crc = 0xFFFFU;
    P->crc_rx = 0U;
}
