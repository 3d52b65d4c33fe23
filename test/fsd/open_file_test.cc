// What an open file takes from meta's answers: only the newest size counts.
#include "fsd/open_file.h"

#include <gtest/gtest.h>

namespace scalefs {
namespace {

meta::Attr AttrOf(uint64_t size, int64_t ctime_ns) {
  meta::Attr a;
  a.set_ino(7);
  a.set_mode(0100644);
  a.set_size(size);
  a.set_ctime_ns(ctime_ns);
  return a;
}

uint64_t SizeHandedOut(OpenFile* f, meta::Attr a) {
  f->AdjustAttr(&a);
  return a.size();
}

// An open's answer that meta gave before this client's commit landed (the
// commit of a close the kernel sends after close returned) came after it:
// the file read short by the committed append (scalefs torture, seed 1616).
TEST(OpenFileTest, AnAttrOlderThanOneSeenBeforeKeepsTheNewerSize) {
  OpenFile f(7, nullptr, nullptr);
  f.Refresh(AttrOf(443105, 200));  // as the commit's reply left it
  f.Refresh(AttrOf(442706, 100));  // the open's, older
  EXPECT_EQ(SizeHandedOut(&f, AttrOf(442706, 100)), 443105u);
  // A newer attr moves the size either way (another client's truncate).
  EXPECT_EQ(SizeHandedOut(&f, AttrOf(1000, 300)), 1000u);
  EXPECT_EQ(SizeHandedOut(&f, AttrOf(443105, 200)), 1000u);
}

}  // namespace
}  // namespace scalefs
