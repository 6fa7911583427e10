#include "node/http_get.h"

#include <arpa/inet.h>
#include <errno.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>  // only for the MBEDTLS_ERR_NET_* codes our BIO returns
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status.h"
#include "node/http_response.h"

namespace lifeboat::node::internal {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxBody = size_t{64} << 20;
constexpr size_t kReadSize = size_t{16} << 10;
constexpr auto kConnectCap = std::chrono::seconds(3);
constexpr char kSystemTrustStore[] = "/etc/ssl/certs/ca-certificates.crt";

// One DRBG for the whole process, seeded once. Handshakes on different HttpGet objects may run on
// different threads, so draws are serialised here rather than relying on how mbedTLS was built.
struct Rng {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  std::mutex mu;
  int seed_result = 0;
};

Rng* ProcessRng() {
  static Rng* rng = [] {
    auto* r = new Rng();  // never freed: handshakes may run during static destruction
    mbedtls_entropy_init(&r->entropy);
    mbedtls_ctr_drbg_init(&r->drbg);
    static constexpr unsigned char kPersonalization[] = "lifeboat-http-get";
    r->seed_result = mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy,
                                           kPersonalization, sizeof kPersonalization - 1);
    return r;
  }();
  return rng;
}

int DrawRandom(void* ctx, unsigned char* out, size_t len) {
  Rng* rng = static_cast<Rng*>(ctx);
  std::lock_guard<std::mutex> lock(rng->mu);
  return mbedtls_ctr_drbg_random(&rng->drbg, out, len);
}

std::string MbedError(int ret) {
  char text[200];
  mbedtls_strerror(ret, text, sizeof text);
  return absl::StrCat(text, " (-0x", absl::Hex(-ret), ")");
}

// mbedtls_x509_crt_verify_info writes one reason per line; an error message wants one line.
std::string VerifyInfo(uint32_t flags) {
  char text[1024];
  int n = mbedtls_x509_crt_verify_info(text, sizeof text, "", flags);
  if (n <= 0) return absl::StrCat("verification flags 0x", absl::Hex(flags));
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(text, n), '\n', absl::SkipWhitespace());
  return absl::StrJoin(lines, "; ");
}

const char* AlertName(int alert) {
  switch (alert) {
    case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE:
      return "handshake_failure";
    case MBEDTLS_SSL_ALERT_MSG_BAD_CERT:
      return "bad_certificate";
    case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA:
      return "unknown_ca";
    case MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED:
      return "access_denied";
    case MBEDTLS_SSL_ALERT_MSG_INSUFFICIENT_SECURITY:
      return "insufficient_security";
    case MBEDTLS_SSL_ALERT_MSG_UNRECOGNIZED_NAME:
      return "unrecognized_name";
    case 116:  // certificate_required (TLS 1.3 only, but OpenSSL sends it as a courtesy)
      return "certificate_required";
    default:
      return "alert";
  }
}

bool IsTokenOrPathChar(char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; }

struct ParsedUrl {
  bool tls = false;
  std::string host;       // without brackets: what getaddrinfo and SNI see
  std::string port;       // decimal, the scheme's default when the URL has none
  std::string authority;  // host[:port] as written: the Host header
  std::string path;       // path and query, starting with '/'
  bool is_ip = false;
  unsigned char ip[16] = {0};  // the literal's bytes, for matching iPAddress SANs
  size_t ip_len = 0;
};

