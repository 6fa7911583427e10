// Differential tests of the hand-written CRI codec against the protobuf classes generated from
// proto/cri (linked into this test only): what libprotobuf encodes, cri_wire must decode to the
// same values; what cri_wire encodes, libprotobuf must parse as intended; and malformed bytes
// must give an error, never a crash.
#include "node/cri_wire.h"

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/unknown_field_set.h>

#include <random>
#include <tuple>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "node/cri.h"
#include "node/cri_api.h"

namespace lifeboat::node::cri_wire {

bool operator==(const PodSandbox& a, const PodSandbox& b) {
  return std::tie(a.id, a.name, a.uid, a.ns, a.state, a.label_pod_name, a.label_pod_namespace,
                  a.label_pod_uid) == std::tie(b.id, b.name, b.uid, b.ns, b.state, b.label_pod_name,
                                               b.label_pod_namespace, b.label_pod_uid);
}
bool operator==(const Container& a, const Container& b) {
  return std::tie(a.id, a.pod_sandbox_id, a.name, a.state, a.label_pod_name, a.label_pod_namespace,
                  a.label_container_name) == std::tie(b.id, b.pod_sandbox_id, b.name, b.state,
                                                      b.label_pod_name, b.label_pod_namespace,
                                                      b.label_container_name);
}
void PrintTo(const PodSandbox& s, std::ostream* os) {
  *os << "{" << s.id << " " << s.ns << "/" << s.name << " " << s.uid << " state=" << s.state
      << " labels " << s.label_pod_namespace << "/" << s.label_pod_name << " " << s.label_pod_uid
      << "}";
}
void PrintTo(const Container& c, std::ostream* os) {
  *os << "{" << c.id << " in " << c.pod_sandbox_id << " " << c.name << " state=" << c.state
      << " labels " << c.label_pod_namespace << "/" << c.label_pod_name << " "
      << c.label_container_name << "}";
}

namespace {

using google::protobuf::UnknownFieldSet;

std::string Label(const google::protobuf::Map<std::string, std::string>& m, const char* key) {
  auto it = m.find(key);
  return it == m.end() ? "" : it->second;
}

// What cri_wire should make of messages libprotobuf parsed.
template <typename Resp>
std::vector<PodSandbox> ExpectedSandboxes(const Resp& resp) {
  std::vector<PodSandbox> out;
  for (const auto& item : resp.items()) {
    out.push_back(PodSandbox{
        item.id(), item.metadata().name(), item.metadata().uid(), item.metadata().namespace_(),
        static_cast<int32_t>(item.state()), Label(item.labels(), kPodNameLabel),
        Label(item.labels(), kPodNamespaceLabel), Label(item.labels(), kPodUidLabel)});
  }
  return out;
}

template <typename Resp>
std::vector<Container> ExpectedContainers(const Resp& resp) {
  std::vector<Container> out;
  for (const auto& item : resp.containers()) {
    out.push_back(Container{item.id(), item.pod_sandbox_id(), item.metadata().name(),
                            static_cast<int32_t>(item.state()), Label(item.labels(), kPodNameLabel),
                            Label(item.labels(), kPodNamespaceLabel),
                            Label(item.labels(), kContainerNameLabel)});
  }
  return out;
}

// Random content: ASCII, multi-byte UTF-8 (2, 3 and 4 bytes), and often empty.
class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}

  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(int percent) { return Int(0, 99) < percent; }

  std::string Str(int max_len = 40) {
    static const char* const kPieces[] = {"a", "z",    "0",     "-", ".", "/", "é",
                                          "ß", "日本", "кубер", "😀", " ", "\t"};
    if (Chance(15)) return "";
    std::string s;
    int n = Int(1, max_len);
    for (int i = 0; i < n; ++i) s += kPieces[Int(0, sizeof kPieces / sizeof kPieces[0] - 1)];
    return s;
  }

