#pragma once
// Checkpoints of a placed model, in one safetensors file (io/checkpoint_contents.hpp says what is in it):
//
//   plait::save_checkpoint(model, "run.safetensors", opt, loader, {.keep_last = 3});
//   auto at = plait::load_checkpoint(model, "run.safetensors", opt, loader);   // any policy, any process count
//   for (auto e = at.epoch; e < epochs; ++e)
//     for (auto& b : loader.epoch(e, e == at.epoch ? at.batch : 0)) model.train_step(b.x, b.y, loss, opt);
//
//   plait::save_weights(model, "model.safetensors");   // torch: module.load_state_dict(load_file(...), strict=True)
//   plait::load_weights(model, "torch.safetensors");   // from safetensors.torch.save_file(module.state_dict(), ...)
//
// Every tensor is saved whole (gathered from replicas, stages, tensor shards and optimizer shards), so
// a checkpoint loads under any policy. Saving is crash-safe (io/atomic_file.hpp): at every moment the
// target is the previous complete checkpoint or the new one. Across processes every rank gathers,
// rank 0 alone writes (one writer per tensor), and the file is renamed only after every rank reported
// success; a failure anywhere leaves the previous checkpoint. Loading reads and checks every tensor
// into host memory first (names, shapes, dtypes, checksums, the graph's signature, the data position)
// and only then writes the model: a failed load leaves the model as it was, on every rank.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../data/loader.hpp"
#include "../optim/sgd.hpp"
#include "../runtime/state_io.hpp"
#include "atomic_file.hpp"
#include "checkpoint_contents.hpp"

