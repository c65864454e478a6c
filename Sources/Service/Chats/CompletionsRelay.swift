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
    var closed = false

    package init(_ s: Scope, request: [String: JSON], model: String) throws {
        streaming = request["stream"]?.boolValue ?? false
        let forwarded = try CompletionsPolicy.forwardedFields(request, s.config)
        let (connection, key) = try ModelCatalog.route(model: model, s)
        target = UpstreamChat.request(connection, key: key)
        body = Array(JSON.object(forwarded).serialized().utf8)
        maxBytes = UpstreamChat.streamedCap(s.config.maxAnswerBytes)
        registry = s.services.shared.streams
        ticket = try registry.open(
            userID: try s.user.id, chatID: nil, limit: try s.services.runtimeConfig().maxStreamsPerUser, db: s.services.db)
        // No SQLite or Redis connection is held while the provider answers.
        s.releaseServices()
    }

    /// Ends the relay's place among the caller's streams, once.
    package func close() {
        guard !closed else { return }
        closed = true
        registry.close(ticket)
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
        guard answer.status == 200 else { throw ServiceError(.upstreamStatus, "The provider answered HTTP \(answer.status).") }
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
        do {
            let answer = try HTTPClient.send(
                method: "POST", url: target.url, headers: target.headers, body: body, timeoutSeconds: 300,
                maxBytes: maxBytes, onStatus: { upstreamStatus = $0 },
                onChunk: { chunk in
                    guard upstreamStatus == 200 else { return true }
                    if !started { started = true; start() }
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
