#include "node/http_get.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "testing/process.h"
#include "testing/raw_server.h"
#include "testing/servers.h"

namespace lifeboat::node::internal {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using lifeboat::testing::Pki;
using lifeboat::testing::RawServer;
using lifeboat::testing::Running;
using lifeboat::testing::UnusedLoopbackPort;

bool Contains(absl::string_view haystack, absl::string_view needle) {
  return haystack.find(needle) != absl::string_view::npos;
}

// Two CAs, server certificates with various subjectAltNames, a self-signed one and client
// certificates with RSA (PKCS#8 and PKCS#1) and EC (SEC1) keys, made once with the openssl CLI.
constexpr char kPkiScript[] = R"(set -e
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"; }
ca() { ec "$1"; openssl req -x509 -new -key "$1.key" -out "$1.crt" -days 1 -subj "/CN=$1"; }
leaf() {  # name ca extension
  [ -f "$1.key" ] || ec "$1"
  openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr"
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 1 -extfile "$1.ext" -out "$1.crt"
}
ca ca
ca other-ca
leaf ip ca subjectAltName=IP:127.0.0.1
leaf dns ca subjectAltName=DNS:localhost
leaf wrong ca subjectAltName=DNS:example.com,IP:10.9.9.9
leaf other other-ca subjectAltName=IP:127.0.0.1
ec self; openssl req -x509 -new -key self.key -out self.crt -days 1 -subj /CN=self
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out client-rsa.key
leaf client-rsa ca extendedKeyUsage=clientAuth
openssl pkey -in client-rsa.key -traditional -out client-rsa-pkcs1.key
leaf client-ec ca extendedKeyUsage=clientAuth
openssl pkey -in client-ec.key -traditional -out client-ec-sec1.key
grep -q "BEGIN RSA PRIVATE KEY" client-rsa-pkcs1.key
grep -q "BEGIN EC PRIVATE KEY" client-ec-sec1.key
leaf cnonly ca basicConstraints=CA:FALSE
leaf wild ca subjectAltName=DNS:*.example.test
leaf named ca subjectAltName=DNS:api.internal
# Certificates outside their validity period, signed with `openssl ca` (which takes dates).
mkdir db; : > db/index; echo 01 > db/serial
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=db/index\nserial=db/serial\nnew_certs_dir=db\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n' > ca.cnf
dated() {  # name start end
  ec "$1"; openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr"
  printf 'subjectAltName=IP:127.0.0.1\n' > "$1.ext"
  openssl ca -batch -notext -config ca.cnf -cert ca.crt -keyfile ca.key -in "$1.csr" -out "$1.crt" -startdate "$2" -enddate "$3" -extfile "$1.ext"
}
dated expired 20200101000000Z 20200102000000Z
dated future 20900101000000Z 20900102000000Z
)";

std::string Ok(const std::string& body, const std::string& extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra +
         "\r\n" + body;
}


std::unique_ptr<HttpGet> MustCreate(const std::string& url, HttpGetOptions o = {}) {
  auto g = HttpGet::Create(url, std::move(o));
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? std::move(*g) : nullptr;
}

class HttpGetTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new Pki(kPkiScript); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(pki_->ok()) << "openssl could not make the test PKI"; }

  static std::unique_ptr<httplib::SSLServer> Server(const std::string& name,
                                                    const char* client_ca = nullptr) {
    auto s = std::make_unique<httplib::SSLServer>(
        pki_->Path(name + ".crt").c_str(), pki_->Path(name + ".key").c_str(),
        client_ca ? pki_->Path(client_ca).c_str() : nullptr);
    EXPECT_TRUE(s->is_valid());
    s->Get("/hello", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("hi", "text/plain");
    });
    return s;
  }
  static HttpGetOptions Verifying() {
    HttpGetOptions o;
    o.ca_pem = pki_->Read("ca.crt");
    o.timeout = milliseconds(5000);
    return o;
  }

  static Pki* pki_;
};
Pki* HttpGetTlsTest::pki_ = nullptr;

TEST(HttpGetTest, PlainGetSendsHostUserAgentHeadersAndToken) {
  Running<httplib::Server> s(std::make_unique<httplib::Server>());
  httplib::Headers seen;
  s.server().Get("/pods", [&](const httplib::Request& req, httplib::Response& res) {
    seen = req.headers;
    res.set_content("{\"items\":[]}", "application/json");
  });
  HttpGetOptions o;
  o.headers = {"Accept: application/json", "X-Lifeboat: yes"};
  o.token = "s3cr3t-token";
  auto g = MustCreate("http://127.0.0.1:" + std::to_string(s.port()) + "/pods", o);
  long code = 0;
  auto body = g->Fetch(&code);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(code, 200);
  EXPECT_EQ(*body, "{\"items\":[]}");
  auto header = [&](const std::string& name) {
    auto it = seen.find(name);
    return it == seen.end() ? std::string() : it->second;
  };
  EXPECT_EQ(header("Authorization"), "Bearer s3cr3t-token");
  EXPECT_EQ(header("Accept"), "application/json");
  EXPECT_EQ(header("X-Lifeboat"), "yes");
  EXPECT_EQ(header("User-Agent"), "lifeboat-checkpointer");
  EXPECT_EQ(header("Host"), "127.0.0.1:" + std::to_string(s.port()));
}

