// Deliberate bugs for tests that prove a checker can fail. Only test
// binaries define SCALEFS_TEST_FAULTS (test/CMakeLists.txt builds the client
// `scalefs-test-faults` with it); the installed programs hold no trace of
// the switch, the flag or the faulty code.
#pragma once

#ifdef SCALEFS_TEST_FAULTS
namespace scalefs {

// True when --test_fault names `fault`:
//   skip_commit: OpenFile never tells meta about written data (close, fsync,
//                lock release, truncate); the data reaches the pair, the
//                size and the written extents never change in meta.
bool TestFault(const char* fault);

}  // namespace scalefs
#endif
