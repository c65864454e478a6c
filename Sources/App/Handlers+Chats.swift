import FastCGI
import Outbound
import Storage
import Support

enum ChatHandlers {
    static let createInput = InputSpec([.optional("title", .string(min: 0, max: 200)), .optional("model", .string(min: 1, max: 200))])
    static let patchInput = InputSpec([.required("title", .string(min: 0, max: 200))])
    static let messageInput = InputSpec([.required("content", .string(min: 1, max: 100_000)), .required("model", .string(min: 1, max: 200)),
                                         .optional("stream", .bool), .optional("attachments", .any)])

    /// The caller's chat, or 404 (also for another user's id).
    static func ownedChat(_ c: Context) throws -> ChatRow {
        guard let chat = try ChatRepository(c.db).find(id: try c.id(), userID: try c.user.id) else { throw HTTPError.notFound }
        return chat
    }

    static func list(_ c: Context) throws -> Response {
        let t = c.transcripts
        return .json(["chats": .array(try ChatRepository(c.db).list(userID: try c.user.id).map(t.chatJSON))])
    }

    static func create(_ c: Context) throws -> Response {
        let input = c.request.body.isEmpty ? nil : try c.input(createInput)
        let repo = ChatRepository(c.db)
        let t = c.transcripts
        let userID = try c.user.id
        let id = try c.db.transaction {
            let id = try repo.create(userID: userID, model: input?.string("model"))
            if let title = input?.string("title"), !title.isEmpty, let chat = try repo.find(id: id, userID: userID) {
                try t.setTitle(repo, chat: chat, title: title)
            }
            return id
        }
        guard let chat = try repo.find(id: id, userID: userID) else { throw HTTPError.notFound }
        return .json(t.chatJSON(chat), status: 201)
    }

    static func get(_ c: Context) throws -> Response {
        let chat = try ownedChat(c)
        let t = c.transcripts
        guard case .object(var body) = t.chatJSON(chat) else { throw HTTPError.notFound }
        body["messages"] = .array(try ChatRepository(c.db).messages(chatID: chat.id).map(t.messageJSON))
        return .json(.object(body))
    }

    static func rename(_ c: Context) throws -> Response {
        let chat = try ownedChat(c)
        let title = try c.input(patchInput).string("title") ?? ""
        let repo = ChatRepository(c.db)
        let t = c.transcripts
        try c.db.transaction { try t.setTitle(repo, chat: chat, title: title) }
        guard let updated = try repo.find(id: chat.id, userID: chat.userID) else { throw HTTPError.notFound }
        return .json(t.chatJSON(updated))
    }

    static func delete(_ c: Context) throws -> Response {
        let userID = try c.user.id
        let id = try c.id()
        let deleted = try c.db.transaction { try ChatRepository(c.db).delete(id: id, userID: userID) }
        guard deleted else { throw HTTPError.notFound }
        ChatCopies.remove(c, userID: userID, chatIDs: [id], wholeUser: false)
        return .noContent()
    }

