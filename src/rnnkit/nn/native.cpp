// The time loops of rnnkit.nn.fused's LSTM, GRU and Elman RNN kernels in C++ (CPU).
//
// rnnkit/nn/native.py compiles this file with the machine's C++ compiler at first use and
// calls it through torch.ops.rnnkit_native. Each function runs one direction of one layer
// over all time steps: per step one matrix product (the gemm of the BLAS torch links,
// which threads it; ATen's mm where torch exports none) and one pass over the batch rows
// that does every elementwise operation of the step (layer norm, gate activations, cell
// update, zoneout), split over ATen's threads when there is enough of it, instead of the
// ~25 small tensor operations, each with its own dispatch and thread fork/join, that the
// Python loop issues. The equations are those of rnnkit/nn/fused.py and
// rnnkit/nn/cells.py.
//
// Forward takes the recurrent matrix transposed, (H, G); backward as it is, (G, H).
// Python allocates every output and passes all tensors contiguous, on the CPU, in one
// floating dtype (float32 or float64); whole-sequence work before and after the loops
// (input projection, recurrent weight gradient) stays in Python. The backward loops sum
// the recurrent layer norms' gain gradients as they go; the GRU's loops apply the input
// side's layer norm themselves (see there).

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/mm.h>
#include <torch/library.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <type_traits>
#include <vector>

namespace {

using at::Tensor;
using OptTensor = std::optional<Tensor>;

constexpr double kLayerNormEps = 1e-5;  // rnnkit.nn.cells.LAYER_NORM_EPS

// ------------------------------------------------------------------ elementwise math

// exp for float32 written so that the compiler vectorises loops over it (a libm call
// would not be, nor would std::floor): range reduction by ln 2 and a degree-7 Taylor
// polynomial; relative error below 1e-7 (tanh below 3e-7, sigmoid below 2e-7).
inline float exp_f32(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  // Adding 1.5 * 2^23 rounds to the nearest integer n, which the low mantissa bits hold.
  const float shifted = x * 1.44269504088896341f + 12582912.0f;
  const float n = shifted - 12582912.0f;
  const float r = x - n * 0.693145751953125f - n * 1.428606765330187045e-06f;  // ln 2, split
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (std::bit_cast<int32_t>(shifted) - 0x4B400000 + 127) << 23;  // 2^n
  return p * std::bit_cast<float>(bits);
}

inline float sigmoid(float x) { return 1.0f / (1.0f + exp_f32(-x)); }

inline float tanh_(float x) {
  // Near 0 the odd Taylor series keeps the relative accuracy that (1 - e) / (1 + e) loses.
  const float ax = std::fabs(x);
  const float x2 = x * x;
  const float small = x * (1.0f + x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315))));
  const float e = exp_f32(-2.0f * ax);
  const float large = std::copysign((1.0f - e) / (1.0f + e), x);
  return ax < 0.125f ? small : large;
}

inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double tanh_(double x) { return std::tanh(x); }

// torch.lerp's formula: a weight of exactly 1 returns `end` bit for bit (a padded step
// carries its state unchanged), which start + w * (end - start) would not.
template <typename S>
inline S lerp(S start, S end, S weight) {
  return weight < S(0.5) ? start + weight * (end - start) : end - (end - start) * (S(1) - weight);
}

template <typename S>
inline S relu(S x) {
  return x > S(0) ? x : S(0);
}

// Sum of term(0) ... term(n - 1) in 16 interleaved partial sums: the compiler keeps them
// in vector registers (one running sum would be a serial chain it may not reorder).
template <typename S, typename Term>
inline S lane_sum(int64_t n, Term term) {
  constexpr int kLanes = 16;
  S lanes[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += term(k + l);
  }
  S total = 0;
  for (; k < n; ++k) total += term(k);
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  return total;
}

// Mean and 1/sqrt(var + eps) of one row (biased variance), as torch's layer norm.
template <typename S>
inline void row_stats(const S* x, int64_t n, S* mean_out, S* rstd_out) {
  const S mean = lane_sum<S>(n, [&](int64_t k) { return x[k]; }) / S(n);
  const S sq = lane_sum<S>(n, [&](int64_t k) { return (x[k] - mean) * (x[k] - mean); });
  *mean_out = mean;
  *rstd_out = S(1) / std::sqrt(sq / S(n) + S(kLayerNormEps));
}

// dx of y = gain * (x - mean) * rstd, given dy: rstd * (g - mean(g) - x^ * mean(g x^)),
// g = dy * gain. May write dx over dy. Adds dy * x^ to d_gain when given.
template <typename S>
inline void layer_norm_row_backward(const S* dy, const S* x, S mean, S rstd, const S* gain,
                                    int64_t n, S* dx, S* d_gain = nullptr) {
  const S mean_g = lane_sum<S>(n, [&](int64_t k) { return dy[k] * gain[k]; }) / S(n);
  const S mean_gx =
      lane_sum<S>(n, [&](int64_t k) { return dy[k] * gain[k] * (x[k] - mean) * rstd; }) / S(n);
  if (d_gain) {
    for (int64_t k = 0; k < n; ++k) d_gain[k] += dy[k] * (x[k] - mean) * rstd;
  }
  for (int64_t k = 0; k < n; ++k) {
    const S xhat = (x[k] - mean) * rstd;
    dx[k] = rstd * (dy[k] * gain[k] - mean_g - xhat * mean_gx);
  }
}

// ------------------------------------------------------------------ helpers

template <typename S>
const S* ptr(const OptTensor& t) {
  return t.has_value() && t->defined() ? t->data_ptr<S>() : nullptr;
}

template <typename S>
S* mut(const OptTensor& t) {
  return t.has_value() && t->defined() ? t->data_ptr<S>() : nullptr;
}

// Keep weights are (T, B, H) or (T, B, 1): the stride of one unit within a row.
inline int64_t unit_stride(const OptTensor& keep) {
  return keep.has_value() && keep->defined() && keep->size(2) > 1 ? 1 : 0;
}

// BLAS's Fortran gemm where torch's library exports it (MKL and OpenBLAS builds do): no
// dispatch, no tensor objects per step. Weak, so that a build without it still loads.
extern "C" {
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*,
            const float*, const int*, const float*, const int*, const float*, float*,
            const int*) __attribute__((weak));
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*,
            const double*, const int*, const double*, const int*, const double*, double*,
            const int*) __attribute__((weak));
}

