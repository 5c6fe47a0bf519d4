#pragma once
// The oneDNN half of kernels/conv_host.hpp: 2-D convolutions (forward, backward-data,
// backward-weights with the bias) through oneDNN's primitives, on the calling thread's OpenMP team.
//
// Layouts. plait's tensors are NCHW and OIHW at the layer's boundary. The primitives are created
// with format `any`, so oneDNN picks its blocked layouts (nChw16c, OIhw16i16o on AVX-512), which run
// its direct JIT kernels; where a picked layout is not plait's, a reorder copies the tensor in or
// out around the primitive. Measured on example 04's convolutions, batch 32, one thread: the blocked
// kernels take 2.7 / 2.0 / 2.4 ms (forward / data / weights) for 16 -> 16 channels, 3x3, where the
// plain layouts run oneDNN's im2col + GEMM in 5.7 / 7.6 / 13.2 ms; a reorder of a [32, 16, 32, 32]
// tensor costs 0.17 ms.
//
// Threads. oneDNN (Debian's build: DNNL_CPU_RUNTIME OMP) runs each primitive on an OpenMP team of
// omp_get_max_threads() threads, which a host device sets for its own thread (host_context::enter).
// A primitive is made for one thread count: the cache below keys on it.
//
// Nothing is made in a step that has run before. Per thread, each (shape, batch, thread count) gets
// its primitives once, at its first call; the tensors a primitive wants in another layout live in
// the thread's slots (buffers grown when a new primitive needs more), the scratchpad too
// (scratchpad_mode::user). Memory objects wrap plait's buffers through set_data_handle. oneDNN itself
// still builds its argument map on the heap in every execute (a few small nodes, its code, not ours).
//
// Through oneDNN's C API (dnnl.h): nvcc 13 cannot compile its C++ header (dnnl.hpp) in C++20 (an
// internal error), and CUDA translation units include this header through plait/plait.hpp.

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../core/error.hpp"
#include "../conv.hpp"
#include "onednn_handle.hpp"

namespace plait::detail::onednn {

inline std::string describe(const conv_shape& s) {
  return cat("batch ", s.batch, ", [", s.c, ", ", s.h, ", ", s.w, "] -> [", s.out, ", ", s.ho, ", ", s.wo, "], ", s.k,
             "x", s.k, " window, stride ", s.stride, ", padding ", s.pad);
}

/// A oneDNN call that failed: which one, on which shape, and what oneDNN said.
[[noreturn]] inline void refuse(std::string_view what, const conv_shape& s, std::string_view said) {
  fail(cat("oneDNN could not ", what, " for a convolution of ", describe(s)), cat("oneDNN answered: ", said),
       "check the oneDNN installation (Debian: libdnnl-dev 2.6 or newer); DNNL_VERBOSE=1 in the environment "
       "prints what oneDNN tried");
}

inline void check(dnnl_status_t status, std::string_view what, const conv_shape& s) {
  if (status != dnnl_success) refuse(what, s, dnnl_status2str(status));
}

/// A buffer of a thread's slot: 64-byte aligned, as oneDNN's own.
struct buffer {
  struct release {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, release> data;
  std::size_t size = 0;
};

/// What one host thread keeps for oneDNN: its engine and stream, and its slots, buffers that hold
/// tensors re-laid out for a primitive and the primitives' scratchpad. A slot grows when a new
/// primitive needs more (never in a call that has run before); calls on one thread take turns on it.
struct thread_state {
  static constexpr int scratchpad = 5;  // slots 0-4: tensors (conv_forward, conv_backward); 5: the scratchpad
  engine cpu;
  stream queue;
  buffer slots[6];

