#include "common/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>

namespace scalefs {
namespace {

TEST(WorkerPoolTest, RunsEveryTaskAndReturnsItsResult) {
  WorkerPool pool(4);
  std::vector<std::future<int>> results;
  for (int i = 0; i < 100; ++i) results.push_back(pool.Submit([i] { return i * i; }));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(results[i].get(), i * i);
}

TEST(WorkerPoolTest, UsesOnlyItsOwnThreads) {
  WorkerPool pool(3);
  std::mutex mu;
  std::set<std::thread::id> ids;
  std::vector<std::future<void>> done;
  for (int i = 0; i < 200; ++i)
    done.push_back(pool.Submit([&] {
      std::lock_guard<std::mutex> l(mu);
      ids.insert(std::this_thread::get_id());
    }));
  for (auto& f : done) f.get();
  EXPECT_LE(ids.size(), 3u);
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);
}

TEST(WorkerPoolTest, DestructorFinishesQueuedTasks) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(1);
    for (int i = 0; i < 50; ++i) pool.Submit([&] { ran++; });
  }
  EXPECT_EQ(ran.load(), 50);
}

}  // namespace
}  // namespace scalefs
