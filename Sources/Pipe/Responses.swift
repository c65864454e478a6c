import Support

/// Turns a chat's history into OpenRouter Responses `input` items. Assistant messages' marker
/// lines are replaced by the stored artifacts they name, in order; calls and outputs that lost
/// their partner are dropped.
public enum ResponsesInput {
    public struct Message: Sendable {
        public let role: String
        public let content: String
        public init(role: String, content: String) {
            self.role = role
            self.content = content
        }
    }

    public struct Attachment: Sendable {
        public enum Kind: String, Sendable { case image, file }
        public let kind: Kind
        public let dataURL: String
        public let filename: String
        public init(kind: Kind, dataURL: String, filename: String) {
            self.kind = kind
            self.dataURL = dataURL
            self.filename = filename
        }
    }

    /// `artifacts` gives each marker id's payload (nil when missing or undecryptable).
    public static func build(
        history: [Message], attachments: [Attachment], reasoningScope: String,
        artifacts: (String) -> JSON?
    ) -> [JSON] {
        var items: [JSON] = []
        let lastAssistant = history.lastIndex { $0.role == "assistant" }
        for (index, message) in history.enumerated() {
            switch message.role {
            case "assistant":
                let (text, ids) = Markers.split(message.content)
                var replayed: [JSON] = ids.compactMap(artifacts)
                if reasoningScope == "disabled" || (reasoningScope == "next_reply" && index != lastAssistant) {
                    replayed.removeAll { $0["type"]?.stringValue == "reasoning" }
                }
                items += pairCalls(replayed)
                if !text.isEmpty {
                    items.append(["type": "message", "role": "assistant", "content": [["type": "output_text", "text": .string(text)]]])
                }
            case "system", "developer":
                items.append([
                    "type": "message", "role": .string(message.role),
                    "content": [
                        [
                            "type": "input_text",
                            "text": .string(message.content)
                        ]
                    ]
                ])
            default:
                var content: [JSON] = [["type": "input_text", "text": .string(message.content)]]
                if index == history.count - 1 {
                    for a in attachments {
                        switch a.kind {
                        case .image: content.append(["type": "input_image", "image_url": .string(a.dataURL)])
                        case .file: content.append(["type": "input_file", "filename": .string(a.filename), "file_data": .string(a.dataURL)])
                        }
                    }
                }
                items.append(["type": "message", "role": "user", "content": .array(content)])
            }
        }
        return items
    }

    /// Keeps function calls only with their outputs and outputs only with their calls.
    static func pairCalls(_ items: [JSON]) -> [JSON] {
        let calls = Set(items.filter { $0["type"]?.stringValue == "function_call" }.compactMap { $0["call_id"]?.stringValue })
        let outputs = Set(items.filter { $0["type"]?.stringValue == "function_call_output" }.compactMap { $0["call_id"]?.stringValue })
        return items.filter { item in
            switch item["type"]?.stringValue {
            case "function_call": return item["call_id"]?.stringValue.map(outputs.contains) ?? false
            case "function_call_output": return item["call_id"]?.stringValue.map(calls.contains) ?? false
            default: return true
            }
        }
    }
}

/// Reads the Responses event stream: text deltas are handed on as they come; reasoning items,
/// function calls and their outputs are collected for storage. The answer's text is capped at
/// `maxTextBytes` and the events kept for a session log at `maxLogBytes`.
public final class ResponsesStream {
    public static let storedTypes: Set<String> = ["reasoning", "function_call", "function_call_output"]
    public private(set) var text = ""
    public private(set) var items: [JSON] = []
    public private(set) var completed = false
    /// The provider's own failure text: for the server log (after redaction), never for a user.
    public private(set) var failure: String?
    /// `response.usage` of the completed response (`input_tokens`, `output_tokens`), unchecked.
    public private(set) var usage: JSON?
    public private(set) var events: [JSON] = []
    public private(set) var eventsTruncated = false
    /// Set when the answer or one event went over its cap; the stream should be ended.
    public private(set) var tooLarge = false
    let maxTextBytes: Int
    let maxLogBytes: Int
    var textBytes = 0
    var logBytes = 0
    let onText: (String) -> Void
    let onReasoning: (String) -> Void
    var parser: SSEDataParser

    public init(
        maxTextBytes: Int = 4 << 20, maxLogBytes: Int = 8 << 20,
        onText: @escaping (String) -> Void, onReasoning: @escaping (String) -> Void
    ) {
        self.maxTextBytes = maxTextBytes
        self.maxLogBytes = maxLogBytes
        self.onText = onText
        self.onReasoning = onReasoning
        self.parser = SSEDataParser(maxLineBytes: maxTextBytes + 65536, maxEventBytes: maxTextBytes + 65536)
    }

    /// Feeds bytes; false once the stream should be ended (over a cap).
    public func feed(_ bytes: [UInt8]) -> Bool {
        for payload in parser.feed(bytes) where !tooLarge {
            if payload == "[DONE]" { continue }
            guard let event = try? JSON.parse(payload), let type = event["type"]?.stringValue else { continue }
            keepForLog(event, size: payload.utf8.count)
            switch type {
            case "response.output_text.delta":
                if let delta = event["delta"]?.stringValue { appendText(delta) }
            case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
                if let delta = event["delta"]?.stringValue { onReasoning(delta) }
            case "response.output_item.done":
                if let item = event["item"], let itemType = item["type"]?.stringValue, Self.storedTypes.contains(itemType) {
                    items.append(item)
                }
            case "response.completed":
                completed = true
                usage = event["response"]?["usage"]
            case "response.failed":
                failure = event["response"]?["error"]?["message"]?.stringValue ?? "the response failed"
            case "error":
                failure = event["message"]?.stringValue ?? event["error"]?["message"]?.stringValue ?? "error event"
            default:
                break
            }
        }
        if parser.overflowed { tooLarge = true }
        return !tooLarge
    }

    func appendText(_ delta: String) {
        let size = delta.utf8.count
        guard textBytes + size <= maxTextBytes else {
            // Keep what fits, cut at a character boundary.
            var room = maxTextBytes - textBytes
            var kept = ""
            for ch in delta {
                let n = ch.utf8.count
                guard n <= room else { break }
                kept.append(ch)
                room -= n
            }
            if !kept.isEmpty { text += kept; textBytes += kept.utf8.count; onText(kept) }
            tooLarge = true
            return
        }
        text += delta
        textBytes += size
        onText(delta)
    }

    func keepForLog(_ event: JSON, size: Int) {
        guard !eventsTruncated else { return }
        guard events.count < 10_000, logBytes + size <= maxLogBytes else { eventsTruncated = true; return }
        events.append(event)
        logBytes += size
    }

    /// Items to store: function calls only once their outputs exist.
    public var storableItems: [JSON] { ResponsesInput.pairCalls(items) }
}
