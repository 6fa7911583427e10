#include "storage/transformer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/status.h"
#include "kube/codec.h"

namespace lifeboat::storage {
namespace {

using kube::Json;
using Provider = Transformer::Provider;

constexpr absl::string_view kEncryptedMarker = "k8s:enc:";

// Group of each built-in resource whose etcd key does not name its group (kube-apiserver 1.20;
// cohabiting resources use their first group: deployments → apps, events → core).
struct BuiltinGroup {
  absl::string_view resource;
  absl::string_view group;
};
constexpr BuiltinGroup kBuiltinGroups[] = {
    {"deployments", "apps"}, {"daemonsets", "apps"}, {"replicasets", "apps"},
    {"statefulsets", "apps"}, {"controllerrevisions", "apps"},
    {"jobs", "batch"}, {"cronjobs", "batch"},
    {"horizontalpodautoscalers", "autoscaling"},
    {"networkpolicies", "networking.k8s.io"}, {"ingressclasses", "networking.k8s.io"},
    {"poddisruptionbudgets", "policy"},
    {"roles", "rbac.authorization.k8s.io"}, {"rolebindings", "rbac.authorization.k8s.io"},
    {"clusterroles", "rbac.authorization.k8s.io"},
    {"clusterrolebindings", "rbac.authorization.k8s.io"},
    {"storageclasses", "storage.k8s.io"}, {"volumeattachments", "storage.k8s.io"},
    {"csinodes", "storage.k8s.io"}, {"csidrivers", "storage.k8s.io"},
    {"csistoragecapacities", "storage.k8s.io"},
    {"priorityclasses", "scheduling.k8s.io"},
    {"leases", "coordination.k8s.io"},
    {"certificatesigningrequests", "certificates.k8s.io"},
    {"validatingwebhookconfigurations", "admissionregistration.k8s.io"},
    {"mutatingwebhookconfigurations", "admissionregistration.k8s.io"},
    {"runtimeclasses", "node.k8s.io"},
    {"endpointslices", "discovery.k8s.io"},
    {"flowschemas", "flowcontrol.apiserver.k8s.io"},
    {"prioritylevelconfigurations", "flowcontrol.apiserver.k8s.io"},
};

const char* KindName(Provider::Kind kind) {
  switch (kind) {
    case Provider::kAesCbc: return "aescbc";
    case Provider::kAesGcm: return "aesgcm";
    case Provider::kSecretbox: return "secretbox";
    case Provider::kIdentity: return "identity";
    case Provider::kKms: return "kms";
  }
  return "?";
}

// A name read from stored bytes, safe to print.
std::string Printable(absl::string_view s) {
  if (s.size() > 64) return absl::StrCat("\"", absl::CHexEscape(s.substr(0, 64)), "...\"");
  return absl::StrCat("\"", absl::CHexEscape(s), "\"");
}

struct CipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};

const EVP_CIPHER* AesCipher(size_t key_size, bool gcm) {
  switch (key_size) {
    case 16: return gcm ? EVP_aes_128_gcm() : EVP_aes_128_cbc();
    case 24: return gcm ? EVP_aes_192_gcm() : EVP_aes_192_cbc();
    case 32: return gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc();
  }
  return nullptr;
}

// Each returns InvalidArgument with a reason that mentions neither key nor plaintext.
absl::StatusOr<std::string> AesCbcDecrypt(const std::string& key, absl::string_view data) {
  constexpr size_t kBlock = 16;
  if (data.size() < kBlock) return absl::InvalidArgumentError("value shorter than the 16-byte IV");
  absl::string_view iv = data.substr(0, kBlock);
  absl::string_view ct = data.substr(kBlock);
  if (ct.empty() || ct.size() % kBlock != 0) {
    return absl::InvalidArgumentError("ciphertext is not a positive multiple of the block size");
  }
  CipherCtx c;
  std::string out(ct.size(), '\0');
  int n1 = 0, n2 = 0;
  if (c.ctx == nullptr ||
      EVP_DecryptInit_ex(c.ctx, AesCipher(key.size(), false), nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()),
                         reinterpret_cast<const unsigned char*>(iv.data())) != 1 ||
      EVP_CIPHER_CTX_set_padding(c.ctx, 0) != 1 ||
      EVP_DecryptUpdate(c.ctx, reinterpret_cast<unsigned char*>(out.data()), &n1,
                        reinterpret_cast<const unsigned char*>(ct.data()),
                        static_cast<int>(ct.size())) != 1 ||
      EVP_DecryptFinal_ex(c.ctx, reinterpret_cast<unsigned char*>(out.data()) + n1, &n2) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    return absl::InvalidArgumentError("AES-CBC decryption failed");
  }
  out.resize(n1 + n2);
  // PKCS#7: the last byte says how many padding bytes, all equal to it, end the plaintext.
  uint8_t pad = static_cast<uint8_t>(out.back());
  bool ok = pad != 0 && pad <= kBlock && pad <= out.size();
  for (size_t i = 0; ok && i < pad; ++i) ok = static_cast<uint8_t>(out[out.size() - 1 - i]) == pad;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    return absl::InvalidArgumentError("invalid PKCS#7 padding (wrong key or corrupted value)");
  }
  out.resize(out.size() - pad);
  return out;
}

