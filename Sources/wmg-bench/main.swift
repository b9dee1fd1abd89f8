// Benchmarks that print figures. Driven by deploy/local/bench-*.sh; never run as tests.
//
//   wmg-bench amqp URL COUNT SIZE WINDOW PREFETCH   the AMQP client against a broker
//   wmg-bench decode [COUNT]                         decode + validate of a transfer command
//   wmg-bench oifde BASE_URL CONCURRENCY SECONDS     the OIFDE client against a running simulator
//   wmg-bench plain-http HOST PORT CONCURRENCY SECONDS  the same requests over bare NIOHTTP1 (the floor)
//   wmg-bench e2e URL COMMANDS_EXCHANGE RESULTS_EXCHANGE COUNT RATE SIM_LATENCY_MS LABEL [ROUTING_KEY [ID_PREFIX]]
//     (ROUTING_KEY batch sends to the batch queue; two drivers with other ID_PREFIXes can run at once;
//     reply: listen on a reply_to queue of its own, not on the results exchange)
//                                                    commands in, result events out (one JSON line)
//   wmg-bench journal [COMMANDS] [CAPACITY] [inline] the completion journal alone: per-command wait

import Foundation
import Gateway

let arguments = CommandLine.arguments.dropFirst()
switch arguments.first {
case "amqp":
    let rest = Array(arguments.dropFirst())
    guard rest.count == 5, let count = Int(rest[1]), let size = Int(rest[2]), let window = Int(rest[3]),
        let prefetch = UInt16(rest[4])
    else {
        FileHandle.standardError.write(Data("usage: wmg-bench amqp URL COUNT SIZE WINDOW PREFETCH\n".utf8))
        exit(64)
    }
    do {
        try await AMQPBenchmark(url: rest[0], count: count, size: size, window: window, prefetch: prefetch).run()
    } catch {
        FileHandle.standardError.write(Data("wmg-bench: \(error)\n".utf8))
        exit(1)
    }
case "plain-http":
    let rest = Array(arguments.dropFirst())
    guard rest.count == 4, let port = Int(rest[1]), let concurrency = Int(rest[2]), let seconds = Double(rest[3]) else {
        FileHandle.standardError.write(Data("usage: wmg-bench plain-http HOST PORT CONCURRENCY SECONDS\n".utf8))
        exit(64)
    }
    do {
        try await PlainHTTPBenchmark(host: rest[0], port: port, concurrency: concurrency, seconds: seconds).run()
    } catch {
        FileHandle.standardError.write(Data("wmg-bench: \(error)\n".utf8))
        exit(1)
    }
case "oifde":
    let rest = Array(arguments.dropFirst())
    guard rest.count == 3, let concurrency = Int(rest[1]), let seconds = Double(rest[2]) else {
        FileHandle.standardError.write(Data("usage: wmg-bench oifde BASE_URL CONCURRENCY SECONDS\n".utf8))
        exit(64)
    }
    do {
        try await OIFDEBenchmark(baseURL: rest[0], concurrency: concurrency, seconds: seconds).run()
    } catch {
        FileHandle.standardError.write(Data("wmg-bench: \(error)\n".utf8))
        exit(1)
    }
case "e2e":
    let rest = Array(arguments.dropFirst())
    guard (7...10).contains(rest.count), let count = Int(rest[3]), let rate = Double(rest[4]), let latency = Double(rest[5]) else {
        FileHandle.standardError.write(
            Data(
                "usage: wmg-bench e2e URL COMMANDS_EXCHANGE RESULTS_EXCHANGE COUNT RATE SIM_LATENCY_MS LABEL [ROUTING_KEY [ID_PREFIX [reply]]]\n".utf8
            ))
        exit(64)
    }
    do {
        try await EndToEndBenchmark(
            url: rest[0], commandsExchange: rest[1], resultsExchange: rest[2], count: count, rate: rate, simulatorLatencyMs: latency,
            label: rest[6], routingKey: rest.count > 7 ? rest[7] : "change", idPrefix: rest.count > 8 ? rest[8] : "e2e-",
            viaReplyTo: rest.count > 9 && rest[9] == "reply"
        ).run()
    } catch {
        FileHandle.standardError.write(Data("wmg-bench: \(error)\n".utf8))
        exit(1)
    }
case "journal":
    let rest = Array(arguments.dropFirst())
    let commands = rest.first.flatMap { Int($0) } ?? 1_000_000
    let capacity = rest.dropFirst().first.flatMap { Int($0) } ?? 100_000
    // As the daemon runs.
    AllocatorTuning.apply(environment: ProcessInfo.processInfo.environment)
    do {
        try JournalBenchmark(commands: commands, capacity: capacity, inline: rest.dropFirst(2).first == "inline").run()
    } catch {
        FileHandle.standardError.write(Data("wmg-bench: \(error)\n".utf8))
        exit(1)
    }
case "decode":
    let count = arguments.dropFirst().first.flatMap { Int($0) } ?? 1_000_000
    DecodeBenchmark(count: count).run()
default:
    FileHandle.standardError.write(Data("usage: wmg-bench amqp|decode|oifde|e2e|journal ...\n".utf8))
    exit(64)
}
