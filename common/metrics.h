// The Prometheus metrics of one process (prometheus-cpp): a registry that
// every component adds its families to, and, with --metrics_listen, an HTTP
// endpoint serving them at /metrics in Prometheus' text format. Each program
// only declares its metrics; this file owns the registry and the exposer.
//
// Counters and histograms are kept on the hot path (atomic adds, children
// looked up once). Values that are state rather than events (a member's
// connection state, meta's sessions) are not kept twice: a ScrapeHook reads
// them from their owner just before each scrape.
#pragma once

#include <functional>
#include <initializer_list>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "common/status.h"

namespace prometheus {
class Exposer;
}

namespace scalefs {

class Metrics;

// Runs `refresh` before every scrape until it is destroyed; destruction
// waits for a scrape that is running it. A component keeps its hook as a
// member declared after what the hook reads.
class ScrapeHook {
 public:
  ScrapeHook() = default;
  ScrapeHook(Metrics* metrics, std::function<void()> refresh);
  ~ScrapeHook();
  ScrapeHook(ScrapeHook&& other) noexcept;
  ScrapeHook& operator=(ScrapeHook&& other) noexcept;
  ScrapeHook(const ScrapeHook&) = delete;
  ScrapeHook& operator=(const ScrapeHook&) = delete;

 private:
  void Reset();
  Metrics* metrics_ = nullptr;
  std::list<std::function<void()>>::iterator it_;
};

class Metrics {
 public:
  Metrics();
  ~Metrics();  // stops serving first: no scrape runs while the rest goes away
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  prometheus::Registry& registry() { return *registry_; }

  // Serves /metrics on HOST:PORT (a numeric address; port 0 picks a free
  // one). An address that cannot be bound is an error naming it.
  Status Serve(const std::string& address);
  // Serve(--metrics_listen), or nothing when the flag is empty.
  Status ServeFlag();
  // The port Serve bound; 0 when not serving.
  int port() const { return port_; }

  // Latency buckets in seconds, 50 us to 10 s: a cached metadata call takes
  // tens of microseconds, a degraded write waits seconds for meta's grant.
  static prometheus::Histogram::BucketBoundaries LatencyBuckets();

 private:
  friend class ScrapeHook;
  class Scraped;

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<Scraped> scraped_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

// The gauges of one label whose value is one of a fixed set of states, as
// Prometheus users expect a state: one series per state, 1 for the current
// one and 0 for the others (scalefs_member_disk_state{state="UpToDate"} 1).
class StateGauge {
 public:
  StateGauge(prometheus::Family<prometheus::Gauge>* family, const prometheus::Labels& labels,
             std::initializer_list<const char*> states);
  // A state not in the set sets every series to 0.
  void Set(const std::string& state);

 private:
  std::vector<std::pair<std::string, prometheus::Gauge*>> series_;
};

// Raises a counter to `total`, a running total its owner keeps anyway
// (a counter never goes down: a smaller total changes nothing).
void AdvanceCounter(prometheus::Counter* counter, double total);

}  // namespace scalefs
