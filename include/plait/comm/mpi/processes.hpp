#pragma once
// The processes of an MPI job as place(...) sees them (comm/processes.hpp):
//
//   plait::mpi_world world(&argc, &argv);
//   auto model = plait::place<plait::replicate<2>>(net, plait::across_processes(world, plait::host_devices(1)));
//
// runs replicate<2> as two processes of one device each (mpirun -np 2). Every communicator the model
// asks for is a duplicate of the world's communicator, so plait's messages never meet the
// application's, with the deadline of the options given here.

#include <memory>

#include "../processes.hpp"
#include "bootstrap.hpp"
#include "check.hpp"
#include "comm.hpp"

namespace plait {

/// The processes of an MPI world. Preconditions: the world outlives every model placed on it (MPI is
/// finalised when the world is destroyed); every process makes the same calls in the same order.
class mpi_processes final : public process_set {
 public:
  explicit mpi_processes(const mpi_world& world, mpi_options options = {})
      : parent_(world.comm()), options_(options), comm_(parent_, options) {}

  std::size_t rank() const override { return comm_.rank(); }
  std::size_t size() const override { return comm_.size(); }
  std::unique_ptr<process_comm> communicator() override {
    return std::make_unique<process_comm_of<mpi_comm>>(mpi_comm(parent_, options_));
  }
  void check_consistent(const run_identity& mine) override { plait::check_consistent(comm_, mine); }

 private:
  MPI_Comm parent_;
  mpi_options options_;
  mpi_comm comm_;  // the start-up check's own
};

/// `local` devices on each process of the world: the devices a mesh across processes is placed on.
/// `options` sets the deadline of every collective and message between processes.
template <class Backend>
process_devices<Backend> across_processes(const mpi_world& world, device_set<Backend> local, mpi_options options = {}) {
  return {local, std::make_shared<mpi_processes>(world, options)};
}

}  // namespace plait