  // Labels with the kubelet's keys (some of the time) among others, and annotations.
  void Labels(google::protobuf::Map<std::string, std::string>& labels,
              std::initializer_list<const char*> keys) {
    for (const char* k : keys) {
      if (Chance(80)) labels[k] = Str();
    }
    int extra = Int(0, 6);
    for (int i = 0; i < extra; ++i) labels[Str(20)] = Str(60);
    if (Chance(10)) labels[""] = Str();
  }

  // Unknown fields of every wire type, groups nested, with numbers the decoder does not know.
  void Unknown(UnknownFieldSet* u) {
    int n = Int(0, 4);
    for (int i = 0; i < n; ++i) {
      int field = Chance(50) ? Int(10, 40) : Int(1000, 536870911);
      switch (Int(0, 4)) {
        case 0:
          u->AddVarint(field, static_cast<uint64_t>(rng_()) << 32 | rng_());
          break;
        case 1:
          u->AddFixed32(field, rng_());
          break;
        case 2:
          u->AddFixed64(field, rng_());
          break;
        case 3:
          u->AddLengthDelimited(field, Str(100));
          break;
        case 4: {
          UnknownFieldSet* g = u->AddGroup(field);
          g->AddVarint(1, 7);
          g->AddLengthDelimited(2, Str());
          if (Chance(50)) g->AddGroup(3)->AddFixed32(4, 9);
          break;
        }
      }
    }
  }

  template <typename T>
  void Sandbox(typename T::PodSandbox* item) {
    item->set_id(Str(64));
    if (Chance(90)) {
      auto* m = item->mutable_metadata();
      m->set_name(Str());
      m->set_uid(Str());
      m->set_namespace_(Str());
      m->set_attempt(Int(0, 5));
      if (Chance(20)) Unknown(m->GetReflection()->MutableUnknownFields(m));
    }
    int state = Chance(90) ? Int(0, 1) : Int(-3, 100);  // open enums: unknown values too
    item->set_state(static_cast<decltype(item->state())>(state));
    item->set_created_at(Chance(50) ? -static_cast<int64_t>(rng_())
                                    : static_cast<int64_t>(rng_()) << 20);
    Labels(*item->mutable_labels(), {kPodNameLabel, kPodNamespaceLabel, kPodUidLabel});
    Labels(*item->mutable_annotations(), {kPodNameLabel});
    item->set_runtime_handler(Str());
    if (Chance(30)) Unknown(item->GetReflection()->MutableUnknownFields(item));
  }

  template <typename T>
  void Container(typename T::Container* c) {
    c->set_id(Str(64));
    c->set_pod_sandbox_id(Str(64));
    if (Chance(90)) {
      c->mutable_metadata()->set_name(Str());
      c->mutable_metadata()->set_attempt(Int(0, 5));
    }
    if (Chance(70)) {
      c->mutable_image()->set_image(Str());
      (*c->mutable_image()->mutable_annotations())[Str()] = Str();
    }
    c->set_image_ref(Str());
    int state = Chance(90) ? Int(0, 3) : Int(-3, 100);
    c->set_state(static_cast<decltype(c->state())>(state));
    c->set_created_at(static_cast<int64_t>(rng_()));
    Labels(*c->mutable_labels(), {kPodNameLabel, kPodNamespaceLabel, kContainerNameLabel});
    Labels(*c->mutable_annotations(), {kContainerNameLabel});
    if (Chance(30)) Unknown(c->GetReflection()->MutableUnknownFields(c));
  }

  template <typename T>
  typename T::ListPodSandboxResponse Sandboxes(int n) {
    typename T::ListPodSandboxResponse resp;
    for (int i = 0; i < n; ++i) Sandbox<T>(resp.add_items());
    if (Chance(30)) Unknown(resp.GetReflection()->MutableUnknownFields(&resp));
    return resp;
  }

  template <typename T>
  typename T::ListContainersResponse Containers(int n) {
    typename T::ListContainersResponse resp;
    for (int i = 0; i < n; ++i) Container<T>(resp.add_containers());
    if (Chance(30)) Unknown(resp.GetReflection()->MutableUnknownFields(&resp));
    return resp;
  }