// Column-major c (m x n) = op(a) op(b), op transposing where the flag is 'T'.
template <typename S>
void gemm(char trans_a, char trans_b, int64_t m, int64_t n, int64_t k, const S* a, int64_t lda,
          const S* b, int64_t ldb, S* c, int64_t ldc) {
  const int mi = m, ni = n, ki = k, la = lda, lb = ldb, lc = ldc;
  const S one = 1, zero = 0;
  if constexpr (std::is_same_v<S, float>) {
    if (sgemm_) {
      sgemm_(&trans_a, &trans_b, &mi, &ni, &ki, &one, a, &la, b, &lb, &zero, c, &lc);
      return;
    }
  } else {
    if (dgemm_) {
      dgemm_(&trans_a, &trans_b, &mi, &ni, &ki, &one, a, &la, b, &lb, &zero, c, &lc);
      return;
    }
  }
  // Through ATen: the row-major view of column-major c is c^T = op(b)^T op(a)^T.
  const auto options = at::TensorOptions().dtype(c10::CppTypeToScalarType<S>::value);
  auto view = [&](const S* data, char trans, int64_t rows, int64_t cols, int64_t ld) {
    // Column-major (rows x cols) before op; its row-major view is (cols x rows).
    auto t = at::from_blob(const_cast<S*>(data), {cols, rows}, {ld, 1}, options);
    return trans == 'T' ? t.t() : t;  // the row-major view of op(x)^T
  };
  const int64_t a_rows = trans_a == 'T' ? k : m, a_cols = trans_a == 'T' ? m : k;
  const int64_t b_rows = trans_b == 'T' ? n : k, b_cols = trans_b == 'T' ? k : n;
  auto out = at::from_blob(c, {n, m}, {ldc, 1}, options);
  at::mm_out(out, view(b, trans_b, b_rows, b_cols, ldb), view(a, trans_a, a_rows, a_cols, lda));
}

// out (B, N) = x (B, K) @ wt, wt (K, N) row-major: the recurrent matrix transposed once
// per call (BLAS multiplies an untransposed operand faster: 30% at 64 x 650 x 2600).
template <typename S>
void rows_times_wt(const S* x, const S* wt, int64_t batch, int64_t n, int64_t k, S* out) {
  // Column-major: out^T (N x B) = wt^T (N x K, stored as wt) times x^T (K x B).
  gemm<S>('N', 'N', n, batch, k, wt, n, x, k, out, n);
}

// out (B, K) = d (B, N) @ w, w (N, K) row-major.
template <typename S>
void rows_times_w(const S* d, const S* w, int64_t batch, int64_t n, int64_t k, S* out) {
  gemm<S>('N', 'N', k, batch, n, w, k, d, n, out, k);
}

// Rows of the batch split over ATen's threads when a step has enough elementwise work.
inline int64_t row_grain(int64_t row_elements) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, row_elements));
}

// Layer-norm gain gradients summed over all rows as a loop goes: one row of sums per
// thread (no two threads add into the same memory), added into `out` at the end.
template <typename S>
class ThreadSums {
 public:
  ThreadSums(S* out, int64_t n)
      : out_(out), n_(n), parts_(out ? at::get_num_threads() * n : 0) {}
  // This thread's row, or nullptr where no sums are wanted.
  S* mine() { return out_ ? parts_.data() + at::get_thread_num() * n_ : nullptr; }
  void finish() {
    for (size_t i = 0; i < parts_.size(); ++i) out_[i % n_] += parts_[i];
  }

 private:
  S* out_;
  int64_t n_;
  std::vector<S> parts_;
};

// ------------------------------------------------------------------ LSTM

template <typename S>
void lstm_forward_impl(const Tensor& xproj, const Tensor& weight_hh_t, const OptTensor& ln_hh,
                       const OptTensor& ln_cell_w, const OptTensor& ln_cell_b,
                       const OptTensor& mask, const OptTensor& keep_h, const OptTensor& keep_c,
                       Tensor& gates, Tensor& hs, Tensor& cs, Tensor& tanh_c,
                       const OptTensor& hh_raw, const OptTensor& hh_stats,
                       const OptTensor& cell_stats) {
  const int64_t steps = xproj.size(0), batch = xproj.size(1), gsize = xproj.size(2);
  const int64_t hidden = gsize / 4;
  const S* x = xproj.data_ptr<S>();
  const S* w = weight_hh_t.data_ptr<S>();  // (H, 4H)
  const S *lnw = ptr<S>(ln_hh), *lcw = ptr<S>(ln_cell_w), *lcb = ptr<S>(ln_cell_b);
  const S *m = ptr<S>(mask), *kh = ptr<S>(keep_h), *kc = ptr<S>(keep_c);
  const int64_t kh_unit = unit_stride(keep_h), kc_unit = unit_stride(keep_c);
  const int64_t kh_row = kh_unit ? hidden : 1, kc_row = kc_unit ? hidden : 1;
  S *g = gates.data_ptr<S>(), *h = hs.data_ptr<S>(), *c = cs.data_ptr<S>();
  S* tc = tanh_c.data_ptr<S>();
  S *raw = mut<S>(hh_raw), *hstat = mut<S>(hh_stats), *cstat = mut<S>(cell_stats);
  const int64_t bh = batch * hidden, bg = batch * gsize, tb = steps * batch;
  std::vector<S> h_in(m ? bh : 0);

  for (int64_t t = 0; t < steps; ++t) {
    const S* h_prev = h + t * bh;
    const S* rec = h_prev;
    if (m) {
      for (int64_t i = 0; i < bh; ++i) h_in[i] = h_prev[i] * m[i];
      rec = h_in.data();
    }
    S* product = raw ? raw + t * bg : g + t * bg;  // (B, 4H)
    rows_times_wt(rec, w, batch, gsize, hidden, product);
    at::parallel_for(0, batch, row_grain(gsize), [&](int64_t b0, int64_t b1) {
      std::vector<S> cell_buf(kc ? hidden : 0);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t row = t * batch + b;
        S* gr = g + row * gsize;
        const S* xr = x + row * gsize;
        if (raw) {
          const S* rr = raw + row * gsize;
          S mean, rstd;
          row_stats(rr, gsize, &mean, &rstd);
          hstat[row] = mean;
          hstat[tb + row] = rstd;
          for (int64_t k = 0; k < gsize; ++k) gr[k] = xr[k] + (rr[k] - mean) * rstd * lnw[k];
        } else {
          for (int64_t k = 0; k < gsize; ++k) gr[k] += xr[k];
        }
        for (int64_t k = 0; k < 2 * hidden; ++k) gr[k] = sigmoid(gr[k]);
        for (int64_t k = 2 * hidden; k < 3 * hidden; ++k) gr[k] = tanh_(gr[k]);
        for (int64_t k = 3 * hidden; k < gsize; ++k) gr[k] = sigmoid(gr[k]);
        const S *ig = gr, *fg = gr + hidden, *gg = gr + 2 * hidden, *og = gr + 3 * hidden;
        const S* c_prev = c + row * hidden;
        S* c_next = c + (row + batch) * hidden;
        S* cell = kc ? cell_buf.data() : c_next;
        for (int64_t j = 0; j < hidden; ++j) cell[j] = fg[j] * c_prev[j] + ig[j] * gg[j];
        S* tcr = tc + row * hidden;
        if (lcw) {
          S mean, rstd;
          row_stats(cell, hidden, &mean, &rstd);
          cstat[row] = mean;
          cstat[tb + row] = rstd;
          for (int64_t j = 0; j < hidden; ++j)
            tcr[j] = tanh_((cell[j] - mean) * rstd * lcw[j] + lcb[j]);
        } else {
          for (int64_t j = 0; j < hidden; ++j) tcr[j] = tanh_(cell[j]);
        }
        if (kc) {
          const S* k = kc + row * kc_row;
          for (int64_t j = 0; j < hidden; ++j)
            c_next[j] = lerp(cell[j], c_prev[j], k[j * kc_unit]);
        }
        const S* hp = h_prev + b * hidden;
        S* h_next = h + (row + batch) * hidden;
        if (kh) {
          const S* k = kh + row * kh_row;
          for (int64_t j = 0; j < hidden; ++j) {
            const S fresh = og[j] * tcr[j];
            h_next[j] = lerp(fresh, hp[j], k[j * kh_unit]);
          }
        } else {
          for (int64_t j = 0; j < hidden; ++j) h_next[j] = og[j] * tcr[j];
        }
      }
    });
  }
}

