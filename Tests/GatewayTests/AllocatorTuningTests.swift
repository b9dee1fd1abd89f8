import Testing

@testable import Gateway

/// The daemon's glibc malloc settings: applied when the environment leaves them open, left alone
/// when the operator set glibc's own variables.
@Suite(.timeLimit(.minutes(10))) struct AllocatorTuningTests {
    @Test func appliesBothSettingsByDefault() {
        #expect(AllocatorTuning.apply(environment: [:]) == ["malloc.arenaMax": "2", "malloc.mmapThreshold": "1048576"])
    }

    @Test func theOperatorsVariablesWin() {
        #expect(AllocatorTuning.apply(environment: ["MALLOC_ARENA_MAX": "8"]) == ["malloc.mmapThreshold": "1048576"])
        #expect(AllocatorTuning.apply(environment: ["MALLOC_ARENA_MAX": "8", "MALLOC_MMAP_THRESHOLD_": "65536"]).isEmpty)
    }
}
