/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * BGP announcements through BIRD 2, and the node drain; see cp_bgp.h and
 * docs/fleet.md.
 *
 * The speaker: BIRD runs in the node's network namespace with
 * `-f -c RUN_DIR/bird.conf -s CONTROL_SOCKET -P RUN_DIR/bird.pid`, in a
 * session of its own (setsid), so that edgelb-cp dying, or being stopped,
 * does not take the routes with it. What it announces is only ever changed
 * by rewriting bird.conf (atomically: a crash leaves the old or the new file,
 * never half of one) and sending `configure` on the control socket.
 *
 * The control socket speaks BIRD's line protocol: a greeting ("0001 BIRD
 * 2.0.12 ready."), then per command reply lines "NNNN-text" (more follow),
 * " text" (continuation) and one final "NNNN text"; codes from 8000 are
 * errors. The connection is non-blocking and driven by the event loop: one
 * command at a time, each with a deadline. Its EOF is how the loss of the
 * speaker is noticed, whether it is our child or an adopted one.
 */
#include "cp_bgp.h"

#include "cp_dataplanes.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "elb_dp_api.h"
#include "elb_file.h"
#include "elb_json.h"

#define CP_ERR_NO_BGP (-32021)
#define BGP_CONF_MAX (256u * 1024u)
#define BGP_REPLY_MAX (64u * 1024u)
#define BGP_MAX_SESSIONS CP_BGP_MAX_NEIGHBORS
#define BGP_MAX_PREFIXES ELB_DP_MAX_VIPS

enum ctl_phase {
	CTL_CLOSED = 0,
	CTL_GREETING, /* connected, waiting for "0001 ..." */
	CTL_IDLE,
	CTL_BUSY, /* a command sent, its reply not complete */
};

enum ctl_command {
	CMD_NONE = 0,
	CMD_CONFIGURE,
	CMD_SHOW_PROTOCOLS,
};

struct bgp_session {
	char name[32];
	char state[16]; /* BIRD's protocol state: up, start, down... */
	char info[64];  /* BGP state: Established, Idle, Connect, Active... */
};

struct cp_bgp {
	int kind; /* CP_POLL_BGP */
	char socket_path[CP_SOCKET_PATH_MAX];
	char conf_path[CP_BGP_PATH_MAX + 16];
	char pid_path[CP_BGP_PATH_MAX + 16];
	char log_path[CP_BGP_PATH_MAX + 16];

	/* The speaker process. */
	pid_t child;   /* started by us and not reaped; 0: none */
	pid_t pid;     /* the speaker's (from its pid file when adopted); 0: unknown */
	bool adopted;  /* found running at our start */
	bool up;       /* answered its greeting on the current connection */
	uint64_t child_started_ms, next_start_ms, up_since_ms;
	uint32_t backoff_ms;
	uint64_t starts, losses;
	char last_loss[160];

	/* The control connection. */
	int fd;
	uint8_t phase;   /* enum ctl_phase */
	uint8_t command; /* enum ctl_command, while CTL_BUSY */
	uint64_t next_connect_ms, deadline_ms, next_show_ms, reload_retry_ms;
	char in[BGP_REPLY_MAX];
	size_t in_len;
	char reply[BGP_REPLY_MAX]; /* the lines of the reply being read */
	size_t reply_len;

	/* What the speaker announces: the prefixes of its accepted config. */
	struct cp_bgp_prefix announced[BGP_MAX_PREFIXES];
	uint32_t n_announced;
	bool announced_known; /* false: adopted, not configured by us yet */
	struct cp_bgp_prefix sent[BGP_MAX_PREFIXES]; /* in the config being loaded */
	uint32_t n_sent;
	uint64_t reloads, reload_failures, last_reload_ms;
	char last_reload[200];
	bool last_reload_ok;

	/* What should be announced, and why not where it is not. */
	struct cp_bgp_prefix wanted[BGP_MAX_PREFIXES];
	uint32_t n_wanted;
	char blocked[160]; /* why nothing is announced ("" when something is) */
	bool settled;
	bool no_neighbor_logged[2]; /* [family is v6]: its VIPs have no session */
	uint64_t started_ms;
	uint64_t seen_gen, gen_changed_ms;

	struct bgp_session sessions[BGP_MAX_SESSIONS];
	uint32_t n_sessions;
	uint64_t sessions_ms;

	/* Node drain. */
	uint64_t drain_since_ms, drain_done_ms, withdrawn_ms, rx_change_ms;
	double rx_last;
	const char *drain_reason; /* "quiet" or "timeout" once drained */
};

/* Milliseconds from then to now; 0 if then is later (a method ran after the
 * loop read its clock for this round). */
static uint64_t ms_since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/* ------------------------------------------------------------------------ */
/* Prefixes */

static bool prefix_equal(const struct cp_bgp_prefix *a, const struct cp_bgp_prefix *b)
{
	return a->family == b->family && memcmp(&a->addr, &b->addr, sizeof(a->addr)) == 0;
}

static bool prefix_in(const struct cp_bgp_prefix *set, uint32_t n, const struct cp_bgp_prefix *p)
{
	for (uint32_t i = 0; i < n; i++)
		if (prefix_equal(&set[i], p))
			return true;
	return false;
}

static bool sets_equal(const struct cp_bgp_prefix *a, uint32_t na, const struct cp_bgp_prefix *b,
		       uint32_t nb)
{
	if (na != nb)
		return false;
	for (uint32_t i = 0; i < na; i++)
		if (!prefix_in(b, nb, &a[i]))
			return false;
	return true;
}

