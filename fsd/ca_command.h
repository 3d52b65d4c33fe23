// `scalefs ca init|issue|show`: the cluster's certificate authority, made
// and used with the openssl command (no TLS code of ours).
#pragma once

#include <string>
#include <vector>

namespace scalefs {

int RunCa(const std::vector<std::string>& args);

}  // namespace scalefs
