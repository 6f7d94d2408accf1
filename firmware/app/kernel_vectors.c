/*
 * Test-vector dispatcher (kernel_vectors.h): logf/expf/powf over streams of floats, processed in
 * chunks so that millions of inputs fit any board, and the detector (indices, threshold rule,
 * uncertainty reduction, readout) over windows of H.
 */
#include "kernel_vectors.h"

#include <stdint.h>
#include <string.h>

#include "tinyunfold/detect.h"
#include "tinyunfold/mathf.h"

#define KV_CHUNK 256U
#define KV_MAX_H 16384U
#define KV_MAX_BLOCKS 64U
#define KV_MAX_CLASSES 32U
#define KV_MAX_LATENT 33U
#define KV_NONE 0xFFFFFFFFU
#define KV_MAX_RD_RANK 1024U
#define KV_MAX_RD_W 4096U
#define KV_MAX_SETS 64U /* readout rows: L (one-vs-rest) or S (label sets) */

static float kv_in[2U * KV_CHUNK];
static float kv_out[KV_CHUNK];
static float kv_H[KV_MAX_H];
static uint16_t kv_offset[KV_MAX_BLOCKS + 1U];
static uint16_t kv_class[KV_MAX_BLOCKS];
static float kv_log_thr[KV_MAX_CLASSES];
static float kv_A[KV_MAX_CLASSES * KV_MAX_LATENT];
static float kv_state[3U * KV_MAX_CLASSES];
static float kv_log_index[KV_MAX_CLASSES];
static float kv_latent[KV_MAX_LATENT];
static float kv_ur_thr[KV_MAX_CLASSES];
static uint16_t kv_shift[KV_MAX_CLASSES];
static uint16_t kv_hits[KV_MAX_CLASSES];
static float kv_rd_W[KV_MAX_RD_W];
static float kv_rd_b[KV_MAX_SETS];
static float kv_rd_thr[KV_MAX_CLASSES];
static float kv_rd_state[KV_MAX_RD_RANK];
static float kv_rd_mu[KV_MAX_RD_RANK / 2U]; /* excess: 2 rank <= KV_MAX_RD_RANK */
static float kv_rd_inv_sd[KV_MAX_RD_RANK / 2U];
static float kv_rd_score[KV_MAX_SETS];
static uint32_t kv_rd_sets[KV_MAX_SETS];
static uint32_t kv_words[2U * KV_MAX_CLASSES + KV_MAX_LATENT + KV_MAX_SETS + 4U];

static int kv_word(const tu_kv_io *io, uint32_t *w) {
    return io->read(io->ctx, w, sizeof *w);
}

static float kv_bits_f32(uint32_t w) {
    float f;
    memcpy(&f, &w, sizeof f);
    return f;
}

static uint32_t kv_f32_bits(float f) {
    uint32_t w;
    memcpy(&w, &f, sizeof w);
    return w;
}

static int kv_math(const tu_kv_io *io, uint32_t op) {
    uint32_t n;
    if (kv_word(io, &n) != 0) {
        return TU_KV_BAD_INPUT;
    }
    const uint32_t per = (op == TU_KV_POWF) ? 2U : 1U;
    while (n > 0U) {
        const uint32_t m = (n < KV_CHUNK) ? n : KV_CHUNK;
        if (io->read(io->ctx, kv_in, (size_t)(m * per) * sizeof(float)) != 0) {
            return TU_KV_BAD_INPUT;
        }
        for (uint32_t i = 0U; i < m; ++i) {
            if (op == TU_KV_LOGF) {
                kv_out[i] = tu_logf(kv_in[i]);
            } else if (op == TU_KV_EXPF) {
                kv_out[i] = tu_expf(kv_in[i]);
            } else {
                kv_out[i] = tu_powf(kv_in[2U * i], kv_in[2U * i + 1U]);
            }
        }
        if (io->write(io->ctx, kv_out, (size_t)m * sizeof(float)) != 0) {
            return TU_KV_WRITE;
        }
        n -= m;
    }
    return 0;
}

/* Header: rank, n_frames, n_blocks, n_classes, n_shifts, top_k, floor, n_windows, flags
 * (bit 0: uncertainty reduction, bit 1: readout, bit 2: the readout is over label sets, bit 3:
 * the readout has the excess block). */
