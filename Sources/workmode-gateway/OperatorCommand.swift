import ArgumentParser
import Foundation
import Operations

/// Options every operator command shares with `run`.
struct ConfigOption: ParsableArguments {
    @Option(help: "YAML configuration file (default: $WMG_CONFIG, else built-in defaults plus WMG_ variables).")
    var config: String?
}

/// Runs an operator command: output lines to standard output as they come, a failure as one line
/// on standard error with the exit status of docs/contract.md section 9.
enum OperatorCommand {
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func complain(_ line: String) {
        FileHandle.standardError.write(Data(("workmode-gateway: " + line + "\n").utf8))
    }

    static func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as OperatorError {
            complain(error.description)
            throw ExitCode(error.status.rawValue)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            complain("\(error)")
            throw ExitCode(1)
        }
    }
}

extension CommandFile.Format: ExpressibleByArgument {}