TEST(HttpGetTest, QueryAndDefaultPathAreSent) {
  std::string heads;
  RawServer raw([&](const std::string& head, int, int) {
    heads += head;
    return RawServer::Reply{Ok("x")};
  });
  long code = 0;
  auto g = MustCreate("http://127.0.0.1:" + std::to_string(raw.port()));
  ASSERT_TRUE(g->Fetch(&code).ok());
  EXPECT_TRUE(Contains(heads, "GET / HTTP/1.1\r\n")) << heads;
  g.reset();  // RawServer serves one connection at a time
  auto q = MustCreate("http://127.0.0.1:" + std::to_string(raw.port()) + "?a=b#frag");
  ASSERT_TRUE(q->Fetch(&code).ok());
  EXPECT_TRUE(Contains(heads, "GET /?a=b HTTP/1.1\r\n")) << heads;
}

TEST(HttpGetTest, NonOkStatusesComeBackWithTheirBody) {
  Running<httplib::Server> s(std::make_unique<httplib::Server>());
  int status = 404;
  s.server().Get("/x", [&](const httplib::Request&, httplib::Response& res) {
    res.status = status;
    res.set_content("nope " + std::to_string(status), "text/plain");
  });
  auto g = MustCreate("http://127.0.0.1:" + std::to_string(s.port()) + "/x");
  for (int want : {404, 403, 500, 401, 200}) {
    status = want;
    long code = 0;
    auto body = g->Fetch(&code);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(code, want);
    EXPECT_EQ(*body, "nope " + std::to_string(want));
  }
}

TEST(HttpGetTest, ChunkedBodyIsReassembledExactly) {
  Running<httplib::Server> s(std::make_unique<httplib::Server>());
  std::string expected;
  for (int i = 0; i < 300; ++i)
    expected += std::string(1 + (i * 37) % 5000, static_cast<char>('a' + i % 26));
  s.server().Get("/chunked", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [&](size_t offset, httplib::DataSink& sink) {
      if (offset >= expected.size()) {
        sink.done();
        return true;
      }
      size_t n = std::min<size_t>(1 + (offset * 7) % 9000, expected.size() - offset);
      sink.write(expected.data() + offset, n);
      return true;
    });
  });
  auto g = MustCreate("http://127.0.0.1:" + std::to_string(s.port()) + "/chunked");
  for (int i = 0; i < 2; ++i) {
    long code = 0;
    auto body = g->Fetch(&code);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(code, 200);
    EXPECT_EQ(body->size(), expected.size());
    EXPECT_TRUE(*body == expected);
  }
}

TEST(HttpGetTest, ChunkExtensionsAndTrailers) {
  RawServer raw([](const std::string&, int, int) {
    return RawServer::Reply{
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;name=value\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: 1\r\n\r\n"};
  });
  auto g = MustCreate(raw.url("/t"));
  long code = 0;
  auto body = g->Fetch(&code);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "hello, world!!!");
  body = g->Fetch(&code);  // the framing left the connection reusable
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(raw.connections(), 1);
}

TEST(HttpGetTest, FiveMebibyteBodyExact) {
  Running<httplib::Server> s(std::make_unique<httplib::Server>());
  std::string big(5 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  s.server().Get("/big", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(big, "application/octet-stream");
  });
  auto g = MustCreate("http://127.0.0.1:" + std::to_string(s.port()) + "/big");
  long code = 0;
  auto body = g->Fetch(&code);
  ASSERT_TRUE(body.ok()) << body.status();
  ASSERT_EQ(body->size(), big.size());
  EXPECT_TRUE(*body == big);
}

TEST(HttpGetTest, KeepAliveReusesOneConnectionAndFetchPathToo) {
  Running<httplib::Server> s(std::make_unique<httplib::Server>());
  std::mutex mu;
  std::set<int> ports;
  std::vector<std::string> paths;
  auto handler = [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    ports.insert(req.remote_port);
    paths.push_back(req.path);
    res.set_content("path " + req.path, "text/plain");
  };
  s.server().Get("/a", handler);
  s.server().Get("/b", handler);
  auto g = MustCreate("http://127.0.0.1:" + std::to_string(s.port()) + "/a");
  long code = 0;
  for (int i = 0; i < 3; ++i) {
    auto body = g->Fetch(&code);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(*body, "path /a");
  }
  auto other = g->FetchPath("/b?x=1", &code);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(*other, "path /b");
  EXPECT_EQ(ports.size(), 1u) << "one TCP connection for every request";
  EXPECT_EQ(paths, (std::vector<std::string>{"/a", "/a", "/a", "/b"}));
  EXPECT_EQ(g->FetchPath("b", &code).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HttpGetTest, ConnectionCountOnRawServer) {
  RawServer raw([](const std::string&, int, int) { return RawServer::Reply{Ok("ok")}; });
  auto g = MustCreate(raw.url("/x"));
  long code = 0;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(g->Fetch(&code).ok());
  EXPECT_EQ(raw.connections(), 1);
}

// `text` gzip'd with zlib (as the API server does for answers over 128 KiB).
std::string Gzip(const std::string& text) {
  z_stream z{};
  deflateInit2(&z, 4, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, text.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST(HttpGetTest, GzipAnswersAreInflatedWhenAskedFor) {
  std::string list = R"({"kind":"PodList","items":[)";
  for (int i = 0; i < 3000; ++i) list += R"({"metadata":{"name":"pod-)" + std::to_string(i) + R"("}},)";
  list += "{}]}";
  std::string gz = Gzip(list);
  ASSERT_LT(gz.size(), list.size() / 4);
  std::mutex mu;
  std::vector<std::string> heads;
  RawServer raw([&](const std::string& head, int, int n) {
    std::lock_guard<std::mutex> lock(mu);
    heads.push_back(head);
    if (head.find("/corrupt") != std::string::npos) {
      std::string bad = gz;
      bad[bad.size() / 2] ^= 0x55;
      return RawServer::Reply{Ok(bad, "Content-Encoding: gzip\r\n")};
    }
    if (head.find("/truncated") != std::string::npos) {
      return RawServer::Reply{Ok(gz.substr(0, gz.size() / 2), "Content-Encoding: gzip\r\n")};
    }
    if (head.find("/bomb") != std::string::npos) {
      return RawServer::Reply{Ok(Gzip(std::string((size_t{64} << 20) + 1, '0')), "Content-Encoding: gzip\r\n")};
    }
    // Gzip'd and plain answers alternate on one connection.
    return RawServer::Reply{n % 2 ? Ok(gz, "Content-Encoding: gzip\r\n") : Ok(list)};
  });
  HttpGetOptions o;
  o.accept_gzip = true;
  auto g = MustCreate(raw.url("/pods"), o);
  long code = 0;
  for (int i = 0; i < 4; ++i) {
    auto body = g->Fetch(&code);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(*body, list) << i;
  }
  EXPECT_EQ(raw.connections(), 1);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_TRUE(Contains(heads[0], "\r\nAccept-Encoding: gzip\r\n")) << heads[0];
  }
  for (const char* path : {"/corrupt", "/truncated", "/bomb"}) {
    auto body = g->FetchPath(path, &code);
    ASSERT_FALSE(body.ok()) << path;
    EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable) << body.status();
    EXPECT_TRUE(Contains(body.status().message(), "gzip") || Contains(body.status().message(), "limit"))
        << body.status();
  }
  // A working answer after the failures.
  auto again = g->Fetch(&code);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, list);
}

