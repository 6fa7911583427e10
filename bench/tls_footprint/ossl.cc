#include <openssl/ssl.h>
#include <openssl/err.h>
#include <malloc.h>
#include "common.h"
int main(int argc, char** argv) {
  int port = atoi(argv[1]); std::string ca = ReadFile(argv[2]); int rounds = argc > 3 ? atoi(argv[3]) : 1;
  fprintf(stderr, "before: %s\n", Rss().c_str());
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  BIO* b = BIO_new_mem_buf(ca.data(), ca.size());
  X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), x);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  fprintf(stderr, "ctx+ca: %s\n", Rss().c_str());
  size_t total = 0;
  for (int r = 0; r < rounds; ++r) {
    SSL* ssl = SSL_new(ctx);
    int fd = Dial(port);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) { ERR_print_errors_fp(stderr); return 1; }
    const char req[] = "GET /big HTTP/1.0\r\n\r\n";
    SSL_write(ssl, req, sizeof req - 1);
    char buf[16384]; int n;
    while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) total += n;
    if (r == 0) fprintf(stderr, "version %s cipher %s\nafter 1: %s\n", SSL_get_version(ssl), SSL_get_cipher(ssl), Rss().c_str());
    SSL_free(ssl);
    close(fd);
  }
  fprintf(stderr, "after %d rounds (%zu bytes): %s\n", rounds, total, Rss().c_str());
  malloc_trim(0);
  fprintf(stderr, "trim: %s\n", Rss().c_str());
}
