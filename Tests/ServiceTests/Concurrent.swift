import Dispatch

/// Runs `body` on `times` threads at once and waits for all of them.
enum DispatchQueueConcurrent {
    static func run(times: Int, _ body: @Sendable (Int) -> Void) {
        DispatchQueue.concurrentPerform(iterations: times, execute: body)
    }
}
