import Support
import Synchronization

/// One answer in flight: whose, for which chat, and whether someone asked it to stop.
public final class StreamTicket: Sendable {
    package let userID: Int64
    package let chatID: Int64?
    package let stopFlag = Atomic<Bool>(false)

    package init(userID: Int64, chatID: Int64?) {
        self.userID = userID
        self.chatID = chatID
    }

    /// True once `POST /chats/{id}/stop` asked this answer to end.
    public var stopRequested: Bool { stopFlag.load(ordering: .relaxed) }
    package func requestStop() { stopFlag.store(true, ordering: .relaxed) }
}

/// The streams in flight in this process (SPEC section 2 allows exactly this state): counted per
/// user for `max_streams_per_user`, found by chat for stop.
public final class StreamRegistry: Sendable {
    package struct State {
        var byChat: [Int64: StreamTicket] = [:]
        var perUser: [Int64: Int] = [:]
        var total = 0
    }
    package let state = Mutex(State())

    public init() {}

    /// Opens a ticket, or throws 429 `too_many_streams` past the user's limit and 409 `chat_busy`
    /// when the chat already has an answer in flight.
    package func open(userID: Int64, chatID: Int64?, limit: Int) throws(ServiceError) -> StreamTicket {
        let ticket = StreamTicket(userID: userID, chatID: chatID)
        let refusal: ServiceError? = state.withLock { s in
            if (s.perUser[userID] ?? 0) >= limit {
                var e = ServiceError(.tooManyStreams, "You have \(limit) answers in flight already; wait for one to finish.")
                e.retryAfter = 5
                return e
            }
            if let chatID, s.byChat[chatID] != nil {
                return ServiceError(.chatBusy, "This chat is already receiving an answer; stop it or wait for it.")
            }
            if let chatID { s.byChat[chatID] = ticket }
            s.perUser[userID, default: 0] += 1
            s.total += 1
            return nil
        }
        if let refusal { throw refusal }
        return ticket
    }

    package func close(_ ticket: StreamTicket) {
        state.withLock { s in
            if let chatID = ticket.chatID, s.byChat[chatID] === ticket { s.byChat[chatID] = nil }
            let left = (s.perUser[ticket.userID] ?? 1) - 1
            s.perUser[ticket.userID] = left > 0 ? left : nil
            s.total -= 1
        }
    }

    /// Asks the chat's answer to stop; false when none of `userID`'s is in flight here.
    package func stop(chatID: Int64, userID: Int64) -> Bool {
        guard let ticket = state.withLock({ $0.byChat[chatID] }), ticket.userID == userID else { return false }
        ticket.requestStop()
        return true
    }

    public var inFlight: Int { state.withLock { $0.total } }
}
