/* The whole job in plain C, single-threaded, as the yardstick beside every gateway row: consume a
 * command, POST its body over a raw HTTP/1.1 keep-alive connection, publish one persistent result
 * with publisher confirms, and ack the command only after its result is confirmed. No JSON work,
 * no journal, no validation: the least any gateway must do. SLOTS keep-alive connections, each
 * with at most one request outstanding, play the gateway's maxInFlight (HTTP/1.1 without
 * pipelining, as the gateway's client does). One poll() waits on the broker's two sockets and
 * every busy HTTP connection, so an idle relay sleeps rather than spins.
 *
 *   relay AMQP_HOST AMQP_PORT QUEUE RESULTS_EXCHANGE COUNT PREFETCH WINDOW HTTP_HOST HTTP_PORT PATH SLOTS
 *
 * Runs until COUNT commands are acked; the wmg-bench e2e driver publishes the commands and times
 * the result events, as it does for the gateway. Prints its CPU seconds at the end.
 */
#define _GNU_SOURCE  /* memmem */
#include "bench_broker.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_http(const char *host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &address.sin_addr);
  if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) { fprintf(stderr, "relay: http connect failed\n"); exit(1); }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/* One keep-alive connection and the command it is answering (0: idle). */
typedef struct {
  int fd;
  uint64_t delivery_tag;
  char message_id[128];
  char buffer[8192];
  size_t filled;
} slot_t;

/* A whole response is in the buffer: headers, then Content-Length bytes. Returns its length. */
static size_t complete_response(const slot_t *slot) {
  const char *end = memmem(slot->buffer, slot->filled, "\r\n\r\n", 4);
  if (!end) return 0;
  size_t head = (size_t)(end - slot->buffer) + 4;
  const char *length = memmem(slot->buffer, head, "Content-Length:", 15);
  if (!length) length = memmem(slot->buffer, head, "content-length:", 15);
  size_t body = length ? (size_t)atol(length + 15) : 0;
  return slot->filled >= head + body ? head + body : 0;
}

