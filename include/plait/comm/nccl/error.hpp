#pragma once
// NCCL return codes as plait errors (docs/design.md §10: every NCCL return code is checked). A failed call
// becomes one plait::error naming the call, this rank, what plait was doing, NCCL's name for the code
// and NCCL's last error text, e.g.
//   plait: ncclAllReduce failed on rank 1 of 2 (all_reduce of 1000 floats): unhandled system error
//   (ncclSystemError; NCCL's last error: socket recv failed). NCCL reported an error, so the ranks can no
//   longer be trusted to match their calls. Fix: check the network between the nodes ...
// Only plait::nccl includes this (it includes nccl.h); the host core never does.

#include <nccl.h>

#include <string>
#include <string_view>

#include "../../core/error.hpp"

namespace plait::nccl_detail {

inline const char* code_name(ncclResult_t r) {
  switch (r) {
    case ncclSuccess: return "ncclSuccess";
    case ncclUnhandledCudaError: return "ncclUnhandledCudaError";
    case ncclSystemError: return "ncclSystemError";
    case ncclInternalError: return "ncclInternalError";
    case ncclInvalidArgument: return "ncclInvalidArgument";
    case ncclInvalidUsage: return "ncclInvalidUsage";
    case ncclRemoteError: return "ncclRemoteError";
    case ncclInProgress: return "ncclInProgress";
    default: return "an NCCL result code";
  }
}

/// What to do about a failed NCCL call, by the kind of failure.
inline std::string_view fix_for(ncclResult_t r) {
  switch (r) {
    case ncclUnhandledCudaError:
      return "check the GPU of this rank (nvidia-smi) and rerun with NCCL_DEBUG=INFO to see the CUDA call NCCL made";
    case ncclSystemError:
      return "check the network between the nodes: set NCCL_SOCKET_IFNAME to the interface they share, try NCCL_IB_DISABLE=1, "
             "and rerun with NCCL_DEBUG=INFO";
    case ncclRemoteError:
      return "a peer failed first: read the other ranks' messages (NCCL_DEBUG=INFO names the remote rank)";
    case ncclInvalidUsage:
      return "give each rank its own GPU (one GPU per rank) and call the same operations in the same order on every rank; "
             "NCCL_DEBUG=INFO says what NCCL refused";
    case ncclInvalidArgument:
      return "pass device buffers of this rank's GPU and counts that agree on every rank; NCCL_DEBUG=INFO says which argument";
    default: return "rerun with NCCL_DEBUG=INFO and read every rank's log";
  }
}

/// The message of the plait::error for a failed NCCL call. `context` says where and what: "on rank 1
/// of 2 (all_reduce of 1000 floats)". `comm` may be null (calls made before a communicator exists).
inline std::string call_message(ncclResult_t r, std::string_view call, std::string_view context, ncclComm_t comm) {
  const char* last = ncclGetLastError(comm);
  std::string what = cat(call, " failed");
  if (!context.empty()) what += cat(" ", context);
  what += cat(": ", ncclGetErrorString(r), " (", code_name(r));
  if (last != nullptr && last[0] != '\0') what += cat("; NCCL's last error: ", std::string_view(last));
  what += ")";
  return message(what, "NCCL reported an error, so the ranks can no longer be trusted to match their calls",
                 fix_for(r));
}

/// Throws it.
[[noreturn]] inline void fail_call(ncclResult_t r, std::string_view call, std::string_view context, ncclComm_t comm) {
  throw error(call_message(r, call, context, comm));
}

}  // namespace plait::nccl_detail
