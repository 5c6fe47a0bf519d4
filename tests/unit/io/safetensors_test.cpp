// The safetensors format (io/safetensors.hpp, io/safetensors_writer.hpp): what the writer makes reads
// back, and every malformed header is refused with a plait error that says what is wrong.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <plait/io/safetensors.hpp>
#include <plait/io/safetensors_writer.hpp>
#include <string>
#include <vector>

using namespace plait;

namespace {
// A file: the 8-byte length, `json`, then `data` bytes.
std::vector<unsigned char> file_of(const std::string& json, std::size_t data, std::uint64_t length = ~0ull) {
  if (length == ~0ull) length = json.size();
  std::vector<unsigned char> f(8 + json.size() + data, 0);
  for (int k = 0; k < 8; ++k) f[std::size_t(k)] = static_cast<unsigned char>(length >> (8 * k));
  std::memcpy(f.data() + 8, json.data(), json.size());
  return f;
}
std::string refusal(const std::string& json, std::size_t data, std::uint64_t length = ~0ull) {
  try {
    parse_safetensors(file_of(json, data, length), "f");
  } catch (const plait::error& e) {
    return e.what();
  }
  return "accepted";
}
}  // namespace

TEST_CASE("a well-formed header parses, tensors sorted by offset, metadata kept") {
  const auto h = parse_safetensors(
      file_of(R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[24,32]},"__metadata__":{"format":"pt"},)"
              R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})",
              32));
  REQUIRE(h.tensors.size() == 2);
  CHECK(h.tensors[0].name == "a");
  CHECK(h.tensors[0].shape == std::vector<std::uint64_t>{2, 3});
  CHECK(h.tensors[1].begin == 24);
  CHECK(h.meta("format") == "pt");
  CHECK(h.find("c") == nullptr);
  CHECK_THROWS_WITH_AS(h.at("c"), doctest::Contains("plait: the checkpoint has no tensor 'c'"), plait::error);
}

TEST_CASE("malformed headers are refused, naming the tensor and what differs") {
  const std::string ok = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  CHECK(refusal(ok, 8) == "accepted");
  CHECK(refusal("", 0, 0).find("not valid JSON") != std::string::npos);
  CHECK(std::string(refusal(ok, 8, 1ull << 40)).find("over the limit") != std::string::npos);
  CHECK(refusal(ok, 8, ok.size() + 100).find("runs beyond the file") != std::string::npos);
  CHECK(refusal("[1,2]", 0).find("not a JSON object") != std::string::npos);
  CHECK(refusal("{\"w\":", 0).find("not valid JSON") != std::string::npos);
  CHECK(refusal(ok, 4).find("tensor 'w' ends at byte 8 of a data section of 4") != std::string::npos);
  CHECK(refusal(ok, 12).find("the tensors end at byte 8 of a data section of 12") != std::string::npos);
  CHECK(refusal(R"({"w":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})", 8).find("unknown dtype 'F31'") !=
        std::string::npos);
  CHECK(refusal(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)
            .find("tensor 'w' of shape [3] and dtype F32 needs 12 bytes") != std::string::npos);
  CHECK(refusal(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8).find("ends before it begins") !=
        std::string::npos);
  CHECK(
      refusal(
          R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
          12)
          .find("tensor 'v' overlaps") != std::string::npos);
  CHECK(refusal(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8).find("leaving a gap") !=
        std::string::npos);
  CHECK(refusal(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", 8).find("not a count") !=
        std::string::npos);
  CHECK(refusal(R"({"w":{"dtype":"F32","shape":[2]}})", 8).find("no data_offsets") != std::string::npos);
  CHECK(refusal(R"({"__metadata__":{"k":1}})", 0).find("metadata 'k' is not a string") != std::string::npos);
  CHECK(refusal(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8).find("overflows") !=
        std::string::npos);
  std::vector<unsigned char> tiny(5, 0);
  CHECK_THROWS_WITH_AS(parse_safetensors(tiny, "f"), doctest::Contains("plait: f: it has 5 bytes"), plait::error);
  for (const std::string& bad : {refusal(ok, 4), refusal("[1]", 0)}) CHECK(bad.starts_with("plait: f: "));
}

TEST_CASE("the writer's file reads back: header, data, checksums; F32 only as floats") {
  const auto path = std::filesystem::temp_directory_path() / "plait_safetensors_test.safetensors";
  const std::vector<float> a{1, 2, 3, 4, 5, 6}, b{-1, 0.5f};
  const std::int64_t steps = 7;
  {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    safetensors_writer w(fd, {{"a", {2, 3}}, {"n", {}, "I64"}, {"b", {2}}}, {{"format", "pt"}});
    w.write(2, b.data());
    w.write(0, a.data());
    w.write(1, &steps);
    w.finish();
    ::close(fd);
    CHECK(std::filesystem::file_size(path) == w.file_bytes());
    CHECK((w.file_bytes() - 8 - 6 * 4 - 2 * 4 - 8) % 8 == 0);  // the header padded to 8 bytes
  }
  const safetensors_file f(path);
  const auto& h = f.header();
  CHECK(h.meta("format") == "pt");
  CHECK(h.meta("plait.checksum.a") == hex64(checksum64(a.data(), a.size() * 4)));
  std::vector<float> got(6);
  f.read(h.at("a"), got);
  CHECK(got == a);
  CHECK(h.at("n").shape.empty());
  CHECK_THROWS_WITH_AS(f.read(h.at("n"), std::span<float>(got.data(), 1)),
                       doctest::Contains("tensor 'n' is I64, not F32"), plait::error);
  CHECK_THROWS_WITH_AS(f.read(h.at("b"), got), doctest::Contains("tensor 'b' has 2 elements, not 6"), plait::error);
  std::filesystem::remove(path);
  CHECK_THROWS_WITH_AS(safetensors_file{path}, doctest::Contains("cannot open"), plait::error);
}

TEST_CASE("checksum64 sees every byte") {
  std::vector<unsigned char> v(1000, 7);
  const auto h = checksum64(v.data(), v.size());
  for (std::size_t i : {0, 31, 32, 500, 999}) {
    v[i] ^= 1;
    CHECK(checksum64(v.data(), v.size()) != h);
    v[i] ^= 1;
  }
  CHECK(checksum64(v.data(), 999) != h);
}
