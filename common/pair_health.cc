#include "common/pair_health.h"

namespace scalefs {

bool PairHealthy(const meta::Pair& pair, const chunk::InfoReply* a, const chunk::InfoReply* b) {
  if (pair.solo() != 0) return false;
  for (const chunk::InfoReply* info : {a, b}) {
    if (info == nullptr || info->connection_state() != "Connected" ||
        info->disk_state() != "UpToDate" || info->peer_disk_state() != "UpToDate" ||
        info->solo()) {
      return false;
    }
  }
  return true;
}

}  // namespace scalefs
