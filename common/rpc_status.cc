#include "common/rpc_status.h"

#include <string>

namespace scalefs {

namespace {
grpc::StatusCode GrpcCodeFor(Status::Code c) {
  switch (c) {
    case Status::Code::kOk: return grpc::StatusCode::OK;
    case Status::Code::kNotFound: return grpc::StatusCode::NOT_FOUND;
    case Status::Code::kExists: return grpc::StatusCode::ALREADY_EXISTS;
    case Status::Code::kNoSpace: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case Status::Code::kPermission:
    case Status::Code::kAccess: return grpc::StatusCode::PERMISSION_DENIED;
    case Status::Code::kUnavailable: return grpc::StatusCode::UNAVAILABLE;
    case Status::Code::kRange: return grpc::StatusCode::OUT_OF_RANGE;
    case Status::Code::kNotSupported: return grpc::StatusCode::UNIMPLEMENTED;
    case Status::Code::kIoError: return grpc::StatusCode::INTERNAL;
    case Status::Code::kCorrupt: return grpc::StatusCode::DATA_LOSS;
    case Status::Code::kStale:
    case Status::Code::kBusy: return grpc::StatusCode::FAILED_PRECONDITION;
    default: return grpc::StatusCode::INVALID_ARGUMENT;
  }
}
}  // namespace

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(GrpcCodeFor(s.code()), s.message(), std::to_string(s.errno_value()));
}

Status FromGrpc(const grpc::Status& s, const std::string& context) {
  if (s.ok()) return Status::OK();
  const std::string msg = context + ": " + s.error_message();
  if (!s.error_details().empty()) {
    int err = std::atoi(s.error_details().c_str());
    if (err > 0) return Status(static_cast<Status::Code>(err), msg);
  }
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED: return Status::Unavailable(msg);
    case grpc::StatusCode::NOT_FOUND: return Status::NotFound(msg);
    case grpc::StatusCode::ALREADY_EXISTS: return Status::Exists(msg);
    case grpc::StatusCode::OUT_OF_RANGE: return Status::Range(msg);
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return Status(Status::Code::kTooBig, msg);
    case grpc::StatusCode::INVALID_ARGUMENT: return Status::Invalid(msg);
    case grpc::StatusCode::DATA_LOSS: return Status::Corrupt(msg);
    // A certificate whose role may not make the call.
    case grpc::StatusCode::PERMISSION_DENIED: return Status(Status::Code::kAccess, msg);
    default: return Status::IoError(msg);
  }
}

}  // namespace scalefs
