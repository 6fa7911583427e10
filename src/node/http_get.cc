#include "node/http_get.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
// wolfSSL's configuration first: the layout of its structures depends on it.
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfio.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <ctime>
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

void InitTls() {
  static std::once_flag once;
  std::call_once(once, [] { wolfSSL_Init(); });
}

std::string TlsError(int err) {
  char text[WOLFSSL_MAX_ERROR_SZ];
  wolfSSL_ERR_error_string_n(static_cast<unsigned long>(err), text, sizeof text);
  return absl::StrCat(text, " (", err, ")");
}

const char* AlertName(int alert) {
  switch (alert) {
    case 40:
      return "handshake_failure";
    case 42:
      return "bad_certificate";
    case 46:
      return "certificate_unknown";
    case 48:
      return "unknown_ca";
    case 49:
      return "access_denied";
    case 70:
      return "protocol_version";
    case 71:
      return "insufficient_security";
    case 112:
      return "unrecognized_name";
    case 116:
      return "certificate_required";
    default:
      return "alert";
  }
}

// A certificate's time as RFC 3339 in UTC, as Go prints it.
std::string CertTime(const WOLFSSL_ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || wolfSSL_ASN1_TIME_to_tm(t, &tm) != WOLFSSL_SUCCESS) return "?";
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string Now() {
  std::time_t now = std::time(nullptr);
  struct tm tm {};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string Subject(WOLFSSL_X509* cert) {
  if (cert == nullptr) return "?";
  char text[256];
  const char* name =
      wolfSSL_X509_NAME_oneline(wolfSSL_X509_get_subject_name(cert), text, sizeof text);
  return name != nullptr ? std::string(name) : "?";
}

// A certificate's subjectAltNames: DNS names and IP addresses (4 or 16 bytes). `*has_any` is set
// if it has the extension with any kind of name.
struct AltNames {
  bool has_any = false;
  std::vector<std::string> dns;
  std::vector<std::string> ips;  // raw bytes
};

AltNames GetAltNames(WOLFSSL_X509* cert) {
  AltNames out;
  auto* names = static_cast<WOLFSSL_STACK*>(
      wolfSSL_X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  int n = wolfSSL_sk_GENERAL_NAME_num(names);
  for (int i = 0; i < n; ++i) {
    WOLFSSL_GENERAL_NAME* gn = wolfSSL_sk_GENERAL_NAME_value(names, i);
    if (gn == nullptr) continue;
    out.has_any = true;
    if (gn->type == 2 /* GEN_DNS */ && gn->d.dNSName != nullptr && gn->d.dNSName->data != nullptr) {
      out.dns.emplace_back(gn->d.dNSName->data, gn->d.dNSName->length);
    } else if (gn->type == 7 /* GEN_IPADD */ && gn->d.iPAddress != nullptr &&
               gn->d.iPAddress->data != nullptr) {
      out.ips.emplace_back(gn->d.iPAddress->data, gn->d.iPAddress->length);
    }
  }
  wolfSSL_sk_GENERAL_NAME_pop_free(names, wolfSSL_GENERAL_NAME_free);
  return out;
}

std::string IpText(const std::string& raw) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (raw.size() == 4) ::inet_ntop(AF_INET, raw.data(), text, sizeof text);
  if (raw.size() == 16) ::inet_ntop(AF_INET6, raw.data(), text, sizeof text);
  return text;
}

// The 4-byte form of an IPv4 address (also of an IPv4-mapped IPv6 one), else the bytes as given:
// Go's net.IP.Equal treats both forms as one address.
std::string CanonicalIp(absl::string_view raw) {
  static constexpr char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\xff', '\xff'};
  if (raw.size() == 16 && std::memcmp(raw.data(), kMapped, 12) == 0)
    return std::string(raw.substr(12));
  return std::string(raw);
}

// Go's crypto/x509 matchHostnames: case-insensitive, a trailing dot ignored, and a wildcard only
// as the whole leftmost label of the pattern, matching exactly one label.
bool MatchHostname(absl::string_view pattern, absl::string_view host) {
  pattern = absl::StripSuffix(pattern, ".");
  host = absl::StripSuffix(host, ".");
  if (pattern.empty() || host.empty()) return false;
  std::vector<absl::string_view> p = absl::StrSplit(pattern, '.');
  std::vector<absl::string_view> h = absl::StrSplit(host, '.');
  if (p.size() != h.size()) return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (i == 0 && p[i] == "*") {
      if (h[i].empty()) return false;
      continue;
    }
    if (!absl::EqualsIgnoreCase(p[i], h[i])) return false;
  }
  return true;
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
  // Until the status line and headers are in (Stream with a head timeout); max: none.
  Clock::time_point head_deadline = Clock::time_point::max();
  std::chrono::milliseconds head_timeout{0};
  std::chrono::milliseconds stream_max{0};  // Stream's max_duration (0: not streaming, or none)
  bool timed_out = false;
  bool idle_timed_out = false;
  bool head_timed_out = false;
  int io_errno = 0;
  int cancel_fd = -1;  // eventfd: readable once Cancel was called
  std::atomic<bool> cancel_requested{false};
  bool cancelled = false;

  // TLS state: one context for the object's life; one connection object per connection.
  WOLFSSL_CTX* ctx = nullptr;
  WOLFSSL* ssl = nullptr;
  WOLFSSL_SESSION* session = nullptr;  // the last session, offered for resumption on reconnect
  std::string verify_name;             // the name the certificate must be valid for (and SNI)
  std::string verify_ip;               // its bytes if it is an IP address (4 for IPv4)
  std::string verify_failure;          // what VerifyCallback found wrong

  Impl() = default;
  ~Impl() {
    Close();
    if (cancel_fd >= 0) ::close(cancel_fd);
    if (session != nullptr) wolfSSL_SESSION_free(session);
    if (ctx != nullptr) wolfSSL_CTX_free(ctx);
  }

  absl::Status Fail(absl::string_view reason) const {
    if (cancelled) return absl::CancelledError(absl::StrCat(target, ": cancelled"));
    return absl::UnavailableError(absl::StrCat(target, ": ", reason));
  }
  absl::Status TimedOut(absl::string_view during) const {
    if (head_timed_out) {
      return Fail(
          absl::StrCat("timed out: no answer within ", head_timeout.count(), " ms ", during));
    }
    if (idle_timed_out) {
      return Fail(absl::StrCat("timed out: nothing received for ", idle.count(), " ms ", during));
    }
    if (stream_max.count() > 0) {
      return Fail(absl::StrCat("timed out: the answer was still going after ", stream_max.count(),
                               " ms ", during));
    }
    return Fail(absl::StrCat("timed out after ", options.timeout.count(), " ms ", during));
  }

  absl::Status SetUpTls();
  absl::Status Connect();
  absl::Status Handshake();
  absl::Status HandshakeError(int err);
  void Close();
  bool IdleConnectionUsable();

  int Wait(int sock, short events, Clock::time_point until);
  int WaitIo(short events);
  long SockSend(const unsigned char* p, size_t n);
  long SockRecv(unsigned char* p, size_t n);
  static int BioSend(WOLFSSL* ssl, char* p, int n, void* ctx);
  static int BioRecv(WOLFSSL* ssl, char* p, int n, void* ctx);
  static int VerifyCallback(int preverify, WOLFSSL_X509_STORE_CTX* store);
  std::string CheckName(WOLFSSL_X509* cert) const;

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

// ECDHE only (forward secrecy), AEAD only, ChaCha20-Poly1305 first: decrypting what the kubelet and
// the API server send is most of the checkpointer's CPU, and wolfSSL as Debian builds it (no
// AES-NI) decrypts ChaCha20-Poly1305 about twice as fast as AES-GCM. Go servers take ChaCha20 when
// it is the client's first choice.
constexpr char kCipherList[] =
    "TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";

}  // namespace

