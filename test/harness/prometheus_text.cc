#include "test/harness/prometheus_text.h"

#include <cctype>
#include <cstdlib>

#include "test/harness/cluster.h"

namespace scalefs::test {

namespace {

bool Matches(const Sample& s, const std::string& name,
             const std::map<std::string, std::string>& labels) {
  if (s.name != name) return false;
  for (const auto& [k, v] : labels) {
    auto it = s.labels.find(k);
    if (it == s.labels.end() || it->second != v) return false;
  }
  return true;
}

// `name{a="x",b="y"} 12.5` (labels optional) into *out.
bool ParseSample(const std::string& line, Sample* out) {
  size_t i = 0;
  while (i < line.size() && (std::isalnum(static_cast<unsigned char>(line[i])) ||
                             line[i] == '_' || line[i] == ':')) {
    ++i;
  }
  if (i == 0) return false;
  out->name = line.substr(0, i);
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const size_t eq = line.find('=', i);
      if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') return false;
      const std::string key = line.substr(i, eq - i);
      std::string value;
      size_t j = eq + 2;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size()) {
          ++j;
          value += line[j] == 'n' ? '\n' : line[j];
        } else {
          value += line[j];
        }
      }
      if (j >= line.size()) return false;
      out->labels[key] = value;
      i = j + 1;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return false;
    ++i;  // '}'
  }
  if (i >= line.size() || line[i] != ' ') return false;
  const std::string number = line.substr(i + 1, line.find(' ', i + 1) - i - 1);
  if (number == "+Inf" || number == "-Inf" || number == "NaN") {
    out->value = number == "NaN" ? 0 : (number[0] == '+' ? 1e308 : -1e308);
    return true;
  }
  char* end = nullptr;
  out->value = std::strtod(number.c_str(), &end);
  return end != nullptr && *end == '\0' && !number.empty();
}

}  // namespace

Result<Scrape> Scrape::Parse(const std::string& text) {
  Scrape s;
  s.text_ = text;
  size_t pos = 0;
  for (int n = 1; pos < text.size(); ++n) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    Sample sample;
    if (!ParseSample(line, &sample)) {
      return Status::Invalid("line " + std::to_string(n) + " is not a sample: '" + line + "'");
    }
    s.samples_.push_back(std::move(sample));
  }
  return s;
}

Result<Scrape> Scrape::Fetch(const std::string& address) {
  std::string out;
  const int rc = RunShell("curl -sS --fail --max-time 10 http://" + address + "/metrics", &out);
  if (rc != 0) return Status::Unavailable("curl " + address + " exited " + std::to_string(rc) + ": " + out);
  return Parse(out);
}

double Scrape::Sum(const std::string& name,
                   const std::map<std::string, std::string>& labels) const {
  double sum = 0;
  for (const Sample& s : samples_) {
    if (Matches(s, name, labels)) sum += s.value;
  }
  return sum;
}

bool Scrape::Has(const std::string& name,
                 const std::map<std::string, std::string>& labels) const {
  for (const Sample& s : samples_) {
    if (Matches(s, name, labels)) return true;
  }
  return false;
}

}  // namespace scalefs::test