absl::StatusOr<ParsedUrl> ParseUrl(const std::string& url) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("URL \"", url, "\": ", why));
  };
  ParsedUrl u;
  absl::string_view rest = url;
  if (absl::StartsWithIgnoreCase(rest, "https://")) {
    u.tls = true;
    rest.remove_prefix(8);
  } else if (absl::StartsWithIgnoreCase(rest, "http://")) {
    rest.remove_prefix(7);
  } else {
    return bad("not an http:// or https:// URL");
  }
  size_t end = rest.find_first_of("/?#");
  absl::string_view authority = rest.substr(0, end);
  absl::string_view tail = end == absl::string_view::npos ? absl::string_view() : rest.substr(end);
  tail = tail.substr(0, tail.find('#'));
  if (authority.empty()) return bad("no host");
  if (authority.find('@') != absl::string_view::npos)
    return bad("user information in URLs is not supported");
  absl::string_view host, port;
  if (authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) return bad("unterminated [IPv6] literal");
    host = authority.substr(1, close - 1);
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':' || after.size() == 1)
        return bad("expected :port after the [IPv6] literal");
      port = after.substr(1);
    }
    std::string h(host);
    if (inet_pton(AF_INET6, h.c_str(), u.ip) != 1)
      return bad("not an IPv6 address between the brackets");
    u.is_ip = true;
    u.ip_len = 16;
  } else {
    size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != absl::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return bad("empty port");
    }
    if (host.empty()) return bad("no host");
    std::string h(host);
    if (inet_pton(AF_INET, h.c_str(), u.ip) == 1) {
      u.is_ip = true;
      u.ip_len = 4;
    } else {
      if (host.size() > 253) return bad("host name too long");
      bool all_numeric = true;
      for (char c : host) {
        if (!absl::ascii_isalnum(c) && c != '-' && c != '.' && c != '_') {
          return bad("host is not a DNS name, an IPv4 address or an [IPv6] literal");
        }
        if (!absl::ascii_isdigit(c) && c != '.') all_numeric = false;
      }
      if (all_numeric) return bad("host is not a valid IPv4 address");
    }
  }
  if (port.empty()) {
    port = u.tls ? "443" : "80";
  } else {
    int p = 0;
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(port, &p) || p < 1 || p > 65535) {
      return bad("port is not a number between 1 and 65535");
    }
  }
  if (!std::all_of(tail.begin(), tail.end(), IsTokenOrPathChar)) {
    return bad("contains spaces or control characters");
  }
  u.host = std::string(host);
  u.port = std::string(port);
  u.authority = std::string(authority);
  u.path = tail.empty() ? "/" : tail[0] == '?' ? absl::StrCat("/", tail) : std::string(tail);
  return u;
}

bool HasHeader(const std::vector<std::string>& headers, absl::string_view name) {
  for (const auto& h : headers) {
    if (absl::StartsWithIgnoreCase(h, name) && h.size() > name.size() && h[name.size()] == ':')
      return true;
  }
  return false;
}

}  // namespace

struct HttpGet::Impl {
  HttpGetOptions options;
  ParsedUrl url;
  const std::string* base_url = nullptr;  // HttpGet::url_
  std::string header_block;               // every request header after the request line
  std::string request;                    // reused per request
  std::string target;                     // the URL being fetched, for messages
  std::string body;                       // kept between calls; cleared, not freed
  std::string rbuf;                       // receive buffer, kReadSize
  HttpResponseParser parser;

  // Connection state.
  int fd = -1;
  int requests_on_connection = 0;
  bool got_response_bytes = false;    // this attempt has seen a byte of the response
  Clock::time_point deadline;         // of the whole request
  std::chrono::milliseconds idle{0};  // >0: also the longest wait for the next byte (Stream)
  bool timed_out = false;
  bool idle_timed_out = false;
  int io_errno = 0;
  int cancel_fd = -1;  // eventfd: readable once Cancel was called
  std::atomic<bool> cancel_requested{false};
  bool cancelled = false;

  // TLS state; the ssl context and its record buffers live as long as this object and are reset,
  // not reallocated, when the connection is replaced.
  bool tls_ready = false;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt ca, cert;
  mbedtls_pk_context key;
  mbedtls_ssl_context ssl;
  mbedtls_ssl_session session;  // last session, offered for resumption on reconnect
  bool have_session = false;
  bool ip_san_mismatch = false;

  Impl() {
    mbedtls_ssl_config_init(&conf);
    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&cert);
    mbedtls_pk_init(&key);
    mbedtls_ssl_init(&ssl);
    mbedtls_ssl_session_init(&session);
  }
  ~Impl() {
    Close();
    if (cancel_fd >= 0) ::close(cancel_fd);
    mbedtls_ssl_session_free(&session);
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&cert);
    mbedtls_x509_crt_free(&ca);
  }

  absl::Status Fail(absl::string_view reason) const {
    if (cancelled) return absl::CancelledError(absl::StrCat(target, ": cancelled"));
    return absl::UnavailableError(absl::StrCat(target, ": ", reason));
  }
  absl::Status TimedOut(absl::string_view during) const {
    if (idle_timed_out) {
      return Fail(absl::StrCat("timed out: nothing received for ", idle.count(), " ms ", during));
    }
    return Fail(absl::StrCat("timed out after ", options.timeout.count(), " ms ", during));
  }

  absl::Status SetUpTls();
  absl::Status Connect();
  absl::Status Handshake();
  absl::Status HandshakeError(int ret);
  void Close();
  bool IdleConnectionUsable();

  int Wait(int sock, short events, Clock::time_point until);
  int WaitIo(short events);
  long SockSend(const unsigned char* p, size_t n);
  long SockRecv(unsigned char* p, size_t n);
  static int BioSend(void* ctx, const unsigned char* p, size_t n);
  static int BioRecv(void* ctx, unsigned char* p, size_t n);
  static int VerifyIpSan(void* ctx, mbedtls_x509_crt* crt, int depth, uint32_t* flags);

  absl::Status Write(absl::string_view data);
  absl::StatusOr<size_t> Read(char* p, size_t n);
  // One request and its whole answer, the decoded body going to `on_body` (`on_status` first).
  absl::Status Exchange(absl::string_view method, absl::string_view path,
                        absl::string_view req_body, absl::string_view content_type, size_t max_body,
                        const std::function<absl::Status(long)>& on_status,
                        const std::function<absl::Status(absl::string_view)>& on_body,
                        long* http_code, bool* keep_alive, bool* handler_failed);
  // Exchange on the kept-alive connection or a new one, retrying once on a stale connection.
  absl::Status Run(absl::string_view method, absl::string_view path, absl::string_view req_body,
                   absl::string_view content_type, size_t max_body,
                   const std::function<absl::Status(long)>& on_status,
                   const std::function<absl::Status(absl::string_view)>& on_body, long* http_code);
};

