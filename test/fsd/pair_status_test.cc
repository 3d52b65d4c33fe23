#include "fsd/pair_status.h"

#include <gtest/gtest.h>

namespace scalefs {
namespace {

PairView TwoMembers() {
  PairView v;
  v.pair.set_id(1);
  v.pair.set_name("pair0");
  v.pair.set_generation(3);
  v.pair.set_capacity(1ull << 30);
  v.pair.set_free(900ull << 20);
  v.pair.set_address_a("127.0.0.1:7601");
  v.pair.set_address_b("127.0.0.1:7602");
  for (int i = 0; i < 2; ++i) {
    MemberView& m = v.members[i];
    m.address = i == 0 ? v.pair.address_a() : v.pair.address_b();
    m.reachable = true;
    m.info.set_pair_id(1);
    m.info.set_member_index(i);
    m.info.set_generation(3);
    m.info.set_connection_state("Connected");
    m.info.set_disk_state("UpToDate");
    m.info.set_peer_disk_state("UpToDate");
  }
  return v;
}

TEST(PairStatusTest, ConnectedPairLooksLikeProcDrbd) {
  EXPECT_EQ(FormatPairView(TwoMembers()),
            "pair0 (id 1) generation 3  capacity 1.0G  free 900.0M\n"
            "  A 127.0.0.1:7601  cs:Connected ro:Primary/Primary ds:UpToDate/UpToDate  oos:0\n"
            "  B 127.0.0.1:7602  cs:Connected ro:Primary/Primary ds:UpToDate/UpToDate  oos:0\n");
}

TEST(PairStatusTest, ResyncShowsRolesAndProgress) {
  PairView v = TwoMembers();
  chunk::InfoReply& a = v.members[0].info;
  a.set_connection_state("SyncSource");
  a.set_peer_disk_state("Inconsistent");
  a.set_out_of_sync_bytes(734ull << 20);
  a.set_sync_total_bytes(1024ull << 20);
  a.set_sync_done_bytes(290ull << 20);
  a.set_sync_rate_bytes_per_sec(95000ull * 1024);
  chunk::InfoReply& b = v.members[1].info;
  b.set_connection_state("SyncTarget");
  b.set_disk_state("Inconsistent");
  const std::string text = FormatPairView(v);
  EXPECT_NE(text.find("  A 127.0.0.1:7601  cs:SyncSource ro:Primary/Secondary "
                      "ds:UpToDate/Inconsistent  oos:751616\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  B 127.0.0.1:7602  cs:SyncTarget ro:Secondary/Primary "
                      "ds:Inconsistent/UpToDate  oos:0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  [=====>..............] sync'ed: 28.3% (734/1024M)  speed: 95,000 K/sec  "
                      "finish: 0:00:08\n"),
            std::string::npos)
      << text;
}

TEST(PairStatusTest, SoloAndUnreachableMember) {
  PairView v = TwoMembers();
  v.pair.set_solo(1);
  v.members[0].info.set_connection_state("WFConnection");
  v.members[0].info.set_peer_disk_state("");
  v.members[0].info.set_solo(true);
  v.members[1].reachable = false;
  v.members[1].error = "failed to connect";
  const std::string text = FormatPairView(v);
  EXPECT_NE(text.find("solo:A"), std::string::npos) << text;
  EXPECT_NE(text.find("cs:WFConnection ro:Primary/Unknown ds:UpToDate/DUnknown  oos:0  solo"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  B 127.0.0.1:7602  cs:Unreachable ro:Unknown/Primary"), std::string::npos)
      << text;
}

TEST(PairStatusTest, MembersWithoutStateFieldsShowUnknown) {
  PairView v = TwoMembers();
  for (MemberView& m : v.members) {
    m.info.clear_connection_state();
    m.info.clear_disk_state();
    m.info.clear_peer_disk_state();
  }
  v.members[1].info.set_generation(2);
  const std::string text = FormatPairView(v);
  EXPECT_NE(text.find("cs:Unknown ro:Unknown/Unknown ds:Unknown/DUnknown  oos:0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("gen:2"), std::string::npos) << text;
  EXPECT_EQ(FormatTotals({v, v}),
            "total: 2 pairs, 4/4 members reachable, capacity 2.0G, free 1.8G\n");
}

TEST(PairStatusTest, ProgressLineEnds) {
  EXPECT_EQ(SyncProgressLine(100 << 20, 0, 0),
            "[>...................] sync'ed: 0.0% (100/100M)  speed: 0 K/sec  finish: -");
  EXPECT_EQ(SyncProgressLine(100 << 20, 100 << 20, 1 << 20),
            "[===================>] sync'ed: 100.0% (0/100M)  speed: 1,024 K/sec  finish: 0:00:00");
  EXPECT_EQ(GroupThousands(0), "0");
  EXPECT_EQ(GroupThousands(999), "999");
  EXPECT_EQ(GroupThousands(1000), "1,000");
  EXPECT_EQ(GroupThousands(1234567), "1,234,567");
}

// status exits 0 only when every pair is whole; a member down, a resync
// or a member writing alone is degraded (1); no meta is 2.
TEST(PairStatusTest, HealthIsWhatStatusExitsWith) {
  const Result<std::vector<PairView>> whole = std::vector<PairView>{TwoMembers(), TwoMembers()};
  status::StatusReport r = MakeStatusReport("127.0.0.1:7600", whole, nullptr);
  EXPECT_EQ(r.health(), "healthy");
  EXPECT_EQ(StatusExitCode(r), 0);
  EXPECT_EQ(r.pairs_size(), 2);
  EXPECT_EQ(r.capacity_bytes(), 2ull << 30);
  EXPECT_EQ(r.pairs(0).members(1).role(), "Primary");

  auto degraded = [](void (*change)(PairView*)) {
    std::vector<PairView> views{TwoMembers(), TwoMembers()};
    change(&views[1]);
    const Result<std::vector<PairView>> v = views;
    return MakeStatusReport("m", v, nullptr);
  };
  for (auto change : std::vector<void (*)(PairView*)>{
           [](PairView* v) { v->members[0].reachable = false; },
           [](PairView* v) { v->members[1].info.set_connection_state("SyncTarget"); },
           [](PairView* v) { v->members[0].info.set_peer_disk_state("Inconsistent"); },
           [](PairView* v) { v->members[1].info.set_disk_state("Outdated"); },
           [](PairView* v) { v->pair.set_solo(2); },
       }) {
    r = degraded(change);
    EXPECT_EQ(r.health(), "degraded");
    EXPECT_EQ(StatusExitCode(r), 1);
    EXPECT_TRUE(r.pairs(0).healthy());
    EXPECT_FALSE(r.pairs(1).healthy());
  }

  const Result<std::vector<PairView>> none = Status::Unavailable("connection refused");
  r = MakeStatusReport("127.0.0.1:7600", none, nullptr);
  EXPECT_EQ(r.health(), "unreachable");
  EXPECT_EQ(StatusExitCode(r), 2);
  EXPECT_NE(r.error().find("connection refused"), std::string::npos);
}

}  // namespace
}  // namespace scalefs
