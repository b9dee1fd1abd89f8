/* The plain-C reference loop for the AMQP client benchmark: the same work as wmg-bench's amqp
 * mode, written directly against librabbitmq, so the Swift client can be judged against what the
 * library allows on this machine.
 *
 *   amqp_bench HOST PORT COUNT SIZE WINDOW PREFETCH
 *
 * Declares a durable quorum queue, publishes COUNT persistent messages of SIZE bytes with
 * publisher confirms keeping at most WINDOW unconfirmed, then consumes them with PREFETCH and one
 * ack per message. Prints one line per phase: "c publish-confirm <msg/s>" and "c consume-ack <msg/s>".
 */
#include <sys/time.h>
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die_on_reply(amqp_rpc_reply_t r, const char *what) {
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    fprintf(stderr, "%s failed (reply type %d, status %d)\n", what, r.reply_type, r.library_error);
    exit(1);
  }
}

/* Publisher-confirm accounting: acks come out of order and with `multiple`. */
struct confirms {
  unsigned char *seen;
  long done, lowest, published;
};

static void on_frame(amqp_frame_t *f, struct confirms *c) {
  if (f->frame_type != AMQP_FRAME_METHOD || f->payload.method.id != AMQP_BASIC_ACK_METHOD) return;
  amqp_basic_ack_t *a = f->payload.method.decoded;
  long tag = (long)a->delivery_tag;
  long from = a->multiple ? c->lowest : tag;
  for (long s = from; s <= tag; s++) {
    if (!c->seen[s]) { c->seen[s] = 1; c->done++; }
  }
  while (c->lowest <= c->published && c->seen[c->lowest]) c->lowest++;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s HOST PORT COUNT SIZE WINDOW PREFETCH\n", argv[0]);
    return 64;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  long count = atol(argv[3]);
  size_t size = (size_t)atol(argv[4]);
  long window = atol(argv[5]);
  int prefetch = atoi(argv[6]);

  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t *socket = amqp_tcp_socket_new(conn);
  if (amqp_socket_open(socket, host, port) != AMQP_STATUS_OK) { fprintf(stderr, "connect failed\n"); return 1; }
  die_on_reply(amqp_login(conn, "/", 0, 131072, 30, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
  amqp_channel_open(conn, 1);
  die_on_reply(amqp_get_rpc_reply(conn), "channel.open");
  amqp_confirm_select(conn, 1);
  die_on_reply(amqp_get_rpc_reply(conn), "confirm.select");

  char queue_name[64];
  snprintf(queue_name, sizeof queue_name, "bench-c-%ld", (long)time(NULL) ^ (long)clock());
  amqp_table_entry_t args_entries[1];
  args_entries[0].key = amqp_cstring_bytes("x-queue-type");
  args_entries[0].value.kind = AMQP_FIELD_KIND_UTF8;
  args_entries[0].value.value.bytes = amqp_cstring_bytes("quorum");
  amqp_table_t args = {1, args_entries};
  amqp_bytes_t queue = amqp_cstring_bytes(queue_name);
  amqp_queue_declare(conn, 1, queue, 0, 1, 0, 0, args);
  die_on_reply(amqp_get_rpc_reply(conn), "queue.declare");

  char *body = malloc(size);
  memset(body, 'a', size);
  amqp_bytes_t message = {size, body};
  amqp_basic_properties_t props;
  memset(&props, 0, sizeof props);
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
  props.delivery_mode = 2;

  /* Publish with a window of unconfirmed messages; confirms may come out of order and with
     `multiple`, so count what each ack covers against a set of outstanding sequence numbers. */
  struct confirms confirms = {calloc((size_t)count + 2, 1), 0, 1, 0};
  double start = now();
  char id[32];
  while (confirms.done < count) {
    while (confirms.published < count && confirms.published - confirms.done < window) {
      snprintf(id, sizeof id, "%ld", confirms.published);
      props.message_id = amqp_cstring_bytes(id);
      if (amqp_basic_publish(conn, 1, amqp_empty_bytes, queue, 0, 0, &props, message) != AMQP_STATUS_OK) {
        fprintf(stderr, "publish failed\n");
        return 1;
      }
      confirms.published++;
      struct timeval zero = {0, 0};
      amqp_frame_t f;
      if (amqp_simple_wait_frame_noblock(conn, &f, &zero) == AMQP_STATUS_OK) on_frame(&f, &confirms);
      amqp_maybe_release_buffers(conn);
    }
    if (confirms.done >= count) break;
    amqp_frame_t f;
    if (amqp_simple_wait_frame(conn, &f) != AMQP_STATUS_OK) { fprintf(stderr, "wait failed\n"); return 1; }
    on_frame(&f, &confirms);
    amqp_maybe_release_buffers(conn);
  }
  double elapsed = now() - start;
  printf("c publish-confirm %.0f\n", count / elapsed);

  amqp_basic_qos(conn, 1, 0, (uint16_t)prefetch, 0);
  die_on_reply(amqp_get_rpc_reply(conn), "basic.qos");
  amqp_basic_consume(conn, 1, queue, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  die_on_reply(amqp_get_rpc_reply(conn), "basic.consume");
  long received = 0;
  start = now();
  while (received < count) {
    amqp_envelope_t envelope;
    amqp_maybe_release_buffers(conn);
    amqp_rpc_reply_t r = amqp_consume_message(conn, &envelope, NULL, 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        amqp_frame_t f;
        amqp_simple_wait_frame(conn, &f);
        continue;
      }
      fprintf(stderr, "consume failed\n");
      return 1;
    }
    amqp_basic_ack(conn, 1, envelope.delivery_tag, 0);
    amqp_destroy_envelope(&envelope);
    received++;
  }
  elapsed = now() - start;
  printf("c consume-ack %.0f\n", count / elapsed);

  amqp_queue_delete(conn, 1, queue, 0, 0);
  amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn);
  free(body);
  free(confirms.seen);
  return 0;
}