absl::StatusOr<std::string> AesGcmDecrypt(const std::string& key, absl::string_view data,
                                          absl::string_view aad) {
  constexpr size_t kNonce = 12, kTag = 16;
  if (data.size() < kNonce + kTag) {
    return absl::InvalidArgumentError("value shorter than nonce and tag");
  }
  absl::string_view nonce = data.substr(0, kNonce);
  absl::string_view ct = data.substr(kNonce, data.size() - kNonce - kTag);
  absl::string_view tag = data.substr(data.size() - kTag);
  CipherCtx c;
  std::string out(ct.size(), '\0');
  int n = 0, fin = 0;
  bool ok = c.ctx != nullptr &&
            EVP_DecryptInit_ex(c.ctx, AesCipher(key.size(), true), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_IVLEN, kNonce, nullptr) == 1 &&
            EVP_DecryptInit_ex(c.ctx, nullptr, nullptr,
                               reinterpret_cast<const unsigned char*>(key.data()),
                               reinterpret_cast<const unsigned char*>(nonce.data())) == 1 &&
            EVP_DecryptUpdate(c.ctx, nullptr, &n, reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) == 1 &&
            EVP_DecryptUpdate(c.ctx, reinterpret_cast<unsigned char*>(out.data()), &n,
                              reinterpret_cast<const unsigned char*>(ct.data()),
                              static_cast<int>(ct.size())) == 1 &&
            EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, kTag,
                                const_cast<char*>(tag.data())) == 1 &&
            EVP_DecryptFinal_ex(c.ctx, reinterpret_cast<unsigned char*>(out.data()) + n, &fin) == 1;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    return absl::InvalidArgumentError(
        "AES-GCM authentication failed (wrong key, corrupted value, or a value copied from "
        "another etcd key)");
  }
  return out;
}

absl::StatusOr<std::string> SecretboxDecrypt(const std::string& key, absl::string_view data) {
  if (data.size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return absl::InvalidArgumentError("value shorter than nonce and tag");
  }
  absl::string_view nonce = data.substr(0, crypto_secretbox_NONCEBYTES);
  absl::string_view box = data.substr(crypto_secretbox_NONCEBYTES);
  std::string out(box.size() - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(out.data()),
                                 reinterpret_cast<const unsigned char*>(box.data()), box.size(),
                                 reinterpret_cast<const unsigned char*>(nonce.data()),
                                 reinterpret_cast<const unsigned char*>(key.data())) != 0) {
    return absl::InvalidArgumentError(
        "secretbox authentication failed (wrong key or corrupted value)");
  }
  return out;
}

