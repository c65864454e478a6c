import Storage
import Support

/// One chat turn: the user's message stored, the model asked (a connection's provider or the
/// OpenRouter pipe), and the answer stored: complete, stopped, or what arrived marked
/// `incomplete` when the provider fails midway. The HTTP layer only relays the deltas.
package final class ChatTurn {
    /// What a model provider hands back for one turn.
    package struct Outcome {
        var text: String  // what to store as the assistant message (markers included)
        var failure: UpstreamChat.Failure?
        /// Ended by `POST /chats/{id}/stop`: what arrived is stored with status `stopped`.
        var stopped = false
        var afterStore: (Int64) -> Void = { _ in }
        /// The provider's own token count, when it sent one.
        var usage: TokenCounts? = nil
    }

    package struct Emitter {
        let delta: (String) -> Void
        let reasoning: (String) -> Void
        /// True once the answer should end (a stop request); asked at least once a second.
        var shouldStop: () -> Bool = { false }
    }

    /// Produces one turn from the chat's history (decrypted, oldest first, ending with the user's message).
    package typealias Producer = (_ history: [(role: String, content: String)], _ emit: Emitter) -> Outcome

    /// How a turn ended, for the caller: the stored answer (or null) and the failure, if any.
    package struct Result {
        package let message: JSON
        package let failure: (code: ErrorCode, json: JSON)?
    }

    package let userMessageID: Int64
    let scope: Scope
    let chat: ChatRow
    let model: String
    let produce: Producer
    let ticket: StreamTicket
    /// Kept from the start: closing must not borrow services from the pool again.
    let registry: StreamRegistry
    let history: [(role: String, content: String)]
    /// Counts the turn against the caller's usage and daily quota (reserved before anything is stored).
    let meter: UsageMeter
    var closed = false

    /// Checks the model and the stream limits, then stores the user's message. Past the limit
    /// nothing of the turn is written. The caller must `close()` the turn once it has run.
    package init(_ s: Scope, chat: ChatRow, content: String, model: String, attachments: JSON?) throws {
        let requested = try PipeTurn.attachments(attachments)
        if model.hasPrefix(PipeTurn.modelPrefix) {
            produce = try PipeTurn.producer(
                s, chat: chat, model: String(model.dropFirst(PipeTurn.modelPrefix.count)),
                attachments: requested)
        } else {
            guard requested.isEmpty else {
                throw ServiceError.invalidField(
                    "attachments",
                    "Attachments are supported for OpenRouter (\(PipeTurn.modelPrefix)…) models.")
            }
            produce = try Self.connectionProducer(s, model: model)
        }
        let registry = s.services.shared.streams
        let ticket = try registry.open(
            userID: chat.userID, chatID: chat.id, limit: try s.services.runtimeConfig().maxStreamsPerUser, db: s.services.db)
        var stored = false
        defer { if !stored { registry.close(ticket) } }
        let repo = ChatRepository(s.db)
        let t = s.transcripts
        // The quota is asked before anything of the turn is written: a refused turn leaves nothing.
        let meter = try UsageMeter.begin(
            s, model: model,
            promptEstimate: {
                TokenEstimate.prompt(try repo.messages(chatID: chat.id).compactMap { t.content($0) } + [content])
            }, completionReserve: nil, longestSeconds: Self.longestSeconds(s, model: model))
        defer { if !stored { meter.cancel(s) } }
        userMessageID = try s.db.transaction(.rows) {
            let id = try t.addMessage(repo, chat: chat, role: "user", content: content, model: nil, status: "complete")
            try repo.touch(chatID: chat.id, model: model)
            if chat.title.isEmpty {
                try t.setTitle(repo, chat: chat, title: String(content.split(separator: "\n").first?.prefix(60) ?? ""))
            }
            return id
        }
        // Incomplete answers are not sent back to the model in later turns.
        history = try repo.messages(chatID: chat.id).compactMap { m -> (role: String, content: String)? in
            guard let text = t.content(m), m.status == "complete" || m.role == "user" else { return nil }
            return (m.role, text)
        }
        stored = true
        self.meter = meter
        self.scope = s
        self.chat = chat
        self.model = model
        self.ticket = ticket
        self.registry = registry
    }

    /// Ends the turn's place among the streams in flight (its user's count, stop by chat).
    package func close() {
        guard !closed else { return }
        closed = true
        registry.close(ticket)
        meter.cancel(scope)  // only when `run` never counted the turn
    }

    /// The longest a turn's answer may take: its reservation expires after this (and a margin).
    static func longestSeconds(_ s: Scope, model: String) -> Int64 {
        guard model.hasPrefix(PipeTurn.modelPrefix) else { return 300 }
        return Int64((try? PipeValves.load(s).int("HTTP_SOCK_READ_SECONDS")) ?? 3600)
    }

    /// What the turn cost: the provider's count, else an estimate from the words sent and received.
    /// A failure before any word arrived, with no count, cost nothing and is not counted.
    func counts(_ outcome: Outcome) -> TokenCounts? {
        if let usage = outcome.usage { return usage }
        if outcome.text.isEmpty && outcome.failure != nil { return nil }
        return TokenCounts(
            prompt: TokenEstimate.prompt(history.map(\.content)), completion: TokenEstimate.tokens(bytes: outcome.text.utf8.count),
            estimated: true)
    }

    /// Asks the model, hands each delta on as it arrives, and stores the answer. If the client
    /// goes away the answer is still read to its end and stored.
    package func run(delta: @escaping (String) -> Void, reasoning: @escaping (String) -> Void) -> Result {
        let partials = scope.services.shared.partials
        let partial = partials.open(chat: chat, model: model)
        let ticket = ticket
        let outcome = produce(
            history,
            Emitter(
                delta: {
                    partials.append(partial, $0); delta($0)
                }, reasoning: reasoning,
                shouldStop: { ticket.stopRequested }))
        if let counts = counts(outcome) { meter.finish(scope, counts) } else { meter.cancel(scope) }
        let message = store(outcome, partialRow: partials.close(partial))
        return Result(message: message, failure: outcome.failure.map { ($0.code, $0.json) })
    }

    /// Stores what the provider gave. The answer is written to the client after this: the pooled
    /// connection goes back first.
    func store(_ outcome: Outcome, partialRow: Int64?) -> JSON {
        let s = scope
        defer { s.releaseServices() }
        let status = outcome.stopped ? "stopped" : outcome.failure == nil ? "complete" : "incomplete"
        guard !outcome.text.isEmpty || status == "complete" || partialRow != nil else { return .null }
        do {
            // Made again here: the services used before the answer went back to the pool.
            let repo = ChatRepository(s.db)
            let t = s.transcripts
            let chat = chat
            let model = model
            // The chat may have been deleted while the answer streamed (and, ids never being
            // reused, no other chat can take its place): the answer is stored only while the
            // chat exists and still belongs to this user, checked in the storing transaction.
            let stored: Int64? = try s.db.transaction(.rows) {
                guard try repo.exists(id: chat.id, userID: chat.userID) else { return nil }
                let id: Int64
                if let partialRow, try repo.message(id: partialRow) != nil {
                    try t.finishMessage(repo, id: partialRow, chat: chat, content: outcome.text, status: status)
                    id = partialRow
                } else {
                    id = try t.addMessage(repo, chat: chat, role: "assistant", content: outcome.text, model: model, status: status)
                }
                try repo.touch(chatID: chat.id, model: nil)
                return id
            }
            guard let id = stored else {
                Log.event(.info, "answer_dropped_chat_deleted", ["request_id": .string(s.requestID)])
                return .null
            }
            outcome.afterStore(id)
            return try repo.message(id: id).map(t.messageJSON) ?? .null
        } catch {
            Log.event(.error, "answer_not_stored", ["request_id": .string(s.requestID), "error": .string(String(describing: error))])
            return .null
        }
    }

    /// A connection's provider, through `/chat/completions`.
    static func connectionProducer(_ s: Scope, model: String) throws -> Producer {
        let (connection, key) = try ModelCatalog.route(model: model, s)
        return { history, emit in
            var received = ""
            var usage: TokenCounts? = nil
            let messages: [JSON] = history.map { ["role": .string($0.role), "content": .string($0.content)] }
            let maxAnswer = s.config.maxAnswerBytes
            // No SQLite or Redis connection is held while the provider answers.
            s.releaseServices()
            do throws(UpstreamChat.Failure) {
                try UpstreamChat.stream(
                    connection, key: key, model: model, messages: messages, maxAnswerBytes: maxAnswer,
                    received: &received, usage: &usage, shouldStop: emit.shouldStop, onDelta: emit.delta)
                return Outcome(text: received, failure: nil, usage: usage)
            } catch  where error.code == .stopped {
                return Outcome(text: received, failure: nil, stopped: true, usage: usage)
            } catch {
                Log.event(
                    .warn, "upstream_failed",
                    [
                        "request_id": .string(s.requestID), "code": .string(error.code.rawValue),
                        "connection_id": .number(Double(connection.id))
                    ])
                return Outcome(text: received, failure: error, usage: usage)
            }
        }
    }
}
