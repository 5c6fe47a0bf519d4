#pragma once
// The safetensors format (what PyTorch's safetensors package reads and writes), checked strictly:
//   [8 bytes]  N, the header's length, little-endian
//   [N bytes]  a JSON object: name -> {"dtype", "shape", "data_offsets": [begin, end]} and an
//              optional "__metadata__": {string: string}
//   [rest]     the tensors' bytes, little-endian, at data_offsets from the end of the header
//
//   safetensors_header h = parse_safetensors(bytes);            // a whole file in memory (fuzzing)
//   safetensors_file f("model.safetensors");                     // a file: the header only is read
//   f.read(f.header().at("1.weight"), std::span<float>(w));      // one tensor, from disk, into w
//   const unsigned char* b = f.mapped(f.header().at("1.weight"));  // or in place, the file mapped
//
// A header is refused (a plait::error naming the tensor and what differs) when: the file is shorter
// than 8 bytes, N is over 100 MB or beyond the file, the JSON does not parse or has the wrong form,
// a dtype is unknown, a shape's bytes differ from its offsets, offsets lie outside the data, overlap,
// leave a gap, or do not end where the file does. Reading data takes F32 only; other dtypes are listed
// (PyTorch's batch-norm `num_batches_tracked` is I64) but refused when read as floats.
// The JSON is nlohmann_json's; this file never parses JSON by hand.

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"

namespace plait {

/// Headers above this are refused before they are read: no model needs one, and a corrupt length
/// must not make the reader allocate gigabytes.
inline constexpr std::uint64_t safetensors_max_header = 100'000'000;

/// One tensor of a file: its dtype name (as safetensors spells it), shape and bytes [begin, end) in the data.
struct safetensors_entry {
  std::string name;
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0, end = 0;

  std::uint64_t elements() const {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  std::string shape_text() const {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s.append(i ? ", " : "").append(std::to_string(shape[i]));
    return s.append("]");
  }
};

/// Bytes per element of a safetensors dtype, 0 for a name the format does not have.
inline std::uint64_t safetensors_dtype_size(std::string_view d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
  return 0;
}

/// A checked header: the tensors in the order of their data, the metadata, where the data starts.
struct safetensors_header {
  std::vector<safetensors_entry> tensors;  // sorted by begin, contiguous, covering the data exactly
  std::map<std::string, std::string> metadata;
  std::uint64_t data_start = 0;  // 8 + N: the file offset of data byte 0
  std::uint64_t data_bytes = 0;

