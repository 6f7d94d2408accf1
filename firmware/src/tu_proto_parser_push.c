#include "tinyunfold/protocol.h"
#include "tu_proto_parser_step.h"

tu_proto_event tu_proto_parser_push(tu_proto_parser *P, uint8_t byte) {
    /* A re-scan the caller left unfinished comes first (its frames are counted, not reported):
     * the bytes must be parsed in the order they arrived. */
    while (tu_proto_parser_resume(P) != TU_PROTO_NEED_MORE) {
    }
    return tu_proto_parser_step(P, byte, 0);
}
