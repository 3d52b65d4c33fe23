// `scalefs status`: every pair as /proc/drbd shows a resource, from meta's
// pair registry and the Info of both members. Gathering does the RPCs; the
// formatting below it is pure, so it is unit tested.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "fsd/meta_client.h"
#include "proto/chunk.pb.h"
#include "proto/meta.pb.h"
#include "proto/status.pb.h"

namespace scalefs {

// What one member said about itself, or why it said nothing.
struct MemberView {
  std::string address;
  bool reachable = false;
  std::string error;  // when unreachable
  chunk::InfoReply info;
};

struct PairView {
  meta::Pair pair;
  MemberView members[2];  // A, B
};

// PairList from meta, then Info of every member, all members in parallel;
// a member that does not answer within timeout_ms is shown unreachable.
Result<std::vector<PairView>> GatherPairViews(MetaClient* meta, int timeout_ms);

// "Primary" when the member accepts writes (connected and UpToDate, or
// holding meta's solo grant), "Secondary" when it does not, "Unknown" when it
// did not answer or does not report its state.
std::string RoleOf(const MemberView& m);

// DRBD's resync line: "[=====>..............] sync'ed: 28.4% (734/1024M)
// speed: 95,000 K/sec  finish: 0:00:07"; (left/total) in MiB.
std::string SyncProgressLine(uint64_t total_bytes, uint64_t done_bytes, uint64_t rate_bytes_per_sec);

// The block of one pair: a header, one line per member, a progress line
// while a resync runs.
std::string FormatPairView(const PairView& v);

// Capacity and free space of all pairs.
std::string FormatTotals(const std::vector<PairView>& views);

// common/pair_health.h's rule on what the members said.
bool PairHealthy(const PairView& v);

// What `scalefs status --json` prints; its health is what status exits with
// (StatusExitCode). `views` failed: meta unreachable. `sessions` may be null.
status::StatusReport MakeStatusReport(const std::string& meta_address,
                                      const Result<std::vector<PairView>>& views,
                                      const meta::SessionListReply* sessions);
// 0 healthy, 1 degraded, 2 meta unreachable.
int StatusExitCode(const status::StatusReport& report);

// 95000 -> "95,000".
std::string GroupThousands(uint64_t v);

}  // namespace scalefs
