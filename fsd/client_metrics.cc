#include "fsd/client_metrics.h"

#include "common/rpc_call_metrics.h"

namespace scalefs {

namespace {

const char* const kOpNames[] = {
    "lookup",  "getattr",    "setattr", "readlink",  "mknod",      "mkdir",   "unlink",
    "rmdir",   "symlink",    "rename",  "link",      "open",       "read",    "write",
    "flush",   "release",    "fsync",   "opendir",   "readdir",    "readdirplus",
    "releasedir", "fsyncdir", "statfs", "setxattr",  "getxattr",   "listxattr",
    "removexattr", "access", "create",  "fallocate", "getlk",      "setlk",   "flock"};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == static_cast<size_t>(FuseOp::kCount));

prometheus::Gauge& NewGauge(Metrics* m, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(m->registry()).Add({});
}

prometheus::Family<prometheus::Counter>& CounterFamily(Metrics* m, const char* name,
                                                       const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(m->registry());
}

}  // namespace

ClientMetrics::ClientMetrics(Metrics* m)
    : metrics_(m),
      read_bytes_(CounterFamily(m, "scalefs_fuse_read_bytes_total",
                                "Bytes of the FUSE read requests of this mount")
                      .Add({})),
      written_bytes_(CounterFamily(m, "scalefs_fuse_written_bytes_total",
                                   "Bytes of the FUSE write requests of this mount")
                         .Add({})),
      meta_errors_(CounterFamily(m, "scalefs_client_meta_call_errors_total",
                                 "Attempts of meta calls that got no answer from meta (each retry counted)")),
      member_errors_(CounterFamily(m, "scalefs_client_member_call_errors_total",
                                   "Chunk requests to a member that failed")),
      failovers_(CounterFamily(m, "scalefs_client_member_failovers_total",
                               "Chunk requests sent on to the other member of the pair")),
      bad_block_reads_(CounterFamily(m, "scalefs_client_bad_block_reads_total",
                                     "Reads a member refused because a block did not match "
                                     "its checksum; the other member was read instead")),
      release_queue_(NewGauge(m, "scalefs_client_release_queue_files",
                              "Closed files whose release waits to be sent to meta")),
      small_writes_(NewGauge(m, "scalefs_client_small_write_queue",
                             "Small writes waiting to go out in a batch")),
      open_files_(NewGauge(m, "scalefs_client_open_files", "Files this mount holds open")) {
  auto& family = prometheus::BuildHistogram()
                     .Name("scalefs_fuse_op_duration_seconds")
                     .Help("FUSE operations of this mount, from dispatch to the end of their "
                           "handler")
                     .Register(m->registry());
  for (int i = 0; i < static_cast<int>(FuseOp::kCount); ++i) {
    ops_[i] = &family.Add({{"op", kOpNames[i]}}, Metrics::LatencyBuckets());
  }
}

void ClientMetrics::MetaError(const char* method, int grpc_code) {
  meta_errors_.Add({{"method", method}, {"code", GrpcCodeName(grpc_code)}}).Increment();
}

void ClientMetrics::MemberError(const std::string& pair, int member, int grpc_code) {
  member_errors_
      .Add({{"pair", pair}, {"member", member == 0 ? "a" : "b"}, {"code", GrpcCodeName(grpc_code)}})
      .Increment();
}

void ClientMetrics::BadBlockRead(const std::string& pair, int member) {
  bad_block_reads_.Add({{"pair", pair}, {"member", member == 0 ? "a" : "b"}}).Increment();
}

void ClientMetrics::Failover(const std::string& pair) {
  failovers_.Add({{"pair", pair}}).Increment();
}

ScrapeHook ClientMetrics::ShowDepths(std::function<Depths()> depths) {
  return ScrapeHook(metrics_, [this, depths = std::move(depths)] {
    const Depths d = depths();
    release_queue_.Set(static_cast<double>(d.release_queue));
    small_writes_.Set(static_cast<double>(d.small_writes));
    open_files_.Set(static_cast<double>(d.open_files));
  });
}

}  // namespace scalefs
