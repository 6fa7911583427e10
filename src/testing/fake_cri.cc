#include "testing/fake_cri.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "node/cri.h"
#include "node/cri_api.h"

namespace lifeboat::testing {

struct FakeCriAccess {
  // Records the call and applies the configured failure/delay; a non-OK status ends the call.
  static grpc::Status Enter(FakeCri& f, const char* api, const char* method) {
    {
      std::unique_lock<std::mutex> lock(f.mu_);
      ++f.calls_[absl::StrCat(api, "/", method)];
      long delay = f.delay_ms_.load();
      uint64_t generation = f.delay_generation_;
      if (delay > 0) {
        f.delay_changed_.wait_for(lock, std::chrono::milliseconds(delay),
                                  [&] { return f.delay_generation_ != generation; });
      }
    }
    int code = f.fail_code_.load();
    if (code != 0) return grpc::Status(static_cast<grpc::StatusCode>(code), "injected failure");
    return grpc::Status::OK;
  }
  static std::map<std::string, FakeCri::Pod> Pods(FakeCri& f) {
    std::lock_guard<std::mutex> lock(f.mu_);
    return f.pods_;
  }
};

namespace {

template <typename T>
class Service final : public T::Service::Service {
 public:
  explicit Service(FakeCri& fake) : fake_(fake) {}

  grpc::Status Version(grpc::ServerContext*, const typename T::VersionRequest*,
                       typename T::VersionResponse* resp) override {
    grpc::Status s = FakeCriAccess::Enter(fake_, T::kName, "Version");
    if (!s.ok()) return s;
    resp->set_version("0.1.0");
    resp->set_runtime_name("lifeboat-fake-cri");
    resp->set_runtime_version("0.1.0");
    resp->set_runtime_api_version(std::string(T::kName).substr(std::string("runtime.").size()));
    return grpc::Status::OK;
  }

  grpc::Status ListPodSandbox(grpc::ServerContext*, const typename T::ListPodSandboxRequest* req,
                              typename T::ListPodSandboxResponse* resp) override {
    grpc::Status s = FakeCriAccess::Enter(fake_, T::kName, "ListPodSandbox");
    if (!s.ok()) return s;
    for (const auto& [key, pod] : FakeCriAccess::Pods(fake_)) {
      auto state = pod.ready ? T::kSandboxReady : T::kSandboxNotReady;
      if (req->has_filter() && req->filter().has_state() && req->filter().state().state() != state)
        continue;
      auto* item = resp->add_items();
      item->set_id(pod.sandbox_id);
      item->set_state(state);
      item->mutable_metadata()->set_name(pod.name);
      item->mutable_metadata()->set_namespace_(pod.ns);
      item->mutable_metadata()->set_uid(pod.uid);
      (*item->mutable_labels())[node::kPodNameLabel] = pod.name;
      (*item->mutable_labels())[node::kPodNamespaceLabel] = pod.ns;
      (*item->mutable_labels())[node::kPodUidLabel] = pod.uid;
    }
    return grpc::Status::OK;
  }

  grpc::Status ListContainers(grpc::ServerContext*, const typename T::ListContainersRequest* req,
                              typename T::ListContainersResponse* resp) override {
    grpc::Status s = FakeCriAccess::Enter(fake_, T::kName, "ListContainers");
    if (!s.ok()) return s;
    for (const auto& [key, pod] : FakeCriAccess::Pods(fake_)) {
      auto state = pod.running ? T::kContainerRunning : T::kContainerExited;
      if (req->has_filter() && req->filter().has_state() && req->filter().state().state() != state)
        continue;
      for (int i = 0; i < pod.containers; ++i) {
        auto* c = resp->add_containers();
        std::string name = absl::StrCat("c", i);
        c->set_id(absl::StrCat(pod.sandbox_id, "-", name));
        c->set_pod_sandbox_id(pod.sandbox_id);
        c->set_state(state);
        c->mutable_metadata()->set_name(name);
        (*c->mutable_labels())[node::kPodNameLabel] = pod.name;
        (*c->mutable_labels())[node::kPodNamespaceLabel] = pod.ns;
        (*c->mutable_labels())[node::kPodUidLabel] = pod.uid;
        (*c->mutable_labels())[node::kContainerNameLabel] = name;
      }
    }
    return grpc::Status::OK;
  }

 private:
  FakeCri& fake_;
};

}  // namespace

struct FakeCri::Impl {
  std::unique_ptr<Service<node::internal::V1>> v1;
  std::unique_ptr<Service<node::internal::V1Alpha2>> v1alpha2;
  std::unique_ptr<grpc::Server> server;
};

absl::StatusOr<std::unique_ptr<FakeCri>> FakeCri::Start(const std::string& socket_path,
                                                        Serve serve) {
  ::unlink(socket_path.c_str());
  std::unique_ptr<FakeCri> f(new FakeCri());
  f->impl_ = std::make_unique<Impl>();
  f->endpoint_ = "unix://" + socket_path;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(f->endpoint_, grpc::InsecureServerCredentials());
  if (serve != Serve::kV1Alpha2) {
    f->impl_->v1 = std::make_unique<Service<node::internal::V1>>(*f);
    builder.RegisterService(f->impl_->v1.get());
  }
  if (serve != Serve::kV1) {
    f->impl_->v1alpha2 = std::make_unique<Service<node::internal::V1Alpha2>>(*f);
    builder.RegisterService(f->impl_->v1alpha2.get());
  }
  f->impl_->server = builder.BuildAndStart();
  if (!f->impl_->server)
    return absl::InternalError(absl::StrCat("fake CRI: cannot serve on ", socket_path));
  return f;
}

void FakeCri::Delay(std::chrono::milliseconds d) {
  std::lock_guard<std::mutex> lock(mu_);
  delay_ms_ = d.count();
  ++delay_generation_;
  delay_changed_.notify_all();
}

FakeCri::~FakeCri() {
  Delay(std::chrono::milliseconds(0));  // calls still waiting answer now
  if (impl_ && impl_->server) {
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
}

std::string FakeCri::AddPod(const std::string& ns, const std::string& name, bool ready,
                            int containers, bool running) {
  std::lock_guard<std::mutex> lock(mu_);
  Pod p{
      ns,         name,   absl::StrCat("uid-", next_id_), absl::StrCat("sandbox-", next_id_), ready,
      containers, running};
  ++next_id_;
  pods_[ns + "/" + name] = p;
  return p.sandbox_id;
}

void FakeCri::RemovePod(const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  pods_.erase(ns + "/" + name);
}

void FakeCri::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  pods_.clear();
}

int FakeCri::Calls(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = calls_.find(key);
  return it == calls_.end() ? 0 : it->second;
}

}  // namespace lifeboat::testing
