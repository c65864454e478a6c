// The package's release build (scripts/package) builds this target without Swift Testing.
#if canImport(Testing)
import Foundation
import Testing

/// One private PostgreSQL cluster for a whole suite (`@Suite(..., SuiteCluster())`): started
/// before its first test and stopped after its last; tests make their own databases on it.
public struct SuiteCluster: SuiteTrait, TestScoping {
    /// Per suite (a task-local value, not a global): suites run in parallel, each with its own.
    @TaskLocal static var current: PostgresCluster?

    public init() {}

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let cluster = try PostgresCluster()
        defer { cluster.stop() }
        try await Self.$current.withValue(cluster) { try await function() }
    }

    /// The suite's cluster; an error outside a suite that has the trait.
    public static func running() throws -> PostgresCluster {
        guard let cluster = current else { throw ClusterError("no cluster: the suite lacks SuiteCluster()") }
        return cluster
    }
}
#endif