  thread_state() {
    dnnl_status_t status = dnnl_engine_create(cpu.out(), dnnl_cpu, 0);
    if (status == dnnl_success) status = dnnl_stream_create(queue.out(), cpu.get(), dnnl_stream_default_flags);
    if (status != dnnl_success)
      fail("oneDNN could not create its CPU engine and stream for this thread's convolutions",
           cat("oneDNN answered: ", dnnl_status2str(status)),
           "check the oneDNN installation (Debian: libdnnl-dev 2.6 or newer)");
  }
  void reserve(int slot, std::size_t bytes) {
    bytes = std::max<std::size_t>((bytes + 63) / 64 * 64, 64);
    if (bytes <= slots[slot].size) return;
    slots[slot].data.reset(std::aligned_alloc(64, bytes));
    if (!slots[slot].data) throw std::bad_alloc();
    slots[slot].size = bytes;
  }
  void* at(int slot) const { return slots[slot].data.get(); }
};

inline thread_state& here() {
  thread_local thread_state state;
  return state;
}

inline dnnl_memory_desc_t desc(std::initializer_list<std::size_t> dims, dnnl_data_type_t type, dnnl_format_tag_t tag,
                               const conv_shape& s) {
  dnnl_dims_t d{};
  int n = 0;
  for (std::size_t v : dims) d[n++] = dnnl_dim_t(v);
  dnnl_memory_desc_t md;
  check(dnnl_memory_desc_init_by_tag(&md, n, d, type, tag), "describe a tensor", s);
  return md;
}

inline memory wrap(const thread_state& t, const dnnl_memory_desc_t& md, const conv_shape& s) {
  memory m;
  check(dnnl_memory_create(m.out(), &md, t.cpu.get(), DNNL_MEMORY_NONE), "create a memory object", s);
  return m;
}

inline primitive reorder(const thread_state& t, const dnnl_memory_desc_t& from, const dnnl_memory_desc_t& to,
                         bool adding, const conv_shape& s) {
  attributes attr;
  post_ops sum;
  if (adding) {
    check(dnnl_primitive_attr_create(attr.out()), "create attributes", s);
    check(dnnl_post_ops_create(sum.out()), "create post-ops", s);
    check(dnnl_post_ops_append_sum(sum.get(), 1.0f), "append a sum post-op", s);
    check(dnnl_primitive_attr_set_post_ops(attr.get(), sum.get()), "set post-ops", s);
  }
  primitive_desc pd;
  check(dnnl_reorder_primitive_desc_create(pd.out(), &from, t.cpu.get(), &to, t.cpu.get(), attr.get()),
        "create a reorder primitive", s);
  primitive p;
  check(dnnl_primitive_create(p.out(), pd.get()), "create a reorder primitive", s);
  return p;
}

/// One tensor of a primitive: `user` wraps plait's buffer (its handle set for each call); `inner` is
/// what the primitive reads or writes: `user` itself where the layouts agree, else a buffer in a slot,
/// filled from `user` (an input) or copied back into it (an output) by a reorder.
struct port {
  memory user, own;  // own: inner where it is a slot
  primitive move;    // user -> inner (input) or inner -> user (output), where inner is a slot
  primitive add;     // inner -> user adding onto it (an accumulated gradient), where asked for
  int slot = -1;     // inner's slot; -1: inner is user

  port() = default;
  /// plain: the tensor in plait's layout; want: the primitive's. keep_apart: a slot even where the
  /// layouts agree (a gradient that may be added rather than written); accumulate: make `add` too.
  port(thread_state& t, const dnnl_memory_desc_t& plain, const dnnl_memory_desc_t& want, int at, bool output,
       const conv_shape& s, bool keep_apart = false, bool accumulate = false)
      : user(wrap(t, plain, s)) {
    if (dnnl_memory_desc_equal(&plain, &want) && !keep_apart) return;
    slot = at;
    t.reserve(at, dnnl_memory_desc_get_size(&want));
    own = wrap(t, want, s);
    move = output ? reorder(t, want, plain, false, s) : reorder(t, plain, want, false, s);
    if (accumulate) add = reorder(t, want, plain, true, s);
  }

  dnnl_memory_t inner() const { return slot >= 0 ? own.get() : user.get(); }