absl::Status HttpGet::Impl::SetUpTls() {
  InitTls();
  const std::string& u = *base_url;
  ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
  if (ctx == nullptr) return absl::InternalError(absl::StrCat(u, ": TLS configuration failed"));
  // TLS 1.3 and 1.2, as Go's clients (client-go) offer by default.
  if (wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS ||
      wolfSSL_CTX_set_cipher_list(ctx, kCipherList) != WOLFSSL_SUCCESS) {
    return absl::InternalError(absl::StrCat(u, ": TLS configuration failed"));
  }
  // X25519 first: its key share costs less than P-256's in wolfSSL (no fixed-point cache).
  int groups[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_SECP384R1};
  wolfSSL_CTX_set_groups(ctx, groups, 3);
  // The name the server's certificate must carry, and SNI: the kubeconfig's tls-server-name if
  // given (client-go sets it as tls.Config.ServerName), else the URL's host.
  verify_name = options.tls_server_name.empty() ? url.host : options.tls_server_name;
  {
    unsigned char ip[16];
    std::string name(absl::StripPrefix(absl::StripSuffix(verify_name, "]"), "["));
    if (inet_pton(AF_INET, name.c_str(), ip) == 1) {
      verify_ip = CanonicalIp(absl::string_view(reinterpret_cast<char*>(ip), 4));
    } else if (inet_pton(AF_INET6, name.c_str(), ip) == 1) {
      verify_ip = CanonicalIp(absl::string_view(reinterpret_cast<char*>(ip), 16));
    } else {
      verify_ip.clear();
    }
    if (!verify_ip.empty()) verify_name = name;
  }
  if (options.verify_tls) {
    int ret;
    if (options.ca_pem.empty()) {
      ret = wolfSSL_CTX_load_verify_locations_ex(ctx, kSystemTrustStore, nullptr,
                                                 WOLFSSL_LOAD_FLAG_IGNORE_ERR);
      if (ret != WOLFSSL_SUCCESS) {
        return absl::InvalidArgumentError(absl::StrCat(u, ": cannot load the system trust store ",
                                                       kSystemTrustStore, ": ", TlsError(ret)));
      }
    } else {
      ret = wolfSSL_CTX_load_verify_buffer(
          ctx, reinterpret_cast<const unsigned char*>(options.ca_pem.data()),
          static_cast<long>(options.ca_pem.size()), WOLFSSL_FILETYPE_PEM);
      if (ret != WOLFSSL_SUCCESS) {
        return absl::InvalidArgumentError(
            absl::StrCat(u, ": cannot parse the CA certificate(s): ", TlsError(ret)));
      }
    }
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, VerifyCallback);
  } else {
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, nullptr);
  }
  if (!options.cert_pem.empty() || !options.key_pem.empty()) {
    if (options.cert_pem.empty() || options.key_pem.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(u, ": a client certificate needs both the certificate and its key"));
    }
    int ret = wolfSSL_CTX_use_certificate_chain_buffer_format(
        ctx, reinterpret_cast<const unsigned char*>(options.cert_pem.data()),
        static_cast<long>(options.cert_pem.size()), WOLFSSL_FILETYPE_PEM);
    if (ret != WOLFSSL_SUCCESS) {
      return absl::InvalidArgumentError(
          absl::StrCat(u, ": cannot parse the client certificate: ", TlsError(ret)));
    }
    ret = wolfSSL_CTX_use_PrivateKey_buffer(
        ctx, reinterpret_cast<const unsigned char*>(options.key_pem.data()),
        static_cast<long>(options.key_pem.size()), WOLFSSL_FILETYPE_PEM);
    if (ret != WOLFSSL_SUCCESS) {
      return absl::InvalidArgumentError(
          absl::StrCat(u, ": cannot parse the client key: ", TlsError(ret)));
    }
    if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS) {
      return absl::InvalidArgumentError(
          absl::StrCat(u, ": the client certificate and key do not match"));
    }
  }
  return absl::OkStatus();
}

