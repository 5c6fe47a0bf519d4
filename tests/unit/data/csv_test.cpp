#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <plait/data/csv.hpp>
#include <string>
#include <vector>

#include "temp_files.hpp"

namespace fs = std::filesystem;
using plait::class_labels;
using plait::samples;
using plait::shape;

namespace {

using plait::test::temp_dir;

fs::path write(const temp_dir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir / name, std::ios::binary) << text;
  return dir / name;
}

}  // namespace

TEST_CASE("labels in the last column by default") {
  temp_dir dir;
  const auto p = write(dir, "iris.csv", "5.1,3.5,1.4,0\n4.9, 3.0 ,1.4e0,2\r\n\n-1,+2,.5,1\n");
  const auto d = plait::read_csv<shape<3>, class_labels>(p);
  CHECK(d.size() == 3);
  CHECK(d.features() == std::vector<float>{5.1f, 3.5f, 1.4f, 4.9f, 3.0f, 1.4f, -1.0f, 2.0f, 0.5f});
  CHECK(d.targets() == std::vector<std::int32_t>{0, 2, 1});
  CHECK(d.classes() == 3);
}

TEST_CASE("header, another delimiter, and the label in the first column") {
  temp_dir dir;
  const auto p = write(dir, "mnist-like.tsv", "label\tp0\tp1\tp2\tp3\n7\t0\t1\t2\t3\n3.0\t4\t5\t6\t7\n");
  const auto d = plait::read_csv<shape<2, 2>, class_labels>(p, {.delimiter = '\t', .header = true, .label_column = 0});
  CHECK(d.size() == 2);
  CHECK(d.features() == std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(d.targets() == std::vector<std::int32_t>{7, 3});
}

TEST_CASE("regression targets: YShape::size columns from label_column on") {
  temp_dir dir;
  const auto p = write(dir, "reg.csv", "1,10,11,2,3\n4,12,13,5,6\n");
  const auto d = plait::read_csv<shape<3>, samples<shape<2>>>(p, {.label_column = 1});
  CHECK(d.features() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(d.targets() == std::vector<float>{10, 11, 12, 13});
  const auto last = plait::read_csv<shape<3>, samples<shape<2>>>(p);  // default: the last two columns
  CHECK(last.features() == std::vector<float>{1, 10, 11, 4, 12, 13});
  CHECK(last.targets() == std::vector<float>{2, 3, 5, 6});
}

TEST_CASE("bad files are plait::errors naming file, line and column") {
  temp_dir dir;
  using read = decltype(&plait::read_csv<shape<2>, class_labels>);
  const read load = &plait::read_csv<shape<2>, class_labels>;
  auto error_of = [&](const std::string& text, plait::csv_options o = {}) -> std::string {
    try {
      load(write(dir, "bad.csv", text), o);
    } catch (const plait::error& e) {
      return e.what();
    }
    return "no error";
  };
  auto check = [&](const std::string& message, const std::string& part) {
    CAPTURE(message);
    CHECK(message.rfind("plait: ", 0) == 0);
    CHECK(message.find("bad.csv") != std::string::npos);
    CHECK(message.find(part) != std::string::npos);
  };

  check(error_of("1,2,0\n3,4\n"), "line 2 column 3: the row has 2 fields");      // the first missing field
  check(error_of("1,2,0\n3,4,1,9\n"), "line 2 column 4: the row has 4 fields");  // the first extra field
  check(error_of("1,2,0\n3,x,1\n"), "line 2 column 2: 'x' is not a number");
  check(error_of("1,2,0\n3,,1\n"), "line 2 column 2: '' is not a number");
  check(error_of("1,2,0\n3,4.5.6,1\n"), "'4.5.6' is not a number");
  check(error_of("1,nan,0\n"), "line 1 column 2: 'nan' is not a number");
  check(error_of("a,b,label\n1,2,0\n"), "line 1 column 1: 'a' is not a number");  // header not declared
  check(error_of("1,2,-1\n"), "line 1 column 3: the class label '-1' is not an integer >= 0");
  check(error_of("1,2,0.5\n"), "the class label '0.5' is not an integer >= 0");
  check(error_of("1,2,3e10\n"), "the class label '3e10'");
  check(error_of("1;2;0\n"), "line 1 column 2: the row has 1 fields");  // wrong delimiter: column 2 is missing
  check(error_of(""), "has no data rows");
  check(error_of("a,b,c\n", {.header = true}), "has no data rows");
  check(error_of("1,2,0\n", {.label_column = 3}), "label_column 3 leaves no room");

  const std::string missing = [&] {
    try {
      load(dir.path / "absent.csv", {});
    } catch (const plait::error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  }();
  CHECK(missing.rfind("plait: cannot open CSV file", 0) == 0);
  CHECK(missing.find("absent.csv") != std::string::npos);
}
