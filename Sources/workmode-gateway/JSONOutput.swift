import WorkModeDomain

/// `--json` output: one object per line on standard output and nothing else there, so a batch job
/// can parse what a command did (docs/cli.md). Human lines go nowhere in that mode.
enum JSONOutput {
    static func line(_ build: (inout JSONWriter) -> Void) {
        var writer = JSONWriter(capacity: 256)
        writer.beginObject()
        build(&writer)
        writer.endObject()
        OperatorCommand.say(String(decoding: writer.bytes, as: UTF8.self))
    }

    static func strings(_ writer: inout JSONWriter, _ key: String, _ values: [String]) {
        writer.beginArray(key)
        for value in values { writer.value(.string(value)) }
        writer.endArray()
    }
}
