#include "node/cri.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "node/cri_wire.h"

// The CRI is gRPC, and gRPC is HTTP/2 with a 5-byte frame around each protobuf message and the
// status in trailers. The checkpointer makes three unary calls every tick over a local unix
// socket, so instead of gRPC C++ (~7 MiB resident, several threads) we speak that subset
// ourselves: libnghttp2 does the HTTP/2 framing, HPACK and flow control, and a blocking poll()
// loop on the calling thread moves the bytes, bounded by the call's deadline. Messages are
// encoded and decoded by cri_wire.

namespace lifeboat::node {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxMessageBytes = 16 << 20;  // what the kubelet allows too
// Receive windows, per stream and for the connection: large enough that a few thousand pods
// arrive without waiting for WINDOW_UPDATEs; memory is only used as data actually arrives.
constexpr int32_t kWindowBytes = 4 << 20;
constexpr char kUserAgent[] = "lifeboat-cri/1 nghttp2/" NGHTTP2_VERSION;
constexpr char kVersionRequestVersion[] = "0.1.0";

// Milliseconds left until `deadline`, rounded up, for poll(); 0 when it has passed.
int MillisLeft(Clock::time_point deadline) {
  auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > 1000000 ? 1000000 : static_cast<int>(ms);
}

// The grpc-timeout header: at most 8 digits and a unit.
std::string GrpcTimeout(Clock::time_point deadline) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (ms < 1) ms = 1;
  if (ms <= 99999999) return absl::StrCat(ms, "m");
  return absl::StrCat(std::min<int64_t>(ms / 1000, 99999999), "S");
}

// grpc-message is percent-encoded (only %XX; anything malformed is kept as is).
std::string PercentDecode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// gRPC's mapping of an HTTP status without a grpc-status (doc/http-grpc-status-mapping.md).
absl::StatusCode FromHttpStatus(int http) {
  switch (http) {
    case 400:
      return absl::StatusCode::kInternal;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kUnknown;
  }
}

// gRPC's mapping of a RST_STREAM error code (doc/PROTOCOL-HTTP2.md).
absl::StatusCode FromResetCode(uint32_t code) {
  switch (code) {
    case NGHTTP2_REFUSED_STREAM:
      return absl::StatusCode::kUnavailable;
    case NGHTTP2_CANCEL:
      return absl::StatusCode::kCancelled;
    case NGHTTP2_ENHANCE_YOUR_CALM:
      return absl::StatusCode::kResourceExhausted;
    case NGHTTP2_INADEQUATE_SECURITY:
      return absl::StatusCode::kPermissionDenied;
    default:
      return absl::StatusCode::kInternal;
  }
}

// One unary call's response as it arrives.
struct Call {
  int32_t stream_id = -1;
  std::string body;  // gRPC length-prefixed messages
  int http_status = 0;
  bool has_grpc_status = false;
  int grpc_status = 0;
  std::string grpc_message;
  bool ended = false;  // END_STREAM from the runtime
  bool closed = false;
  uint32_t reset_code = 0;
  absl::Status local_error;  // refused by us (e.g. too large)
};