namespace plait {

struct checkpoint_options {
  std::size_t keep_last = 1;  // files kept: the newest at the path, older ones at path.1, path.2, ...
};

/// What a loader's sampler says about the data order: saved to resume it.
struct data_order {
  std::uint64_t epoch = 0, batch = 0, global_batch = 0, dataset_size = 0, seed = 0, shuffle = 1;
};

namespace detail {
template <class D>
data_order order_of(const loader<D>& l) {
  const auto& s = l.sampler();
  data_order o{s.epoch(), l.batches_taken(), s.global_batch(), s.dataset_size(), s.options().seed, s.options().shuffle};
  if (o.batch >= l.batches_per_epoch()) o.epoch += 1, o.batch = 0;  // saved after the epoch's last batch
  return o;
}

// The saved position in a loader of another global batch: the same samples seen, or refused.
template <class D>
data_position remap(const data_order& saved, const loader<D>& l, const std::string& file) {
  const data_order now = order_of(l);
  const auto refuse = [&](const std::string& what, const std::string& fix) {
    fail(cat(file, ": ", what), "resuming must visit the samples the saved run had not seen yet, in its order", fix);
  };
  if (saved.dataset_size != now.dataset_size)
    refuse(cat("its data position is in a data set of ", saved.dataset_size, " samples, the loader's has ",
               now.dataset_size),
           "resume on the same data set");
  if (saved.seed != now.seed || saved.shuffle != now.shuffle)
    refuse(cat("its data order has seed ", saved.seed, saved.shuffle ? "" : " unshuffled", ", the loader's seed ",
               now.seed, now.shuffle ? "" : " unshuffled"),
           "give the sampler the saved seed and shuffle");
  const std::uint64_t seen = saved.batch * saved.global_batch;
  if (seen % now.global_batch != 0)
    refuse(cat("it stopped after ", seen, " samples of epoch ", saved.epoch,
               ", not a whole number of the loader's global batches of ", now.global_batch),
           cat("resume with a global batch that divides ", seen, " (it was ", saved.global_batch,
               "), or from a checkpoint saved at an epoch's end"));
  return {saved.epoch, std::size_t(seen / now.global_batch)};
}

// Every rank's agreement: whether `ok` holds on all of them (this process alone without processes).
inline bool all_agree(process_comm* world, bool ok) {
  if (!world) return ok;
  float v = ok ? 1.0f : 0.0f;
  world->all_reduce(&v, 1);
  return v == float(world->size());
}

template <class M, class Opt>
void save(M& model, const std::filesystem::path& path, const Opt* opt, const data_order* order,
          checkpoint_options options) {
  using plan = typename M::plan;
  auto& devices = model.placed();
  state_io<plan, typename M::backend_type> states(devices);
  process_comm* world = devices.world();
  const bool writer = !world || world->rank() == 0;
  const auto state_names = opt ? optimizer_state_names(*opt) : std::vector<std::string>{};
  const auto tensors = checkpoint_tensors<M>(state_names);

  std::map<std::string, std::string> meta{{"format", "pt"},
                                          {"plait.kind", opt ? "checkpoint" : "weights"},
                                          {"plait.version", plait_version()},
                                          {"plait.signature", hex64(graph_signature<M>)},
                                          {"plait.graph", describe_graph<typename plan::graph>()},
                                          {"plait.policy", plan::name},
                                          {"plait.step", std::to_string(model.steps())},
                                          {"plait.seed", std::to_string(devices.options().seed)}};
  if (opt) {
    meta["plait.optimizer"] = Opt::name;
    meta["plait.optimizer_step"] = std::to_string(states.optimizer_steps());
  }
  if (order) {
    meta["plait.data.epoch"] = std::to_string(order->epoch);
    meta["plait.data.batch"] = std::to_string(order->batch);
    meta["plait.data.global_batch"] = std::to_string(order->global_batch);
    meta["plait.data.dataset_size"] = std::to_string(order->dataset_size);
    meta["plait.data.seed"] = std::to_string(order->seed);
    meta["plait.data.shuffle"] = std::to_string(order->shuffle);
  }
  std::optional<atomic_file> file;
  std::optional<safetensors_writer> w;
  std::string failure;
  const auto guarded = [&](auto&& f) {  // rank 0's file errors wait until every rank has gathered
    if (!writer || !failure.empty()) return;
    try {
      f();
    } catch (const std::exception& e) {
      failure = e.what();
    }
  };
  guarded([&] {
    file.emplace(path);
    w.emplace(file->fd(), specs_of(tensors), meta, path.string());
  });
  const auto write_all = [&](const std::vector<float>& whole, model_tensor::source from, int state) {
    guarded([&] {
      for (std::size_t i = 0; i < tensors.size(); ++i)
        if (tensors[i].state == state && tensors[i].t.from == from) w->write(i, whole.data() + tensors[i].t.offset);
    });
  };
  const std::size_t spp = state_names.size();
  // Parameters and optimizer arrays: straight from the device's memory where the host reads it in the
  // whole layout's order (no copy); else from a whole copy, one array at a time.
  const auto write_array = [&](int k) {
    if (M::host_memory && states.template in_place<Opt>(0, k, spp)) {
      guarded([&] {
        for (std::size_t i = 0; i < tensors.size(); ++i) {
          const model_tensor& t = tensors[i].t;
          if (tensors[i].state != k || t.from != model_tensor::source::param) continue;
          std::size_t l = 0;  // a process holds whole replicas: one of its devices has the tensor
          while (l < devices.local_count() && !states.holds(l, t.offset, t.count)) ++l;
          if (l == devices.local_count())
            fail(cat("tensor '", t.name, "' is on none of this process's devices"),
                 "a process holds whole replicas, so every parameter is on one of its devices",
                 "report this as a plait bug");
          w->write(i, states.template in_place<Opt>(l, k, spp) + (t.offset - states.param_lo(l)));
        }
      });
    } else {
      std::vector<float> whole;
      if (k >= 0) {
        whole = states.template gather_optimizer<Opt>(std::size_t(k), spp);
      } else {
        whole.assign(M::layout::param_buffer_size, 0.0f);
        if (!states.gather_parameters(whole)) whole = model.gather_parameters();  // tensor shards
      }
      write_all(whole, model_tensor::source::param, k);
    }
  };
  write_array(-1);
  write_all(states.gather_state(), model_tensor::source::state, -1);
  const std::int64_t steps = std::int64_t(model.steps());
  guarded([&] {
    for (std::size_t i = 0; i < tensors.size(); ++i)
      if (tensors[i].t.from == model_tensor::source::counter) w->write(i, &steps);
  });
  for (std::size_t k = 0; k < spp; ++k) write_array(int(k));
  guarded([&] { w->finish(); });
  guarded([&] {
    if (::fsync(file->fd()) != 0)
      fail(cat("fsync of '", path.string(), "' failed"), "a checkpoint is durable before it replaces the previous one",
           "check the disk");
  });
  if (!all_agree(world, failure.empty())) {  // every rank gathered; rank 0's file is complete and durable
    if (!failure.empty()) fail_in(cat("saving '", path.string(), "'"), error(failure));  // this rank's own message
    fail(cat("saving '", path.string(), "' failed on another rank"),
         "the checkpoint replaces the previous one only when every rank succeeded, so the previous one stays",
         "read that rank's message, fix its cause and save again");
  }
  guarded([&] { file->commit(options.keep_last); });
  if (!all_agree(world, failure.empty()))
    fail(cat("saving '", path.string(), "' failed at its rename: ", failure), "the previous checkpoint stays in place",
         "check the folder's permissions and save again");
}

template <class M, class Opt>
std::optional<data_position> load(M& model, const std::filesystem::path& path, const Opt* opt,
                                  const std::function<data_position(const data_order&, const std::string&)>& position) {
  using plan = typename M::plan;
  auto& devices = model.placed();
  state_io<plan, typename M::backend_type> states(devices);
  process_comm* world = devices.world();
  const std::string name = path.string();
  const auto state_names = opt ? optimizer_state_names(*opt) : std::vector<std::string>{};
  const auto tensors = checkpoint_tensors<M>(state_names);
  std::size_t step = model.steps(), opt_step = 0;
  std::uint64_t seed = devices.options().seed;
  std::optional<data_position> at;
  std::string failure;
  std::optional<safetensors_file> f;
  try {  // everything read and checked before anything is written
    const auto& h = f.emplace(path).header();
    if (opt) {
      if (h.meta("plait.kind") != "checkpoint")
        fail(cat(name, ": it holds weights only, not a checkpoint"),
             "resuming needs the optimizer state and the step counts",
             "resume from a file of save_checkpoint, or use load_weights to take its parameters");
      if (h.meta("plait.signature") != hex64(graph_signature<M>))
        fail(cat(name, ": it was saved from another graph (signature ", h.meta("plait.signature"), ", this model's ",
                 hex64(graph_signature<M>), "); saved:\n", h.meta("plait.graph"), "this model:\n",
                 describe_graph<typename plan::graph>()),
             "a checkpoint resumes the graph it was saved from", "place the same graph (any policy) to load it");
      if (h.meta("plait.optimizer") != Opt::name)
        fail(cat(name, ": it was saved with the optimizer ", h.meta("plait.optimizer"), ", not ", Opt::name),
             "the optimizer's state differs between optimizers", cat("resume with ", h.meta("plait.optimizer")));
      step = meta_number(h, "plait.step", name);
      opt_step = meta_number(h, "plait.optimizer_step", name);
      seed = meta_number(h, "plait.seed", name);
      if (position) {
        if (h.meta("plait.data.epoch").empty())
          fail(cat(name, ": it has no data position"), "it was saved without a loader",
               "load it without a loader, or save with one");
        at = position(
            data_order{meta_number(h, "plait.data.epoch", name), meta_number(h, "plait.data.batch", name),
                       meta_number(h, "plait.data.global_batch", name), meta_number(h, "plait.data.dataset_size", name),
                       meta_number(h, "plait.data.seed", name), meta_number(h, "plait.data.shuffle", name)},
            name);
      }
    }
    check_tensors(h, tensors, name, opt ? std::vector<std::string>{} : std::vector<std::string>{"plait.optim."});
    for (const auto& c : tensors)  // every checksum, over the file's pages in place
      if (c.t.from != model_tensor::source::counter) verify_checksum(*f, h.at(c.t.name));
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!all_agree(world, failure.empty()))
    throw error(failure.empty() ? cat("plait: loading '", name,
                                      "' failed on another rank. Every rank loads the same "
                                      "file, or none does. Fix: read that rank's message")
                                : failure);
  // Checked on every rank: now the model is written, from the file's pages.
  const auto source = [&](const checkpoint_tensor& c) {
    return reinterpret_cast<const float*>(f->mapped(f->header().at(c.t.name)));
  };
  const auto stage = [&](std::vector<float>& whole, model_tensor::source from, int k) {
    for (const auto& c : tensors)
      if (c.state == k && c.t.from == from)
        std::memcpy(whole.data() + c.t.offset, source(c), c.t.count * sizeof(float));
  };
  std::vector<float> state = states.gather_state();  // layers whose state is not saved (scratch) keep theirs
  stage(state, model_tensor::source::state, -1);
  states.scatter_state(state);
  const std::size_t spp = state_names.size();
  const auto apply_array = [&](int k) {              // the parameters (k < 0) or optimizer array k
    if (states.template in_place<Opt>(0, k, spp)) {  // each device's share straight from the file
      for (std::size_t l = 0; l < devices.local_count(); ++l)
        for (const auto& c : tensors)
          if (c.state == k && c.t.from == model_tensor::source::param && states.holds(l, c.t.offset, c.t.count)) {
            float* to = states.template in_place<Opt>(l, k, spp) + (c.t.offset - states.param_lo(l));
            const auto on = devices.on_device(l);
            states.from_host(l, to, source(c), c.t.count);
          }
    } else {  // tensor shards, optimizer chunks: through a whole copy
      std::vector<float> whole(M::layout::param_buffer_size, 0.0f);
      stage(whole, model_tensor::source::param, k);
      if (k < 0) model.set_parameters(whole);
      else states.template scatter_optimizer<Opt>(std::size_t(k), spp, whole);
    }
  };
  apply_array(-1);
  if (opt) {
    for (std::size_t k = 0; k < spp; ++k) apply_array(int(k));
    states.set_optimizer_steps(opt_step);
    states.set_seed(seed);
    model.resume_at_step(step);
  }
  return at;
}
}  // namespace detail

/// Saves parameters, layer state, optimizer state and step counts (and the loader's position).
template <class M, class Opt>
void save_checkpoint(M& model, const std::filesystem::path& path, const Opt& opt, checkpoint_options options = {}) {
  detail::save<M, Opt>(model, path, &opt, nullptr, options);
}
template <class M, class Opt, class D>
void save_checkpoint(M& model, const std::filesystem::path& path, const Opt& opt, const loader<D>& data,
                     checkpoint_options options = {}) {
  const data_order order = detail::order_of(data);
  detail::save<M, Opt>(model, path, &opt, &order, options);
}

/// Resumes a checkpoint saved under any policy. With a loader: where to resume it (loader.epoch(e, batch)).
template <class M, class Opt>
void load_checkpoint(M& model, const std::filesystem::path& path, const Opt& opt) {
  detail::load<M, Opt>(model, path, &opt, {});
}
template <class M, class Opt, class D>
data_position load_checkpoint(M& model, const std::filesystem::path& path, const Opt& opt, const loader<D>& data) {
  return *detail::load<M, Opt>(
      model, path, &opt, [&](const data_order& o, const std::string& file) { return detail::remap(o, data, file); });
}

/// Parameters and running statistics only, under PyTorch's names: what load_state_dict(strict=True) takes.
template <class M>
void save_weights(M& model, const std::filesystem::path& path, checkpoint_options options = {}) {
  detail::save<M, sgd>(model, path, nullptr, nullptr, options);
}
/// Takes parameters and running statistics from a file of save_weights, save_checkpoint or PyTorch.
template <class M>
void load_weights(M& model, const std::filesystem::path& path) {
  detail::load<M, sgd>(model, path, nullptr, {});
}

}  // namespace plait