template <typename S>
void lstm_backward_impl(const Tensor& gates, const Tensor& hs, const Tensor& cs,
                        const Tensor& tanh_c, const Tensor& weight_hh, const OptTensor& ln_hh,
                        const OptTensor& ln_cell_w, const OptTensor& mask,
                        const OptTensor& keep_h, const OptTensor& keep_c,
                        const OptTensor& hh_raw, const OptTensor& hh_stats,
                        const OptTensor& cell_stats, const OptTensor& grad_y, Tensor& dh_t,
                        Tensor& dc_t, Tensor& d_gates, const OptTensor& d_hh_raw,
                        const OptTensor& d_ln_hh, const OptTensor& d_ln_cell) {
  const int64_t steps = gates.size(0), batch = gates.size(1), gsize = gates.size(2);
  const int64_t hidden = gsize / 4;
  const S *g = gates.data_ptr<S>(), *h = hs.data_ptr<S>(), *c = cs.data_ptr<S>();
  const S *tc = tanh_c.data_ptr<S>(), *w = weight_hh.data_ptr<S>();
  const S *lnw = ptr<S>(ln_hh), *lcw = ptr<S>(ln_cell_w);
  const S *m = ptr<S>(mask), *kh = ptr<S>(keep_h), *kc = ptr<S>(keep_c);
  const int64_t kh_unit = unit_stride(keep_h), kc_unit = unit_stride(keep_c);
  const int64_t kh_row = kh_unit ? hidden : 1, kc_row = kc_unit ? hidden : 1;
  const S *raw = ptr<S>(hh_raw), *hstat = ptr<S>(hh_stats), *cstat = ptr<S>(cell_stats);
  const S* gy = ptr<S>(grad_y);
  S *dh = dh_t.data_ptr<S>(), *dc = dc_t.data_ptr<S>(), *dg = d_gates.data_ptr<S>();
  S *draw = mut<S>(d_hh_raw), *d_hh_gain = mut<S>(d_ln_hh), *d_cell_ln = mut<S>(d_ln_cell);
  const int64_t bh = batch * hidden, bg = batch * gsize, tb = steps * batch;
  std::vector<S> dh_kept(kh ? bh : 0);
  // Layer-norm gain (and cell shift) gradients summed over all rows as the loop goes, one
  // row of sums per thread: [hh gain (4H), cell gain (H), cell shift (H)].
  const int64_t sums = gsize + 2 * hidden;
  const bool summing = d_hh_gain || d_cell_ln;
  std::vector<S> thread_sums(summing ? at::get_num_threads() * sums : 0, S(0));

  for (int64_t t = steps - 1; t >= 0; --t) {
    at::parallel_for(0, batch, row_grain(gsize), [&](int64_t b0, int64_t b1) {
      std::vector<S> c_new(lcw && kc ? hidden : 0);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t row = t * batch + b;
        S* dhr = dh + b * hidden;
        S* dcr = dc + b * hidden;
        if (gy) {
          const S* y = gy + row * hidden;
          for (int64_t j = 0; j < hidden; ++j) dhr[j] += y[j];
        }
        if (kh) {
          const S* k = kh + row * kh_row;
          S* kept = dh_kept.data() + b * hidden;
          for (int64_t j = 0; j < hidden; ++j) {
            kept[j] = dhr[j] * k[j * kh_unit];
            dhr[j] -= kept[j];  // the part that reached the new state: dh * (1 - k)
          }
        }
        const S* gr = g + row * gsize;
        const S *ig = gr, *fg = gr + hidden, *gg = gr + 2 * hidden, *og = gr + 3 * hidden;
        const S* tcr = tc + row * hidden;
        const S* c_prev = c + row * hidden;
        S* dgr = dg + row * gsize;
        S *d_i = dgr, *d_f = dgr + hidden, *d_g = dgr + 2 * hidden, *d_o = dgr + 3 * hidden;
        // d_i holds the gradient of the cell state (tanh's argument, then the cell) until
        // the gate gradients are written.
        S* d_cell = d_i;
        for (int64_t j = 0; j < hidden; ++j) {
          d_o[j] = dhr[j] * tcr[j] * og[j] * (S(1) - og[j]);
          d_cell[j] = dhr[j] * og[j] * (S(1) - tcr[j] * tcr[j]);
        }
        S* my_sums = summing ? thread_sums.data() + at::get_thread_num() * sums : nullptr;
        if (lcw) {
          if (my_sums) {
            S* shift = my_sums + gsize + hidden;
            for (int64_t j = 0; j < hidden; ++j) shift[j] += d_cell[j];
          }
          const S* cell = c + (row + batch) * hidden;  // the new cell state
          if (kc) {
            for (int64_t j = 0; j < hidden; ++j) c_new[j] = fg[j] * c_prev[j] + ig[j] * gg[j];
            cell = c_new.data();
          }
          layer_norm_row_backward(d_cell, cell, cstat[row], cstat[tb + row], lcw, hidden,
                                  d_cell, my_sums ? my_sums + gsize : nullptr);
        }
        if (kc) {
          const S* k = kc + row * kc_row;
          for (int64_t j = 0; j < hidden; ++j) {
            const S kept = dcr[j] * k[j * kc_unit];
            d_cell[j] += dcr[j] - kept;
            dcr[j] = d_cell[j] * fg[j] + kept;
          }
        } else {
          for (int64_t j = 0; j < hidden; ++j) {
            d_cell[j] += dcr[j];
            dcr[j] = d_cell[j] * fg[j];
          }
        }
        for (int64_t j = 0; j < hidden; ++j) {
          const S dcell = d_cell[j];
          d_f[j] = dcell * c_prev[j] * fg[j] * (S(1) - fg[j]);
          d_g[j] = dcell * ig[j] * (S(1) - gg[j] * gg[j]);
          d_i[j] = dcell * gg[j] * ig[j] * (S(1) - ig[j]);
        }
        if (lnw) {
          layer_norm_row_backward(dgr, raw + row * gsize, hstat[row], hstat[tb + row], lnw,
                                  gsize, draw + row * gsize, my_sums);
        }
      }
    });
    const S* d_rec = draw ? draw + t * bg : dg + t * bg;
    rows_times_w(d_rec, w, batch, gsize, hidden, dh);  // (B, 4H) x (4H, H)
    if (m) {
      for (int64_t i = 0; i < bh; ++i) dh[i] *= m[i];
    }
    if (kh) {
      for (int64_t i = 0; i < bh; ++i) dh[i] += dh_kept[i];
    }
  }
  for (int64_t thread = 0; summing && thread < at::get_num_threads(); ++thread) {
    const S* part = thread_sums.data() + thread * sums;
    for (int64_t k = 0; d_hh_gain && k < gsize; ++k) d_hh_gain[k] += part[k];
    for (int64_t k = 0; d_cell_ln && k < 2 * hidden; ++k) d_cell_ln[k] += part[gsize + k];
  }
}

