// What meta shows to Prometheus, all read at scrape time: its clients
// (sessions, open files, locks), its store, and every registered pair as
// meta sees it then — both members asked for their Info in parallel, the
// pair healthy by the rule `scalefs status` exits with.
//   scalefs_pair_healthy{pair}                 1 healthy, 0 degraded
//   scalefs_pair_member_up{pair,member,address} 1 when the member answered
//   scalefs_pair_member_out_of_sync_bytes{pair,member,address}
//   scalefs_pair_solo{pair}                    1 while a member writes alone
//   scalefs_pair_generation{pair}, scalefs_pair_capacity_bytes{pair},
//   scalefs_pair_free_bytes{pair}
//   scalefs_meta_sessions, scalefs_meta_open_files, scalefs_meta_orphans,
//   scalefs_meta_locks_held, scalefs_meta_locks_waiting, scalefs_meta_grace,
//   scalefs_meta_store_size_bytes, scalefs_meta_wal_syncs_total
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "common/lock_table.h"
#include "common/metrics.h"
#include "meta/chunk_prober.h"
#include "meta/meta_store.h"

namespace scalefs::meta {

class MetaMetrics {
 public:
  // `store` and `locks` outlive this object.
  MetaMetrics(Metrics* metrics, MetaStore* store, const LockTable* locks,
              std::chrono::milliseconds probe_deadline = std::chrono::seconds(1));

 private:
  void Refresh();
  void RefreshPairs();

  MetaStore* const store_;
  const LockTable* const locks_;
  const ChunkProber prober_;
  prometheus::Family<prometheus::Gauge>& pair_healthy_;
  prometheus::Family<prometheus::Gauge>& member_up_;
  prometheus::Family<prometheus::Gauge>& member_out_of_sync_;
  prometheus::Family<prometheus::Gauge>& pair_solo_;
  prometheus::Family<prometheus::Gauge>& pair_generation_;
  prometheus::Family<prometheus::Gauge>& pair_capacity_;
  prometheus::Family<prometheus::Gauge>& pair_free_;
  prometheus::Gauge& sessions_;
  prometheus::Gauge& open_files_;
  prometheus::Gauge& orphans_;
  prometheus::Gauge& locks_held_;
  prometheus::Gauge& locks_waiting_;
  prometheus::Gauge& grace_;
  prometheus::Gauge& store_size_;
  prometheus::Counter& wal_syncs_;
  ScrapeHook hook_;  // last: it reads everything above
};

}  // namespace scalefs::meta
