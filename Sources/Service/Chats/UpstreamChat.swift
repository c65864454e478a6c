import Outbound
import Storage
import Support

/// Calls a connection's `/chat/completions`, streaming, and hands each text delta on.
package enum UpstreamChat {
    /// What a user learns of a failed answer: a stable code and a generic message. A provider's
    /// own error text never reaches a user (it can echo parts of the key).
    package struct Failure: Error {
        let code: ErrorCode
        let message: String
        var json: JSON { ["code": .string(code.rawValue), "message": .string(message)] }

        static let answerTooLarge = Failure(
            code: .answerTooLarge,
            message: "The answer was longer than this service stores (MAX_ANSWER_MB); what fit is kept.")

        static let stopped = Failure(code: .stopped, message: "The answer was stopped.")

        static func transport(_ error: OutboundError) -> Failure {
            switch ErrorCode(outbound: error) {
            case .stopped: stopped
            case .timeout: Failure(code: .timeout, message: "The provider did not answer in time.")
            case .answerTooLarge: answerTooLarge
            default: Failure(code: .upstreamUnreachable, message: "The provider could not be reached.")
            }
        }
    }

    /// Bytes a streamed answer may take on the wire: events carry JSON around each delta.
    package static func streamedCap(_ maxAnswerBytes: Int) -> Int { 8 * maxAnswerBytes + (1 << 20) }

    package static func request(_ connection: ConnectionRecord, key: String) -> (url: String, headers: [(String, String)]) {
        let base = ModelCatalog.upstreamRequest(connection, key: key, path: "/chat/completions")
        return (base.url, base.headers + [("Content-Type", "application/json")])
    }

    /// Streams a completion. Returns the whole text; on failure throws with what arrived so far
    /// available through `received`. A provider that answers the streamed request with one plain
    /// JSON completion (some OpenAI-compatible servers do) is taken as the whole answer.
    package static func stream(
        _ connection: ConnectionRecord, key: String, model: String, messages: [JSON], maxAnswerBytes: Int,
        received: inout String, usage: inout TokenCounts?, shouldStop: @escaping () -> Bool = { false },
        onDelta: @escaping (String) -> Void
    ) throws(Failure) {
        let target = request(connection, key: key)
        // The provider's own token count comes in a last event when asked for (docs/usage.md).
        let body: JSON = [
            "model": .string(model), "messages": .array(messages), "stream": true, "stream_options": ["include_usage": true]
        ]
        var reported: TokenCounts? = nil
        var parser = SSEDataParser(maxLineBytes: maxAnswerBytes + 65536, maxEventBytes: maxAnswerBytes + 65536)
        var finished = false
        var tooLarge = false
        var sawEvent = false
        var plain: [UInt8] = []
        var text = ""
        func take(_ delta: String) {
            guard text.utf8.count + delta.utf8.count <= maxAnswerBytes else {
                var room = maxAnswerBytes - text.utf8.count
                let kept = String(
                    delta.prefix { ch in
                        room -= ch.utf8.count; return room >= 0
                    })
                if !kept.isEmpty { text += kept; onDelta(kept) }
                tooLarge = true
                return
            }
            text += delta
            onDelta(delta)
        }
        let response: HTTPResponse
        do {
            response = try HTTPClient.send(
                method: "POST", url: target.url, headers: target.headers, body: Array(body.serialized().utf8),
                timeoutSeconds: 300, maxBytes: streamedCap(maxAnswerBytes), shouldStop: shouldStop,
                onChunk: { chunk in
                    if !sawEvent && plain.count <= maxAnswerBytes + 65536 { plain.append(contentsOf: chunk) }
                    for payload in parser.feed(chunk) where !tooLarge {
                        sawEvent = true
                        if payload == "[DONE]" { finished = true; continue }
                        guard let event = try? JSON.parse(payload) else { continue }
                        if let delta = event["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue, !delta.isEmpty {
                            take(delta)
                        }
                        if event["choices"]?.arrayValue?.first?["finish_reason"]?.stringValue != nil { finished = true }
                        if let counts = ProviderUsage.chat(event["usage"]) { reported = counts }
                    }
                    if parser.overflowed { tooLarge = true }
                    return !tooLarge
                })
        } catch {
            received = text
            usage = reported
            throw tooLarge ? Failure.answerTooLarge : Failure.transport(error)
        }
        if tooLarge { received = text; throw Failure.answerTooLarge }
        let plainDocument = sawEvent ? nil : try? JSON.parse(plain)
        let plainAnswer = plainDocument?["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue
        if response.status == 200, !sawEvent, let whole = plainAnswer {
            take(whole)
            finished = !tooLarge
            reported = ProviderUsage.chat(plainDocument?["usage"])
        }
        received = text
        usage = reported
        if tooLarge { throw Failure.answerTooLarge }
        guard response.status == 200 else {
            throw Failure(code: .upstreamStatus, message: "The provider answered HTTP \(response.status).")
        }
        guard finished else {
            throw Failure(code: .upstreamIncomplete, message: "The provider's answer ended before it was complete.")
        }
    }
}