// ------------------------------------------------------------------ GRU

// With layer norm on the input side (ln_ih given), the loops take the raw product W_ih x
// and normalise each row themselves; backward then recomputes the gates of each row from
// that product and the recurrent projection, both kept anyway, instead of reading them
// from a (T, B, 3H) buffer kept since forward. Both passes compute a row's gates with
// the functions below, from the same numbers.

// What the gates see of one row's input projection: LN(x) * gain + shift, or x itself.
template <typename S>
inline const S* gru_input_row(const S* xr, int64_t gsize, const S* lnih, const S* ihb, S mean,
                              S rstd, S* buf) {
  if (!lnih) return xr;
  for (int64_t k = 0; k < gsize; ++k)
    buf[k] = (xr[k] - mean) * rstd * lnih[k] + (ihb ? ihb[k] : S(0));
  return buf;
}

// r, z = sigmoid(x + a), n = tanh(x_n + r * a_n) of one row, into gr (3H).
template <typename S>
inline void gru_gates_row(const S* xin, const S* proj, int64_t hidden, S* gr) {
  for (int64_t k = 0; k < 2 * hidden; ++k) gr[k] = sigmoid(xin[k] + proj[k]);
  const S* r = gr;
  S* n = gr + 2 * hidden;
  for (int64_t j = 0; j < hidden; ++j)
    n[j] = tanh_(xin[2 * hidden + j] + r[j] * proj[2 * hidden + j]);
}

// The recurrent projection of one row as the gates see it, from the kept product: after
// layer norm (statistics given), or the product itself (its bias already added).
template <typename S>
inline const S* gru_recurrent_row(const S* pr, int64_t gsize, const S* lnw, const S* bias,
                                  S mean, S rstd, S* buf) {
  if (!lnw) return pr;
  for (int64_t k = 0; k < gsize; ++k)
    buf[k] = (pr[k] - mean) * rstd * lnw[k] + (bias ? bias[k] : S(0));
  return buf;
}