absl::Status ParseKeys(const Json& node, absl::string_view where, std::vector<size_t> sizes,
                       std::vector<Transformer::Key>* keys) {
  if (!node.is_object() || !node.contains("keys") || !node["keys"].is_array() ||
      node["keys"].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": needs a non-empty `keys` list"));
  }
  for (size_t i = 0; i < node["keys"].size(); ++i) {
    const Json& k = node["keys"][i];
    std::string at = absl::StrCat(where, ".keys[", i, "]");
    if (!k.is_object() || !k.contains("name") || !k["name"].is_string() ||
        k["name"].get<std::string>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(at, ": needs a `name`"));
    }
    std::string name = k["name"].get<std::string>();
    at = absl::StrCat(at, " (", name, ")");
    if (!k.contains("secret") || !k["secret"].is_string() ||
        k["secret"].get<std::string>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(at, ": needs a `secret`"));
    }
    Transformer::Key key;
    key.name = name;
    if (!absl::Base64Unescape(k["secret"].get<std::string>(), &key.secret)) {
      return absl::InvalidArgumentError(absl::StrCat(at, ": secret is not valid base64"));
    }
    if (std::find(sizes.begin(), sizes.end(), key.secret.size()) == sizes.end()) {
      size_t got = key.secret.size();
      OPENSSL_cleanse(key.secret.data(), key.secret.size());
      return absl::InvalidArgumentError(absl::StrCat(at, ": secret decodes to ", got,
                                                     " bytes, expected one of ",
                                                     absl::StrJoin(sizes, ", ")));
    }
    keys->push_back(std::move(key));
  }
  return absl::OkStatus();
}

absl::StatusOr<Provider> ParseProvider(const Json& node, absl::string_view where) {
  if (!node.is_object() || node.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": a provider has exactly one of aescbc, aesgcm, secretbox, identity, kms"));
  }
  const std::string& type = node.begin().key();
  const Json& body = node.begin().value();
  std::string at = absl::StrCat(where, ".", type);
  Provider p{Provider::kIdentity, {}, {}};
  if (type == "aescbc" || type == "aesgcm") {
    p.kind = type == "aescbc" ? Provider::kAesCbc : Provider::kAesGcm;
    LB_RETURN_IF_ERROR(ParseKeys(body, at, {16, 24, 32}, &p.keys));
  } else if (type == "secretbox") {
    p.kind = Provider::kSecretbox;
    LB_RETURN_IF_ERROR(ParseKeys(body, at, {32}, &p.keys));
  } else if (type == "identity") {
    p.kind = Provider::kIdentity;
  } else if (type == "kms") {
    p.kind = Provider::kKms;
    if (!body.is_object() || !body.contains("name") || !body["name"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(at, ": needs a `name`"));
    }
    p.kms_name = body["name"].get<std::string>();
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": unknown provider `", type, "` (aescbc, aesgcm, secretbox, identity, kms)"));
  }
  return p;
}

bool RuleMatches(absl::string_view pattern, const GroupResource& gr) {
  absl::string_view resource = pattern, group;
  if (size_t dot = pattern.find('.'); dot != absl::string_view::npos) {
    resource = pattern.substr(0, dot);
    group = pattern.substr(dot + 1);
  }
  if (resource == "*") return group == "*" || group == gr.group;
  return resource == gr.resource && group == gr.group;
}

}  // namespace

absl::StatusOr<GroupResource> ResourceForKey(absl::string_view etcd_key,
                                             absl::string_view etcd_prefix) {
  absl::string_view prefix = etcd_prefix;
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  absl::string_view rest = etcd_key;
  if (!absl::ConsumePrefix(&rest, prefix) || (!prefix.empty() && !absl::StartsWith(rest, "/"))) {
    return absl::InvalidArgumentError(absl::StrCat("etcd key ", Printable(etcd_key),
                                                   " is not under the etcd prefix ",
                                                   Printable(etcd_prefix)));
  }
  absl::ConsumePrefix(&rest, "/");
  std::vector<absl::string_view> parts = absl::StrSplit(rest, '/');
  if (parts.size() < 2 || parts[0].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd key ", Printable(etcd_key), " does not name a resource"));
  }
  absl::string_view first = parts[0];
  if (absl::StrContains(first, '.')) return GroupResource{std::string(first), std::string(parts[1])};
  if (first == "minions") return GroupResource{"", "nodes"};
  if (first == "controllers") return GroupResource{"", "replicationcontrollers"};
  if (first == "services") {
    return GroupResource{"", parts[1] == "endpoints" ? "endpoints" : "services"};
  }
  if (first == "ingress") return GroupResource{"networking.k8s.io", "ingresses"};
  if (first == "podsecuritypolicy") return GroupResource{"policy", "podsecuritypolicies"};
  for (const auto& b : kBuiltinGroups) {
    if (first == b.resource) return GroupResource{std::string(b.group), std::string(first)};
  }
  return GroupResource{"", std::string(first)};
}