namespace {

// ECDHE only (forward secrecy), AEAD only, in the order we prefer. Decrypting what the kubelet
// and the API server send is most of the checkpointer's CPU; mbedTLS 2.28 decrypts
// ChaCha20-Poly1305 at ~300 MB/s and AES-128-GCM at ~220 MB/s here (it multiplies GHASH one block
// at a time), and Go servers take the client's first choice.
const int kCipherSuites[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                             MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
                             MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                             MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                             MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                             MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                             0};

}  // namespace

absl::Status HttpGet::Impl::SetUpTls() {
  Rng* rng = ProcessRng();
  if (rng->seed_result != 0) {
    return absl::InternalError(
        absl::StrCat("seeding the TLS random generator: ", MbedError(rng->seed_result)));
  }
  const std::string& u = *base_url;
  int ret = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT);
  if (ret != 0)
    return absl::InternalError(absl::StrCat(u, ": TLS configuration: ", MbedError(ret)));
  mbedtls_ssl_conf_rng(&conf, DrawRandom, rng);
  mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_ciphersuites(&conf, kCipherSuites);
  if (options.verify_tls) {
    if (options.ca_pem.empty()) {
      ret = mbedtls_x509_crt_parse_file(&ca, kSystemTrustStore);
      // A positive result counts certificates mbedTLS skipped; the rest of the bundle is usable.
      if (ret < 0 || ca.version == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(u, ": cannot load the system trust store ", kSystemTrustStore, ": ",
                         ret < 0 ? MbedError(ret) : "no usable certificate"));
      }
    } else {
      ret = mbedtls_x509_crt_parse(&ca,
                                   reinterpret_cast<const unsigned char*>(options.ca_pem.c_str()),
                                   options.ca_pem.size() + 1);
      if (ret < 0 || ca.version == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(u, ": cannot parse the CA certificate(s): ",
                         ret < 0 ? MbedError(ret) : "no usable certificate"));
      }
    }
    mbedtls_ssl_conf_ca_chain(&conf, &ca, nullptr);
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    // mbedTLS 2.28 matches only dNSName SANs (and the CN) against the name given to
    // mbedtls_ssl_set_hostname; API servers are usually addressed by IP, so for an IP literal we
    // match the leaf's iPAddress SANs ourselves.
    if (url.is_ip) mbedtls_ssl_conf_verify(&conf, VerifyIpSan, this);
  } else {
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE);
  }
  if (!options.cert_pem.empty() || !options.key_pem.empty()) {
    if (options.cert_pem.empty() || options.key_pem.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(u, ": a client certificate needs both the certificate and its key"));
    }
    ret = mbedtls_x509_crt_parse(&cert,
                                 reinterpret_cast<const unsigned char*>(options.cert_pem.c_str()),
                                 options.cert_pem.size() + 1);
    if (ret != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(u, ": cannot parse the client certificate: ", MbedError(ret)));
    }
    ret =
        mbedtls_pk_parse_key(&key, reinterpret_cast<const unsigned char*>(options.key_pem.c_str()),
                             options.key_pem.size() + 1, nullptr, 0);
    if (ret != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(u, ": cannot parse the client key: ", MbedError(ret)));
    }
    ret = mbedtls_pk_check_pair(&cert.pk, &key);
    if (ret != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(u, ": the client certificate and key do not match"));
    }
    ret = mbedtls_ssl_conf_own_cert(&conf, &cert, &key);
    if (ret != 0)
      return absl::InternalError(absl::StrCat(u, ": TLS client certificate: ", MbedError(ret)));
  }
  ret = mbedtls_ssl_setup(&ssl, &conf);
  if (ret != 0) return absl::InternalError(absl::StrCat(u, ": TLS setup: ", MbedError(ret)));
  // SNI and (when verifying) the name check; RFC 6066 forbids SNI for IP literals.
  if (!url.is_ip) {
    ret = mbedtls_ssl_set_hostname(&ssl, url.host.c_str());
    if (ret != 0) return absl::InternalError(absl::StrCat(u, ": TLS host name: ", MbedError(ret)));
  }
  mbedtls_ssl_set_bio(&ssl, this, BioSend, BioRecv, nullptr);
  tls_ready = true;
  return absl::OkStatus();
}

