#pragma once
// place<Policy>(graph, devices, options[, optimizer]): plans all memory and initial parameters once and
// returns the trained-model object. What only the run knows (device count, batch limits, the memory
// budget) is checked here, with a plait error. plan_memory(...) reports what place would plan.

#include <string>
#include <utility>

#include "../backend/traits.hpp"
#include "../graph/chain.hpp"
#include "../policy/single_device.hpp"
#include "memory_plan.hpp"
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

/// The memory place<P>(graph, devices, options) plans on each device of the policy, by use, before
/// anything is allocated (memory_plan.hpp); with `opt`, the state of that optimizer as well.
template <class P = single_device, Graph G, class B>
memory_plan plan_memory(G, const device_set<B>&, place_options options = {}) {
  if constexpr (detail::placeable<P, G, B>())
    return planned_at_place<plan_of<P, G>, typename placed_devices<plan_of<P, G>, B>::memory_type>(options, 0);
  else return {};
}
template <class P = single_device, Graph G, class B, Optimizer Opt>
memory_plan plan_memory(G, const device_set<B>&, place_options options, const Opt& opt) {
  if constexpr (detail::placeable<P, G, B>())
    return planned_at_place<plan_of<P, G>, typename placed_devices<plan_of<P, G>, B>::memory_type>(
        options, opt.state_per_param());
  else return {};
}

namespace detail {
// The model, once its plan is known to fit place_options::memory_budget on every device of the mesh
// (every process checks them all, so all refuse alike); each device then checks what a step plans.
template <class P, class G, class B, class Devices>
model<P, G, B> place_within_budget(Devices devices, const place_options& options, std::size_t state_per_param = 0,
                                   const char* what = "place(...)") {
  using plan = plan_of<P, G>;
  if (options.memory_budget > 0)
    check_memory_budget(planned_at_place<plan, typename placed_devices<plan, B>::memory_type>(options, state_per_param),
                        what);
  model<P, G, B> m(std::move(devices), options);
  set_memory_budgets<plan>(m.placed());
  return m;
}
// Placed, then the optimizer's state planned, both within the budget (the two overloads of place below).
template <class P, class G, class B, class Devices, class Opt>
auto place_with_state(Devices devices, place_options options, const Opt& opt) {
  const std::string what = "place(...) and " + state_name<Opt>();
  auto m = place_within_budget<P, G, B>(std::move(devices), options, opt.state_per_param(), what.c_str());
  m.plan_optimizer(opt);
  return m;
}
}  // namespace detail

template <class P = single_device, Graph G, class B>
auto place(G, device_set<B> devices, place_options options = {}) {
  if constexpr (detail::placeable<P, G, B>()) return detail::place_within_budget<P, G, B>(std::move(devices), options);
}

/// The same with the optimizer's state planned too, within the budget: no step with `opt` allocates.
template <class P = single_device, Graph G, class B, Optimizer Opt>
auto place(G, device_set<B> devices, place_options options, const Opt& opt) {
  if constexpr (detail::placeable<P, G, B>())
    return detail::place_with_state<P, G, B>(std::move(devices), options, opt);
}

/// The same across the processes of a job (across_processes(world, devices), plait/mpi.hpp): every
/// process calls it alike; each runs its share of the mesh. Checked on every process at once: the
/// same graph, policy, plait version and device count everywhere, and a mesh the processes can hold.
template <class P = single_device, Graph G, class B>
auto place(G, process_devices<B> devices, place_options options = {}) {
  if constexpr (detail::placeable<P, G, B>()) return detail::place_within_budget<P, G, B>(std::move(devices), options);
}
template <class P = single_device, Graph G, class B, Optimizer Opt>
auto place(G, process_devices<B> devices, place_options options, const Opt& opt) {
  if constexpr (detail::placeable<P, G, B>())
    return detail::place_with_state<P, G, B>(std::move(devices), options, opt);
}

}  // namespace plait
