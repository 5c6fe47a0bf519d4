#pragma once
// event_names: the names the executed trace gives each instruction ("forward stage 1", "all_reduce
// bucket 3", "send activation"), made once at place(...) so that recording a trace allocates nothing.

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "../program/instruction.hpp"

namespace plait {

class event_names {
 public:
  event_names() = default;
  /// `stages` forward/backward stages; collectives named by `buffers` buckets, or by stage when
  /// `collectives_by_stage` (partition's exchanges).
  event_names(std::size_t stages, std::size_t buffers, bool collectives_by_stage) : by_stage_(collectives_by_stage) {
    for (std::size_t op = 0; op < names_.size(); ++op) {
      const std::string name = to_string(opcode(op));
      const bool staged = op == std::size_t(opcode::forward) || is_backward(opcode(op));
      const bool message = op == std::size_t(opcode::send) || op == std::size_t(opcode::recv);
      if (staged)
        for (std::size_t k = 0; k < stages; ++k) names_[op].push_back(name + " stage " + std::to_string(k));
      if (is_collective(opcode(op)) && by_stage_)
        for (std::size_t k = 0; k < stages; ++k) names_[op].push_back(name + " at stage " + std::to_string(k));
      else if (is_collective(opcode(op)))
        for (std::size_t k = 0; k < buffers; ++k) names_[op].push_back(name + " bucket " + std::to_string(k));
      if (message) {
        names_[op].push_back(name + " activation");
        names_[op].push_back(name + " gradient");
      }
    }
  }

  const char* operator()(const instruction& i) const {
    const bool collective = is_collective(i.op);
    if (collective && i.buffer == whole_gradient) return "all_reduce gradients (data parallel)";
    const std::size_t index =
        i.op == opcode::forward || is_backward(i.op) || (by_stage_ && collective) ? i.stage : i.buffer;
    const auto& names = names_[std::size_t(i.op)];
    return index < names.size() ? names[index].c_str() : to_string(i.op);  // scatter, loss, optimizer_step
  }

 private:
  bool by_stage_ = false;
  std::array<std::vector<std::string>, opcode_count> names_;
};

}  // namespace plait
