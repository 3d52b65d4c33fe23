// scalefs-meta: the metadata service. `--fsck` checks a stopped meta's DB.
#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <cstdio>
#include <memory>
#include <thread>

#include <gflags/gflags.h>
#include <glog/logging.h>
#include <grpcpp/grpcpp.h>
#include <rocksdb/db.h>

#include "common/log_files.h"
#include "common/metrics.h"
#include "common/process_tuning.h"
#include "common/program_flags.h"
#include "common/layout.h"
#include "common/rpc_security.h"
#include "common/rpc_server.h"
#include "meta/meta_checker.h"
#include "meta/meta_policy.h"
#include "meta/meta_metrics.h"
#include "meta/meta_service.h"
#include "meta/meta_store.h"

DEFINE_string(listen, "127.0.0.1:7600", "address to serve gRPC on");
DEFINE_string(db, "", "directory of the metadata RocksDB (required)");
DEFINE_bool(fsck, false, "check the DB offline, print problems, exit 1 if any");
DEFINE_int32(session_timeout_s, 30,
             "how long a mounted client's session lives without renewal; also the grace "
             "period in which clients reclaim their opens and locks after a restart");

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

int RunFsck() {
  rocksdb::Options options;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(options, FLAGS_db, &raw);
  if (!s.ok()) {
    fprintf(stderr, "scalefs-meta: cannot open %s: %s\n", FLAGS_db.c_str(), s.ToString().c_str());
    return 2;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  scalefs::meta::FsckReply r = scalefs::meta::MetaChecker(db.get()).Check();
  for (const std::string& p : r.problems()) printf("%s\n", p.c_str());
  if (r.problems_size() > 0) {
    printf("%d problems\n", r.problems_size());
    return 1;
  }
  printf("clean: %lu inodes, %lu entries, %lu extents, %lu bytes allocated, %lu bytes free\n",
         static_cast<unsigned long>(r.inodes()), static_cast<unsigned long>(r.entries()),
         static_cast<unsigned long>(r.extents()), static_cast<unsigned long>(r.allocated_bytes()),
         static_cast<unsigned long>(r.free_bytes()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const scalefs::ProgramHelp help{
      "scalefs-meta",
      "scalefs-meta: the metadata service (names, inodes, extents, sessions, locks)\n"
      "usage: scalefs-meta --db=DIR [--listen=HOST:PORT] [flags]\n"
      "       scalefs-meta --db=DIR --fsck    check a stopped meta's DB\n",
      {{"meta/main.cc", "service"},
       {"common/rpc_security.cc", "security"},
       {"common/metrics.cc", "metrics and logs"},
       {"common/log_files.cc", "metrics and logs"}}};
  const scalefs::ParsedFlags parsed = scalefs::ParseProgramFlags(argc, argv, help, false);
  if (parsed.exit_code >= 0) return parsed.exit_code;
  scalefs::StartLogging(argv[0]);
  scalefs::TuneProcess();
  // The DB holds every name and xattr: readable by this user only, whatever
  // the umask it was started with.
  umask(077);
  if (FLAGS_db.empty()) {
    fprintf(stderr, "scalefs-meta: --db is required\n%s(--help lists the flags)\n", help.usage);
    return 2;
  }
  // And so are the files an older meta left readable.
  std::error_code ec;
  if (std::filesystem::is_directory(FLAGS_db, ec)) {
    std::filesystem::permissions(FLAGS_db, std::filesystem::perms::owner_all, ec);
    for (const auto& e : std::filesystem::directory_iterator(FLAGS_db, ec)) {
      std::filesystem::permissions(
          e.path(), std::filesystem::perms::group_all | std::filesystem::perms::others_all,
          std::filesystem::perm_options::remove, ec);
    }
  }
  if (FLAGS_fsck) return RunFsck();  // a command: it logs to stderr
  if (scalefs::Status s = scalefs::InitRpcSecurityFromFlags("scalefs-meta", ""); !s.ok()) {
    fprintf(stderr, "scalefs-meta: %s\n", s.message().c_str());
    return 2;
  }

  if (FLAGS_session_timeout_s <= 0) {
    fprintf(stderr, "scalefs-meta: --session_timeout_s must be positive\n");
    return 2;
  }
  auto logs = scalefs::LogToFiles("scalefs-meta");
  if (!logs.ok()) {
    fprintf(stderr, "scalefs-meta: %s\n", logs.status().message().c_str());
    return 2;
  }
  scalefs::Metrics metrics;
  if (scalefs::Status s = metrics.ServeFlag(); !s.ok()) {
    fprintf(stderr, "scalefs-meta: %s\n", s.message().c_str());
    return 2;
  }
  auto opened = scalefs::meta::MetaStore::Open(FLAGS_db, scalefs::meta::ChunkProber(),
                                               std::chrono::seconds(FLAGS_session_timeout_s));
  if (!opened.ok()) {
    fprintf(stderr, "scalefs-meta: %s\n", opened.status().ToString().c_str());
    return 2;
  }
  std::unique_ptr<scalefs::meta::MetaStore> store = std::move(opened.value());
  store->set_listen_address(FLAGS_listen);  // members ask this address for grants
  scalefs::meta::MetaService service(store.get());
  auto meta_metrics =
      std::make_unique<scalefs::meta::MetaMetrics>(&metrics, store.get(), &service.locks());

  int port = 0;
  scalefs::RpcServerOptions rpc;
  rpc.address = FLAGS_listen;
  rpc.services = {&service};
  rpc.policy = scalefs::meta::MetaPolicy();
  rpc.metrics = &metrics;
  auto started = scalefs::StartRpcServer(rpc, &port);
  if (!started.ok()) {
    fprintf(stderr, "scalefs-meta: %s\n", started.status().message().c_str());
    return 2;
  }
  std::unique_ptr<grpc::Server> server = std::move(started.value());
  LOG(INFO) << "scalefs-meta serving " << FLAGS_db << " on " << FLAGS_listen;

  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  LOG(INFO) << "shutting down";
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  meta_metrics.reset();  // its scrapes read the store
  store.reset();
  return 0;
}
