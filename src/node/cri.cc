#include "node/cri.h"

#include <google/protobuf/arena.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "node/cri_api.h"

namespace lifeboat::node {
namespace {

using internal::V1;
using internal::V1Alpha2;

constexpr int kMaxMessageBytes = 16 << 20;  // what the kubelet allows too

std::string Label(const google::protobuf::Map<std::string, std::string>& labels, const char* key) {
  auto it = labels.find(key);
  return it == labels.end() ? "" : it->second;
}

}  // namespace

std::set<std::pair<std::string, std::string>> RunningPods(const RuntimeSnapshot& snapshot) {
  std::set<std::string> ready;
  for (const Sandbox& s : snapshot.sandboxes) {
    if (s.ready) ready.insert(s.id);
  }
  std::set<std::pair<std::string, std::string>> out;
  for (const Container& c : snapshot.containers) {
    if (c.running && ready.count(c.sandbox_id) && !c.pod.empty()) out.emplace(c.ns, c.pod);
  }
  return out;
}

struct CriClient::Impl {
  enum class Api { kUnknown, kV1, kV1Alpha2 };

  CriOptions options;
  std::string target;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<V1::Service::Stub> v1;
  std::unique_ptr<V1Alpha2::Service::Stub> v1alpha2;
  Api api = Api::kUnknown;
  mutable std::mutex mu;
  google::protobuf::ArenaOptions arena_options = [] {
    google::protobuf::ArenaOptions o;
    o.start_block_size = 64 << 10;
    o.max_block_size = 1 << 20;
    return o;
  }();

  // A fresh channel. gRPC backs off reconnecting for up to minutes by default; a runtime that
  // comes back after a node reboot must be seen within a tick, so the backoff is kept short.
  void Connect() {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxMessageBytes);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    v1 = V1::Service::NewStub(channel);
    v1alpha2 = V1Alpha2::Service::NewStub(channel);
  }

  void Deadline(grpc::ClientContext& ctx) const {
    ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
  }

  absl::Status Error(const grpc::Status& s, const char* api_name, const char* method) const {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        absl::StrCat("container runtime at ", options.endpoint, ": ", api_name, " ",
                                     method, ": ", s.error_message()));
  }

  template <typename T, typename Stub>
  absl::StatusOr<RuntimeVersion> CallVersion(Stub& stub) {
    typename T::VersionRequest req;
    req.set_version("0.1.0");
    typename T::VersionResponse resp;
    grpc::ClientContext ctx;
    Deadline(ctx);
    grpc::Status s = stub.Version(&ctx, req, &resp);
    if (!s.ok()) return Error(s, T::kName, "Version");
    return RuntimeVersion{T::kName, resp.runtime_name(), resp.runtime_version(), resp.runtime_api_version()};
  }

  absl::StatusOr<RuntimeVersion> Negotiate() {
    if (!channel) Connect();
    auto v = CallVersion<V1>(*v1);
    if (v.ok()) {
      api = Api::kV1;
      return v;
    }
    if (v.status().code() != absl::StatusCode::kUnimplemented) {
      Reset(v.status());
      return v.status();
    }
    auto old = CallVersion<V1Alpha2>(*v1alpha2);
    if (old.ok()) {
      api = Api::kV1Alpha2;
      return old;
    }
    Reset(old.status());
    if (old.status().code() == absl::StatusCode::kUnimplemented) {
      return absl::UnimplementedError(absl::StrCat("container runtime at ", options.endpoint,
                                                   " speaks neither runtime.v1 nor runtime.v1alpha2 of the CRI"));
    }
    return old.status();
  }

  // After a transport failure, start over with a new channel (no stale backoff) and negotiate
  // again next time.
  void Reset(const absl::Status& s) {
    if (s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kDeadlineExceeded) {
      channel.reset();
      api = Api::kUnknown;
    }
  }

  template <typename T, typename Stub>
  absl::StatusOr<RuntimeSnapshot> List(Stub& stub) {
    RuntimeSnapshot snap;
    // Responses are decoded into an arena: a hundred pods' labels and annotations are thousands
    // of small strings, which would otherwise be as many mallocs and frees every tick.
    google::protobuf::Arena arena(arena_options);
    {
      typename T::ListPodSandboxRequest req;
      req.mutable_filter()->mutable_state()->set_state(T::kSandboxReady);
      auto& resp = *google::protobuf::Arena::CreateMessage<typename T::ListPodSandboxResponse>(&arena);
      grpc::ClientContext ctx;
      Deadline(ctx);
      grpc::Status s = stub.ListPodSandbox(&ctx, req, &resp);
      if (!s.ok()) return Error(s, T::kName, "ListPodSandbox");
      snap.sandboxes.reserve(resp.items_size());
      for (const auto& item : resp.items()) {
        Sandbox sb;
        sb.id = item.id();
        sb.ns = Label(item.labels(), kPodNamespaceLabel);
        sb.pod = Label(item.labels(), kPodNameLabel);
        sb.uid = Label(item.labels(), kPodUidLabel);
        if (sb.pod.empty()) {  // not started by a kubelet: fall back to the CRI metadata
          sb.ns = item.metadata().namespace_();
          sb.pod = item.metadata().name();
          sb.uid = item.metadata().uid();
        }
        sb.ready = item.state() == T::kSandboxReady;
        snap.sandboxes.push_back(std::move(sb));
      }
    }
    {
      typename T::ListContainersRequest req;
      req.mutable_filter()->mutable_state()->set_state(T::kContainerRunning);
      auto& resp = *google::protobuf::Arena::CreateMessage<typename T::ListContainersResponse>(&arena);
      grpc::ClientContext ctx;
      Deadline(ctx);
      grpc::Status s = stub.ListContainers(&ctx, req, &resp);
      if (!s.ok()) return Error(s, T::kName, "ListContainers");
      snap.containers.reserve(resp.containers_size());
      for (const auto& item : resp.containers()) {
        Container c;
        c.id = item.id();
        c.sandbox_id = item.pod_sandbox_id();
        c.ns = Label(item.labels(), kPodNamespaceLabel);
        c.pod = Label(item.labels(), kPodNameLabel);
        c.name = Label(item.labels(), kContainerNameLabel);
        if (c.name.empty()) c.name = item.metadata().name();
        c.running = item.state() == T::kContainerRunning;
        snap.containers.push_back(std::move(c));
      }
    }
    return snap;
  }

  absl::StatusOr<RuntimeSnapshot> ListOnce() {
    return api == Api::kV1 ? List<V1>(*v1) : List<V1Alpha2>(*v1alpha2);
  }
};

