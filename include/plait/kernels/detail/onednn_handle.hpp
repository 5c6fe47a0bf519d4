#pragma once
// Owners of oneDNN's C API objects, for plait's oneDNN code (kernels/detail/onednn_conv.hpp, the
// convolutions; kernels/detail/bf16_products.hpp, host_math::bf16's products).

#include <oneapi/dnnl/dnnl.h>

#include <utility>

namespace plait::detail::onednn {

/// Owns one oneDNN object of the C API.
template <class H, dnnl_status_t (*Destroy)(H)>
class handle {
 public:
  handle() = default;
  explicit handle(H h) noexcept : h_(h) {}
  handle(const handle&) = delete;
  handle& operator=(const handle&) = delete;
  handle(handle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  handle& operator=(handle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~handle() { reset(); }
  void reset(H h = nullptr) noexcept {
    if (h_) Destroy(h_);
    h_ = h;
  }
  H get() const { return h_; }
  H* out() {
    reset();
    return &h_;
  }

 private:
  H h_ = nullptr;
};
using engine = handle<dnnl_engine_t, dnnl_engine_destroy>;
using stream = handle<dnnl_stream_t, dnnl_stream_destroy>;
using memory = handle<dnnl_memory_t, dnnl_memory_destroy>;
using primitive = handle<dnnl_primitive_t, dnnl_primitive_destroy>;
using primitive_desc = handle<dnnl_primitive_desc_t, dnnl_primitive_desc_destroy>;
using attributes = handle<dnnl_primitive_attr_t, dnnl_primitive_attr_destroy>;
using post_ops = handle<dnnl_post_ops_t, dnnl_post_ops_destroy>;

}  // namespace plait::detail::onednn