template <typename S>
void gru_forward_impl(const Tensor& xproj, const Tensor& weight_hh_t, const OptTensor& hh_bias,
                      const OptTensor& ln_hh, const OptTensor& mask, const OptTensor& keep_h,
                      const OptTensor& gates, Tensor& hs, Tensor& hh, const OptTensor& hh_stats,
                      const OptTensor& ln_ih, const OptTensor& ih_bias,
                      const OptTensor& ih_stats) {
  const int64_t steps = xproj.size(0), batch = xproj.size(1), gsize = xproj.size(2);
  const int64_t hidden = gsize / 3;
  const S *x = xproj.data_ptr<S>(), *w = weight_hh_t.data_ptr<S>();  // w: (H, 3H)
  const S *bias = ptr<S>(hh_bias), *lnw = ptr<S>(ln_hh);
  const S *lnih = ptr<S>(ln_ih), *ihb = ptr<S>(ih_bias);
  const S *m = ptr<S>(mask), *kh = ptr<S>(keep_h);
  const int64_t kh_unit = unit_stride(keep_h), kh_row = kh_unit ? hidden : 1;
  S *g = mut<S>(gates), *h = hs.data_ptr<S>(), *p = hh.data_ptr<S>();
  S *hstat = mut<S>(hh_stats), *istat = mut<S>(ih_stats);
  const int64_t bh = batch * hidden, bg = batch * gsize, tb = steps * batch;
  std::vector<S> h_in(m ? bh : 0);

  for (int64_t t = 0; t < steps; ++t) {
    const S* h_prev = h + t * bh;
    const S* rec = h_prev;
    if (m) {
      for (int64_t i = 0; i < bh; ++i) h_in[i] = h_prev[i] * m[i];
      rec = h_in.data();
    }
    rows_times_wt(rec, w, batch, gsize, hidden, p + t * bg);
    at::parallel_for(0, batch, row_grain(gsize), [&](int64_t b0, int64_t b1) {
      // Row scratch: the recurrent and input projections as the gates see them, and the
      // gates themselves where no buffer keeps them.
      std::vector<S> proj_buf(gsize), x_buf(lnih ? gsize : 0), g_buf(g ? 0 : gsize);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t row = t * batch + b;
        S* pr = p + row * gsize;
        S mean = 0, rstd = 0;
        if (lnw) {
          row_stats(pr, gsize, &mean, &rstd);
          hstat[row] = mean;
          hstat[tb + row] = rstd;
        } else if (bias) {
          // Without layer norm the buffer keeps the projection with its bias, as backward
          // wants it.
          for (int64_t k = 0; k < gsize; ++k) pr[k] += bias[k];
        }
        const S* proj = gru_recurrent_row(pr, gsize, lnw, bias, mean, rstd, proj_buf.data());
        const S* xr = x + row * gsize;
        S x_mean = 0, x_rstd = 0;
        if (lnih) {
          row_stats(xr, gsize, &x_mean, &x_rstd);
          istat[row] = x_mean;
          istat[tb + row] = x_rstd;
        }
        const S* xin = gru_input_row(xr, gsize, lnih, ihb, x_mean, x_rstd, x_buf.data());
        S* gr = g ? g + row * gsize : g_buf.data();
        gru_gates_row(xin, proj, hidden, gr);
        const S *z = gr + hidden, *n = gr + 2 * hidden;
        const S* hp = h_prev + b * hidden;
        S* h_next = h + (row + batch) * hidden;
        const S* k = kh ? kh + row * kh_row : nullptr;
        for (int64_t j = 0; j < hidden; ++j) {
          const S fresh = lerp(n[j], hp[j], z[j]);
          h_next[j] = k ? lerp(fresh, hp[j], k[j * kh_unit]) : fresh;
        }
      }
    });
  }
}

template <typename S>
void gru_backward_impl(const OptTensor& gates, const Tensor& hs, const Tensor& hh,
                       const Tensor& weight_hh, const OptTensor& hh_bias, const OptTensor& ln_hh,
                       const OptTensor& mask, const OptTensor& keep_h, const OptTensor& hh_stats,
                       const OptTensor& grad_y, Tensor& dh_t, Tensor& d_hh, Tensor& d_xn,
                       const OptTensor& d_hh_raw, const OptTensor& d_ln_hh,
                       const OptTensor& xproj, const OptTensor& ln_ih, const OptTensor& ih_bias,
                       const OptTensor& ih_stats) {
  const int64_t steps = hh.size(0), batch = hh.size(1), gsize = hh.size(2);
  const int64_t hidden = gsize / 3;
  const S *g = ptr<S>(gates), *h = hs.data_ptr<S>(), *p = hh.data_ptr<S>();
  const S *w = weight_hh.data_ptr<S>(), *bias = ptr<S>(hh_bias), *lnw = ptr<S>(ln_hh);
  const S *x = ptr<S>(xproj), *lnih = ptr<S>(ln_ih), *ihb = ptr<S>(ih_bias);
  const S *m = ptr<S>(mask), *kh = ptr<S>(keep_h), *hstat = ptr<S>(hh_stats);
  const S* istat = ptr<S>(ih_stats);
  const int64_t kh_unit = unit_stride(keep_h), kh_row = kh_unit ? hidden : 1;
  const S* gy = ptr<S>(grad_y);
  S *dh = dh_t.data_ptr<S>(), *dp = d_hh.data_ptr<S>(), *dxn = d_xn.data_ptr<S>();
  S* draw = mut<S>(d_hh_raw);
  const int64_t bh = batch * hidden, bg = batch * gsize, tb = steps * batch;
  std::vector<S> dh_skip(bh);  // what reaches h_{t-1} other than through W_hh
  ThreadSums<S> gain_sums(mut<S>(d_ln_hh), gsize);

  for (int64_t t = steps - 1; t >= 0; --t) {
    at::parallel_for(0, batch, row_grain(gsize), [&](int64_t b0, int64_t b1) {
      // Without kept gates (see above): each row's gates recomputed as forward made them.
      std::vector<S> proj_buf(g ? 0 : gsize), x_buf(g ? 0 : gsize), g_buf(g ? 0 : gsize);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t row = t * batch + b;
        S* dhr = dh + b * hidden;
        S* skip = dh_skip.data() + b * hidden;
        if (gy) {
          const S* y = gy + row * hidden;
          for (int64_t j = 0; j < hidden; ++j) dhr[j] += y[j];
        }
        const S* k = kh ? kh + row * kh_row : nullptr;
        const S* hp = h + row * hidden;
        const S* pr = p + row * gsize;
        S mean = 0, rstd = 0;
        if (lnw) {
          mean = hstat[row];
          rstd = hstat[tb + row];
        }
        const S* gr = g ? g + row * gsize : g_buf.data();
        if (!g) {
          const S* proj = gru_recurrent_row(pr, gsize, lnw, bias, mean, rstd, proj_buf.data());
          const S x_mean = lnih ? istat[row] : S(0), x_rstd = lnih ? istat[tb + row] : S(0);
          const S* xin =
              gru_input_row(x + row * gsize, gsize, lnih, ihb, x_mean, x_rstd, x_buf.data());
          gru_gates_row(xin, proj, hidden, g_buf.data());
        }
        const S *r = gr, *z = gr + hidden, *n = gr + 2 * hidden;
        S* dpr = dp + row * gsize;
        S* dxr = dxn + row * hidden;
        for (int64_t j = 0; j < hidden; ++j) {
          S d = dhr[j];
          S kept = 0;
          if (k) {
            kept = d * k[j * kh_unit];
            d -= kept;
          }
          // The candidate's recurrent part as the gates saw it (after layer norm).
          const int64_t kn = 2 * hidden + j;
          const S hn = lnw ? (pr[kn] - mean) * rstd * lnw[kn] + (bias ? bias[kn] : S(0))
                           : pr[kn];
          dpr[hidden + j] = d * (hp[j] - n[j]) * z[j] * (S(1) - z[j]);
          const S d_n = d * (S(1) - z[j]) * (S(1) - n[j] * n[j]);
          dxr[j] = d_n;
          dpr[j] = d_n * hn * r[j] * (S(1) - r[j]);
          dpr[kn] = d_n * r[j];
          skip[j] = d * z[j] + kept;
        }
        if (lnw) {
          layer_norm_row_backward(dpr, pr, mean, rstd, lnw, gsize, draw + row * gsize,
                                  gain_sums.mine());
        }
      }
    });
    const S* d_rec = draw ? draw + t * bg : dp + t * bg;
    rows_times_w(d_rec, w, batch, gsize, hidden, dh);  // (B, 3H) x (3H, H)
    for (int64_t i = 0; i < bh; ++i) {
      if (m) dh[i] *= m[i];
      dh[i] += dh_skip[i];
    }
  }
  gain_sums.finish();
}