// One HTTP/2 connection to the runtime's socket, reused across calls until it breaks or the
// runtime sends GOAWAY. Not thread-safe: CriClient serialises calls.
class Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& path,
                                                          Clock::time_point deadline) {
    std::unique_ptr<Connection> c(new Connection());
    LB_RETURN_IF_ERROR(c->Dial(path, deadline));
    LB_RETURN_IF_ERROR(c->Start());
    return c;
  }

  ~Connection() {
    if (session_) nghttp2_session_del(session_);
    if (fd_ >= 0) ::close(fd_);
  }

  // Whether the next call may use this connection: reads (without blocking) whatever the runtime
  // sent while we were idle, which is how a GOAWAY or a closed socket is noticed before a call
  // is lost to it.
  bool Usable() {
    if (broken_ || goaway_) return false;
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0) return false;
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return false;
      }
      if (nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(buf), n) < 0)
        return false;
    }
    return !goaway_ &&
           (nghttp2_session_want_read(session_) || nghttp2_session_want_write(session_));
  }

  // False once the connection must not be used again.
  bool reusable() const { return !broken_ && !goaway_; }

  // POSTs `request` (one protobuf message) to `path` and returns the response message, or the
  // call's status: the runtime's gRPC status, or ours for transport failures (Unavailable),
  // the deadline (DeadlineExceeded) and responses we cannot take (Internal, ResourceExhausted).
  absl::StatusOr<std::string> Unary(const std::string& path, std::string_view request,
                                    Clock::time_point deadline) {
    auto body = std::make_unique<Body>();
    body->bytes.reserve(5 + request.size());
    body->bytes.push_back('\0');  // not compressed
    uint32_t n = static_cast<uint32_t>(request.size());
    for (int shift = 24; shift >= 0; shift -= 8)
      body->bytes.push_back(static_cast<char>((n >> shift) & 0xff));
    body->bytes.append(request);

    std::string timeout = GrpcTimeout(deadline);
    auto nv = [](std::string_view name, std::string_view value) {
      return nghttp2_nv{const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
                        const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())),
                        name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
    };
    const nghttp2_nv headers[] = {
        nv(":method", "POST"),
        nv(":scheme", "http"),
        nv(":path", path),
        nv(":authority", "localhost"),
        nv("content-type", "application/grpc"),
        nv("te", "trailers"),
        nv("grpc-timeout", timeout),
        nv("user-agent", kUserAgent),
    };
    nghttp2_data_provider provider;
    provider.source.ptr = body.get();
    provider.read_callback = &Connection::ReadBody;

    Call call;
    int32_t id = nghttp2_submit_request(session_, nullptr, headers,
                                        sizeof headers / sizeof headers[0], &provider, nullptr);
    if (id < 0) {
      broken_ = true;  // e.g. stream ids used up: a new connection starts over
      return absl::UnavailableError(
          absl::StrCat("HTTP/2: cannot start a stream: ", nghttp2_strerror(id)));
    }
    call.stream_id = id;
    bodies_[id] = std::move(body);
    call_ = &call;
    absl::Status s = Run(call, deadline);
    call_ = nullptr;
    if (!s.ok()) return s;
    if (!call.closed) {
      // The runtime answered before taking all of the request (e.g. Unimplemented): tell it we
      // are done with the stream, as gRPC does.
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
    }
    return Result(call);
  }

 private:
  struct Body {
    std::string bytes;
    size_t pos = 0;
  };

  Connection() = default;

  absl::Status Dial(const std::string& path, Clock::time_point deadline) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
      return absl::InvalidArgumentError(absl::StrCat("socket path ", path, " is too long"));
    }
    memcpy(addr.sun_path, path.data(), path.size());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return absl::UnavailableError(absl::StrCat("socket: ", strerror(errno)));
    for (;;) {
      if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
        return absl::OkStatus();
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN) {  // the runtime's accept backlog is full: try again shortly
        if (MillisLeft(deadline) == 0)
          return absl::DeadlineExceededError("connect: timed out (backlog full)");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      if (err == EINPROGRESS) {
        pollfd p{fd_, POLLOUT, 0};
        int r = ::poll(&p, 1, MillisLeft(deadline));
        if (r == 0) return absl::DeadlineExceededError("connect: timed out");
        int so_error = 0;
        socklen_t len = sizeof so_error;
        if (r < 0 || ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0)
          so_error = errno;
        if (so_error == 0) return absl::OkStatus();
        err = so_error;
      }
      return absl::UnavailableError(absl::StrCat("connect ", path, ": ", strerror(err)));
    }
  }

  absl::Status Start() {
    nghttp2_session_callbacks* cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
      return absl::ResourceExhaustedError("nghttp2: out of memory");
    nghttp2_session_callbacks_set_on_header_callback(cbs, &Connection::OnHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Connection::OnData);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Connection::OnFrame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Connection::OnStreamClose);
    int rv = nghttp2_session_client_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0)
      return absl::ResourceExhaustedError(absl::StrCat("nghttp2: ", nghttp2_strerror(rv)));
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kWindowBytes)},
    };
    rv = nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings,
                                 sizeof settings / sizeof settings[0]);
    if (rv == 0)
      rv = nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kWindowBytes);
    if (rv != 0) return absl::InternalError(absl::StrCat("nghttp2: ", nghttp2_strerror(rv)));
    return absl::OkStatus();
  }

  // Moves bytes both ways until the call's stream has ended or the deadline passes. Any failure
  // here leaves the connection unusable.
  absl::Status Run(Call& call, Clock::time_point deadline) {
    for (;;) {
      if (out_pos_ == out_.size()) {
        out_.clear();
        out_pos_ = 0;
        while (out_.size() < 65536) {
          const uint8_t* data;
          ssize_t n = nghttp2_session_mem_send(session_, &data);
          if (n < 0)
            return Broken(absl::InternalError(absl::StrCat("HTTP/2: ", nghttp2_strerror(n))));
          if (n == 0) break;
          out_.append(reinterpret_cast<const char*>(data), n);
        }
      }
      bool pending = out_pos_ < out_.size();
      if (call.ended || call.closed) {
        if (pending) FlushNonBlocking();
        return absl::OkStatus();
      }
      if (!pending && !nghttp2_session_want_read(session_) &&
          !nghttp2_session_want_write(session_)) {
        return Broken(absl::UnavailableError("the runtime closed the connection (GOAWAY)"));
      }
      int wait = MillisLeft(deadline);
      if (wait == 0)
        return Broken(absl::DeadlineExceededError("deadline exceeded waiting for the runtime"));
      pollfd p{fd_, static_cast<short>(POLLIN | (pending ? POLLOUT : 0)), 0};
      int r = ::poll(&p, 1, wait);
      if (r < 0) {
        if (errno == EINTR) continue;
        return Broken(absl::UnavailableError(absl::StrCat("poll: ", strerror(errno))));
      }
      if (r == 0) continue;
      if (p.revents & POLLOUT) {
        ssize_t w = ::send(fd_, out_.data() + out_pos_, out_.size() - out_pos_,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w >= 0) {
          out_pos_ += w;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          return Broken(absl::UnavailableError(absl::StrCat("write: ", strerror(errno))));
        }
      }
      if (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) LB_RETURN_IF_ERROR(ReadSome());
    }
  }

  absl::Status ReadSome() {
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return Broken(absl::UnavailableError("the runtime closed the connection"));
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return absl::OkStatus();
      return Broken(absl::UnavailableError(absl::StrCat("read: ", strerror(errno))));
    }
    ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(buf), n);
    if (rv < 0) return Broken(absl::InternalError(absl::StrCat("HTTP/2: ", nghttp2_strerror(rv))));
    return absl::OkStatus();
  }

  // Sends what is queued if the socket takes it now (WINDOW_UPDATEs, our RST_STREAM); the rest
  // goes out with the next call.
  void FlushNonBlocking() {
    while (out_pos_ < out_.size()) {
      ssize_t w =
          ::send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w <= 0) return;
      out_pos_ += w;
    }
  }

  absl::Status Broken(absl::Status s) {
    broken_ = true;
    return s;
  }

  // The call's outcome once its stream has ended.
  absl::StatusOr<std::string> Result(Call& call) {
    if (!call.local_error.ok()) return call.local_error;
    if (!call.has_grpc_status) {
      if (call.http_status != 0 && call.http_status != 200) {
        return absl::Status(FromHttpStatus(call.http_status),
                            absl::StrCat("HTTP status ", call.http_status));
      }
      if (call.reset_code != 0) {
        return absl::Status(
            FromResetCode(call.reset_code),
            absl::StrCat("stream reset by the runtime: ", nghttp2_http2_strerror(call.reset_code)));
      }
      return absl::UnknownError("the runtime's answer has no grpc-status");
    }
    if (call.grpc_status != 0) {
      auto code = call.grpc_status > 0 && call.grpc_status <= 16
                      ? static_cast<absl::StatusCode>(call.grpc_status)
                      : absl::StatusCode::kUnknown;
      return absl::Status(code, call.grpc_message);
    }
    // One message: flag, 4-byte big-endian length, bytes.
    std::string_view b = call.body;
    if (b.size() < 5) return absl::InternalError("no message in the runtime's answer");
    if (b[0] != 0)
      return absl::InternalError("the runtime sent a compressed message, which we did not ask for");
    uint32_t len = 0;
    for (int i = 1; i <= 4; ++i) len = (len << 8) | static_cast<uint8_t>(b[i]);
    if (b.size() != 5 + static_cast<size_t>(len)) {
      return absl::InternalError(b.size() < 5 + static_cast<size_t>(len)
                                     ? "the runtime's message is cut short"
                                     : "the runtime sent more than one message for a unary call");
    }
    call.body.erase(0, 5);
    return std::move(call.body);
  }

  static ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                          nghttp2_data_source* source, void*) {
    auto* body = static_cast<Body*>(source->ptr);
    size_t n = std::min(length, body->bytes.size() - body->pos);
    memcpy(buf, body->bytes.data() + body->pos, n);
    body->pos += n;
    if (body->pos == body->bytes.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                      void* user_data) {
    auto* self = static_cast<Connection*>(user_data);
    Call* call = self->call_;
    if (call == nullptr || frame->hd.stream_id != call->stream_id) return 0;
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      int status;
      if (absl::SimpleAtoi(absl::string_view(v.data(), v.size()), &status))
        call->http_status = status;
    } else if (n == "grpc-status") {
      int status;
      call->has_grpc_status = true;
      call->grpc_status = absl::SimpleAtoi(absl::string_view(v.data(), v.size()), &status)
                              ? status
                              : static_cast<int>(absl::StatusCode::kUnknown);
    } else if (n == "grpc-message") {
      call->grpc_message = PercentDecode(v);
    }
    return 0;
  }

  static int OnData(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data,
                    size_t len, void* user_data) {
    auto* self = static_cast<Connection*>(user_data);
    Call* call = self->call_;
    if (call == nullptr || stream_id != call->stream_id || !call->local_error.ok()) return 0;
    call->body.append(reinterpret_cast<const char*>(data), len);
    if (call->body.size() >= 5) {
      uint32_t msg = 0;
      for (int i = 1; i <= 4; ++i) msg = (msg << 8) | static_cast<uint8_t>(call->body[i]);
      if (msg > kMaxMessageBytes) {
        call->local_error = absl::ResourceExhaustedError(
            absl::StrCat("the runtime's message of ", msg, " bytes is larger than the ",
                         kMaxMessageBytes, " we accept"));
        call->body.clear();
        call->body.shrink_to_fit();
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
        return 0;
      }
      if (call->body.capacity() < 5 + static_cast<size_t>(msg))
        call->body.reserve(5 + static_cast<size_t>(msg));
      if (call->body.size() > 5 + static_cast<size_t>(msg)) {
        call->local_error =
            absl::InternalError("the runtime sent more than one message for a unary call");
        call->body.clear();
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
      }
    }
    return 0;
  }

  static int OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    auto* self = static_cast<Connection*>(user_data);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      self->goaway_ = true;
      return 0;
    }
    Call* call = self->call_;
    if (call != nullptr && frame->hd.stream_id == call->stream_id &&
        (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      call->ended = true;
    }
    return 0;
  }

  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                           void* user_data) {
    auto* self = static_cast<Connection*>(user_data);
    self->bodies_.erase(stream_id);
    Call* call = self->call_;
    if (call != nullptr && stream_id == call->stream_id) {
      call->closed = true;
      if (!call->ended) call->reset_code = error_code;
    }
    return 0;
  }

  int fd_ = -1;
  nghttp2_session* session_ = nullptr;
  std::string out_;  // bytes nghttp2 produced that the socket has not taken yet
  size_t out_pos_ = 0;
  Call* call_ = nullptr;                             // the call in progress, during Run()
  std::map<int32_t, std::unique_ptr<Body>> bodies_;  // request bodies nghttp2 may still read
  bool broken_ = false;
  bool goaway_ = false;
};

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
  std::string socket_path;
  std::unique_ptr<Connection> conn;
  Api api = Api::kUnknown;
  mutable std::mutex mu;

  static const char* Name(Api a) { return a == Api::kV1 ? "runtime.v1" : "runtime.v1alpha2"; }

  absl::Status Error(const absl::Status& s, const char* api_name, const char* method) const {
    return absl::Status(s.code(), absl::StrCat("container runtime at ", options.endpoint, ": ",
                                               api_name, " ", method, ": ", s.message()));
  }

  // Whether the kept connection can carry the next call; drops it when not.
  bool Connected() {
    if (conn && !conn->Usable()) conn.reset();
    return conn != nullptr;
  }

  // One unary call on the kept connection, (re)connecting first when there is none. Returns
  // the response message's bytes.
  absl::StatusOr<std::string> Invoke(Api a, const char* method, std::string_view request) {
    Clock::time_point deadline = Clock::now() + options.timeout;
    if (!Connected()) {
      auto c = Connection::Open(socket_path, deadline);
      if (!c.ok()) return Error(c.status(), Name(a), method);
      conn = *std::move(c);
    }
    auto resp =
        conn->Unary(absl::StrCat("/", Name(a), ".RuntimeService/", method), request, deadline);
    if (!conn->reusable()) conn.reset();
    if (!resp.ok()) return Error(resp.status(), Name(a), method);
    return resp;
  }

  absl::StatusOr<RuntimeVersion> CallVersion(Api a) {
    LB_ASSIGN_OR_RETURN(
        std::string bytes,
        Invoke(a, "Version", cri_wire::EncodeVersionRequest(kVersionRequestVersion)));
    auto v = cri_wire::DecodeVersionResponse(bytes);
    if (!v.ok()) return Error(v.status(), Name(a), "Version");
    return RuntimeVersion{Name(a), std::move(v->runtime_name), std::move(v->runtime_version),
                          std::move(v->runtime_api_version)};
  }

  absl::StatusOr<RuntimeVersion> Negotiate() {
    auto v = CallVersion(Api::kV1);
    if (v.ok()) {
      api = Api::kV1;
      return v;
    }
    if (v.status().code() != absl::StatusCode::kUnimplemented) {
      Reset(v.status());
      return v.status();
    }
    auto old = CallVersion(Api::kV1Alpha2);
    if (old.ok()) {
      api = Api::kV1Alpha2;
      return old;
    }
    Reset(old.status());
    if (old.status().code() == absl::StatusCode::kUnimplemented) {
      return absl::UnimplementedError(
          absl::StrCat("container runtime at ", options.endpoint,
                       " speaks neither runtime.v1 nor runtime.v1alpha2 of the CRI"));
    }
    return old.status();
  }

  // After a transport failure, start over with a new connection (no backoff) and negotiate
  // again next time.
  void Reset(const absl::Status& s) {
    if (s.code() == absl::StatusCode::kUnavailable ||
        s.code() == absl::StatusCode::kDeadlineExceeded) {
      conn.reset();
      api = Api::kUnknown;
    }
  }

  absl::StatusOr<RuntimeSnapshot> ListOnce() {
    RuntimeSnapshot snap;
    {
      LB_ASSIGN_OR_RETURN(std::string bytes,
                          Invoke(api, "ListPodSandbox",
                                 cri_wire::EncodeListPodSandboxRequest(cri_wire::kSandboxReady)));
      auto items = cri_wire::DecodeListPodSandboxResponse(bytes);
      if (!items.ok()) return Error(items.status(), Name(api), "ListPodSandbox");
      snap.sandboxes.reserve(items->size());
      for (cri_wire::PodSandbox& item : *items) {
        Sandbox sb;
        sb.id = std::move(item.id);
        if (!item.label_pod_name.empty()) {
          sb.ns = std::move(item.label_pod_namespace);
          sb.pod = std::move(item.label_pod_name);
          sb.uid = std::move(item.label_pod_uid);
        } else {  // not started by a kubelet: fall back to the CRI metadata
          sb.ns = std::move(item.ns);
          sb.pod = std::move(item.name);
          sb.uid = std::move(item.uid);
        }
        sb.ready = item.state == cri_wire::kSandboxReady;
        snap.sandboxes.push_back(std::move(sb));
      }
    }
    {
      LB_ASSIGN_OR_RETURN(
          std::string bytes,
          Invoke(api, "ListContainers",
                 cri_wire::EncodeListContainersRequest(cri_wire::kContainerRunning)));
      auto items = cri_wire::DecodeListContainersResponse(bytes);
      if (!items.ok()) return Error(items.status(), Name(api), "ListContainers");
      snap.containers.reserve(items->size());
      for (cri_wire::Container& item : *items) {
        Container c;
        c.id = std::move(item.id);
        c.sandbox_id = std::move(item.pod_sandbox_id);
        c.ns = std::move(item.label_pod_namespace);
        c.pod = std::move(item.label_pod_name);
        c.name = item.label_container_name.empty() ? std::move(item.name)
                                                   : std::move(item.label_container_name);
        c.running = item.state == cri_wire::kContainerRunning;
        snap.containers.push_back(std::move(c));
      }
    }
    return snap;
  }
};

