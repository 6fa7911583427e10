#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <string>
#include <fstream>
#include <sstream>
static std::string Rss() {
  std::ifstream in("/proc/self/status");
  std::string line, out;
  while (std::getline(in, line))
    if (line.rfind("VmRSS", 0) == 0 || line.rfind("RssAnon", 0) == 0 || line.rfind("VmHWM", 0) == 0) out += line.substr(0, line.find(':')) + "=" + line.substr(line.find_first_not_of(" \t", line.find(':') + 1)) + " ";
  return out;
}
static int Dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{}; a.sin_family = AF_INET; a.sin_port = htons(port); a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (sockaddr*)&a, sizeof a) != 0) { perror("connect"); exit(1); }
  return fd;
}
static std::string ReadFile(const char* p) { std::ifstream in(p); std::stringstream ss; ss << in.rdbuf(); return ss.str(); }
