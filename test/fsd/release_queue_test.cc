#include "fsd/release_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace scalefs {
namespace {

using namespace std::chrono_literals;

AheadSpace Range(uint64_t off, uint64_t len, uint64_t gen = 3) {
  AheadSpace a;
  meta::ByteRange& r = a.ranges.emplace_back();
  r.set_offset(off);
  r.set_length(len);
  a.alloc_gen = gen;
  return a;
}

// Records every call; each call returns `result`.
struct Recorder {
  std::mutex mu;
  std::vector<meta::ReleaseRequest> calls;
  Status result;
  ReleaseQueue::Sender Sender() {
    return [this](const meta::ReleaseRequest& r) {
      std::lock_guard l(mu);
      calls.push_back(r);
      return result;
    };
  }
  size_t files() {
    std::lock_guard l(mu);
    size_t n = 0;
    for (const auto& c : calls) n += c.files_size();
    return n;
  }
};

// The release ends the session's open at meta: a file with no space to
// give back is released all the same.
TEST(ReleaseQueue, AFileWithNothingToGiveBackIsReleasedToo) {
  Recorder rec;
  ReleaseQueue q(rec.Sender(), 50ms);
  q.Add(9, AheadSpace());
  q.Flush();
  std::lock_guard l(rec.mu);
  ASSERT_EQ(rec.calls.size(), 1u);
  ASSERT_EQ(rec.calls[0].files_size(), 1);
  EXPECT_EQ(rec.calls[0].files(0).ino(), 9u);
  EXPECT_EQ(rec.calls[0].files(0).ranges_size(), 0);
}

// A reader's close waits longer than space does; opened again meanwhile, it
// never reaches meta at all.
TEST(ReleaseQueue, AReadersCloseWaitsLongerAndAReopenCancelsIt) {
  Recorder rec;
  ReleaseQueue q(rec.Sender(), 10ms, 300ms);
  q.Add(5, AheadSpace{});
  q.Add(6, Range(0, 4096));
  for (int i = 0; i < 100 && rec.files() < 1; ++i) std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(rec.files(), 1u) << "space goes back after the short delay only";
  EXPECT_TRUE(q.Take(5).ranges.empty());  // opened again
  EXPECT_EQ(q.queued(), 0u);
  q.Add(7, AheadSpace{});
  for (int i = 0; i < 200 && rec.files() < 2; ++i) std::this_thread::sleep_for(5ms);
  std::lock_guard l(rec.mu);
  ASSERT_EQ(rec.calls.size(), 2u);
  EXPECT_EQ(rec.calls[1].files(0).ino(), 7u) << "the reopened file was never released";
}

TEST(ReleaseQueue, ClosesWithinTheDelayGoOutTogetherInOneCall) {
  Recorder rec;
  ReleaseQueue q(rec.Sender(), 50ms);
  q.Add(7, Range(0, 65536));
  q.Add(8, Range(4096, 61440));
  q.Add(7, Range(1 << 20, 4096));  // a second range of the same file
  for (int i = 0; i < 200 && rec.files() < 2; ++i) std::this_thread::sleep_for(10ms);
  std::lock_guard l(rec.mu);
  ASSERT_EQ(rec.calls.size(), 1u);
  ASSERT_EQ(rec.calls[0].files_size(), 2);
  EXPECT_EQ(rec.calls[0].files(0).ino(), 7u);
  EXPECT_EQ(rec.calls[0].files(0).ranges_size(), 2);
  EXPECT_EQ(rec.calls[0].files(0).alloc_gen(), 3u);
  EXPECT_EQ(rec.calls[0].files(1).ino(), 8u);
  EXPECT_EQ(rec.calls[0].files(1).ranges(0).offset(), 4096u);
  EXPECT_EQ(q.queued(), 0u);
}

TEST(ReleaseQueue, AFileOpenedAgainTakesItsSpaceBackAndItIsNotSent) {
  Recorder rec;
  ReleaseQueue q(rec.Sender(), 10s);
  q.Add(7, Range(0, 65536, 5));
  q.Add(8, Range(0, 65536));
  AheadSpace back = q.Take(7);
  ASSERT_EQ(back.ranges.size(), 1u);
  EXPECT_EQ(back.ranges[0].length(), 65536u);
  EXPECT_EQ(back.alloc_gen, 5u);
  EXPECT_TRUE(q.Take(7).ranges.empty());
  q.Flush();
  std::lock_guard l(rec.mu);
  ASSERT_EQ(rec.calls.size(), 1u);
  ASSERT_EQ(rec.calls[0].files_size(), 1);
  EXPECT_EQ(rec.calls[0].files(0).ino(), 8u);
}

// A sender whose one call is held until release is set: the call stays in
// flight for as long as a test needs.
struct HeldCall {
  std::promise<void> entered, release;
  std::shared_future<void> go = release.get_future().share();
  std::atomic<bool> returned{false};
  ReleaseQueue::Sender Sender() {
    return [this](const meta::ReleaseRequest&) {
      entered.set_value();
      go.wait();
      returned = true;
      return Status::OK();
    };
  }
};

TEST(ReleaseQueue, TakeWaitsForACallThatCarriesTheFile) {
  HeldCall call;
  ReleaseQueue q(call.Sender(), 10s);
  q.Add(7, Range(0, 65536));
  std::thread flusher([&] { q.Flush(); });
  call.entered.get_future().wait();
  auto taken = std::async(std::launch::async, [&] { return q.Take(7); });
  EXPECT_EQ(taken.wait_for(100ms), std::future_status::timeout);
  call.release.set_value();
  EXPECT_TRUE(taken.get().ranges.empty());  // gone with the call, nothing to take
  EXPECT_TRUE(call.returned);
  flusher.join();
}

// Flush returns once every release has reached meta, also one the thread
// had out already: an unlink right after it finds the file closed.
TEST(ReleaseQueue, FlushWaitsForACallTheThreadHasOut) {
  HeldCall call;
  ReleaseQueue q(call.Sender(), 1ms);
  q.Add(7, Range(0, 65536));
  call.entered.get_future().wait();  // the thread's call is out
  auto flushed = std::async(std::launch::async, [&] { return q.Flush(); });
  EXPECT_EQ(flushed.wait_for(100ms), std::future_status::timeout);
  call.release.set_value();
  EXPECT_TRUE(flushed.get()) << "a call in flight counts as something flushed";
  EXPECT_TRUE(call.returned);
  EXPECT_FALSE(q.Flush()) << "nothing queued, nothing in flight";
}

TEST(ReleaseQueue, AFailedCallIsDroppedAndDoesNotBlockLaterOpens) {
  Recorder rec;
  rec.result = Status::Unavailable("meta is down");
  ReleaseQueue q(rec.Sender(), 10s);
  q.Add(7, Range(0, 65536));
  q.Flush();
  EXPECT_EQ(rec.files(), 1u);
  EXPECT_TRUE(q.Take(7).ranges.empty());
  EXPECT_EQ(q.queued(), 0u);
  q.Flush();
  EXPECT_EQ(rec.files(), 1u);  // not sent again
}

TEST(ReleaseQueue, ManyFilesGoInCallsOfBoundedSizeAndTheRestAtDestruction) {
  Recorder rec;
  {
    ReleaseQueue q(rec.Sender(), 10s);
    for (uint64_t ino = 1; ino <= ReleaseQueue::kMaxFilesPerCall + 44; ++ino) {
      q.Add(ino, Range(0, 4096));
    }
    q.Add(1000000, AheadSpace{});  // nothing to give back: released all the same
    EXPECT_EQ(q.queued(), ReleaseQueue::kMaxFilesPerCall + 45);
  }
  std::lock_guard l(rec.mu);
  ASSERT_EQ(rec.calls.size(), 2u);
  EXPECT_EQ(rec.calls[0].files_size(), static_cast<int>(ReleaseQueue::kMaxFilesPerCall));
  EXPECT_EQ(rec.calls[1].files_size(), 45);
}

}  // namespace
}  // namespace scalefs
