#pragma once
// follow_on_error: an error that only follows from another device's, such as a stage waiting for a
// turn that a failed stage of its device never passes on (device_turn.hpp). Where devices fail
// together, device_workers reports a device's own error before one of these.

#include "../core/error.hpp"

namespace plait {

class follow_on_error : public error {
 public:
  using error::error;
};

}  // namespace plait
