#include "fsd/caller.h"

#include <gtest/gtest.h>

namespace scalefs {
namespace {

TEST(CallerTest, ReadsGroupsAndEffectiveCapabilities) {
  const CallerCredentials c = ParseProcStatus(
      "Name:\tsetfacl\nUid:\t1000\t1000\t1000\t1000\nGroups:\t5 2000 65534 \n"
      "CapPrm:\t000001ffffffffff\nCapEff:\t0000000000000010\n");
  EXPECT_EQ(c.groups, (std::vector<uint32_t>{5, 2000, 65534}));
  EXPECT_EQ(c.effective_caps, 0x10u);  // CAP_FSETID alone
}

TEST(CallerTest, NoGroupsAndNoCapabilities) {
  const CallerCredentials c = ParseProcStatus("Groups:\t\nCapEff:\t0000000000000000\n");
  EXPECT_TRUE(c.groups.empty());
  EXPECT_EQ(c.effective_caps, 0u);
  // A process gone meanwhile: nothing read, nothing granted.
  EXPECT_EQ(ParseProcStatus("").effective_caps, 0u);
}

}  // namespace
}  // namespace scalefs
