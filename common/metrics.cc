#include "common/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include <gflags/gflags.h>

#include <exception>

#include "common/listen_address.h"

DEFINE_string(metrics_listen, "",
              "HOST:PORT to serve Prometheus metrics on, at /metrics; empty = none");

namespace scalefs {

// What the exposer collects: the hooks first, then the registry, under one
// mutex, so a hook being removed never runs half-destroyed.
class Metrics::Scraped : public prometheus::Collectable {
 public:
  explicit Scraped(std::shared_ptr<prometheus::Registry> registry)
      : registry_(std::move(registry)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& refresh : hooks_) refresh();
    return registry_->Collect();
  }

  std::list<std::function<void()>>::iterator Add(std::function<void()> refresh) {
    std::lock_guard<std::mutex> l(mu_);
    return hooks_.insert(hooks_.end(), std::move(refresh));
  }
  void Remove(std::list<std::function<void()>>::iterator it) {
    std::lock_guard<std::mutex> l(mu_);
    hooks_.erase(it);
  }

 private:
  const std::shared_ptr<prometheus::Registry> registry_;
  mutable std::mutex mu_;
  std::list<std::function<void()>> hooks_;
};

ScrapeHook::ScrapeHook(Metrics* metrics, std::function<void()> refresh)
    : metrics_(metrics), it_(metrics->scraped_->Add(std::move(refresh))) {}

ScrapeHook::~ScrapeHook() { Reset(); }

ScrapeHook::ScrapeHook(ScrapeHook&& other) noexcept : metrics_(other.metrics_), it_(other.it_) {
  other.metrics_ = nullptr;
}

ScrapeHook& ScrapeHook::operator=(ScrapeHook&& other) noexcept {
  if (this != &other) {
    Reset();
    metrics_ = other.metrics_;
    it_ = other.it_;
    other.metrics_ = nullptr;
  }
  return *this;
}

void ScrapeHook::Reset() {
  if (metrics_ != nullptr) metrics_->scraped_->Remove(it_);
  metrics_ = nullptr;
}

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      scraped_(std::make_shared<Scraped>(registry_)) {}

Metrics::~Metrics() { exposer_.reset(); }

Status Metrics::ServeFlag() {
  return FLAGS_metrics_listen.empty() ? Status::OK() : Serve(FLAGS_metrics_listen);
}

Status Metrics::Serve(const std::string& address) {
  if (exposer_) return Status::Invalid("metrics are served already");
  // civetweb (under prometheus-cpp's Exposer) throws when it cannot listen;
  // nothing of it crosses this function.
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(address, 2);
    exposer->RegisterCollectable(scraped_);
    const std::vector<int> ports = exposer->GetListeningPorts();
    port_ = ports.empty() ? 0 : ports.front();
    exposer_ = std::move(exposer);
  } catch (const std::exception& e) {
    return Status::Unavailable("cannot serve metrics on " + address + ": " +
                               BindError(address, e.what()));
  }
  return Status::OK();
}

prometheus::Histogram::BucketBoundaries Metrics::LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,    5,     10};
}

StateGauge::StateGauge(prometheus::Family<prometheus::Gauge>* family,
                       const prometheus::Labels& labels,
                       std::initializer_list<const char*> states) {
  for (const char* state : states) {
    prometheus::Labels l = labels;
    l["state"] = state;
    series_.emplace_back(state, &family->Add(l));
  }
}

void StateGauge::Set(const std::string& state) {
  for (auto& [name, gauge] : series_) gauge->Set(name == state ? 1 : 0);
}

void AdvanceCounter(prometheus::Counter* counter, double total) {
  const double now = counter->Value();
  if (total > now) counter->Increment(total - now);
}

}  // namespace scalefs