// ------------------------------------------------------------------ Elman RNN

template <typename S>
void rnn_forward_impl(const Tensor& xproj, const Tensor& weight_hh_t, const OptTensor& ln_hh,
                      const OptTensor& mask, const OptTensor& keep_h, bool use_relu, Tensor& hs,
                      const OptTensor& h_new, const OptTensor& hh_stats) {
  const int64_t steps = xproj.size(0), batch = xproj.size(1), hidden = xproj.size(2);
  const S *x = xproj.data_ptr<S>(), *w = weight_hh_t.data_ptr<S>(), *lnw = ptr<S>(ln_hh);
  const S *m = ptr<S>(mask), *kh = ptr<S>(keep_h);
  const int64_t kh_unit = unit_stride(keep_h), kh_row = kh_unit ? hidden : 1;
  S* h = hs.data_ptr<S>();
  S *fresh_all = mut<S>(h_new), *hstat = mut<S>(hh_stats);
  const int64_t bh = batch * hidden, tb = steps * batch;
  // One step's recurrent product: backward recomputes them all in one product (layer
  // norm) or needs none.
  std::vector<S> h_in(m ? bh : 0), product(bh);

  for (int64_t t = 0; t < steps; ++t) {
    const S* h_prev = h + t * bh;
    const S* rec = h_prev;
    if (m) {
      for (int64_t i = 0; i < bh; ++i) h_in[i] = h_prev[i] * m[i];
      rec = h_in.data();
    }
    rows_times_wt(rec, w, batch, hidden, hidden, product.data());
    at::parallel_for(0, batch, row_grain(hidden), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t row = t * batch + b;
        const S* pr = product.data() + b * hidden;
        const S* xr = x + row * hidden;
        // The new state before zoneout: kept when backward needs it, else in the output.
        S* fresh = fresh_all ? fresh_all + row * hidden : h + (row + batch) * hidden;
        if (lnw) {
          S mean, rstd;
          row_stats(pr, hidden, &mean, &rstd);
          hstat[row] = mean;
          hstat[tb + row] = rstd;
          for (int64_t j = 0; j < hidden; ++j) fresh[j] = xr[j] + (pr[j] - mean) * rstd * lnw[j];
        } else {
          for (int64_t j = 0; j < hidden; ++j) fresh[j] = xr[j] + pr[j];
        }
        if (use_relu) {
          for (int64_t j = 0; j < hidden; ++j) fresh[j] = relu(fresh[j]);
        } else {
          for (int64_t j = 0; j < hidden; ++j) fresh[j] = tanh_(fresh[j]);
        }
        if (kh) {
          const S* k = kh + row * kh_row;
          const S* hp = h_prev + b * hidden;
          S* h_next = h + (row + batch) * hidden;
          for (int64_t j = 0; j < hidden; ++j)
            h_next[j] = lerp(fresh[j], hp[j], k[j * kh_unit]);
        }
      }
    });
  }
}

template <typename S>
void rnn_backward_impl(const Tensor& h_new, const Tensor& weight_hh, const OptTensor& ln_hh,
                       const OptTensor& mask, const OptTensor& keep_h, bool use_relu,
                       const OptTensor& hh_raw, const OptTensor& hh_stats,
                       const OptTensor& grad_y, Tensor& dh_t, Tensor& d_pre,
                       const OptTensor& d_hh_raw, const OptTensor& d_ln_hh) {
  const int64_t steps = h_new.size(0), batch = h_new.size(1), hidden = h_new.size(2);
  const S *fresh_all = h_new.data_ptr<S>(), *w = weight_hh.data_ptr<S>(), *lnw = ptr<S>(ln_hh);
  const S *m = ptr<S>(mask), *kh = ptr<S>(keep_h);
  const int64_t kh_unit = unit_stride(keep_h), kh_row = kh_unit ? hidden : 1;
  const S *raw = ptr<S>(hh_raw), *hstat = ptr<S>(hh_stats), *gy = ptr<S>(grad_y);
  S *dh = dh_t.data_ptr<S>(), *dpre = d_pre.data_ptr<S>(), *draw = mut<S>(d_hh_raw);
  const int64_t bh = batch * hidden, tb = steps * batch;
  std::vector<S> dh_kept(kh ? bh : 0);
  ThreadSums<S> gain_sums(mut<S>(d_ln_hh), hidden);

  for (int64_t t = steps - 1; t >= 0; --t) {
    at::parallel_for(0, batch, row_grain(hidden), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t row = t * batch + b;
        S* dhr = dh + b * hidden;
        const S* fresh = fresh_all + row * hidden;
        S* dr = dpre + row * hidden;
        const S* y = gy ? gy + row * hidden : nullptr;
        const S* k = kh ? kh + row * kh_row : nullptr;
        S* kept = kh ? dh_kept.data() + b * hidden : nullptr;
        for (int64_t j = 0; j < hidden; ++j) {
          S d = dhr[j] + (y ? y[j] : S(0));
          if (k) {
            kept[j] = d * k[j * kh_unit];
            d -= kept[j];
          }
          const S slope = use_relu ? (fresh[j] > S(0) ? S(1) : S(0)) : S(1) - fresh[j] * fresh[j];
          dr[j] = d * slope;
        }
        if (lnw) {
          layer_norm_row_backward(dr, raw + row * hidden, hstat[row], hstat[tb + row], lnw,
                                  hidden, draw + row * hidden, gain_sums.mine());
        }
      }
    });
    const S* d_rec = draw ? draw + t * bh : dpre + t * bh;
    rows_times_w(d_rec, w, batch, hidden, hidden, dh);  // (B, H) x (H, H)
    if (m) {
      for (int64_t i = 0; i < bh; ++i) dh[i] *= m[i];
    }
    if (kh) {
      for (int64_t i = 0; i < bh; ++i) dh[i] += dh_kept[i];
    }
  }
  gain_sums.finish();
}

