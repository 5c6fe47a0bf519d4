// core/error.hpp: the one message format, `plait: <what>. <why>. Fix: <how>.`, and the calls that
// build and throw it.
#include <doctest/doctest.h>

#include <plait/core/error.hpp>
#include <string>

using namespace plait;

TEST_CASE("message joins what, why and fix in the library's one format") {
  CHECK(message("the batch is empty", "a step needs a sample", "skip empty batches") ==
        "plait: the batch is empty. a step needs a sample. Fix: skip empty batches.");
  CHECK(message("", "", "") == "plait: . . Fix: .");
}

TEST_CASE("fail throws a plait::error, a std::runtime_error, with the message") {
  try {
    fail("what", "why", "how");
    FAIL("fail returned");
  } catch (const std::runtime_error& e) {
    CHECK(dynamic_cast<const error*>(&e) != nullptr);
    CHECK(std::string(e.what()) == "plait: what. why. Fix: how.");
  }
}

TEST_CASE("expect throws only when its condition is false") {
  CHECK_NOTHROW(expect(true, "what", "why", "how"));
  CHECK_THROWS_WITH_AS(expect(false, "what", "why", "how"), "plait: what. why. Fix: how.", error);
}

TEST_CASE("fail_in puts where it happened after the prefix, once") {
  const error inner(message("a peer is gone", "it stopped answering", "check the peer"));
  CHECK_THROWS_WITH_AS(fail_in("rank 2", inner),
                       "plait: rank 2: a peer is gone. it stopped answering. Fix: check the peer.", error);
  // A text without the prefix keeps all of its text.
  CHECK_THROWS_WITH_AS(fail_in("here", error("odd text")), "plait: here: odd text", error);
}

TEST_CASE("cat joins text and numbers") {
  CHECK(cat("batch ", 32, " of ", std::size_t{64}) == "batch 32 of 64");
  CHECK(cat(std::string("a"), std::string_view("b"), "c") == "abc");
  CHECK(cat(-3) == "-3");
  CHECK(cat() == "");
}
