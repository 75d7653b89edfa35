// SPDX-License-Identifier: GPL-2.0
/*
 * The other process of test/vm-kernel/guest-attach.ts: maps `bytes` of
 * private anonymous memory, says where ("ready 0x..."), waits for a line on
 * stdin (the parent attaches a policy's region to that memory meanwhile),
 * then reads the first `pages` pages in order and prints each page's index
 * and the hex of its first 16 bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char **argv)
{
	char line[16];
	size_t bytes, pages;
	uint8_t *mem;

	if (argc != 3) {
		fprintf(stderr, "usage: remote_child <bytes> <pages>\n");
		return 2;
	}
	bytes = strtoull(argv[1], NULL, 0);
	pages = strtoull(argv[2], NULL, 0);
	mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || pages * 4096 > bytes) {
		perror("mmap");
		return 1;
	}
	printf("ready %p\n", (void *)mem);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (size_t p = 0; p < pages; p++) {
		printf("%zu ", p);
		for (int i = 0; i < 16; i++)
			printf("%02x", mem[p * 4096 + i]);
		printf("\n");
	}
	return 0;
}