// ------------------------------------------------------------------ zoneout bits

// Keep weights that are all 0 or 1 (training zoneout, padding), as kept for backward: one
// bit each, eight to a byte, lowest bit first, each row of W weights in ceil(W / 8) bytes;
// rnnkit/nn/kernel_ops.py has the same packing in tensor operations for where this
// library is not loaded.
template <typename S>
void pack_keep_impl(const Tensor& keep, Tensor& bits) {
  const S* k = keep.data_ptr<S>();
  uint8_t* out = bits.data_ptr<uint8_t>();
  const int64_t width = keep.size(-1), row_bytes = bits.size(-1);
  const int64_t rows = width ? keep.numel() / width : 0;
  for (int64_t r = 0; r < rows; ++r) {
    const S* kr = k + r * width;
    uint8_t* o = out + r * row_bytes;
    for (int64_t i = 0; i < row_bytes; ++i) {
      const int64_t n = std::min<int64_t>(8, width - i * 8);
      uint8_t byte = 0;
      for (int64_t b = 0; b < n; ++b) byte |= static_cast<uint8_t>(kr[i * 8 + b] != S(0)) << b;
      o[i] = byte;
    }
  }
}

template <typename S>
void unpack_keep_impl(const Tensor& bits, Tensor& keep) {
  const uint8_t* in = bits.data_ptr<uint8_t>();
  S* k = keep.data_ptr<S>();
  const int64_t width = keep.size(-1), row_bytes = bits.size(-1);
  const int64_t rows = width ? keep.numel() / width : 0;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* ir = in + r * row_bytes;
    S* kr = k + r * width;
    for (int64_t j = 0; j < width; ++j) kr[j] = static_cast<S>((ir[j >> 3] >> (j & 7)) & 1);
  }
}

// keep (..., W), contiguous -> uint8 (..., ceil(W / 8)).
Tensor pack_keep(const Tensor& keep) {
  auto sizes = keep.sizes().vec();
  sizes.back() = (sizes.back() + 7) / 8;
  Tensor bits = at::empty(sizes, keep.options().dtype(at::kByte));
  AT_DISPATCH_FLOATING_TYPES(keep.scalar_type(), "pack_keep",
                             [&] { pack_keep_impl<scalar_t>(keep, bits); });
  return bits;
}

// uint8 (..., ceil(W / 8)), contiguous -> 0/1 weights (..., W) in dtype.
Tensor unpack_keep(const Tensor& bits, int64_t width, at::ScalarType dtype) {
  auto sizes = bits.sizes().vec();
  sizes.back() = width;
  Tensor keep = at::empty(sizes, bits.options().dtype(dtype));
  AT_DISPATCH_FLOATING_TYPES(dtype, "unpack_keep", [&] { unpack_keep_impl<scalar_t>(bits, keep); });
  return keep;
}

// ------------------------------------------------------------------ entry points

#define RNNKIT_DISPATCH(tensor, name, ...) \
  AT_DISPATCH_FLOATING_TYPES((tensor).scalar_type(), name, [&] { __VA_ARGS__; })

void lstm_forward(const Tensor& xproj, const Tensor& weight_hh_t, const OptTensor& ln_hh,
                  const OptTensor& ln_cell_w, const OptTensor& ln_cell_b, const OptTensor& mask,
                  const OptTensor& keep_h, const OptTensor& keep_c, Tensor gates, Tensor hs,
                  Tensor cs, Tensor tanh_c, const OptTensor& hh_raw, const OptTensor& hh_stats,
                  const OptTensor& cell_stats) {
  RNNKIT_DISPATCH(xproj, "lstm_forward",
                  lstm_forward_impl<scalar_t>(xproj, weight_hh_t, ln_hh, ln_cell_w, ln_cell_b,
                                              mask, keep_h, keep_c, gates, hs, cs, tanh_c,
                                              hh_raw, hh_stats, cell_stats));
}

void lstm_backward(const Tensor& gates, const Tensor& hs, const Tensor& cs, const Tensor& tanh_c,
                   const Tensor& weight_hh, const OptTensor& ln_hh, const OptTensor& ln_cell_w,
                   const OptTensor& mask, const OptTensor& keep_h, const OptTensor& keep_c,
                   const OptTensor& hh_raw, const OptTensor& hh_stats,
                   const OptTensor& cell_stats, const OptTensor& grad_y, Tensor dh, Tensor dc,
                   Tensor d_gates, const OptTensor& d_hh_raw, const OptTensor& d_ln_hh,
                   const OptTensor& d_ln_cell) {
  RNNKIT_DISPATCH(gates, "lstm_backward",
                  lstm_backward_impl<scalar_t>(gates, hs, cs, tanh_c, weight_hh, ln_hh,
                                               ln_cell_w, mask, keep_h, keep_c, hh_raw, hh_stats,
                                               cell_stats, grad_y, dh, dc, d_gates, d_hh_raw,
                                               d_ln_hh, d_ln_cell));
}

void gru_forward(const Tensor& xproj, const Tensor& weight_hh_t, const OptTensor& hh_bias,
                 const OptTensor& ln_hh, const OptTensor& mask, const OptTensor& keep_h,
                 const OptTensor& gates, Tensor hs, Tensor hh, const OptTensor& hh_stats,
                 const OptTensor& ln_ih, const OptTensor& ih_bias, const OptTensor& ih_stats) {
  RNNKIT_DISPATCH(xproj, "gru_forward",
                  gru_forward_impl<scalar_t>(xproj, weight_hh_t, hh_bias, ln_hh, mask, keep_h,
                                             gates, hs, hh, hh_stats, ln_ih, ih_bias,
                                             ih_stats));
}

