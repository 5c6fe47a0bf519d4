#pragma once
// What a checkpoint holds, for a model type M and an optimizer type Opt: the list of its tensors
// and the checks that a file's header matches them. Shared by save and load (io/checkpoint.hpp).
//
//   tensors            every parameter and layer state of the graph, PyTorch's names (io/torch_names.hpp)
//   optimizer state    plait.optim.<state>.<tensor>, the parameter's shape: SGD's momentum_buffer,
//                      Adam's exp_avg and exp_avg_sq (torch.optim's names)
//   __metadata__       format "pt"; plait.kind (checkpoint or weights); plait.version; plait.signature (the
//                      graph's compile-time hash); plait.graph (its layers and shapes); plait.policy;
//                      plait.optimizer and plait.optimizer_step; plait.step (the model's steps); plait.seed
//                      (dropout's and initialisation's stream); plait.data.* (the loader's position);
//                      plait.checksum.<tensor> for every tensor

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "../core/config.hpp"
#include "../core/signature.hpp"
#include "safetensors.hpp"
#include "safetensors_writer.hpp"
#include "torch_names.hpp"

namespace plait {

/// Where a loader stands: resume with loader.epoch(epoch, batch).
struct data_position {
  std::uint64_t epoch = 0;
  std::size_t batch = 0;
};

/// The graph's compile-time signature (the policy left out: a checkpoint loads under any policy).
template <class M>
inline constexpr std::uint64_t graph_signature = signature_of<typename M::plan::graph>;

inline std::string plait_version() {
  return std::to_string(PLAIT_VERSION_MAJOR) + "." + std::to_string(PLAIT_VERSION_MINOR);
}

/// Names of an optimizer's state arrays, as torch.optim calls them.
template <class Opt>
std::vector<std::string> optimizer_state_names(const Opt& opt) {
  const std::size_t spp = opt.state_per_param();
  if (spp == 0) return {};
  if (spp == 1) return {"momentum_buffer"};
  if (spp == 2) return {"exp_avg", "exp_avg_sq"};
  std::vector<std::string> names;
  for (std::size_t k = 0; k < spp; ++k) names.push_back("state" + std::to_string(k));
  return names;
}

/// One tensor of a checkpoint: a model tensor, or array `state` of the optimizer's for a parameter tensor.
struct checkpoint_tensor {
  model_tensor t;
  int state = -1;  // -1: the model's tensor itself
};

template <class M>
std::vector<checkpoint_tensor> checkpoint_tensors(const std::vector<std::string>& optimizer_states) {
  std::vector<checkpoint_tensor> out;
  const auto model = model_tensors<typename M::plan::graph>();
  for (const auto& t : model) out.push_back({t, -1});
  for (std::size_t k = 0; k < optimizer_states.size(); ++k)
    for (const auto& t : model)
      if (t.from == model_tensor::source::param) {
        model_tensor o = t;
        o.name = "plait.optim." + optimizer_states[k] + "." + t.name;
        out.push_back({o, int(k)});
      }
  return out;
}

inline std::vector<safetensors_spec> specs_of(const std::vector<checkpoint_tensor>& ts) {
  std::vector<safetensors_spec> s;
  for (const auto& c : ts)
    s.push_back({c.t.name, c.t.shape, c.t.from == model_tensor::source::counter ? "I64" : "F32"});
  return s;
}

/// Checks that `h` has every tensor of `ts` with its dtype and shape (counters may be absent), and, when
/// `strict`, no tensor beyond them except under the prefixes in `ignored`.
inline void check_tensors(const safetensors_header& h, const std::vector<checkpoint_tensor>& ts,
                          const std::string& file, const std::vector<std::string>& ignored = {}) {
  std::map<std::string, const checkpoint_tensor*> want;
  for (const auto& c : ts) want[c.t.name] = &c;
  for (const auto& e : h.tensors) {
    auto it = want.find(e.name);
    if (it == want.end()) {
      bool skip = false;
      for (const auto& p : ignored) skip = skip || e.name.starts_with(p);
      if (skip) continue;
      fail(cat(file, ": tensor '", e.name, "' is not a tensor of this model"),
           "a checkpoint loads into the graph it was saved from, name for name (as load_state_dict(strict=True))",
           "load it into a model of the same layers, or remove the tensor from the file");
    }
    const model_tensor& t = it->second->t;
    const bool counter = t.from == model_tensor::source::counter;
    if (e.dtype != (counter ? "I64" : "F32"))
      fail(cat(file, ": tensor '", e.name, "' is ", e.dtype, " where the model has ", counter ? "I64" : "F32"),
           "plait keeps parameters and state as 32-bit floats",
           "save the tensor as float32 (module.float() in PyTorch before saving)");
    if (e.shape != t.shape) {
      safetensors_entry expected;
      expected.shape = t.shape;
      fail(cat(file, ": tensor '", e.name, "' has shape ", e.shape_text(), " where the model has ",
               expected.shape_text()),
           "a checkpoint loads into the graph it was saved from, shape for shape",
           "load it into a model of the same layer sizes, or check the layer order of the PyTorch module");
    }
  }
  for (const auto& c : ts)
    if (c.t.from != model_tensor::source::counter && !h.find(c.t.name))
      fail(cat(file, ": tensor '", c.t.name, "' is missing"),
           "every parameter and running statistic of the model is loaded",
           "load a checkpoint of this model (every tensor is needed; nothing is half-loaded)");
}

/// Checks tensor `e`'s bytes, in place in the mapped file, against the header's checksum when it has one
/// (files from PyTorch have none).
inline void verify_checksum(safetensors_file& f, const safetensors_entry& e) {
  const unsigned char* bytes = f.mapped(e);
  if (!bytes)
    fail(cat(f.name(), ": it cannot be mapped into memory"), "loading reads the tensors from the file's pages in place",
         "load from a regular file on a local or network file system");
  const std::string want = f.header().meta("plait.checksum." + e.name);
  if (want.empty()) return;
  const std::string got = hex64(checksum64(bytes, e.end - e.begin));
  if (want != got)
    fail(cat(f.name(), ": tensor '", e.name, "' fails its checksum (", got, " read, ", want, " saved)"),
         "its bytes changed after they were saved (a torn write, a corrupted disk, or an edit)",
         "load the previous checkpoint (keep_last keeps older ones), or save again");
}

inline std::uint64_t meta_number(const safetensors_header& h, const std::string& key, const std::string& file) {
  const std::string v = h.meta(key);
  try {
    std::size_t used = 0;
    const auto n = std::stoull(v, &used);
    if (used == v.size()) return n;
  } catch (const std::exception&) {}
  fail(cat(file, ": its metadata '", key, "' is '", v, "', not a number"), "a plait checkpoint records it as a count",
       "load a checkpoint that plait saved (load_weights takes files from elsewhere)");
}

}  // namespace plait
