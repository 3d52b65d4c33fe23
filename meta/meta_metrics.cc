#include "meta/meta_metrics.h"

#include <future>
#include <optional>
#include <vector>

#include "common/pair_health.h"

namespace scalefs::meta {

namespace {

prometheus::Family<prometheus::Gauge>& GaugeFamily(Metrics* m, const char* name,
                                                   const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(m->registry());
}

prometheus::Gauge& NewGauge(Metrics* m, const char* name, const char* help) {
  return GaugeFamily(m, name, help).Add({});
}

}  // namespace

MetaMetrics::MetaMetrics(Metrics* m, MetaStore* store, const LockTable* locks,
                         std::chrono::milliseconds probe_deadline)
    : store_(store),
      locks_(locks),
      prober_(probe_deadline),
      pair_healthy_(GaugeFamily(m, "scalefs_pair_healthy",
                                "1 when both members answer, are Connected and UpToDate/"
                                "UpToDate and neither writes alone; 0 when degraded")),
      member_up_(GaugeFamily(m, "scalefs_pair_member_up",
                             "1 when the member answered meta at this scrape")),
      member_out_of_sync_(GaugeFamily(m, "scalefs_pair_member_out_of_sync_bytes",
                                      "Bytes the member has out of sync with its peer")),
      pair_solo_(GaugeFamily(m, "scalefs_pair_solo",
                             "1 while one member holds meta's grant to write alone")),
      pair_generation_(GaugeFamily(m, "scalefs_pair_generation",
                                   "The pair's generation (every grant change bumps it)")),
      pair_capacity_(GaugeFamily(m, "scalefs_pair_capacity_bytes", "Usable bytes of the pair")),
      pair_free_(GaugeFamily(m, "scalefs_pair_free_bytes", "Unallocated bytes of the pair")),
      sessions_(NewGauge(m, "scalefs_meta_sessions", "Sessions of mounted clients")),
      open_files_(NewGauge(m, "scalefs_meta_open_files",
                           "Files held open, summed over the sessions")),
      orphans_(NewGauge(m, "scalefs_meta_orphans",
                        "Unlinked files kept for the sessions that hold them open")),
      locks_held_(NewGauge(m, "scalefs_meta_locks_held", "File locks held by clients")),
      locks_waiting_(NewGauge(m, "scalefs_meta_locks_waiting",
                              "Lock requests waiting for a conflicting lock")),
      grace_(NewGauge(m, "scalefs_meta_grace",
                      "1 while meta waits for clients to reclaim after a restart")),
      store_size_(NewGauge(m, "scalefs_meta_store_size_bytes",
                           "Size of the metadata DB: its SST files and memtables")),
      wal_syncs_(prometheus::BuildCounter()
                     .Name("scalefs_meta_wal_syncs_total")
                     .Help("Syncs of meta's RocksDB log (each covers one or more changes)")
                     .Register(m->registry())
                     .Add({})),
      hook_(m, [this] { Refresh(); }) {}

void MetaMetrics::Refresh() {
  const SessionListReply sessions = store_->sessions().List();
  uint64_t open = 0;
  for (const SessionInfo& s : sessions.sessions()) open += s.open_files();
  sessions_.Set(static_cast<double>(sessions.sessions_size()));
  open_files_.Set(static_cast<double>(open));
  grace_.Set(store_->sessions().InGrace());
  orphans_.Set(static_cast<double>(store_->orphan_count()));
  const LockListReply locks = locks_->List(0);
  locks_held_.Set(locks.held_size());
  locks_waiting_.Set(locks.waiting_size());
  uint64_t sst = 0, mem = 0;
  store_->db()->GetIntProperty("rocksdb.total-sst-files-size", &sst);
  store_->db()->GetIntProperty("rocksdb.size-all-mem-tables", &mem);
  store_size_.Set(static_cast<double>(sst + mem));
  AdvanceCounter(&wal_syncs_, static_cast<double>(store_->wal_syncs()));
  RefreshPairs();
}

void MetaMetrics::RefreshPairs() {
  const std::vector<Pair> pairs = store_->PairList();
  // Every member at once: a scrape waits one probe deadline at most.
  std::vector<std::future<Result<chunk::InfoReply>>> answers;
  for (const Pair& p : pairs) {
    for (const std::string& address : {p.address_a(), p.address_b()}) {
      answers.push_back(std::async(std::launch::async,
                                   [this, address] { return prober_.Info(address); }));
    }
  }
  for (size_t i = 0; i < pairs.size(); ++i) {
    const Pair& p = pairs[i];
    std::optional<chunk::InfoReply> info[2];
    for (int k = 0; k < 2; ++k) {
      Result<chunk::InfoReply> r = answers[2 * i + k].get();
      if (r.ok()) info[k] = std::move(*r);
      const prometheus::Labels member{{"pair", p.name()},
                                      {"member", k == 0 ? "a" : "b"},
                                      {"address", k == 0 ? p.address_a() : p.address_b()}};
      member_up_.Add(member).Set(info[k].has_value());
      member_out_of_sync_.Add(member).Set(info[k] ? static_cast<double>(info[k]->out_of_sync_bytes()) : 0);
    }
    const prometheus::Labels pair{{"pair", p.name()}};
    pair_healthy_.Add(pair).Set(
        PairHealthy(p, info[0] ? &*info[0] : nullptr, info[1] ? &*info[1] : nullptr));
    pair_solo_.Add(pair).Set(p.solo() != 0);
    pair_generation_.Add(pair).Set(static_cast<double>(p.generation()));
    pair_capacity_.Add(pair).Set(static_cast<double>(p.capacity()));
    pair_free_.Add(pair).Set(static_cast<double>(p.free()));
  }
}

}  // namespace scalefs::meta
