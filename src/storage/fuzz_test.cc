// Random-mutation robustness test in the spirit of libFuzzer: every real etcd value from the
// golden set, and its decrypted plaintext, is mutated (bit flips, byte changes, insertions,
// deletions, truncations, duplicated and spliced ranges) and decoded. Decoding must return
// either a value or an error, never crash, hang or produce JSON that cannot be serialized.
// LIFEBOAT_FUZZ_ITERATIONS and LIFEBOAT_FUZZ_SEED override the defaults; build with
// -fsanitize=address,undefined to make the test stricter.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/decode.h"

namespace lifeboat::storage {
namespace {

namespace fs = std::filesystem;

struct Sample {
  std::string key;
  std::string value;
};

std::vector<Sample> LoadSamples(const Transformer* t) {
  std::vector<Sample> out;
  fs::path dir = fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/storage/golden";
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().extension() != ".json") continue;
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    Json j = Json::parse(ss.str());
    Sample s;
    s.key = j["etcdKey"];
    absl::Base64Unescape(j["etcdValue"].get<std::string>(), &s.value);
    out.push_back(s);
    if (t != nullptr) {
      if (auto plain = t->Decrypt(s.key, s.value); plain.ok() && *plain != s.value) {
        out.push_back({s.key, *plain});
      }
    }
  }
  // Values as 1.22 to 1.36 store them (encoded by protoc, testdata/storage/versions/).
  fs::path versions = fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/storage/versions";
  for (const auto& e : fs::recursive_directory_iterator(versions)) {
    if (!e.is_regular_file() || e.path().extension() != ".value") continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    out.push_back({"/registry/versions/" + e.path().parent_path().filename().string() + "/" +
                       e.path().stem().string(),
                   ss.str()});
  }
  std::sort(out.begin(), out.end(), [](const Sample& a, const Sample& b) {
    return a.key != b.key ? a.key < b.key : a.value < b.value;
  });
  return out;
}

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

std::string Mutate(std::string v, const std::vector<Sample>& all, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  int rounds = 1 + static_cast<int>(rng() % 4);
  for (int r = 0; r < rounds; ++r) {
    switch (rng() % 8) {
      case 0:  // flip a bit
        if (!v.empty()) v[pick(v.size())] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:  // set a byte to an interesting value
        if (!v.empty()) {
          static const char kInteresting[] = {0, 1, 0x7f, static_cast<char>(0x80),
                                              static_cast<char>(0xff), 0x0a, 0x12, 0x1a};
          v[pick(v.size())] = kInteresting[rng() % sizeof(kInteresting)];
        }
        break;
      case 2:  // insert random bytes
        v.insert(pick(v.size() + 1), std::string(1 + rng() % 8, static_cast<char>(rng())));
        break;
      case 3:  // delete a range
        if (!v.empty()) {
          size_t at = pick(v.size());
          v.erase(at, 1 + rng() % 16);
        }
        break;
      case 4:  // truncate
        v.resize(pick(v.size() + 1));
        break;
      case 5:  // duplicate a range
        if (!v.empty()) {
          size_t at = pick(v.size());
          v.insert(pick(v.size()), v.substr(at, 1 + rng() % 32));
        }
        break;
      case 6: {  // splice with another sample
        const std::string& o = all[pick(all.size())].value;
        v = v.substr(0, pick(v.size() + 1)) + o.substr(pick(o.size() + 1));
        break;
      }
      case 7:  // a huge varint length
        v.insert(pick(v.size() + 1), std::string("\x12\xff\xff\xff\xff\x0f", 6));
        break;
    }
  }
  return v;
}

