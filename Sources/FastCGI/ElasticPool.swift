import CFastCGI
import Foundation
import Support

/// Threads for long requests: one per request in flight, up to `lanes.maxLong`. A thread that
/// finishes waits 30 s for more work, then exits, so the pool grows with the load and shrinks
/// after it. A waiting stream costs a mostly idle thread (a small stack), not a slot of the
/// accepting threads.
final class ElasticPool: @unchecked Sendable {
    struct Job {
        let request: UnsafeMutablePointer<FCGX_Request>
        let parsed: Request
    }

    let lanes: Lanes
    unowned let server: Server
    let condition = NSCondition()
    // Guarded by `condition`.
    var jobs: [Job] = []
    var active = 0
    var idle = 0
    var threads = 0
    static let idleSeconds = 30.0
    static let stackSize = 1 << 20

    init(lanes: Lanes, server: Server) {
        self.lanes = lanes
        self.server = server
    }

    /// Queues a long request; false when `maxLong` are already in flight (the caller answers busy).
    func start(_ request: UnsafeMutablePointer<FCGX_Request>, _ parsed: Request) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard active < lanes.maxLong else { return false }
        active += 1
        jobs.append(Job(request: request, parsed: parsed))
        if idle >= jobs.count {
            condition.signal()
        } else {
            threads += 1
            let thread = Thread { [self] in work() }
            thread.name = "fcgi-long"
            thread.stackSize = Self.stackSize
            thread.start()
        }
        return true
    }

    /// Elastic threads run at a lower priority (nice +5): when a thousand answers wake at once,
    /// the accepting threads (logins, health checks) and nginx still get the CPU first. A
    /// sandbox that forbids setpriority leaves them at the normal priority.
    static let niceness: Int32 = 5

    func work() {
        _ = cfastcgi_nice_this_thread(Self.niceness)
        while let job = next() {
            let writer = ResponseWriter(stream: job.request.pointee.out)
            lanes.long(job.parsed, writer)
            server.finishHandedOver(job.request)
            condition.lock()
            active -= 1
            condition.unlock()
        }
    }

    /// The next job, or nil after `idleSeconds` without one (the thread then ends).
    func next() -> Job? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(Self.idleSeconds)
        while jobs.isEmpty {
            idle += 1
            let signalled = condition.wait(until: deadline)
            idle -= 1
            if !signalled && jobs.isEmpty {
                threads -= 1
                return nil
            }
        }
        return jobs.removeFirst()
    }
}
