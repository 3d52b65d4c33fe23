// `scalefs rebalance`, `scalefs pair drain` and `scalefs pair remove`.
#pragma once

#include <string>
#include <vector>

namespace scalefs {

int RunRebalance(const std::vector<std::string>& args, const std::string& meta_flag);
// `pair drain NAME`, `pair remove NAME` (args after "pair").
int RunPairDrain(const std::vector<std::string>& args, const std::string& meta_flag);
int RunPairRemove(const std::vector<std::string>& args, const std::string& meta_flag);

}  // namespace scalefs
