// A session's reclaim after a meta restart against this client's own
// changes of what it holds (fsd/holdings_gate.h). A real meta service on a
// real RocksDB, in this process, restarted on the same port.
#include "fsd/client_session.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "fsd/file_locks.h"
#include "fsd/meta_client.h"
#include "fsd/release_queue.h"
#include "meta/meta_service.h"
#include "meta/meta_store.h"

namespace scalefs {
namespace {

using namespace std::chrono_literals;

class InProcessMeta {
 public:
  InProcessMeta() {
    char tmpl[] = "/tmp/scalefs_session_test.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~InProcessMeta() {
    Stop();
    std::filesystem::remove_all(dir_);
  }
  // The first start picks a port; a restart takes the same one.
  void Start() {
    auto opened = meta::MetaStore::Open(dir_, meta::ChunkProber(), 10s);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened.value());
    service_ = std::make_unique<meta::MetaService>(store_.get());
    grpc::ServerBuilder b;
    int chosen = 0;
    b.AddListeningPort("127.0.0.1:" + std::to_string(port_), grpc::InsecureServerCredentials(),
                       &chosen);
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    port_ = chosen;
  }
  void Stop() {
    if (server_ == nullptr) return;
    server_->Shutdown(std::chrono::system_clock::now() + 1s);
    server_.reset();
    service_.reset();
    store_.reset();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<meta::MetaStore> store_;
  std::unique_ptr<meta::MetaService> service_;
  std::unique_ptr<grpc::Server> server_;
};

meta::SessionInfo Info() {
  meta::SessionInfo info;
  info.set_host("client_session_test");
  info.set_mount_point("/nowhere");
  info.set_pid(static_cast<uint32_t>(getpid()));
  return info;
}

// What meta records of the one session: its open files and its locks.
std::pair<uint32_t, uint32_t> HeldAtMeta(MetaClient* meta) {
  auto r = meta->SessionList();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok() || r->sessions_size() != 1) return {~0u, ~0u};
  return {r->sessions(0).open_files(), r->sessions(0).locks()};
}

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

class ClientSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    meta_.Start();
    client_ = std::make_unique<MetaClient>(meta_.address(), 10000);
    session_ = std::make_unique<ClientSession>(client_.get(), Info());
    ASSERT_TRUE(session_->Open().ok());
  }
  void TearDown() override {
    session_.reset();
    client_.reset();
  }
  uint64_t NewFile() {
    meta::MakeNodeRequest req;
    req.set_parent(1);
    req.set_name("f");
    req.set_mode(S_IFREG | 0644);
    auto r = client_->MakeNode(req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->attr().ino() : 0;
  }
  // Restarts meta and waits until the session reclaimed.
  void RestartMeta() {
    const uint64_t before = session_->reestablished();
    meta_.Stop();
    meta_.Start();
    ASSERT_TRUE(WaitFor([&] { return session_->reestablished() > before; }))
        << "the session never reclaimed after the restart";
  }

  InProcessMeta meta_;
  std::unique_ptr<MetaClient> client_;
  std::unique_ptr<ClientSession> session_;
};

