#include <string.h>

#include "tinyunfold/protocol.h"

void tu_proto_parser_init(tu_proto_parser *P, uint8_t *payload, uint16_t capacity) {
    memset(P, 0, sizeof *P);
    P->payload = payload;
    P->capacity = capacity;
    P->crc = 0xFFFFU;
}
