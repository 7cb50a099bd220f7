/*
 * dpdk_lock_holder - a DPDK secondary that takes the shared memory hotplug
 * lock for reading and waits to be killed, the state an eniflowd killed
 * with -9 inside its rte_eal_init leaves behind. vswitch_exit_lock.sh
 * uses it to prove the switch still exits after such a kill.
 *
 *   dpdk_lock_holder FILE_PREFIX
 *
 * Prints "locked" once it holds the lock, then sleeps until killed.
 */
#include <stdio.h>
#include <unistd.h>
#include <rte_eal.h>
#include <rte_eal_memconfig.h>
#include <rte_errno.h>

int main(int argc, char **argv)
{
	char prefix[128];

	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE_PREFIX\n", argv[0]);
		return 2;
	}
	snprintf(prefix, sizeof(prefix), "--file-prefix=%s", argv[1]);
	char *eal[] = { argv[0], "--proc-type=secondary", "--no-pci", prefix,
			"--log-level=*:error", "-l", "0" };
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])), eal) < 0) {
		fprintf(stderr, "dpdk_lock_holder: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	rte_mcfg_mem_read_lock();
	printf("locked\n");
	fflush(stdout);
	for (;;)
		pause();
}