    static func search(_ c: Context) throws -> Response {
        if c.transcripts.encrypt {
            throw HTTPError(409, "search_unavailable_encrypted",
                            "Transcripts are encrypted at rest, so the server keeps no search index. Search your loaded "
                                + "chats in the browser.")
        }
        let q = c.request.queryItem("q") ?? ""
        let terms = q.split(whereSeparator: { $0.isWhitespace }).prefix(16)
        guard !terms.isEmpty, q.count <= 500, !q.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw HTTPError.invalidField("q", "Give 1 to 500 characters to search for, without control characters.")
        }
        // Each term quoted: user text never becomes FTS5 query syntax.
        let match = terms.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " ")
        let repo = ChatRepository(c.db)
        let userID = try c.user.id
        let t = c.transcripts
        var results: [JSON] = []
        var seen = Set<Int64>()
        // One result per chat: its best-ranked hit.
        for hit in try repo.search(userID: userID, match: match) where seen.insert(hit.chatID).inserted {
            guard let chat = try repo.find(id: hit.chatID, userID: userID) else { continue }
            results.append(["chat": t.chatJSON(chat), "message_id": hit.messageID == 0 ? .null : .number(Double(hit.messageID)),
                            "snippet": .string(hit.snippet)])
        }
        return .json(["results": .array(results)])
    }

    /// What a model provider hands back for one turn.
    struct TurnOutcome {
        var text: String          // what to store as the assistant message (markers included)
        var failure: UpstreamChat.Failure?
        /// Ended by `POST /chats/{id}/stop`: what arrived is stored with status `stopped`.
        var stopped = false
        var afterStore: (Int64) -> Void = { _ in }
    }

    struct Emitter {
        let delta: (String) -> Void
        let reasoning: (String) -> Void
        /// True once the answer should end (a stop request); asked at least once a second.
        var shouldStop: () -> Bool = { false }
    }

    /// Produces one turn from the chat's history (decrypted, oldest first, ending with the user's message).
    typealias Producer = (_ history: [(role: String, content: String)], _ emit: Emitter) -> TurnOutcome

    /// A connection's provider, through `/chat/completions`.
    static func connectionProducer(_ c: Context, model: String) throws -> Producer {
        let (connection, key) = try ModelHandlers.route(model: model, c)
        return { history, emit in
            var received = ""
            let messages: [JSON] = history.map { ["role": .string($0.role), "content": .string($0.content)] }
            let maxAnswer = c.config.maxAnswerBytes
            // No SQLite or Redis connection is held while the provider answers.
            c.releaseServices()
            do throws(UpstreamChat.Failure) {
                try UpstreamChat.stream(connection, key: key, model: model, messages: messages, maxAnswerBytes: maxAnswer,
                                        received: &received, shouldStop: emit.shouldStop, onDelta: emit.delta)
                return TurnOutcome(text: received, failure: nil)
            } catch where error.code == UpstreamChat.Failure.stopped.code {
                return TurnOutcome(text: received, failure: nil, stopped: true)
            } catch {
                Log.event(.warn, "upstream_failed", ["request_id": .string(c.requestID), "code": .string(error.code),
                                                     "connection_id": .number(Double(connection.id))])
                return TurnOutcome(text: received, failure: error)
            }
        }
    }

    /// Stores the user's message, calls the model, streams the answer as server-sent events
    /// (or answers once with `stream: false`), and stores the answer: complete, or what arrived
    /// marked `incomplete` when the provider fails midway.
    static func postMessage(_ c: Context) throws -> Response {
        let chat = try ownedChat(c)
        let input = try c.input(messageInput)
        let content = input.string("content") ?? ""
        let model = input.string("model") ?? ""
        let streaming = input.bool("stream") ?? true
        let attachments = try PipeChat.attachments(input.raw("attachments"))
        let produce: Producer
        if model.hasPrefix(PipeChat.modelPrefix) {
            produce = try PipeChat.producer(c, chat: chat, model: String(model.dropFirst(PipeChat.modelPrefix.count)),
                attachments: attachments)
        } else {
            guard attachments.isEmpty else { throw HTTPError.invalidField("attachments",
                "Attachments are supported for OpenRouter (\(PipeChat.modelPrefix)…) models.") }
            produce = try connectionProducer(c, model: model)
        }
        // Counted before anything is stored: past the limit nothing of the turn is written.
        let registry = c.services.shared.streams
        let ticket = try registry.open(userID: chat.userID, chatID: chat.id, limit: try c.services.runtimeConfig().maxStreamsPerUser)
        var handedOver = false
        defer { if !handedOver { registry.close(ticket) } }
        let repo = ChatRepository(c.db)
        let t = c.transcripts
        let userMessageID = try c.db.transaction {
            let id = try t.addMessage(repo, chat: chat, role: "user", content: content, model: nil, status: "complete")
            try repo.touch(chatID: chat.id, model: model)
            if chat.title.isEmpty {
                try t.setTitle(repo, chat: chat, title: String(content.split(separator: "\n").first?.prefix(60) ?? ""))
            }
            return id
        }
        // Incomplete answers are not sent back to the model in later turns.
        let history = try repo.messages(chatID: chat.id).compactMap { m -> (role: String, content: String)? in
            guard let text = t.content(m), m.status == "complete" || m.role == "user" else { return nil }
            return (m.role, text)
        }

        let partial = c.services.shared.partials.open(chat: chat, model: model)
        func finish(_ outcome: TurnOutcome) -> JSON {
            // The answer is written to the client after this: the pooled connection goes back first.
            defer { c.releaseServices() }
            let partialRow = c.services.shared.partials.close(partial)
            let status = outcome.stopped ? "stopped" : outcome.failure == nil ? "complete" : "incomplete"
            guard !outcome.text.isEmpty || status == "complete" || partialRow != nil else { return .null }
            do {
                // Made again here: the services used before the answer went back to the pool.
                let repo = ChatRepository(c.db)
                // The chat may have been deleted while the answer streamed (and, ids never being
                // reused, no other chat can take its place): the answer is stored only while the
                // chat exists and still belongs to this user, checked in the storing transaction.
                let stored: Int64? = try c.db.transaction {
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
                    Log.event(.info, "answer_dropped_chat_deleted", ["request_id": .string(c.requestID)])
                    return .null
                }
                outcome.afterStore(id)
                return try repo.message(id: id).map(t.messageJSON) ?? .null
            } catch {
                Log.event(.error, "answer_not_stored", ["request_id": .string(c.requestID), "error": .string(String(describing: error))])
                return .null
            }
        }

        let shouldStop = { ticket.stopRequested }
        let partials = c.services.shared.partials
        if !streaming {
            let outcome = produce(history, Emitter(delta: { partials.append(partial, $0) }, reasoning: { _ in }, shouldStop: shouldStop))
            let message = finish(outcome)
            if let failure = outcome.failure {
                var e = HTTPError(502, failure.code, failure.message)
                e.extra = ["user_message_id": .number(Double(userMessageID)), "message": message]
                throw e
            }
            return .json(["message": message, "user_message_id": .number(Double(userMessageID))], status: 201)
        }

        var response = Response(status: 200, headers: [], body: [], stream: nil)
        handedOver = true
        response.stream = { writer in
            defer { registry.close(ticket) }
            writer.startStream(status: 200, headers: [("Content-Type", "text/event-stream"), ("X-Accel-Buffering", "no")])
            func send(_ event: JSON) {
                writer.write("data: " + event.serialized() + "\n\n")
                writer.flush()
            }
            // If the browser goes away the answer is still read to its end and stored.
            let outcome = produce(history, Emitter(delta: { partials.append(partial, $0); send(["type": "delta", "text": .string($0)]) },
                                                   reasoning: { send(["type": "reasoning", "text": .string($0)]) }, shouldStop: shouldStop))
            let message = finish(outcome)
            if let failure = outcome.failure {
                send(["type": "error", "error": failure.json, "message": message])
            } else {
                send(["type": "done", "message": message])
            }
        }
        return response
    }

    /// `POST /chats/{id}/stop`: ends the chat's answer in flight (owner only). The streaming
    /// thread sees the request within a second, closes the upstream connection and stores what
    /// arrived with status `stopped`.
    static func stop(_ c: Context) throws -> Response {
        let chat = try ownedChat(c)
        let stopping = c.services.shared.streams.stop(chatID: chat.id, userID: chat.userID)
        Log.event(.info, "stream_stop", ["request_id": .string(c.requestID), "chat_id": .number(Double(chat.id)),
            "in_flight": .bool(stopping)])
        return .json(["stopping": .bool(stopping)], status: stopping ? 202 : 200)
    }

    /// The request fields forwarded to a provider. Anything else (`user`, `service_tier`,
    /// `store`, `metadata`, ...) is dropped: the caller spends the admin's key, not their own.
    static let forwardedCompletionFields: Set<String> = [
        "model", "messages", "stream", "stream_options", "temperature", "top_p", "n", "max_tokens", "max_completion_tokens",
        "stop", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "seed", "response_format",
        "tools", "tool_choice", "parallel_tool_calls", "reasoning_effort",
    ]

    static func forwardedFields(_ object: [String: JSON], _ config: Config) throws(HTTPError) -> [String: JSON] {
        var out = object.filter { forwardedCompletionFields.contains($0.key) }
        if let n = out["n"] {
            guard let value = n.intValue, (1...config.completionsMaxN).contains(value) else {
                throw HTTPError.invalidField("n", "n must be an integer from 1 to \(config.completionsMaxN).")
            }
        }
        for field in ["max_tokens", "max_completion_tokens"] {
            if let raw = out[field] {
                guard let value = raw.intValue, value >= 1 else { throw HTTPError.invalidField(field,
                    "\(field) must be a positive integer.") }
                out[field] = JSON(min(value, config.completionsMaxTokens))
            }
        }
        if let options = out["stream_options"] {
            guard let include = options["include_usage"]?.boolValue, options.objectValue?.count == 1 else {
                throw HTTPError.invalidField("stream_options", "stream_options may only hold include_usage.")
            }
            out["stream_options"] = ["include_usage": .bool(include)]
        }
        return out
    }

    /// OpenAI-compatible `POST /chat/completions` for SDKs and curl: routed by model to the
    /// connection that serves it; the provider's answer is relayed (streamed when asked).
    static func completions(_ c: Context) throws -> Response {
        let document: JSON
        do { document = try JSON.parse(c.request.body) } catch { throw HTTPError.invalidJSON(error.description) }
        guard var object = document.objectValue else { throw HTTPError.invalidJSON("expected an object") }
        guard let model = object["model"]?.stringValue, !model.isEmpty else { throw HTTPError.invalidField("model", "model is required.") }
        guard let messages = object["messages"]?.arrayValue, !messages.isEmpty else {
            throw HTTPError.invalidField("messages", "messages must be a non-empty list.")
        }
        let streaming = object["stream"]?.boolValue ?? false
        object = try forwardedFields(object, c.config)
        let (connection, key) = try ModelHandlers.route(model: model, c)
        let target = UpstreamChat.request(connection, key: key)
        let body = Array(JSON.object(object).serialized().utf8)
        let registry = c.services.shared.streams
        let ticket = try registry.open(userID: try c.user.id, chatID: nil, limit: try c.services.runtimeConfig().maxStreamsPerUser)
        let maxAnswer = c.config.maxAnswerBytes
        c.releaseServices()

        if !streaming {
            defer { registry.close(ticket) }
            let answer: HTTPResponse
            do {
                answer = try HTTPClient.send(method: "POST", url: target.url, headers: target.headers, body: body, timeoutSeconds: 300,
                                             maxBytes: UpstreamChat.streamedCap(maxAnswer))
            } catch {
                throw HTTPError(502, error.kind == .timeout ? "timeout" : "upstream_unreachable", "The provider could not be reached.")
            }
            // Provider error bodies can echo parts of a key: only the status is passed on.
            guard answer.status == 200 else { throw HTTPError(502, "upstream_status", "The provider answered HTTP \(answer.status).") }
            return Response(status: 200, headers: [("Content-Type", "application/json")], body: answer.body, stream: nil)
        }
        var response = Response(status: 200, headers: [], body: [], stream: nil)
        response.stream = { writer in
            defer { registry.close(ticket) }
            var started = false
            var status = 0
            var upstreamStatus = 0
            do {
                // A client that goes away ends the upstream call: nothing is stored on this path.
                // Only a 200 answer is relayed: an error body can echo parts of the key.
                let answer = try HTTPClient.send(method: "POST", url: target.url, headers: target.headers, body: body, timeoutSeconds: 300,
                                                 maxBytes: UpstreamChat.streamedCap(maxAnswer), onStatus: { upstreamStatus = $0 },
                                                 onChunk: { chunk in
                    guard upstreamStatus == 200 else { return true }
                    if !started {
                        started = true
                        writer.startStream(status: 200, headers: [("Content-Type", "text/event-stream"), ("X-Accel-Buffering", "no")])
                    }
                    writer.write(chunk)
                    return writer.flush()
                })
                status = answer.status
            } catch {
                status = writer.broken ? -2 : -1
            }
            if status == -2 {
                Log.event(.info, "client_gone", ["path": "/chat/completions"])
                return
            }
            if status != 200 {
                let error: JSON = ["error": ["code": status < 0 ? "upstream_unreachable" : "upstream_status",
                                             "message": .string(status < 0 ? "The provider connection failed." : "The "
                                                 + "provider answered HTTP \(status).")]]
                if started {
                    writer.write("data: " + error.serialized() + "\n\n")
                } else {
                    writer.send(status: 502, headers: [("Content-Type", "application/json")], body: Array(error.serialized().utf8))
                }
            }
        }
        return response
    }
}
