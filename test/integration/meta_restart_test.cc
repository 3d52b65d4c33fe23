// Meta killed, restarted and stopped during a storm of namespace and data
// operations from two mounts: applications see no error and no second
// effect of a retried call, and the namespace ends as a model of the
// acknowledged operations says.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

using namespace std::chrono_literals;

// One application thread working in a directory of its own, on one mount,
// with a model of what every acknowledged operation left there: a name's
// file contents, or nullopt for a directory.
class Worker {
 public:
  Worker(std::string dir, uint64_t seed) : dir_(std::move(dir)), rng_(seed) {}

  std::vector<std::string> errors;
  uint64_t ops = 0;

  void Run(const std::atomic<bool>& stop) {
    if (mkdir(dir_.c_str(), 0755) != 0) errors.push_back("mkdir " + dir_ + ": " + strerror(errno));
    while (!stop.load()) Step();
  }

  // Compares the model with what `dir` (this worker's directory seen through
  // any mount) holds; returns the first difference.
  std::string Check(const std::string& dir) const {
    std::map<std::string, std::optional<std::string>> seen;
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return "opendir " + dir + ": " + strerror(errno);
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      struct stat st;
      if (lstat((dir + "/" + n).c_str(), &st) != 0) return "lstat " + n + ": " + strerror(errno);
      if (S_ISDIR(st.st_mode)) {
        seen[n] = std::nullopt;
      } else {
        auto r = ReadFile(dir + "/" + n);
        if (!r.ok()) return "read " + n + ": " + r.status().ToString();
        seen[n] = *r;
      }
    }
    closedir(d);
    for (const auto& [n, v] : model_) {
      auto it = seen.find(n);
      if (it == seen.end()) return dir + ": '" + n + "' is missing";
      if (it->second != v) return dir + ": '" + n + "' differs from the model";
    }
    for (const auto& [n, v] : seen) {
      if (!model_.count(n)) return dir + ": '" + n + "' should not exist";
    }
    return "";
  }

 private:
  std::string Pick(const char* prefix, int n) {
    return prefix + std::to_string(std::uniform_int_distribution<int>(0, n - 1)(rng_));
  }
  std::string Path(const std::string& n) const { return dir_ + "/" + n; }
  void Fail(const std::string& what) {
    errors.push_back(what + ": " + strerror(errno) + " (op " + std::to_string(ops) + ")");
  }
  bool IsFile(const std::string& n) const {
    auto it = model_.find(n);
    return it != model_.end() && it->second.has_value();
  }

  void Step() {
    ops++;
    const int op = std::uniform_int_distribution<int>(0, 9)(rng_);
    const std::string f = Pick("f", 24);
    switch (op) {
      case 0:
      case 1: {  // create or overwrite
        const std::string data = PatternBytes(rng_(), 0, 1 + rng_() % 20000);
        Status s = WriteFile(Path(f), data, /*fsync_it=*/false);
        if (!s.ok()) return (void)errors.push_back("write " + f + ": " + s.ToString());
        model_[f] = data;
        return;
      }
      case 2: {  // append
        if (!IsFile(f)) return;
        const std::string more = PatternBytes(rng_(), 0, 1 + rng_() % 5000);
        int fd = open(Path(f).c_str(), O_WRONLY | O_APPEND);
        if (fd < 0) return Fail("open for append " + f);
        if (write(fd, more.data(), more.size()) != static_cast<ssize_t>(more.size())) {
          close(fd);
          return Fail("append " + f);
        }
        if (close(fd) != 0) return Fail("close " + f);
        *model_[f] += more;
        return;
      }
      case 3: {  // rename, over an existing file too
        if (!IsFile(f)) return;
        const std::string to = Pick("f", 24);
        if (to == f) return;
        if (model_.count(to) && !IsFile(to)) return;
        if (rename(Path(f).c_str(), Path(to).c_str()) != 0) return Fail("rename " + f + " " + to);
        model_[to] = model_[f];
        model_.erase(f);
        return;
      }
      case 4: {  // unlink
        if (!IsFile(f)) return;
        if (unlink(Path(f).c_str()) != 0) return Fail("unlink " + f);
        model_.erase(f);
        return;
      }
      case 5: {  // mkdir or rmdir
        const std::string d = Pick("d", 6);
        if (model_.count(d)) {
          if (rmdir(Path(d).c_str()) != 0) return Fail("rmdir " + d);
          model_.erase(d);
        } else {
          if (mkdir(Path(d).c_str(), 0755) != 0) return Fail("mkdir " + d);
          model_[d] = std::nullopt;
        }
        return;
      }
      case 6:
      case 7: {  // stat
        struct stat st;
        const int r = stat(Path(f).c_str(), &st);
        if (IsFile(f)) {
          if (r != 0) return Fail("stat " + f);
          if (static_cast<size_t>(st.st_size) != model_[f]->size()) {
            errors.push_back("stat " + f + ": size " + std::to_string(st.st_size) + ", model " +
                             std::to_string(model_[f]->size()));
          }
        } else if (r == 0 || errno != ENOENT) {
          errors.push_back("stat " + f + ": exists, model says not");
        }
        return;
      }
      default: {  // read back
        if (!IsFile(f)) return;
        auto r = ReadFile(Path(f));
        if (!r.ok()) return (void)errors.push_back("read " + f + ": " + r.status().ToString());
        if (*r != *model_[f]) errors.push_back("read " + f + ": bytes differ from the model");
        return;
      }
    }
  }

  const std::string dir_;
  std::mt19937_64 rng_;
  std::map<std::string, std::optional<std::string>> model_;
};

class MetaRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<Cluster>();
    ASSERT_OK(cluster_->Start());
    mnt2_ = cluster_->state_dir() + "/mnt2";
    ASSERT_OK(cluster_->MountAt(mnt2_, "client2"));
  }

  // Runs two workers per mount while `disturb` acts on meta, then checks
  // every worker's model through both mounts and fsck.
  void Storm(const std::function<void()>& disturb) {
    std::vector<std::unique_ptr<Worker>> workers;
    std::vector<std::string> rel;
    for (int i = 0; i < 4; ++i) {
      rel.push_back("w" + std::to_string(i));
      const std::string& mnt = i % 2 == 0 ? cluster_->mnt() : mnt2_;
      workers.push_back(std::make_unique<Worker>(mnt + "/" + rel.back(), 1000 + i));
    }
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (auto& w : workers) threads.emplace_back([&w, &stop] { w->Run(stop); });
    disturb();
    std::this_thread::sleep_for(500ms);  // a last stretch with meta up
    stop = true;
    for (auto& t : threads) t.join();
    uint64_t ops = 0;
    for (size_t i = 0; i < workers.size(); ++i) {
      ops += workers[i]->ops;
      for (const std::string& e : workers[i]->errors) ADD_FAILURE() << "worker " << i << ": " << e;
    }
    EXPECT_GT(ops, 400u) << "the storm hardly ran";
    std::this_thread::sleep_for(1500ms);  // past the other mount's attr and entry caches
    for (size_t i = 0; i < workers.size(); ++i) {
      for (const std::string& mnt : {cluster_->mnt(), mnt2_}) {
        const std::string diff = workers[i]->Check(mnt + "/" + rel[i]);
        EXPECT_EQ(diff, "") << "worker " << i << " seen through " << mnt;
      }
    }
    std::string out;
    EXPECT_EQ(cluster_->Cli({"fsck"}, &out), 0) << out;
    printf("storm: %llu operations\n", static_cast<unsigned long long>(ops));
  }

  std::unique_ptr<Cluster> cluster_;
  std::string mnt2_;
};

TEST_F(MetaRestartTest, TwentySigkillsDuringAStormAreInvisible) {
  Storm([this] {
    std::mt19937 rng(7);
    for (int i = 0; i < 20; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 500));
      cluster_->Kill("meta");
      ASSERT_OK(cluster_->StartDaemon("meta"));
    }
  });
}

TEST_F(MetaRestartTest, SigtermRestartsDuringAStormAreInvisible) {
  Storm([this] {
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(600ms);
      cluster_->Signal("meta", SIGTERM);
      cluster_->WaitExit("meta");
      ASSERT_OK(cluster_->StartDaemon("meta"));
    }
  });
}

TEST_F(MetaRestartTest, MetaStoppedForTenSecondsIsInvisible) {
  Storm([this] {
    std::this_thread::sleep_for(1s);
    cluster_->Signal("meta", SIGSTOP);
    std::this_thread::sleep_for(10s);
    cluster_->Signal("meta", SIGCONT);
    std::this_thread::sleep_for(1s);
  });
}

}  // namespace
}  // namespace scalefs::test
