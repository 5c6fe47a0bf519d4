#pragma once
// place<Policy>(graph, devices, options): plans all memory and initial parameters once and
// returns the trained-model object. What only the run knows (device count, batch limits) is
// checked here, with a plait error.

#include "../graph/chain.hpp"
#include "../policy/single_device.hpp"
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

}  // namespace plait
