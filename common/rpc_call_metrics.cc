#include "common/rpc_call_metrics.h"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace scalefs {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kCodes = 17;  // grpc::StatusCode OK .. UNAUTHENTICATED

// The series of one method: its histogram, and a counter per status code,
// added the first time the method answers with that code.
struct MethodSeries {
  prometheus::Family<prometheus::Counter>* handled;
  prometheus::Labels labels;
  prometheus::Histogram* latency;
  std::mutex mu;  // adding a code's counter
  std::array<std::atomic<prometheus::Counter*>, kCodes> codes{};

  prometheus::Counter* Code(int code) {
    if (code < 0 || code >= kCodes) code = grpc::StatusCode::UNKNOWN;
    prometheus::Counter* c = codes[code].load(std::memory_order_acquire);
    if (c != nullptr) return c;
    std::lock_guard<std::mutex> l(mu);
    c = codes[code].load(std::memory_order_relaxed);
    if (c == nullptr) {
      prometheus::Labels with = labels;
      with["code"] = GrpcCodeName(code);
      c = &handled->Add(with);
      codes[code].store(c, std::memory_order_release);
    }
    return c;
  }
};

class CallTimer : public grpc::experimental::Interceptor {
 public:
  CallTimer(MethodSeries* series, bool timed)
      : series_(series), timed_(timed), start_(Clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      series_->Code(methods->GetSendStatus().error_code())->Increment();
      if (timed_) {
        series_->latency->Observe(std::chrono::duration<double>(Clock::now() - start_).count());
      }
    }
    methods->Proceed();
  }

 private:
  MethodSeries* const series_;
  const bool timed_;
  const Clock::time_point start_;
};

class RpcCallMetrics : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcCallMetrics(Metrics* metrics)
      : id_(next_id_.fetch_add(1)),
        handled_(prometheus::BuildCounter()
                     .Name("scalefs_grpc_server_handled_total")
                     .Help("gRPC calls this server answered, by method and status code")
                     .Register(metrics->registry())),
        latency_(prometheus::BuildHistogram()
                     .Name("scalefs_grpc_server_handling_seconds")
                     .Help("Time from the start of a unary gRPC call to its status")
                     .Register(metrics->registry())) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // A streaming call lives as long as its session: only unary calls are
    // timed.
    return new CallTimer(Series(info->method()),
                         info->type() == grpc::experimental::ServerRpcInfo::Type::UNARY);
  }

 private:
  // The method's series, by the address of its name (gRPC's method table
  // keeps one string per method): a thread's own cache answers without a
  // lock after its first call of a method. Entries name the factory by id,
  // never by address: a later factory may be allocated where one was.
  MethodSeries* Series(const char* method) {
    thread_local std::unordered_map<const void*, std::pair<uint64_t, MethodSeries*>> cache;
    auto hit = cache.find(method);
    if (hit != cache.end() && hit->second.first == id_) return hit->second.second;
    MethodSeries* s = SeriesLocked(method);
    cache[method] = {id_, s};
    return s;
  }

  MethodSeries* SeriesLocked(const char* method) {
    const std::string full = method != nullptr ? method : "/unknown/unknown";
    std::lock_guard<std::mutex> l(mu_);
    std::unique_ptr<MethodSeries>& s = series_[full];
    if (!s) {
      // "/scalefs.meta.Meta/Lookup" -> service scalefs.meta.Meta, method Lookup.
      const size_t slash = full.rfind('/');
      const size_t from = full[0] == '/' ? 1 : 0;
      prometheus::Labels labels{
          {"service", slash == std::string::npos || slash < from
                          ? std::string()
                          : full.substr(from, slash - from)},
          {"method", slash == std::string::npos ? full : full.substr(slash + 1)}};
      s = std::make_unique<MethodSeries>();
      s->handled = &handled_;
      s->labels = labels;
      s->latency = &latency_.Add(labels, Metrics::LatencyBuckets());
    }
    return s.get();
  }

  static inline std::atomic<uint64_t> next_id_{1};
  const uint64_t id_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& latency_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<MethodSeries>> series_;
};

}  // namespace

const char* GrpcCodeName(int code) {
  static const char* const kNames[kCodes] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  return code >= 0 && code < kCodes ? kNames[code] : "UNKNOWN";
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRpcCallMetrics(
    Metrics* metrics) {
  return std::make_unique<RpcCallMetrics>(metrics);
}

}  // namespace scalefs
