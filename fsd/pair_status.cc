#include "fsd/pair_status.h"
#include "common/rpc_channel.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <future>

#include "common/layout.h"
#include "common/pair_health.h"
#include "fsd/admin_commands.h"
#include "proto/chunk.grpc.pb.h"

namespace scalefs {

namespace {
MemberView QueryMember(const std::string& address, int timeout_ms) {
  MemberView m;
  m.address = address;
  auto stub = chunk::Chunk::NewStub(NewChannel(address, Role::kMember));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  grpc::Status s = stub->Info(&ctx, chunk::InfoRequest(), &m.info);
  m.reachable = s.ok();
  if (!s.ok()) m.error = s.error_message();
  return m;
}

std::string OrUnknown(const std::string& s, const char* unknown = "Unknown") {
  return s.empty() ? unknown : s;
}

bool Connected(const std::string& cs) {
  return cs == "Connected" || cs == "SyncSource" || cs == "SyncTarget";
}

// h:mm:ss
std::string Duration(uint64_t seconds) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%llu:%02llu:%02llu",
           static_cast<unsigned long long>(seconds / 3600),
           static_cast<unsigned long long>(seconds / 60 % 60),
           static_cast<unsigned long long>(seconds % 60));
  return buf;
}
}  // namespace

Result<std::vector<PairView>> GatherPairViews(MetaClient* meta, int timeout_ms) {
  auto pairs = meta->PairList();
  if (!pairs.ok()) return pairs.status();
  std::vector<PairView> views(pairs->size());
  std::vector<std::future<MemberView>> answers;
  for (size_t i = 0; i < pairs->size(); ++i) {
    views[i].pair = (*pairs)[i];
    for (const std::string& addr : {views[i].pair.address_a(), views[i].pair.address_b()}) {
      answers.push_back(std::async(std::launch::async, QueryMember, addr, timeout_ms));
    }
  }
  for (size_t i = 0; i < answers.size(); ++i) views[i / 2].members[i % 2] = answers[i].get();
  return views;
}

std::string RoleOf(const MemberView& m) {
  if (!m.reachable || m.info.connection_state().empty()) return "Unknown";
  if (m.info.solo()) return "Primary";
  return Connected(m.info.connection_state()) && m.info.disk_state() == "UpToDate" ? "Primary"
                                                                                   : "Secondary";
}

