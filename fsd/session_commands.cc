#include "fsd/session_commands.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <limits>

#include "common/cluster_config.h"
#include "fsd/admin_commands.h"
#include "fsd/meta_client.h"

namespace scalefs {

namespace {

std::string WallTime(int64_t ns) {
  const std::time_t t = static_cast<std::time_t>(ns / 1000000000);
  char buf[64];
  strftime(buf, sizeof(buf), "%F %T", localtime(&t));
  return buf;
}

std::string LockLine(const meta::FileLock& l, const char* state) {
  const char* type = l.type() == F_WRLCK ? "write" : l.type() == F_RDLCK ? "read" : "unlock";
  const std::string end =
      l.end() == std::numeric_limits<uint64_t>::max() ? "EOF" : std::to_string(l.end());
  char buf[512];
  snprintf(buf, sizeof(buf), "%-10llu %-7s %-6s %-8s %-24s %-8u %-10llu %s (session %llu)\n",
           static_cast<unsigned long long>(l.ino()), state, l.flock() ? "flock" : "posix", type,
           (std::to_string(l.start()) + "-" + end).c_str(), l.pid(),
           static_cast<unsigned long long>(l.owner() % 10000000000ull), l.host().c_str(),
           static_cast<unsigned long long>(l.session()));
  return buf;
}

}  // namespace

std::string FormatClients(const meta::SessionListReply& sessions) {
  std::string out = "clients: " + std::to_string(sessions.sessions_size()) + "\n";
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  for (const meta::SessionInfo& s : sessions.sessions()) {
    char buf[512];
    snprintf(buf, sizeof(buf),
             "  session %llu  %s:%s  pid %u  since %s  open files %u  locks %u  seen %.1fs ago\n",
             static_cast<unsigned long long>(s.id()), s.host().c_str(), s.mount_point().c_str(),
             s.pid(), WallTime(s.start_ns()).c_str(), s.open_files(), s.locks(),
             static_cast<double>(now - s.last_seen_ns()) / 1e9);
    out += buf;
  }
  if (sessions.grace()) out += "  meta restarted: grace period, waiting for clients to reclaim\n";
  return out;
}

int RunLocks(const std::vector<std::string>& args, const std::string& meta_flag) {
  std::vector<uint64_t> inos;
  for (const std::string& path : args) {
    if (!path.empty() && path[0] == '-') {
      std::cerr << "usage: scalefs locks [PATH...]\n";
      return 2;
    }
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      std::cerr << "scalefs locks: " << path << ": " << strerror(errno) << "\n";
      return 1;
    }
    inos.push_back(st.st_ino);  // a mount's inode numbers are meta's
  }
  if (inos.empty()) inos.push_back(0);  // every file
  auto meta = ConnectMeta(meta_flag, "locks");
  if (meta == nullptr) return 1;
  printf("%-10s %-7s %-6s %-8s %-24s %-8s %-10s %s\n", "INODE", "STATE", "KIND", "TYPE", "RANGE",
         "PID", "OWNER", "CLIENT");
  for (uint64_t ino : inos) {
    auto r = meta->LockList(ino);
    if (!r.ok()) {
      std::cerr << "scalefs locks: " << r.status().ToString() << "\n";
      return 1;
    }
    for (const meta::FileLock& l : r->held()) fputs(LockLine(l, "held").c_str(), stdout);
    for (const meta::FileLock& l : r->waiting()) fputs(LockLine(l, "waiting").c_str(), stdout);
  }
  return 0;
}

}  // namespace scalefs
