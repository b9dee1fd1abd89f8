import PipelineCore
import Testing

/// The journal's answer decides between re-publishing and forwarding, and whether a forward is in
/// doubt (docs/contract.md sections 4 and 11).
@Suite(.timeLimit(.minutes(10))) struct JournalDecisionTests {
    typealias Decision = JournalDecision<String>

    @Test(arguments: [
        (Decision.Entry.completed("stored result"), false, Decision.republishStored("stored result")),
        (.completed("stored result"), true, .republishStored("stored result")),
        (.started, false, .forward(inDoubt: true)),
        (.started, true, .forward(inDoubt: true)),
        (.unknown, false, .forward(inDoubt: false)),
        (.unknown, true, .forward(inDoubt: true)),
    ])
    func aKnownOutcomeIsNeverForwardedAndAnUnknownRedeliveryIsInDoubt(entry: Decision.Entry, redelivered: Bool, decision: Decision) {
        #expect(Decision.decide(entry, redelivered: redelivered) == decision)
    }
}
