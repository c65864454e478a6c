import Synchronization

/// A flag that reports whether it changed, so a state change is logged once, not per request.
package final class AtomicFlag: Sendable {
    package let value = Atomic(false)
    /// True when the flag was clear before.
    package func set() -> Bool { !value.exchange(true, ordering: .sequentiallyConsistent) }
    /// True when the flag was set before.
    package func clear() -> Bool { value.exchange(false, ordering: .sequentiallyConsistent) }
}