// Called by wolfSSL for every certificate of the server's chain, leaf last (depth 0), whether or
// not its own checks passed (WOLFSSL_ALWAYS_VERIFY_CB in Debian's build). Its checks: the chain to
// a trusted CA, signatures, validity dates. Ours, on the leaf: the name, by Go's rules.
int HttpGet::Impl::VerifyCallback(int preverify, WOLFSSL_X509_STORE_CTX* store) {
  Impl* im = static_cast<Impl*>(store->userCtx);
  if (im == nullptr) return preverify;
  int depth = wolfSSL_X509_STORE_CTX_get_error_depth(store);
  WOLFSSL_X509* cert = wolfSSL_X509_STORE_CTX_get_current_cert(store);
  std::string which =
      depth == 0 ? "the server certificate" : absl::StrCat("the certificate at depth ", depth);
  if (!preverify) {
    int err = wolfSSL_X509_STORE_CTX_get_error(store);
    std::string why;
    // wolfSSL reports dates as X509_V_ERR_ERROR_IN_CERT_NOT_{BEFORE,AFTER}_FIELD (13, 14).
    if (err == ASN_AFTER_DATE_E || err == X509_V_ERR_CERT_HAS_EXPIRED ||
        err == X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD) {
      why = absl::StrCat(which, " (", Subject(cert), ") has expired: current time ", Now(),
                         " is after ", CertTime(wolfSSL_X509_get_notAfter(cert)));
    } else if (err == ASN_BEFORE_DATE_E || err == X509_V_ERR_CERT_NOT_YET_VALID ||
               err == X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD) {
      why = absl::StrCat(which, " (", Subject(cert), ") is not yet valid: current time ", Now(),
                         " is before ", CertTime(wolfSSL_X509_get_notBefore(cert)));
    } else if (err == ASN_NO_SIGNER_E || err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
               err == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
               err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
               err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN) {
      why = absl::StrCat(which, " (", Subject(cert),
                         ") is signed by an unknown authority (not by the trusted CA)");
    } else if (err == ASN_SIG_CONFIRM_E || err == X509_V_ERR_CERT_SIGNATURE_FAILURE) {
      why = absl::StrCat(which, " (", Subject(cert), ") has a bad signature");
    } else {
      why = absl::StrCat(which, " (", Subject(cert), "): ", TlsError(err));
    }
    if (im->verify_failure.empty()) im->verify_failure = why;
    return 0;
  }
  if (depth != 0) return 1;
  std::string wrong = im->CheckName(cert);
  if (wrong.empty()) return 1;
  if (im->verify_failure.empty()) im->verify_failure = wrong;
  return 0;
}

