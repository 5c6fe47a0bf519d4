#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <plait/data/csv.hpp>
#include <string>
#include <vector>

#include "counting_new.hpp"
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

namespace {

template <class Read>
std::string error_of(Read read) {
  try {
    read();
  } catch (const plait::error& e) {
    return e.what();
  }
  return "no error";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("lines are read across chunk boundaries, with or without a final line break") {
  temp_dir dir;
  std::string text;
  std::vector<float> want;
  for (int i = 0; i < 20000; ++i) {  // about 300 KB: several of the reader's 64 KiB chunks
    text += std::to_string(i) + "," + std::to_string(i % 7) + ".25," + std::to_string(i % 3) + (i % 2 ? "\r\n" : "\n");
    want.push_back(static_cast<float>(i));
    want.push_back(static_cast<float>(i % 7) + 0.25f);
  }
  text += "1,2,1";  // no line break at the end
  want.push_back(1);
  want.push_back(2);
  const auto d = plait::read_csv<shape<2>, class_labels>(write(dir, "long.csv", text));
  CHECK(d.size() == 20001);
  CHECK(d.features() == want);
  CHECK(d.targets()[19999] == 19999 % 3);
  CHECK(d.targets()[20000] == 1);
}

// Issue 21: reading /dev/zero buffered about 2 GiB before failing. A line is now bounded.
TEST_CASE("a line longer than max_line_bytes fails with its line number, not a full buffer") {
  const auto read = plait::read_csv<shape<2>, class_labels>;
  CHECK(plait::csv_options{}.max_line_bytes == std::size_t{1} << 20);
  if (fs::exists("/dev/zero")) {
    plait::test::largest_new = 0;
    const std::string m = error_of([&] { read("/dev/zero", {}); });
    CHECK(m.rfind("plait: CSV file '/dev/zero' line 1 is longer than 1048576 bytes", 0) == 0);
    CHECK(contains(m, "csv_options::max_line_bytes"));
    CHECK(plait::test::largest_new.load() < std::size_t{4} << 20);
  }
  temp_dir dir;
  const auto p = write(dir, "wide.csv", "1,2,0\n1,2,0\n1234567,1234567,1\n");  // line 3: 17 bytes
  CHECK(contains(error_of([&] { read(p, {.max_line_bytes = 16}); }),
                 "'" + p.string() + "' line 3 is longer than 16 bytes"));
  CHECK(read(p, {.max_line_bytes = 17}).size() == 3);
}

// Issue 21: 1e39 and 3.5e38 were finite as doubles and stored as +-inf in float; "+-1" was read as -1.
TEST_CASE("numbers beyond float's range and doubled signs are refused, naming line and column") {
  temp_dir dir;
  const auto labels = [&](const std::string& text) {
    return error_of([&] { plait::read_csv<shape<2>, class_labels>(write(dir, "bad.csv", text)); });
  };
  const auto regression = [&](const std::string& text) {
    return error_of([&] { plait::read_csv<shape<1>, samples<shape<1>>>(write(dir, "bad.csv", text)); });
  };
  CHECK(contains(labels("1,2,0\n1e39,2,0\n"), "line 2 column 1: '1e39' is beyond float's range"));
  CHECK(contains(labels("1,3.5e38,0\n"), "line 1 column 2: '3.5e38' is beyond float's range"));
  CHECK(contains(labels("1,-1e39,0\n"), "line 1 column 2: '-1e39' is beyond float's range"));
  CHECK(contains(regression("1,2\n3,-3.5e38\n"), "line 2 column 2: '-3.5e38' is beyond float's range"));
  CHECK(contains(labels("+-1,2,0\n"), "line 1 column 1: '+-1' is not a number"));
  CHECK(contains(labels("1,++2,0\n"), "line 1 column 2: '++2' is not a number"));
  CHECK(contains(labels("1,2,+-1\n"), "line 1 column 3: '+-1' is not a number"));

  // The edge of the range still reads: float's largest value, and values that round to it.
  const auto d =
      plait::read_csv<shape<2>, class_labels>(write(dir, "edge.csv", "3.4028235e38,-3.4028235e38,+0\n1e-50,+1,1\n"));
  constexpr float max = std::numeric_limits<float>::max();
  CHECK(d.features() == std::vector<float>{max, -max, 0.0f, 1.0f});
  CHECK(d.targets() == std::vector<std::int32_t>{0, 1});
}

TEST_CASE("csv_options::max_bytes caps the data set as it grows") {
  temp_dir dir;
  const auto p = write(dir, "three.csv", "1,2,0\n3,4,1\n\n5,6,2\n");  // 12 bytes a row: 2 floats and 1 label
  const auto read = plait::read_csv<shape<2>, class_labels>;
  CHECK(plait::csv_options{}.max_bytes == std::uint64_t{4} << 30);
  CHECK(read(p, {.max_bytes = 36}).size() == 3);
  const std::string m = error_of([&] { read(p, {.max_bytes = 35}); });
  CHECK(m.rfind("plait: CSV file '", 0) == 0);
  CHECK(contains(m, "three.csv' up to line 4 claims 36 bytes of data, more than the cap of 35 bytes"));
  CHECK(contains(m, "csv_options::max_bytes"));
}

TEST_CASE("docs/data.md: read_csv with its options and limits") {
  temp_dir dir;
  const fs::path path = write(dir, "iris.csv",
                              "sepal_length,sepal_width,petal_length,petal_width,species\n"
                              "5.1,3.5,1.4,0.2,0\n6.3,3.3,6.0,2.5,2\n");
  // [docs:csv]
  // 4 features then the class id on each line; the first line names the columns.
  auto iris = plait::read_csv<shape<4>, class_labels>(
      path, {
                .header = true,
                .max_line_bytes = 4096,               // a longer line is an error naming it (default 1 MiB)
                .max_bytes = std::uint64_t{1} << 30,  // the largest data set returned (default 4 GiB)
            });
  // [/docs:csv]
  CHECK(iris.size() == 2);
  CHECK(iris.classes() == 3);
  CHECK(iris.features()[4] == 6.3f);
}
