#pragma once
// embedding<Vocab, Dim>: a sequence of T token ids per sample -> T rows of a learned table.
//   x [B, T] token ids, table [Vocab, Dim] (PyTorch's nn.Embedding layout), y [B, T, Dim].
//
// Token ids travel as floats, as every plait tensor does: each id is a float holding an exact
// integer in [0, Vocab) (floats hold every integer up to 2^24 exactly, hence Vocab <= 2^24).
// forward and backward (its weight part: the input part indexes nothing) check every id before
// they index the table; a bad one (out of range, fractional, NaN) is a plait::error naming the id
// and its sample, and nothing has been read or written when it is thrown.
//
// The gradient with respect to the ids is not defined (they are integers); backward writes
// zeros to dx when one is asked for, so a layer before an embedding sees a zero gradient.

#include <charconv>
#include <cmath>
#include <cstddef>
#include <string>

#include "../core/concepts.hpp"
#include "../core/config.hpp"
#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../core/shape.hpp"
#include "../kernels/copy.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/reduce.hpp"

namespace plait {

template <std::size_t Vocab, std::size_t Dim>
struct embedding_t {
  static_assert(Vocab > 0 && Dim > 0,
                "plait: embedding<Vocab, Dim> has a zero extent. An embedding maps each of Vocab tokens to "
                "Dim features. Fix: give embedding<Vocab, Dim> a Vocab >= 1 and a Dim >= 1.");
  static_assert(Vocab <= (std::size_t{1} << 24),
                "plait: embedding<Vocab, Dim> has Vocab above 2^24. Token ids travel as floats, which hold "
                "integers exactly only up to 2^24. Fix: use Vocab <= 16777216, e.g. by hashing tokens.");
  static constexpr bool is_layer = true;
  static constexpr std::size_t vocab = Vocab;
  static constexpr std::size_t dim = Dim;

  template <Shape In>
  struct bound {
    static_assert(has_rank<In, 1>::value,
                  "plait: embedding<Vocab, Dim> is given an input of rank other than 1. An embedding reads "
                  "one sequence of token ids per sample, input<T>. Fix: give it input<T> of token ids, or "
                  "put `>> flatten` before it.");
    static constexpr std::size_t steps = In::size;  // T
    using in_shape = In;
    using out_shape = shape<steps, Dim>;
    static constexpr std::size_t param_count = Vocab * Dim;
    static constexpr std::size_t saved_count = 0;
    static constexpr std::size_t flops = 0;  // a gather: memory traffic, no arithmetic
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = false;
    static constexpr bool splits_backward = true;  // dparams or dx may be null: either part alone
    static constexpr bool pc_trainable = false;    // its input is token ids, not a value node: PC refuses it
    /// Its forward reads the device's answer to check_ids: a step with it cannot be replayed from a CUDA graph.
    static constexpr bool waits_for_device = true;

    /// PyTorch's default: every entry of the table from N(0, 1), here by Box-Muller on rng's
    /// uniforms (two normals per pair of uniforms).
    template <class T, class Rng>
    static void init(T* params, Rng& rng) {
      constexpr double two_pi = 6.283185307179586476925;
      for (std::size_t i = 0; i < param_count; i += 2) {
        const double u1 = 1.0 - static_cast<double>(rng.uniform01());  // (0, 1]: log is finite
        const double u2 = static_cast<double>(rng.uniform01());
        const double r = std::sqrt(-2.0 * std::log(u1));
        params[i] = static_cast<T>(r * std::cos(two_pi * u2));
        if (i + 1 < param_count) params[i + 1] = static_cast<T>(r * std::sin(two_pi * u2));
      }
    }

    /// Whether a float is a usable id. NaN fails every comparison, so it is refused too.
    template <class T>
    PLAIT_HD static bool valid_id(T v) {
      return v >= T{0} && v < static_cast<T>(Vocab) && v == std::floor(v);
    }

    /// Throws for the first bad id of ids[B, T] (in the device's memory). The message is built
    /// only on failure: the passing path is one comparison per token, without allocation.
    template <class Ctx, class T>
    static void check_ids(const Ctx& ctx, const T* ids, std::size_t batch, std::size_t first_sample) {
      const std::size_t n = batch * steps;
      const std::size_t r = find_first(ctx, n, [=] PLAIT_HD(std::size_t i) { return !valid_id(ids[i]); });
      if (r == n) [[likely]]
        return;
      T id;
      copy_to_host(ctx, &id, ids + r, 1);
      bad_id(static_cast<double>(id), first_sample + r / steps, r % steps);
    }

    [[noreturn]] static void bad_id(double id, std::size_t sample, std::size_t step) {
      char buf[32];
      const auto end = std::to_chars(buf, buf + sizeof buf, id).ptr;
      const std::string v(buf, end), n = std::to_string(Vocab);
      fail("embedding<" + n + ", " + std::to_string(Dim) + "> is given token id " + v + " at step " +
               std::to_string(step) + " of sample " + std::to_string(sample),
           "token ids are floats holding integers in [0, " + n + ")",
           "map every token into [0, " + n + ") before training, or raise Vocab");
    }

    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      const T* ids = a.x;         // [B*T]
      const T* table = a.params;  // [Vocab, Dim]
      T* y = a.y;                 // [B*T, Dim]
      check_ids(ctx, ids, a.batch, a.first_sample);
      for_rows(ctx, a.batch * steps, [=] PLAIT_HD(std::size_t r) {
        const T* PLAIT_RESTRICT src = table + static_cast<std::size_t>(ids[r]) * Dim;
        T* PLAIT_RESTRICT dst = y + r * Dim;
        for (std::size_t d = 0; d < Dim; ++d) dst[d] = src[d];
      });
    }

    /// dtable[id] += dy row, for every token. Tokens repeat across rows and samples, so tasks
    /// split the table's columns, never its rows: each column block walks all tokens in order,
    /// and no two tasks write one location (and the sum's order is the same for every policy).
    /// Either part alone (splits_backward): the weight part (dx null) checks the ids and writes
    /// dtable, as the whole backward does; the input part (dparams null) indexes nothing, so it
    /// checks nothing, and only writes dx's zeros when dx is asked for.
    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      const T* ids = a.x;     // [B*T]
      const T* dy = a.dy;     // [B*T, Dim]
      T* dtable = a.dparams;  // [Vocab, Dim], or null (the input part alone)
      const std::size_t tokens = a.batch * steps;
      if (dtable) {
        check_ids(ctx, ids, a.batch, a.first_sample);
        if (!a.accumulate)
          for_blocks(ctx, param_count, 4096, [=] PLAIT_HD(std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) dtable[i] = T{0};
          });
        for_blocks(ctx, Dim, 64, [=] PLAIT_HD(std::size_t c0, std::size_t c1) {
          for (std::size_t r = 0; r < tokens; ++r) {
            T* PLAIT_RESTRICT dst = dtable + static_cast<std::size_t>(ids[r]) * Dim;
            const T* PLAIT_RESTRICT src = dy + r * Dim;
            for (std::size_t d = c0; d < c1; ++d) dst[d] += src[d];
          }
        });
      }
      if (T* dx = a.dx)
        for_blocks(ctx, tokens, 4096, [=] PLAIT_HD(std::size_t b, std::size_t e) {
          for (std::size_t i = b; i < e; ++i) dx[i] = T{0};
        });
    }
  };
};

/// `embedding<Vocab, Dim>`: token ids in [0, Vocab), as floats, to Dim features each.
template <std::size_t Vocab, std::size_t Dim>
inline constexpr embedding_t<Vocab, Dim> embedding{};

}  // namespace plait