static const char *prefix_str(const struct cp_bgp_prefix *p, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];

	if (inet_ntop(p->family == ELB_AF_INET ? AF_INET : AF_INET6, p->addr.v6, addr,
		      sizeof(addr)) == NULL)
		snprintf(addr, sizeof(addr), "?");
	snprintf(buf, len, "%s/%d", addr, p->family == ELB_AF_INET ? 32 : 128);
	return buf;
}

/* ------------------------------------------------------------------------ */
/* BIRD's config */

struct text {
	char *buf;
	size_t len, cap;
	bool overflow;
};

static void __attribute__((format(printf, 2, 3))) put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len)
		t->overflow = true;
	else
		t->len += (size_t)n;
}

int cp_bgp_render_config(const struct cp_bgp_cfg *bgp, const struct cp_bgp_prefix *prefixes,
			 uint32_t n, char *buf, size_t len)
{
	struct text t = {.buf = buf, .cap = len};
	char a[INET6_ADDRSTRLEN], p[64];

	put(&t, "# Written by edgelb-cp (cp_bgp.c) on every change of what this node announces;\n"
		"# edits are lost. docs/fleet.md.\n");
	put(&t, "log \"%s/bird.log\" { info, remote, warning, error, auth, fatal, bug };\n",
	    bgp->run_dir);
	put(&t, "router id %s;\n", elb_addr_format(&bgp->router_id, ELB_AF_INET, a, sizeof(a)));
	/* The device protocol tells BIRD which neighbors are directly reachable. */
	put(&t, "protocol device { scan time 10; }\n");
	/* One static protocol per family: each VIP prefix as a blackhole route.
	 * No kernel protocol: the node's own routing table never sees them. */
	for (int f = 0; f < 2; f++) {
		uint8_t family = f == 0 ? ELB_AF_INET : ELB_AF_INET6;

		put(&t, "protocol static edgelb_vips%d {\n\t%s;\n", f == 0 ? 4 : 6,
		    f == 0 ? "ipv4" : "ipv6");
		for (uint32_t i = 0; i < n; i++)
			if (prefixes[i].family == family)
				put(&t, "\troute %s blackhole;\n",
				    prefix_str(&prefixes[i], p, sizeof(p)));
		put(&t, "}\n");
	}
	for (uint32_t i = 0; i < bgp->n_neighbors; i++) {
		const struct cp_bgp_neighbor *nb = &bgp->neighbors[i];
		bool v4 = nb->family == ELB_AF_INET;
		bool has_nh = v4 ? bgp->has_next_hop_v4 : bgp->has_next_hop_v6;

		put(&t, "protocol bgp peer%u {\n", i);
		put(&t, "\tlocal as %" PRIu32 ";\n", bgp->local_as);
		put(&t, "\tneighbor %s as %" PRIu32 ";\n",
		    elb_addr_format(&nb->addr, nb->family, a, sizeof(a)), nb->as);
		put(&t, "\thold time %" PRIu32 ";\n", bgp->hold_time_s);
		if (bgp->hold_time_s >= 3)
			put(&t, "\tkeepalive time %" PRIu32 ";\n", bgp->hold_time_s / 3);
		/* Sessions come back within seconds, not BIRD's minutes: a node
		 * that restarted should carry traffic again at once. */
		put(&t, "\tconnect delay time 1;\n\tconnect retry time 2;\n"
			"\terror wait time 1, 10;\n");
		put(&t, "\t%s {\n\t\timport none;\n\t\texport where proto = \"edgelb_vips%d\";\n",
		    v4 ? "ipv4" : "ipv6", v4 ? 4 : 6);
		if (has_nh)
			put(&t, "\t\tnext hop address %s;\n",
			    elb_addr_format(v4 ? &bgp->next_hop_v4 : &bgp->next_hop_v6, nb->family, a,
				     sizeof(a)));
		else
			put(&t, "\t\tnext hop self;\n");
		put(&t, "\t};\n}\n");
	}
	return t.overflow ? -ENOSPC : (int)t.len;
}