  std::mt19937& rng() { return rng_; }

 private:
  std::mt19937 rng_;
};

template <typename T>
class CriWireTest : public ::testing::Test {
 protected:
  // libprotobuf logs every string it rejects for not being UTF-8, and the malformed inputs
  // below make many.
  void SetUp() override {
    old_ = google::protobuf::SetLogHandler(
        [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  }
  void TearDown() override { google::protobuf::SetLogHandler(old_); }

 private:
  google::protobuf::LogHandler* old_ = nullptr;
};
using Apis = ::testing::Types<internal::V1, internal::V1Alpha2>;
TYPED_TEST_SUITE(CriWireTest, Apis);

TYPED_TEST(CriWireTest, RequestsParseAsIntended) {
  using T = TypeParam;
  typename T::VersionRequest v;
  ASSERT_TRUE(v.ParseFromString(EncodeVersionRequest("0.1.0")));
  EXPECT_EQ(v.version(), "0.1.0");
  ASSERT_TRUE(v.ParseFromString(EncodeVersionRequest("")));
  EXPECT_EQ(v.version(), "");

  for (int32_t state : {kSandboxReady, kSandboxNotReady}) {
    std::string bytes = EncodeListPodSandboxRequest(state);
    typename T::ListPodSandboxRequest req;
    ASSERT_TRUE(req.ParseFromString(bytes));
    ASSERT_TRUE(req.has_filter());
    ASSERT_TRUE(req.filter().has_state()) << "READY (0) must still be a filter";
    EXPECT_EQ(req.filter().state().state(), state);
    EXPECT_EQ(req.filter().id(), "");
    EXPECT_TRUE(req.filter().label_selector().empty());
    EXPECT_TRUE(req.GetReflection()->GetUnknownFields(req).empty());
    // Byte for byte what libprotobuf writes for the same request.
    typename T::ListPodSandboxRequest want;
    want.mutable_filter()->mutable_state()->set_state(
        static_cast<decltype(want.filter().state().state())>(state));
    EXPECT_EQ(bytes, want.SerializeAsString());
  }
  for (int32_t state :
       {kContainerCreated, kContainerRunning, kContainerExited, kContainerUnknown}) {
    std::string bytes = EncodeListContainersRequest(state);
    typename T::ListContainersRequest req;
    ASSERT_TRUE(req.ParseFromString(bytes));
    ASSERT_TRUE(req.has_filter());
    ASSERT_TRUE(req.filter().has_state());
    EXPECT_EQ(req.filter().state().state(), state);
    EXPECT_EQ(req.filter().id(), "");
    EXPECT_EQ(req.filter().pod_sandbox_id(), "");
    EXPECT_TRUE(req.filter().label_selector().empty());
    typename T::ListContainersRequest want;
    want.mutable_filter()->mutable_state()->set_state(
        static_cast<decltype(want.filter().state().state())>(state));
    EXPECT_EQ(bytes, want.SerializeAsString());
  }
}

TYPED_TEST(CriWireTest, VersionResponse) {
  using T = TypeParam;
  Gen gen(1);
  for (int i = 0; i < 200; ++i) {
    typename T::VersionResponse resp;
    resp.set_version(gen.Str());
    resp.set_runtime_name(gen.Str());
    resp.set_runtime_version(gen.Str());
    resp.set_runtime_api_version(gen.Str());
    if (gen.Chance(50)) gen.Unknown(resp.GetReflection()->MutableUnknownFields(&resp));
    auto v = DecodeVersionResponse(resp.SerializeAsString());
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->version, resp.version());
    EXPECT_EQ(v->runtime_name, resp.runtime_name());
    EXPECT_EQ(v->runtime_version, resp.runtime_version());
    EXPECT_EQ(v->runtime_api_version, resp.runtime_api_version());
  }
  auto empty = DecodeVersionResponse("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->runtime_name, "");
}

TYPED_TEST(CriWireTest, SandboxesAsLibprotobufSeesThem) {
  using T = TypeParam;
  Gen gen(2);
  for (int round = 0; round < 300; ++round) {
    auto resp = gen.template Sandboxes<T>(gen.Int(0, 12));
    auto got = DecodeListPodSandboxResponse(resp.SerializeAsString());
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, ExpectedSandboxes(resp)) << resp.DebugString();
  }
}

TYPED_TEST(CriWireTest, ContainersAsLibprotobufSeesThem) {
  using T = TypeParam;
  Gen gen(3);
  for (int round = 0; round < 300; ++round) {
    auto resp = gen.template Containers<T>(gen.Int(0, 12));
    auto got = DecodeListContainersResponse(resp.SerializeAsString());
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, ExpectedContainers(resp)) << resp.DebugString();
  }
}