// An unlock racing the reclaim's snapshot: taken out of the client's record
// after the snapshot, it reached the new meta before the reclaim, and the
// reclaim took the lock again for no one (scalefs torture --faults: a flock
// not granted for 30 s after two meta kills).
TEST_F(ClientSessionTest, AnUnlockDuringTheReclaimIsNotUndoneByIt) {
  FileLocks locks(client_.get());
  const uint64_t ino = NewFile();
  std::atomic<bool> race{false};
  std::thread unlocker;
  session_->Start(
      [&] {
        ClientSession::Holdings h{{}, locks.Held()};
        if (race.exchange(false)) {
          // The close comes while the snapshot is on its way to meta.
          unlocker = std::thread([&] { EXPECT_TRUE(locks.ReleaseOwner(ino, 77, true).ok()); });
          std::this_thread::sleep_for(400ms);
        }
        return h;
      },
      [&](const meta::SessionEvent& e) { locks.Granted(e.lock()); });

  meta::FileLock want;
  want.set_ino(ino);
  want.set_owner(77);
  want.set_flock(true);
  want.set_type(F_WRLCK);
  want.set_start(0);
  want.set_end(UINT64_MAX);
  std::promise<int> got;
  locks.Set(locks.NextId(), want, false, [&](int err) { got.set_value(err); });
  ASSERT_EQ(got.get_future().get(), 0);
  EXPECT_EQ(HeldAtMeta(client_.get()).second, 1u);

  race = true;
  RestartMeta();
  unlocker.join();
  EXPECT_FALSE(locks.Holds(ino, 77, true));
  EXPECT_EQ(HeldAtMeta(client_.get()).second, 0u)
      << "meta holds a lock the client released during the reclaim";
}

// A grant that comes late on the session stream (a slow or broken stream;
// asking again got it first) must not answer a later wait of the same owner
// (the kernel's flock owner is the open file's address, soon reused). It
// did: the later wait ended at once with meta still queueing it, its unlock
// at close left meta's queued wait behind, and meta granted that for no one
// (scalefs torture --faults random: a flock not granted for 30 s, "the last
// one out was process 2, released by close").
TEST_F(ClientSessionTest, ALateGrantDoesNotAnswerALaterWaitOfTheSameOwner) {
  FileLocks locks(client_.get());
  const uint64_t ino = NewFile();
  std::mutex mu;
  bool hold_events = true;
  std::vector<meta::FileLock> held_back;
  session_->Start([&] { return ClientSession::Holdings{{}, locks.Held()}; },
                  [&](const meta::SessionEvent& e) {
                    {
                      std::lock_guard l(mu);
                      if (hold_events) return held_back.push_back(e.lock());
                    }
                    locks.Granted(e.lock());
                  });
  auto flock_of = [&](uint64_t owner) {
    meta::FileLock want;
    want.set_ino(ino);
    want.set_owner(owner);
    want.set_flock(true);
    want.set_type(F_WRLCK);
    want.set_start(0);
    want.set_end(UINT64_MAX);
    return want;
  };
  auto take = [&](uint64_t owner, bool wait) {
    auto done = std::make_shared<std::promise<int>>();
    locks.Set(locks.NextId(), flock_of(owner), wait, [done](int err) { done->set_value(err); });
    return done->get_future();
  };
  ASSERT_EQ(take(88, false).get(), 0);
  // 77 waits; 88 lets go; the grant is held back, asking again gets it.
  std::future<int> first = take(77, true);
  ASSERT_EQ(first.wait_for(300ms), std::future_status::timeout);
  ASSERT_TRUE(locks.ReleaseOwner(ino, 88, true).ok());
  ASSERT_EQ(first.wait_for(5s), std::future_status::ready);
  ASSERT_EQ(first.get(), 0);
  ASSERT_TRUE(locks.ReleaseOwner(ino, 77, true).ok());
  // 88 again, and 77 (the same owner, a new open file) waits again.
  ASSERT_EQ(take(88, false).get(), 0);
  std::future<int> second = take(77, true);
  ASSERT_EQ(second.wait_for(300ms), std::future_status::timeout);
  // The first wait's grant arrives now.
  std::vector<meta::FileLock> late;
  {
    std::lock_guard l(mu);
    hold_events = false;
    late.swap(held_back);
  }
  ASSERT_FALSE(late.empty()) << "meta sent no grant for the first wait";
  for (const meta::FileLock& g : late) locks.Granted(g);
  EXPECT_EQ(second.wait_for(1500ms), std::future_status::timeout)
      << "a grant of the first wait answered the second while 88 holds the lock";
  EXPECT_TRUE(locks.Holds(ino, 88, true));
  // 88 lets go: the second wait is granted, and its unlock leaves nothing.
  ASSERT_TRUE(locks.ReleaseOwner(ino, 88, true).ok());
  ASSERT_EQ(second.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(second.get(), 0);
  ASSERT_TRUE(locks.ReleaseOwner(ino, 77, true).ok());
  EXPECT_TRUE(WaitFor([&] { return HeldAtMeta(client_.get()).second == 0; }, 3s))
      << "meta holds a lock no one here waits for or holds";
}

// A close tells meta the owner is gone: its queued wait ends with its
// locks, so meta never grants the lock to a closed file. Anything but an
// unlock of the whole file with owner_gone is refused and changes nothing.
TEST_F(ClientSessionTest, AClosedOwnersQueuedWaitEndsAtMeta) {
  const uint64_t ino = NewFile();
  auto request = [&](uint64_t owner, uint32_t type, bool wait, bool gone, uint64_t end) {
    meta::LockRequest req;
    req.mutable_lock()->set_ino(ino);
    req.mutable_lock()->set_session(session_->id());
    req.mutable_lock()->set_owner(owner);
    req.mutable_lock()->set_flock(true);
    req.mutable_lock()->set_type(type);
    req.mutable_lock()->set_start(0);
    req.mutable_lock()->set_end(end);
    req.set_wait(wait);
    req.set_owner_gone(gone);
    return client_->SetLock(req);
  };
  auto r = request(88, F_WRLCK, false, false, UINT64_MAX);
  ASSERT_TRUE(r.ok() && r->outcome() == meta::LockReply::GRANTED);
  r = request(77, F_WRLCK, true, false, UINT64_MAX);
  ASSERT_TRUE(r.ok() && r->outcome() == meta::LockReply::QUEUED);
  for (auto bad : {request(77, F_WRLCK, false, true, UINT64_MAX), request(77, F_UNLCK, false, true, 99),
                   request(77, F_UNLCK, true, true, UINT64_MAX)}) {
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), Status::Code::kInvalid) << bad.status().ToString();
  }
  auto list = client_->LockList(ino);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->waiting_size(), 1) << "a refused request changed the queue";
  r = request(77, F_UNLCK, false, true, UINT64_MAX);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  r = request(88, F_UNLCK, false, false, UINT64_MAX);
  ASSERT_TRUE(r.ok());
  list = client_->LockList(ino);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->held_size(), 0) << "granted to an owner whose file was closed";
  EXPECT_EQ(list->waiting_size(), 0);
}