TEST(HttpGetTest, RepeatedGzipAnswersComeBackTheSame) {
  // The same gzip'd bytes twice, then other ones, then a plain answer, then the first again.
  const std::vector<std::string> bodies = {"first", "first", "second", "plain", "first", "second"};
  std::atomic<int> n{0};
  RawServer raw([&](const std::string&, int, int) {
    const std::string& b = bodies[n++ % bodies.size()];
    return RawServer::Reply{b == "plain" ? Ok(b) : Ok(Gzip(b), "Content-Encoding: gzip\r\n")};
  });
  HttpGetOptions o;
  o.accept_gzip = true;
  auto g = MustCreate(raw.url("/x"), o);
  long code = 0;
  for (const auto& want : bodies) {
    auto body = g->Fetch(&code);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(*body, want);
  }
}

TEST(HttpGetTest, GzipIsNeitherAskedForNorAcceptedByDefault) {
  std::string head_seen;
  RawServer raw([&](const std::string& head, int, int) {
    head_seen = head;
    return RawServer::Reply{Ok(Gzip("hello"), "Content-Encoding: gzip\r\n")};
  });
  auto g = MustCreate(raw.url("/x"));
  long code = 0;
  auto body = g->Fetch(&code);
  EXPECT_FALSE(Contains(head_seen, "Accept-Encoding")) << head_seen;
  ASSERT_FALSE(body.ok());
  EXPECT_TRUE(Contains(body.status().message(), "Content-Encoding")) << body.status();
}

TEST(HttpGetTest, ServerClosingTheIdleConnectionIsTransparent) {
  // The server closes after each response without saying so: the client finds the connection
  // closed before the next request.
  RawServer raw([](const std::string&, int conn, int) {
    return RawServer::Reply{Ok("c" + std::to_string(conn)), true};
  });
  auto g = MustCreate(raw.url("/x"));
  long code = 0;
  for (int i = 1; i <= 3; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
    auto body = g->Fetch(&code);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(*body, "c" + std::to_string(i));
  }
}

TEST(HttpGetTest, RequestLostOnAReusedConnectionIsRetriedOnce) {
  // The second request on each connection meets a server that closes without answering, as when
  // it times out the idle connection just as the request goes out.
  RawServer raw([](const std::string&, int conn, int n) {
    if (n == 2) return RawServer::Reply{"", true};
    return RawServer::Reply{Ok("c" + std::to_string(conn))};
  });
  auto g = MustCreate(raw.url("/x"));
  long code = 0;
  auto body = g->Fetch(&code);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "c1");
  body = g->Fetch(&code);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "c2");
  EXPECT_EQ(raw.connections(), 2);
}

TEST(HttpGetTest, HttplibIdleTimeoutThenFetchStillWorks) {
  Running<httplib::Server> s(std::make_unique<httplib::Server>());
  s.server().set_keep_alive_timeout(1);
  std::set<int> ports;
  s.server().Get("/x", [&](const httplib::Request& req, httplib::Response& res) {
    ports.insert(req.remote_port);
    res.set_content("ok", "text/plain");
  });
  auto g = MustCreate("http://127.0.0.1:" + std::to_string(s.port()) + "/x");
  long code = 0;
  ASSERT_TRUE(g->Fetch(&code).ok());
  std::this_thread::sleep_for(milliseconds(1300));
  auto body = g->Fetch(&code);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "ok");
  EXPECT_EQ(ports.size(), 2u);
}

TEST(HttpGetTest, ConnectionCloseAndReadToCloseBodies) {
  RawServer raw([](const std::string& head, int, int) {
    if (Contains(head, "GET /eof "))
      return RawServer::Reply{"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
                              true};
    if (Contains(head, "GET /http10 "))
      return RawServer::Reply{"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold", true};
    if (Contains(head, "GET /continue "))
      return RawServer::Reply{"HTTP/1.1 100 Continue\r\n\r\n" + Ok("after 100")};
    return RawServer::Reply{Ok("closing", "Connection: close\r\n"), true};
  });
  auto g = MustCreate(raw.url("/close"));
  long code = 0;
  for (const char* path : {"/close", "/eof", "/http10", "/continue", "/close"}) {
    auto body = g->FetchPath(path, &code);
    ASSERT_TRUE(body.ok()) << path << ": " << body.status();
    EXPECT_EQ(code, 200);
  }
  EXPECT_EQ(*g->FetchPath("/eof", &code), "until the end");
  EXPECT_EQ(*g->FetchPath("/http10", &code), "old");
  EXPECT_EQ(*g->FetchPath("/continue", &code), "after 100");
}

