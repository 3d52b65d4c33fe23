#include "chunk/chunk_metrics.h"

#include "chunk/dirty_map.h"

namespace scalefs {

namespace {

prometheus::Counter& NewCounter(Metrics* m, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(m->registry()).Add({});
}

prometheus::Gauge& NewGauge(Metrics* m, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(m->registry()).Add({});
}

prometheus::Family<prometheus::Gauge>* NewStateFamily(Metrics* m, const char* name,
                                                      const char* help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(m->registry());
}

}  // namespace

ChunkMetrics::ChunkMetrics(Metrics* m)
    : read_bytes(NewCounter(m, "scalefs_chunk_read_bytes_total",
                            "Bytes this member read for clients")),
      written_bytes(NewCounter(m, "scalefs_chunk_written_bytes_total",
                               "Bytes of client writes this member acknowledged (on both "
                               "members, or on this one holding meta's grant)")),
      replicated_bytes(NewCounter(m, "scalefs_chunk_replicated_bytes_total",
                                  "Bytes this member mirrored to its peer as it wrote them")),
      resyncs(NewCounter(m, "scalefs_chunk_resyncs_total",
                         "Resyncs of the peer this member finished as sync source")),
      bad_blocks(NewCounter(m, "scalefs_chunk_bad_blocks_total",
                            "4 KiB blocks this member found not matching their CRC32C (on "
                            "read, resync, verify or scrub)")),
      repaired_blocks(NewCounter(m, "scalefs_chunk_repaired_blocks_total",
                                 "Damaged blocks this member mended from its peer's copy")),
      resync_sent_(NewCounter(m, "scalefs_chunk_resync_sent_bytes_total",
                              "Bytes this member copied to its peer in resyncs and verify "
                              "repairs")),
      resync_left_bytes_(NewGauge(m, "scalefs_chunk_resync_left_bytes",
                                  "Bytes of this member's regions out of sync with the peer")),
      resync_left_regions_(NewGauge(m, "scalefs_chunk_resync_left_regions",
                                    "1 MiB regions of this member out of sync with the peer")),
      connection_(NewStateFamily(m, "scalefs_member_connection_state",
                                 "This member's connection to its peer, as DRBD names it: 1 "
                                 "for the current state"),
                  {}, {"WFConnection", "Connected", "SyncSource", "SyncTarget", "StandAlone"}),
      disk_(NewStateFamily(m, "scalefs_member_disk_state",
                           "This member's data, as DRBD names it: 1 for the current state"),
            {}, {"Consistent", "UpToDate", "Outdated", "Inconsistent"}),
      peer_connected_(NewGauge(m, "scalefs_member_peer_connected",
                               "1 while this member replicates to its peer (Connected, "
                               "SyncSource or SyncTarget)")),
      solo_(NewGauge(m, "scalefs_member_solo",
                     "1 while this member holds meta's grant to write without its peer")),
      joined_(NewGauge(m, "scalefs_member_joined", "1 once this member belongs to a pair")),
      generation_(NewGauge(m, "scalefs_member_generation",
                           "The pair generation this member is at")) {}

void ChunkMetrics::ShowState(const chunk::InfoReply& info, bool joined) {
  const std::string& conn = info.connection_state();
  connection_.Set(conn);
  disk_.Set(info.disk_state());
  peer_connected_.Set(conn == "Connected" || conn == "SyncSource" || conn == "SyncTarget");
  solo_.Set(info.solo());
  joined_.Set(joined);
  generation_.Set(static_cast<double>(info.generation()));
  resync_left_bytes_.Set(static_cast<double>(info.out_of_sync_bytes()));
  resync_left_regions_.Set(static_cast<double>(info.out_of_sync_bytes() / DirtyMap::kRegionSize));
  AdvanceCounter(&resync_sent_, static_cast<double>(info.resynced_bytes_total()));
}

}  // namespace scalefs