static int write_config(struct cp_bgp *b, const struct cp_bgp_cfg *cfg,
			const struct cp_bgp_prefix *prefixes, uint32_t n)
{
	char *buf = malloc(BGP_CONF_MAX);
	int len, rc;

	if (buf == NULL)
		return -ENOMEM;
	len = cp_bgp_render_config(cfg, prefixes, n, buf, BGP_CONF_MAX);
	rc = len < 0 ? len : elb_atomic_write_file(b->conf_path, buf, (size_t)len, 0640);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The speaker process */

static void ctl_close(struct cp_daemon *cp, struct cp_bgp *b)
{
	if (b->fd >= 0) {
		epoll_ctl(cp->epfd, EPOLL_CTL_DEL, b->fd, NULL);
		close(b->fd);
	}
	b->fd = -1;
	b->phase = CTL_CLOSED;
	b->command = CMD_NONE;
	b->in_len = b->reply_len = 0;
}

static pid_t read_pid_file(const char *path)
{
	char *text;
	size_t len;
	long v;

	if (elb_read_file(path, 64, &text, &len) < 0)
		return 0;
	v = strtol(text, NULL, 10);
	free(text);
	return v > 0 ? (pid_t)v : 0;
}

static void announced_set(struct cp_daemon *cp, struct cp_bgp *b,
			  const struct cp_bgp_prefix *next, uint32_t n, const char *reason)
{
	char p[64];

	for (uint32_t i = 0; i < b->n_announced; i++)
		if (!prefix_in(next, n, &b->announced[i])) {
			cJSON *fields = cJSON_CreateObject();

			cJSON_AddStringToObject(fields, "prefix",
						prefix_str(&b->announced[i], p, sizeof(p)));
			cJSON_AddStringToObject(fields, "reason", reason);
			cp_log("bgp: %s withdrawn (%s)", p, reason);
			cp_emit(cp, "route_withdrawn", fields);
		}
	for (uint32_t i = 0; i < n; i++)
		if (!prefix_in(b->announced, b->n_announced, &next[i])) {
			cJSON *fields = cJSON_CreateObject();

			cJSON_AddStringToObject(fields, "prefix", prefix_str(&next[i], p, sizeof(p)));
			cp_log("bgp: %s announced", p);
			cp_emit(cp, "route_announced", fields);
		}
	if (n > 0)
		memmove(b->announced, next, n * sizeof(*next));
	b->n_announced = n;
	cp->bgp_announced = n;
}

/* The speaker is gone (EOF, a dead child, a stuck one we killed). */
static void speaker_lost(struct cp_daemon *cp, struct cp_bgp *b, const char *why)
{
	bool was_up = b->up;

	ctl_close(cp, b);
	if (!was_up)
		return;
	b->up = false;
	cp->bgp_speaker_up = false;
	b->losses++;
	cp->bgp_speaker_losses = b->losses;
	snprintf(b->last_loss, sizeof(b->last_loss), "%s", why);
	cp_log("ALARM bgp: speaker (pid %d) lost: %s", (int)b->pid, why);
	{
		cJSON *fields = cJSON_CreateObject();

		cJSON_AddNumberToObject(fields, "pid", b->pid);
		cJSON_AddStringToObject(fields, "reason", why);
		cp_emit(cp, "bgp_speaker_lost", fields);
	}
	/* Its sessions went with it: the routers withdrew everything. */
	announced_set(cp, b, NULL, 0, "speaker_lost");
	b->announced_known = true;
	b->n_sessions = 0;
	b->next_connect_ms = cp_now_ms() + CP_BGP_CONNECT_RETRY_MS;
}

static void reap_child(struct cp_daemon *cp, struct cp_bgp *b, uint64_t now)
{
	int status;
	char why[96];

	if (b->child <= 0 || waitpid(b->child, &status, WNOHANG) != b->child)
		return;
	if (WIFEXITED(status))
		snprintf(why, sizeof(why), "bird exited with status %d", WEXITSTATUS(status));
	else
		snprintf(why, sizeof(why), "bird killed by signal %d",
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	cp_log("bgp: %s (pid %d)", why, (int)b->child);
	b->child = 0;
	/* A speaker that lived long gets restarted at once; one that keeps
	 * dying, ever more slowly. */
	if (ms_since(now, b->child_started_ms) > CP_BGP_START_BACKOFF_MAX_MS)
		b->backoff_ms = CP_BGP_START_BACKOFF_MS;
	b->next_start_ms = now + b->backoff_ms;
	b->backoff_ms = b->backoff_ms * 2 > CP_BGP_START_BACKOFF_MAX_MS ? CP_BGP_START_BACKOFF_MAX_MS
									 : b->backoff_ms * 2;
	if (b->up)
		speaker_lost(cp, b, why);
	else
		snprintf(b->last_loss, sizeof(b->last_loss), "%s", why);
}

static int spawn_speaker(struct cp_daemon *cp, struct cp_bgp *b, uint64_t now)
{
	const struct cp_bgp_cfg *cfg = &cp->config->bgp;
	pid_t pid;
	int rc;

	/* A fresh speaker announces what we want now (usually nothing until the
	 * dataplanes have acknowledged): it has no session yet, so no route
	 * flaps whatever it starts with. */
	rc = write_config(b, cfg, b->wanted, b->n_wanted);
	if (rc < 0) {
		snprintf(b->last_loss, sizeof(b->last_loss), "writing %.100s: %s", b->conf_path,
			 strerror(-rc));
		b->next_start_ms = now + CP_BGP_START_BACKOFF_MAX_MS;
		return rc;
	}
	if (b->n_wanted > 0)
		memcpy(b->sent, b->wanted, b->n_wanted * sizeof(*b->wanted));
	b->n_sent = b->n_wanted;
	pid = fork();
	if (pid < 0) {
		b->next_start_ms = now + b->backoff_ms;
		return -errno;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		/* Its own session: a signal to our process group (a terminal's
		 * ^C, a supervisor stopping edgelb-cp) leaves the routes up. */
		setsid();
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		signal(SIGPIPE, SIG_DFL);
		execl(cfg->bird, cfg->bird, "-f", "-c", b->conf_path, "-s", b->socket_path, "-P",
		      b->pid_path, (char *)NULL);
		_exit(127);
	}
	b->child = pid;
	b->pid = pid;
	b->adopted = false;
	b->child_started_ms = now;
	b->starts++;
	b->announced_known = true;
	b->n_announced = 0;
	cp->bgp_announced = 0;
	cp_log("bgp: started %s (pid %d), control socket %s", cfg->bird, (int)pid, b->socket_path);
	return 0;
}

/* Connect to the control socket. @return 0, or -errno (nobody listening:
 * -ENOENT, -ECONNREFUSED). */
static int ctl_connect(struct cp_daemon *cp, struct cp_bgp *b)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = b};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", b->socket_path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    epoll_ctl(cp->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	b->fd = fd;
	b->phase = CTL_GREETING;
	b->deadline_ms = cp_now_ms() + CP_BGP_COMMAND_TIMEOUT_MS;
	b->in_len = b->reply_len = 0;
	return 0;
}