TEST(HttpGetTest, MalformedResponsesAreUnavailable) {
  RawServer raw([](const std::string& head, int, int) {
    if (Contains(head, "GET /garbage "))
      return RawServer::Reply{"SSH-2.0-OpenSSH_9.2\r\n\r\n", true};
    if (Contains(head, "GET /short "))
      return RawServer::Reply{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true};
    if (Contains(head, "GET /badchunk "))
      return RawServer::Reply{
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", true};
    if (Contains(head, "GET /huge "))
      return RawServer::Reply{"HTTP/1.1 200 OK\r\nContent-Length: 70000000\r\n\r\nabc", true};
    if (Contains(head, "GET /hugechunk "))
      return RawServer::Reply{
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\nabc", true};
    if (Contains(head, "GET /badlength "))
      return RawServer::Reply{"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", true};
    if (Contains(head, "GET /headers "))
      return RawServer::Reply{"HTTP/1.1 200 OK\r\n" + std::string(70000, 'x'), true};
    return RawServer::Reply{"", true};  // /nothing
  });
  auto g = MustCreate(raw.url("/"));
  for (const char* path : {"/garbage", "/short", "/badchunk", "/huge", "/hugechunk", "/badlength",
                           "/headers", "/nothing"}) {
    long code = 0;
    auto body = g->FetchPath(path, &code);
    ASSERT_FALSE(body.ok()) << path;
    EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable)
        << path << ": " << body.status();
    EXPECT_TRUE(Contains(body.status().message(), raw.url(path))) << body.status();
  }
  long code = 0;
  EXPECT_TRUE(Contains(g->FetchPath("/huge", &code).status().message(), "64 MiB"));
}

TEST(HttpGetTest, StalledServerTimesOut) {
  // The server stalls until the test is done (at most 60 s), far beyond the check's bound, so
  // only the client's own deadline can end the call in time. Declared before the server: the
  // handler is released before the server stops.
  std::atomic<bool> done{false};
  struct Release {
    std::atomic<bool>& done;
    ~Release() { done = true; }
  };
  Running<httplib::Server> s(std::make_unique<httplib::Server>());
  Release release{done};
  s.server().Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    for (int i = 0; i < 6000 && !done; ++i) std::this_thread::sleep_for(milliseconds(10));
    res.set_content("late", "text/plain");
  });
  const auto timeout = milliseconds(300);
  HttpGetOptions o;
  o.timeout = timeout;
  std::string url = "http://127.0.0.1:" + std::to_string(s.port()) + "/slow";
  auto g = MustCreate(url, o);
  auto start = std::chrono::steady_clock::now();
  long code = 0;
  auto body = g->Fetch(&code);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(body.status().message(), url)) << body.status();
  EXPECT_TRUE(Contains(body.status().message(), "timed out")) << body.status();
  // The deadline is honoured: not cut short (a busy machine only makes a call longer), and the
  // call returns within 10x the deadline.
  EXPECT_GE(took, timeout - milliseconds(20));
  EXPECT_LT(took, 10 * timeout);
}

TEST(HttpGetTest, ConnectionRefusedNamesTheUrl) {
  std::string url = "http://127.0.0.1:" + std::to_string(UnusedLoopbackPort()) + "/pods";
  auto g = MustCreate(url);
  long code = 0;
  auto body = g->Fetch(&code);
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(body.status().message(), url)) << body.status();
  EXPECT_TRUE(Contains(body.status().message(), "refused")) << body.status();
}

TEST(HttpGetTest, BadUrlsAreInvalidArguments) {
  for (const char* url :
       {"ftp://x/", "http://", "http:///pods", "https://host:0/", "https://host:99999/",
        "http://host:/", "http://[::1/", "http://[nothex]:80/", "http://::1/", "http://user@host/",
        "http://ho st/", "http://1.2.3/", "http://host/a b", "localhost:8080"}) {
    auto g = HttpGet::Create(url, {});
    ASSERT_FALSE(g.ok()) << url;
    EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_TRUE(Contains(g.status().message(), url)) << g.status();
  }
  HttpGetOptions o;
  o.headers = {"Bad\r\nInjected: 1"};
  EXPECT_EQ(HttpGet::Create("http://localhost/", o).status().code(),
            absl::StatusCode::kInvalidArgument);
  HttpGetOptions t;
  t.token = "abc\r\nX: y";
  auto st = HttpGet::Create("http://localhost/", t).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(Contains(st.message(), "abc")) << "the token never appears in messages";
  for (const char* url : {"http://localhost", "https://example.com:6443/api?x=1",
                          "http://[::1]:10255/pods", "HTTP://10.0.0.1/"}) {
    EXPECT_TRUE(HttpGet::Create(url, {}).ok()) << url;
  }
}

TEST(HttpGetTest, Ipv6Literal) {
  int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool have_v6 = probe >= 0 && ::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (probe >= 0) ::close(probe);
  if (!have_v6) GTEST_SKIP() << "no IPv6 loopback here";
  Running<httplib::Server> s(std::make_unique<httplib::Server>(), "::1");
  std::string host;
  s.server().Get("/v6", [&](const httplib::Request& req, httplib::Response& res) {
    host = req.get_header_value("Host");
    res.set_content("six", "text/plain");
  });
  auto g = MustCreate("http://[::1]:" + std::to_string(s.port()) + "/v6");
  long code = 0;
  auto body = g->Fetch(&code);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "six");
  EXPECT_EQ(host, "[::1]:" + std::to_string(s.port()));
}

