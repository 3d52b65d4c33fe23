// What a mount shows to Prometheus:
//   scalefs_fuse_op_duration_seconds{op}   histogram of each FUSE operation, from
//                                          its dispatch to its handler's return
//                                          (_count: operations)
//   scalefs_fuse_read_bytes_total, scalefs_fuse_written_bytes_total
//                                          bytes of the kernel's read and write requests
//   scalefs_client_meta_call_errors_total{method,code}    attempts of meta calls that got
//                                          no answer (each retry counted; not meta's errnos)
//   scalefs_client_member_call_errors_total{pair,member,code}  failed chunk requests
//   scalefs_client_member_failovers_total{pair}  requests sent on to the other member
//   scalefs_client_bad_block_reads_total{pair,member}  reads a member refused because a
//                                          block did not match its checksum (then read
//                                          from the other member)
//   scalefs_client_release_queue_files, scalefs_client_small_write_queue,
//   scalefs_client_open_files              queue depths and open files, at scrape
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include "common/metrics.h"

namespace scalefs {

// The timed FUSE operations (fsd/fuse_op_timing.cc wraps each).
enum class FuseOp : int {
  kLookup, kGetAttr, kSetAttr, kReadLink, kMknod, kMkdir, kUnlink, kRmdir, kSymlink, kRename,
  kLink, kOpen, kRead, kWrite, kFlush, kRelease, kFsync, kOpenDir, kReadDir, kReadDirPlus,
  kReleaseDir, kFsyncDir, kStatFs, kSetXattr, kGetXattr, kListXattr, kRemoveXattr, kAccess,
  kCreate, kFallocate, kGetLk, kSetLk, kFlock,
  kCount
};

class ClientMetrics {
 public:
  explicit ClientMetrics(Metrics* metrics);

  void Op(FuseOp op, double seconds) { ops_[static_cast<int>(op)]->Observe(seconds); }
  void ReadRequest(uint64_t bytes) { read_bytes_.Increment(static_cast<double>(bytes)); }
  void WriteRequest(uint64_t bytes) { written_bytes_.Increment(static_cast<double>(bytes)); }
  // Errors are rare: their series are looked up when they happen.
  void MetaError(const char* method, int grpc_code);
  void MemberError(const std::string& pair, int member, int grpc_code);
  void Failover(const std::string& pair);
  void BadBlockRead(const std::string& pair, int member);

  // The gauges read at scrape: `depths` returns the release queue's files,
  // the small writes waiting for a batch and the open files, until the
  // returned hook goes (keep it after what `depths` reads).
  struct Depths {
    uint64_t release_queue = 0;
    uint64_t small_writes = 0;
    uint64_t open_files = 0;
  };
  [[nodiscard]] ScrapeHook ShowDepths(std::function<Depths()> depths);

 private:
  Metrics* const metrics_;
  std::array<prometheus::Histogram*, static_cast<int>(FuseOp::kCount)> ops_{};
  prometheus::Counter& read_bytes_;
  prometheus::Counter& written_bytes_;
  prometheus::Family<prometheus::Counter>& meta_errors_;
  prometheus::Family<prometheus::Counter>& member_errors_;
  prometheus::Family<prometheus::Counter>& failovers_;
  prometheus::Family<prometheus::Counter>& bad_block_reads_;
  prometheus::Gauge& release_queue_;
  prometheus::Gauge& small_writes_;
  prometheus::Gauge& open_files_;
};

}  // namespace scalefs
