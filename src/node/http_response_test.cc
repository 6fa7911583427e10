#include "node/http_response.h"

#include <zlib.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace lifeboat::node::internal {
namespace {

constexpr size_t kLimit = size_t{64} << 20;

std::string Gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = in.size();
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = out.size();
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string Chunked(const std::string& body, size_t piece, const std::string& ext = "") {
  std::string out;
  for (size_t i = 0; i < body.size(); i += piece) {
    std::string c = body.substr(i, piece);
    absl::StrAppend(&out, absl::Hex(c.size()), ext, "\r\n", c, "\r\n");
  }
  return out + "0\r\n\r\n";
}

// The outcome of parsing `response` fed in `pieces` (split points), then EOF if it did not end.
struct Outcome {
  absl::Status status;
  std::string body;
  bool done = false;
  size_t used = 0;  // bytes of the input consumed
  HttpResponseHead head;
};

Outcome Parse(const std::string& response, const std::vector<size_t>& cuts, bool gzip = false,
              size_t max_body = kLimit, bool eof = true) {
  HttpResponseParser p;
  p.Reset(gzip, max_body);
  Outcome o;
  auto sink = [&](absl::string_view s) {
    o.body.append(s.data(), s.size());
    return absl::OkStatus();
  };
  size_t at = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(response.size());
  for (size_t end : ends) {
    if (end < at || end > response.size()) continue;
    auto used = p.Feed(absl::string_view(response).substr(at, end - at), sink);
    if (!used.ok()) {
      o.status = used.status();
      return o;
    }
    o.used += *used;
    if (p.done()) break;
    at = end;
  }
  if (!p.done() && eof) o.status = p.FeedEof();
  o.done = p.done();
  o.head = p.head();
  return o;
}

Outcome ParseWhole(const std::string& response, bool gzip = false) {
  return Parse(response, {}, gzip);
}

TEST(HttpResponseParserTest, ContentLength) {
  auto o = ParseWhole("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello");
  ASSERT_TRUE(o.status.ok()) << o.status;
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.body, "hello");
  EXPECT_EQ(o.head.code, 200);
  EXPECT_FALSE(o.head.close);
  EXPECT_TRUE(o.head.has_length);
}

TEST(HttpResponseParserTest, StopsAtTheEndOfTheResponse) {
  std::string first = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc";
  auto o = ParseWhole(first + "HTTP/1.1 200 OK\r\n");
  ASSERT_TRUE(o.status.ok()) << o.status;
  EXPECT_EQ(o.used, first.size());
  EXPECT_EQ(o.body, "abc");
  EXPECT_EQ(o.head.code, 404);
}

TEST(HttpResponseParserTest, ChunkedWithExtensionsAndTrailers) {
  std::string body(10000, 'q');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
  std::string r =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + Chunked(body, 777, ";name=v");
  r.resize(r.size() - 2);
  r += "X-Trailer: 1\r\nY: 2\r\n\r\n";
  auto o = ParseWhole(r);
  ASSERT_TRUE(o.status.ok()) << o.status;
  EXPECT_TRUE(o.head.chunked);
  EXPECT_EQ(o.body, body);
  EXPECT_EQ(o.used, r.size());
}

