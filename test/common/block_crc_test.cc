#include "common/block_crc.h"

#include <gtest/gtest.h>

#include <string>

namespace scalefs {
namespace {

TEST(Crc32cTest, StandardCheckValues) {
  // RFC 3720 B.4 and the usual check value of CRC-32C.
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(PieceCrcsTest, CutAtDeviceBlockBoundaries) {
  const std::string data(10000, 'x');
  // From 4000: [4000, 4096) [4096, 8192) [8192, 12288) [12288, 14000).
  const std::vector<uint32_t> crcs = PieceCrcs(4000, data);
  ASSERT_EQ(crcs.size(), 4u);
  EXPECT_EQ(crcs[0], Crc32c(std::string(96, 'x')));
  EXPECT_EQ(crcs[1], Crc32c(std::string(4096, 'x')));
  EXPECT_EQ(crcs[2], Crc32c(std::string(4096, 'x')));
  EXPECT_EQ(crcs[3], Crc32c(std::string(1712, 'x')));
  EXPECT_EQ(PieceCrcs(8192, std::string(8192, 'y')).size(), 2u);
  EXPECT_EQ(PieceCrcs(100, std::string(10, 'y')).size(), 1u);
  EXPECT_TRUE(PieceCrcs(0, "").empty());
}

// What a reader checks a member's reply with: the block that changed on the
// way is named by its device offset.
TEST(PieceCrcsTest, FirstMismatchNamesTheBlockThatChanged) {
  std::string data(3 * 4096, 'z');
  const std::vector<uint32_t> sent = PieceCrcs(8192, data);
  EXPECT_EQ(FirstMismatch(8192, data, sent.data(), sent.size()), std::nullopt);
  data[4096 + 17] ^= 1;
  EXPECT_EQ(FirstMismatch(8192, data, sent.data(), sent.size()), std::optional<uint64_t>(12288));
  EXPECT_EQ(FirstMismatch(8192, data, sent.data(), 2), std::optional<uint64_t>(8192));
}

}  // namespace
}  // namespace scalefs
