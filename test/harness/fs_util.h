// Plain POSIX file helpers for tests that drive a mount.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace scalefs::test {

// Deterministic pseudo-random bytes (xorshift), so a test can regenerate
// what it wrote instead of keeping a gigabyte in memory.
std::string PatternBytes(uint64_t seed, uint64_t offset, size_t n);

Status WriteFile(const std::string& path, const std::string& data, bool fsync_it = true);
Result<std::string> ReadFile(const std::string& path);
// pread of exactly n bytes (fewer only at EOF).
Result<std::string> ReadAt(const std::string& path, uint64_t offset, size_t n);
// Writes `size` pattern bytes of `seed` in 1 MiB writes, then fsyncs.
Status WritePatternFile(const std::string& path, uint64_t seed, uint64_t size);
// Checks the file holds exactly the pattern; the message names the first difference.
Status CheckPatternFile(const std::string& path, uint64_t seed, uint64_t size);

}  // namespace scalefs::test
