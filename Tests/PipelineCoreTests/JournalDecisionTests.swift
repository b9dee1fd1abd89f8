import PipelineCore
import Testing

/// The journal's answer decides between re-publishing and forwarding, and whether a forward is in
/// doubt (docs/contract.md sections 4 and 11).
@Suite(.timeLimit(.minutes(10))) struct JournalDecisionTests {
    @Test(arguments: [
        (JournalDecision.Entry.completed, false, JournalDecision.republishStored),
        (.completed, true, .republishStored),
        (.started, false, .forward(inDoubt: true)),
        (.started, true, .forward(inDoubt: true)),
        (.unknown, false, .forward(inDoubt: false)),
        (.unknown, true, .forward(inDoubt: true)),
    ])
    func aKnownOutcomeIsNeverForwardedAndAnUnknownRedeliveryIsInDoubt(
        entry: JournalDecision.Entry, redelivered: Bool, decision: JournalDecision
    ) {
        #expect(JournalDecision.decide(entry, redelivered: redelivered) == decision)
    }
}