int HttpGet::Impl::VerifyIpSan(void* ctx, mbedtls_x509_crt* crt, int depth, uint32_t* flags) {
  if (depth != 0) return 0;
  Impl* im = static_cast<Impl*>(ctx);
  // mbedTLS 2.28 keeps every SAN entry here, tagged with its context-specific tag and pointing at
  // the raw value; an iPAddress is [7] holding 4 or 16 network-order bytes.
  constexpr int kIpTag = MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_IP_ADDRESS;
  for (const mbedtls_x509_sequence* s = &crt->subject_alt_names; s != nullptr; s = s->next) {
    if (s->buf.p != nullptr && s->buf.tag == kIpTag && s->buf.len == im->url.ip_len &&
        std::memcmp(s->buf.p, im->url.ip, im->url.ip_len) == 0) {
      return 0;
    }
  }
  im->ip_san_mismatch = true;
  *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  return 0;
}

void HttpGet::Impl::Close() {
  if (fd >= 0) ::close(fd);
  fd = -1;
  if (tls_ready) mbedtls_ssl_session_reset(&ssl);
  requests_on_connection = 0;
  parser.Reset(false, 0);
}

// An idle kept-alive connection that has become readable was closed by the server (or carries
// bytes nobody asked for); either way it must not be reused.
bool HttpGet::Impl::IdleConnectionUsable() {
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  int r = ::poll(&p, 1, 0);
  if (r == 0) return true;
  return false;
}

// Waits for `events` on `sock` until `until`, or until Cancel. 1: ready; 0: timed out; -1: error
// (io_errno) or cancelled.
int HttpGet::Impl::Wait(int sock, short events, Clock::time_point until) {
  for (;;) {
    auto now = Clock::now();
    long ms = 0;
    if (until > now) {
      ms = static_cast<long>(std::min<int64_t>(
          std::chrono::ceil<std::chrono::milliseconds>(until - now).count(), 1 << 30));
    }
    pollfd p[2] = {{sock, events, 0}, {cancel_fd, POLLIN, 0}};
    int r = ::poll(p, cancel_fd >= 0 ? 2 : 1, static_cast<int>(ms));
    if (r > 0 && cancel_fd >= 0 && (p[1].revents & POLLIN)) {
      cancelled = true;
      io_errno = ECANCELED;
      return -1;
    }
    if (r > 0) return 1;
    if (r == 0) {
      if (Clock::now() >= until) return 0;
      continue;
    }
    if (errno == EINTR) continue;
    io_errno = errno;
    return -1;
  }
}

// Waits for the connection, bounded by the request's deadline and, while streaming, by the idle
// timeout counted from now (the last byte that came).
int HttpGet::Impl::WaitIo(short events) {
  Clock::time_point until = deadline;
  bool by_idle = false;
  if (idle.count() > 0) {
    Clock::time_point idle_until = Clock::now() + idle;
    if (idle_until < until) {
      until = idle_until;
      by_idle = true;
    }
  }
  int w = Wait(fd, events, until);
  if (w == 0) {
    timed_out = true;
    idle_timed_out = by_idle;
  }
  return w;
}

long HttpGet::Impl::SockSend(const unsigned char* p, size_t n) {
  for (;;) {
    ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      io_errno = errno;
      return -1;
    }
    if (WaitIo(POLLOUT) <= 0) return -1;
  }
}

long HttpGet::Impl::SockRecv(unsigned char* p, size_t n) {
  for (;;) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      io_errno = errno;
      return -1;
    }
    if (WaitIo(POLLIN) <= 0) return -1;
  }
}

int HttpGet::Impl::BioSend(void* ctx, const unsigned char* p, size_t n) {
  Impl* im = static_cast<Impl*>(ctx);
  long r = im->SockSend(p, n);
  if (r >= 0) return static_cast<int>(r);
  return im->timed_out ? MBEDTLS_ERR_SSL_TIMEOUT : MBEDTLS_ERR_NET_SEND_FAILED;
}