int main(int argc, char **argv) {
  if (argc != 12) {
    fprintf(stderr, "usage: %s AMQP_HOST AMQP_PORT QUEUE RESULTS_EXCHANGE COUNT PREFETCH WINDOW HTTP_HOST HTTP_PORT PATH SLOTS\n", argv[0]);
    return 64;
  }
  amqp_bytes_t queue = amqp_cstring_bytes(argv[3]);
  amqp_bytes_t results = amqp_cstring_bytes(argv[4]);
  long count = atol(argv[5]);
  int prefetch = atoi(argv[6]);
  long window = atol(argv[7]);
  const char *http_host = argv[8];
  int http_port = atoi(argv[9]);
  const char *path = argv[10];
  int slots_count = atoi(argv[11]);

  amqp_connection_state_t consumer = connect_broker(argv[1], atoi(argv[2]), 0);
  amqp_connection_state_t publisher = connect_broker(argv[1], atoi(argv[2]), 0);
  amqp_confirm_select(publisher, 1);
  check(amqp_get_rpc_reply(publisher), "confirm.select");
  amqp_basic_qos(consumer, 1, 0, (uint16_t)prefetch, 0);
  check(amqp_get_rpc_reply(consumer), "basic.qos");
  amqp_basic_consume(consumer, 1, queue, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  check(amqp_get_rpc_reply(consumer), "basic.consume");

  slot_t *slots = calloc((size_t)slots_count, sizeof *slots);
  for (int i = 0; i < slots_count; i++) slots[i].fd = connect_http(http_host, http_port);
  int busy = 0;

  /* seq (1-based publish number) -> delivery tag of the command it answers. Results are
   * published in the order answers come back, so acks are single (not multiple). */
  uint64_t *tag_of = calloc((size_t)count + 2, sizeof *tag_of);
  unsigned char *confirmed = calloc((size_t)count + 2, 1);
  long published = 0, acked = 0, taken = 0;
  int consumer_ready = 1;
  amqp_basic_properties_t props;
  memset(&props, 0, sizeof props);
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
  props.delivery_mode = 2;
  props.content_type = amqp_cstring_bytes("application/json");
  char request[4096], body[512];
  struct pollfd *fds = calloc((size_t)slots_count + 2, sizeof *fds);
  int *slot_of = calloc((size_t)slots_count + 2, sizeof *slot_of);

  while (acked < count) {
    /* Take commands while a connection is idle and the confirm window has room. */
    while (busy < slots_count && published - acked < window && taken < count &&
           (consumer_ready || amqp_data_in_buffer(consumer) || amqp_frames_enqueued(consumer))) {
      amqp_envelope_t envelope;
      amqp_maybe_release_buffers(consumer);
      struct timeval zero = {0, 0};
      amqp_rpc_reply_t r = amqp_consume_message(consumer, &envelope, &zero, 0);
      if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
          consumer_ready = 0;
          break;
        }
        amqp_frame_t f;
        if (amqp_simple_wait_frame(consumer, &f) != AMQP_STATUS_OK) { fprintf(stderr, "relay: consumer failed\n"); return 1; }
        continue;
      }
      slot_t *slot = NULL;
      for (int i = 0; i < slots_count && !slot; i++) if (!slots[i].delivery_tag) slot = &slots[i];
      amqp_bytes_t id = envelope.message.properties.message_id;
      snprintf(slot->message_id, sizeof slot->message_id, "%.*s", (int)id.len, (char *)id.bytes);
      slot->delivery_tag = envelope.delivery_tag;
      slot->filled = 0;
      int n = snprintf(request, sizeof request,
                       "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%.*s", path,
                       http_host, envelope.message.body.len, (int)envelope.message.body.len, (char *)envelope.message.body.bytes);
      if (write(slot->fd, request, (size_t)n) != n) { fprintf(stderr, "relay: http write failed\n"); return 1; }
      amqp_destroy_envelope(&envelope);
      busy++;
      taken++;
    }

    /* Wait for an answer, a confirm or a delivery; at once when librabbitmq holds frames already. */
    int n = 0;
    for (int i = 0; i < slots_count; i++) {
      if (!slots[i].delivery_tag) continue;
      fds[n] = (struct pollfd){.fd = slots[i].fd, .events = POLLIN};
      slot_of[n++] = i;
    }
    int consumer_index = -1, publisher_index = n;
    fds[n++] = (struct pollfd){.fd = amqp_get_sockfd(publisher), .events = POLLIN};
    if (busy < slots_count && taken < count && published - acked < window) {
      consumer_index = n;
      fds[n++] = (struct pollfd){.fd = amqp_get_sockfd(consumer), .events = POLLIN};
    }
    int buffered = amqp_data_in_buffer(publisher) || amqp_frames_enqueued(publisher) ||
                   (consumer_index >= 0 && (amqp_data_in_buffer(consumer) || amqp_frames_enqueued(consumer)));
    if (poll(fds, (nfds_t)n, buffered ? 0 : 1000) < 0 && errno != EINTR) { fprintf(stderr, "relay: poll failed\n"); return 1; }
    consumer_ready = consumer_index >= 0 && (fds[consumer_index].revents & POLLIN);

    /* Answers: publish each command's result. */
    for (int k = 0; k < publisher_index; k++) {
      if (!(fds[k].revents & POLLIN)) continue;
      slot_t *slot = &slots[slot_of[k]];
      ssize_t got = read(slot->fd, slot->buffer + slot->filled, sizeof slot->buffer - slot->filled);
      if (got <= 0) { fprintf(stderr, "relay: http read failed\n"); return 1; }
      slot->filled += (size_t)got;
      if (!complete_response(slot)) continue;
      int length = snprintf(body, sizeof body,
                            "{\"commandId\":\"%s\",\"status\":\"succeeded\",\"tenantId\":\"bench\",\"errorCode\":\"0\","
                            "\"errorMsg\":\"\",\"httpStatus\":200,\"attempts\":1,\"errors\":[],"
                            "\"receivedAt\":\"2026-11-25T10:00:00.123Z\",\"completedAt\":\"2026-11-25T10:00:00.145Z\",\"durationMs\":22.1}",
                            slot->message_id);
      props.message_id = amqp_cstring_bytes(slot->message_id);
      amqp_bytes_t message = {(size_t)length, body};
      if (amqp_basic_publish(publisher, 1, results, amqp_cstring_bytes("succeeded"), 0, 0, &props, message) != AMQP_STATUS_OK) {
        fprintf(stderr, "relay: publish failed\n");
        return 1;
      }
      tag_of[++published] = slot->delivery_tag;
      slot->delivery_tag = 0;
      busy--;
    }

    /* Confirms: ack each confirmed command. */
    while (fds[publisher_index].revents & POLLIN || amqp_data_in_buffer(publisher) || amqp_frames_enqueued(publisher)) {
      fds[publisher_index].revents = 0;
      amqp_frame_t f;
      struct timeval zero = {0, 0};
      int status = amqp_simple_wait_frame_noblock(publisher, &f, &zero);
      if (status == AMQP_STATUS_TIMEOUT) break;
      if (status != AMQP_STATUS_OK) { fprintf(stderr, "relay: publisher failed\n"); return 1; }
      if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        amqp_basic_ack_t *a = f.payload.method.decoded;
        long last = (long)a->delivery_tag;
        for (long s = a->multiple ? acked + 1 : last; s <= last; s++) confirmed[s] = 1;
        /* Ack in publish order, each as soon as its own result is confirmed. */
        while (acked < published && confirmed[acked + 1]) {
          amqp_basic_ack(consumer, 1, tag_of[acked + 1], 0);
          acked++;
        }
      }
      amqp_maybe_release_buffers(publisher);
    }
  }
  close_and_print_cpu(consumer, publisher);
  return 0;
}
