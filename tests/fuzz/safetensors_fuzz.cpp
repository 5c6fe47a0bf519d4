// libFuzzer target: the checkpoint reader (io/safetensors.hpp), on a whole file in memory and on a
// file read on demand. A read either fails with a plait::error or returns a header whose tensors are
// sorted, contiguous from byte 0, each exactly its shape times its dtype's size, and together exactly
// the data after the header; every tensor then reads back its own bytes. Any other exception, a crash
// or an allocation over -rss_limit_mb (what a header claims, not what the file holds) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <plait/io/safetensors.hpp>
#include <span>
#include <vector>

#include "fuzz_file.hpp"

namespace {
void check(const plait::safetensors_header& h, std::size_t file_size) {
  if (h.data_start + h.data_bytes != file_size) plait::fuzz::wrong("header and data do not cover the file");
  std::uint64_t at = 0;
  for (const auto& e : h.tensors) {
    if (e.begin != at || e.end < e.begin) plait::fuzz::wrong("tensors are not contiguous from byte 0");
    if (e.end - e.begin != e.elements() * plait::safetensors_dtype_size(e.dtype))
      plait::fuzz::wrong("a tensor's bytes differ from its shape");
    at = e.end;
  }
  if (at != h.data_bytes) plait::fuzz::wrong("the tensors do not end where the data does");
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const plait::fuzz::scratch_file scratch("safetensors");
  bool parsed = false;
  try {
    check(plait::parse_safetensors(std::span<const unsigned char>(data, size)), size);
    parsed = true;
  } catch (const plait::error&) {}
  plait::fuzz::write_file(scratch.path, data, size);
  try {
    const plait::safetensors_file f(scratch.path);
    if (!parsed) plait::fuzz::wrong("the file reader accepts what the buffer reader refuses");
    check(f.header(), size);
    for (const auto& e : f.header().tensors) {
      std::vector<unsigned char> bytes(e.end - e.begin);
      f.read_bytes(e, bytes.data());
      if (!bytes.empty() && std::memcmp(bytes.data(), data + f.header().data_start + e.begin, bytes.size()) != 0)
        plait::fuzz::wrong("a tensor reads other bytes than the file holds");
    }
  } catch (const plait::error&) {
    if (parsed) plait::fuzz::wrong("the buffer reader accepts what the file reader refuses");
  }
  return 0;
}