int HttpGet::Impl::BioRecv(void* ctx, unsigned char* p, size_t n) {
  Impl* im = static_cast<Impl*>(ctx);
  long r = im->SockRecv(p, n);
  if (r >= 0) return static_cast<int>(r);  // 0: EOF, which mbedTLS reports as CONN_EOF
  return im->timed_out ? MBEDTLS_ERR_SSL_TIMEOUT : MBEDTLS_ERR_NET_RECV_FAILED;
}

absl::Status HttpGet::Impl::Connect() {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = !url.is_ip ? AF_UNSPEC : url.ip_len == 4 ? AF_INET : AF_INET6;
  hints.ai_flags = AI_NUMERICSERV | (url.is_ip ? AI_NUMERICHOST : 0);
  addrinfo* addrs = nullptr;
  // getaddrinfo cannot be bounded by our deadline; the daemon resolves names only when a kubeconfig
  // names its server by DNS, and /etc/hosts or a local resolver answers quickly.
  int rc = ::getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &addrs);
  if (rc != 0) return Fail(absl::StrCat("cannot resolve ", url.host, ": ", gai_strerror(rc)));
  Clock::time_point connect_deadline = std::min(deadline, Clock::now() + kConnectCap);
  std::vector<std::string> errors;
  bool connect_timed_out = false;
  for (addrinfo* a = addrs; a != nullptr && fd < 0; a = a->ai_next) {
    char host[NI_MAXHOST] = "?", serv[NI_MAXSERV] = "?";
    ::getnameinfo(a->ai_addr, a->ai_addrlen, host, sizeof host, serv, sizeof serv,
                  NI_NUMERICHOST | NI_NUMERICSERV);
    std::string where = a->ai_family == AF_INET6 ? absl::StrCat("[", host, "]:", serv)
                                                 : absl::StrCat(host, ":", serv);
    int s = ::socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
      errors.push_back(absl::StrCat("socket: ", std::strerror(errno)));
      continue;
    }
    int err = 0;
    if (::connect(s, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        int w = Wait(s, POLLOUT, connect_deadline);
        if (w == 0) {
          connect_timed_out = true;
          errors.push_back(absl::StrCat("connecting to ", where));
          ::close(s);
          break;  // no time left for the other addresses
        }
        socklen_t len = sizeof err;
        if (w < 0) {
          err = io_errno;
        } else if (::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
          err = errno;
        }
      }
    }
    if (err != 0) {
      errors.push_back(absl::StrCat("connect to ", where, ": ", std::strerror(err)));
      ::close(s);
      continue;
    }
    int one = 1;
    ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fd = s;
  }
  ::freeaddrinfo(addrs);
  if (fd < 0) {
    if (connect_timed_out) {
      timed_out = true;
      long ms = std::min<long>(
          options.timeout.count(),
          std::chrono::duration_cast<std::chrono::milliseconds>(kConnectCap).count());
      std::string last = std::move(errors.back());
      errors.pop_back();
      return Fail(absl::StrCat(
          "timed out after ", ms, " ms ", last,
          errors.empty() ? "" : absl::StrCat(" (earlier: ", absl::StrJoin(errors, "; "), ")")));
    }
    return Fail(errors.empty() ? std::string("no address to connect to")
                               : absl::StrJoin(errors, "; "));
  }
  requests_on_connection = 0;
  parser.Reset(false, 0);
  if (url.tls) return Handshake();
  return absl::OkStatus();
}

absl::Status HttpGet::Impl::Handshake() {
  ip_san_mismatch = false;
  if (have_session)
    mbedtls_ssl_set_session(&ssl, &session);  // best effort: a full handshake otherwise
  int ret;
  do {
    ret = mbedtls_ssl_handshake(&ssl);
  } while (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE);
  if (ret != 0) {
    absl::Status s = HandshakeError(ret);
    Close();
    return s;
  }
  mbedtls_ssl_session_free(&session);
  mbedtls_ssl_session_init(&session);
  have_session = mbedtls_ssl_get_session(&ssl, &session) == 0;
  return absl::OkStatus();
}

