// The Prometheus endpoints of a real cluster (meta, both members of a pair,
// a FUSE mount), fetched with curl while a workload runs through the mount:
// the counters move by at least what the workload did, the text parses
// with Prometheus' own Python parser too, and a killed member shows on
// meta's pair metrics and on its peer's state within seconds, as `scalefs
// status` exits 1. A metrics port in use is a startup error naming it.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/prometheus_text.h"
#include "test/harness/test_macros.h"
#include "test/integration/pair_util.h"

namespace scalefs::test {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kMiB = 1 << 20;

Scrape MustFetch(Cluster& c, const std::string& name) {
  auto s = Scrape::Fetch(c.MetricsAddress(name));
  EXPECT_TRUE(s.ok()) << name << ": " << s.status().ToString();
  return s.ok() ? std::move(*s) : Scrape();
}

// Prometheus' own parser (Debian's python3-prometheus-client, so Debian's
// python3) accepts the text.
void ExpectPrometheusParses(const Cluster& c, const std::string& name, const std::string& text) {
  const std::string path = c.state_dir() + "/" + name + ".prom";
  std::ofstream(path) << text;
  std::string out;
  const int rc = RunShell(
      "/usr/bin/python3 -c 'import sys; from prometheus_client.parser import "
      "text_string_to_metric_families as p; "
      "print(sum(len(f.samples) for f in p(open(sys.argv[1]).read())))' " + path, &out);
  EXPECT_EQ(rc, 0) << name << "'s /metrics does not parse: " << out;
  EXPECT_GT(std::atoi(out.c_str()), 10) << name << ": " << out;
}

// Polls `name`'s metrics until `ok` holds, for up to `seconds`.
bool WaitFor(Cluster& c, const std::string& name, int seconds,
             const std::function<bool(const Scrape&)>& ok, std::string* last) {
  const auto until = Clock::now() + std::chrono::seconds(seconds);
  do {
    auto s = Scrape::Fetch(c.MetricsAddress(name));
    if (s.ok()) {
      if (ok(*s)) return true;
      *last = s->text();
    } else {
      *last = s.status().ToString();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (Clock::now() < until);
  return false;
}

TEST(MetricsTest, CountersMoveWithAWorkloadAndAKilledMemberShows) {
  ClusterOptions o;
  o.pairs = 1;
  Cluster c(o);
  ASSERT_OK(c.Start());
  ASSERT_OK(WaitPairHealthy(c, 0, 30));
  const std::string a = Cluster::MemberName(0, 0), b = Cluster::MemberName(0, 1);

  Scrape before[4] = {MustFetch(c, "meta"), MustFetch(c, a), MustFetch(c, b),
                      MustFetch(c, "client")};
  constexpr int kFiles = 5;
  constexpr uint64_t kFileBytes = 4 * kMiB;
  for (int i = 0; i < kFiles; ++i) {
    ASSERT_OK(WritePatternFile(c.mnt() + "/f" + std::to_string(i), i, kFileBytes));
  }
  for (int i = 0; i < kFiles; ++i) {
    ASSERT_OK(CheckPatternFile(c.mnt() + "/f" + std::to_string(i), i, kFileBytes));
  }
  const Scrape meta = MustFetch(c, "meta"), ma = MustFetch(c, a), mb = MustFetch(c, b),
               client = MustFetch(c, "client");
  const uint64_t written = kFiles * kFileBytes;

  // The mount: its write requests and their bytes, each op timed.
  auto grew = [](const Scrape& now, const Scrape& then, const std::string& name,
                 const std::map<std::string, std::string>& labels = {}) {
    return now.Sum(name, labels) - then.Sum(name, labels);
  };
  EXPECT_GE(grew(client, before[3], "scalefs_fuse_written_bytes_total"), written);
  EXPECT_GE(grew(client, before[3], "scalefs_fuse_op_duration_seconds_count", {{"op", "write"}}),
            written / kMiB);
  EXPECT_GE(grew(client, before[3], "scalefs_fuse_op_duration_seconds_count", {{"op", "create"}}),
            kFiles);
  EXPECT_GT(grew(client, before[3], "scalefs_fuse_op_duration_seconds_sum", {{"op", "write"}}), 0);
  EXPECT_TRUE(client.Has("scalefs_client_release_queue_files")) << client.text();

  // The members: client writes acknowledged and mirrored to the peer (each
  // byte by the member that sequences its region), each call counted.
  const double acked = grew(ma, before[1], "scalefs_chunk_written_bytes_total") +
                       grew(mb, before[2], "scalefs_chunk_written_bytes_total");
  EXPECT_GE(acked, written);
  const double mirrored = grew(ma, before[1], "scalefs_chunk_replicated_bytes_total") +
                          grew(mb, before[2], "scalefs_chunk_replicated_bytes_total");
  EXPECT_GE(mirrored, written);
  const std::map<std::string, std::string> ok_writes{{"service", "scalefs.chunk.Chunk"},
                                                      {"code", "OK"}};
  double write_calls = 0;
  for (const char* method : {"Write", "WriteBatch"}) {
    auto labels = ok_writes;
    labels["method"] = method;
    write_calls += grew(ma, before[1], "scalefs_grpc_server_handled_total", labels) +
                   grew(mb, before[2], "scalefs_grpc_server_handled_total", labels);
  }
  EXPECT_GE(write_calls, written / kMiB);
  EXPECT_GE(grew(ma, before[1], "scalefs_grpc_server_handled_total",
                 {{"method", "Replicate"}, {"code", "OK"}}) +
                grew(mb, before[2], "scalefs_grpc_server_handled_total",
                     {{"method", "Replicate"}, {"code", "OK"}}),
            1);
  for (const Scrape* m : {&ma, &mb}) {
    EXPECT_EQ(m->Sum("scalefs_member_connection_state", {{"state", "Connected"}}), 1) << m->text();
    EXPECT_EQ(m->Sum("scalefs_member_connection_state"), 1) << "one state at a time";
    EXPECT_EQ(m->Sum("scalefs_member_disk_state", {{"state", "UpToDate"}}), 1);
    EXPECT_EQ(m->Sum("scalefs_member_peer_connected"), 1);
  }

  // Meta: its calls by method, timed; the sessions; the pair as it sees it.
  const std::map<std::string, std::string> make_node{
      {"service", "scalefs.meta.Meta"}, {"method", "MakeNode"}, {"code", "OK"}};
  EXPECT_GE(grew(meta, before[0], "scalefs_grpc_server_handled_total", make_node), kFiles);
  EXPECT_GE(grew(meta, before[0], "scalefs_grpc_server_handling_seconds_count",
                 {{"method", "MakeNode"}}),
            kFiles);
  EXPECT_EQ(meta.Sum("scalefs_meta_sessions"), 1) << meta.text();
  EXPECT_EQ(meta.Sum("scalefs_pair_healthy", {{"pair", "pair0"}}), 1) << meta.text();
  EXPECT_EQ(meta.Sum("scalefs_pair_member_up", {{"pair", "pair0"}}), 2);
  EXPECT_GT(meta.Sum("scalefs_meta_store_size_bytes"), 0);

  for (auto& [name, s] : std::map<std::string, const Scrape*>{
           {"meta", &meta}, {a, &ma}, {b, &mb}, {"client", &client}}) {
    ExpectPrometheusParses(c, name, s->text());
  }

  // A member dies: meta's pair metrics and the survivor's state say so
  // within seconds, and so does `scalefs status`, exiting 1.
  c.Kill(b);
  std::string last;
  EXPECT_TRUE(WaitFor(c, "meta", 10, [](const Scrape& s) {
    return s.Sum("scalefs_pair_healthy", {{"pair", "pair0"}}) == 0 &&
           s.Has("scalefs_pair_member_up", {{"pair", "pair0"}, {"member", "b"}}) &&
           s.Sum("scalefs_pair_member_up", {{"pair", "pair0"}, {"member", "b"}}) == 0 &&
           s.Sum("scalefs_pair_member_up", {{"pair", "pair0"}, {"member", "a"}}) == 1;
  }, &last)) << "meta after pair0b died:\n" << last;
  EXPECT_TRUE(WaitFor(c, a, 10, [](const Scrape& s) {
    return s.Sum("scalefs_member_peer_connected") == 0 &&
           s.Sum("scalefs_member_connection_state", {{"state", "WFConnection"}}) == 1;
  }, &last)) << "pair0a after its peer died:\n" << last;
  std::string out;
  EXPECT_EQ(c.Cli({"status"}, &out), 1) << out;
  // The mount's writes meet the dead member and go on to the survivor.
  ASSERT_OK(WritePatternFile(c.mnt() + "/degraded", 9, kFileBytes));
  const Scrape degraded = MustFetch(c, "client");
  EXPECT_GT(grew(degraded, client, "scalefs_client_member_call_errors_total",
                 {{"pair", "pair0"}, {"member", "b"}}),
            0) << degraded.text();
  EXPECT_GT(grew(degraded, client, "scalefs_client_member_failovers_total", {{"pair", "pair0"}}), 0);

  // It comes back: healthy again on meta once the pair resynced.
  ASSERT_OK(c.StartDaemon(b));
  ASSERT_OK(WaitPairHealthy(c, 0, 60));
  EXPECT_TRUE(WaitFor(c, "meta", 10, [](const Scrape& s) {
    return s.Sum("scalefs_pair_healthy", {{"pair", "pair0"}}) == 1;
  }, &last)) << last;
}

// A socket listening on a free loopback port, held while it lives.
class HeldPort {
 public:
  HeldPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 1);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~HeldPort() { close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(MetricsTest, AMetricsPortInUseIsAStartupErrorNamingIt) {
  ClusterOptions o;
  o.pairs = 1;
  o.mount = false;
  Cluster c(o);
  ASSERT_OK(c.Start());
  HeldPort held;
  const std::string bin = SCALEFS_BIN_DIR;
  const std::string dir = c.state_dir();
  const std::string flags = " --logtostderr --metrics_listen=" + held.address();
  auto tls = [&](const std::string& name) {
    std::string out;
    for (const std::string& f : c.TlsFlags(name)) out += " " + f;
    return out;
  };
  const std::string commands[] = {
      bin + "/scalefs-meta --listen=127.0.0.1:" + std::to_string(FreePort()) + " --db=" + dir +
          "/other-db" + tls("meta") + flags,
      bin + "/scalefs-chunk --listen=127.0.0.1:" + std::to_string(FreePort()) +
          " --peer=127.0.0.1:1 --size=16M --device=" + dir + "/other.img" + tls("pair0a") + flags,
      "mkdir -p " + dir + "/other-mnt && " + bin + "/scalefs mount " + c.meta_address() + " " +
          dir + "/other-mnt -f" + flags,
  };
  for (const std::string& cmd : commands) {
    std::string out;
    EXPECT_EQ(RunShell("timeout 20 " + cmd, &out), 2) << cmd << "\n" << out;
    EXPECT_NE(out.find("cannot serve metrics on " + held.address()), std::string::npos) << out;
    EXPECT_NE(out.find("in use"), std::string::npos) << out;
  }
  EXPECT_FALSE(IsMounted(dir + "/other-mnt"));
}

}  // namespace
}  // namespace scalefs::test