absl::StatusOr<std::unique_ptr<Transformer>> Transformer::FromConfig(absl::string_view config_text,
                                                                     absl::string_view source,
                                                                     absl::string_view etcd_prefix) {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialise");
  auto fail = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("encryption config ", source, ": ", s.message()));
  };
  auto docs = kube::ParseDocuments(config_text);
  if (!docs.ok()) return fail(docs.status());
  if (docs->size() != 1 || !(*docs)[0].is_object()) {
    return fail(absl::InvalidArgumentError("expected exactly one YAML/JSON object"));
  }
  const Json& doc = (*docs)[0];
  std::string api_version = doc.value("apiVersion", Json("")).is_string()
                                ? doc.value("apiVersion", std::string()) : "";
  std::string kind = doc.value("kind", Json("")).is_string() ? doc.value("kind", std::string()) : "";
  bool current = api_version == "apiserver.config.k8s.io/v1" && kind == "EncryptionConfiguration";
  bool legacy = api_version == "v1" && kind == "EncryptionConfig";
  if (!current && !legacy) {
    return fail(absl::InvalidArgumentError(absl::StrCat(
        "apiVersion/kind ", Printable(api_version), "/", Printable(kind),
        " is not apiserver.config.k8s.io/v1 EncryptionConfiguration (or legacy v1 "
        "EncryptionConfig)")));
  }
  if (!doc.contains("resources") || !doc["resources"].is_array()) {
    return fail(absl::InvalidArgumentError("needs a `resources` list"));
  }
  auto t = std::unique_ptr<Transformer>(new Transformer());
  t->source_ = std::string(source);
  t->etcd_prefix_ = std::string(etcd_prefix);
  for (size_t i = 0; i < doc["resources"].size(); ++i) {
    const Json& entry = doc["resources"][i];
    std::string where = absl::StrCat("resources[", i, "]");
    if (!entry.is_object() || !entry.contains("resources") || !entry["resources"].is_array() ||
        entry["resources"].empty() || !entry.contains("providers") ||
        !entry["providers"].is_array() || entry["providers"].empty()) {
      return fail(absl::InvalidArgumentError(
          absl::StrCat(where, ": needs non-empty `resources` and `providers` lists")));
    }
    Rule rule;
    for (const Json& r : entry["resources"]) {
      if (!r.is_string() || r.get<std::string>().empty()) {
        return fail(absl::InvalidArgumentError(absl::StrCat(where, ".resources: not a string")));
      }
      rule.resources.push_back(r.get<std::string>());
    }
    for (size_t j = 0; j < entry["providers"].size(); ++j) {
      auto p = ParseProvider(entry["providers"][j], absl::StrCat(where, ".providers[", j, "]"));
      if (!p.ok()) return fail(p.status());
      rule.providers.push_back(std::move(*p));
    }
    t->rules_.push_back(std::move(rule));
  }
  return t;
}

absl::StatusOr<std::unique_ptr<Transformer>> Transformer::FromFile(const std::string& path,
                                                                   absl::string_view etcd_prefix) {
  LB_ASSIGN_OR_RETURN(std::string text, base::ReadFile(path));
  auto t = FromConfig(text, path, etcd_prefix);
  OPENSSL_cleanse(text.data(), text.size());
  return t;
}

Transformer::~Transformer() {
  for (auto& rule : rules_) {
    for (auto& p : rule.providers) {
      for (auto& k : p.keys) OPENSSL_cleanse(k.secret.data(), k.secret.size());
    }
  }
}

std::vector<const Provider*> Transformer::ProvidersFor(const GroupResource& resource) const {
  std::vector<const Provider*> out;
  for (const auto& rule : rules_) {
    bool match = std::any_of(rule.resources.begin(), rule.resources.end(),
                             [&](const std::string& r) { return RuleMatches(r, resource); });
    if (!match) continue;
    for (const auto& p : rule.providers) out.push_back(&p);
  }
  return out;
}

