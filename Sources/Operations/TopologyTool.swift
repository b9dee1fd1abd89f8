import AMQP
import GatewayConfig

/// `topology declare|check`.
public struct TopologyTool {
    let context: OperatorContext

    /// The tool for the configuration's topology.
    public init(context: OperatorContext) { self.context = context }

    /// Declares every exchange, queue and binding (idempotent); a queue with other arguments is refused in one line.
    public func declare(say: (String) -> Void) async throws {
        let connection = try await context.connect(as: "topology declare")
        do {
            for line in try await Topology(context.configuration.topology).declare(on: connection) { say(line) }
        } catch let problem as Topology.Problem {
            await connection.close()
            throw OperatorError(.runtime, problem.description)
        } catch {
            await connection.close()
            throw OperatorError(.runtime, "cannot declare the topology: \(error)")
        }
        await connection.close()
    }

    /// Reports every entity; fails when one is missing or differs from docs/contract.md section 7.
    public func check(say: (String) -> Void) async throws {
        let lines = try await report()
        for line in lines { say(line.line) }
        let differing = lines.filter { !$0.ok }.count
        if differing > 0 { throw OperatorError(.drift, "\(differing) entities are missing or differ from the specified topology") }
    }

    /// Every entity as found, without judging: what `check` prints and `check --json` reports.
    public func report() async throws -> [Topology.CheckLine] {
        let connection = try await context.connect(as: "topology check")
        let lines: [Topology.CheckLine]
        do {
            lines = try await Topology(context.configuration.topology).check(on: connection, verifyArguments: true)
        } catch let problem as Topology.Problem {
            await connection.close()
            throw OperatorError(.runtime, problem.description)
        } catch {
            await connection.close()
            throw OperatorError(.runtime, "cannot check the topology: \(error)")
        }
        await connection.close()
        return lines
    }
}