  void bind(const thread_state& t, const void* data, const conv_shape& s) const {
    check(dnnl_memory_set_data_handle_v2(user.get(), const_cast<void*>(data), nullptr), "set a memory's handle", s);
    if (slot >= 0) check(dnnl_memory_set_data_handle_v2(own.get(), t.at(slot), nullptr), "set a memory's handle", s);
  }
};

/// Runs one primitive on the thread's stream; a failure names the primitive and the shape.
inline void execute(const thread_state& t, const primitive& p, std::initializer_list<dnnl_exec_arg_t> args,
                    std::string_view name, const conv_shape& s) {
  dnnl_status_t status = dnnl_primitive_execute(p.get(), t.queue.get(), int(args.size()), args.begin());
  if (status == dnnl_success) status = dnnl_stream_wait(t.queue.get());
  if (status != dnnl_success) refuse(cat("run its ", name, " primitive"), s, dnnl_status2str(status));
}

/// An input port's reorder into its slot (nothing where the primitive reads plait's buffer itself).
inline void load(const thread_state& t, const port& p, std::string_view name, const conv_shape& s) {
  if (p.slot >= 0) execute(t, p.move, {{DNNL_ARG_FROM, p.user.get()}, {DNNL_ARG_TO, p.own.get()}}, name, s);
}

/// An output port's copy back into plait's buffer, added onto it where `accumulate`.
inline void store(const thread_state& t, const port& p, bool accumulate, std::string_view name, const conv_shape& s) {
  if (p.slot >= 0)
    execute(t, accumulate ? p.add : p.move, {{DNNL_ARG_FROM, p.own.get()}, {DNNL_ARG_TO, p.user.get()}}, name, s);
}

/// The descriptors of a shape: plait's layouts, and `any` for what oneDNN may lay out its own way.
struct conv_descs {
  dnnl_memory_desc_t src, weights, bias, dst, any_src, any_weights, any_dst;
  dnnl_dims_t strides{}, padding{};
  explicit conv_descs(const conv_shape& s)
      : src(desc({s.batch, s.c, s.h, s.w}, dnnl_f32, dnnl_nchw, s)),
        weights(desc({s.out, s.c, s.k, s.k}, dnnl_f32, dnnl_oihw, s)),
        bias(desc({s.out}, dnnl_f32, dnnl_x, s)),
        dst(desc({s.batch, s.out, s.ho, s.wo}, dnnl_f32, dnnl_nchw, s)),
        any_src(desc({s.batch, s.c, s.h, s.w}, dnnl_f32, dnnl_format_tag_any, s)),
        any_weights(desc({s.out, s.c, s.k, s.k}, dnnl_f32, dnnl_format_tag_any, s)),
        any_dst(desc({s.batch, s.out, s.ho, s.wo}, dnnl_f32, dnnl_format_tag_any, s)) {
    strides[0] = strides[1] = dnnl_dim_t(s.stride);
    padding[0] = padding[1] = dnnl_dim_t(s.pad);
  }
};

/// A primitive descriptor of `op` with a user-managed scratchpad.
inline primitive_desc describe_primitive(const thread_state& t, const void* op, const dnnl_primitive_desc_t hint,
                                         std::string_view what, const conv_shape& s) {
  attributes attr;
  check(dnnl_primitive_attr_create(attr.out()), what, s);
  check(dnnl_primitive_attr_set_scratchpad_mode(attr.get(), dnnl_scratchpad_mode_user), what, s);
  primitive_desc pd;
  check(dnnl_primitive_desc_create(pd.out(), op, attr.get(), t.cpu.get(), hint), what, s);
  return pd;
}

inline primitive_desc forward_desc(const thread_state& t, const conv_descs& d, const conv_shape& s) {
  dnnl_convolution_desc_t op;
  check(dnnl_convolution_forward_desc_init(&op, dnnl_forward_training, dnnl_convolution_direct, &d.any_src,
                                           &d.any_weights, &d.bias, &d.any_dst, d.strides, d.padding, d.padding),
        "create its forward primitive", s);
  return describe_primitive(t, &op, nullptr, "create its forward primitive", s);
}

inline const dnnl_memory_desc_t& query(const primitive_desc& pd, dnnl_query_t what, int index = 0) {
  return *dnnl_primitive_desc_query_md(pd.get(), what, index);
}

/// The scratchpad's memory object of a primitive (bound to the thread's slot at each call).
inline memory scratchpad_of(thread_state& t, const primitive_desc& pd, const conv_shape& s) {
  const auto& md = query(pd, dnnl_query_scratchpad_md);
  t.reserve(thread_state::scratchpad, dnnl_memory_desc_get_size(&md));
  return wrap(t, desc({std::max<std::size_t>(dnnl_memory_desc_get_size(&md), 1)}, dnnl_u8, dnnl_x, s), s);
}

inline void bind_scratchpad(const thread_state& t, const memory& m, const conv_shape& s) {
  check(dnnl_memory_set_data_handle_v2(m.get(), t.at(thread_state::scratchpad), nullptr), "set a memory's handle", s);
}

/// A thread's primitives for one (shape, thread count), made at its first call.
template <class Entry>
Entry& find_or_make(std::vector<std::unique_ptr<Entry>>& cache, const conv_shape& s) {
  const int threads = omp_get_max_threads();
  for (auto& e : cache)
    if (e->shape == s && e->threads == threads) return *e;
  cache.push_back(std::make_unique<Entry>(here(), s, threads));
  return *cache.back();
}

/// The forward: x -> slot 0 (where oneDNN lays src out otherwise), w -> slot 1, y <- slot 2.
struct conv_forward {
  conv_shape shape;
  int threads;
  primitive conv;
  port src, weights, dst;
  memory bias, scratch;

