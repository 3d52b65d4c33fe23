#include "fsd/torture_history.h"

#include <sys/time.h>

#include <cstdio>
#include <cstring>
#include <ctime>

namespace scalefs::torture {

void OpHistory::Begin(uint64_t index, std::string what) {
  timeval tv;
  gettimeofday(&tv, nullptr);
  records_.push_back({static_cast<int64_t>(tv.tv_sec) * 1000000 + tv.tv_usec, index,
                      std::move(what), "(no answer yet)"});
  while (records_.size() > keep_) records_.pop_front();
  if (mirror_ != nullptr) {
    const Record& r = records_.back();
    snprintf(mirror_, mirror_cap_, "#%llu %s", static_cast<unsigned long long>(index),
             r.what.c_str());
  }
}

void OpHistory::End(const std::string& result) {
  if (!records_.empty()) records_.back().result = result;
}

std::string OpHistory::Format() const {
  std::string out;
  for (const Record& r : records_) {
    const time_t sec = static_cast<time_t>(r.wall_us / 1000000);
    tm t;
    gmtime_r(&sec, &t);
    char stamp[64];
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &t);
    char line[96];
    snprintf(line, sizeof line, "  %s.%03dZ  #%llu  ", stamp,
             static_cast<int>(r.wall_us % 1000000 / 1000),
             static_cast<unsigned long long>(r.index));
    out += line + r.what + " -> " + r.result + "\n";
  }
  return out;
}

std::string ErrnoName(int err) {
  if (err == 0) return "0";
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "errno " + std::to_string(err);
}

}  // namespace scalefs::torture
