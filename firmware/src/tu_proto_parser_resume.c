#include "tinyunfold/protocol.h"
#include "tu_proto_parser_step.h"

tu_proto_event tu_proto_parser_resume(tu_proto_parser *P) {
    while (P->rescan_pos < P->rescan_end) {
        const uint8_t byte = tu_proto_parser_held(P, P->rescan_pos++);
        const tu_proto_event ev = tu_proto_parser_step(P, byte, 1);
        if (ev != TU_PROTO_NEED_MORE) {
            return ev;
        }
    }
    P->rescan_pos = 0U;
    P->rescan_end = 0U;
    return TU_PROTO_NEED_MORE;
}
