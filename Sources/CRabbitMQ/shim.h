#ifndef CRABBITMQ_SHIM_H
#define CRABBITMQ_SHIM_H

/* amqp.h in 0.11 uses struct timeval without including its header. */
#include <sys/time.h>
#include <stdint.h>

#if __has_include(<rabbitmq-c/amqp.h>)          /* 0.12 and later */
#  include <rabbitmq-c/amqp.h>
#  include <rabbitmq-c/framing.h>
#  include <rabbitmq-c/tcp_socket.h>
#  include <rabbitmq-c/ssl_socket.h>
#else                                             /* 0.11 (Debian 12) */
#  include <amqp.h>
#  include <amqp_framing.h>
#  include <amqp_tcp_socket.h>
#  include <amqp_ssl_socket.h>
#endif

#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

/* The connection thread sleeps in poll(2) on its socket and on this eventfd, so work submitted
   from other threads wakes it at once. Glibc's Swift module does not export eventfd. */
static inline int CRabbitMQ_wakefd_create(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
static inline void CRabbitMQ_wakefd_signal(int fd) { (void)eventfd_write(fd, 1); }
static inline void CRabbitMQ_wakefd_drain(int fd) { eventfd_t value; (void)eventfd_read(fd, &value); }

/* Names the calling thread for the kernel (top -H, perf, gdb); prctl(2) is variadic. */
static inline void CRabbitMQ_name_thread(const char * _Nonnull name) { (void)prctl(PR_SET_NAME, name, 0, 0, 0); }

/* amqp_login_with_properties is C-variadic, which Swift cannot call. */
static inline amqp_rpc_reply_t CRabbitMQ_login_plain(
    amqp_connection_state_t _Nonnull state, const char * _Nonnull vhost, int channel_max,
    int frame_max, int heartbeat, const amqp_table_t * _Nonnull client_properties,
    const char * _Nonnull user, const char * _Nonnull password) {
  return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat,
                                    client_properties, AMQP_SASL_METHOD_PLAIN, user, password);
}

/* SASL EXTERNAL (client-certificate auth). 0.11 crashes on a NULL identity and fails on "",
   so callers must pass a non-empty identity. */
static inline amqp_rpc_reply_t CRabbitMQ_login_external(
    amqp_connection_state_t _Nonnull state, const char * _Nonnull vhost, int channel_max,
    int frame_max, int heartbeat, const amqp_table_t * _Nonnull client_properties,
    const char * _Nonnull identity) {
  return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat,
                                    client_properties, AMQP_SASL_METHOD_EXTERNAL, identity);
}

#endif
