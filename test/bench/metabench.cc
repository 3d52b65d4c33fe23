// Metadata and small-file workloads of the benchmark, timed in one process
// so that process start-up does not dominate: prints "name ops_per_second".
//   metabench DIR [N]
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

double Time(int ops, const std::function<bool(int)>& op) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < ops; ++i) {
    if (!op(i)) {
      std::fprintf(stderr, "metabench: operation %d failed: %s\n", i, std::strerror(errno));
      std::exit(1);
    }
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return ops / s;
}

void DropCaches() {
  sync();
  if (FILE* f = std::fopen("/proc/sys/vm/drop_caches", "w")) {
    std::fputs("3", f);
    std::fclose(f);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: metabench DIR [FILES]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int n = argc > 2 ? std::atoi(argv[2]) : 5000;
  const std::string empty = dir + "/empty", small = dir + "/small", tree = dir + "/tree";
  for (const auto& d : {empty, small, tree})
    if (mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) {
      std::perror(d.c_str());
      return 1;
    }
  auto name = [](const std::string& d, int i) { return d + "/f" + std::to_string(i); };

  std::printf("create %.0f\n", Time(n, [&](int i) {
    int fd = open(name(empty, i).c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    return fd >= 0 && close(fd) == 0;
  }));
  DropCaches();
  std::printf("stat %.0f\n", Time(n, [&](int i) {
    struct stat st;
    return stat(name(empty, i).c_str(), &st) == 0;
  }));
  std::printf("unlink %.0f\n", Time(n, [&](int i) { return unlink(name(empty, i).c_str()) == 0; }));

  std::string block(4096, 'b');
  std::printf("smallwrite %.0f\n", Time(n, [&](int i) {
    int fd = open(name(small, i).c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) return false;
    bool ok = write(fd, block.data(), block.size()) == 4096;
    return close(fd) == 0 && ok;
  }));
  DropCaches();
  std::printf("smallread %.0f\n", Time(n, [&](int i) {
    char buf[4096];
    int fd = open(name(small, i).c_str(), O_RDONLY);
    if (fd < 0) return false;
    bool ok = read(fd, buf, sizeof buf) == 4096;
    return close(fd) == 0 && ok;
  }));
  // 1,000 directories, 3 levels: 10 x 10 x 10.
  std::vector<std::string> dirs;
  for (int a = 0; a < 10; ++a) {
    dirs.push_back(tree + "/" + std::to_string(a));
    for (int b = 0; b < 10; ++b) {
      dirs.push_back(tree + "/" + std::to_string(a) + "/" + std::to_string(b));
      for (int c = 0; c < 9; ++c)
        dirs.push_back(tree + "/" + std::to_string(a) + "/" + std::to_string(b) + "/" + std::to_string(c));
    }
  }
  std::printf("mkdirtree %.0f\n", Time(dirs.size(), [&](int i) { return mkdir(dirs[i].c_str(), 0755) == 0; }));
  // Creates from several threads at once, each in its own directory (the
  // kernel serializes creates within one): what meta's group commit is for.
  constexpr int kThreads = 8;
  const std::string par = dir + "/par";
  for (int t = -1; t < kThreads; ++t) {
    const std::string d = t < 0 ? par : par + "/" + std::to_string(t);
    if (mkdir(d.c_str(), 0755) != 0) {
      std::perror(d.c_str());
      return 1;
    }
  }
  std::atomic<bool> failed{false};
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < n; i += kThreads) {
        int fd = open(name(par + "/" + std::to_string(t), i).c_str(), O_CREAT | O_EXCL | O_WRONLY,
                      0644);
        if (fd < 0 || close(fd) != 0) failed = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failed) {
    std::fprintf(stderr, "metabench: a parallel create failed\n");
    return 1;
  }
  std::printf("pcreate %.0f\n",
              n / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}
