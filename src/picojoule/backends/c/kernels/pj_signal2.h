/* TFLM signal library, second part: streaming ops with state kept across invokes
 * (SignalDelay, SignalFramer, SignalOverlapAdd, SignalStacker) and the real FFTs of
 * every type (SignalRfft int32 / float32, SignalIrfft int16 / int32 / float32).
 *
 * State lives in static buffers the generator zeroes in <name>_reset(); kernels whose
 * initial state is not all zeros keep a "started" word and set themselves up on the first
 * run after a reset.
 */
#ifndef PJ_SIGNAL2_H
#define PJ_SIGNAL2_H

#include <stdint.h>

/* kissfft (v130, as TFLM builds it) on a half-length complex FFT: fixed point with 16- or
 * 32-bit scalars (bits), or float (bits 0).  factors: (radix, stride) pairs, perm: where
 * kissfft's recursion puts each input, tw_*: twiddles (fixed point, or float bit patterns
 * for bits 0), st_*: the real transform's super-twiddles. */
typedef struct {
    int32_t nfft, in_len, bits, inverse, nfactors;
    const int32_t *factors;
    const int32_t *perm;
    const void *tw_r, *tw_i;   /* int32 (fixed point) or float [nfft / 2] */
    const void *st_r, *st_i;   /* [nfft / 4] */
} pj_kfft_params;

/* Forward: in [frames][in_len] (zero padded to nfft) -> out [frames][nfft + 2] (re, im);
 * inverse: in [frames][nfft + 2] -> out [frames][nfft] (unscaled, float: / nfft).
 * Element type int16 (bits 16), int32 (bits 32) or float (bits 0).
 * scratch: 4 * (nfft / 2) int32. */
void pj_signal_rfft(const pj_kfft_params *p, int32_t frames, const void *in, void *out,
                    int32_t *scratch);
void pj_signal_irfft(const pj_kfft_params *p, int32_t frames, const void *in, void *out,
                     int32_t *scratch);

/* Delay each of `rows` rows of `frame` samples by `delay` samples (state: rows * delay). */
void pj_signal_delay(int32_t rows, int32_t frame, int32_t delay, const int16_t *in,
                     int16_t *out, int16_t *state);

/* TFLM's int16 CircularBuffer, one per row: hdr {read, write, not empty} and 2 * cap
 * samples. */
typedef struct {
    int32_t rows, n_frames, frame_size, frame_step, capacity, prefill;
} pj_framer_params;

/* state: int32 {started, rows * 3 header words}, int16 rows * 2 * capacity samples and the
 * last output rows * n_frames * frame_size (TFLM leaves frames it cannot fill untouched). */
void pj_signal_framer(const pj_framer_params *p, const int16_t *in, int16_t *out,
                      uint8_t *valid, int32_t *hdr, int16_t *buf, int16_t *last);

typedef struct {
    int32_t num_channels, left, right, step, size;  /* size = channels * (l + r + 1) */
} pj_stacker_params;

/* hdr: {started, read, write, not empty}; buf 2 * size; last: the previous stack;
 * scratch: num_channels int16. */
void pj_signal_stacker(const pj_stacker_params *p, const int16_t *in, int16_t *out,
                       uint8_t *valid, int32_t *hdr, int16_t *buf, int16_t *last,
                       int16_t *scratch);

/* rows x n_frames frames of frame_size added into a running row of frame_size (state),
 * each emitting its first frame_step samples (int16 saturating, or float). */
void pj_signal_overlap_add_s16(int32_t rows, int32_t n_frames, int32_t size, int32_t step,
                               const int16_t *in, int16_t *out, int16_t *state);
void pj_signal_overlap_add_f32(int32_t rows, int32_t n_frames, int32_t size, int32_t step,
                               const float *in, float *out, float *state);

#endif /* PJ_SIGNAL2_H */
