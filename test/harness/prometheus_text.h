// What a test reads from a /metrics endpoint: fetched with curl, parsed as
// Prometheus' text exposition format (the subset the exporters write:
// '# HELP' / '# TYPE' comments, `name{label="value",...} value` lines).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace scalefs::test {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

class Scrape {
 public:
  // Parses `text`; a line that is not a comment nor a sample is an error.
  static Result<Scrape> Parse(const std::string& text);
  // GET http://address/metrics with curl, then Parse.
  static Result<Scrape> Fetch(const std::string& address);

  // The sum of the samples named `name` whose labels include `labels`
  // (0 when there is none).
  double Sum(const std::string& name, const std::map<std::string, std::string>& labels = {}) const;
  // Whether some sample of that name and labels exists.
  bool Has(const std::string& name, const std::map<std::string, std::string>& labels = {}) const;

  const std::string& text() const { return text_; }
  const std::vector<Sample>& samples() const { return samples_; }

 private:
  std::string text_;
  std::vector<Sample> samples_;
};

}  // namespace scalefs::test
