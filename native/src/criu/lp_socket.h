/* SPDX-License-Identifier: GPL-2.0 */
/* The restore side of the lazy-pages socket (see lp_socket.c). */
#ifndef FAULTC_LP_SOCKET_H
#define FAULTC_LP_SOCKET_H

#include <stdint.h>

/* What `criu restore` sends after the last task. */
#define LP_RESTORE_FINISHED 0x52535446u

int lp_listen(const char *path);
int lp_peer_allowed(int sock, char *err, size_t errlen);

enum lp_msg_kind {
	LP_MSG_TASK,
	LP_MSG_ZOMBIE,
	LP_MSG_FINISHED,
	LP_MSG_EOF,
};

struct lp_msg {
	enum lp_msg_kind kind;
	int32_t pid;
	int fd; /* the task's userfaultfd (LP_MSG_TASK) */
};

int lp_recv_msg(int sock, struct lp_msg *m, char *err, size_t errlen);

#endif