// Go's (*x509.Certificate).VerifyHostname: an IP is matched against the iPAddress SANs only, a
// name against the dNSName SANs only, and a certificate without SANs is refused (Go >= 1.15 no
// longer falls back to the Common Name). Empty if the name matches, else why not.
std::string HttpGet::Impl::CheckName(WOLFSSL_X509* cert) const {
  AltNames alt = GetAltNames(cert);
  if (!alt.has_any) {
    return absl::StrCat("the server certificate (", Subject(cert),
                        ") has no subjectAltName: it relies on the legacy Common Name field, which "
                        "Go clients (and so Kubernetes) no longer accept; reissue it with SANs");
  }
  std::vector<std::string> valid;
  for (const auto& d : alt.dns) valid.push_back(absl::StrCat("DNS:", d));
  for (const auto& ip : alt.ips) valid.push_back(absl::StrCat("IP:", IpText(ip)));
  std::string valid_for = valid.empty() ? "no DNS name or IP address" : absl::StrJoin(valid, ", ");
  if (!verify_ip.empty()) {
    for (const auto& ip : alt.ips) {
      if (CanonicalIp(ip) == verify_ip) return "";
    }
    return absl::StrCat("the server certificate has no IP address subjectAltName for ", verify_name,
                        " (it is valid for ", valid_for, ")");
  }
  for (const auto& d : alt.dns) {
    if (MatchHostname(d, verify_name)) return "";
  }
  return absl::StrCat("the server certificate is not valid for host ", verify_name,
                      " (it is valid for ", valid_for, ")");
}