// The same for a close's release of an open file: reclaimed after it landed,
// the open lived on at meta (an unlinked file's space held to the unmount).
TEST_F(ClientSessionTest, AReleaseDuringTheReclaimIsNotUndoneByIt) {
  const uint64_t ino = NewFile();
  auto opened = client_->GetExtents(ino, 0, 0, session_->id(), 4);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ReleaseQueue releases(
      [&](meta::ReleaseRequest r) {
        r.set_session(session_->id());
        return client_->Release(r);
      },
      ReleaseQueue::kDefaultDelay, ReleaseQueue::kDefaultCloseDelay,
      &client_->holdings_gate());
  std::atomic<bool> open{true};
  std::atomic<bool> race{false};
  std::thread closer;
  session_->Start(
      [&] {
        ClientSession::Holdings h;
        if (open) h.open_inos.push_back(ino);
        if (race.exchange(false)) {
          closer = std::thread([&] {
            open = false;
            releases.Add(ino, {});
            releases.Flush();
          });
          std::this_thread::sleep_for(400ms);
        }
        return h;
      },
      [](const meta::SessionEvent&) {});
  EXPECT_EQ(HeldAtMeta(client_.get()).first, 1u);

  race = true;
  RestartMeta();
  closer.join();
  EXPECT_EQ(HeldAtMeta(client_.get()).first, 0u)
      << "meta holds an open the client released during the reclaim";
}

}  // namespace
}  // namespace scalefs
