import Crypto
import Foundation
import Storage
import Support
import Synchronization

/// One answer in flight: whose, for which chat, and whether someone asked it to stop.
public final class StreamTicket: Sendable {
    package let id: String
    package let userID: Int64
    package let chatID: Int64?
    package let stopFlag = Atomic<Bool>(false)

    package init(userID: Int64, chatID: Int64?) {
        self.id = Encoding.hex(Crypto.Random.bytes(12))
        self.userID = userID
        self.chatID = chatID
    }

    /// True once `POST /chats/{id}/stop` asked this answer to end.
    public var stopRequested: Bool { stopFlag.load(ordering: .relaxed) }
    package func requestStop() { stopFlag.store(true, ordering: .relaxed) }
}

/// The streams in flight: counted per user for `max_streams_per_user`, found by chat for stop.
/// On SQLite (one responder) this process's memory is the whole truth (SPEC section 2). On
/// PostgreSQL several responders share the limits and stops through `live_streams`
/// (`StreamCluster`); the memory here then only finds this process's own tickets.
public final class StreamRegistry: Sendable {
    package struct State {
        var byChat: [Int64: StreamTicket] = [:]
        var byID: [String: StreamTicket] = [:]
        var perUser: [Int64: Int] = [:]
        var total = 0
        /// Ended here, not yet deleted from `live_streams` (the heartbeat or the next open does it).
        var closed: [String] = []
    }
    package let state = Mutex(State())
    /// Set when the store is shared by several responders.
    package let cluster: StreamCluster?

    public init(clustered: Bool = false) {
        cluster = clustered ? StreamCluster() : nil
    }

    /// Opens a ticket, or throws 429 `too_many_streams` past the user's limit and 409 `chat_busy`
    /// when the chat already has an answer in flight (on any responder).
    package func open(userID: Int64, chatID: Int64?, limit: Int, db: Database) throws(ServiceError) -> StreamTicket {
        let ticket = StreamTicket(userID: userID, chatID: chatID)
        if let cluster {
            let closed = state.withLock { s in
                defer { s.closed = [] }; return s.closed
            }
            let opening: LiveStreamRepository.Opening
            do {
                opening = try cluster.open(ticket, limit: limit, db: db, closed: closed)
            } catch {
                state.withLock { $0.closed += closed }
                throw (error as? StorageError).map(ServiceError.init(storage:))
                    ?? ServiceError(.internalError, "The stream could not start.")
            }
            if let refusal = Self.refusal(opening, limit: limit) { throw refusal }
        }
        let refusal: ServiceError? = state.withLock { s in
            if cluster == nil, (s.perUser[userID] ?? 0) >= limit { return Self.refusal(.tooMany, limit: limit) }
            if cluster == nil, let chatID, s.byChat[chatID] != nil { return Self.refusal(.chatBusy, limit: limit) }
            if let chatID { s.byChat[chatID] = ticket }
            s.byID[ticket.id] = ticket
            s.perUser[userID, default: 0] += 1
            s.total += 1
            return nil
        }
        if let refusal { throw refusal }
        return ticket
    }

    static func refusal(_ opening: LiveStreamRepository.Opening, limit: Int) -> ServiceError? {
        switch opening {
        case .opened: return nil
        case .tooMany:
            var e = ServiceError(.tooManyStreams, "You have \(limit) answers in flight already; wait for one to finish.")
            e.retryAfter = 5
            return e
        case .chatBusy: return ServiceError(.chatBusy, "This chat is already receiving an answer; stop it or wait for it.")
        }
    }

    /// Ends the ticket. Borrows nothing from the pool: on PostgreSQL its row is deleted on the
    /// cluster's own connection, or else at the next heartbeat.
    package func close(_ ticket: StreamTicket) {
        let removed = state.withLock { s -> Bool in
            guard s.byID.removeValue(forKey: ticket.id) != nil else { return false }
            if let chatID = ticket.chatID, s.byChat[chatID] === ticket { s.byChat[chatID] = nil }
            let left = (s.perUser[ticket.userID] ?? 1) - 1
            s.perUser[ticket.userID] = left > 0 ? left : nil
            s.total -= 1
            return true
        }
        if removed, let cluster, !cluster.close(id: ticket.id) { state.withLock { $0.closed.append(ticket.id) } }
    }

    /// Asks the chat's answer to stop; false when none of `userID`'s is in flight (here, or on
    /// PostgreSQL on any responder: the holder sees the request within a second).
    package func stop(chatID: Int64, userID: Int64, db: Database) throws -> Bool {
        if let ticket = state.withLock({ $0.byChat[chatID] }), ticket.userID == userID {
            ticket.requestStop()
            return true
        }
        guard let cluster else { return false }
        return try cluster.requestStop(chatID: chatID, userID: userID, db: db)
    }

    /// Sets the stop flag of this process's tickets among `ids`.
    package func stopLocal(ids: [String]) {
        let tickets = state.withLock { s in ids.compactMap { s.byID[$0] } }
        tickets.forEach { $0.requestStop() }
    }

    /// This process's answers in flight.
    package func liveTickets() -> [StreamTicket] { state.withLock { Array($0.byID.values) } }

    /// Ids ended here and not yet deleted from `live_streams`; taken by the caller.
    package func takeClosed() -> [String] {
        state.withLock { s in
            defer { s.closed = [] }; return s.closed
        }
    }
    package func returnClosed(_ ids: [String]) { state.withLock { $0.closed += ids } }

    public var inFlight: Int { state.withLock { $0.total } }
}
