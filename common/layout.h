// Block and stripe arithmetic shared by meta (which allocates) and fsd
// (which moves the data): both must agree which pair holds a file offset.
#pragma once

#include <cstdint>

namespace scalefs {

inline constexpr uint64_t kBlockSize = 4096;
inline constexpr uint64_t kDefaultStripeUnit = 1 << 20;
// A chunk request carries at most this much data; larger ones are refused.
inline constexpr uint64_t kMaxIoSize = 4 << 20;
// gRPC message limit: the largest request plus room for its header.
inline constexpr int kMaxMessageSize = static_cast<int>(kMaxIoSize) + (64 << 10);
inline constexpr uint64_t kMaxNameLength = 255;

inline constexpr uint64_t RoundDown(uint64_t v, uint64_t a) { return v / a * a; }
inline constexpr uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Index into Layout.pairs of the pair holding file offset `off`.
inline constexpr uint64_t StripeSlot(uint64_t off, uint64_t unit, uint64_t width) {
  return (off / unit) % width;
}

}  // namespace scalefs