TEST_F(HttpGetTlsTest, VerifiesIpSan) {
  Running<httplib::SSLServer> s(Server("ip"));
  std::set<int> ports;
  s.server().Get("/p", [&](const httplib::Request& req, httplib::Response& res) {
    ports.insert(req.remote_port);
    res.set_content("secure", "text/plain");
  });
  auto g = MustCreate("https://127.0.0.1:" + std::to_string(s.port()) + "/hello", Verifying());
  long code = 0;
  auto body = g->Fetch(&code);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "hi");
  for (int i = 0; i < 3; ++i) {
    auto p = g->FetchPath("/p", &code);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(*p, "secure");
  }
  EXPECT_EQ(ports.size(), 1u) << "TLS connection kept alive";
}

TEST_F(HttpGetTlsTest, VerifiesDnsSan) {
  Running<httplib::SSLServer> s(Server("dns"));
  auto g = MustCreate("https://localhost:" + std::to_string(s.port()) + "/hello", Verifying());
  long code = 0;
  auto body = g->Fetch(&code);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "hi");
  // The same certificate presented for an IP address does not match it.
  auto by_ip = MustCreate("https://127.0.0.1:" + std::to_string(s.port()) + "/hello", Verifying());
  auto refused = by_ip->Fetch(&code);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(Contains(refused.status().message(), "127.0.0.1")) << refused.status();
}

TEST_F(HttpGetTlsTest, RejectsCertificateFromAnotherCa) {
  Running<httplib::SSLServer> s(Server("other"));
  std::string url = "https://127.0.0.1:" + std::to_string(s.port()) + "/hello";
  auto g = MustCreate(url, Verifying());
  long code = 0;
  auto body = g->Fetch(&code);
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(body.status().message(), url)) << body.status();
  EXPECT_TRUE(Contains(body.status().message(), "verification failed")) << body.status();
  EXPECT_TRUE(Contains(body.status().message(), "signed by an unknown authority")) << body.status();
}

TEST_F(HttpGetTlsTest, RejectsCertificateWithoutMatchingSan) {
  Running<httplib::SSLServer> s(Server("wrong"));
  long code = 0;
  auto by_ip = MustCreate("https://127.0.0.1:" + std::to_string(s.port()) + "/hello", Verifying());
  auto st = by_ip->Fetch(&code).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(st.message(), "verification failed")) << st;
  EXPECT_TRUE(Contains(st.message(), "no IP address subjectAltName for 127.0.0.1")) << st;
  auto by_name =
      MustCreate("https://localhost:" + std::to_string(s.port()) + "/hello", Verifying());
  st = by_name->Fetch(&code).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(st.message(), "verification failed")) << st;
  EXPECT_TRUE(Contains(st.message(), "not valid for host localhost")) << st;
}

TEST_F(HttpGetTlsTest, CaBundleMayHoldLeafCertificates) {
  // As the kubelet's self-signed kubelet.crt does (its serving certificate, then the CA that signed
  // it): the leaf in the bundle must not make the CA unusable.
  Running<httplib::SSLServer> s(Server("ip"));
  HttpGetOptions o = Verifying();
  o.ca_pem = pki_->Read("dns.crt") + pki_->Read("ca.crt");
  auto g = MustCreate("https://127.0.0.1:" + std::to_string(s.port()) + "/hello", o);
  long code = 0;
  auto body = g->Fetch(&code);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "hi");
}

TEST_F(HttpGetTlsTest, SystemTrustStoreDoesNotTrustTheTestCa) {
  if (!fs::exists("/etc/ssl/certs/ca-certificates.crt")) GTEST_SKIP() << "no system trust store";
  Running<httplib::SSLServer> s(Server("ip"));
  HttpGetOptions o;  // ca_pem empty: the system's bundle
  auto g = MustCreate("https://127.0.0.1:" + std::to_string(s.port()) + "/hello", o);
  long code = 0;
  auto st = g->Fetch(&code).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(st.message(), "verification failed")) << st;
}