TYPED_TEST(CriWireTest, LargeLists) {
  using T = TypeParam;
  Gen gen(4);
  auto sandboxes = gen.template Sandboxes<T>(5000);
  std::string bytes = sandboxes.SerializeAsString();
  EXPECT_GT(bytes.size(), 1u << 20);
  auto got = DecodeListPodSandboxResponse(bytes);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 5000u);
  EXPECT_EQ(*got, ExpectedSandboxes(sandboxes));

  auto containers = gen.template Containers<T>(8000);
  auto gotc = DecodeListContainersResponse(containers.SerializeAsString());
  ASSERT_TRUE(gotc.ok()) << gotc.status();
  EXPECT_EQ(*gotc, ExpectedContainers(containers));
}

// Protobuf semantics the encoder above does not produce but other encoders (or concatenated
// messages) may: repeated singular fields (last wins), split sub-messages (merged), duplicate
// map keys (last wins), known fields with another wire type (unknown fields).
TYPED_TEST(CriWireTest, MergingAndOddButValidEncodings) {
  using T = TypeParam;
  typename T::ListPodSandboxResponse a;
  auto* item = a.add_items();
  item->set_id("first");
  item->mutable_metadata()->set_name("n");
  (*item->mutable_labels())[kPodNameLabel] = "p1";
  typename T::PodSandbox extra;
  extra.set_id("second");
  extra.mutable_metadata()->set_uid("u");
  (*extra.mutable_labels())[kPodNameLabel] = "p2";
  std::string item_bytes = item->SerializeAsString() + extra.SerializeAsString();
  // A wrong-wire-type field 1 (varint) and field 3 (length-delimited) inside the item.
  item_bytes += std::string("\x08\x05\x1a\x01x", 5);
  std::string bytes;
  bytes.push_back(0x0a);  // items, length-delimited
  bytes.push_back(static_cast<char>(item_bytes.size()));
  ASSERT_LT(item_bytes.size(), 128u);
  bytes += item_bytes;
  bytes += std::string("\x08\x01", 2);  // items as a varint: unknown

  typename T::ListPodSandboxResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  ASSERT_EQ(parsed.items_size(), 1);
  EXPECT_EQ(parsed.items(0).id(), "second");
  auto got = DecodeListPodSandboxResponse(bytes);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, ExpectedSandboxes(parsed));
  EXPECT_EQ((*got)[0].name, "n");
  EXPECT_EQ((*got)[0].uid, "u");
  EXPECT_EQ((*got)[0].label_pod_name, "p2");
}

