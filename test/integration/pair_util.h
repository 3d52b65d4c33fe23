// Helpers of the pair_*_test integration tests: a member's DRBD-style state
// over gRPC, waiting for a pair to be healthy, comparing both replicas.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/rpc_status.h"
#include "test/harness/cluster.h"

namespace scalefs::test {

inline Result<chunk::InfoReply> MemberInfo(const Cluster& c, int pair, int member) {
  auto stub = c.ChunkStub(pair, member, "admin");  // status and verify calls
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  chunk::InfoReply info;
  Status s = FromGrpc(stub->Info(&ctx, chunk::InfoRequest(), &info), "Info");
  if (!s.ok()) return s;
  return info;
}

inline std::string StateLine(const chunk::InfoReply& i) {
  return i.connection_state() + " " + i.disk_state() + "/" + i.peer_disk_state() +
         " gen " + std::to_string(i.generation()) + (i.solo() ? " solo" : "") +
         " oos " + std::to_string(i.out_of_sync_bytes());
}

// Both members Connected UpToDate/UpToDate at the same generation.
inline Status WaitPairHealthy(const Cluster& c, int pair, int seconds) {
  std::string last;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < until) {
    auto a = MemberInfo(c, pair, 0), b = MemberInfo(c, pair, 1);
    if (a.ok() && b.ok()) {
      last = "A: " + StateLine(*a) + "; B: " + StateLine(*b);
      if (a->connection_state() == "Connected" && b->connection_state() == "Connected" &&
          a->disk_state() == "UpToDate" && b->disk_state() == "UpToDate" &&
          a->peer_disk_state() == "UpToDate" && b->peer_disk_state() == "UpToDate" &&
          a->generation() == b->generation() && a->out_of_sync_bytes() == 0)
        return Status::OK();
    } else {
      last = !a.ok() ? a.status().ToString() : b.status().ToString();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status::Unavailable("pair " + std::to_string(pair) + " not healthy: " + last);
}

// crc32 of each 1 MiB of the member's device up to `capacity`.
inline Result<std::vector<uint32_t>> DeviceChecksums(const Cluster& c, int pair, int member,
                                                     uint64_t capacity) {
  auto stub = c.ChunkStub(pair, member, "admin");  // status and verify calls
  grpc::ClientContext ctx;
  chunk::ChecksumRequest req;
  req.set_offset(0);
  req.set_length(capacity);
  req.set_block_size(1 << 20);
  chunk::ChecksumReply reply;
  Status s = FromGrpc(stub->Checksum(&ctx, req, &reply), "Checksum");
  if (!s.ok()) return s;
  return std::vector<uint32_t>(reply.crc32().begin(), reply.crc32().end());
}

// OK when both members hold byte-identical devices; else names the first
// differing MiB.
inline Status ReplicasIdentical(const Cluster& c, int pair, uint64_t capacity) {
  auto a = DeviceChecksums(c, pair, 0, capacity), b = DeviceChecksums(c, pair, 1, capacity);
  if (!a.ok()) return a.status();
  if (!b.ok()) return b.status();
  int differ = 0;
  size_t first = 0;
  for (size_t i = 0; i < a->size() && i < b->size(); ++i) {
    if ((*a)[i] != (*b)[i] && differ++ == 0) first = i;
  }
  if (differ == 0 && a->size() == b->size()) return Status::OK();
  return Status::IoError(std::to_string(differ) + " MiB differ between the members, first at MiB " +
                         std::to_string(first));
}

inline uint64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Waits until `path` grew to at least `size` bytes (the writer is that far).
inline bool WaitFileSize(const std::string& path, uint64_t size, int seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (FileSize(path) >= size) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// The counters a client logs at unmount for pair0: "pair pair0: writes sent
// first to A 10, to B 12; failed over 0" (PairClient::WriteCounters).
struct WriteCounters {
  uint64_t to_a = 0, to_b = 0, failovers = 0;
};
inline std::optional<WriteCounters> ClientWriteCounters(const std::string& log_path) {
  std::ifstream in(log_path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  static const std::regex re(
      "pair pair0: writes sent first to A ([0-9]+), to B ([0-9]+); failed over ([0-9]+)");
  std::smatch m;
  if (!std::regex_search(s, m, re)) return std::nullopt;
  return WriteCounters{std::stoull(m[1]), std::stoull(m[2]), std::stoull(m[3])};
}

}  // namespace scalefs::test
