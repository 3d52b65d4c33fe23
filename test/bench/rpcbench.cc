// Latency of single metadata calls against a running scalefs-meta, one call
// at a time as a FUSE client makes them: the floor under every metadata row
// of the benchmark. Works in a scratch directory it removes again.
//   rpcbench [--insecure | --cert=.. --key=.. --ca_cert=..] META_ADDR [CALLS]
// (default: the local cluster's admin certificate, as the CLI finds it)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <sys/stat.h>

#include <gflags/gflags.h>

#include "common/rpc_security.h"
#include "fsd/meta_client.h"
#include "fsd/open_file.h"

namespace {

// Microseconds per call of op(i), i in [0, n); exits on the first failure.
double MicrosPerCall(int n, const std::function<scalefs::Status(int)>& op) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    scalefs::Status s = op(i);
    if (!s.ok()) {
      std::fprintf(stderr, "rpcbench: call %d failed: %s\n", i, s.ToString().c_str());
      std::exit(1);
    }
  }
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
         n;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (scalefs::Status s = scalefs::InitRpcSecurityFromFlags("rpcbench", "admin"); !s.ok()) {
    std::fprintf(stderr, "rpcbench: %s\n", s.message().c_str());
    return 2;
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: rpcbench META_ADDR [CALLS]\n");
    return 2;
  }
  const int n = argc > 2 ? std::atoi(argv[2]) : 2000;
  if (n <= 0) {
    std::fprintf(stderr, "rpcbench: CALLS must be positive\n");
    return 2;
  }
  scalefs::MetaClient meta(argv[1], 5000);
  scalefs::meta::MakeNodeRequest dir;
  dir.set_parent(1);
  dir.set_name(".rpcbench." + std::to_string(getpid()));
  dir.set_mode(S_IFDIR | 0700);
  auto made = meta.MakeNode(dir);
  if (!made.ok()) {
    std::fprintf(stderr, "rpcbench: %s\n", made.status().ToString().c_str());
    return 1;
  }
  const uint64_t d = made->attr().ino();
  auto name = [](int i) { return "f" + std::to_string(i); };
  std::printf("getattr %.0f us\n", MicrosPerCall(n, [&](int) { return meta.GetAttr(d).status(); }));
  std::printf("makenode %.0f us\n", MicrosPerCall(n, [&](int i) {
                scalefs::meta::MakeNodeRequest f;
                f.set_parent(d);
                f.set_name(name(i));
                f.set_mode(S_IFREG | 0644);
                f.set_preallocate(scalefs::kCreatePreallocate);  // as a create to write
                return meta.MakeNode(f).status();
              }));
  std::printf("lookup %.0f us\n",
              MicrosPerCall(n, [&](int i) { return meta.Lookup(d, name(i)).status(); }));
  std::printf("unlink %.0f us\n",
              MicrosPerCall(n, [&](int i) { return meta.Unlink(d, name(i), false, nullptr); }));
  scalefs::Status s = meta.Unlink(1, dir.name(), true, nullptr);
  if (!s.ok()) std::fprintf(stderr, "rpcbench: removing %s: %s\n", dir.name().c_str(), s.ToString().c_str());
  return s.ok() ? 0 : 1;
}