TEST(FuzzTest, MutatedGoldenValuesNeverCrash) {
  auto t = Transformer::FromFile(
      (fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/storage/golden/encryption-config.yaml").string());
  ASSERT_TRUE(t.ok()) << t.status();
  std::vector<Sample> samples = LoadSamples(t->get());
  ASSERT_FALSE(samples.empty());
  uint64_t seed = EnvOr("LIFEBOAT_FUZZ_SEED", 20210102);
  uint64_t iterations = EnvOr("LIFEBOAT_FUZZ_ITERATIONS", 30000);
  std::mt19937_64 rng(seed);
  uint64_t ok = 0, failed = 0;
  for (uint64_t i = 0; i < iterations; ++i) {
    const Sample& s = samples[rng() % samples.size()];
    std::string mutated = Mutate(s.value, samples, rng);
    auto got = DecodeValue(s.key, mutated, t->get(), static_cast<int64_t>(i));
    if (got.ok()) {
      ++ok;
      try {
        (void)got->dump();
      } catch (const std::exception& e) {
        FAIL() << "iteration " << i << " (seed " << seed << "): unserializable JSON: " << e.what();
      }
    } else {
      ++failed;
      EXPECT_FALSE(got.status().message().empty());
    }
  }
  // Both outcomes occur: mutations in string contents decode, structural ones are refused.
  EXPECT_GT(ok, 0u);
  EXPECT_GT(failed, 0u);
  std::cout << "fuzz: " << iterations << " mutations (seed " << seed << "): " << ok
            << " decoded, " << failed << " refused\n";
}

// The walker that drops fields it cannot decode (recover's default) under the same mutations:
// it never crashes; where the strict walker accepts a value it returns exactly the same JSON and
// drops nothing; what it drops, the strict walker refuses, naming the same field first.
TEST(FuzzTest, MutatedValuesUnderTheDroppingWalker) {
  auto t = Transformer::FromFile(
      (fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/storage/golden/encryption-config.yaml").string());
  ASSERT_TRUE(t.ok()) << t.status();
  std::vector<Sample> samples = LoadSamples(t->get());
  uint64_t seed = EnvOr("LIFEBOAT_FUZZ_SEED", 20261130);
  uint64_t iterations = EnvOr("LIFEBOAT_FUZZ_ITERATIONS", 30000);
  std::mt19937_64 rng(seed);
  uint64_t same = 0, dropped = 0, refused = 0;
  for (uint64_t i = 0; i < iterations; ++i) {
    const Sample& s = samples[rng() % samples.size()];
    std::string mutated = Mutate(s.value, samples, rng);
    auto lenient = DecodeObject(s.key, mutated, t->get(), std::nullopt, {.strict = false});
    auto strict = DecodeObject(s.key, mutated, t->get(), std::nullopt, {.strict = true});
    std::string where = absl::StrCat("iteration ", i, " (seed ", seed, ")");
    if (strict.ok()) {
      ASSERT_TRUE(lenient.ok()) << where << ": " << lenient.status();
      EXPECT_EQ(lenient->object, strict->object) << where;
      EXPECT_TRUE(lenient->dropped.empty()) << where;
      ++same;
      continue;
    }
    if (!lenient.ok()) {
      ++refused;
      EXPECT_FALSE(lenient.status().message().empty());
      continue;
    }
    (void)lenient->object.dump();
    ASSERT_FALSE(lenient->dropped.empty()) << where << ": strict refused (" << strict.status()
                                           << ") but nothing was dropped";
    ++dropped;
    for (const auto& d : lenient->dropped) {
      EXPECT_GT(d.field.number, 0u) << where;
      EXPECT_FALSE(d.field.path.empty()) << where;
      EXPECT_EQ(d.etcd_key, s.key) << where;
      EXPECT_THAT(d.Message(), ::testing::HasSubstr("the output lacks it")) << where;
    }
    const UnknownField& first = lenient->dropped.front().field;
    if (!first.known_number) {
      EXPECT_THAT(strict.status().message(),
                  ::testing::HasSubstr(absl::StrCat("<field ", first.number, ">")))
          << where;
    }
  }
  EXPECT_GT(same, 0u);
  EXPECT_GT(dropped, 0u);
  EXPECT_GT(refused, 0u);
  std::cout << "fuzz (dropping walker): " << iterations << " mutations (seed " << seed << "): "
            << same << " as strict, " << dropped << " with dropped fields, " << refused
            << " refused\n";
}

TEST(FuzzTest, RandomBytesBehindTheMagic) {
  std::mt19937_64 rng(EnvOr("LIFEBOAT_FUZZ_SEED", 7));
  for (int i = 0; i < 20000; ++i) {
    std::string v(rng() % 64, '\0');
    for (auto& c : v) c = static_cast<char>(rng());
    static const std::string kPrefixes[] = {std::string("k8s\0", 4),
                                            std::string("k8s\0\x0a\x0b\x0a\x02v1\x12\x05Pod\x12", 16),
                                            "{", "k8s:enc:aescbc:v1:", ""};
    v = kPrefixes[rng() % 5] + v;
    auto got = DecodeValue("/registry/pods/ns/p", v, nullptr);
    if (got.ok()) (void)got->dump();
  }
}

}  // namespace
}  // namespace lifeboat::storage