void HttpGet::Impl::Close() {
  if (ssl != nullptr) {
    // The session (TLS 1.3: its ticket, which comes after the handshake) for resumption on the
    // next connection to the same server.
    if (wolfSSL_is_init_finished(ssl)) {
      WOLFSSL_SESSION* s = wolfSSL_get1_session(ssl);
      if (s != nullptr) {
        if (session != nullptr) wolfSSL_SESSION_free(session);
        session = s;
      }
    }
    wolfSSL_free(ssl);
    ssl = nullptr;
  }
  if (fd >= 0) ::close(fd);
  fd = -1;
  requests_on_connection = 0;
  parser.Reset(false, 0);
}

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
  bool by_idle = false, by_head = false;
  if (idle.count() > 0) {
    Clock::time_point idle_until = Clock::now() + idle;
    if (idle_until < until) {
      until = idle_until;
      by_idle = true;
    }
  }
  if (head_deadline < until) {
    until = head_deadline;
    by_idle = false;
    by_head = true;
  }
  int w = Wait(fd, events, until);
  if (w == 0) {
    timed_out = true;
    idle_timed_out = by_idle;
    head_timed_out = by_head;
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

int HttpGet::Impl::BioSend(WOLFSSL*, char* p, int n, void* ctx) {
  Impl* im = static_cast<Impl*>(ctx);
  long r = im->SockSend(reinterpret_cast<const unsigned char*>(p), static_cast<size_t>(n));
  if (r >= 0) return static_cast<int>(r);
  return im->timed_out ? WOLFSSL_CBIO_ERR_TIMEOUT : WOLFSSL_CBIO_ERR_GENERAL;
}

int HttpGet::Impl::BioRecv(WOLFSSL*, char* p, int n, void* ctx) {
  Impl* im = static_cast<Impl*>(ctx);
  long r = im->SockRecv(reinterpret_cast<unsigned char*>(p), static_cast<size_t>(n));
  if (r > 0) return static_cast<int>(r);
  if (r == 0) return WOLFSSL_CBIO_ERR_CONN_CLOSE;
  return im->timed_out ? WOLFSSL_CBIO_ERR_TIMEOUT : WOLFSSL_CBIO_ERR_GENERAL;
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
  Clock::time_point connect_deadline =
      std::min({deadline, head_deadline, Clock::now() + kConnectCap});
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
  verify_failure.clear();
  ssl = wolfSSL_new(ctx);
  if (ssl == nullptr) return Fail("TLS setup failed (out of memory?)");
  wolfSSL_SSLSetIORecv(ssl, BioRecv);
  wolfSSL_SSLSetIOSend(ssl, BioSend);
  wolfSSL_SetIOReadCtx(ssl, this);
  wolfSSL_SetIOWriteCtx(ssl, this);
  wolfSSL_SetCertCbCtx(ssl, this);
  // RFC 6066 forbids SNI for IP literals.
  if (verify_ip.empty()) {
    wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, verify_name.data(),
                   static_cast<unsigned short>(verify_name.size()));
  }
  if (session != nullptr)
    wolfSSL_set_session(ssl, session);  // best effort: a full handshake otherwise
  int ret = wolfSSL_connect(ssl);
  // The fixed-point ECC cache wolfSSL (as Debian builds it) fills during a handshake holds about a
  // megabyte per point; handshakes are rare here, so it is dropped after each, and the heap
  // trimmed.
  wc_ecc_fp_free();
  ::malloc_trim(0);
  if (ret != WOLFSSL_SUCCESS) {
    absl::Status s = HandshakeError(wolfSSL_get_error(ssl, ret));
    Close();
    return s;
  }
  return absl::OkStatus();
}

