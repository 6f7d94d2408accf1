#include "tinyunfold/protocol.h"

/* The one device-side table of frame types and maximum payload lengths (docs/protocol.md);
 * host/tinyunfold/tools/protocol.py MAX_LEN is checked against it by tests/host/test_protocol_c.py.
 */
uint16_t tu_proto_max_len(uint8_t type, int *known) {
    int k = 1;
    uint16_t n = 0U;
    switch (type) {
    case TU_MSG_HELLO:
        n = TU_PROTO_MAX_HELLO;
        break;
    case TU_MSG_INFER:
        n = TU_PROTO_MAX_INFER;
        break;
    case TU_MSG_BYE:
        n = TU_PROTO_MAX_BYE;
        break;
    case TU_MSG_AUDIO:
        n = TU_PROTO_MAX_AUDIO;
        break;
    case TU_MSG_GET_STATS:
        n = TU_PROTO_MAX_GET_STATS;
        break;
    case TU_MSG_GET_STATE:
        n = TU_PROTO_MAX_GET_STATE;
        break;
    case TU_MSG_INFO:
        n = TU_PROTO_MAX_INFO;
        break;
    case TU_MSG_RESULT:
        n = TU_PROTO_MAX_RESULT;
        break;
    case TU_MSG_BYE_ACK:
        n = TU_PROTO_MAX_BYE_ACK;
        break;
    case TU_MSG_CREDIT:
        n = TU_PROTO_LEN_CREDIT;
        break;
    case TU_MSG_STATS:
        n = TU_PROTO_LEN_STATS;
        break;
    case TU_MSG_STATE:
        n = TU_PROTO_MAX_STATE;
        break;
    case TU_MSG_EVENT:
        n = TU_PROTO_LEN_EVENT;
        break;
    case TU_MSG_ERROR:
        n = TU_PROTO_LEN_ERROR;
        break;
    case TU_MSG_FAULT:
        n = TU_PROTO_MAX_FAULT;
        break;
    default:
        k = 0;
        break;
    }
    if (known != NULL) {
        *known = k;
    }
    return n;
}
