// What a member shows to Prometheus. The byte counters are kept as I/O
// happens; its pair state is read from the replicator (its Info) at scrape.
//   scalefs_chunk_read_bytes_total         bytes read by clients
//   scalefs_chunk_written_bytes_total      bytes of client writes acknowledged
//   scalefs_chunk_replicated_bytes_total   bytes mirrored to the peer (protocol C)
//   scalefs_chunk_resync_sent_bytes_total  bytes copied to the peer by resyncs
//   scalefs_chunk_resyncs_total            resyncs this member finished as source
//   scalefs_chunk_bad_blocks_total         blocks found not matching their checksum
//   scalefs_chunk_repaired_blocks_total    such blocks mended from the peer
//   scalefs_chunk_resync_left_bytes / _regions   out of sync, still to copy
//   scalefs_member_connection_state{state} / scalefs_member_disk_state{state}
//                                          1 for the current state, 0 for the others
//   scalefs_member_peer_connected, scalefs_member_solo, scalefs_member_joined,
//   scalefs_member_generation
#pragma once

#include "common/metrics.h"
#include "proto/chunk.pb.h"

namespace scalefs {

class ChunkMetrics {
 public:
  explicit ChunkMetrics(Metrics* metrics);

  prometheus::Counter& read_bytes;
  prometheus::Counter& written_bytes;
  prometheus::Counter& replicated_bytes;
  prometheus::Counter& resyncs;
  prometheus::Counter& bad_blocks;
  prometheus::Counter& repaired_blocks;

  // The state gauges from this member's Info (joined: it belongs to a pair).
  void ShowState(const chunk::InfoReply& info, bool joined);

 private:
  prometheus::Counter& resync_sent_;
  prometheus::Gauge& resync_left_bytes_;
  prometheus::Gauge& resync_left_regions_;
  StateGauge connection_;
  StateGauge disk_;
  prometheus::Gauge& peer_connected_;
  prometheus::Gauge& solo_;
  prometheus::Gauge& joined_;
  prometheus::Gauge& generation_;
};

}  // namespace scalefs