void gru_backward(const OptTensor& gates, const Tensor& hs, const Tensor& hh,
                  const Tensor& weight_hh, const OptTensor& hh_bias, const OptTensor& ln_hh,
                  const OptTensor& mask, const OptTensor& keep_h, const OptTensor& hh_stats,
                  const OptTensor& grad_y, Tensor dh, Tensor d_hh, Tensor d_xn,
                  const OptTensor& d_hh_raw, const OptTensor& d_ln_hh, const OptTensor& xproj,
                  const OptTensor& ln_ih, const OptTensor& ih_bias, const OptTensor& ih_stats) {
  RNNKIT_DISPATCH(hh, "gru_backward",
                  gru_backward_impl<scalar_t>(gates, hs, hh, weight_hh, hh_bias, ln_hh, mask,
                                              keep_h, hh_stats, grad_y, dh, d_hh, d_xn,
                                              d_hh_raw, d_ln_hh, xproj, ln_ih, ih_bias,
                                              ih_stats));
}

void rnn_forward(const Tensor& xproj, const Tensor& weight_hh_t, const OptTensor& ln_hh,
                 const OptTensor& mask, const OptTensor& keep_h, bool use_relu, Tensor hs,
                 const OptTensor& h_new, const OptTensor& hh_stats) {
  RNNKIT_DISPATCH(xproj, "rnn_forward",
                  rnn_forward_impl<scalar_t>(xproj, weight_hh_t, ln_hh, mask, keep_h, use_relu,
                                             hs, h_new, hh_stats));
}

void rnn_backward(const Tensor& h_new, const Tensor& weight_hh, const OptTensor& ln_hh,
                  const OptTensor& mask, const OptTensor& keep_h, bool use_relu,
                  const OptTensor& hh_raw, const OptTensor& hh_stats, const OptTensor& grad_y,
                  Tensor dh, Tensor d_pre, const OptTensor& d_hh_raw,
                  const OptTensor& d_ln_hh) {
  RNNKIT_DISPATCH(h_new, "rnn_backward",
                  rnn_backward_impl<scalar_t>(h_new, weight_hh, ln_hh, mask, keep_h, use_relu,
                                              hh_raw, hh_stats, grad_y, dh, d_pre, d_hh_raw,
                                              d_ln_hh));
}

}  // namespace

// Outputs are written in place; the schemas mark them mutable (Tensor(a!)).
TORCH_LIBRARY(rnnkit_native, m) {
  m.def("pack_keep(Tensor keep) -> Tensor");
  m.def("unpack_keep(Tensor bits, int width, ScalarType dtype) -> Tensor");
  m.def(
      "lstm_forward(Tensor xproj, Tensor weight_hh_t, Tensor? ln_hh, Tensor? ln_cell_w, "
      "Tensor? ln_cell_b, Tensor? mask, Tensor? keep_h, Tensor? keep_c, Tensor(a!) gates, "
      "Tensor(b!) hs, Tensor(c!) cs, Tensor(d!) tanh_c, Tensor(e!)? hh_raw, "
      "Tensor(f!)? hh_stats, Tensor(g!)? cell_stats) -> ()");
  m.def(
      "lstm_backward(Tensor gates, Tensor hs, Tensor cs, Tensor tanh_c, Tensor weight_hh, "
      "Tensor? ln_hh, Tensor? ln_cell_w, Tensor? mask, Tensor? keep_h, Tensor? keep_c, "
      "Tensor? hh_raw, Tensor? hh_stats, Tensor? cell_stats, Tensor? grad_y, Tensor(a!) dh, "
      "Tensor(b!) dc, Tensor(c!) d_gates, Tensor(d!)? d_hh_raw, Tensor(e!)? d_ln_hh, "
      "Tensor(f!)? d_ln_cell) -> ()");
  m.def(
      "gru_forward(Tensor xproj, Tensor weight_hh_t, Tensor? hh_bias, Tensor? ln_hh, "
      "Tensor? mask, Tensor? keep_h, Tensor(a!)? gates, Tensor(b!) hs, Tensor(c!) hh, "
      "Tensor(d!)? hh_stats, Tensor? ln_ih, Tensor? ih_bias, Tensor(e!)? ih_stats) -> ()");
  m.def(
      "gru_backward(Tensor? gates, Tensor hs, Tensor hh, Tensor weight_hh, Tensor? hh_bias, "
      "Tensor? ln_hh, Tensor? mask, Tensor? keep_h, Tensor? hh_stats, Tensor? grad_y, "
      "Tensor(a!) dh, Tensor(b!) d_hh, Tensor(c!) d_xn, Tensor(d!)? d_hh_raw, "
      "Tensor(e!)? d_ln_hh, Tensor? xproj, Tensor? ln_ih, Tensor? ih_bias, "
      "Tensor? ih_stats) -> ()");
  m.def(
      "rnn_forward(Tensor xproj, Tensor weight_hh_t, Tensor? ln_hh, Tensor? mask, "
      "Tensor? keep_h, bool use_relu, Tensor(a!) hs, Tensor(b!)? h_new, "
      "Tensor(c!)? hh_stats) -> ()");
  m.def(
      "rnn_backward(Tensor h_new, Tensor weight_hh, Tensor? ln_hh, Tensor? mask, "
      "Tensor? keep_h, bool use_relu, Tensor? hh_raw, Tensor? hh_stats, Tensor? grad_y, "
      "Tensor(a!) dh, Tensor(b!) d_pre, Tensor(c!)? d_hh_raw, Tensor(d!)? d_ln_hh) -> ()");
}

TORCH_LIBRARY_IMPL(rnnkit_native, CPU, m) {
  m.impl("pack_keep", pack_keep);
  m.impl("unpack_keep", unpack_keep);
  m.impl("lstm_forward", lstm_forward);
  m.impl("lstm_backward", lstm_backward);
  m.impl("gru_forward", gru_forward);
  m.impl("gru_backward", gru_backward);
  m.impl("rnn_forward", rnn_forward);
  m.impl("rnn_backward", rnn_backward);
}
