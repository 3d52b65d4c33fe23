// `scalefs status`: every pair as /proc/drbd shows it, the clients, and the
// health it exits with (0 healthy, 1 degraded, 2 meta unreachable).
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <optional>
#include <thread>

#include "common/cluster_config.h"
#include "fsd/admin_commands.h"
#include "fsd/meta_client.h"
#include "fsd/pair_status.h"
#include "fsd/session_commands.h"

namespace scalefs {
namespace {
int Usage(const char* what) {
  std::cerr << what << kUsage;
  return 2;
}
// The rebalance a mover reports to meta (fsd/rebalance_command.cc): while
// it runs, and the last one's outcome.
std::string FormatRebalance(MetaClient* meta) {
  auto p = meta->RebalanceStatus();
  if (!p.ok() || p->started_ns() == 0) return "";
  char line[256];
  const uint64_t total = std::max(p->bytes_to_move(), p->bytes_moved());
  const double pct = total == 0 ? 100 : 100.0 * static_cast<double>(p->bytes_moved()) /
                                            static_cast<double>(total);
  snprintf(line, sizeof line, "rebalance: %s, moved %s of %s (%.0f%%), %s/s, %s left%s%s\n",
           p->running() ? "running" : "not running", HumanBytes(p->bytes_moved()).c_str(),
           HumanBytes(total).c_str(), pct,
           HumanBytes(static_cast<uint64_t>(p->rate_bytes_per_s())).c_str(),
           !p->running() || p->eta_s() < 0 ? "-" : (std::to_string(p->eta_s()) + " s").c_str(),
           p->draining().empty() ? "" : ", draining ", p->draining().c_str());
  return line;
}
}  // namespace

int RunStatus(const std::vector<std::string>& args, const std::string& meta_flag) {
  double watch = 0;
  bool json = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string value;
    if (a == "--watch" || a == "-w") {
      watch = 2;
      if (i + 1 < args.size() && !args[i + 1].empty() && args[i + 1][0] != '-') value = args[++i];
    } else if (a.rfind("--watch=", 0) == 0) {
      value = a.substr(8);
    } else if (a == "--json") {
      json = true;
    } else {
      return Usage(("status: unknown argument '" + a + "'\n").c_str());
    }
    if (!value.empty()) {
      char* end = nullptr;
      watch = strtod(value.c_str(), &end);
      if (end == nullptr || *end != '\0' || !(watch >= 0.1)) {
        return Usage(("status: bad --watch interval '" + value + "'\n").c_str());
      }
    }
  }
  if (json && watch > 0) return Usage("status: --json and --watch do not go together\n");
  const std::string addr = ResolveMetaAddress(meta_flag);
  // Meta down is an answer too, within about 3 s: kAdminPingMs for meta's
  // calls, the members asked in parallel for 2 s after.
  MetaClient meta(addr, watch > 0 ? 5000 : kAdminPingMs);
  for (;;) {
    auto views = GatherPairViews(&meta, 2000);
    std::optional<meta::SessionListReply> sessions;
    if (views.ok()) {
      auto s = meta.SessionList();
      if (s.ok()) sessions = std::move(*s);
    }
    const status::StatusReport report =
        MakeStatusReport(addr, views, sessions ? &*sessions : nullptr);
    if (json) {
      std::string out;
      google::protobuf::util::JsonPrintOptions o;
      o.preserve_proto_field_names = true;
      o.always_print_primitive_fields = true;
      google::protobuf::util::MessageToJsonString(report, &out, o);
      std::cout << out << "\n";
      return StatusExitCode(report);
    }
    std::string text;
    if (watch > 0) {
      const std::time_t now = std::time(nullptr);
      char when[64];
      strftime(when, sizeof(when), "%F %T", localtime(&now));
      text += "\033[H\033[2J";  // clear the screen
      text += "scalefs status, every " + std::to_string(watch).substr(0, 4) + "s    " + when + "\n";
    }
    text += "meta " + addr + "\n";
    if (!views.ok()) {
      if (watch <= 0) {
        std::cerr << "scalefs status: meta at " << addr << " does not answer ("
                  << views.status().message() << "); is scalefs-meta running there?\n";
        return StatusExitCode(report);
      }
      text += "meta unreachable: " + views.status().ToString() + "\n";
    } else {
      for (const PairView& v : *views) text += FormatPairView(v);
      text += FormatTotals(*views);
      if (sessions) text += FormatClients(*sessions);
      text += FormatRebalance(&meta);
      text += "health: " + report.health() + "\n";
    }
    fputs(text.c_str(), stdout);
    fflush(stdout);
    if (watch <= 0) return StatusExitCode(report);
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(watch * 1000)));
  }
}

}  // namespace scalefs
