#include "chunk/block_device.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include <gtest/gtest.h>

#include "common/layout.h"

namespace scalefs {
namespace {

class BlockDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/var/tmp/chunk_bd_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto dev = BlockDevice::Open(dir_ + "/dev.img", kSize);
    ASSERT_TRUE(dev.ok()) << dev.status().ToString();
    dev_ = std::move(*dev);
  }
  void TearDown() override {
    dev_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }
  static constexpr uint64_t kSize = 16 << 20;
  std::string dir_;
  std::unique_ptr<BlockDevice> dev_;
};

TEST_F(BlockDeviceTest, CreatesSparseFileOfRequestedSize) {
  EXPECT_EQ(dev_->size(), kSize);
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/dev.img").c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kSize);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, kSize);  // sparse
}

TEST_F(BlockDeviceTest, MissingDeviceWithoutSizeIsNotFound) {
  auto dev = BlockDevice::Open(dir_ + "/nope.img", 0);
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.status().code(), Status::Code::kNotFound);
}

TEST_F(BlockDeviceTest, WriteThenReadRoundTrips) {
  std::string data(3 * kBlockSize + 17, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(dev_->Write(kBlockSize + 5, data).ok());
  std::string out;
  ASSERT_TRUE(dev_->Read(kBlockSize + 5, data.size(), &out).ok());
  EXPECT_EQ(out, data);
  ASSERT_TRUE(dev_->Sync().ok());
  // Reopening sees the same bytes.
  dev_.reset();
  auto dev = BlockDevice::Open(dir_ + "/dev.img", 0);
  ASSERT_TRUE(dev.ok());
  ASSERT_TRUE((*dev)->Read(kBlockSize + 5, data.size(), &out).ok());
  EXPECT_EQ(out, data);
}

TEST_F(BlockDeviceTest, ZeroLengthIsNoOp) {
  std::string out = "junk";
  EXPECT_TRUE(dev_->Read(kSize, 0, &out).ok());
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(dev_->Write(kSize, "").ok());
}

TEST_F(BlockDeviceTest, BoundsAreChecked) {
  std::string out;
  Status s = dev_->Read(kSize - 10, 20, &out);
  EXPECT_EQ(s.code(), Status::Code::kRange);
  EXPECT_EQ(s.message(), "read [16777206, 16777226) beyond device of 16777216 bytes");
  EXPECT_EQ(dev_->Read(UINT64_MAX - 5, 10, &out).code(), Status::Code::kRange);
  EXPECT_EQ(dev_->Read(0, kMaxIoSize + 1, &out).code(), Status::Code::kTooBig);
  EXPECT_TRUE(dev_->Read(0, kMaxIoSize, &out).ok());
  EXPECT_EQ(dev_->Write(kSize - 1, "ab").code(), Status::Code::kRange);
  EXPECT_EQ(dev_->Write(UINT64_MAX, "a").code(), Status::Code::kRange);
  EXPECT_EQ(dev_->Write(0, std::string(kMaxIoSize + 1, 'a')).code(), Status::Code::kTooBig);
  // Nothing was written by the refused requests.
  ASSERT_TRUE(dev_->Read(kSize - 4096, 4096, &out).ok());
  EXPECT_EQ(out, std::string(4096, '\0'));
  ASSERT_TRUE(dev_->Read(0, 4096, &out).ok());
  EXPECT_EQ(out, std::string(4096, '\0'));
}

TEST_F(BlockDeviceTest, ChecksumPerBlock) {
  std::string data(2 * kBlockSize, 'a');
  data.replace(kBlockSize, kBlockSize, std::string(kBlockSize, 'b'));
  ASSERT_TRUE(dev_->Write(0, data).ok());
  auto crcs = dev_->Checksum(0, 2 * kBlockSize + 100, kBlockSize);
  ASSERT_TRUE(crcs.ok());
  ASSERT_EQ(crcs->size(), 3u);
  auto crc = [](const std::string& s) {
    return static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
  };
  EXPECT_EQ((*crcs)[0], crc(std::string(kBlockSize, 'a')));
  EXPECT_EQ((*crcs)[1], crc(std::string(kBlockSize, 'b')));
  EXPECT_EQ((*crcs)[2], crc(std::string(100, '\0')));
  // Whole device in one request crosses several read runs.
  auto all = dev_->Checksum(0, kSize, kBlockSize);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), kSize / kBlockSize);
  EXPECT_EQ((*all)[1], (*crcs)[1]);
  EXPECT_EQ(dev_->Checksum(kSize - 1, 2, kBlockSize).status().code(), Status::Code::kRange);
  EXPECT_EQ(dev_->Checksum(0, 1, 0).status().code(), Status::Code::kInvalid);
}

// Large aligned reads and writes bypass the page cache, small or unaligned
// ones go through it; a read must see the latest bytes whichever way each
// came (here the large reads are direct, over dirty cached pages too).
TEST_F(BlockDeviceTest, DirectAndCachedWritesStayCoherent) {
  // The test directory is on the machine's own file system, which takes
  // O_DIRECT (ext4 here and in CI); without it this would test nothing new.
  ASSERT_TRUE(dev_->direct_io()) << "no O_DIRECT on the file system of " << dir_;
  const uint64_t big = BlockDevice::kMinDirectIo * 2;
  auto pattern = [](uint64_t n, int seed) {
    std::string s(n, '\0');
    for (uint64_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 13 + seed);
    return s;
  };
  std::string want = pattern(big, 1);
  ASSERT_TRUE(dev_->Write(0, want).ok());  // direct
  std::string out;
  ASSERT_TRUE(dev_->Read(0, big, &out).ok());
  EXPECT_EQ(out, want);
  // An unaligned write through the cache on top of the direct one.
  const std::string small = pattern(5000, 2);
  ASSERT_TRUE(dev_->Write(kBlockSize + 100, small).ok());
  want.replace(kBlockSize + 100, small.size(), small);
  ASSERT_TRUE(dev_->Read(0, big, &out).ok());
  EXPECT_EQ(out, want);
  // A direct write over cached (and dirty) pages: no stale page survives.
  // From a buffer at an odd address, which the device copies to align.
  std::string shifted = " " + pattern(big, 3);
  ASSERT_TRUE(dev_->Write(0, std::string_view(shifted).substr(1)).ok());
  ASSERT_TRUE(dev_->Read(0, big, &out).ok());
  EXPECT_EQ(out, shifted.substr(1));
  ASSERT_TRUE(dev_->Sync().ok());
  dev_.reset();
  auto dev = BlockDevice::Open(dir_ + "/dev.img", 0, /*direct_io=*/false);
  ASSERT_TRUE(dev.ok());
  EXPECT_FALSE((*dev)->direct_io());
  ASSERT_TRUE((*dev)->Read(0, big, &out).ok());
  EXPECT_EQ(out, shifted.substr(1));
}

TEST(ParseByteSizeTest, Suffixes) {
  EXPECT_EQ(*ParseByteSize("4096"), 4096u);
  EXPECT_EQ(*ParseByteSize("64K"), 64u << 10);
  EXPECT_EQ(*ParseByteSize("512M"), 512u << 20);
  EXPECT_EQ(*ParseByteSize("1G"), 1ull << 30);
  EXPECT_FALSE(ParseByteSize("").ok());
  EXPECT_FALSE(ParseByteSize("12Q").ok());
  EXPECT_FALSE(ParseByteSize("G").ok());
  EXPECT_FALSE(ParseByteSize("99999999999999T").ok());
}

}  // namespace
}  // namespace scalefs