TEST(HttpResponseParserTest, InterimResponsesAndBodilessCodes) {
  auto o = ParseWhole(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_TRUE(o.status.ok()) << o.status;
  EXPECT_EQ(o.head.code, 201);
  EXPECT_EQ(o.body, "ok");
  for (int code : {204, 304}) {
    auto n = Parse(absl::StrCat("HTTP/1.1 ", code, " X\r\nContent-Length: 10\r\n\r\n"), {}, false,
                   kLimit, false);
    ASSERT_TRUE(n.status.ok()) << n.status;
    EXPECT_TRUE(n.done) << code;
    EXPECT_EQ(n.body, "");
  }
  HttpResponseParser head;
  head.Reset(false, kLimit, /*no_body=*/true);
  auto used = head.Feed("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", [](absl::string_view) {
    return absl::InternalError("a HEAD answer has no body");
  });
  ASSERT_TRUE(used.ok()) << used.status();
  EXPECT_TRUE(head.done());
}

TEST(HttpResponseParserTest, ConnectionEndDelimitsAndCloses) {
  auto o = ParseWhole("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
  ASSERT_TRUE(o.status.ok()) << o.status;
  EXPECT_EQ(o.body, "until the end");
  EXPECT_TRUE(o.head.close);
  EXPECT_TRUE(ParseWhole("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx").head.close);
  EXPECT_FALSE(ParseWhole("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx")
                   .head.close);
  EXPECT_TRUE(ParseWhole("HTTP/1.1 200 OK\r\nConnection: foo, Close\r\nContent-Length: 1\r\n\r\nx")
                  .head.close);
}

TEST(HttpResponseParserTest, GzipIsInflatedAcrossPieces) {
  std::string body;
  for (int i = 0; i < 5000; ++i) absl::StrAppend(&body, "{\"name\":\"pod-", i, "\"},");
  std::string gz = Gzip(body);
  std::string r =
      "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" +
      Chunked(gz, 1000);
  for (size_t step : {size_t{1}, size_t{7}, size_t{4096}}) {
    std::vector<size_t> cuts;
    for (size_t i = step; i < r.size(); i += step) cuts.push_back(i);
    auto o = Parse(r, cuts, true);
    ASSERT_TRUE(o.status.ok()) << o.status;
    EXPECT_EQ(o.body, body);
  }
  // Not asked for: refused. Corrupt, truncated, trailing garbage and a bomb: errors naming gzip.
  auto refused = ParseWhole(r, false);
  EXPECT_TRUE(absl::StrContains(refused.status.message(), "Content-Encoding")) << refused.status;
  std::string corrupt = gz;
  corrupt[corrupt.size() / 2] ^= 0x55;
  std::string bomb = Gzip(std::string(size_t{3} << 20, '0'));
  for (const std::string& bad : {corrupt, gz.substr(0, gz.size() / 2), gz + "junk"}) {
    auto o = ParseWhole(
        absl::StrCat("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ", bad.size(),
                     "\r\n\r\n", bad),
        true);
    EXPECT_EQ(o.status.code(), absl::StatusCode::kUnavailable) << o.status;
    EXPECT_TRUE(absl::StrContains(o.status.message(), "gzip")) << o.status;
  }
  auto o = Parse(absl::StrCat("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ",
                              bomb.size(), "\r\n\r\n", bomb),
                 {}, true, size_t{2} << 20);
  EXPECT_EQ(o.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(
      absl::StrContains(o.status.message(), "inflated response body exceeds the limit of 2 MiB"))
      << o.status;
  // An empty gzip'd body is an empty body.
  auto empty =
      ParseWhole("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n", true);
  EXPECT_TRUE(empty.status.ok()) << empty.status;
}

TEST(HttpResponseParserTest, AWatchStreamIsDeliveredAsItArrives) {
  // A watch: chunked, one event per chunk, never ending. Each event reaches the sink as soon as
  // its chunk is fed, with no end of response.
  HttpResponseParser p;
  p.Reset(false, 0);
  std::string seen;
  size_t total = 0;
  auto sink = [&](absl::string_view s) {
    seen.append(s.data(), s.size());
    total += s.size();
    return absl::OkStatus();
  };
  ASSERT_TRUE(p.Feed("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: "
                     "chunked\r\n\r\n",
                     sink)
                  .ok());
  EXPECT_TRUE(p.head_done());
  EXPECT_EQ(p.head().code, 200);
  for (int i = 0; i < 1000; ++i) {
    std::string event = absl::StrCat("{\"type\":\"MODIFIED\",\"object\":{\"n\":", i, "}}\n");
    std::string chunk = absl::StrCat(absl::Hex(event.size()), "\r\n", event, "\r\n");
    // The chunk in two pieces: the first half's event bytes are delivered already.
    size_t half = chunk.size() / 2;
    ASSERT_TRUE(p.Feed(chunk.substr(0, half), sink).ok());
    ASSERT_TRUE(p.Feed(chunk.substr(half), sink).ok());
    ASSERT_EQ(seen, event) << i;
    seen.clear();
    EXPECT_FALSE(p.done());
  }
  EXPECT_EQ(p.body_bytes(), total);
  // The server ends it cleanly.
  ASSERT_TRUE(p.Feed("0\r\n\r\n", sink).ok());
  EXPECT_TRUE(p.done());
}

TEST(HttpResponseParserTest, SinkErrorsStopTheParse) {
  HttpResponseParser p;
  p.Reset(false, kLimit);
  int calls = 0;
  auto r = p.Feed("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd", [&](absl::string_view) {
    ++calls;
    return absl::AbortedError("enough");
  });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(calls, 1);
}

TEST(HttpResponseParserTest, MalformedAndTruncatedResponses) {
  struct Case {
    std::string response;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"SSH-2.0-OpenSSH_9.2\r\n\r\n", "bad status line"},
      {"HTTP/1.1 20 OK\r\n\r\n", "bad status line"},
      {"HTTP/1.1 2000 OK\r\n\r\n", "bad status line"},
      {"HTTP/2.0 200 OK\r\n\r\n", "bad status line"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "7 bytes missing"},
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 70000000\r\n\r\nabc", "64 MiB"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
       "bad chunk size"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\nabc",
       "bad chunk size"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\nabc", "64 MiB"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", "CRLF"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(5000, '1'),
       "too long"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", "middle of the body"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", "chunked body"},
      {"HTTP/1.1 200 OK\r\n" + std::string(70000, 'x'), "64 KiB"},
      {"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "without a name"},
      {"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\n", "Content-Encoding"},
      {"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", "headers"},
      {"", "without a response"},
  };
  for (const auto& c : cases) {
    auto o = ParseWhole(c.response);
    EXPECT_EQ(o.status.code(), absl::StatusCode::kUnavailable)
        << absl::CEscape(c.response.substr(0, 80));
    EXPECT_TRUE(absl::StrContains(o.status.message(), c.says))
        << absl::CEscape(c.response.substr(0, 80)) << ": " << o.status;
  }
}

// Responses a server might send, used whole, cut everywhere and mutated.
std::vector<std::string> Corpus() {
  std::string body;
  for (int i = 0; i < 300; ++i) absl::StrAppend(&body, "line ", i, "\n");
  std::string gz = Gzip(body);
  return {
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
      absl::StrCat("HTTP/1.1 200 OK\r\nContent-Length: ", body.size(), "\r\n\r\n", body),
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + Chunked(body, 100),
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + Chunked(body, 333, ";x=y"),
      "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" +
          Chunked(gz, 64),
      absl::StrCat("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ", gz.size(),
                   "\r\n\r\n", gz),
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnah",
      "HTTP/1.0 200 OK\r\n\r\nto the end",
      "HTTP/1.1 410 Gone\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
      "HTTP/1.1 204 No Content\r\n\r\n",
  };
}

// The body each corpus entry carries, from an unmutated parse.
TEST(HttpResponseParserTest, TruncationAtEveryOffsetIsAnErrorOrACompleteBody) {
  for (const std::string& r : Corpus()) {
    auto whole = ParseWhole(r, true);
    ASSERT_TRUE(whole.status.ok()) << absl::CEscape(r.substr(0, 60)) << ": " << whole.status;
    for (size_t cut = 0; cut < r.size(); ++cut) {
      auto o = Parse(r.substr(0, cut), {cut / 2}, true);
      if (o.status.ok()) {
        // Only a body delimited by the end of the connection can be complete early, and then its
        // body is a prefix of the whole one; anything else cut short is an error.
        ASSERT_TRUE(whole.head.close && !whole.head.has_length && !whole.head.chunked)
            << absl::CEscape(r.substr(0, 60)) << " cut at " << cut;
        ASSERT_TRUE(absl::StartsWith(whole.body, o.body));
      } else {
        ASSERT_EQ(o.status.code(), absl::StatusCode::kUnavailable) << o.status;
        ASSERT_TRUE(absl::StartsWith(whole.body, o.body))
            << "a truncated body is a prefix of the real one";
      }
    }
  }
}

TEST(HttpResponseParserTest, EverySplitGivesTheSameResult) {
  for (const std::string& r : Corpus()) {
    auto whole = ParseWhole(r, true);
    for (size_t a = 0; a <= r.size(); a += 1 + r.size() / 200) {
      for (size_t b = a; b <= r.size(); b += 1 + r.size() / 20) {
        auto o = Parse(r, {a, b}, true);
        ASSERT_TRUE(o.status.ok()) << o.status;
        ASSERT_EQ(o.body, whole.body) << a << "," << b;
        ASSERT_EQ(o.head.code, whole.head.code);
      }
    }
  }
}

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

std::string Mutate(std::string v, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  static const char* kTokens[] = {"\r\n",
                                  "\r\n\r\n",
                                  ":",
                                  "0",
                                  "ffffffff",
                                  ";",
                                  " ",
                                  "chunked",
                                  "Content-Length: 9\r\n",
                                  "Transfer-Encoding: chunked\r\n",
                                  "Content-Encoding: gzip\r\n",
                                  "HTTP/1.1 100 Continue\r\n\r\n"};
  int edits = 1 + pick(4);
  for (int e = 0; e < edits; ++e) {
    size_t at = pick(v.size() + 1);
    switch (pick(6)) {
      case 0:
        if (!v.empty()) v[pick(v.size())] ^= static_cast<char>(1 << pick(8));
        break;
      case 1:
        if (!v.empty()) v[pick(v.size())] = static_cast<char>(rng());
        break;
      case 2:
        v.insert(at, kTokens[pick(sizeof kTokens / sizeof kTokens[0])]);
        break;
      case 3:
        v.erase(at, pick(16));
        break;
      case 4:
        v.resize(pick(v.size() + 1));
        break;
      default:
        if (!v.empty()) {
          size_t from = pick(v.size()), n = pick(std::min<size_t>(64, v.size() - from) + 1);
          v.insert(at > v.size() ? v.size() : at, v.substr(from, n));
        }
        break;
    }
  }
  return v;
}

TEST(HttpResponseParserTest, FuzzRandomAndMutatedInputsNeverCrash) {
  uint64_t seed = EnvOr("LIFEBOAT_FUZZ_SEED", 20261130);
  uint64_t iterations = EnvOr("LIFEBOAT_FUZZ_ITERATIONS", 30000);
  std::mt19937_64 rng(seed);
  auto corpus = Corpus();
  size_t ok = 0, errors = 0;
  for (uint64_t i = 0; i < iterations; ++i) {
    std::string input;
    if (i % 10 == 0) {
      input.resize(rng() % 300);
      for (char& c : input) c = static_cast<char>(rng());
      if (i % 20 == 0) input = "HTTP/1.1 200 OK\r\n" + input;
    } else {
      input = Mutate(corpus[rng() % corpus.size()], rng);
    }
    std::vector<size_t> cuts;
    for (int c = rng() % 4; c > 0; --c) cuts.push_back(input.empty() ? 0 : rng() % input.size());
    std::sort(cuts.begin(), cuts.end());
    size_t max_body = (i % 3 == 0) ? 0 : size_t{1} << 20;
    auto o = Parse(input, cuts, rng() % 2 == 0, max_body);
    if (o.status.ok()) {
      ++ok;
      ASSERT_TRUE(o.done) << "OK means the response is complete";
      ASSERT_LE(o.used, input.size());
      ASSERT_GE(o.head.code, 200) << absl::CEscape(input.substr(0, 100));
      if (max_body != 0) {
        ASSERT_LE(o.body.size(), max_body);
      }
    } else {
      ++errors;
      ASSERT_EQ(o.status.code(), absl::StatusCode::kUnavailable)
          << "seed " << seed << " iteration " << i << ": " << o.status;
      ASSERT_FALSE(o.status.message().empty());
    }
  }
  // Both outcomes occur: the mutations neither always break nor never break a response.
  EXPECT_GT(ok, iterations / 20);
  EXPECT_GT(errors, iterations / 20);
}

}  // namespace
}  // namespace lifeboat::node::internal
