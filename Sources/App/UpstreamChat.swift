import Outbound
import Storage
import Support

/// Calls a connection's `/chat/completions`, streaming, and hands each text delta on.
enum UpstreamChat {
    struct Failure: Error {
        let code: String
        let message: String
        var json: JSON { ["code": .string(code), "message": .string(message)] }
    }

    static func request(_ connection: ConnectionRecord, key: String) -> (url: String, headers: [(String, String)]) {
        let base = ModelHandlers.upstreamRequest(connection, key: key, path: "/chat/completions")
        return (base.url, base.headers + [("Content-Type", "application/json")])
    }

    /// Streams a completion. Returns the whole text; on failure throws with what arrived so far
    /// available through `received`.
    static func stream(_ connection: ConnectionRecord, key: String, model: String, messages: [JSON],
                       received: inout String, onDelta: @escaping (String) -> Void) throws(Failure) {
        let target = request(connection, key: key)
        let body: JSON = ["model": .string(model), "messages": .array(messages), "stream": true]
        var parser = SSEDataParser()
        var finished = false
        var text = ""
        let response: HTTPResponse
        do {
            response = try HTTPClient.send(method: "POST", url: target.url, headers: target.headers, body: Array(body.serialized().utf8),
                                           timeoutSeconds: 300) { chunk in
                for payload in parser.feed(chunk) {
                    if payload == "[DONE]" { finished = true; continue }
                    guard let event = try? JSON.parse(payload) else { continue }
                    if let delta = event["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue, !delta.isEmpty {
                        text += delta
                        onDelta(delta)
                    }
                    if event["choices"]?.arrayValue?.first?["finish_reason"]?.stringValue != nil { finished = true }
                }
                return true
            }
        } catch {
            received = text
            throw Failure(code: error.kind == .timeout ? "timeout" : "upstream_unreachable",
                          message: "The provider connection failed (\(error.kind.rawValue)).")
        }
        received = text
        guard response.status == 200 else {
            throw Failure(code: "upstream_status", message: "The provider answered HTTP \(response.status).")
        }
        guard finished else {
            throw Failure(code: "upstream_incomplete", message: "The provider's answer ended before it was complete.")
        }
    }
}