absl::Status HttpGet::Impl::HandshakeError(int ret) {
  if (timed_out || ret == MBEDTLS_ERR_SSL_TIMEOUT) {
    timed_out = true;
    return TimedOut("during the TLS handshake");
  }
  if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
    uint32_t flags = mbedtls_ssl_get_verify_result(&ssl);
    std::string msg = absl::StrCat("TLS certificate verification failed: ", VerifyInfo(flags));
    if (ip_san_mismatch) {
      absl::StrAppend(&msg, " (the server certificate has no IP address subjectAltName for ",
                      url.host, ")");
    } else if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) {
      absl::StrAppend(&msg, " (the server certificate is not valid for host ", url.host, ")");
    }
    return Fail(msg);
  }
  if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && ssl.in_msgtype == MBEDTLS_SSL_MSG_ALERT &&
      ssl.in_msg != nullptr) {
    int alert = ssl.in_msg[1];
    if (alert == MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION) {
      return Fail(
          "TLS handshake failed: the server refused TLS 1.2 (protocol_version alert); it probably "
          "requires "
          "TLS 1.3, which this client (mbedTLS 2.28) does not speak");
    }
    std::string hint;
    if (alert == MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE || alert == 116) {
      hint = options.cert_pem.empty() ? " (does the server require a client certificate?)"
                                      : " (did the server reject the client certificate?)";
    } else if (alert == MBEDTLS_SSL_ALERT_MSG_BAD_CERT ||
               alert == MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA) {
      hint = " (the server did not accept the client certificate)";
    }
    return Fail(absl::StrCat("TLS handshake failed: the server sent fatal alert ", alert, " (",
                             AlertName(alert), ")", hint));
  }
  std::string msg = absl::StrCat("TLS handshake failed: ", MbedError(ret));
  if ((ret == MBEDTLS_ERR_NET_RECV_FAILED || ret == MBEDTLS_ERR_NET_SEND_FAILED) && io_errno != 0) {
    absl::StrAppend(&msg, ": ", std::strerror(io_errno));
  } else if (ret == MBEDTLS_ERR_SSL_CONN_EOF) {
    absl::StrAppend(&msg, " (the server closed the connection during the handshake)");
  }
  return Fail(msg);
}

