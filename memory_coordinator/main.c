/* memory_coordinator: moves memory between libvirt guests by ballooning. */
#include "ops.h"

int main(int argc, char **argv)
{
    return daemon_main(&memory_coordinator_ops, argc, argv);
}
