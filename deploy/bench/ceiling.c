/* The broker's ceiling for the gateway's work, without HTTP: what a plain C loop against
 * librabbitmq does per command. It consumes the commands queue with PREFETCH, publishes one
 * persistent result event per command to the results exchange with publisher confirms keeping at
 * most WINDOW unconfirmed, and acks each command only after its result is confirmed (the
 * gateway's guarantee). Two connections, like the gateway: one consumes and acks, one publishes.
 *
 *   ceiling HOST PORT QUEUE RESULTS_EXCHANGE COUNT PREFETCH WINDOW
 *
 * Runs until COUNT commands are acked; the wmg-bench e2e driver publishes the commands and times
 * the result events, exactly as it does for the gateway. Prints its own CPU seconds at the end
 * (the benchmark's CPU budget), since it may be gone before anyone could read /proc.
 */
#include "bench_broker.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: %s HOST PORT QUEUE RESULTS_EXCHANGE COUNT PREFETCH WINDOW\n", argv[0]);
    return 64;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  amqp_bytes_t queue = amqp_cstring_bytes(argv[3]);
  amqp_bytes_t results = amqp_cstring_bytes(argv[4]);
  long count = atol(argv[5]);
  int prefetch = atoi(argv[6]);
  long window = atol(argv[7]);

  amqp_connection_state_t consumer = connect_broker(host, port, 30);
  amqp_connection_state_t publisher = connect_broker(host, port, 30);
  amqp_confirm_select(publisher, 1);
  check(amqp_get_rpc_reply(publisher), "confirm.select");
  amqp_basic_qos(consumer, 1, 0, (uint16_t)prefetch, 0);
  check(amqp_get_rpc_reply(consumer), "basic.qos");
  amqp_basic_consume(consumer, 1, queue, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  check(amqp_get_rpc_reply(consumer), "basic.consume");

  /* seq (1-based publish number) -> delivery tag of the command it answers */
  uint64_t *tag_of = calloc((size_t)count + 2, sizeof *tag_of);
  unsigned char *confirmed = calloc((size_t)count + 2, 1);
  long published = 0, lowest = 1, acked = 0;
  amqp_basic_properties_t props;
  memset(&props, 0, sizeof props);
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
  props.delivery_mode = 2;
  props.content_type = amqp_cstring_bytes("application/json");
  props.message_id = amqp_cstring_bytes("ceiling");
  char body[512];

  while (acked < count) {
    int took = 0;
    /* Take a command when the confirm window has room. */
    if (published - (lowest - 1) < window && published < count) {
      amqp_envelope_t envelope;
      amqp_maybe_release_buffers(consumer);
      struct timeval wait = {0, published == lowest - 1 ? 200000 : 0};
      amqp_rpc_reply_t r = amqp_consume_message(consumer, &envelope, &wait, 0);
      if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        amqp_bytes_t id = envelope.message.properties.message_id;
        int n = snprintf(body, sizeof body,
                         "{\"commandId\":\"%.*s\",\"status\":\"succeeded\",\"tenantId\":\"bench\",\"errorCode\":\"0\","
                         "\"errorMsg\":\"\",\"httpStatus\":200,\"attempts\":1,\"errors\":[],"
                         "\"receivedAt\":\"2026-11-25T10:00:00.123Z\",\"completedAt\":\"2026-11-25T10:00:00.145Z\",\"durationMs\":22.1}",
                         (int)id.len, (char *)id.bytes);
        amqp_bytes_t message = {(size_t)n, body};
        if (amqp_basic_publish(publisher, 1, results, amqp_cstring_bytes("succeeded"), 0, 0, &props, message) != AMQP_STATUS_OK) {
          fprintf(stderr, "ceiling: publish failed\n");
          return 1;
        }
        published++;
        took = 1;
        tag_of[published] = envelope.delivery_tag;
        amqp_destroy_envelope(&envelope);
      } else if (!(r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)) {
        amqp_frame_t f;
        if (amqp_simple_wait_frame(consumer, &f) != AMQP_STATUS_OK) { fprintf(stderr, "ceiling: consumer failed\n"); return 1; }
      }
    }
    /* Read confirms without blocking when there is still room; block when the window is full. */
    amqp_frame_t f;
    /* Nothing new to take: wait a moment for confirms rather than spin against the broker. */
    struct timeval pause = {0, took ? 0 : 1000};
    int full = published - (lowest - 1) >= window || published == count;
    int status = full ? amqp_simple_wait_frame(publisher, &f) : amqp_simple_wait_frame_noblock(publisher, &f, &pause);
    if (status == AMQP_STATUS_TIMEOUT) continue;
    if (status != AMQP_STATUS_OK) { fprintf(stderr, "ceiling: publisher failed\n"); return 1; }
    if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
      amqp_basic_ack_t *a = f.payload.method.decoded;
      long tag = (long)a->delivery_tag;
      for (long s = a->multiple ? lowest : tag; s <= tag; s++) confirmed[s] = 1;
      long before = lowest;
      while (lowest <= published && confirmed[lowest]) lowest++;
      /* Commands were taken in delivery order, so one multiple ack settles every confirmed one. */
      if (lowest > before) {
        amqp_basic_ack(consumer, 1, tag_of[lowest - 1], 1);
        acked += lowest - before;
      }
    }
    amqp_maybe_release_buffers(publisher);
  }
  close_and_print_cpu(consumer, publisher);
  return 0;
}