absl::Status HttpGet::Impl::Write(absl::string_view data) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  while (n > 0) {
    long r;
    if (url.tls) {
      r = mbedtls_ssl_write(&ssl, p, n);
      if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
      if (r < 0) {
        if (timed_out) return TimedOut("sending the request");
        return Fail(absl::StrCat("sending the request: ", MbedError(static_cast<int>(r)),
                                 io_errno ? absl::StrCat(": ", std::strerror(io_errno)) : ""));
      }
    } else {
      r = SockSend(p, n);
      if (r < 0) {
        if (timed_out) return TimedOut("sending the request");
        return Fail(absl::StrCat("sending the request: ", std::strerror(io_errno)));
      }
    }
    p += r;
    n -= r;
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> HttpGet::Impl::Read(char* p, size_t n) {
  long r;
  if (url.tls) {
    do {
      r = mbedtls_ssl_read(&ssl, reinterpret_cast<unsigned char*>(p), n);
    } while (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE);
    // EOF with or without close_notify: a truncated body is caught by the framing checks.
    if (r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || r == MBEDTLS_ERR_SSL_CONN_EOF) r = 0;
    if (r < 0) {
      if (timed_out) return TimedOut("waiting for the response");
      return Fail(absl::StrCat("receiving the response: ", MbedError(static_cast<int>(r)),
                               io_errno ? absl::StrCat(": ", std::strerror(io_errno)) : ""));
    }
  } else {
    r = SockRecv(reinterpret_cast<unsigned char*>(p), n);
    if (r < 0) {
      if (timed_out) return TimedOut("waiting for the response");
      return Fail(absl::StrCat("receiving the response: ", std::strerror(io_errno)));
    }
  }
  if (r > 0) got_response_bytes = true;
  return static_cast<size_t>(r);
}

absl::Status HttpGet::Impl::Exchange(absl::string_view method, absl::string_view path,
                                     absl::string_view req_body, absl::string_view content_type,
                                     size_t max_body,
                                     const std::function<absl::Status(long)>& on_status,
                                     const std::function<absl::Status(absl::string_view)>& on_body,
                                     long* http_code, bool* keep_alive, bool* handler_failed) {
  request.clear();
  absl::StrAppend(&request, method, " ", path, " HTTP/1.1\r\n", header_block);
  if (!content_type.empty()) absl::StrAppend(&request, "Content-Type: ", content_type, "\r\n");
  if (!req_body.empty() || (method != "GET" && method != "HEAD")) {
    absl::StrAppend(&request, "Content-Length: ", req_body.size(), "\r\n");
  }
  absl::StrAppend(&request, "\r\n");
  LB_RETURN_IF_ERROR(Write(request));
  if (!req_body.empty()) LB_RETURN_IF_ERROR(Write(req_body));

  parser.Reset(options.accept_gzip, max_body, method == "HEAD");
  bool status_reported = false;
  absl::Status handler_status;  // the first error of on_status/on_body, returned as it is
  auto sink = [&](absl::string_view piece) -> absl::Status {
    if (!status_reported) {
      status_reported = true;
      if (on_status) handler_status = on_status(parser.head().code);
      if (!handler_status.ok()) return absl::CancelledError();
    }
    handler_status = on_body(piece);
    return handler_status.ok() ? absl::OkStatus() : absl::CancelledError();
  };
  bool extra = false;  // bytes beyond the response: the connection's framing cannot be trusted
  while (!parser.done()) {
    LB_ASSIGN_OR_RETURN(size_t n, Read(rbuf.data(), rbuf.size()));
    absl::Status st;
    if (n == 0) {
      st = parser.FeedEof();
      if (st.ok()) break;
    } else {
      auto used = parser.Feed(absl::string_view(rbuf.data(), n), sink);
      if (used.ok()) {
        extra = *used < n;
      } else {
        st = used.status();
      }
    }
    if (!handler_status.ok()) {
      *handler_failed = true;
      return handler_status;
    }
    if (!st.ok()) return Fail(st.message());
    if (parser.head_done() && !status_reported && on_status) {
      status_reported = true;
      absl::Status s = on_status(parser.head().code);
      if (!s.ok()) {
        *handler_failed = true;
        return s;
      }
    }
  }
  if (!status_reported && on_status) {  // a response without a body
    absl::Status s = on_status(parser.head().code);
    if (!s.ok()) {
      *handler_failed = true;
      return s;
    }
  }
  *http_code = parser.head().code;
  *keep_alive = !parser.head().close && !extra;
  return absl::OkStatus();
}

absl::Status HttpGet::Impl::Run(absl::string_view method, absl::string_view path,
                                absl::string_view req_body, absl::string_view content_type,
                                size_t max_body, const std::function<absl::Status(long)>& on_status,
                                const std::function<absl::Status(absl::string_view)>& on_body,
                                long* http_code) {
  if (path == url.path) {
    target = *base_url;
  } else {
    target.clear();
    absl::StrAppend(&target, url.tls ? "https://" : "http://", url.authority, path);
  }
  timed_out = idle_timed_out = false;
  cancelled = cancel_requested.load();
  if (cancelled) return Fail("");
  if (fd >= 0 && !IdleConnectionUsable()) Close();
  for (int attempt = 0;; ++attempt) {
    bool reused = fd >= 0 && requests_on_connection > 0;
    io_errno = 0;
    got_response_bytes = false;
    absl::Status s;
    if (fd < 0) s = Connect();
    bool keep_alive = false, handler_failed = false;
    long code = 0;
    if (s.ok()) {
      s = Exchange(method, path, req_body, content_type, max_body, on_status, on_body, &code,
                   &keep_alive, &handler_failed);
    }
    if (s.ok()) {
      ++requests_on_connection;
      if (!keep_alive) Close();
      *http_code = code;
      return absl::OkStatus();
    }
    Close();
    if (handler_failed) return s;
    // A kept-alive connection the server dropped while idle fails before any response byte;
    // that request never reached the application, so one fresh connection is worth a try
    // (for requests that are safe to repeat).
    bool idempotent = method == "GET" || method == "HEAD";
    if (!(idempotent && reused && attempt == 0 && !got_response_bytes && !timed_out &&
          !cancelled)) {
      return s;
    }
  }
}

HttpGet::~HttpGet() = default;

absl::StatusOr<std::unique_ptr<HttpGet>> HttpGet::Create(std::string url, HttpGetOptions options) {
  LB_ASSIGN_OR_RETURN(ParsedUrl parsed, ParseUrl(url));
  for (const auto& h : options.headers) {
    size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0 ||
        !std::all_of(h.begin(), h.begin() + colon, IsTokenOrPathChar) ||
        h.find_first_of("\r\n") != std::string::npos) {
      // The value is left out: it may be a credential.
      return absl::InvalidArgumentError(
          absl::StrCat(url, ": header \"", absl::CEscape(h.substr(0, std::min<size_t>(colon, 40))),
                       "\" is not a single \"Name: value\" line"));
    }
  }
  if (!std::all_of(options.token.begin(), options.token.end(), IsTokenOrPathChar)) {
    return absl::InvalidArgumentError(
        absl::StrCat(url, ": the bearer token contains spaces or control characters"));
  }
  if (options.timeout.count() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(url, ": the timeout must be positive"));
  }
  std::unique_ptr<HttpGet> g(new HttpGet());
  g->url_ = std::move(url);
  g->impl_ = std::make_unique<Impl>();
  Impl& im = *g->impl_;
  im.options = std::move(options);
  im.url = std::move(parsed);
  im.base_url = &g->url_;
  const HttpGetOptions& o = im.options;
  absl::StrAppend(&im.header_block, "Host: ", im.url.authority, "\r\n");
  if (!o.user_agent.empty() && !HasHeader(o.headers, "User-Agent")) {
    absl::StrAppend(&im.header_block, "User-Agent: ", o.user_agent, "\r\n");
  }
  for (const auto& h : o.headers) absl::StrAppend(&im.header_block, h, "\r\n");
  if (o.accept_gzip) absl::StrAppend(&im.header_block, "Accept-Encoding: gzip\r\n");
  if (!o.token.empty())
    absl::StrAppend(&im.header_block, "Authorization: Bearer ", o.token, "\r\n");
  im.rbuf.resize(kReadSize);
  im.cancel_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (im.cancel_fd < 0) {
    return absl::InternalError(absl::StrCat(g->url_, ": eventfd: ", std::strerror(errno)));
  }
  if (im.url.tls) LB_RETURN_IF_ERROR(im.SetUpTls());
  return g;
}

