// mkctl: the kubectl-like command line client (see docs/mkctl.md).
#include "minik8s/cli/mkctl.h"

int main(int argc, char** argv) { return minik8s::cli::run_mkctl(argc, argv); }