  conv_forward(thread_state& t, const conv_shape& s, int n) : shape(s), threads(n) {
    const conv_descs d(s);
    const auto pd = forward_desc(t, d, s);
    check(dnnl_primitive_create(conv.out(), pd.get()), "create its forward primitive", s);
    src = port(t, d.src, query(pd, dnnl_query_src_md), 0, false, s);
    weights = port(t, d.weights, query(pd, dnnl_query_weights_md), 1, false, s);
    dst = port(t, d.dst, query(pd, dnnl_query_dst_md), 2, true, s);
    bias = wrap(t, d.bias, s);
    scratch = scratchpad_of(t, pd, s);
  }

  void run(const thread_state& t, const float* w, const float* b, const float* x, float* y) const {
    src.bind(t, x, shape);
    weights.bind(t, w, shape);
    dst.bind(t, y, shape);
    check(dnnl_memory_set_data_handle_v2(bias.get(), const_cast<float*>(b), nullptr), "set a memory's handle", shape);
    bind_scratchpad(t, scratch, shape);
    load(t, src, "input reorder", shape);
    load(t, weights, "weights reorder", shape);
    execute(t, conv,
            {{DNNL_ARG_SRC, src.inner()},
             {DNNL_ARG_WEIGHTS, weights.inner()},
             {DNNL_ARG_BIAS, bias.get()},
             {DNNL_ARG_DST, dst.inner()},
             {DNNL_ARG_SCRATCHPAD, scratch.get()}},
            "convolution forward", shape);
    store(t, dst, false, "output reorder", shape);
  }
};

/// The backward. Weights part first: dy -> slot 0, x -> slot 1, dW <- slot 2, db <- slot 3 (always a
/// slot: added onto plait's gradient or copied into it). Then the data part: dy from slot 0 again
/// where both parts want it laid out alike (else -> slot 4), w -> slot 1, dx <- slot 2.
struct conv_backward {
  conv_shape shape;
  int threads;
  primitive data, weights;
  port data_dy, data_w, data_dx, weights_x, weights_dy, weights_dw, weights_db;
  memory data_scratch, weights_scratch;
  bool shared_dy = false;  // both parts read dy from slot 0