// Every proper prefix of a message is either a valid message (cut between top-level fields) or
// malformed: the decoder must agree with libprotobuf on which, and on the values.
TYPED_TEST(CriWireTest, TruncatedAtEveryOffset) {
  using T = TypeParam;
  Gen gen(5);
  auto sandboxes = gen.template Sandboxes<T>(4);
  sandboxes.GetReflection()->MutableUnknownFields(&sandboxes)->AddGroup(77)->AddVarint(1, 300);
  std::string bytes = sandboxes.SerializeAsString();
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::string prefix = bytes.substr(0, n);
    typename T::ListPodSandboxResponse parsed;
    bool ok = parsed.ParseFromString(prefix);
    auto got = DecodeListPodSandboxResponse(prefix);
    ASSERT_EQ(got.ok(), ok) << "prefix of " << n << " bytes: " << got.status();
    if (ok) {
      EXPECT_EQ(*got, ExpectedSandboxes(parsed));
    }
  }
  auto containers = gen.template Containers<T>(4);
  bytes = containers.SerializeAsString();
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::string prefix = bytes.substr(0, n);
    typename T::ListContainersResponse parsed;
    bool ok = parsed.ParseFromString(prefix);
    auto got = DecodeListContainersResponse(prefix);
    ASSERT_EQ(got.ok(), ok) << "prefix of " << n << " bytes: " << got.status();
    if (ok) {
      EXPECT_EQ(*got, ExpectedContainers(parsed));
    }
  }
  typename T::VersionResponse v;
  v.set_runtime_name("containerd");
  v.set_runtime_version("1.6.20");
  bytes = v.SerializeAsString();
  for (size_t n = 0; n < bytes.size(); ++n) {
    typename T::VersionResponse parsed;
    EXPECT_EQ(DecodeVersionResponse(bytes.substr(0, n)).ok(),
              parsed.ParseFromString(bytes.substr(0, n)))
        << n;
  }
}

// Random corruption: whenever libprotobuf still accepts the bytes, the decoder must too, with the
// same values (libprotobuf rejects some bytes the decoder takes, e.g. strings that are not
// UTF-8); either way nothing crashes. The one way back: libprotobuf (C++) drops the bits of a tag
// beyond 32 and of a varint beyond 64, where Go's decoder — containerd's, whose rules
// base/varint.h follows — refuses the message; the decoder refuses it too, saying so.
bool GoRefusesWhatLibprotobufTruncates(const absl::Status& s) {
  return absl::StrContains(s.message(), "varint overflows 64 bits") ||
         (absl::StrContains(s.message(), "field number ") &&
          absl::StrContains(s.message(), " out of range"));
}

TYPED_TEST(CriWireTest, CorruptedBytes) {
  using T = TypeParam;
  Gen gen(6);
  int both_ok = 0;
  for (int round = 0; round < 150; ++round) {
    auto sandboxes = gen.template Sandboxes<T>(gen.Int(1, 4));
    auto containers = gen.template Containers<T>(gen.Int(1, 4));
    std::string sb = sandboxes.SerializeAsString(), cb = containers.SerializeAsString();
    for (int m = 0; m < 100; ++m) {
      std::string s = sb, c = cb;
      int flips = gen.Int(1, 3);
      for (int i = 0; i < flips; ++i) {
        s[gen.Int(0, s.size() - 1)] = static_cast<char>(gen.Int(0, 255));
        c[gen.Int(0, c.size() - 1)] = static_cast<char>(gen.Int(0, 255));
      }
      typename T::ListPodSandboxResponse ps;
      auto gs = DecodeListPodSandboxResponse(s);
      if (ps.ParseFromString(s) && (gs.ok() || !GoRefusesWhatLibprotobufTruncates(gs.status()))) {
        ASSERT_TRUE(gs.ok()) << gs.status();
        EXPECT_EQ(*gs, ExpectedSandboxes(ps));
        ++both_ok;
      }
      typename T::ListContainersResponse pc;
      auto gc = DecodeListContainersResponse(c);
      if (pc.ParseFromString(c) && (gc.ok() || !GoRefusesWhatLibprotobufTruncates(gc.status()))) {
        ASSERT_TRUE(gc.ok()) << gc.status();
        EXPECT_EQ(*gc, ExpectedContainers(pc));
        ++both_ok;
      }
    }
  }
  EXPECT_GT(both_ok, 1000) << "the corruption should often keep the message valid";
}

