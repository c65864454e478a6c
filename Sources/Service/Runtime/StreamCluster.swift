import Crypto
import Foundation
import Storage
import Support
import Synchronization

/// The answers in flight of every responder on one PostgreSQL database. Each responder beats four
/// times a second on its own connection: it deletes the rows of answers it ended, refreshes its
/// rows, and sets the stop flag of those someone asked to stop. A stop is a row update plus a
/// `NOTIFY`; the notification only wakes the holder early, the row is what it acts on, so a lost
/// notification costs at most one beat. A responder that died stops beating: after
/// `staleSeconds` its rows are dropped and its unfinished answers marked `interrupted`.
package final class StreamCluster: Sendable {
    package let responder: String
    static let stopChannel = "cryotensor_stop"
    static let staleSeconds: Int64 = 10
    static let beat = 0.25
    static let sweepEvery = 2.0
    let started = Atomic<Bool>(false)
    /// A connection of its own for deleting a row as its answer ends (a stop that comes after
    /// must find nothing); the stream threads never wait for the pool for it.
    let closer = Mutex<ClosingConnection?>(nil)

    final class ClosingConnection: @unchecked Sendable {  // used only under `closer`'s lock
        let services: Services
        init(_ services: Services) { self.services = services }
    }

    init() {
        responder = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(Encoding.hex(Crypto.Random.bytes(4)))"
    }

    func open(_ ticket: StreamTicket, limit: Int, db: Database, closed: [String]) throws -> LiveStreamRepository.Opening {
        let repo = LiveStreamRepository(db)
        try repo.close(ids: closed)
        return try repo.open(
            id: ticket.id, responder: responder, userID: ticket.userID, chatID: ticket.chatID, limit: limit, staleSeconds: Self.staleSeconds
        )
    }

    func requestStop(chatID: Int64, userID: Int64, db: Database) throws -> Bool {
        guard try LiveStreamRepository(db).requestStop(chatID: chatID, userID: userID) else { return false }
        try db.notify(Self.stopChannel)
        return true
    }

    /// Answers a responder that died left `streaming`, marked `interrupted` (at start-up and on every sweep).
    package static func sweep(_ db: Database) throws -> Int {
        try LiveStreamRepository(db).sweep(staleSeconds: staleSeconds)
    }

    /// Deletes the answer's row now; false when that failed (the heartbeat then tries again).
    func close(id: String) -> Bool {
        closer.withLock { connection in
            guard let connection else { return false }
            return (try? LiveStreamRepository(connection.services.db).close(ids: [id])) != nil
        }
    }

    /// Starts the heartbeat once, on its own database connection, and opens the closing connection.
    package func start(registry: StreamRegistry, services: @escaping @Sendable () -> Services?) {
        guard started.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged else { return }
        if let own = services() {
            // Counted before the first answer opens: a sweep elsewhere drops rows of unknown responders.
            if (try? LiveStreamRepository(own.db).heartbeat(responder: responder)) == nil {
                Log.event(.warn, "stream_heartbeat_failed", ["error": "first beat"])
            }
            closer.withLock { $0 = ClosingConnection(own) }
        }
        let thread = Thread { [self] in
            guard let services = services() else {
                Log.event(.error, "stream_heartbeat_not_started", [:])
                return
            }
            run(registry: registry, db: services.db)
        }
        thread.name = "stream-heartbeat"
        thread.start()
    }

    func run(registry: StreamRegistry, db: Database) {
        let repo = LiveStreamRepository(db)
        var listening = false
        var lastSweep = 0.0
        var failing = false
        while true {
            do {
                if !listening {
                    try db.listen(Self.stopChannel)
                    listening = true
                }
                _ = try db.awaitNotification(timeout: Self.beat)
                let closed = registry.takeClosed()
                do { try repo.close(ids: closed) } catch { registry.returnClosed(closed); throw error }
                let beat = try repo.heartbeat(responder: responder)
                registry.stopLocal(ids: beat.stopped)
                if beat.rejoined {
                    // Swept while silent (a stall, or a clock this responder does not control): its
                    // answers count again, and a stop can find them.
                    for ticket in registry.liveTickets() {
                        try repo.register(id: ticket.id, responder: responder, userID: ticket.userID, chatID: ticket.chatID)
                    }
                    Log.event(.warn, "stream_heartbeat_rejoined", ["answers": JSON(registry.inFlight)])
                }
                let now = Date().timeIntervalSince1970
                if now - lastSweep >= Self.sweepEvery {
                    lastSweep = now
                    let interrupted = try Self.sweep(db)
                    if interrupted > 0 { Log.event(.warn, "answers_interrupted", ["count": JSON(interrupted), "by": "stale responder"]) }
                }
                if failing { Log.event(.info, "stream_heartbeat_recovered", [:]) }
                failing = false
            } catch {
                // The connection resets itself before the next statement; LISTEN must be said again.
                if !failing { Log.event(.warn, "stream_heartbeat_failed", ["error": .string(String(describing: error))]) }
                failing = true
                listening = false
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }
}
