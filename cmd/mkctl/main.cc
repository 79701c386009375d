// mkctl: placeholder until src/cli lands.
#include <cstdio>
int main() { std::puts("mkctl"); return 0; }
