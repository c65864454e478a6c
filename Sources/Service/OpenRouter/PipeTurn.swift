import Cache
import Crypto
import Foundation
import Outbound
import Pipe
import Storage
import Support
import Synchronization

/// The OpenRouter Responses pipe as a model provider: models named `openrouter/<id>`, turns sent
/// to `{BASE_URL}/responses`, artifacts stored and replayed through marker lines.
package enum PipeTurn {
    package static let modelPrefix = "openrouter/"

    package struct Requested { let kind: ResponsesInput.Attachment.Kind; let url: String }

    /// `attachments: [{type: "image"|"file", url}]` of a chat message, at most 8.
    package static func attachments(_ raw: JSON?) throws -> [Requested] {
        guard let raw else { return [] }
        guard let list = raw.arrayValue, list.count <= 8 else {
            throw ServiceError.invalidField(
                "attachments",
                "attachments must be a list of at most 8 {type, url}.")
        }
        return try list.map { item in
            guard let type = item["type"]?.stringValue.flatMap(ResponsesInput.Attachment.Kind.init(rawValue:)),
                let url = item["url"]?.stringValue, url.utf8.count <= GuardedURL.maxLength
            else {
                throw ServiceError.invalidField("attachments", "Each attachment needs type (image or file) and url.")
            }
            return Requested(kind: type, url: url)
        }
    }

    package static func baseURL(_ c: Scope, _ valves: PipeValves) throws -> String {
        let base = valves.value("BASE_URL")
        guard c.config.allowedBaseURLs.contains(base) else {
            throw ServiceError(.pipeNotConfigured, "The pipe's BASE_URL \(base) is not in OPENAI_ALLOWED_API_BASE_URLS.")
        }
        return base
    }

    /// The pipe's models for `GET /models`, cached briefly in Redis (names only).
    package static func models(_ c: Scope) -> Result<[String], ModelCatalog.Failure>? {
        guard let valves = try? PipeValves.load(c), case .success(let key) = valves.apiKey(),
            let base = try? baseURL(c, valves)
        else { return nil }
        let scope = "pipe|\(Valves.pipeID)|\(base)"
        if let cached = ModelCatalog.readCache(c, key: .pipeModels(pipe: Valves.pipeID), scope: scope) {
            return .success(cached)
        }
        do {
            c.releaseServices()
            let answer = try HTTPClient.send(
                method: "GET", url: base + "/models", headers: [("Authorization", "Bearer " + key)],
                timeoutSeconds: 10)
            guard answer.status == 200, let data = (try? JSON.parse(answer.body))?["data"]?.arrayValue else {
                return .failure(.init(code: .upstreamStatus, message: "The provider answered HTTP \(answer.status)."))
            }
            let names = data.compactMap { $0["id"]?.stringValue }.filter { $0.count <= 200 }.map { modelPrefix + $0 }
            ModelCatalog.writeCache(c, key: .pipeModels(pipe: Valves.pipeID), scope: scope, names: names)
            return .success(names)
        } catch {
            return .failure(.init(code: .upstreamUnreachable, message: "The provider could not be reached (\(error.kind.rawValue))."))
        }
    }

    /// Most artifact bytes one turn replays (after decompression): a chat full of large tool
    /// outputs cannot make one request decompress without bound.
    package static let replayBudgetBytes = 16 << 20

    package static func artifactStore(_ c: Scope, _ valves: PipeValves) throws -> ArtifactStore {
        var artifactKey: String? = nil
        switch valves.secret("ARTIFACT_ENCRYPTION_KEY") {
        case .value(let v, _): artifactKey = v
        case .undecryptable(let why):
            throw ServiceError(.artifactKeyUndecryptable, "ARTIFACT_ENCRYPTION_KEY cannot be decrypted (\(why)).")
        case .empty: break
        }
        let fallback = c.config.encryptionKey.map { Encoding.hex(Subkey.derive($0.reveal(), "artifact-fallback")) }
        let sealing = ArtifactSealing(
            artifactKey: artifactKey, fallbackKey: fallback, localEncryption: c.config.localEncryption,
            encryptAll: valves.bool("ENCRYPT_ALL"), compress: valves.bool("ENABLE_LZ4_COMPRESSION"),
            minCompressBytes: valves.int("MIN_COMPRESS_BYTES"))
        return try ArtifactStore(db: c.db, sealing: sealing)
    }

    /// A cached row is a signed entry bound to its user (its key names the chat and the id): whoever
    /// can write to Redis cannot plant an artifact into anyone's replay.
    package static func cachedArtifact(_ c: Scope, userID: Int64, chatID: Int64, id: String) -> StoredArtifact? {
        guard let key = CacheKey.artifact(pipe: Valves.pipeID, chatID: chatID, id: id),
            let cached = c.services.cache.getSigned(
                key, context: "user \(userID)", macKey: c.services.shared.cacheMACKey,
                maxBytes: replayBudgetBytes),
            let doc = try? JSON.parse(cached), let type = doc["type"]?.stringValue, let stored = doc["stored"]?.stringValue,
            let encrypted = doc["encrypted"]?.boolValue
        else { return nil }
        // With local encryption on, nothing plaintext of a turn is taken from (or put in) Redis.
        if c.config.localEncryption && !encrypted { return nil }
        return StoredArtifact(type: type, stored: stored, encrypted: encrypted)
    }

    /// Downloads attachments through the guard as data URLs, all at once within the guard's time
    /// budget, and at most BASE64_MAX_SIZE_MB encoded for the whole message; each refusal becomes
    /// a visible note.
    package static func fetchAttachments(_ c: Scope, _ requested: [Requested]) throws -> ([ResponsesInput.Attachment], [String]) {
        guard !requested.isEmpty else { return ([], []) }
        let config = try c.services.runtimeConfig()
        let settings = Downloads.settings(config)
        c.releaseServices()  // no SQLite or Redis connection is held while downloading
        let results = Mutex<[Int: Result<Download, GuardRefusal>]>([:])
        DispatchQueue.concurrentPerform(iterations: requested.count) { index in
            let result = DownloadGuard.fetch(requested[index].url, settings: settings)
            results.withLock { $0[index] = result }
        }
        var fetched: [ResponsesInput.Attachment] = []
        var notes: [String] = []
        var total = 0
        var videos = 0
        for (index, item) in requested.enumerated() {
            let shown: String = (try? GuardedURL.parse(item.url).get().redacted) ?? "the given URL"
            switch results.withLock({ $0[index] }) {
            case .failure(let refusal)?:
                Downloads.logRefusal(c, url: item.url, refusal)
                notes.append(
                    "Note: the \(item.kind.rawValue) at \(shown) was not used (\(refusal.code.rawValue): "
                        + "\(Downloads.publicReason(refusal.code))).")
            case .success(let download)?:
                let encoded = Encoding.base64(download.body)
                switch AttachmentBudget.admit(
                    contentType: download.contentType, encodedBytes: encoded.utf8.count, videosSoFar: videos,
                    othersSoFar: total, config: config)
                {
                case .refused(let why):
                    notes.append("Note: the \(item.kind.rawValue) at \(shown) was not used (too_large: \(why)).")
                    continue
                case .counted:
                    total += encoded.utf8.count
                case .video:
                    videos += encoded.utf8.count
                }
                let type =
                    download.contentType.split(separator: ";").first.map { String($0).trimmingCharacters(in: .whitespaces) }
                    ?? "application/octet-stream"
                let name = shown.split(separator: "/").last.map(String.init) ?? "file"
                fetched.append(.init(kind: item.kind, dataURL: "data:\(type);base64,\(encoded)", filename: name))
            case nil:
                notes.append("Note: the \(item.kind.rawValue) at \(shown) was not used.")
            }
        }
        return (fetched, notes)
    }

    package static func producer(_ c: Scope, chat: ChatRow, model: String, attachments requested: [Requested]) throws -> ChatTurn.Producer {
        let valves = try PipeValves.load(c)
        // The pipe's `allowed_groups` (ModelAccess), before anything else is looked at.
        guard ModelAccess.permits(ModelAccess.pipeGroups(valves), try ModelAccess.callerGroups(c)) else {
            throw ModelAccess.notAllowed(modelPrefix + model)
        }
        let key: String
        switch valves.apiKey() {
        case .success(let k): key = k
        case .failure(let e): throw e
        }
        let base = try baseURL(c, valves)
        _ = try artifactStore(c, valves)  // an undecryptable artifact key fails here, before anything is stored
        let user = try c.user
        let useRedis = valves.bool("ENABLE_REDIS_CACHE")
        let ttl = valves.int("REDIS_CACHE_TTL_SECONDS")
        let webuiKey = c.config.webuiSecretKey
        let sessionToken = c.auth?.sessionToken

        return { history, emit in
            var outcome = ChatTurn.Outcome(text: "", failure: nil)
            do {
                let (attachments, notes) = try fetchAttachments(c, requested)
                let notePrefix = notes.isEmpty ? "" : notes.joined(separator: "\n") + "\n\n"
                if !notePrefix.isEmpty { emit.delta(notePrefix) }

                // Replay: Redis first (rows as stored, MAC-checked), SQLite for whatever it lacks;
                // both only for this user's chat.
                let ids = history.filter { $0.role == "assistant" }.flatMap { Markers.split($0.content).ids }
                var rows: [String: StoredArtifact] = [:]
                var missing: [String] = []
                for id in ids {
                    if useRedis, let row = cachedArtifact(c, userID: user.id, chatID: chat.id, id: id) {
                        rows[id] = row
                    } else {
                        missing.append(id)
                    }
                }
                let store = try artifactStore(c, valves)
                for (id, row) in try store.load(ids: missing, chatID: chat.id, userID: user.id) { rows[id] = row }
                var budget = replayBudgetBytes
                let input = ResponsesInput.build(
                    history: history.map { .init(role: $0.role, content: $0.content) },
                    attachments: attachments,
                    reasoningScope: valves.value("PERSIST_REASONING_TOKENS")
                ) { id in
                    rows[id].flatMap { store.open($0.stored, id: id, encrypted: $0.encrypted, budget: &budget) }
                }

                var body: [String: JSON] = ["model": .string(model), "input": .array(input), "stream": true]
                var metadata: [String: JSON] = [:]
                if valves.bool("SEND_END_USER_ID") {
                    let endUser = valves.value("END_USER_ID_SOURCE") == "email" ? user.email : String(user.id)
                    body["user"] = .string(String(endUser.prefix(128)))
                }
                if valves.bool("SEND_CHAT_ID") { metadata["chat_id"] = .string(String(chat.id)) }
                if valves.bool("SEND_MESSAGE_ID"), let last = try? ChatRepository(c.db).messages(chatID: chat.id).last {
                    metadata["message_id"] = .string(String(last.id))
                }
                if let webuiKey {
                    // Each id is an HMAC under its own subkey; the cache id names the user too, so
                    // two users' chats never share a provider-side prompt cache.
                    if valves.bool("SEND_SESSION_ID"), let sessionToken {
                        let key = Subkey.derive(webuiKey.reveal(), "session-id")
                        metadata["session_id"] = .string(
                            Encoding.hex(
                                Digest.hmacSHA256(
                                    key: key,
                                    data: Array(("session:" + sessionToken).utf8))))
                    }
                    if valves.bool("SEND_CACHE_SESSION_ID") {
                        let key = Subkey.derive(webuiKey.reveal(), "cache-session-id")
                        body["session_id"] = .string(
                            Encoding.hex(
                                Digest.hmacSHA256(
                                    key: key,
                                    data: Array("user:\(user.id)|chat:\(chat.id)".utf8))))
                    }
                }
                if !metadata.isEmpty { body["metadata"] = .object(metadata) }

                let maxAnswer = c.config.maxAnswerBytes
                let stream = ResponsesStream(
                    maxTextBytes: maxAnswer, maxLogBytes: 2 * maxAnswer, onText: emit.delta,
                    onReasoning: emit.reasoning)
                let requestBody = Array(JSON.object(body).serialized().utf8)
                var status = 0
                // No SQLite or Redis connection is held while OpenRouter answers; `store` and
                // anything else made from the services before are not used after this point.
                c.releaseServices()
                do throws(OutboundError) {
                    status = try HTTPClient.send(
                        method: "POST", url: base + "/responses",
                        headers: [
                            ("Authorization", "Bearer " + key), ("Accept", "text/event-stream"),
                            ("Content-Type", "application/json"), ("X-Title", "CryoTensor")
                        ],
                        body: requestBody, timeoutSeconds: valves.int("HTTP_SOCK_READ_SECONDS"),
                        maxBytes: UpstreamChat.streamedCap(maxAnswer), shouldStop: emit.shouldStop,
                        onChunk: { chunk in stream.feed(chunk) }
                    ).status
                } catch  where error.kind == .stopped {
                    outcome.stopped = true
                } catch {
                    if !stream.tooLarge { outcome.failure = UpstreamChat.Failure.transport(error) }
                }
                if outcome.stopped {
                    // What arrived is stored as `stopped`; no artifacts of an unfinished turn.
                } else if stream.tooLarge {
                    outcome.failure = .answerTooLarge
                } else if outcome.failure == nil {
                    if status != 200 {
                        outcome.failure = .init(code: .upstreamStatus, message: "The provider answered HTTP \(status).")
                    } else if let failure = stream.failure {
                        // The provider's words can echo the key: they go to the log, redacted, not to the user.
                        Log.event(
                            .warn, "upstream_failed",
                            [
                                "request_id": .string(c.requestID),
                                "detail": .string(
                                    Redaction.scrub(
                                        String(failure.prefix(500)),
                                        secrets: [key]))
                            ])
                        outcome.failure = .init(code: .upstreamFailed, message: "The provider could not complete the answer.")
                    } else if !stream.completed {
                        outcome.failure = .init(code: .upstreamIncomplete, message: "The answer ended before it was complete.")
                    }
                }

                // Artifacts are stored only for a completed turn; their ids become marker lines.
                var markerIDs: [String] = []
                if outcome.failure == nil && !outcome.stopped {
                    var items = stream.storableItems
                    if valves.value("PERSIST_REASONING_TOKENS") == "disabled" { items.removeAll { $0["type"]?.stringValue == "reasoning" } }
                    let artifacts = items.map {
                        ArtifactItem(
                            id: ArtifactID.make(), type: $0["type"]?.stringValue ?? "unknown",
                            payload: $0)
                    }
                    let userMessageID = (try? ChatRepository(c.db).messages(chatID: chat.id).last?.id).flatMap { $0 } ?? 0
                    let written = try artifactStore(c, valves).insert(
                        artifacts, chatID: chat.id, userID: user.id,
                        messageID: String(userMessageID), model: model)
                    if useRedis {
                        for (id, stored, encrypted) in written where encrypted || !c.config.localEncryption {
                            guard let key = CacheKey.artifact(pipe: Valves.pipeID, chatID: chat.id, id: id) else { continue }
                            let doc: JSON = [
                                "type": .string(artifacts.first { $0.id == id }?.type ?? ""), "stored": .string(stored),
                                "encrypted": .bool(encrypted)
                            ]
                            c.services.cache.setSigned(
                                key, doc.serialized(), context: "user \(user.id)",
                                macKey: c.services.shared.cacheMACKey, ttlSeconds: ttl)
                        }
                    }
                    markerIDs = artifacts.map(\.id)
                }
                outcome.text = Markers.append(markerIDs, to: notePrefix + stream.text)
                outcome.usage = ProviderUsage.responses(stream.usage)
                let events = stream.events
                let truncated = stream.eventsTruncated
                outcome.afterStore = { messageID in
                    writeSessionLog(
                        c, valves: valves, user: user, chat: chat, messageID: messageID, model: model,
                        requestItems: input.count,
                        events: events, truncated: truncated,
                        status: outcome.stopped ? "stopped" : outcome.failure == nil ? "complete" : "incomplete")
                }
            } catch let error as ServiceError {
                outcome.failure = .init(code: error.code, message: error.message)
            } catch {
                outcome.failure = .init(code: .internalError, message: "The turn could not be completed.")
                Log.event(.error, "pipe_failed", ["request_id": .string(c.requestID), "error": .string(String(describing: error))])
            }
            return outcome
        }
    }

    /// SESSION_LOG_DIR: an operator setting (environment), never an admin-API valve.
    package static func sessionLogDirectory(_ config: Config) -> String {
        let dir = config.sessionLogDirectory
        if dir.hasPrefix("/") { return dir }
        let base = (config.databasePath as NSString).deletingLastPathComponent
        return (base.isEmpty ? "." : base) + "/" + dir
    }

    package static func writeSessionLog(
        _ c: Scope, valves: PipeValves, user: User, chat: ChatRow, messageID: Int64, model: String,
        requestItems: Int, events: [JSON], truncated: Bool, status: String
    ) {
        guard valves.bool("SESSION_LOG_STORE_ENABLED") else { return }
        guard case .value(let password, _) = valves.secret("SESSION_LOG_ZIP_PASSWORD") else {
            Log.event(
                .warn, "session_log_skipped",
                [
                    "request_id": .string(c.requestID),
                    "reason": "SESSION_LOG_ZIP_PASSWORD is not usable"
                ])
            return
        }
        let meta: JSON = [
            "user_id": JSON(Int(user.id)), "chat_id": JSON(Int(chat.id)), "message_id": JSON(Int(messageID)),
            "model": .string(model),
            "status": .string(status), "input_items": JSON(requestItems), "created_at": JSON(Int(Clock.now())),
            "request_id": .string(c.requestID), "events_truncated": .bool(truncated)
        ]
        let lines = events.map { $0.serialized() }.joined(separator: "\n") + "\n"
        do {
            let path = try SessionLog.write(
                dir: sessionLogDirectory(c.config), user: String(user.id), chat: String(chat.id),
                message: String(messageID),
                password: password,
                files: [("meta.json", Array(meta.serialized().utf8)), ("logs.jsonl", Array(lines.utf8))])
            // A delete that ran between storing the answer and here must not leave this copy.
            if (try? ChatRepository(c.db).exists(id: chat.id, userID: user.id)) != true {
                unlink(path)
                return
            }
            Log.event(.info, "session_log_written", ["request_id": .string(c.requestID), "path": .string(path)])
        } catch {
            Log.event(.error, "session_log_failed", ["request_id": .string(c.requestID), "error": .string(String(describing: error))])
        }
    }
}
