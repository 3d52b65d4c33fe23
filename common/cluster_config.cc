#include "common/cluster_config.h"

#include <cstdlib>
#include <fstream>

namespace scalefs {

std::string LocalStateDir() {
  const char* env = std::getenv("SCALEFS_STATE");
  if (env != nullptr && *env != '\0') return env;
  return "/var/lib/scalefs";
}

std::string ResolveMetaAddress(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  const char* env = std::getenv("SCALEFS_META");
  if (env != nullptr && *env != '\0') return env;
  std::ifstream in(LocalStateDir() + "/meta.addr");
  std::string addr;
  if (in >> addr && !addr.empty()) return addr;
  return "127.0.0.1:7600";
}

}  // namespace scalefs
