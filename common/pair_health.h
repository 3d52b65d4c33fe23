// When a storage pair is healthy: one rule for `scalefs status` (what it
// exits with) and for meta's scalefs_pair_healthy metric.
#pragma once

#include "proto/chunk.pb.h"
#include "proto/meta.pb.h"

namespace scalefs {

// Both members answered (`a`, `b` non-null: their Info), are Connected to
// each other, UpToDate on both sides, and neither writes alone (meta's solo
// grant). A resync, a member down or out of sync is degraded.
bool PairHealthy(const meta::Pair& pair, const chunk::InfoReply* a, const chunk::InfoReply* b);

}  // namespace scalefs
