import Foundation
import Synchronization
import Testing

/// One private PostgreSQL cluster for a whole suite (`@Suite(..., SuiteCluster())`): started
/// before its first test and stopped after its last; tests make their own databases on it.
public struct SuiteCluster: SuiteTrait, TestScoping {
    static let current = Mutex<PostgresCluster?>(nil)

    public init() {}

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let cluster = try PostgresCluster()
        Self.current.withLock { $0 = cluster }
        defer {
            Self.current.withLock { $0 = nil }
            cluster.stop()
        }
        try await function()
    }

    /// The suite's cluster; an error outside a suite that has the trait.
    public static func running() throws -> PostgresCluster {
        guard let cluster = current.withLock({ $0 }) else { throw ClusterError("no cluster: the suite lacks SuiteCluster()") }
        return cluster
    }
}
