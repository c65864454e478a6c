import FastCGI
import Outbound
import Service
import Storage
import Support

enum ChatHandlers {
    /// OpenAI's request: model and messages required; the other fields pass through the policy's allow-list.
    static let completionsInput = InputSpec(
        [
            .required("model", .string(min: 1, max: 200)),
            .required(
                "messages",
                .custom { value in
                    guard let list = value.arrayValue, !list.isEmpty, list.count <= 10_000 else {
                        return "must be a list of 1 to 10000 messages"
                    }
                    return nil
                }), .optional("stream", .bool)
        ], allowUnknown: true)
    static let createInput = InputSpec([.optional("title", .string(min: 0, max: 200)), .optional("model", .string(min: 1, max: 200))])
    static let patchInput = InputSpec([.required("title", .string(min: 0, max: 200))])
    static let messageInput = InputSpec([
        .required("content", .string(min: 1, max: 100_000)), .required("model", .string(min: 1, max: 200)),
        .optional("stream", .bool), .optional("attachments", .any)
    ])

    /// The caller's chat, or 404 (also for another user's id).
    static func ownedChat(_ c: Context) throws -> ChatRow {
        guard let chat = try ChatRepository(c.db).find(id: try c.id(), userID: try c.user.id) else { throw ServiceError.notFound }
        return chat
    }

    static func list(_ c: Context) throws -> Response {
        // Written straight into bytes (Transcripts+Reads.swift): the same JSON as `chatJSON` in a tree.
        .json(bytes: try c.transcripts.listBody(ChatRepository(c.db), userID: try c.user.id))
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
        guard let chat = try repo.find(id: id, userID: userID) else { throw ServiceError.notFound }
        return .json(t.chatJSON(chat), status: 201)
    }

    static func get(_ c: Context) throws -> Response {
        let chat = try ownedChat(c)
        return .json(bytes: try c.transcripts.historyBody(ChatRepository(c.db), chat: chat))
    }

    static func rename(_ c: Context) throws -> Response {
        let chat = try ownedChat(c)
        let title = try c.input(patchInput).string("title") ?? ""
        let repo = ChatRepository(c.db)
        let t = c.transcripts
        try c.db.transaction { try t.setTitle(repo, chat: chat, title: title) }
        guard let updated = try repo.find(id: chat.id, userID: chat.userID) else { throw ServiceError.notFound }
        return .json(t.chatJSON(updated))
    }

    static func delete(_ c: Context) throws -> Response {
        try ChatDeletion.deleteOne(c, id: try c.id())
        return .noContent()
    }

    /// `DELETE /chats?confirm=all`: every chat of the caller with every copy. The query guards
    /// against a client that meant to delete one chat and lost its id.
    static func deleteAll(_ c: Context) throws -> Response {
        guard c.request.queryItem("confirm") == "all" else {
            throw ServiceError.invalidField("confirm", "Deleting every chat needs ?confirm=all.")
        }
        return .json(["deleted": JSON(try ChatDeletion.deleteAll(c))])
    }

    static func search(_ c: Context) throws -> Response {
        .json(["results": .array(try ChatSearch.run(c, query: c.request.queryItem("q") ?? ""))])
    }

    /// Stores the user's message, calls the model, streams the answer as server-sent events
    /// (or answers once with `stream: false`), and stores the answer (`ChatTurn`).
    static func postMessage(_ c: Context) throws -> Response {
        let chat = try ownedChat(c)
        let input = try c.input(messageInput)
        let turn = try ChatTurn(
            c, chat: chat, content: input.string("content") ?? "", model: input.string("model") ?? "",
            attachments: input.raw("attachments"))
        guard input.bool("stream") ?? true else {
            defer { turn.close() }
            let result = turn.run(delta: { _ in }, reasoning: { _ in })
            if let failure = result.failure {
                var e = ServiceError(failure.code, failure.json["message"]?.stringValue ?? "")
                e.extra = ["user_message_id": .number(Double(turn.userMessageID)), "message": result.message]
                throw e
            }
            return .json(["message": result.message, "user_message_id": .number(Double(turn.userMessageID))], status: 201)
        }
        var response = Response(status: 200, headers: [], body: [], stream: nil)
        response.stream = { writer in
            defer { turn.close() }
            writer.startStream(status: 200, headers: [("Content-Type", "text/event-stream"), ("X-Accel-Buffering", "no")])
            func send(_ event: JSON) {
                writer.write("data: " + event.serialized() + "\n\n")
                writer.flush()
            }
            let result = turn.run(
                delta: { send(["type": "delta", "text": .string($0)]) },
                reasoning: { send(["type": "reasoning", "text": .string($0)]) })
            if let failure = result.failure {
                send(["type": "error", "error": failure.json, "message": result.message])
            } else {
                send(["type": "done", "message": result.message])
            }
        }
        return response
    }

    /// `POST /chats/{id}/stop`: ends the chat's answer in flight (owner only). The streaming
    /// thread sees the request within a second, closes the upstream connection and stores what
    /// arrived with status `stopped`.
    static func stop(_ c: Context) throws -> Response {
        let chat = try ownedChat(c)
        let stopping = try c.services.shared.streams.stop(chatID: chat.id, userID: chat.userID, db: c.db)
        Log.event(
            .info, "stream_stop",
            [
                "request_id": .string(c.requestID), "chat_id": .number(Double(chat.id)),
                "in_flight": .bool(stopping)
            ])
        return .json(["stopping": .bool(stopping)], status: stopping ? 202 : 200)
    }

    /// OpenAI-compatible `POST /chat/completions` for SDKs and curl: routed by model to the
    /// connection that serves it; the provider's answer is relayed (streamed when asked).
    static func completions(_ c: Context) throws -> Response {
        let input = try c.input(completionsInput)
        let relay = try CompletionsRelay(c, request: input.document, model: try input.requiredString("model"))
        guard relay.streaming else {
            defer { relay.close() }
            return Response(status: 200, headers: [("Content-Type", "application/json")], body: try relay.answer(), stream: nil)
        }
        var response = Response(status: 200, headers: [], body: [], stream: nil)
        response.stream = { writer in
            defer { relay.close() }
            let ending = relay.relay(
                start: {
                    writer.startStream(status: 200, headers: [("Content-Type", "text/event-stream"), ("X-Accel-Buffering", "no")])
                },
                write: { chunk in
                    writer.write(chunk)
                    return writer.flush()
                })
            switch ending {
            case .complete: break
            case .clientGone: Log.event(.info, "client_gone", ["path": "/chat/completions"])
            case .failed(let error) where writer.headersSent: writer.write("data: " + error.body.serialized() + "\n\n")
            case .failed(let error):
                writer.send(
                    status: error.status, headers: [("Content-Type", "application/json")], body: Array(error.body.serialized().utf8))
            }
        }
        return response
    }
}
