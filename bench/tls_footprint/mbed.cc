#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <malloc.h>
#include "common.h"
static int Send(void* c, const unsigned char* p, size_t n) { return send(*(int*)c, p, n, MSG_NOSIGNAL); }
static int Recv(void* c, unsigned char* p, size_t n) { return recv(*(int*)c, p, n, 0); }
int main(int argc, char** argv) {
  int port = atoi(argv[1]); std::string ca = ReadFile(argv[2]); int rounds = argc > 3 ? atoi(argv[3]) : 1;
  fprintf(stderr, "before: %s\n", Rss().c_str());
  mbedtls_entropy_context e; mbedtls_ctr_drbg_context d; mbedtls_entropy_init(&e); mbedtls_ctr_drbg_init(&d);
  mbedtls_ctr_drbg_seed(&d, mbedtls_entropy_func, &e, nullptr, 0);
  mbedtls_ssl_config conf; mbedtls_ssl_config_init(&conf);
  mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
  mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &d);
  mbedtls_x509_crt c; mbedtls_x509_crt_init(&c);
  mbedtls_x509_crt_parse(&c, (const unsigned char*)ca.c_str(), ca.size() + 1);
  mbedtls_ssl_conf_ca_chain(&conf, &c, nullptr);
  mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
  fprintf(stderr, "ctx+ca: %s\n", Rss().c_str());
  size_t total = 0;
  for (int r = 0; r < rounds; ++r) {
    mbedtls_ssl_context ssl; mbedtls_ssl_init(&ssl); mbedtls_ssl_setup(&ssl, &conf);
    int fd = Dial(port);
    mbedtls_ssl_set_bio(&ssl, &fd, Send, Recv, nullptr);
    int ret = mbedtls_ssl_handshake(&ssl);
    if (ret != 0) { fprintf(stderr, "hs %x\n", -ret); return 1; }
    const char req[] = "GET /big HTTP/1.0\r\n\r\n";
    mbedtls_ssl_write(&ssl, (const unsigned char*)req, sizeof req - 1);
    unsigned char buf[16384]; int n;
    while ((n = mbedtls_ssl_read(&ssl, buf, sizeof buf)) > 0) total += n;
    if (r == 0) fprintf(stderr, "version %s cipher %s\nafter 1: %s\n", mbedtls_ssl_get_version(&ssl), mbedtls_ssl_get_ciphersuite(&ssl), Rss().c_str());
    mbedtls_ssl_free(&ssl);
    close(fd);
  }
  fprintf(stderr, "after %d rounds (%zu bytes): %s\n", rounds, total, Rss().c_str());
  malloc_trim(0);
  fprintf(stderr, "trim: %s\n", Rss().c_str());
}