TEST_F(HttpGetTlsTest, NoVerificationAcceptsSelfSigned) {
  Running<httplib::SSLServer> s(Server("self"));
  HttpGetOptions o;
  o.verify_tls = false;
  auto g = MustCreate("https://127.0.0.1:" + std::to_string(s.port()) + "/hello", o);
  long code = 0;
  auto body = g->Fetch(&code);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "hi");
  // ...which verification refuses.
  auto strict = MustCreate("https://127.0.0.1:" + std::to_string(s.port()) + "/hello", Verifying());
  EXPECT_EQ(strict->Fetch(&code).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(HttpGetTlsTest, ClientCertificatesOfEveryKeyFormat) {
  Running<httplib::SSLServer> s(Server("ip", "ca.crt"));
  std::string token;
  s.server().Get("/who", [&](const httplib::Request& req, httplib::Response& res) {
    token = req.get_header_value("Authorization");
    res.set_content("you", "text/plain");
  });
  std::string url = "https://127.0.0.1:" + std::to_string(s.port()) + "/who";
  for (auto [cert, key] :
       std::vector<std::pair<std::string, std::string>>{{"client-rsa.crt", "client-rsa.key"},
                                                        {"client-rsa.crt", "client-rsa-pkcs1.key"},
                                                        {"client-ec.crt", "client-ec.key"},
                                                        {"client-ec.crt", "client-ec-sec1.key"}}) {
    HttpGetOptions o = Verifying();
    o.cert_pem = pki_->Read(cert);
    o.key_pem = pki_->Read(key);
    o.token = "tok";
    auto g = MustCreate(url, o);
    ASSERT_NE(g, nullptr) << key;
    long code = 0;
    auto body = g->Fetch(&code);
    ASSERT_TRUE(body.ok()) << key << ": " << body.status();
    EXPECT_EQ(*body, "you");
    EXPECT_EQ(token, "Bearer tok");
  }
  HttpGetOptions none = Verifying();
  none.token = "tok-never-shown";
  auto g = MustCreate(url, none);
  long code = 0;
  auto st = g->Fetch(&code).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_TRUE(Contains(st.message(), url)) << st;
  EXPECT_FALSE(Contains(st.message(), "tok-never-shown"));

  HttpGetOptions mismatched = Verifying();
  mismatched.cert_pem = pki_->Read("client-rsa.crt");
  mismatched.key_pem = pki_->Read("client-ec.key");
  EXPECT_EQ(HttpGet::Create(url, mismatched).status().code(), absl::StatusCode::kInvalidArgument);
  HttpGetOptions garbage = Verifying();
  garbage.ca_pem = "not a certificate";
  EXPECT_EQ(HttpGet::Create(url, garbage).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(HttpGetTlsTest, Tls13OnlyServerIsSpoken) {
  std::string crt = pki_->Path("ip.crt"), key = pki_->Path("ip.key");
  auto server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    return SSL_CTX_use_certificate_chain_file(&ctx, crt.c_str()) == 1 &&
           SSL_CTX_use_PrivateKey_file(&ctx, key.c_str(), SSL_FILETYPE_PEM) == 1 &&
           SSL_CTX_set_min_proto_version(&ctx, TLS1_3_VERSION) == 1;
  });
  ASSERT_TRUE(server->is_valid());
  Running<httplib::SSLServer> s(std::move(server));
  s.server().Get("/hello", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("hi over 1.3", "text/plain");
  });
  auto g = MustCreate("https://127.0.0.1:" + std::to_string(s.port()) + "/hello", Verifying());
  long code = 0;
  for (int i = 0; i < 2; ++i) {  // and again on the kept-alive connection
    auto body = g->Fetch(&code);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(*body, "hi over 1.3");
  }
}

TEST_F(HttpGetTlsTest, Tls12OnlyServerIsSpokenToo) {
  std::string crt = pki_->Path("ip.crt"), key = pki_->Path("ip.key");
  auto server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    return SSL_CTX_use_certificate_chain_file(&ctx, crt.c_str()) == 1 &&
           SSL_CTX_use_PrivateKey_file(&ctx, key.c_str(), SSL_FILETYPE_PEM) == 1 &&
           SSL_CTX_set_max_proto_version(&ctx, TLS1_2_VERSION) == 1;
  });
  ASSERT_TRUE(server->is_valid());
  Running<httplib::SSLServer> s(std::move(server));
  s.server().Get("/hello", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("hi over 1.2", "text/plain");
  });
  auto g = MustCreate("https://127.0.0.1:" + std::to_string(s.port()) + "/hello", Verifying());
  long code = 0;
  auto body = g->Fetch(&code);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "hi over 1.2");
}

TEST_F(HttpGetTlsTest, TooOldServerIsNamed) {
  std::string crt = pki_->Path("ip.crt"), key = pki_->Path("ip.key");
  auto server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    SSL_CTX_set_security_level(&ctx, 0);  // TLS 1.0/1.1 need it in OpenSSL 3
    return SSL_CTX_use_certificate_chain_file(&ctx, crt.c_str()) == 1 &&
           SSL_CTX_use_PrivateKey_file(&ctx, key.c_str(), SSL_FILETYPE_PEM) == 1 &&
           SSL_CTX_set_min_proto_version(&ctx, TLS1_VERSION) == 1 &&
           SSL_CTX_set_max_proto_version(&ctx, TLS1_1_VERSION) == 1;
  });
  ASSERT_TRUE(server->is_valid());
  Running<httplib::SSLServer> s(std::move(server));
  auto g = MustCreate("https://127.0.0.1:" + std::to_string(s.port()) + "/hello", Verifying());
  long code = 0;
  auto st = g->Fetch(&code).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(st.message(), "TLS handshake failed")) << st;
  EXPECT_TRUE(Contains(st.message(), "refused TLS 1.2 and 1.3")) << st;
}

