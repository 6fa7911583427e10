// Test-only: encrypts values the way kube-apiserver's providers do, so tests can build
// encrypted etcd values from any plaintext (and from the golden values' plaintext).
#pragma once

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <string>

#include "absl/strings/string_view.h"

namespace lifeboat::storage::testing {

inline std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n));
  return out;
}

inline const EVP_CIPHER* TestAes(size_t key_size, bool gcm) {
  if (key_size == 16) return gcm ? EVP_aes_128_gcm() : EVP_aes_128_cbc();
  if (key_size == 24) return gcm ? EVP_aes_192_gcm() : EVP_aes_192_cbc();
  return gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc();
}

// "k8s:enc:aescbc:v1:<name>:" + IV + AES-CBC(PKCS#7(plain)).
inline std::string AesCbcEncrypt(absl::string_view name, const std::string& key,
                                 absl::string_view plain) {
  std::string iv = RandomBytes(16);
  std::string out(plain.size() + 32, '\0');
  int n1 = 0, n2 = 0;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, TestAes(key.size(), false), nullptr,
                     reinterpret_cast<const unsigned char*>(key.data()),
                     reinterpret_cast<const unsigned char*>(iv.data()));
  EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &n1,
                    reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + n1, &n2);
  EVP_CIPHER_CTX_free(ctx);
  out.resize(n1 + n2);
  return "k8s:enc:aescbc:v1:" + std::string(name) + ":" + iv + out;
}

// "k8s:enc:aesgcm:v1:<name>:" + nonce + AES-GCM(plain, aad = etcd key) + tag.
inline std::string AesGcmEncrypt(absl::string_view name, const std::string& key,
                                 absl::string_view plain, absl::string_view etcd_key) {
  std::string nonce = RandomBytes(12);
  std::string out(plain.size(), '\0');
  std::string tag(16, '\0');
  int n = 0;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, TestAes(key.size(), true), nullptr,
                     reinterpret_cast<const unsigned char*>(key.data()),
                     reinterpret_cast<const unsigned char*>(nonce.data()));
  EVP_EncryptUpdate(ctx, nullptr, &n, reinterpret_cast<const unsigned char*>(etcd_key.data()),
                    static_cast<int>(etcd_key.size()));
  EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &n,
                    reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(ctx, nullptr, &n);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag.data());
  EVP_CIPHER_CTX_free(ctx);
  return "k8s:enc:aesgcm:v1:" + std::string(name) + ":" + nonce + out + tag;
}

// "k8s:enc:secretbox:v1:<name>:" + nonce + secretbox(plain).
inline std::string SecretboxEncrypt(absl::string_view name, const std::string& key,
                                    absl::string_view plain) {
  if (sodium_init() < 0) return "";
  std::string nonce = RandomBytes(crypto_secretbox_NONCEBYTES);
  std::string out(plain.size() + crypto_secretbox_MACBYTES, '\0');
  crypto_secretbox_easy(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
                        reinterpret_cast<const unsigned char*>(nonce.data()),
                        reinterpret_cast<const unsigned char*>(key.data()));
  return "k8s:enc:secretbox:v1:" + std::string(name) + ":" + nonce + out;
}

}  // namespace lifeboat::storage::testing
