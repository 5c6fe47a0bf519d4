#pragma once
// dropout<P>: in training, each element is dropped with probability P and the kept ones are scaled
// by 1/(1-P), y = x * mask / (1 - P); in evaluation, y = x. Any input shape. E.g. `dropout<0.5f>`.
//
// The mask does not depend on the policy. Element j of the sample whose global index in the
// step's batch is g = first_sample + r is kept iff u >= P, where u in [0, 1) (24 bits) is a
// counter-based hash of (seed, layer key, step, g, j) built from mix_seed (core/random.hpp). No
// generator state is carried from one call to the next, so one device running the whole batch,
// N replicas running shares of it, or one device running it in several calls draw the same mask
// for every sample, on every backend, in float and in double.
//
// Layer key: mixed from the input's size, P and Stream. Nothing else that tells two layers apart is
// the same on every replica (the buffers' addresses are not), so two dropout layers with the same
// input size, P and Stream draw the SAME mask in a step. Give them different streams to decorrelate
// them: `input<64> >> dropout<0.5f> >> linear<64> >> dropout<0.5f, 1>`.
//
// Memory: saved_count = 0. Backward recomputes the mask from the same hash (a few integer
// operations per element) instead of keeping In::size floats per sample: dx = dy * mask / (1 - P).

#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../core/concepts.hpp"
#include "../core/config.hpp"
#include "../core/random.hpp"
#include "../core/shape.hpp"
#include "../kernels/elementwise.hpp"

namespace plait {

/// P: probability that an element is dropped, 0 <= P < 1. Stream: any number; dropout layers with
/// equal input sizes and P draw independent masks only if their streams differ.
template <float P, std::uint64_t Stream = 0>
struct dropout_t {
  static_assert(P >= 0.0f && P < 1.0f,
                "plait: dropout<P> is given a probability outside [0, 1). P is the chance that an element "
                "is dropped, and kept elements are scaled by 1/(1-P), so P = 1 would drop everything and "
                "divide by zero. Fix: give dropout a P with 0 <= P < 1, e.g. dropout<0.5f>.");
  static constexpr bool is_layer = true;
  static constexpr float probability = P;
  static constexpr std::uint64_t stream = Stream;

  template <Shape In>
  struct bound {
    using in_shape = In;
    using out_shape = In;
    static constexpr std::size_t param_count = 0;
    static constexpr std::size_t saved_count = 0;
    static constexpr std::size_t flops = 2 * In::size;  // the hash is integer work, the scaling one multiply
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = true;

    /// What distinguishes this layer's masks from another dropout's: see the header comment.
    static constexpr std::uint64_t layer_key =
        mix_seed(mix_seed(0x64726f706f7574ull /* "dropout" */, In::size, std::bit_cast<std::uint32_t>(P)), Stream);

    /// The key of the sample with global index `g` in step `step`.
    static constexpr std::uint64_t sample_key(std::uint64_t seed, std::uint64_t step, std::uint64_t g) {
      return mix_seed(mix_seed(seed, layer_key, step), g);
    }
    /// Whether element j of the sample with key `key` is kept: its uniform draw is >= P.
    static constexpr bool kept(std::uint64_t key, std::size_t j) {
      const float u = static_cast<float>(mix_seed(key, j) >> 40) * 0x1.0p-24f;
      return u >= P;
    }

    template <class T, class Rng>
    static void init(T*, Rng&) {}

    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      const T* x = a.x;  // [B, In::size]
      T* y = a.y;        // [B, In::size]
      if (!a.training) {
        for_blocks(ctx, a.batch * In::size, 4096, [=] PLAIT_HD(std::size_t b, std::size_t e) {
          for (std::size_t i = b; i < e; ++i) y[i] = x[i];
        });
        return;
      }
      apply_mask(ctx, x, y, a.batch, a.seed, a.step, a.step_at, a.first_sample);
    }

    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      if (!a.dx) return;
      apply_mask(ctx, static_cast<const T*>(a.dy), a.dx, a.batch, a.seed, a.step, a.step_at, a.first_sample);
    }

    // to[r, j] = from[r, j] * mask[g, j] / (1 - P); from and to may be the same buffer. The step is
    // read on the device where the runtime keeps it there (step_at: a replayed CUDA graph's step).
    template <class Ctx, class T>
    static void apply_mask(const Ctx& ctx, const T* from, T* to, std::size_t batch, std::uint64_t seed,
                           std::uint64_t step, const std::uint64_t* step_at, std::size_t first_sample) {
      constexpr std::size_t N = In::size;
      const T scale = T{1} / (T{1} - T(P));
      for_rows(ctx, batch, [=] PLAIT_HD(std::size_t r) {
        const std::uint64_t key = sample_key(seed, step_at ? *step_at : step, first_sample + r);
        const T* f = from + r * N;
        T* t = to + r * N;
        for (std::size_t j = 0; j < N; ++j) t[j] = kept(key, j) ? f[j] * scale : T{0};
      });
    }
  };
};

/// `dropout<0.5f>` or `dropout<0.5>`: P is converted to float (a float template argument takes no
/// double, so the variable takes any arithmetic value).
template <auto P, std::uint64_t Stream = 0>
  requires std::is_arithmetic_v<decltype(P)>
inline constexpr dropout_t<static_cast<float>(P), Stream> dropout{};

}  // namespace plait