absl::StatusOr<absl::string_view> HttpGet::Fetch(long* http_code) {
  return FetchPath(impl_->url.path, http_code);
}

namespace {

absl::Status CheckPath(const std::string& url, absl::string_view path_and_query) {
  if (path_and_query.empty() || path_and_query[0] != '/' ||
      !std::all_of(path_and_query.begin(), path_and_query.end(), IsTokenOrPathChar)) {
    return absl::InvalidArgumentError(absl::StrCat(url, ": path \"", absl::CEscape(path_and_query),
                                                   "\" must start with / and contain no spaces"));
  }
  return absl::OkStatus();
}

bool IsToken(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(c) || absl::StrContains("!#$%&'*+-.^_`|~", c);
  });
}

}  // namespace

absl::StatusOr<absl::string_view> HttpGet::FetchPath(absl::string_view path_and_query,
                                                     long* http_code) {
  return Send("GET", path_and_query, "", "", http_code);
}

absl::StatusOr<absl::string_view> HttpGet::Send(absl::string_view method,
                                                absl::string_view path_and_query,
                                                absl::string_view body,
                                                absl::string_view content_type, long* http_code) {
  Impl& im = *impl_;
  LB_RETURN_IF_ERROR(CheckPath(url_, path_and_query));
  if (!IsToken(method) || !std::all_of(content_type.begin(), content_type.end(),
                                       [](char c) { return c == ' ' || IsTokenOrPathChar(c); })) {
    return absl::InvalidArgumentError(
        absl::StrCat(url_, ": bad method \"", absl::CEscape(method.substr(0, 20)),
                     "\" or content type \"", absl::CEscape(content_type.substr(0, 60)), "\""));
  }
  im.deadline = Clock::now() + im.options.timeout;
  im.idle = std::chrono::milliseconds(0);
  im.body.clear();  // keeps its capacity: no new buffer every tick
  std::string& out = im.body;
  HttpResponseParser& parser = im.parser;
  std::function<absl::Status(absl::string_view)> on_body = [&out,
                                                            &parser](absl::string_view piece) {
    // A plain body of known length is read into a buffer of exactly its size.
    if (out.empty() && parser.head().has_length && !parser.head().gzip) {
      out.reserve(static_cast<size_t>(parser.head().content_length));
    }
    out.append(piece.data(), piece.size());
    return absl::OkStatus();
  };
  long code = 0;
  absl::Status s =
      im.Run(method, path_and_query, body, content_type, kMaxBody, nullptr, on_body, &code);
  if (!s.ok()) {
    im.body.clear();
    return s;
  }
  *http_code = code;
  return absl::string_view(im.body);
}

absl::Status HttpGet::Stream(absl::string_view path_and_query, const StreamOptions& options,
                             const StreamHandlers& handlers) {
  Impl& im = *impl_;
  LB_RETURN_IF_ERROR(CheckPath(url_, path_and_query));
  if (!handlers.on_body) {
    return absl::InvalidArgumentError(absl::StrCat(url_, ": a stream needs a body handler"));
  }
  auto now = Clock::now();
  im.deadline =
      options.max_duration.count() > 0 ? now + options.max_duration : Clock::time_point::max();
  im.idle = options.idle_timeout.count() > 0 ? options.idle_timeout : im.options.timeout;
  long code = 0;
  return im.Run("GET", path_and_query, "", "", 0, handlers.on_status, handlers.on_body, &code);
}

void HttpGet::Cancel() {
  Impl& im = *impl_;
  im.cancel_requested = true;
  uint64_t one = 1;
  ssize_t r = ::write(im.cancel_fd, &one, sizeof one);
  (void)r;
}

}  // namespace lifeboat::node::internal
