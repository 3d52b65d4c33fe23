// A 1 GiB file of random bytes survives unmount/remount and SIGKILL of every
// process once its writer's fsync returned, and each of its blocks sits,
// identical, on both members of its pair (read from the devices directly).
#include <fcntl.h>
#include <unistd.h>

#include <csignal>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

constexpr uint64_t kSize = 1ull << 30;
constexpr uint64_t kSeed = 0x5ca1ef5;

void CheckBothMembersHold(Cluster& c, const std::string& name) {
  auto meta = c.MetaStub();
  grpc::ClientContext lctx;
  meta::LookupRequest lreq;
  lreq.set_parent(1);
  lreq.set_name(name);
  meta::AttrReply attr;
  ASSERT_TRUE(meta->Lookup(&lctx, lreq, &attr).ok());

  grpc::ClientContext ectx;
  meta::ExtentsRequest ereq;
  ereq.set_ino(attr.attr().ino());
  ereq.set_offset(0);
  ereq.set_length(kSize);
  meta::ExtentsReply extents;
  ASSERT_TRUE(meta->GetExtents(&ectx, ereq, &extents).ok());

  grpc::ClientContext pctx;
  meta::PairListReply pairs;
  ASSERT_TRUE(meta->PairList(&pctx, meta::Empty(), &pairs).ok());
  uint64_t covered = 0;
  std::map<uint32_t, int> pairs_used;
  for (const auto& e : extents.extents()) {
    ASSERT_TRUE(e.written()) << "extent at file offset " << e.file_offset() << " is unwritten";
    covered += e.length();
    pairs_used[e.pair()]++;
    // The cluster registered pair k as "pairk": find its member images.
    int index = -1;
    for (const auto& p : pairs.pairs())
      if (p.id() == e.pair()) index = std::stoi(p.name().substr(4));
    ASSERT_GE(index, 0) << "extent on unknown pair " << e.pair();
    std::string expect = PatternBytes(kSeed, e.file_offset(), e.length());
    for (int m = 0; m < 2; ++m) {
      auto got = ReadAt(c.DevicePath(index, m), e.dev_offset(), e.length());
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_TRUE(*got == expect) << Cluster::MemberName(index, m) << " differs for file range ["
                                  << e.file_offset() << ", +" << e.length() << ")";
    }
  }
  EXPECT_EQ(covered, kSize) << "extents do not cover the file exactly";
  EXPECT_EQ(pairs_used.size(), 2u) << "the file is not striped over both pairs";
}

TEST(Durability, GibFileSurvivesRemountAndKillOfEveryProcess) {
  Cluster c;
  ASSERT_OK(c.Start());
  const std::string path = c.mnt() + "/big";
  ASSERT_OK(WritePatternFile(path, kSeed, kSize));
  ASSERT_OK(CheckPatternFile(path, kSeed, kSize));

  ASSERT_OK(c.Unmount());
  ASSERT_OK(c.Mount());
  ASSERT_OK(CheckPatternFile(path, kSeed, kSize)) << "after remount";

  // SIGKILL everything: the client, meta and every member.
  c.Kill("client");
  for (const auto& name : c.DaemonNames()) c.Kill(name);
  ASSERT_OK(c.Unmount());  // detaches the dead client's mount
  for (const auto& name : c.DaemonNames()) ASSERT_OK(c.StartDaemon(name));
  ASSERT_OK(c.Mount());
  ASSERT_OK(CheckPatternFile(path, kSeed, kSize)) << "after SIGKILL of every process";

  CheckBothMembersHold(c, "big");
}

}  // namespace
}  // namespace scalefs::test
