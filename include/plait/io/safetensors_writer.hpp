#pragma once
// Writing the safetensors format (io/safetensors.hpp) in a stream: the tensors' places are fixed
// from their shapes first, each tensor is then written straight from the caller's memory to its
// place in the file (in any order, with pwrite), and the header last, once every tensor's checksum
// is known. The header's size is fixed when the writer is made: metadata values set later must not
// be longer than the ones given first (checksums are 16 hex digits from the start), and the header
// is padded with spaces, as the format allows.
//
//   safetensors_writer w(fd, {{"1.weight", {256, 784}}, {"1.bias", {256}}}, {{"format", "pt"}});
//   w.write(0, weights.data());                       // [256 * 784] floats
//   w.write(1, bias.data());
//   w.finish();                                       // the header, with plait.checksum.<name> for each
//
// checksum64 is the per-tensor checksum the header records (4 lanes of multiply-rotate over 8-byte
// words, about memory speed; not cryptographic: it finds torn or corrupted data, not tampering).

#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../core/error.hpp"

namespace plait {

static_assert(std::endian::native == std::endian::little,
              "plait: checkpoints are written on a big-endian machine. safetensors stores little-endian data and "
              "plait writes memory as it is. Fix: save on a little-endian machine (x86-64, ARM64).");

/// A 64-bit checksum of n bytes.
inline std::uint64_t checksum64(const void* data, std::size_t n) {
  constexpr std::uint64_t p1 = 0x9E3779B185EBCA87ull, p2 = 0xC2B2AE3D27D4EB4Full, p3 = 0x165667B19E3779F9ull;
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t a[4] = {p1 + p2, p2, 0, 0 - p1};
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k) {
      std::uint64_t w;
      std::memcpy(&w, p + i + 8 * k, 8);
      a[k] = std::rotl(a[k] + w * p2, 31) * p1;
    }
  std::uint64_t h = std::rotl(a[0], 1) + std::rotl(a[1], 7) + std::rotl(a[2], 12) + std::rotl(a[3], 18) + n;
  for (; i < n; ++i) h = std::rotl(h ^ (p[i] * p3), 11) * p1;
  h ^= h >> 33, h *= p2, h ^= h >> 29, h *= p3, h ^= h >> 32;
  return h;
}

inline std::string hex64(std::uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[std::size_t(i)] = digits[v & 15];
  return s;
}

/// A tensor to write: its name, shape and safetensors dtype.
struct safetensors_spec {
  std::string name;
  std::vector<std::uint64_t> shape;
  std::string dtype = "F32";
};

class safetensors_writer {
 public:
  /// Plans tensors `specs`, in that order, in the file open for writing at `fd` (from offset 0).
  safetensors_writer(int fd, std::vector<safetensors_spec> specs, std::map<std::string, std::string> metadata,
                     std::string name = "checkpoint")
      : fd_(fd), specs_(std::move(specs)), meta_(std::move(metadata)), name_(std::move(name)) {
    std::uint64_t at = 0;
    for (const auto& s : specs_) {
      std::uint64_t n = s.dtype == "I64" ? 8 : 4;
      for (auto d : s.shape) n *= d;
      offsets_.push_back({at, at + n});
      at += n;
      meta_["plait.checksum." + s.name] = std::string(16, '0');
    }
    data_bytes_ = at;
    header_bytes_ = (header_json().size() + 7) / 8 * 8;  // the data starts 8-aligned, as the format's writers do
  }

  std::size_t size() const { return specs_.size(); }
  const safetensors_spec& spec(std::size_t i) const { return specs_[i]; }
  /// Bytes of tensor i.
  std::uint64_t bytes(std::size_t i) const { return offsets_[i].second - offsets_[i].first; }
  /// The whole file's size once finished.
  std::uint64_t file_bytes() const { return 8 + header_bytes_ + data_bytes_; }

  /// Sets a metadata value, at most as long as the value the writer was made with.
  void set_meta(const std::string& key, std::string value) { meta_[key] = std::move(value); }

  /// Tensor i's bytes (bytes(i) of them), checksummed and written at its place.
  void write(std::size_t i, const void* data) {
    meta_["plait.checksum." + specs_[i].name] = hex64(checksum64(data, bytes(i)));
    write_at(data, bytes(i), 8 + header_bytes_ + offsets_[i].first);
  }

  /// Writes the length and the header (padded with spaces to its planned size).
  void finish() {
    std::string json = header_json();
    if (json.size() > header_bytes_)
      fail(cat(name_, ": its header grew from ", header_bytes_, " to ", json.size(), " bytes while writing"),
           "the header's room is planned before the tensors are written", "report this as a plait bug");
    json.resize(header_bytes_, ' ');
    unsigned char len[8];
    for (int k = 0; k < 8; ++k) len[k] = static_cast<unsigned char>(header_bytes_ >> (8 * k));
    write_at(len, 8, 0);
    write_at(json.data(), json.size(), 8);
  }

 private:
  std::string header_json() const {
    nlohmann::ordered_json j;
    j["__metadata__"] = meta_;
    for (std::size_t i = 0; i < specs_.size(); ++i)
      j[specs_[i].name] = {{"dtype", specs_[i].dtype},
                           {"shape", specs_[i].shape},
                           {"data_offsets", {offsets_[i].first, offsets_[i].second}}};
    return j.dump();
  }

  void write_at(const void* data, std::uint64_t n, std::uint64_t at) {
    const auto* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t put = ::pwrite(fd_, p, std::min<std::uint64_t>(n, std::uint64_t{1} << 30), off_t(at));
      if (put < 0 && errno == EINTR) continue;
      if (put <= 0)
        fail(cat(name_, ": writing failed: ", put < 0 ? std::strerror(errno) : "nothing written"),
             "the checkpoint is written to a temporary file first, so the previous one stays",
             "free disk space or pick a writable folder");
      p += put, n -= std::uint64_t(put), at += std::uint64_t(put);
    }
  }

  int fd_;
  std::vector<safetensors_spec> specs_;
  std::map<std::string, std::string> meta_;
  std::string name_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> offsets_;
  std::uint64_t data_bytes_ = 0, header_bytes_ = 0;
};

}  // namespace plait
