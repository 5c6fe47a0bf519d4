#pragma once
// place<Policy>(graph, devices, options): plans all memory and initial parameters once and
// returns the trained-model object. What only the run knows (device count, batch limits) is
// checked here, with a plait error.

#include <utility>

#include "../backend/traits.hpp"
#include "../graph/chain.hpp"
#include "../policy/single_device.hpp"
#include "model.hpp"

namespace plait {

namespace detail {
/// What place(...) refuses at compile time, one message each; true where a model can be built.
template <class P, class G, class B>
constexpr bool placeable() {
  static_assert(Policy<P>,
                "plait: place<P> is given a type that is not a policy. The first template argument of place "
                "says how the graph maps onto devices. Fix: use single_device, replicate<N>, pipeline<S, ...>, "
                "partition<N>, placement<D> or a mesh, or omit it.");
  static_assert(G::has_input,
                "plait: the graph has no input. Only a graph that starts with input<...> has shapes to plan. "
                "Fix: start the expression with input<...>, e.g. `input<784> >> linear<10>`.");
  static_assert(Backend<B>,
                "plait: place is given devices of a type that is not a backend. A model runs on host devices "
                "or CUDA devices. Fix: pass host_devices(n), or cuda_devices({...}) with plait/cuda.hpp included.");
  if constexpr (Policy<P> && G::has_input) {
    static_assert(PolicyFor<P, G>,
                  "plait: the policy cannot map this graph: it has no stages, owned layers or programs for it. "
                  "Fix: pass a policy of plait's (single_device, replicate, pipeline, partition, placement), or give "
                  "yours stages<G>, owned<G> and programs<G>.");
    return PolicyFor<P, G> && Backend<B>;
  }
  return false;
}
}  // namespace detail

template <class P = single_device, Graph G, class B>
auto place(G, device_set<B> devices, place_options options = {}) {
  if constexpr (detail::placeable<P, G, B>()) return model<P, G, B>(std::move(devices), options);
}

/// The same across the processes of a job (across_processes(world, devices), plait/mpi.hpp): every
/// process calls it alike; each runs its share of the mesh. Checked on every process at once: the
/// same graph, policy, plait version and device count everywhere, and a mesh the processes can hold.
template <class P = single_device, Graph G, class B>
auto place(G, process_devices<B> devices, place_options options = {}) {
  if constexpr (detail::placeable<P, G, B>()) return model<P, G, B>(std::move(devices), options);
}

}  // namespace plait