  const safetensors_entry* find(std::string_view name) const {
    for (const auto& t : tensors)
      if (t.name == name) return &t;
    return nullptr;
  }
  const safetensors_entry& at(std::string_view name) const {
    if (const auto* t = find(name)) return *t;
    fail(cat("the checkpoint has no tensor '", name, "'"), "the model has a tensor of that name and loads every one",
         "load a checkpoint of this model, or one saved from the equivalent PyTorch module");
  }
  std::string meta(const std::string& key) const {
    auto it = metadata.find(key);
    return it == metadata.end() ? std::string() : it->second;
  }
};

namespace detail {
[[noreturn]] inline void bad_header(std::string_view source, std::string_view what, std::string_view why) {
  fail(cat(source, ": ", what), why, "pass a complete safetensors file (re-save it if it was cut short or edited)");
}

inline std::uint64_t read_le64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
}  // namespace detail

/// Checks `json` (the header's N bytes) against a data section of `data_bytes` bytes. `source` names
/// the file in messages.
inline safetensors_header parse_safetensors_header(std::string_view json, std::uint64_t data_bytes,
                                                   std::string_view source = "safetensors") {
  using detail::bad_header;
  const auto j = nlohmann::json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad_header(source, "its header is not valid JSON", "the header is a JSON object");
  if (!j.is_object()) bad_header(source, "its header is not a JSON object", "the header maps tensor names to entries");
  safetensors_header h;
  h.data_start = 8 + json.size();
  h.data_bytes = data_bytes;
  for (const auto& [name, v] : j.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) bad_header(source, "its __metadata__ is not an object", "metadata maps strings to strings");
      for (const auto& [k, s] : v.items()) {
        if (!s.is_string())
          bad_header(source, cat("metadata '", k, "' is not a string"), "safetensors metadata maps strings to strings");
        h.metadata[k] = s.get<std::string>();
      }
      continue;
    }
    const auto where = cat("tensor '", name, "'");
    if (!v.is_object())
      bad_header(source, cat(where, " is not an object"), "each tensor has dtype, shape, data_offsets");
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string())
      bad_header(source, cat(where, " has no dtype string"), "each tensor names its dtype");
    if (sh == v.end() || !sh->is_array())
      bad_header(source, cat(where, " has no shape array"), "each tensor has a shape");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      bad_header(source, cat(where, " has no data_offsets [begin, end]"), "each tensor says where its bytes are");
    safetensors_entry e;
    e.name = name;
    e.dtype = dt->get<std::string>();
    const std::uint64_t size = safetensors_dtype_size(e.dtype);
    if (size == 0)
      bad_header(source, cat(where, " has the unknown dtype '", e.dtype, "'"),
                 "safetensors names F32, F16, BF16, I64 and the like");
    std::uint64_t count = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned())
        bad_header(source, cat(where, " has a shape entry that is not a count"), "a shape lists extents >= 0");
      const std::uint64_t x = d.get<std::uint64_t>();
      if (x != 0 && count > (std::uint64_t{1} << 62) / x)
        bad_header(source, cat(where, "'s shape overflows"), "a tensor fits in memory");
      count *= x;
      e.shape.push_back(x);
    }
    e.begin = (*off)[0].get<std::uint64_t>();
    e.end = (*off)[1].get<std::uint64_t>();
    if (e.begin > e.end)
      bad_header(source, cat(where, " ends before it begins (", e.begin, " > ", e.end, ")"),
                 "data_offsets are [begin, end)");
    if (e.end > data_bytes)
      bad_header(source, cat(where, " ends at byte ", e.end, " of a data section of ", data_bytes),
                 "a tensor's bytes lie inside the file (the file may be truncated)");
    if (count * size != e.end - e.begin)
      bad_header(source,
                 cat(where, " of shape ", e.shape_text(), " and dtype ", e.dtype, " needs ", count * size,
                     " bytes but its offsets hold ", e.end - e.begin),
                 "a tensor's offsets hold exactly its elements");
    h.tensors.push_back(std::move(e));
  }
  std::sort(h.tensors.begin(), h.tensors.end(),
            [](const auto& a, const auto& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  std::uint64_t at = 0;
  for (const auto& t : h.tensors) {
    if (t.begin < at)
      bad_header(source,
                 cat("tensor '", t.name, "' overlaps the tensor before it (starts at ", t.begin, ", before ", at, ")"),
                 "tensors' bytes do not overlap");
    if (t.begin > at)
      bad_header(source, cat("tensor '", t.name, "' starts at ", t.begin, ", leaving a gap after ", at),
                 "tensors' bytes follow each other without gaps");
    at = t.end;
  }
  if (at != data_bytes)
    bad_header(source, cat("the tensors end at byte ", at, " of a data section of ", data_bytes),
               "the data section holds the tensors and nothing else");
  return h;
}

/// The header of a whole file held in memory (what a fuzzer calls).
inline safetensors_header parse_safetensors(std::span<const unsigned char> file,
                                            std::string_view source = "safetensors") {
  if (file.size() < 8)
    detail::bad_header(source, cat("it has ", file.size(), " bytes"),
                       "a safetensors file starts with an 8-byte header length");
  const std::uint64_t n = detail::read_le64(file.data());
  if (n > safetensors_max_header)
    detail::bad_header(source, cat("its header length is ", n, " bytes, over the limit of ", safetensors_max_header),
                       "a header beyond 100 MB is refused before it is read");
  if (n > file.size() - 8)
    detail::bad_header(source, cat("its header length ", n, " runs beyond the file's ", file.size(), " bytes"),
                       "the header follows the 8-byte length inside the file");
  return parse_safetensors_header(std::string_view(reinterpret_cast<const char*>(file.data()) + 8, n),
                                  file.size() - 8 - n, source);
}

/// A safetensors file opened for reading: the header checked on opening, tensors read on demand.
class safetensors_file {
 public:
  explicit safetensors_file(const std::filesystem::path& path) : name_(path.string()) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
      fail(cat("cannot open '", name_, "': ", std::strerror(errno)), "loading reads the file",
           "check the path and its permissions");
    try {  // a refused header must not leave the file open (a constructor that throws runs no destructor)
      read_header();
    } catch (...) {
      ::close(fd_);
      fd_ = -1;
      throw;
    }
  }
  safetensors_file(const safetensors_file&) = delete;
  safetensors_file& operator=(const safetensors_file&) = delete;
  ~safetensors_file() {
    if (map_) ::munmap(map_, map_bytes_);
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  void read_header() {
    struct stat st{};
    if (::fstat(fd_, &st) != 0)
      fail(cat("cannot read the size of '", name_, "': ", std::strerror(errno)), "loading reads the whole file",
           "check that the path is a readable file");
    const std::uint64_t size = std::uint64_t(st.st_size);
    unsigned char len[8];
    if (size < 8 || !read_at(len, 8, 0))
      detail::bad_header(name_, cat("it has ", size, " bytes"),
                         "a safetensors file starts with an 8-byte header length");
    const std::uint64_t n = detail::read_le64(len);
    if (n > safetensors_max_header)
      detail::bad_header(name_, cat("its header length is ", n, " bytes, over the limit of ", safetensors_max_header),
                         "a header beyond 100 MB is refused before it is read");
    if (n > size - 8)
      detail::bad_header(name_, cat("its header length ", n, " runs beyond the file's ", size, " bytes"),
                         "the header follows the 8-byte length inside the file (the file may be truncated)");
    std::string json(n, '\0');
    if (!read_at(json.data(), n, 8)) detail::bad_header(name_, "its header cannot be read", "the file is readable");
    header_ = parse_safetensors_header(json, size - 8 - n, name_);
  }

 public:
  const safetensors_header& header() const { return header_; }
  const std::string& name() const { return name_; }

  /// Tensor `e`'s elements into `out` (its element count, F32 only).
  void read(const safetensors_entry& e, std::span<float> out) const {
    if (e.dtype != "F32")
      fail(cat(name_, ": tensor '", e.name, "' is ", e.dtype, ", not F32"),
           "plait's parameters and state are 32-bit floats", "save it as float32 (tensor.float() in PyTorch)");
    if (out.size() != e.elements())
      fail(cat(name_, ": tensor '", e.name, "' has ", e.elements(), " elements, not ", out.size()),
           "it is read into a buffer of its size", "pass a buffer of the tensor's element count");
    read_bytes(e, out.data());
  }
  /// Tensor `e`'s bytes in place: the file mapped read-only (its page cache, no copy; pages of a file
  /// larger than memory come and go as they are read). Null where the file cannot be mapped: use read.
  const unsigned char* mapped(const safetensors_entry& e) {
    if (!map_ && !map_failed_) {
      map_bytes_ = header_.data_start + header_.data_bytes;
      void* p = map_bytes_ ? ::mmap(nullptr, map_bytes_, PROT_READ, MAP_SHARED, fd_, 0) : MAP_FAILED;
      if (p == MAP_FAILED) {
        map_failed_ = true;
      } else {
        map_ = p;
        ::madvise(map_, map_bytes_, MADV_SEQUENTIAL);
        ::madvise(map_, map_bytes_, MADV_WILLNEED);
      }
    }
    return map_ ? static_cast<const unsigned char*>(map_) + header_.data_start + e.begin : nullptr;
  }

  /// Tensor `e`'s raw bytes (e.end - e.begin of them) into `out`.
  void read_bytes(const safetensors_entry& e, void* out) const {
    if (!read_at(out, e.end - e.begin, header_.data_start + e.begin))
      fail(cat(name_, ": tensor '", e.name, "' cannot be read"), "the file ended or failed while reading",
           "check that the file is complete and readable");
  }

 private:
  bool read_at(void* out, std::uint64_t n, std::uint64_t at) const {
    auto* p = static_cast<char*>(out);
    while (n > 0) {
      const ssize_t got = ::pread(fd_, p, std::min<std::uint64_t>(n, std::uint64_t{1} << 30), off_t(at));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      p += got, n -= std::uint64_t(got), at += std::uint64_t(got);
    }
    return true;
  }

  std::string name_;
  int fd_ = -1;
  safetensors_header header_;
  void* map_ = nullptr;
  std::size_t map_bytes_ = 0;
  bool map_failed_ = false;
};

}  // namespace plait