// Go's rules (crypto/x509 VerifyHostname and Verify, as client-go uses them), one case each:
// accepted or refused exactly as a Go client would, with a message that says why.
TEST_F(HttpGetTlsTest, GoRulesForServerCertificates) {
  struct Case {
    std::string cert;
    std::string host;             // in the URL
    std::string tls_server_name;  // the kubeconfig's tls-server-name
    bool accepted;
    std::string says;  // part of the refusal
  };
  const std::vector<Case> cases = {
      // A certificate without SANs is refused even though its CN is the host (Go >= 1.15).
      {"cnonly", "localhost", "", false, "legacy Common Name"},
      {"expired", "127.0.0.1", "", false, "has expired: current time "},
      {"future", "127.0.0.1", "", false, "is not yet valid: current time "},
      {"wrong", "127.0.0.1", "", false, "no IP address subjectAltName for 127.0.0.1 (it is valid for DNS:example.com, IP:10.9.9.9)"},
      {"wrong", "localhost", "", false, "not valid for host localhost (it is valid for DNS:example.com, IP:10.9.9.9)"},
      // An IP SAN does not match a DNS name and a DNS SAN does not match an IP.
      {"ip", "localhost", "", false, "not valid for host localhost"},
      {"dns", "127.0.0.1", "", false, "no IP address subjectAltName for 127.0.0.1"},
      // tls-server-name: the certificate is checked against it, not the URL's host.
      {"named", "127.0.0.1", "api.internal", true, ""},
      {"named", "127.0.0.1", "API.Internal.", true, ""},  // case and a trailing dot do not matter
      {"named", "localhost", "other.internal", false, "not valid for host other.internal"},
      {"ip", "localhost", "127.0.0.1", true, ""},  // an IP as tls-server-name: the IP SANs
      {"dns", "localhost", "127.0.0.1", false, "no IP address subjectAltName for 127.0.0.1"},
      // One wildcard label, leftmost, matching exactly one label.
      {"wild", "127.0.0.1", "a.example.test", true, ""},
      {"wild", "127.0.0.1", "a.b.example.test", false, "not valid for host a.b.example.test"},
      {"wild", "127.0.0.1", "example.test", false, "not valid for host example.test"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.cert + " at " + c.host + " named " + c.tls_server_name);
    Running<httplib::SSLServer> s(Server(c.cert));
    HttpGetOptions o = Verifying();
    o.tls_server_name = c.tls_server_name;
    std::string url = "https://" + c.host + ":" + std::to_string(s.port()) + "/hello";
    auto g = MustCreate(url, o);
    long code = 0;
    auto body = g->Fetch(&code);
    if (c.accepted) {
      ASSERT_TRUE(body.ok()) << body.status();
      EXPECT_EQ(*body, "hi");
      continue;
    }
    ASSERT_FALSE(body.ok());
    EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_TRUE(Contains(body.status().message(), url)) << body.status();
    EXPECT_TRUE(Contains(body.status().message(), "TLS certificate verification failed")) << body.status();
    EXPECT_TRUE(Contains(body.status().message(), c.says)) << body.status();
    // insecure-skip-tls-verify: accepted whatever the certificate says.
    HttpGetOptions insecure;
    insecure.verify_tls = false;
    insecure.tls_server_name = c.tls_server_name;
    auto g2 = MustCreate(url, insecure);  // the answer's view lives as long as its HttpGet
    auto body2 = g2->Fetch(&code);
    ASSERT_TRUE(body2.ok()) << body2.status();
    EXPECT_EQ(*body2, "hi");
  }
}

TEST_F(HttpGetTlsTest, SniIsTheTlsServerNameOrTheHostButNeverAnIp) {
  std::string crt = pki_->Path("named.crt"), key = pki_->Path("named.key");
  static std::mutex mu;
  static std::vector<std::string>* seen = nullptr;
  std::vector<std::string> names;
  seen = &names;
  auto server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    SSL_CTX_set_tlsext_servername_callback(&ctx, +[](SSL* ssl, int*, void*) {
      const char* n = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
      std::lock_guard<std::mutex> lock(mu);
      seen->push_back(n ? n : "(none)");
      return SSL_TLSEXT_ERR_OK;
    });
    return SSL_CTX_use_certificate_chain_file(&ctx, crt.c_str()) == 1 &&
           SSL_CTX_use_PrivateKey_file(&ctx, key.c_str(), SSL_FILETYPE_PEM) == 1;
  });
  ASSERT_TRUE(server->is_valid());
  Running<httplib::SSLServer> s(std::move(server));
  s.server().Get("/hello", [](const httplib::Request&, httplib::Response& res) { res.set_content("hi", "text/plain"); });
  long code = 0;
  HttpGetOptions o = Verifying();
  o.tls_server_name = "api.internal";
  ASSERT_TRUE(MustCreate("https://127.0.0.1:" + std::to_string(s.port()) + "/hello", o)->Fetch(&code).ok());
  HttpGetOptions plain;
  plain.verify_tls = false;
  ASSERT_TRUE(MustCreate("https://localhost:" + std::to_string(s.port()) + "/hello", plain)->Fetch(&code).ok());
  ASSERT_TRUE(MustCreate("https://127.0.0.1:" + std::to_string(s.port()) + "/hello", plain)->Fetch(&code).ok());
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(names, (std::vector<std::string>{"api.internal", "localhost", "(none)"}));
  seen = nullptr;
}

TEST_F(HttpGetTlsTest, StalledHandshakeTimesOut) {
  RawServer silent([](const std::string&, int, int) { return RawServer::Reply{}; });
  HttpGetOptions o = Verifying();
  o.timeout = milliseconds(300);
  auto g = MustCreate("https://127.0.0.1:" + std::to_string(silent.port()) + "/", o);
  auto start = std::chrono::steady_clock::now();
  long code = 0;
  auto st = g->Fetch(&code).status();
  // The server never answers: the call returns within 10x its deadline.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10 * o.timeout);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(st.message(), "timed out")) << st;
  EXPECT_TRUE(Contains(st.message(), "TLS handshake")) << st;
}

TEST_F(HttpGetTlsTest, SessionSurvivesServerClosingIdleConnection) {
  auto server = Server("ip");
  server->set_keep_alive_timeout(1);
  Running<httplib::SSLServer> s(std::move(server));
  auto g = MustCreate("https://127.0.0.1:" + std::to_string(s.port()) + "/hello", Verifying());
  long code = 0;
  ASSERT_TRUE(g->Fetch(&code).ok());
  std::this_thread::sleep_for(milliseconds(1300));
  auto body = g->Fetch(&code);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "hi");
}

}  // namespace
}  // namespace lifeboat::node::internal

