import Support
import Synchronization

/// Whether Redis answers, shared by every thread's `Cache` of a process, so that the first
/// failure and the recovery are each reported once, not once per request or per thread.
public final class CacheHealth: Sendable {
    public enum Change: Sendable, Equatable {
        /// The first failure after Redis answered (or since start).
        case unavailable(reason: String)
        /// The first answer after a failure.
        case recovered
    }

    let down = Atomic(false)
    let report: @Sendable (Change) -> Void

    /// `report` hears each change once; by default it is logged (`redis_unavailable`, `redis_recovered`).
    public init(report: @escaping @Sendable (Change) -> Void = CacheHealth.log) {
        self.report = report
    }

    public var isDown: Bool { down.load(ordering: .relaxed) }

    public func failed(_ reason: String) {
        if !down.exchange(true, ordering: .sequentiallyConsistent) { report(.unavailable(reason: reason)) }
    }

    public func answered() {
        // A plain load first: the common case (up, staying up) costs no write to shared memory.
        guard down.load(ordering: .relaxed) else { return }
        if down.exchange(false, ordering: .sequentiallyConsistent) { report(.recovered) }
    }

    public static func log(_ change: Change) {
        switch change {
        case .unavailable(let reason): Log.event(.warn, "redis_unavailable", ["reason": .string(reason)])
        case .recovered: Log.event(.info, "redis_recovered")
        }
    }
}