CriClient::~CriClient() = default;

absl::StatusOr<std::string> CriClient::Target(const std::string& endpoint) {
  if (absl::StartsWith(endpoint, "unix://")) {
    std::string path = endpoint.substr(7);
    if (path.empty() || path[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("runtime endpoint ", endpoint, ": a unix endpoint needs an absolute path"));
    }
    return "unix://" + path;
  }
  if (!endpoint.empty() && endpoint[0] == '/') return "unix://" + endpoint;
  return absl::InvalidArgumentError(absl::StrCat(
      "runtime endpoint \"", endpoint, "\" is not a unix socket (unix:///path/to/runtime.sock)"));
}

absl::StatusOr<std::unique_ptr<CriClient>> CriClient::Create(const CriOptions& options) {
  LB_ASSIGN_OR_RETURN(std::string target, Target(options.endpoint));
  std::string path = target.substr(7);
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("runtime endpoint ", options.endpoint,
                                                   ": socket path longer than ",
                                                   sizeof(sockaddr_un::sun_path) - 1, " bytes"));
  }
  std::unique_ptr<CriClient> c(new CriClient());
  c->impl_ = std::make_unique<Impl>();
  c->impl_->options = options;
  c->impl_->socket_path = std::move(path);
  return c;
}

absl::StatusOr<RuntimeVersion> CriClient::Version() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->Negotiate();
}

absl::StatusOr<RuntimeSnapshot> CriClient::ListRunning() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& im = *impl_;
  // A new connection may be a new runtime (restarted, perhaps upgraded): negotiate again.
  if (im.api == Impl::Api::kUnknown || !im.Connected()) LB_RETURN_IF_ERROR(im.Negotiate().status());
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
  return impl_->api == Impl::Api::kUnknown ? "" : Impl::Name(impl_->api);
}

}  // namespace lifeboat::node
