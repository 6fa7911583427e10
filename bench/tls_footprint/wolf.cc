#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <malloc.h>
#include "common.h"
int main(int argc, char** argv) {
  int port = atoi(argv[1]); std::string ca = ReadFile(argv[2]); int rounds = argc > 3 ? atoi(argv[3]) : 1;
  fprintf(stderr, "before: %s\n", Rss().c_str());
  wolfSSL_Init();
  WOLFSSL_CTX* ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
  wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2);
  if (wolfSSL_CTX_load_verify_buffer(ctx, (const unsigned char*)ca.data(), ca.size(), WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) { fprintf(stderr, "ca\n"); return 1; }
  wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, nullptr);
  // As node/http_get.cc sets it up: X25519 first, ChaCha20-Poly1305 first.
  int groups[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_SECP384R1};
  wolfSSL_CTX_set_groups(ctx, groups, 3);
  wolfSSL_CTX_set_cipher_list(ctx, "TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
  fprintf(stderr, "ctx+ca: %s\n", Rss().c_str());
  size_t total = 0;
  for (int r = 0; r < rounds; ++r) {
    WOLFSSL* ssl = wolfSSL_new(ctx);
    int fd = Dial(port);
    wolfSSL_set_fd(ssl, fd);
    if (wolfSSL_connect(ssl) != WOLFSSL_SUCCESS) { char b[80]; fprintf(stderr, "connect: %s\n", wolfSSL_ERR_error_string(wolfSSL_get_error(ssl, 0), b)); return 1; }
    if (r == 0) fprintf(stderr, "handshake (before releasing the FP_ECC cache): %s\n", Rss().c_str());
    if (!getenv("KEEP_FP_CACHE")) { wc_ecc_fp_free(); malloc_trim(0); }  // as node/http_get.cc does
    const char req[] = "GET /big HTTP/1.0\r\n\r\n";
    wolfSSL_write(ssl, req, sizeof req - 1);
    char buf[16384]; int n;
    while ((n = wolfSSL_read(ssl, buf, sizeof buf)) > 0) total += n;
    if (r == 0) fprintf(stderr, "version %s cipher %s\n", wolfSSL_get_version(ssl), wolfSSL_get_cipher(ssl));
    if (r == 0) fprintf(stderr, "after 1: %s\n", Rss().c_str());
    wolfSSL_free(ssl);
    close(fd);
  }
  fprintf(stderr, "after %d rounds (%zu bytes): %s\n", rounds, total, Rss().c_str());
  malloc_trim(0);
  fprintf(stderr, "trim: %s\n", Rss().c_str());
}