static void speaker_tick(struct cp_daemon *cp, struct cp_bgp *b, uint64_t now)
{
	int rc;

	reap_child(cp, b, now);
	if (b->fd >= 0) {
		if (b->phase != CTL_IDLE && now >= b->deadline_ms)
			speaker_lost(cp, b,
				     b->phase == CTL_GREETING ? "no greeting on the control socket"
							      : "command unanswered");
		return;
	}
	if (now < b->next_connect_ms)
		return;
	b->next_connect_ms = now + CP_BGP_CONNECT_RETRY_MS;
	rc = ctl_connect(cp, b);
	if (rc == 0)
		return;
	if (b->child > 0) {
		/* Ours, still starting; or stuck before opening its socket. */
		if (ms_since(now, b->child_started_ms) > CP_BGP_START_TIMEOUT_MS) {
			cp_log("bgp: bird (pid %d) silent for %u ms: killed", (int)b->child,
			       CP_BGP_START_TIMEOUT_MS);
			kill(b->child, SIGKILL);
		}
		return;
	}
	/* Nobody listens (ENOENT, ECONNREFUSED): start one. A busy speaker
	 * (EAGAIN: backlog full) is not replaced. */
	if ((rc == -ENOENT || rc == -ECONNREFUSED) && now >= b->next_start_ms) {
		rc = spawn_speaker(cp, b, now);
		if (rc < 0)
			cp_log("bgp: cannot start %s: %s", cp->config->bgp.bird, strerror(-rc));
	}
}

/* ------------------------------------------------------------------------ */
/* The control connection */

