// minik8s: subcommand dispatch only. Placeholder until src/server lands.
#include <cstdio>
int main() { std::puts("minik8s"); return 0; }
