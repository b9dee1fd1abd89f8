internal import CRabbitMQ

extension MessageProperties {
    private static func flag(_ value: Int32) -> amqp_flags_t { amqp_flags_t(truncatingIfNeeded: value) }

    func cProperties(in arena: CArena) -> amqp_basic_properties_t {
        var p = amqp_basic_properties_t()
        var flags: amqp_flags_t = 0
        if let contentType {
            flags |= Self.flag(AMQP_BASIC_CONTENT_TYPE_FLAG)
            p.content_type = arena.bytes(contentType)
        }
        if let contentEncoding {
            flags |= Self.flag(AMQP_BASIC_CONTENT_ENCODING_FLAG)
            p.content_encoding = arena.bytes(contentEncoding)
        }
        if let headers {
            flags |= Self.flag(AMQP_BASIC_HEADERS_FLAG)
            p.headers = arena.table(headers)
        }
        if let deliveryMode {
            flags |= Self.flag(AMQP_BASIC_DELIVERY_MODE_FLAG)
            p.delivery_mode = deliveryMode.rawValue
        }
        if let priority {
            flags |= Self.flag(AMQP_BASIC_PRIORITY_FLAG)
            p.priority = priority
        }
        if let correlationId {
            flags |= Self.flag(AMQP_BASIC_CORRELATION_ID_FLAG)
            p.correlation_id = arena.bytes(correlationId)
        }
        if let replyTo {
            flags |= Self.flag(AMQP_BASIC_REPLY_TO_FLAG)
            p.reply_to = arena.bytes(replyTo)
        }
        if let expiration {
            flags |= Self.flag(AMQP_BASIC_EXPIRATION_FLAG)
            p.expiration = arena.bytes(expiration)
        }
        if let messageId {
            flags |= Self.flag(AMQP_BASIC_MESSAGE_ID_FLAG)
            p.message_id = arena.bytes(messageId)
        }
        if let timestamp {
            flags |= Self.flag(AMQP_BASIC_TIMESTAMP_FLAG)
            p.timestamp = timestamp
        }
        if let type {
            flags |= Self.flag(AMQP_BASIC_TYPE_FLAG)
            p.type = arena.bytes(type)
        }
        if let userId {
            flags |= Self.flag(AMQP_BASIC_USER_ID_FLAG)
            p.user_id = arena.bytes(userId)
        }
        if let appId {
            flags |= Self.flag(AMQP_BASIC_APP_ID_FLAG)
            p.app_id = arena.bytes(appId)
        }
        if let clusterId {
            flags |= Self.flag(AMQP_BASIC_CLUSTER_ID_FLAG)
            p.cluster_id = arena.bytes(clusterId)
        }
        p._flags = flags
        return p
    }

    init(copying p: amqp_basic_properties_t) {
        self.init()
        func has(_ value: Int32) -> Bool { p._flags & Self.flag(value) != 0 }
        if has(AMQP_BASIC_CONTENT_TYPE_FLAG) { contentType = String(copyingText: p.content_type) }
        if has(AMQP_BASIC_CONTENT_ENCODING_FLAG) { contentEncoding = String(copyingText: p.content_encoding) }
        if has(AMQP_BASIC_HEADERS_FLAG) { headers = FieldTable(copying: p.headers) }
        if has(AMQP_BASIC_DELIVERY_MODE_FLAG) { deliveryMode = DeliveryMode(rawValue: p.delivery_mode) }
        if has(AMQP_BASIC_PRIORITY_FLAG) { priority = p.priority }
        if has(AMQP_BASIC_CORRELATION_ID_FLAG) { correlationId = String(copyingText: p.correlation_id) }
        if has(AMQP_BASIC_REPLY_TO_FLAG) { replyTo = String(copyingText: p.reply_to) }
        if has(AMQP_BASIC_EXPIRATION_FLAG) { expiration = String(copyingText: p.expiration) }
        if has(AMQP_BASIC_MESSAGE_ID_FLAG) { messageId = String(copyingText: p.message_id) }
        if has(AMQP_BASIC_TIMESTAMP_FLAG) { timestamp = p.timestamp }
        if has(AMQP_BASIC_TYPE_FLAG) { type = String(copyingText: p.type) }
        if has(AMQP_BASIC_USER_ID_FLAG) { userId = String(copyingText: p.user_id) }
        if has(AMQP_BASIC_APP_ID_FLAG) { appId = String(copyingText: p.app_id) }
        if has(AMQP_BASIC_CLUSTER_ID_FLAG) { clusterId = String(copyingText: p.cluster_id) }
    }
}