absl::StatusOr<std::string> Transformer::Decrypt(absl::string_view etcd_key,
                                                 absl::string_view value) const {
  LB_ASSIGN_OR_RETURN(GroupResource gr, ResourceForKey(etcd_key, etcd_prefix_));
  std::vector<const Provider*> providers = ProvidersFor(gr);
  bool encrypted = absl::StartsWith(value, kEncryptedMarker);
  // What the value says about itself: "aescbc key \"k1\"".
  std::string marker;
  if (encrypted) {
    std::vector<absl::string_view> parts =
        absl::StrSplit(value.substr(kEncryptedMarker.size()), absl::MaxSplits(':', 3));
    marker = parts.size() >= 4
                 ? absl::StrCat("provider ", Printable(absl::StrCat(parts[0], ":", parts[1])),
                                ", key ", Printable(parts[2]))
                 : "an unreadable prefix";
  }
  if (providers.empty()) {
    if (!encrypted) return std::string(value);  // not configured: stored as is
    return absl::FailedPreconditionError(absl::StrCat(
        "value at ", etcd_key, " is encrypted (", marker, ") but ", source_,
        " configures no providers for ", gr.ToString()));
  }
  std::vector<absl::Status> errors;
  for (const Provider* p : providers) {
    if (p->kind == Provider::kIdentity) {
      if (!encrypted) return std::string(value);
      continue;  // identity refuses encrypted data; later providers may match
    }
    // kms: v1 and v2 values alike need the plugin.
    std::string prefix = p->kind == Provider::kKms ? absl::StrCat(kEncryptedMarker, "kms:")
                                                   : absl::StrCat(kEncryptedMarker, KindName(p->kind), ":v1:");
    if (!absl::StartsWith(value, prefix)) continue;
    absl::string_view rest = value.substr(prefix.size());
    if (p->kind == Provider::kKms) {
      errors.push_back(absl::UnimplementedError(absl::StrCat(
          "value at ", etcd_key, " is encrypted by KMS provider ", Printable(p->kms_name),
          ": Lifeboat cannot call a KMS plugin; decrypt with the API server or re-encrypt with "
          "aescbc/aesgcm/secretbox before recovery")));
      continue;
    }
    bool key_found = false;
    for (const auto& key : p->keys) {
      std::string key_prefix = absl::StrCat(key.name, ":");
      if (!absl::StartsWith(rest, key_prefix)) continue;
      key_found = true;
      absl::string_view payload = rest.substr(key_prefix.size());
      absl::StatusOr<std::string> plain =
          p->kind == Provider::kAesCbc   ? AesCbcDecrypt(key.secret, payload)
          : p->kind == Provider::kAesGcm ? AesGcmDecrypt(key.secret, payload, etcd_key)
                                         : SecretboxDecrypt(key.secret, payload);
      if (plain.ok()) return plain;
      errors.push_back(absl::InvalidArgumentError(
          absl::StrCat("value at ", etcd_key, ": ", KindName(p->kind), " key ",
                       Printable(key.name), " from ", source_, ": ", plain.status().message())));
    }
    if (!key_found) {
      errors.push_back(absl::FailedPreconditionError(absl::StrCat(
          "value at ", etcd_key, " is encrypted with ", marker, ", but the ", KindName(p->kind),
          " provider in ", source_, " has no key of that name")));
    }
  }
  if (!errors.empty()) {
    std::vector<std::string> messages;
    for (const auto& e : errors) messages.emplace_back(e.message());
    return absl::Status(errors.front().code(), absl::StrJoin(messages, "; "));
  }
  if (encrypted) {
    return absl::FailedPreconditionError(absl::StrCat(
        "value at ", etcd_key, " is encrypted with ", marker, ", which no provider for ",
        gr.ToString(), " in ", source_, " matches"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "value at ", etcd_key, " is not encrypted, but ", source_, " has no identity provider for ",
      gr.ToString(), " (the API server refuses to read it as well)"));
}

}  // namespace lifeboat::storage
