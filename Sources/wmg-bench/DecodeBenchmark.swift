struct DecodeBenchmark {
    let count: Int
    func run() { print("decode benchmark: not built yet") }
}