CriClient::~CriClient() = default;

absl::StatusOr<std::string> CriClient::Target(const std::string& endpoint) {
  if (absl::StartsWith(endpoint, "unix://")) {
    std::string path = endpoint.substr(7);
    if (path.empty() || path[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat("runtime endpoint ", endpoint,
                                                     ": a unix endpoint needs an absolute path"));
    }
    return "unix://" + path;
  }
  if (!endpoint.empty() && endpoint[0] == '/') return "unix://" + endpoint;
  return absl::InvalidArgumentError(absl::StrCat(
      "runtime endpoint \"", endpoint, "\" is not a unix socket (unix:///path/to/runtime.sock)"));
}

absl::StatusOr<std::unique_ptr<CriClient>> CriClient::Create(const CriOptions& options) {
  LB_ASSIGN_OR_RETURN(std::string target, Target(options.endpoint));
  std::unique_ptr<CriClient> c(new CriClient());
  c->impl_ = std::make_unique<Impl>();
  c->impl_->options = options;
  c->impl_->target = target;
  return c;
}

absl::StatusOr<RuntimeVersion> CriClient::Version() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->Negotiate();
}

absl::StatusOr<RuntimeSnapshot> CriClient::ListRunning() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& im = *impl_;
  if (im.api == Impl::Api::kUnknown || !im.channel) LB_RETURN_IF_ERROR(im.Negotiate().status());
  auto snap = im.ListOnce();
  if (!snap.ok() && snap.status().code() == absl::StatusCode::kUnimplemented) {
    im.api = Impl::Api::kUnknown;
    LB_RETURN_IF_ERROR(im.Negotiate().status());
    snap = im.ListOnce();
  }
  if (!snap.ok()) im.Reset(snap.status());
  return snap;
}

std::string CriClient::api() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  switch (impl_->api) {
    case Impl::Api::kV1:
      return V1::kName;
    case Impl::Api::kV1Alpha2:
      return V1Alpha2::kName;
    default:
      return "";
  }
}

}  // namespace lifeboat::node
