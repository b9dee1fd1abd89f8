/// One `# HELP` line per metric family, which the metrics API the gateway records through cannot
/// carry: the admin listener inserts them into the registry's exposition before each `# TYPE`
/// line, so `promtool check metrics` is clean and a dashboard author reads what each one means.
enum MetricHelp {
    static let texts: [String: String] = [
        "wmg_replica_ordinal_claimed": "1 while this replica holds its replicas.ordinal; 0 while another live replica does.",
        "wmg_publish_confirm_seconds": "From publishing a result event or dead letter to the broker's answer (ack, nack or return).",
        "wmg_journal_bytes": "Size of the completion journal file.",
        "wmg_journal_records": "Records in the completion journal file (compaction starts past twice dedupe.capacity).",
        "wmg_journal_entries": "Commands the completion journal remembers now.",
        "wmg_journal_compactions": "Journal compactions since the gateway started.",
        "wmg_journal_volume_size_bytes": "Size of the file system holding the journal.",
        "wmg_journal_volume_free_bytes": "Free space on the file system holding the journal (for unprivileged users).",
        "wmg_oifde_connections": "Connections to OIFDE, by state: in_use carries a request, idle waits for one.",
        "wmg_oifde_connection_waiters": "Requests waiting for a connection to OIFDE (the pool is at oifde.maxConnections).",
        "process_cpu_seconds_total": "User and system CPU time spent, in seconds.",
        "process_resident_memory_bytes": "Resident memory size.",
        "process_virtual_memory_bytes": "Virtual memory size.",
        "process_open_fds": "Open file descriptors.",
        "process_max_fds": "The open file descriptor limit (RLIMIT_NOFILE).",
        "process_start_time_seconds": "Start time of the process since the epoch, in seconds.",
        "wmg_admission_waiting": "Commands waiting for permission to send: an in-flight slot, the breaker, or their tenant's rate.",
        "wmg_broker_connected": "1 while the broker connection is open.",
        "wmg_broker_reconnects_total": "Broker connections lost and opened again.",
        "wmg_build_info": "Always 1; the running version and git revision are its labels.",
        "wmg_circuit_state": "The circuit to OIFDE: 0 closed, 1 half-open, 2 open.",
        "wmg_circuit_status": "The circuit to OIFDE, one series per state: 1 for the current one.",
        "wmg_command_duration_seconds": "From a command's receipt to its acknowledgement, by status.",
        "wmg_command_outcomes_total": "Commands ended, by status (one result event each).",
        "wmg_command_retries_total": "Attempts after a command's first.",
        "wmg_commands_in_flight": "Commands taken from the queue and not yet acknowledged.",
        "wmg_commands_received_total": "Commands delivered by the broker.",
        "wmg_commands_republished_total": "Redelivered commands the journal knew as completed: their stored result was published again.",
        "wmg_concurrency_limit": "Requests to OIFDE allowed at once (moves under pipeline.adaptive).",
        "wmg_console_actions_total": "Dead-letter console actions, by action.",
        "wmg_dead_letters_oldest_age_seconds": "Age of the oldest open dead letter (0 when none): the next one retention deletes.",
        "wmg_trace_spans_dropped_total": "Finished spans the OTLP exporter gave up on: its queue was full, or an export failed or timed out.",
        "wmg_dead_letters_open": "Dead letters without a settlement (neither replayed nor purged).",
        "wmg_dead_letters_retention_seconds": "topology.deadLetterRetention: how long the stream keeps a letter.",
        "wmg_dead_letters_total": "Commands dead-lettered by this gateway, by class.",
        "wmg_dead_letters_watch_failures_total": "Readings of the dead letters that failed (the broker was away).",
        "wmg_lanes_waiting": "Calls whose next command waits behind the one in progress (per-call order).",
        "wmg_oifde_attempts_total": "changeWorkMode requests sent to OIFDE.",
        "wmg_oifde_request_duration_seconds": "changeWorkMode exchanges with OIFDE, by outcome.",
        "wmg_oldest_in_flight_age_seconds": "Age of the oldest command in flight.",
        "wmg_partition_active": "1 while deliveries of this partition reach this replica (within the last minute).",
        "wmg_partitions_active": "Partitions whose deliveries reached this replica within the last minute.",
        "wmg_partitions_configured": "topology.partitions: the configured partition count.",
        "wmg_pipeline_paused": "1 while new commands wait because a write the pipeline needs fails, by cause.",
        "wmg_publish_confirms_pending": "Result events and dead letters published and not yet confirmed by the broker.",
        "wmg_ready": "1 while /health/ready answers 200.",
        "wmg_token_fetches_total": "gettoken requests, by tenant and result.",
        "wmg_token_refreshes_total": "Tokens OIFDE refused and the gateway renewed, by tenant.",
    ]

    /// The exposition with a `# HELP` line before every `# TYPE` line of a family that has one.
    static func annotate(_ exposition: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(exposition.count + texts.count * 96)
        let typePrefix = Array("# TYPE ".utf8)
        var lineStart = 0
        while lineStart < exposition.count {
            let lineEnd = exposition[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? exposition.count
            let line = exposition[lineStart..<lineEnd]
            if line.starts(with: typePrefix) {
                let rest = line.dropFirst(typePrefix.count)
                let name = String(decoding: rest.prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
                if let text = texts[name] { output += Array("# HELP \(name) \(text)\n".utf8) }
            }
            output += line
            output.append(UInt8(ascii: "\n"))
            lineStart = lineEnd + 1
        }
        return output
    }
}
