#pragma once
// place<Policy>(graph, devices, options): plans all memory and initial parameters once and
// returns the trained-model object. What only the run knows (device count, batch limits) is
// checked here, with a plait error.

#include "../graph/chain.hpp"
#include "../policy/single_device.hpp"
#include <utility>

#include "model.hpp"

namespace plait {

template <class P = single_device, Graph G, class Backend>
auto place(G, device_set<Backend> devices, place_options options = {}) {
  static_assert(Policy<P>,
                "plait: place<P> is given a type that is not a policy. The first template argument of place "
                "says how the graph maps onto devices. Fix: use single_device, or omit it.");
  static_assert(G::has_input,
                "plait: the graph has no input. Only a graph that starts with input<...> has shapes to plan. "
                "Fix: start the expression with input<...>, e.g. `input<784> >> linear<10>`.");
  if constexpr (G::has_input) return model<P, G, Backend>(devices, options);
}

/// The same across the processes of a job (across_processes(world, devices), plait/mpi.hpp): every
/// process calls it alike; each runs its share of the mesh. Checked on every process at once: the
/// same graph, policy, plait version and device count everywhere, and a mesh the processes can hold.
template <class P = single_device, Graph G, class Backend>
auto place(G, process_devices<Backend> devices, place_options options = {}) {
  static_assert(Policy<P>,
                "plait: place<P> is given a type that is not a policy. The first template argument of place "
                "says how the graph maps onto devices. Fix: use single_device, or omit it.");
  static_assert(G::has_input,
                "plait: the graph has no input. Only a graph that starts with input<...> has shapes to plan. "
                "Fix: start the expression with input<...>, e.g. `input<784> >> linear<10>`.");
  if constexpr (G::has_input) return model<P, G, Backend>(std::move(devices), options);
}

}  // namespace plait
