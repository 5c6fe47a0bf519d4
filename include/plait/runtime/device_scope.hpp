#pragma once
// device_scope: the caller's thread is device 0's worker; where it works on another device's memory
// (CUDA), that device is current for the scope and device 0 (`home`) again after. Not for the workers'
// own threads, which stay on their devices. Nothing on host devices.

namespace plait {

template <class Memory>
class device_scope {
 public:
  device_scope(const Memory& home, const Memory& r) : home_(home) {
    if constexpr (!Memory::host_memory) r.ctx().enter();
  }
  ~device_scope() {
    if constexpr (!Memory::host_memory) {
      try {
        home_.ctx().enter();
      } catch (...) {  // a failed device: the next call on it reports the error
      }
    }
  }
  device_scope(const device_scope&) = delete;
  device_scope& operator=(const device_scope&) = delete;

 private:
  const Memory& home_;
};

}  // namespace plait
