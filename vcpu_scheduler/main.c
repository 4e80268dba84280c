/* vcpu_scheduler: keeps pCPU utilisation balanced by repinning vCPUs. */
#include "ops.h"

int main(int argc, char **argv)
{
    return daemon_main(&vcpu_scheduler_ops, argc, argv);
}