static int ctl_send(struct cp_daemon *cp, struct cp_bgp *b, uint8_t command, const char *line)
{
	size_t len = strlen(line);
	ssize_t n = send(b->fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	/* A command is a few bytes on an idle Unix socket: it fits or the
	 * speaker is in trouble. */
	if (n != (ssize_t)len) {
		speaker_lost(cp, b, n < 0 ? strerror(errno) : "short write on the control socket");
		return -EIO;
	}
	b->phase = CTL_BUSY;
	b->command = command;
	b->deadline_ms = cp_now_ms() + CP_BGP_COMMAND_TIMEOUT_MS;
	b->reply_len = 0;
	return 0;
}

/* `show protocols`: "1002-name proto table state since info" then " name ..."
 * for the next rows; the BGP rows become sessions. */
static void parse_protocols(struct cp_bgp *b, char *reply)
{
	char *save = NULL;

	b->n_sessions = 0;
	for (char *line = strtok_r(reply, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[32], proto[16], table[16], state[16], since[32];
		int used = 0;
		struct bgp_session *s;

		if (strncmp(line, "1002-", 5) == 0)
			line += 5;
		else if (line[0] == ' ')
			line += 1;
		else
			continue;
		if (sscanf(line, "%31s %15s %15s %15s %31s %n", name, proto, table, state, since,
			   &used) < 5 ||
		    strcmp(proto, "BGP") != 0 || b->n_sessions == BGP_MAX_SESSIONS)
			continue;
		s = &b->sessions[b->n_sessions++];
		snprintf(s->name, sizeof(s->name), "%s", name);
		snprintf(s->state, sizeof(s->state), "%s", state);
		snprintf(s->info, sizeof(s->info), "%s", used > 0 ? line + used : "");
		for (size_t k = strlen(s->info); k > 0 && s->info[k - 1] == ' '; k--)
			s->info[k - 1] = '\0';
	}
	b->sessions_ms = cp_now_ms();
}

/* A complete reply: final line `code text`. */
static void ctl_reply(struct cp_daemon *cp, struct cp_bgp *b, int code, const char *text)
{
	uint64_t now = cp_now_ms();

	if (b->phase == CTL_GREETING) {
		b->phase = CTL_IDLE;
		b->up = true;
		cp->bgp_speaker_up = true;
		b->up_since_ms = now;
		b->next_show_ms = now;
		if (b->child == 0) {
			b->pid = read_pid_file(b->pid_path);
			b->adopted = true;
			b->announced_known = false;
			cp_log("bgp: adopted the running speaker (pid %d) on %s; its routes stay "
			       "until ours are known",
			       (int)b->pid, b->socket_path);
		} else {
			/* Ours answers: it loaded the config written at its start. */
			announced_set(cp, b, b->sent, b->n_sent, "speaker_started");
		}
		{
			cJSON *fields = cJSON_CreateObject();

			cJSON_AddNumberToObject(fields, "pid", b->pid);
			cJSON_AddBoolToObject(fields, "adopted", b->adopted);
			cp_emit(cp, b->adopted ? "bgp_speaker_adopted" : "bgp_speaker_started",
				 fields);
		}
		return;
	}
	b->phase = CTL_IDLE;
	if (b->command == CMD_CONFIGURE) {
		b->reloads++;
		b->last_reload_ms = now;
		b->last_reload_ok = code < 8000;
		snprintf(b->last_reload, sizeof(b->last_reload), "%04d %s", code, text);
		if (code < 8000) {
			announced_set(cp, b, b->sent, b->n_sent,
				      cp->node_state != CP_NODE_ACTIVE ? "node_draining"
				      : b->blocked[0] != '\0'		  ? b->blocked
									  : "vip_not_serving");
			b->announced_known = true;
		} else {
			cJSON *fields = cJSON_CreateObject();

			b->reload_failures++;
			b->reload_retry_ms = now + CP_BGP_RELOAD_RETRY_MS;
			cp_log("ALARM bgp: configure refused: %d %s", code, text);
			cJSON_AddStringToObject(fields, "error", b->last_reload);
			cp_emit(cp, "bgp_reload_failed", fields);
		}
	} else if (b->command == CMD_SHOW_PROTOCOLS) {
		parse_protocols(b, b->reply);
	}
	b->command = CMD_NONE;
}

static void ctl_on_line(struct cp_daemon *cp, struct cp_bgp *b, char *line, size_t len)
{
	bool coded = len >= 5 && line[0] >= '0' && line[0] <= '9' && line[1] >= '0' &&
		     line[1] <= '9' && line[2] >= '0' && line[2] <= '9' && line[3] >= '0' &&
		     line[3] <= '9';

	if (b->reply_len + len + 2 < sizeof(b->reply)) {
		memcpy(b->reply + b->reply_len, line, len);
		b->reply_len += len;
		b->reply[b->reply_len++] = '\n';
		b->reply[b->reply_len] = '\0';
	}
	if (coded && line[4] == ' ') {
		line[len] = '\0';
		ctl_reply(cp, b, atoi(line), line + 5);
		b->reply_len = 0;
	}
}

void cp_bgp_event(struct cp_daemon *cp, uint32_t events)
{
	struct cp_bgp *b = cp->bgp;

	if (b == NULL || b->fd < 0)
		return;
	(void)events;
	for (;;) {
		ssize_t n = recv(b->fd, b->in + b->in_len, sizeof(b->in) - b->in_len, MSG_DONTWAIT);
		char *start, *nl;

		if (n == 0) {
			speaker_lost(cp, b, "the control socket was closed");
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			speaker_lost(cp, b, strerror(errno));
			return;
		}
		b->in_len += (size_t)n;
		start = b->in;
		while ((nl = memchr(start, '\n', b->in_len - (size_t)(start - b->in))) != NULL) {
			ctl_on_line(cp, b, start, (size_t)(nl - start));
			start = nl + 1;
			if (b->fd < 0)
				return;
		}
		b->in_len -= (size_t)(start - b->in);
		memmove(b->in, start, b->in_len);
		if (b->in_len == sizeof(b->in)) {
			speaker_lost(cp, b, "reply line too long");
			return;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* What to announce */

static bool dataplanes_ready(struct cp_daemon *cp, struct cp_bgp *b, uint64_t now, char *why,
			     size_t len)
{
	if (cp->n_dps == 0) {
		snprintf(why, len, "no dataplane configured");
		return false;
	}
	for (uint32_t i = 0; i < cp->n_dps; i++) {
		const struct cp_dataplane *dp = &cp->dps[i];

		if (!dp->connected) {
			snprintf(why, len, "dataplane %s not connected", dp->cfg.name);
			return false;
		}
		if (dp->pushed_gen == 0) {
			snprintf(why, len, "dataplane %s has not acknowledged our state",
				 dp->cfg.name);
			return false;
		}
		if (dp->pushed_gen != cp->gen &&
		    ms_since(now, b->gen_changed_ms) >= CP_BGP_ACK_GRACE_MS) {
			snprintf(why, len,
				 "dataplane %s has not acknowledged generation %" PRIu64
				 " within %u ms",
				 dp->cfg.name, cp->gen, CP_BGP_ACK_GRACE_MS);
			return false;
		}
	}
	return true;
}

/* VIP v has a backend in service that takes new flows. */
static bool vip_serving(const struct cp_daemon *cp, uint32_t v)
{
	const struct cp_vip *vip = &cp->config->vips[v];

	for (uint32_t i = 0; i < vip->dp.n_backends; i++)
		if (vip->dp.backends[i].state != ELB_DP_BACKEND_DRAINING &&
		    cp_hc_in_service(&cp->targets[cp->target_base[v] + i]->state))
			return true;
	return false;
}

/* A neighbor's session has one channel, of the neighbor's own family
 * (cp_bgp_render_config): a prefix of a family no neighbor has would sit in
 * BIRD's config, and in node.get's "announced", with no session carrying it
 * (an IPv6 VIP on a node with IPv4 neighbors only). */
static bool family_has_neighbor(const struct cp_bgp_cfg *cfg, uint8_t family)
{
	for (uint32_t i = 0; i < cfg->n_neighbors; i++)
		if (cfg->neighbors[i].family == family)
			return true;
	return false;
}

static void compute_wanted(struct cp_daemon *cp, struct cp_bgp *b, uint64_t now)
{
	for (int v6 = 0; v6 < 2; v6++)
		if (family_has_neighbor(&cp->config->bgp, v6 ? ELB_AF_INET6 : ELB_AF_INET))
			b->no_neighbor_logged[v6] = false;
	b->n_wanted = 0;
	b->blocked[0] = '\0';
	if (cp->node_state != CP_NODE_ACTIVE) {
		snprintf(b->blocked, sizeof(b->blocked), "node_draining");
		return;
	}
	if (!dataplanes_ready(cp, b, now, b->blocked, sizeof(b->blocked)))
		return;
	/* A prefix carries every VIP (port, protocol) on its address: it is
	 * announced while one of them serves, since withdrawing it would take
	 * the serving ones down too. */
	for (uint32_t v = 0; v < cp->config->n_vips; v++) {
		struct cp_bgp_prefix p = {.addr = cp->config->vips[v].dp.key.addr,
					  .family = cp->config->vips[v].dp.key.family};

		if (!family_has_neighbor(&cp->config->bgp, p.family)) {
			bool *logged = &b->no_neighbor_logged[p.family == ELB_AF_INET6];
			char text[64];

			if (!*logged)
				cp_log("ALARM bgp: %s not announced: no IPv%d neighbor in bgp.neighbors",
				       prefix_str(&p, text, sizeof(text)),
				       p.family == ELB_AF_INET6 ? 6 : 4);
			*logged = true;
			continue;
		}
		if (vip_serving(cp, v) && !prefix_in(b->wanted, b->n_wanted, &p) &&
		    b->n_wanted < BGP_MAX_PREFIXES)
			b->wanted[b->n_wanted++] = p;
	}
}

static bool health_known(const struct cp_daemon *cp)
{
	for (uint32_t i = 0; i < cp->n_targets; i++)
		if (cp->targets[i]->hc.type != CP_HC_NONE &&
		    cp->targets[i]->state.status == CP_HC_UNKNOWN)
			return false;
	return true;
}

/* ------------------------------------------------------------------------ */
/* Node drain */


/* Packets received for VIPs by the node's dataplanes, as last reported. */
static double vip_rx(const struct cp_daemon *cp)
{
	double sum = 0;

	for (uint32_t i = 0; i < cp->n_dps; i++) {
		const cJSON *v;

		cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(cp->dps[i].counters, "vips"))
		{
			const cJSON *p = cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(v, "rx"), "packets");

			if (cJSON_IsNumber(p))
				sum += p->valuedouble;
		}
	}
	return sum;
}

static void node_tick(struct cp_daemon *cp, struct cp_bgp *b, uint64_t now)
{
	const struct cp_bgp_cfg *cfg = &cp->config->bgp;

	if (!cfg->drained) {
		if (cp->node_state != CP_NODE_ACTIVE) {
			cJSON *fields = cJSON_CreateObject();

			cp_log("node: resumed");
			elb_dp_json_add_u64(fields, "drained_for_ms", ms_since(now, b->drain_since_ms));
			cp_emit(cp, "node_resumed", fields);
			cp->node_state = CP_NODE_ACTIVE;
		}
		return;
	}
	if (cp->node_state == CP_NODE_ACTIVE) {
		cJSON *fields = cJSON_CreateObject();

		cp->node_state = CP_NODE_DRAINING;
		b->drain_since_ms = b->rx_change_ms = now;
		b->withdrawn_ms = 0;
		b->rx_last = vip_rx(cp);
		b->drain_reason = NULL;
		cp_log("node: draining (withdrawing every VIP; done after %u ms without a VIP "
		       "packet, at most %u ms)",
		       cfg->drain_quiet_ms, cfg->drain_timeout_ms);
		elb_dp_json_add_u64(fields, "quiet_ms", cfg->drain_quiet_ms);
		elb_dp_json_add_u64(fields, "timeout_ms", cfg->drain_timeout_ms);
		cp_emit(cp, "node_draining", fields);
	}
	if (cp->node_state != CP_NODE_DRAINING)
		return;
	{
		double rx = vip_rx(cp);
		/* Withdrawn: the speaker's config has no route left, or there is
		 * no speaker (its sessions are down). */
		bool withdrawn = (b->announced_known && b->n_announced == 0) || !b->up;
		uint64_t quiet_from;
		const char *reason = NULL;

		if (rx != b->rx_last) {
			b->rx_last = rx;
			b->rx_change_ms = now;
		}
		if (withdrawn && b->withdrawn_ms == 0)
			b->withdrawn_ms = now;
		quiet_from = b->rx_change_ms > b->withdrawn_ms ? b->rx_change_ms : b->withdrawn_ms;
		if (withdrawn && ms_since(now, quiet_from) >= cfg->drain_quiet_ms)
			reason = "quiet";
		else if (ms_since(now, b->drain_since_ms) >= cfg->drain_timeout_ms)
			reason = "timeout";
		if (reason != NULL) {
			cJSON *fields = cJSON_CreateObject();

			cp->node_state = CP_NODE_DRAINED;
			b->drain_reason = reason;
			b->drain_done_ms = now;
			cp_log("node: drained (%s) after %" PRIu64 " ms", reason,
			       ms_since(now, b->drain_since_ms));
			elb_dp_json_add_u64(fields, "drain_ms", ms_since(now, b->drain_since_ms));
			cJSON_AddStringToObject(fields, "reason", reason);
			cp_emit(cp, "node_drained", fields);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Tick */

void cp_bgp_tick(struct cp_daemon *cp, uint64_t now)
{
	struct cp_bgp *b = cp->bgp;
	char blocked[sizeof(b->blocked)];

	if (b == NULL)
		return;
	if (b->seen_gen != cp->gen) {
		b->seen_gen = cp->gen;
		b->gen_changed_ms = now;
	}
	node_tick(cp, b, now);
	snprintf(blocked, sizeof(blocked), "%s", b->blocked);
	compute_wanted(cp, b, now);
	if (strcmp(blocked, b->blocked) != 0 && b->blocked[0] != '\0')
		cp_log("bgp: nothing announced: %s", b->blocked);
	if (!b->settled) {
		char why[160];

		b->settled = (dataplanes_ready(cp, b, now, why, sizeof(why)) && health_known(cp)) ||
			     ms_since(now, b->started_ms) >= CP_BGP_SETTLE_MAX_MS ||
			     cp->node_state != CP_NODE_ACTIVE;
	}
	speaker_tick(cp, b, now);
	if (b->fd < 0 || b->phase != CTL_IDLE)
		return;
	/* An adopted speaker keeps the previous edgelb-cp's routes until we
	 * know ours: a restart of edgelb-cp moves no traffic. */
	if (b->settled && now >= b->reload_retry_ms &&
	    (!b->announced_known ||
	     !sets_equal(b->wanted, b->n_wanted, b->announced, b->n_announced))) {
		int rc = write_config(b, &cp->config->bgp, b->wanted, b->n_wanted);

		if (rc < 0) {
			b->reload_retry_ms = now + CP_BGP_RELOAD_RETRY_MS;
			b->reload_failures++;
			snprintf(b->last_reload, sizeof(b->last_reload), "writing %.100s: %s",
				 b->conf_path, strerror(-rc));
			b->last_reload_ok = false;
			cp_log("ALARM bgp: %s", b->last_reload);
			return;
		}
		if (b->n_wanted > 0)
			memcpy(b->sent, b->wanted, b->n_wanted * sizeof(*b->wanted));
		b->n_sent = b->n_wanted;
		ctl_send(cp, b, CMD_CONFIGURE, "configure\n");
		return;
	}
	if (now >= b->next_show_ms) {
		b->next_show_ms = now + CP_BGP_SHOW_INTERVAL_MS;
		ctl_send(cp, b, CMD_SHOW_PROTOCOLS, "show protocols\n");
	}
}

int cp_bgp_init(struct cp_daemon *cp)
{
	const struct cp_bgp_cfg *cfg = &cp->config->bgp;
	struct cp_bgp *b;

	if (!cfg->enabled)
		return 0;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->kind = CP_POLL_BGP;
	b->fd = -1;
	b->backoff_ms = CP_BGP_START_BACKOFF_MS;
	b->started_ms = cp_now_ms();
	b->seen_gen = cp->gen;
	b->gen_changed_ms = b->started_ms;
	b->announced_known = true;
	cp_bgp_control_socket(cfg, b->socket_path, sizeof(b->socket_path));
	snprintf(b->conf_path, sizeof(b->conf_path), "%s/bird.conf", cfg->run_dir);
	snprintf(b->pid_path, sizeof(b->pid_path), "%s/bird.pid", cfg->run_dir);
	snprintf(b->log_path, sizeof(b->log_path), "%s/bird.log", cfg->run_dir);
	if (mkdir(cfg->run_dir, 0750) < 0 && errno != EEXIST) {
		int rc = -errno;

		cp_log("bgp: run_dir %s: %s", cfg->run_dir, strerror(errno));
		free(b);
		return rc;
	}
	cp->bgp = b;
	/* A node drained before our restart stays drained: it starts draining
	 * again (nothing announced) and is drained once quiet. */
	cp->node_state = CP_NODE_ACTIVE;
	return 0;
}

void cp_bgp_free(struct cp_daemon *cp)
{
	struct cp_bgp *b = cp->bgp;

	if (b == NULL)
		return;
	ctl_close(cp, b);
	/* BIRD keeps running: routes stay as they are (fail static). A child
	 * left unreaped is reparented when we exit. */
	free(b);
	cp->bgp = NULL;
}

/* ------------------------------------------------------------------------ */
/* Methods */

static const char *node_state_name(uint8_t state)
{
	return state == CP_NODE_DRAINING ? "draining"
	       : state == CP_NODE_DRAINED ? "drained"
					  : "active";
}

static cJSON *prefixes_json(const struct cp_bgp_prefix *set, uint32_t n)
{
	cJSON *a = cJSON_CreateArray();
	char p[64];

	for (uint32_t i = 0; a != NULL && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(prefix_str(&set[i], p, sizeof(p))));
	return a;
}

static int no_bgp(struct elb_rpc_error *error)
{
	elb_rpc_error_set(error, CP_ERR_NO_BGP, NULL,
			  "this edgelb-cp has no \"bgp\" section: it announces nothing to drain");
	return -ENOENT;
}

static int m_node_get(void *ctx, const cJSON *params, cJSON **result, struct elb_rpc_error *error)
{
	static const char *const known[] = {NULL};
	struct cp_daemon *cp = ctx;
	struct cp_bgp *b = cp->bgp;
	uint64_t now = cp_now_ms();
	cJSON *speaker, *sessions, *vips, *drain;
	int rc = elb_dp_rpc_check_params(params, known, error);

	if (rc < 0)
		return rc;
	*result = cJSON_CreateObject();
	if (*result == NULL)
		return elb_dp_rpc_nomem(error);
	cJSON_AddBoolToObject(*result, "bgp", b != NULL);
	cJSON_AddStringToObject(*result, "state", node_state_name(cp->node_state));
	if (b == NULL)
		return 0;
	drain = cJSON_AddObjectToObject(*result, "drain");
	if (cp->node_state != CP_NODE_ACTIVE) {
		elb_dp_json_add_u64(drain, "since_ms", ms_since(now, b->drain_since_ms));
		elb_dp_json_add_u64(drain, "quiet_for_ms",
				    ms_since(now, b->rx_change_ms > b->withdrawn_ms ? b->rx_change_ms
										   : b->withdrawn_ms));
		if (cp->node_state == CP_NODE_DRAINED) {
			elb_dp_json_add_u64(drain, "drain_ms",
					    ms_since(b->drain_done_ms, b->drain_since_ms));
			cJSON_AddStringToObject(drain, "reason", b->drain_reason);
		}
	}
	elb_dp_json_add_u64(drain, "quiet_ms", cp->config->bgp.drain_quiet_ms);
	elb_dp_json_add_u64(drain, "timeout_ms", cp->config->bgp.drain_timeout_ms);
	elb_dp_json_add_u64(drain, "vip_rx_packets", (uint64_t)vip_rx(cp));
	cJSON_AddItemToObject(*result, "announced", prefixes_json(b->announced, b->n_announced));
	cJSON_AddBoolToObject(*result, "announced_known", b->announced_known);
	cJSON_AddItemToObject(*result, "wanted", prefixes_json(b->wanted, b->n_wanted));
	cJSON_AddBoolToObject(*result, "settled", b->settled);
	if (b->blocked[0] != '\0')
		cJSON_AddStringToObject(*result, "withdrawn_because", b->blocked);
	vips = cJSON_AddArrayToObject(*result, "vips");
	for (uint32_t v = 0; vips != NULL && v < cp->config->n_vips; v++) {
		cJSON *o = cJSON_CreateObject();
		char name[ELB_DP_VIP_KEY_STR_MAX];

		cJSON_AddStringToObject(o, "vip", elb_dp_vip_key_str(&cp->config->vips[v].dp.key,
								     name, sizeof(name)));
		cJSON_AddBoolToObject(o, "serving", vip_serving(cp, v));
		cJSON_AddItemToArray(vips, o);
	}
	speaker = cJSON_AddObjectToObject(*result, "speaker");
	cJSON_AddBoolToObject(speaker, "up", b->up);
	cJSON_AddNumberToObject(speaker, "pid", b->pid);
	cJSON_AddBoolToObject(speaker, "adopted", b->adopted);
	cJSON_AddStringToObject(speaker, "control_socket", b->socket_path);
	cJSON_AddStringToObject(speaker, "config", b->conf_path);
	cJSON_AddStringToObject(speaker, "log", b->log_path);
	elb_dp_json_add_u64(speaker, "starts", b->starts);
	elb_dp_json_add_u64(speaker, "losses", b->losses);
	if (b->last_loss[0] != '\0')
		cJSON_AddStringToObject(speaker, "last_loss", b->last_loss);
	if (b->up)
		elb_dp_json_add_u64(speaker, "up_for_ms", ms_since(now, b->up_since_ms));
	elb_dp_json_add_u64(speaker, "reloads", b->reloads);
	elb_dp_json_add_u64(speaker, "reload_failures", b->reload_failures);
	if (b->reloads > 0 || b->reload_failures > 0) {
		cJSON *last = cJSON_AddObjectToObject(speaker, "last_reload");

		cJSON_AddBoolToObject(last, "ok", b->last_reload_ok);
		cJSON_AddStringToObject(last, "reply", b->last_reload);
		elb_dp_json_add_u64(last, "ms_ago", ms_since(now, b->last_reload_ms));
	}
	sessions = cJSON_AddArrayToObject(speaker, "sessions");
	for (uint32_t i = 0; sessions != NULL && i < b->n_sessions; i++) {
		cJSON *o = cJSON_CreateObject();
		int index = -1;

		cJSON_AddStringToObject(o, "name", b->sessions[i].name);
		if (sscanf(b->sessions[i].name, "peer%d", &index) == 1 && index >= 0 &&
		    (uint32_t)index < cp->config->bgp.n_neighbors) {
			const struct cp_bgp_neighbor *nb = &cp->config->bgp.neighbors[index];
			char a[INET6_ADDRSTRLEN];

			cJSON_AddStringToObject(o, "neighbor",
						elb_addr_format(&nb->addr, nb->family, a, sizeof(a)));
			elb_dp_json_add_u64(o, "as", nb->as);
		}
		cJSON_AddStringToObject(o, "state", b->sessions[i].state);
		cJSON_AddStringToObject(o, "info", b->sessions[i].info);
		cJSON_AddBoolToObject(o, "established",
				      strncmp(b->sessions[i].info, "Established", 11) == 0);
		cJSON_AddItemToArray(sessions, o);
	}
	if (b->n_sessions > 0)
		elb_dp_json_add_u64(speaker, "sessions_ms_ago", ms_since(now, b->sessions_ms));
	return 0;
}

/* node.drain / node.resume: the operator's intent, persisted (bgp.drained)
 * before it is applied, as every change. */
static int set_drained(struct cp_daemon *cp, bool drained, cJSON **result,
		       struct elb_rpc_error *error)
{
	struct cp_config *next;
	struct elb_dp_err err;
	int rc;

	if (cp->bgp == NULL)
		return no_bgp(error);
	if (cp->config->bgp.drained != drained) {
		next = cp_config_clone(cp->config);
		if (next == NULL)
			return elb_dp_rpc_nomem(error);
		next->bgp.drained = drained;
		rc = cp_commit(cp, next, cp_now_ms(), &err);
		if (rc < 0) {
			elb_rpc_error_set(error, -32010, NULL, "not applied: %s", err.text);
			return rc;
		}
		/* The new state at once, so the answer tells it. */
		node_tick(cp, cp->bgp, cp_now_ms());
	}
	*result = cJSON_CreateObject();
	if (*result == NULL)
		return elb_dp_rpc_nomem(error);
	cJSON_AddStringToObject(*result, "state", node_state_name(cp->node_state));
	elb_dp_json_add_u64(*result, "quiet_ms", cp->config->bgp.drain_quiet_ms);
	elb_dp_json_add_u64(*result, "timeout_ms", cp->config->bgp.drain_timeout_ms);
	elb_dp_json_add_u64(*result, "generation", cp->gen);
	return 0;
}

static int m_node_drain(void *ctx, const cJSON *params, cJSON **result,
			struct elb_rpc_error *error)
{
	static const char *const known[] = {NULL};
	int rc = elb_dp_rpc_check_params(params, known, error);

	return rc < 0 ? rc : set_drained(ctx, true, result, error);
}

static int m_node_resume(void *ctx, const cJSON *params, cJSON **result,
			 struct elb_rpc_error *error)
{
	static const char *const known[] = {NULL};
	int rc = elb_dp_rpc_check_params(params, known, error);

	return rc < 0 ? rc : set_drained(ctx, false, result, error);
}

const struct elb_rpc_method cp_bgp_methods[] = {
	{.name = "node.get", .handler = m_node_get, .read_only = true},
	{.name = "node.drain", .handler = m_node_drain, .read_only = false},
	{.name = "node.resume", .handler = m_node_resume, .read_only = false},
};
const size_t cp_bgp_n_methods = sizeof(cp_bgp_methods) / sizeof(cp_bgp_methods[0]);
