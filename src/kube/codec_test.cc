#include "kube/codec.h"

#include "gtest/gtest.h"

namespace lifeboat::kube {
namespace {

TEST(CodecTest, ParsesMultiDocumentYamlSkippingEmptyOnes) {
  auto docs = ParseDocuments("---\na: 1\n---\n---\n# only a comment\n---\nb: [x, z]\n");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0], Json::parse(R"({"a":1})"));
  EXPECT_EQ((*docs)[1], Json::parse(R"({"b":["x","z"]})"));
}

TEST(CodecTest, ResolvesScalarsLikeKubernetes) {
  auto docs = ParseDocuments(
      "t: true\nf: false\nn: null\ntilde: ~\ni: 42\nneg: -7\nfl: 1.5\noct: 0o17\n"
      "qt: \"true\"\nqn: '42'\ns: hello\nmode: 0400\nempty:\nver: 1.20.2\nyes: on\nhex: 0x1F\n");
  ASSERT_TRUE(docs.ok()) << docs.status();
  const Json& d = docs->front();
  EXPECT_EQ(d["t"], true);
  EXPECT_EQ(d["f"], false);
  EXPECT_TRUE(d["n"].is_null());
  EXPECT_TRUE(d["tilde"].is_null());
  EXPECT_EQ(d["i"], 42);
  EXPECT_EQ(d["neg"], -7);
  EXPECT_EQ(d["fl"], 1.5);
  EXPECT_EQ(d["oct"], 15);
  EXPECT_EQ(d["qt"], "true");
  EXPECT_EQ(d["qn"], "42");
  EXPECT_EQ(d["s"], "hello");
  EXPECT_EQ(d["mode"], 0400);  // as Kubernetes reads `defaultMode: 0400`: octal
  EXPECT_TRUE(d["empty"].is_null());
  EXPECT_EQ(d["ver"], "1.20.2");
  EXPECT_EQ(d["yes"], true);
  EXPECT_EQ(d["hex"], 31);
}

TEST(CodecTest, JsonIsYaml) {
  auto docs = ParseDocuments(R"({"kind":"Pod","spec":{"containers":[{"name":"a"}]}})");
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(docs->front()["spec"]["containers"][0]["name"], "a");
}

TEST(CodecTest, BadYamlIsInvalidArgumentWithLine) {
  auto docs = ParseDocuments("a: 1\nb: [unclosed\nc: 2\n");
  EXPECT_EQ(docs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(docs.status().message().find("line"), absl::string_view::npos) << docs.status();
}

TEST(CodecTest, BadJsonIsInvalidArgument) {
  EXPECT_EQ(ParseJson("{\"a\": ").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CodecTest, YamlRoundTripKeepsTypes) {
  Json v = Json::parse(R"({
    "s": "plain", "t": "true", "yes": "yes", "num": "0400", "n": 12, "b": false, "nul": null,
    "empty": "", "colon": "a: b", "hash": "x #y", "multi": "line1\nline2\n", "lead": " x",
    "list": [1, "2", {"k": "v", "l": [ ]}, [], {}], "nested": {"deep": {"x": [{"a": 1, "b": [true]}]}},
    "unicode": "h\u00e9llo", "dash": "-x", "star": "*x", "cmd": ["--kubeconfig=/kubeconfig/kubeconfig"],
    "float": 2.5, "neg": -3, "big": 9007199254740993
  })");
  std::string yaml = ToYaml(v);
  auto back = ParseDocuments(yaml);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << yaml;
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ(back->front(), v) << yaml;
}

TEST(CodecTest, YamlOutputIsDeterministicAndReadable) {
  Json v = Json::parse(R"({"b": 1, "a": {"x": ["p", "q"]}})");
  EXPECT_EQ(ToYaml(v), "a:\n  x:\n  - p\n  - q\nb: 1\n");
  EXPECT_EQ(ToYaml(v), ToYaml(Json::parse(v.dump())));
}

TEST(CodecTest, ListOfObjectsRendersUnderDash) {
  Json v = Json::parse(R"({"containers": [{"name": "a", "image": "i"}]})");
  EXPECT_EQ(ToYaml(v), "containers:\n- image: i\n  name: a\n");
}

TEST(CodecTest, QuotesWhatWouldReadBackAsSomethingElse) {
  // Each string alone as a value: plain when it reads back as itself, double-quoted otherwise.
  for (const char* plain : {"hello", "a.b", "/x", "x=y", "a+b", "1.20.2", "_1", "0x", "0b", "0o", "0b2",
                            "1e", "v1", "kube-system"}) {
    Json v = Json::object();
    v["v"] = plain;
    EXPECT_EQ(ToYaml(v), std::string("v: ") + plain + "\n") << plain;
  }
  for (const char* quoted : {"", "1", "-7", "+1", "1_000", "0400", "08", "0o17", "0b101", "0x1F", "1.5", ".5",
                             "1.", "1e5", "1E-5", ".inf", "-.inf", "true", "Yes", "on", "OFF", "y", "N", "null",
                             "~", "a: b", "x #y", " x", "-x", "*x", "h\u00e9llo", "x:y"}) {
    Json v = Json::object();
    v["v"] = quoted;
    EXPECT_EQ(ToYaml(v), "v: " + Json(quoted).dump() + "\n") << quoted;
  }
}

TEST(CodecTest, TenMiBSingleLineValuesRoundTrip) {
  // The writer's and reader's scalar checks are scanners, not std::regex (whose libstdc++
  // matcher recurses per character and overflowed the stack on values like these).
  constexpr size_t kSize = 10 << 20;
  std::string letters(kSize, 'a');
  letters[kSize / 2] = '-';
  letters[kSize - 1] = '/';
  std::string digits(kSize, '1');
  std::string spaced(kSize, 'x');
  for (size_t i = 7; i < kSize; i += 8) spaced[i] = ' ';
  for (const std::string* value : {&letters, &digits, &spaced}) {
    Json v = Json::object();
    v["v"] = *value;
    std::string yaml = ToYaml(v);
    if (value == &letters) {
      EXPECT_EQ(yaml, "v: " + letters + "\n") << "plain: nothing else reads it back differently";
    } else {
      EXPECT_EQ(yaml.compare(0, 4, "v: \""), 0) << "quoted";
    }
    auto back = ParseDocuments(yaml);
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ(back->size(), 1u);
    ASSERT_TRUE(back->front()["v"].is_string());
    EXPECT_TRUE(back->front()["v"].get_ref<const std::string&>() == *value) << "the value read back differs";
  }
  // Read as written by hand: a 10 MiB plain scalar of digits resolves as YAML 1.1 says (a number),
  // a 10 MiB plain word as a string.
  auto docs = ParseDocuments("d: " + digits + "\nw: " + letters + "\n");
  ASSERT_TRUE(docs.ok()) << docs.status();
  EXPECT_TRUE(docs->front()["d"].is_number());
  EXPECT_TRUE(docs->front()["w"].get_ref<const std::string&>() == letters);
}

}  // namespace
}  // namespace lifeboat::kube
