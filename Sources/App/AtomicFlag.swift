import Synchronization

/// A flag that reports whether it changed, so a state change is logged once, not per request.
final class AtomicFlag: Sendable {
    let value = Atomic(false)
    /// True when the flag was clear before.
    func set() -> Bool { !value.exchange(true, ordering: .sequentiallyConsistent) }
    /// True when the flag was set before.
    func clear() -> Bool { value.exchange(false, ordering: .sequentiallyConsistent) }
}
