#include "fsd/torture_options.h"

#include "fsd/torture_faults.h"

#include <cstdlib>
#include <sstream>

namespace scalefs::torture {

const char kTortureUsage[] =
    "usage: scalefs torture MOUNT [MOUNT2 ...] [--seconds N] [--seed S] [--files N] [--procs N]\n"
    "                       [--ops N] [--attr_timeout S] [--faults SCHEDULE] [--cluster DIR]\n"
    "  runs N processes (default 4; process k on MOUNT k % mounts) for --seconds (60) doing\n"
    "  random file system operations, checks every answer against a model, then the whole\n"
    "  tree on every mount, then runs verify and fsck. --files: file names per directory (16);\n"
    "  --ops: operations per process at most; --attr_timeout: the mounts' attribute and entry\n"
    "  timeout (1 s), after which other mounts must agree. Exit 0 only when all is clean.\n"
    "  [--faults SCHEDULE [--cluster DIR]]:\n";

namespace {
Status ParseUnsigned(const std::string& name, const std::string& text, uint64_t min, uint64_t max,
                     uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = strtoull(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || text[0] == '-' || v < min || v > max) {
    return Status::Invalid("--" + name + " wants a whole number in " + std::to_string(min) +
                           ".." + std::to_string(max) + ", not '" + text + "'");
  }
  *out = v;
  return Status::OK();
}
}  // namespace

Result<TortureOptions> ParseTortureArgs(const std::vector<std::string>& args) {
  TortureOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) {
      if (a.empty()) return Status::Invalid("an empty MOUNT");
      o.mounts.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Status::Invalid(a + " wants a value");
    }
    uint64_t v = 0;
    Status s;
    if (name == "seconds") {
      s = ParseUnsigned(name, value, 1, 7 * 86400, &v);
      o.seconds = static_cast<int>(v);
    } else if (name == "seed") {
      s = ParseUnsigned(name, value, 0, UINT64_MAX - kMaxProcs, &v);
      o.seed = v;
      o.seed_given = true;
    } else if (name == "files") {
      s = ParseUnsigned(name, value, 1, 1000, &v);
      o.files = static_cast<int>(v);
    } else if (name == "procs") {
      s = ParseUnsigned(name, value, 1, kMaxProcs, &v);
      o.procs = static_cast<int>(v);
    } else if (name == "ops") {
      s = ParseUnsigned(name, value, 1, UINT64_MAX, &v);
      o.ops = v;
    } else if (name == "attr_timeout") {
      char* end = nullptr;
      o.attr_timeout = strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(o.attr_timeout >= 0 && o.attr_timeout <= 3600)) {
        s = Status::Invalid("--attr_timeout wants seconds in 0..3600, not '" + value + "'");
      }
    } else if (name == "faults") {
      s = ParseFaultPlan(value).status();
      o.faults = value;
    } else if (name == "cluster") {
      if (value.empty()) s = Status::Invalid("--cluster wants the cluster's state folder");
      o.cluster = value;
    } else {
      s = Status::Invalid("unknown option --" + name);
    }
    if (!s.ok()) return s;
  }
  if (o.mounts.empty()) return Status::Invalid("no MOUNT given");
  if (o.mounts.size() > kMaxMounts) {
    return Status::Invalid("at most " + std::to_string(kMaxMounts) + " MOUNTs");
  }
  return o;
}

namespace {
std::string Quoted(const std::string& s) {
  if (s.find_first_of(" '\"\\$`") == std::string::npos) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string Flags(const TortureOptions& o, uint64_t seed, int procs, uint64_t ops) {
  std::ostringstream out;
  out << " --seconds " << o.seconds << " --seed " << seed << " --files " << o.files
      << " --procs " << procs;
  if (ops > 0) out << " --ops " << ops;
  if (o.attr_timeout != 1.0) out << " --attr_timeout " << o.attr_timeout;
  if (!o.faults.empty()) out << " --faults " << Quoted(o.faults);
  if (!o.cluster.empty()) out << " --cluster " << Quoted(o.cluster);
  return out.str();
}
}  // namespace

std::string TortureCommand(const TortureOptions& o) {
  std::string cmd = "scalefs torture";
  for (const std::string& m : o.mounts) cmd += " " + Quoted(m);
  return cmd + Flags(o, o.seed, o.procs, o.ops);
}

std::string SingleProcessCommand(const TortureOptions& o, int proc, uint64_t ops) {
  // Process `proc` works through mounts[proc % n] and looks through the
  // ones after it: rotated, that order is process 0's.
  std::string cmd = "scalefs torture";
  const size_t n = o.mounts.size();
  for (size_t j = 0; j < n; ++j) cmd += " " + Quoted(o.mounts[(proc + j) % n]);
  return cmd + Flags(o, o.seed + proc, 1, ops);
}

}  // namespace scalefs::torture