absl::Status HttpGet::Impl::HandshakeError(int err) {
  if (timed_out) return TimedOut("during the TLS handshake");
  if (!verify_failure.empty()) {
    return Fail(absl::StrCat("TLS certificate verification failed: ", verify_failure));
  }
  WOLFSSL_ALERT_HISTORY h{};
  if (wolfSSL_get_alert_history(ssl, &h) == WOLFSSL_SUCCESS && h.last_rx.level == alert_fatal) {
    int alert = h.last_rx.code;
    if (alert == 70) {
      return Fail(
          "TLS handshake failed: the server refused TLS 1.2 and 1.3 (protocol_version alert)");
    }
    std::string hint;
    if (alert == 40 || alert == 116) {
      hint = options.cert_pem.empty() ? " (does the server require a client certificate?)"
                                      : " (did the server reject the client certificate?)";
    } else if (alert == 42 || alert == 48 || alert == 46) {
      hint = " (the server did not accept the client certificate)";
    }
    return Fail(absl::StrCat("TLS handshake failed: the server sent fatal alert ", alert, " (",
                             AlertName(alert), ")", hint));
  }
  std::string msg = absl::StrCat("TLS handshake failed: ", TlsError(err));
  if (io_errno != 0) {
    absl::StrAppend(&msg, ": ", std::strerror(io_errno));
  } else if (err == SOCKET_PEER_CLOSED_E || err == SOCKET_ERROR_E) {
    absl::StrAppend(&msg, " (the server closed the connection during the handshake)");
  }
  return Fail(msg);
}

absl::Status HttpGet::Impl::Write(absl::string_view data) {
  const char* p = data.data();
  size_t n = data.size();
  while (n > 0) {
    if (url.tls) {
      int chunk = static_cast<int>(std::min<size_t>(n, 1 << 20));
      int r = wolfSSL_write(ssl, p, chunk);
      if (r <= 0) {
        int err = wolfSSL_get_error(ssl, r);
        if (timed_out) return TimedOut("sending the request");
        return Fail(absl::StrCat("sending the request: ", TlsError(err),
                                 io_errno ? absl::StrCat(": ", std::strerror(io_errno)) : ""));
      }
      p += r;
      n -= static_cast<size_t>(r);
    } else {
      long r = SockSend(reinterpret_cast<const unsigned char*>(p), n);
      if (r < 0) {
        if (timed_out) return TimedOut("sending the request");
        return Fail(absl::StrCat("sending the request: ", std::strerror(io_errno)));
      }
      p += r;
      n -= static_cast<size_t>(r);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> HttpGet::Impl::Read(char* p, size_t n) {
  long r;
  if (url.tls) {
    r = wolfSSL_read(ssl, p, static_cast<int>(std::min<size_t>(n, 1 << 20)));
    if (r <= 0) {
      int err = wolfSSL_get_error(ssl, static_cast<int>(r));
      // EOF with or without close_notify: a truncated body is caught by the framing checks.
      if (err == WOLFSSL_ERROR_ZERO_RETURN || err == SOCKET_PEER_CLOSED_E ||
          (err == SOCKET_ERROR_E && io_errno == 0 && !timed_out && !cancelled)) {
        r = 0;
      } else {
        if (timed_out) return TimedOut("waiting for the response");
        return Fail(absl::StrCat("receiving the response: ", TlsError(err),
                                 io_errno ? absl::StrCat(": ", std::strerror(io_errno)) : ""));
      }
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
  timed_out = idle_timed_out = head_timed_out = false;
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
  im.head_deadline = Clock::time_point::max();
  im.stream_max = std::chrono::milliseconds(0);
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
  im.head_timeout = options.head_timeout;
  im.stream_max = options.max_duration;
  im.head_deadline =
      options.head_timeout.count() > 0 ? now + options.head_timeout : Clock::time_point::max();
  // The headers are in: from now on only the idle timeout (and max_duration) bound the answer.
  std::function<absl::Status(long)> on_status = [&im, &handlers](long http_code) {
    im.head_deadline = Clock::time_point::max();
    return handlers.on_status ? handlers.on_status(http_code) : absl::OkStatus();
  };
  long code = 0;
  absl::Status st = im.Run("GET", path_and_query, "", "", 0, on_status, handlers.on_body, &code);
  im.head_deadline = Clock::time_point::max();
  return st;
}

std::string HttpGet::TakeBody() { return std::exchange(impl_->body, std::string()); }

void HttpGet::Cancel() {
  Impl& im = *impl_;
  im.cancel_requested = true;
  uint64_t one = 1;
  ssize_t r = ::write(im.cancel_fd, &one, sizeof one);
  (void)r;
}

}  // namespace lifeboat::node::internal
