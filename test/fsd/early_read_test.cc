#include "fsd/early_read.h"

#include <gtest/gtest.h>

namespace scalefs {
namespace {

meta::Attr Attr() {
  meta::Attr a;
  a.set_ino(9);
  a.set_size(5000);
  a.set_mtime_ns(100);
  a.set_ctime_ns(200);
  return a;
}

meta::Extent Ext(uint64_t dev_offset) {
  meta::Extent e;
  e.set_length(8192);
  e.set_pair(0);
  e.set_dev_offset(dev_offset);
  e.set_written(true);
  return e;
}

TEST(EarlyReadTest, SameFileContentsComparesWhatTheBytesDependOn) {
  const meta::Attr a = Attr();
  const std::vector<meta::Extent> x{Ext(4096)};
  EXPECT_TRUE(SameFileContents(a, x, a, x));
  meta::Attr b = a;
  b.set_ctime_ns(201);  // rewritten, even with the old mtime put back
  EXPECT_FALSE(SameFileContents(a, x, b, x));
  b = a;
  b.set_mtime_ns(101);
  EXPECT_FALSE(SameFileContents(a, x, b, x));
  b = a;
  b.set_size(4999);
  EXPECT_FALSE(SameFileContents(a, x, b, x));
  b = a;
  b.set_atime_ns(5);  // a read elsewhere changes nothing
  EXPECT_TRUE(SameFileContents(a, x, b, x));
  EXPECT_FALSE(SameFileContents(a, x, a, {Ext(8192)})) << "moved to other blocks";
  std::vector<meta::Extent> unwritten{Ext(4096)};
  unwritten[0].set_written(false);
  EXPECT_FALSE(SameFileContents(a, x, a, unwritten));
  EXPECT_FALSE(SameFileContents(a, x, a, {Ext(4096), Ext(12288)}));
}

}  // namespace
}  // namespace scalefs