namespace lifeboat::node::internal {
namespace {

// A watch's answer: headers and chunked events, with the connection left open after them.
std::string WatchHead() {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
}
std::string WatchChunk(const std::string& event) {
  std::ostringstream size;
  size << std::hex << event.size();
  return size.str() + "\r\n" + event + "\r\n";
}

TEST(HttpGetStreamTest, EventsArriveBeforeTheAnswerEndsAndCancelEndsIt) {
  const std::string e1 = "{\"type\":\"ADDED\",\"object\":{}}\n", e2 = "{\"type\":\"DELETED\",\"object\":{}}\n";
  RawServer raw([&](const std::string&, int, int) {
    return RawServer::Reply{WatchHead() + WatchChunk(e1) + WatchChunk(e2)};  // and then nothing
  });
  auto g = MustCreate(raw.url("/"));
  std::mutex mu;
  std::string seen;
  long status = 0;
  HttpGet::StreamHandlers h;
  h.on_status = [&](long code) {
    status = code;
    return absl::OkStatus();
  };
  h.on_body = [&](absl::string_view piece) {
    std::lock_guard<std::mutex> lock(mu);
    seen.append(piece.data(), piece.size());
    return absl::OkStatus();
  };
  HttpGet::StreamOptions so;
  so.idle_timeout = milliseconds(60000);  // far longer than the test: only Cancel ends it
  absl::Status result;
  std::thread t([&] { result = g->Stream("/api/v1/pods?watch=1", so, h); });
  for (int i = 0; i < 2000; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (seen == e1 + e2) break;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(seen, e1 + e2);
  }
  g->Cancel();
  t.join();
  EXPECT_EQ(status, 200);
  EXPECT_EQ(result.code(), absl::StatusCode::kCancelled) << result;
  EXPECT_TRUE(Contains(result.message(), raw.url("/api/v1/pods?watch=1"))) << result;
  // Cancel is for good: the next request fails at once.
  long code = 0;
  EXPECT_EQ(g->Fetch(&code).status().code(), absl::StatusCode::kCancelled);
}

TEST(HttpGetStreamTest, IdleTimeoutEndsAStalledStream) {
  RawServer raw([&](const std::string&, int, int) {
    return RawServer::Reply{WatchHead() + WatchChunk("{}\n")};
  });
  auto g = MustCreate(raw.url("/"));
  std::string seen;
  HttpGet::StreamHandlers h;
  h.on_body = [&](absl::string_view piece) {
    seen.append(piece.data(), piece.size());
    return absl::OkStatus();
  };
  HttpGet::StreamOptions so;
  so.idle_timeout = milliseconds(300);
  absl::Status st = g->Stream("/w", so, h);
  EXPECT_EQ(seen, "{}\n");
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_TRUE(Contains(st.message(), "nothing received for 300 ms")) << st;
}

TEST(HttpGetStreamTest, CleanEndKeepsTheConnectionAndHandlersCanStopIt) {
  RawServer raw([&](const std::string& head, int, int) {
    if (Contains(head, "GET /gone "))
      return RawServer::Reply{"HTTP/1.1 410 Gone\r\nContent-Length: 15\r\n\r\n{\"code\":410}xyz"};
    if (Contains(head, "GET /stop "))
      return RawServer::Reply{WatchHead() + WatchChunk("a\n") + WatchChunk("b\n")};
    return RawServer::Reply{WatchHead() + WatchChunk("one\n") + WatchChunk("two\n") + "0\r\n\r\n"};
  });
  auto g = MustCreate(raw.url("/"));
  std::string seen;
  long status = 0;
  HttpGet::StreamHandlers h;
  h.on_status = [&](long code) {
    status = code;
    return code == 200 ? absl::OkStatus() : absl::OutOfRangeError("gone");
  };
  h.on_body = [&](absl::string_view piece) {
    seen.append(piece.data(), piece.size());
    return absl::OkStatus();
  };
  ASSERT_TRUE(g->Stream("/w", {}, h).ok());
  EXPECT_EQ(seen, "one\ntwo\n");
  ASSERT_TRUE(g->Stream("/w", {}, h).ok());
  EXPECT_EQ(raw.connections(), 1) << "a cleanly ended stream leaves the connection reusable";
  // on_status refusing the answer: its error, before any of the body.
  seen.clear();
  absl::Status st = g->Stream("/gone", {}, h);
  EXPECT_EQ(status, 410);
  EXPECT_EQ(st.code(), absl::StatusCode::kOutOfRange) << st;
  EXPECT_EQ(seen, "");
  // on_body stopping the stream mid-way.
  int pieces = 0;
  h.on_body = [&](absl::string_view) {
    return ++pieces == 1 ? absl::OkStatus() : absl::AbortedError("seen enough");
  };
  st = g->Stream("/stop", {}, h);
  EXPECT_EQ(st.code(), absl::StatusCode::kAborted) << st;
  // And a plain request afterwards, on a fresh connection.
  long code = 0;
  auto body = g->FetchPath("/gone", &code);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(code, 410);
}

TEST(HttpGetTest, SendPostsABody) {
  Running<httplib::Server> s(std::make_unique<httplib::Server>());
  std::string got, type;
  s.server().Post("/api/v1/namespaces/ns/serviceaccounts/sa/token", [&](const httplib::Request& req, httplib::Response& res) {
    got = req.body;
    type = req.get_header_value("Content-Type");
    res.status = 201;
    res.set_content("{\"status\":{\"token\":\"t\"}}", "application/json");
  });
  auto g = MustCreate("http://127.0.0.1:" + std::to_string(s.port()) + "/");
  long code = 0;
  auto body = g->Send("POST", "/api/v1/namespaces/ns/serviceaccounts/sa/token", "{\"spec\":{}}",
                      "application/json", &code);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(code, 201);
  EXPECT_EQ(*body, "{\"status\":{\"token\":\"t\"}}");
  EXPECT_EQ(got, "{\"spec\":{}}");
  EXPECT_EQ(type, "application/json");
  EXPECT_EQ(g->Send("BAD METHOD", "/", "", "", &code).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace lifeboat::node::internal