  conv_backward(thread_state& t, const conv_shape& s, int n) : shape(s), threads(n) {
    const conv_descs d(s);
    const auto hint = forward_desc(t, d, s);
    dnnl_convolution_desc_t wop, dop;
    check(dnnl_convolution_backward_weights_desc_init(&wop, dnnl_convolution_direct, &d.any_src, &d.any_weights,
                                                      &d.bias, &d.any_dst, d.strides, d.padding, d.padding),
          "create its backward-weights primitive", s);
    check(dnnl_convolution_backward_data_desc_init(&dop, dnnl_convolution_direct, &d.any_src, &d.any_weights,
                                                   &d.any_dst, d.strides, d.padding, d.padding),
          "create its backward-data primitive", s);
    const auto wpd = describe_primitive(t, &wop, hint.get(), "create its backward-weights primitive", s);
    const auto dpd = describe_primitive(t, &dop, hint.get(), "create its backward-data primitive", s);
    check(dnnl_primitive_create(weights.out(), wpd.get()), "create its backward-weights primitive", s);
    check(dnnl_primitive_create(data.out(), dpd.get()), "create its backward-data primitive", s);
    const auto& w_dy = query(wpd, dnnl_query_diff_dst_md);
    const auto& d_dy = query(dpd, dnnl_query_diff_dst_md);
    weights_dy = port(t, d.dst, w_dy, 0, false, s);
    weights_x = port(t, d.src, query(wpd, dnnl_query_src_md), 1, false, s);
    weights_dw = port(t, d.weights, query(wpd, dnnl_query_diff_weights_md), 2, true, s, true, true);
    weights_db = port(t, d.bias, query(wpd, dnnl_query_diff_weights_md, 1), 3, true, s, true, true);
    shared_dy = dnnl_memory_desc_equal(&w_dy, &d_dy);
    data_dy = port(t, d.dst, d_dy, shared_dy ? 0 : 4, false, s);
    data_w = port(t, d.weights, query(dpd, dnnl_query_weights_md), 1, false, s);
    data_dx = port(t, d.src, query(dpd, dnnl_query_diff_src_md), 2, true, s);
    weights_scratch = scratchpad_of(t, wpd, s);
    data_scratch = scratchpad_of(t, dpd, s);
  }

  /// dx (null: not wanted) = conv^T(dy, w); dw, db (null: not wanted) = or += the batch's gradients.
  void run(const thread_state& t, const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
           bool accumulate) const {
    const auto& s = shape;
    if (dw) {
      weights_dy.bind(t, dy, s);
      weights_x.bind(t, x, s);
      weights_dw.bind(t, dw, s);
      weights_db.bind(t, db, s);
      bind_scratchpad(t, weights_scratch, s);
      load(t, weights_dy, "output-gradient reorder", s);
      load(t, weights_x, "input reorder", s);
      execute(t, weights,
              {{DNNL_ARG_SRC, weights_x.inner()},
               {DNNL_ARG_DIFF_DST, weights_dy.inner()},
               {DNNL_ARG_DIFF_WEIGHTS, weights_dw.inner()},
               {DNNL_ARG_DIFF_BIAS, weights_db.inner()},
               {DNNL_ARG_SCRATCHPAD, weights_scratch.get()}},
              "convolution backward-weights", s);
      store(t, weights_dw, accumulate, "weight-gradient reorder", s);
      store(t, weights_db, accumulate, "bias-gradient copy", s);
    }
    if (!dx) return;
    data_dy.bind(t, dy, s);
    data_w.bind(t, w, s);
    data_dx.bind(t, dx, s);
    bind_scratchpad(t, data_scratch, s);
    if (!(dw && shared_dy)) load(t, data_dy, "output-gradient reorder", s);
    load(t, data_w, "weights reorder", s);
    execute(t, data,
            {{DNNL_ARG_DIFF_DST, data_dy.inner()},
             {DNNL_ARG_WEIGHTS, data_w.inner()},
             {DNNL_ARG_DIFF_SRC, data_dx.inner()},
             {DNNL_ARG_SCRATCHPAD, data_scratch.get()}},
            "convolution backward-data", s);
    store(t, data_dx, false, "input-gradient reorder", s);
  }
};

/// The entry points of conv_impl<host<S>, float>: each thread's primitives, found or made, then run.
inline void forward(const conv_shape& s, const float* w, const float* b, const float* x, float* y) {
  thread_local std::vector<std::unique_ptr<conv_forward>> cache;
  find_or_make(cache, s).run(here(), w, b, x, y);
}

inline void backward(const conv_shape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, bool accumulate) {
  thread_local std::vector<std::unique_ptr<conv_backward>> cache;
  find_or_make(cache, s).run(here(), x, w, dy, dx, dw, db, accumulate);
}

}  // namespace plait::detail::onednn
