import Outbound
import Support

/// `POST /chat/completions` for SDKs and curl: the request cut to the allowed fields, routed by
/// model to the connection that serves it, counted among the caller's streams, and the provider's
/// answer relayed. Only a 200 answer is relayed: a provider's error body can echo parts of a key.
/// Nothing is stored on this path. The caller must `close()` the relay once it has run.
package final class CompletionsRelay {
    package let streaming: Bool
    let target: (url: String, headers: [(String, String)])
    let body: [UInt8]
    let maxBytes: Int
    let registry: StreamRegistry
    let ticket: StreamTicket
    /// Counts the answer against the caller's usage and quota (`finish` once it has been read).
    let meter: UsageMeter
    let scope: Scope
    let promptEstimate: Int64
    var closed = false

    package init(_ s: Scope, request: [String: JSON], model: String) throws {
        streaming = request["stream"]?.boolValue ?? false
        var forwarded = try CompletionsPolicy.forwardedFields(request, s.config)
        // Streamed answers are asked for the provider's token count (a last chunk with `usage`
        // and no choices, which OpenAI's SDKs read as such); docs/usage.md.
        if streaming { forwarded["stream_options"] = ["include_usage": true] }
        let (connection, key) = try ModelCatalog.route(model: model, s)
        target = UpstreamChat.request(connection, key: key)
        body = Array(JSON.object(forwarded).serialized().utf8)
        maxBytes = UpstreamChat.streamedCap(s.config.maxAnswerBytes)
        let messages = forwarded["messages"]?.arrayValue ?? []
        let estimate = TokenEstimate.prompt(bytes: JSON.array(messages).serialized().utf8.count, messages: messages.count)
        promptEstimate = estimate
        let n = Int64(forwarded["n"]?.intValue ?? 1)
        // The larger of the two limits (providers differ in which they obey), reserved for each of the n answers.
        let limits = ["max_completion_tokens", "max_tokens"].compactMap { forwarded[$0]?.intValue }
        let asked = limits.max().map { Int64($0) }
        registry = s.services.shared.streams
        ticket = try registry.open(
            userID: try s.user.id, chatID: nil, limit: try s.services.runtimeConfig().maxStreamsPerUser, db: s.services.db)
        do {
            meter = try UsageMeter.begin(
                s, model: model, promptEstimate: { estimate }, completionReserve: asked, longestSeconds: 300, choices: n)
        } catch {
            registry.close(ticket)
            throw error
        }
        scope = s
        // No SQLite or Redis connection is held while the provider answers.
        s.releaseServices()
    }

    /// Ends the relay's place among the caller's streams, once (and gives back a reservation
    /// that no answer used).
    package func close() {
        guard !closed else { return }
        closed = true
        registry.close(ticket)
        meter.cancel(scope)
    }

    /// Counts what the provider answered: its own `usage`, else an estimate from the text that
    /// arrived. Nothing is counted when nothing arrived.
    func count(usage: JSON?, completionBytes: Int, anything: Bool) {
        if let counts = ProviderUsage.chat(usage) {
            meter.finish(scope, counts)
        } else if anything {
            meter.finish(
                scope, TokenCounts(prompt: promptEstimate, completion: TokenEstimate.tokens(bytes: completionBytes), estimated: true))
        } else {
            meter.cancel(scope)
        }
        scope.releaseServices()
    }

    /// The provider's whole answer (`stream: false`).
    package func answer() throws -> [UInt8] {
        let answer: HTTPResponse
        do {
            answer = try HTTPClient.send(
                method: "POST", url: target.url, headers: target.headers, body: body, timeoutSeconds: 300,
                maxBytes: maxBytes)
        } catch {
            let code = ErrorCode(outbound: error)
            throw ServiceError(
                code,
                code == .answerTooLarge
                    ? "The provider's answer was larger than this service relays."
                    : code == .timeout ? "The provider did not answer in time." : "The provider could not be reached.")
        }
        guard answer.status == 200 else {
            count(usage: nil, completionBytes: 0, anything: false)
            throw ServiceError(.upstreamStatus, "The provider answered HTTP \(answer.status).")
        }
        let document = try? JSON.parse(answer.body)
        let text = document?["choices"]?.arrayValue?.compactMap { $0["message"]?["content"]?.stringValue }.joined() ?? ""
        count(usage: document?["usage"], completionBytes: text.utf8.count, anything: true)
        return answer.body
    }

    /// How a relayed stream ended.
    package enum Ending {
        case complete
        /// The client went away, which ended the upstream call.
        case clientGone
        /// The provider failed (before or after part of its answer was relayed).
        case failed(ServiceError)
    }

    /// Relays a 200 answer chunk by chunk: `start` once before the first chunk, then `write`,
    /// which returns false when the client is gone.
    package func relay(start: @escaping () -> Void, write: @escaping ([UInt8]) -> Bool) -> Ending {
        var upstreamStatus = 0
        var started = false
        var clientGone = false
        // The relayed bytes are read on the side for the usage chunk and the text's size.
        var parser = SSEDataParser(maxLineBytes: 1 << 20, maxEventBytes: 1 << 20)
        var usage: JSON? = nil
        var completionBytes = 0
        func observe(_ chunk: [UInt8]) {
            for payload in parser.feed(chunk) where payload != "[DONE]" {
                guard let event = try? JSON.parse(payload) else { continue }
                if let u = event["usage"], u != .null { usage = u }
                for choice in event["choices"]?.arrayValue ?? [] {
                    completionBytes += choice["delta"]?["content"]?.stringValue?.utf8.count ?? 0
                }
            }
        }
        defer { count(usage: usage, completionBytes: completionBytes, anything: started) }
        do {
            let answer = try HTTPClient.send(
                method: "POST", url: target.url, headers: target.headers, body: body, timeoutSeconds: 300,
                maxBytes: maxBytes, onStatus: { upstreamStatus = $0 },
                onChunk: { chunk in
                    guard upstreamStatus == 200 else { return true }
                    if !started { started = true; start() }
                    observe(chunk)
                    clientGone = !write(chunk)
                    return !clientGone
                })
            if answer.status == 200 { return .complete }
            return .failed(ServiceError(.upstreamStatus, "The provider answered HTTP \(answer.status)."))
        } catch {
            if clientGone { return .clientGone }
            return .failed(ServiceError(.upstreamUnreachable, "The provider connection failed."))
        }
    }
}