// Varints are read by Go's rules (base/varint.h), as containerd writes and reads them:
// non-minimal encodings of tags and lengths are accepted, and a 10-byte varint whose last byte
// is 0 or 1 is a value.
TEST(CriWireMalformedTest, NonMinimalVarintsAsGoReadsThem) {
  // VersionResponse{version(1) = "v1", runtime_name(2) = "containerd"}, tag 1 in three bytes,
  // its length in two, then an unknown field 9 (varint) in ten bytes ending in 0x01.
  std::string bytes = std::string("\x8a\x80\x00\x82\x00v1", 7) + "\x12\x0a" + "containerd" +
                      "\x48" + std::string(9, '\xff') + "\x01";
  auto v = DecodeVersionResponse(bytes);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->version, "v1");
  EXPECT_EQ(v->runtime_name, "containerd");
  // The same with the unknown varint's last byte at 2: it overflows 64 bits.
  bytes.back() = '\x02';
  v = DecodeVersionResponse(bytes);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("varint overflows 64 bits"), std::string::npos) << v.status();
}

TEST(CriWireMalformedTest, Errors) {
  const std::pair<const char*, std::string> cases[] = {
      {"truncated tag varint", std::string("\x80", 1)},
      {"truncated length", std::string("\x0a\x80", 2)},
      {"length past the end", std::string("\x0a\x05\x0a\x01", 4)},
      {"huge length", std::string("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10)},
      {"length overflowing 64 bits",
       std::string("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11)},
      {"varint over 10 bytes", std::string("\x78\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12)},
      {"10th varint byte over 1", std::string("\x78\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 11)},
      {"wire type 6", std::string("\x0e", 1)},
      {"wire type 7", std::string("\x0f\x00", 2)},
      {"end group at the top", std::string("\x0c", 1)},
      {"group never ended", std::string("\x7b\x08\x01", 3)},
      {"group ended by another", std::string("\x7b\x84\x01", 3)},
      {"field number 0", std::string("\x00\x00", 2)},
      {"field number over 2^29-1", std::string("\x80\x80\x80\x80\x10\x00", 6)},
      {"tag over 10 bytes", std::string("\x88\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00\x00", 12)},
      {"truncated fixed64", std::string("\x79\x01\x02\x03", 4)},
      {"truncated fixed32", std::string("\x7d\x01\x02", 3)},
      {"bad item", std::string("\x0a\x02\x0a\x05", 4)},
      {"bad metadata", std::string("\x0a\x04\x12\x02\x0a\x09", 6)},
      {"bad label entry", std::string("\x0a\x04\x2a\x02\x12\x07", 6)},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    const auto& [what, bytes] = cases[i];
    EXPECT_FALSE(DecodeListPodSandboxResponse(bytes).ok()) << what;
    // The last cases are malformed only as sandbox lists: in a Container fields 2 and 5 are
    // strings, and in a VersionResponse field 1 is.
    if (i < 18) {
      EXPECT_FALSE(DecodeListContainersResponse(bytes).ok()) << what;
    }
    if (i < 17) {
      EXPECT_FALSE(DecodeVersionResponse(bytes).ok()) << what;
    }
  }
  // Deeply nested groups: refused, not a stack overflow.
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "\x7b";
  EXPECT_FALSE(DecodeListPodSandboxResponse(deep).ok());
  EXPECT_FALSE(DecodeListContainersResponse(deep).ok());
  // Nested groups within the limit are skipped.
  std::string nested;
  for (int i = 0; i < 50; ++i) nested += "\x7b";
  for (int i = 0; i < 50; ++i) nested += "\x7c";
  EXPECT_TRUE(DecodeListPodSandboxResponse(nested).ok());
  auto err = DecodeListContainersResponse(std::string("\x0a\x05\x0a\x01", 4));
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(err.status().message().find("ListContainersResponse"), std::string::npos)
      << err.status();
  EXPECT_NE(err.status().message().find("byte 1"), std::string::npos) << err.status();
}

}  // namespace
}  // namespace lifeboat::node::cri_wire
