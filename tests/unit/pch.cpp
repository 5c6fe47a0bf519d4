// The translation unit that compiles the host tests' precompiled header (tests/CMakeLists.txt).