std::string GroupThousands(uint64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string SyncProgressLine(uint64_t total, uint64_t done, uint64_t rate) {
  done = std::min(done, total);
  const double frac = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  constexpr int kWidth = 20;
  const int filled = std::min(kWidth - 1, static_cast<int>(frac * kWidth));
  std::string bar = "[" + std::string(filled, '=') + ">" + std::string(kWidth - 1 - filled, '.') +
                    "]";
  const uint64_t left = total - done;
  constexpr uint64_t kMiB = 1 << 20;
  char buf[160];
  snprintf(buf, sizeof(buf), "%s sync'ed: %.1f%% (%llu/%lluM)  speed: %s K/sec  finish: %s",
           bar.c_str(), frac * 100, static_cast<unsigned long long>((left + kMiB / 2) / kMiB),
           static_cast<unsigned long long>((total + kMiB / 2) / kMiB),
           GroupThousands(rate / 1024).c_str(),
           rate == 0 ? "-" : Duration((left + rate - 1) / rate).c_str());
  return buf;
}

std::string FormatPairView(const PairView& v) {
  const meta::Pair& p = v.pair;
  std::string out = p.name() + " (id " + std::to_string(p.id()) + ") generation " +
                    std::to_string(p.generation()) + "  capacity " + HumanBytes(p.capacity()) +
                    "  free " + HumanBytes(p.free());
  if (p.solo() == 1 || p.solo() == 2) {
    out += std::string("  solo:") + (p.solo() == 1 ? "A" : "B");
  }
  out += "\n";
  for (int i = 0; i < 2; ++i) {
    const MemberView& m = v.members[i];
    const MemberView& peer = v.members[1 - i];
    out += std::string("  ") + (i == 0 ? "A" : "B") + " " + m.address + "  ";
    if (!m.reachable) {
      out += "cs:Unreachable ro:Unknown/" + RoleOf(peer) + " ds:Unknown/Unknown  (" + m.error +
             ")\n";
      continue;
    }
    const chunk::InfoReply& info = m.info;
    out += "cs:" + OrUnknown(info.connection_state()) + " ro:" + RoleOf(m) + "/" + RoleOf(peer) +
           " ds:" + OrUnknown(info.disk_state()) + "/" + OrUnknown(info.peer_disk_state(), "DUnknown") +
           "  oos:" + std::to_string(info.out_of_sync_bytes() / 1024);
    if (info.solo()) out += "  solo";
    if (info.pair_id() != p.id() || info.member_index() != static_cast<uint32_t>(i)) {
      out += "  (not joined as this member: pair " + std::to_string(info.pair_id()) + " member " +
             std::to_string(info.member_index()) + ")";
    } else if (info.generation() != p.generation()) {
      out += "  gen:" + std::to_string(info.generation());
    }
    out += "\n";
  }
  // One progress line per running resync: the source's view, else the target's.
  const MemberView* syncing = nullptr;
  for (const MemberView& m : v.members) {
    const chunk::InfoReply& info = m.info;
    if (!m.reachable || info.sync_total_bytes() == 0 ||
        info.sync_done_bytes() >= info.sync_total_bytes()) {
      continue;
    }
    if (syncing == nullptr || info.connection_state() == "SyncSource") syncing = &m;
  }
  if (syncing != nullptr) {
    const chunk::InfoReply& info = syncing->info;
    out += "  " +
           SyncProgressLine(info.sync_total_bytes(), info.sync_done_bytes(),
                            info.sync_rate_bytes_per_sec()) +
           "\n";
  }
  return out;
}

std::string FormatTotals(const std::vector<PairView>& views) {
  uint64_t cap = 0, free_bytes = 0;
  int reachable = 0;
  for (const PairView& v : views) {
    cap += v.pair.capacity();
    free_bytes += v.pair.free();
    for (const MemberView& m : v.members) reachable += m.reachable ? 1 : 0;
  }
  return "total: " + std::to_string(views.size()) + " pairs, " + std::to_string(reachable) + "/" +
         std::to_string(views.size() * 2) + " members reachable, capacity " + HumanBytes(cap) +
         ", free " + HumanBytes(free_bytes) + "\n";
}

bool PairHealthy(const PairView& v) {
  return PairHealthy(v.pair, v.members[0].reachable ? &v.members[0].info : nullptr,
                     v.members[1].reachable ? &v.members[1].info : nullptr);
}

status::StatusReport MakeStatusReport(const std::string& meta_address,
                                      const Result<std::vector<PairView>>& views,
                                      const meta::SessionListReply* sessions) {
  status::StatusReport r;
  r.set_meta_address(meta_address);
  if (!views.ok()) {
    r.set_health("unreachable");
    r.set_error(views.status().ToString());
    return r;
  }
  bool healthy = true;
  for (const PairView& v : *views) {
    status::PairReport* p = r.add_pairs();
    *p->mutable_pair() = v.pair;
    for (const MemberView& m : v.members) {
      status::MemberReport* mr = p->add_members();
      mr->set_address(m.address);
      mr->set_reachable(m.reachable);
      mr->set_error(m.error);
      mr->set_role(RoleOf(m));
      if (m.reachable) *mr->mutable_info() = m.info;
    }
    p->set_healthy(PairHealthy(v));
    healthy = healthy && p->healthy();
    r.set_capacity_bytes(r.capacity_bytes() + v.pair.capacity());
    r.set_free_bytes(r.free_bytes() + v.pair.free());
  }
  if (sessions != nullptr) {
    for (const meta::SessionInfo& c : sessions->sessions()) *r.add_clients() = c;
    r.set_grace(sessions->grace());
  }
  r.set_health(healthy ? "healthy" : "degraded");
  return r;
}

int StatusExitCode(const status::StatusReport& report) {
  if (report.health() == "healthy") return 0;
  return report.health() == "degraded" ? 1 : 2;
}

}  // namespace scalefs
