/* What the C benchmark loops share: a failed broker reply ends the program with its name, and a
 * connection is one login and channel 1. */
#ifndef WMG_BENCH_BROKER_H
#define WMG_BENCH_BROKER_H
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static void check(amqp_rpc_reply_t r, const char *what) {
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    fprintf(stderr, "%s failed (reply type %d)\n", what, r.reply_type);
    exit(1);
  }
}

/* HEARTBEAT 0: none, for a loop that blocks in poll() and would never send one. */
static amqp_connection_state_t connect_broker(const char *host, int port, int heartbeat) {
  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t *socket = amqp_tcp_socket_new(conn);
  if (amqp_socket_open(socket, host, port) != AMQP_STATUS_OK) { fprintf(stderr, "broker connect failed\n"); exit(1); }
  check(amqp_login(conn, "/", 0, 131072, heartbeat, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
  amqp_channel_open(conn, 1);
  check(amqp_get_rpc_reply(conn), "channel.open");
  return conn;
}
/* Closes both connections and prints this process's CPU seconds: the benchmark's CPU budget (the
 * program may be gone before anyone could read /proc). */
static void close_and_print_cpu(amqp_connection_state_t consumer, amqp_connection_state_t publisher) {
  amqp_connection_close(consumer, AMQP_REPLY_SUCCESS);
  amqp_connection_close(publisher, AMQP_REPLY_SUCCESS);
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  printf("%.3f\n", usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6);
}
#endif
