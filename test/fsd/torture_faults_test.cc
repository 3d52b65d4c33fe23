#include "fsd/torture_faults.h"

#include <gtest/gtest.h>

namespace scalefs::torture {
namespace {

TEST(ParseFaultPlanTest, AScheduleKeepsEveryFaultInOrder) {
  auto plan = ParseFaultPlan(
      "5:kill:pair0a,20:stop:meta:4,30:cut:pair1a-client0:6,40:grow,50:isolate:pair1b,"
      "60:stop:client1:2,70:kill:client0,80:fill,90:delay:pair0a-pair0b:5,100:loss:client1-meta");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->faults.size(), 10u);
  EXPECT_FALSE(plan->random);
  EXPECT_EQ(plan->faults[0].kind, "kill");
  EXPECT_EQ(plan->faults[0].target, "pair0a");
  EXPECT_EQ(plan->faults[0].seconds, 3);
  EXPECT_EQ(plan->faults[1].seconds, 4);
  EXPECT_EQ(plan->faults[2].target, "pair1a");
  EXPECT_EQ(plan->faults[2].other, "client0");
  EXPECT_EQ(plan->faults[3].kind, "grow");
  EXPECT_EQ(plan->faults[3].at, 40);
  EXPECT_TRUE(plan->faults[3].target.empty());
  EXPECT_EQ(plan->faults[4].kind, "isolate");
  EXPECT_EQ(plan->faults[5].kind, "stop");
  EXPECT_EQ(plan->faults[5].target, "client1");
  EXPECT_EQ(plan->faults[5].seconds, 2);
  EXPECT_EQ(plan->faults[6].kind, "kill");
  EXPECT_EQ(plan->faults[6].target, "client0");
  EXPECT_EQ(plan->faults[7].kind, "fill");
  EXPECT_TRUE(plan->faults[7].target.empty());
  EXPECT_EQ(plan->faults[8].kind, "delay");
  EXPECT_EQ(plan->faults[8].target, "pair0a");
  EXPECT_EQ(plan->faults[8].other, "pair0b");
  EXPECT_EQ(plan->faults[8].seconds, 5);
  EXPECT_EQ(plan->faults[9].kind, "loss");
  EXPECT_EQ(plan->faults[9].target, "client1");
  EXPECT_EQ(plan->faults[9].other, "meta");
}

TEST(ParseFaultPlanTest, RandomIsAPlanOfItsOwn) {
  auto plan = ParseFaultPlan("random");
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->random);
  EXPECT_TRUE(plan->faults.empty());
}

TEST(ParseFaultPlanTest, BadEntriesAreRefusedNamingThem) {
  for (const char* bad : {"", "5:kill", "5:grow:pair0a", "x:kill:meta", "-1:kill:meta",
                          "5:isolate:meta", "5:cut:pair0a-pair0a",
                          "5:cut:pair0a", "5:stop:meta:0", "5:stop:meta:601", "5:melt:meta",
                          "20:kill:meta,10:grow", "5:kill:pair0c", "5:stop:clientx", "5:stop:client", "5:fill:meta",
                          "5:delay:pair0a", "5:loss:meta-meta", "5:delay:pair0a-disk"}) {
    auto plan = ParseFaultPlan(bad);
    EXPECT_FALSE(plan.ok()) << "'" << bad << "' was accepted";
    if (!plan.ok()) {
      EXPECT_EQ(plan.status().code(), Status::Code::kInvalid) << bad;
      EXPECT_NE(plan.status().message().find("--faults"), std::string::npos)
          << bad << ": " << plan.status().message();
    }
  }
}

}  // namespace
}  // namespace scalefs::torture