static int kv_detect(const tu_kv_io *io) {
    uint32_t h[9];
    if (io->read(io->ctx, h, sizeof h) != 0) {
        return TU_KV_BAD_INPUT;
    }
    const uint32_t rank = h[0], n = h[1], nb = h[2], L = h[3], top_k = h[5];
    const uint32_t n_windows = h[7], has_ur = h[8] & 1U, has_rd = h[8] & 2U;
    const uint32_t has_sets = (has_rd != 0U) ? (h[8] & 4U) : 0U;
    const uint32_t has_excess = (has_rd != 0U) ? (h[8] & 8U) : 0U;
    if (rank * n > KV_MAX_H || nb > KV_MAX_BLOCKS || L > KV_MAX_CLASSES || top_k > L ||
        rank > 0xFFFFU || n > 0xFFFFU || h[4] > 0xFFFFU) {
        return TU_KV_BAD_INPUT;
    }
    for (uint32_t i = 0U; i <= nb; ++i) {
        uint32_t w;
        if (kv_word(io, &w) != 0 || w > 0xFFFFU) {
            return TU_KV_BAD_INPUT;
        }
        kv_offset[i] = (uint16_t)w;
    }
    for (uint32_t i = 0U; i < nb; ++i) {
        uint32_t w;
        if (kv_word(io, &w) != 0 || w > 0xFFFFU) {
            return TU_KV_BAD_INPUT;
        }
        kv_class[i] = (uint16_t)w;
    }
    if (io->read(io->ctx, kv_log_thr, L * sizeof(float)) != 0) {
        return TU_KV_BAD_INPUT;
    }
    tu_detect_instance_f32 S;
    if (tu_detect_init_f32(&S, (uint16_t)rank, (uint16_t)n, (uint16_t)nb, (uint16_t)L,
                           (uint16_t)h[4], kv_offset, kv_class, kv_bits_f32(h[6])) != TU_OK) {
        return TU_KV_KERNEL;
    }
    tu_ur_instance_f32 U;
    uint32_t Lp = 0U;
    if (has_ur != 0U) {
        uint32_t u[8]; /* n_latent, n_penalized, n_iter, beta, alpha_p, p-1, eps, scale */
        if (io->read(io->ctx, u, sizeof u) != 0 || u[0] > KV_MAX_LATENT || u[2] > 0xFFFFU ||
            u[1] > 0xFFFFU || u[3] > 0xFFFFU) {
            return TU_KV_BAD_INPUT;
        }
        Lp = u[0];
        if (io->read(io->ctx, kv_ur_thr, L * sizeof(float)) != 0 ||
            io->read(io->ctx, kv_A, L * Lp * sizeof(float)) != 0) {
            return TU_KV_BAD_INPUT;
        }
        if (tu_ur_init_f32(&U, (uint16_t)L, (uint16_t)Lp, (uint16_t)u[1], (uint16_t)u[2],
                           (uint16_t)u[3], kv_bits_f32(u[4]), kv_bits_f32(u[5]), kv_bits_f32(u[6]),
                           kv_bits_f32(u[7]), kv_A, kv_state) != TU_OK) {
            return TU_KV_KERNEL;
        }
    }
    tu_detect_readout_instance_f32 R;
    tu_detect_readout_sets_instance_f32 RS;
    uint32_t R_rows = L;
    if (has_rd != 0U) {
        /* floor, (label sets: n_sets, mask[n_sets]), (excess: clip, mu[rank], inv_sd[rank]),
         * threshold[L], W[rows][rank or 2 rank], b[rows] */
        uint32_t fl;
        uint32_t clip = 0U;
        if (kv_word(io, &fl) != 0) {
            return TU_KV_BAD_INPUT;
        }
        if (has_sets != 0U) {
            if (kv_word(io, &R_rows) != 0 || R_rows == 0U || R_rows > KV_MAX_SETS ||
                io->read(io->ctx, kv_rd_sets, R_rows * sizeof(uint32_t)) != 0) {
                return TU_KV_BAD_INPUT;
            }
        }
        const uint32_t width = (has_excess != 0U) ? 2U * rank : rank;
        if (width > KV_MAX_RD_RANK || R_rows * width > KV_MAX_RD_W) {
            return TU_KV_BAD_INPUT;
        }
        if (has_excess != 0U &&
            (kv_word(io, &clip) != 0 || io->read(io->ctx, kv_rd_mu, rank * sizeof(float)) != 0 ||
             io->read(io->ctx, kv_rd_inv_sd, rank * sizeof(float)) != 0)) {
            return TU_KV_BAD_INPUT;
        }
        if (io->read(io->ctx, kv_rd_thr, L * sizeof(float)) != 0 ||
            io->read(io->ctx, kv_rd_W, R_rows * width * sizeof(float)) != 0 ||
            io->read(io->ctx, kv_rd_b, R_rows * sizeof(float)) != 0) {
            return TU_KV_BAD_INPUT;
        }
        if (tu_detect_readout_init_f32(&R, (uint16_t)rank, (uint16_t)n, (uint16_t)R_rows,
                                       kv_bits_f32(fl), kv_rd_W, kv_rd_b, kv_rd_state) != TU_OK) {
            return TU_KV_KERNEL;
        }
        if (has_excess != 0U &&
            tu_detect_readout_excess_f32(&R, kv_rd_mu, kv_rd_inv_sd, kv_bits_f32(clip)) != TU_OK) {
            return TU_KV_KERNEL;
        }
        if (has_sets != 0U && tu_detect_readout_sets_init_f32(&RS, (uint16_t)R_rows, (uint16_t)L,
                                                              kv_rd_sets) != TU_OK) {
            return TU_KV_KERNEL;
        }
    }
    for (uint32_t w = 0U; w < n_windows; ++w) {
        if (io->read(io->ctx, kv_H, rank * n * sizeof(float)) != 0) {
            return TU_KV_BAD_INPUT;
        }
        uint16_t n_hits = 0U;
        if (tu_detect_indices_f32(&S, kv_H, kv_log_index, kv_shift) != TU_OK ||
            tu_detect_decide_f32((uint16_t)L, (uint16_t)top_k, kv_log_index, kv_log_thr, kv_hits,
                                 &n_hits) != TU_OK) {
            return TU_KV_KERNEL;
        }
        /* out: log_index[L], shift[L], n_hits, hit[top_k] (+ latent[L'], n_hits, hit[top_k]) */
        uint32_t k = 0U;
        for (uint32_t l = 0U; l < L; ++l) {
            kv_words[k++] = kv_f32_bits(kv_log_index[l]);
        }
        for (uint32_t l = 0U; l < L; ++l) {
            kv_words[k++] = kv_shift[l];
        }
        kv_words[k++] = n_hits;
        for (uint32_t j = 0U; j < top_k; ++j) {
            kv_words[k++] = (j < n_hits) ? kv_hits[j] : KV_NONE;
        }
        if (has_ur != 0U) {
            if (tu_ur_infer_f32(&U, kv_log_index, kv_latent) != TU_OK ||
                tu_detect_decide_f32((uint16_t)L, (uint16_t)top_k, kv_latent, kv_ur_thr, kv_hits,
                                     &n_hits) != TU_OK) {
                return TU_KV_KERNEL;
            }
            if (io->write(io->ctx, kv_words, k * sizeof(uint32_t)) != 0) {
                return TU_KV_WRITE;
            }
            k = 0U;
            for (uint32_t j = 0U; j < Lp; ++j) {
                kv_words[k++] = kv_f32_bits(kv_latent[j]);
            }
            kv_words[k++] = n_hits;
            for (uint32_t j = 0U; j < top_k; ++j) {
                kv_words[k++] = (j < n_hits) ? kv_hits[j] : KV_NONE;
            }
        }
        if (has_rd != 0U) {
            /* out: score z[rows], (label sets: the chosen set), n_hits, hit[top_k] */
            uint16_t set_index = 0U;
            if (tu_detect_readout_f32(&R, kv_H, kv_rd_score) != TU_OK) {
                return TU_KV_KERNEL;
            }
            const tu_status st =
                (has_sets != 0U) ? tu_detect_readout_sets_f32(&RS, kv_rd_score, (uint16_t)top_k,
                                                              kv_hits, &n_hits, &set_index)
                                 : tu_detect_decide_f32((uint16_t)L, (uint16_t)top_k, kv_rd_score,
                                                        kv_rd_thr, kv_hits, &n_hits);
            if (st != TU_OK) {
                return TU_KV_KERNEL;
            }
            if (io->write(io->ctx, kv_words, k * sizeof(uint32_t)) != 0) {
                return TU_KV_WRITE;
            }
            k = 0U;
            for (uint32_t l = 0U; l < R_rows; ++l) {
                kv_words[k++] = kv_f32_bits(kv_rd_score[l]);
            }
            if (has_sets != 0U) {
                kv_words[k++] = set_index;
            }
            kv_words[k++] = n_hits;
            for (uint32_t j = 0U; j < top_k; ++j) {
                kv_words[k++] = (j < n_hits) ? kv_hits[j] : KV_NONE;
            }
        }
        if (io->write(io->ctx, kv_words, k * sizeof(uint32_t)) != 0) {
            return TU_KV_WRITE;
        }
    }
    return 0;
}

int tu_kv_run(const tu_kv_io *io) {
    uint32_t op;
    if (kv_word(io, &op) != 0) {
        return TU_KV_BAD_INPUT;
    }
    if (op == TU_KV_LOGF || op == TU_KV_EXPF || op == TU_KV_POWF) {
        return kv_math(io, op);
    }
    if (op == TU_KV_DETECT) {
        return kv_detect(io);
    }
    return TU_KV_BAD_INPUT;
}
