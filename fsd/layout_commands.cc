#include "fsd/layout_commands.h"

#include <sys/stat.h>
#include <sys/vfs.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>

#include "common/layout.h"
#include "fsd/admin_commands.h"

namespace scalefs {

namespace {

constexpr long kFuseSuperMagic = 0x65735546;
constexpr char kLayoutXattr[] = "scalefs.layout";

const char kLayoutUsage[] =
    "usage: scalefs layout get PATH\n"
    "       scalefs layout set DIR [--unit SIZE] [--width N|all] [--pairs NAME,...|all]\n"
    "  A directory's layout is the default of the files and directories made in it from\n"
    "  then on: stripe unit (a multiple of 4K, at most 64M), how many pairs a file stripes\n"
    "  over, and which pairs. A file's layout is fixed when it is made. Also the xattr\n"
    "  scalefs.layout. A bad layout is refused (EINVAL) and changes nothing.\n";
const char kFileInfoUsage[] = "usage: scalefs fileinfo PATH...\n";

// The meta inode of a path on a scalefs mount.
bool InodeOf(const std::string& path, const char* cmd, uint64_t* ino, struct stat* st) {
  struct statfs fs;
  if (stat(path.c_str(), st) != 0 || statfs(path.c_str(), &fs) != 0) {
    std::cerr << "scalefs " << cmd << ": " << path << ": " << strerror(errno) << "\n";
    return false;
  }
  if (fs.f_type != kFuseSuperMagic) {
    std::cerr << "scalefs " << cmd << ": " << path << " is not on a scalefs mount\n";
    return false;
  }
  *ino = st->st_ino;
  return true;
}

}  // namespace

int RunLayout(const std::vector<std::string>& args, const std::string& meta_flag) {
  if (args.size() < 2 || (args[0] != "get" && args[0] != "set")) {
    std::cerr << kLayoutUsage;
    return 2;
  }
  const std::string cmd = "layout " + args[0];
  std::string text;
  if (args[0] == "get" && args.size() != 2) {
    std::cerr << "scalefs layout get takes one PATH\n" << kLayoutUsage;
    return 2;
  }
  for (size_t i = 2; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string key, value;
    const size_t eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      key = a.substr(2, eq - 2);
      value = a.substr(eq + 1);
    } else if (a.rfind("--", 0) == 0 && i + 1 < args.size()) {
      key = a.substr(2);
      value = args[++i];
    } else {
      std::cerr << "scalefs layout set: unexpected '" << a << "'\n" << kLayoutUsage;
      return 2;
    }
    if (key != "unit" && key != "width" && key != "pairs") {
      std::cerr << "scalefs layout set: unknown option --" << key << "\n" << kLayoutUsage;
      return 2;
    }
    text += (text.empty() ? "" : " ") + key + "=" + value;
  }
  if (args[0] == "set" && text.empty()) {
    std::cerr << "scalefs layout set: nothing to set\n" << kLayoutUsage;
    return 2;
  }
  uint64_t ino = 0;
  struct stat st;
  if (!InodeOf(args[1], cmd.c_str(), &ino, &st)) return 1;
  auto meta = ConnectMeta(meta_flag, cmd);
  if (meta == nullptr) return 1;
  if (args[0] == "set") {
    Status s = meta->SetXattr(ino, kLayoutXattr, text, 0, false);
    if (!s.ok()) {
      std::cerr << "scalefs layout set: " << args[1] << ": " << s.ToString() << "\n";
      return 1;
    }
  }
  auto r = meta->GetXattr(ino, kLayoutXattr);
  if (!r.ok()) {
    std::cerr << "scalefs " << cmd << ": " << args[1] << ": " << r.status().ToString() << "\n";
    return 1;
  }
  std::printf("%s: %s\n", args[1].c_str(), r->c_str());
  return 0;
}

int RunFileInfo(const std::vector<std::string>& args, const std::string& meta_flag) {
  if (args.empty()) {
    std::cerr << kFileInfoUsage;
    return 2;
  }
  auto meta = ConnectMeta(meta_flag, "fileinfo");
  if (meta == nullptr) return 1;
  auto pairs = meta->PairList();
  if (!pairs.ok()) {
    std::cerr << "scalefs fileinfo: " << pairs.status().ToString() << "\n";
    return 1;
  }
  std::map<uint32_t, std::string> names;
  for (const meta::Pair& p : *pairs) names[p.id()] = p.name();
  auto name = [&](uint32_t id) {
    auto it = names.find(id);
    return it != names.end() ? it->second : "pair-id-" + std::to_string(id);
  };
  int rc = 0;
  for (const std::string& path : args) {
    uint64_t ino = 0;
    struct stat st;
    if (!InodeOf(path, "fileinfo", &ino, &st)) {
      rc = 1;
      continue;
    }
    auto layout = meta->GetXattr(ino, kLayoutXattr);
    std::printf("%s: inode %lu, %lu bytes, layout %s\n", path.c_str(), (unsigned long)ino,
                (unsigned long)st.st_size,
                layout.ok() ? layout->c_str() : layout.status().message().c_str());
    if (!S_ISREG(st.st_mode)) continue;
    // The whole map, as far as any extent goes (space allocated past the end too).
    auto ext = meta->GetExtents(ino, 0, ~uint64_t{0} / 2);
    if (!ext.ok()) {
      std::cerr << "scalefs fileinfo: " << path << ": " << ext.status().ToString() << "\n";
      rc = 1;
      continue;
    }
    std::map<std::string, std::pair<uint64_t, uint64_t>> per_pair;  // written, unwritten
    std::printf("  %12s %10s  %-8s %12s  %s\n", "offset", "length", "pair", "device", "state");
    for (const meta::Extent& e : ext->extents()) {
      std::printf("  %12lu %10lu  %-8s %12lu  %s\n", (unsigned long)e.file_offset(),
                  (unsigned long)e.length(), name(e.pair()).c_str(), (unsigned long)e.dev_offset(),
                  e.written() ? "written" : "unwritten");
      auto& t = per_pair[name(e.pair())];
      (e.written() ? t.first : t.second) += e.length();
    }
    for (const auto& [p, t] : per_pair) {
      std::printf("  %s: %lu bytes written, %lu unwritten\n", p.c_str(), (unsigned long)t.first,
                  (unsigned long)t.second);
    }
  }
  return rc;
}

}  // namespace scalefs
