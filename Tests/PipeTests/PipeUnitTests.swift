import Crypto
import Support
import Testing

@testable import Pipe

@Suite struct MarkerAndIDTests {
    @Test func idsAreTwentyCrockfordCharactersAndSortByTime() {
        let a = ArtifactID.make(nanoseconds: 1_000_000_000)
        let b = ArtifactID.make(nanoseconds: 2_000_000_000)
        #expect(a.count == 20 && ArtifactID.isValid(a))
        #expect(a.prefix(16) < b.prefix(16))
        #expect(!ArtifactID.isValid("0123456789ABCDEFGHIU"), "U is not Crockford base32")
    }

    @Test func markersRoundTrip() {
        let ids = [ArtifactID.make(), ArtifactID.make()]
        let stored = Markers.append(ids, to: "Hello\nworld")
        #expect(stored.hasSuffix("[\(ids[1])]: #"))
        let (text, found) = Markers.split(stored)
        #expect(text == "Hello\nworld")
        #expect(found == ids)
        #expect(Markers.split("[not-an-id]: #").ids.isEmpty)
    }

    @Test func tableNamesFollowTheReferencePipe() {
        #expect(ArtifactStore.fragment("OpenRouter.Pipe-2") == "openrouter_pipe_2")
        #expect(ArtifactStore.fragment("__") == "pipe")
        let withKey = ArtifactStore.tableName(pipeID: "openrouter", artifactKey: "k")
        let expectedHash = Encoding.hex(Digest.sha256("kopenrouter")).prefix(8)
        #expect(withKey == "response_items_openrouter_\(expectedHash)")
        #expect(ArtifactStore.tableName(pipeID: "openrouter", artifactKey: "other") != withKey, "a new key starts a new table")
    }
}

@Suite struct FramingTests {
    @Test func compressesOnlyWhenSmaller() {
        let large = Array(String(repeating: "reasoning ", count: 500).utf8)
        let framed = PayloadFraming.frame(large, compress: true, minBytes: 0)
        #expect(framed.first == 1 && framed.count < large.count)
        #expect(PayloadFraming.unframe(framed) == large)
        let tiny = Array("{}".utf8)
        #expect(PayloadFraming.frame(tiny, compress: true, minBytes: 0) == [0] + tiny)
        #expect(PayloadFraming.frame(large, compress: true, minBytes: 100_000).first == 0, "below MIN_COMPRESS_BYTES")
        #expect(PayloadFraming.frame(large, compress: false, minBytes: 0).first == 0)
        #expect(PayloadFraming.unframe([1, 9, 9, 9]) == nil)
        #expect(PayloadFraming.unframe([7]) == nil)
    }
}

@Suite struct EncryptedStrTests {
    @Test func encryptsWithTheKeyAndReportsWhatItCannotRead() throws {
        let withKey = EncryptedStr(webuiSecretKey: "webui-secret")
        let stored = try withKey.encode("sk-or-v1-secret", name: "API_KEY")
        #expect(stored.hasPrefix("encrypted:") && !stored.contains("secret"))
        #expect(withKey.decode(stored, name: "API_KEY") == .value("sk-or-v1-secret", encrypted: true))
        #expect(try withKey.encode(stored, name: "API_KEY") == stored, "never encrypted twice")
        guard case .undecryptable = EncryptedStr(webuiSecretKey: "another").decode(stored, name: "API_KEY") else {
            Issue.record("a changed key must be reported"); return
        }
        guard case .undecryptable = EncryptedStr(webuiSecretKey: nil).decode(stored, name: "API_KEY") else {
            Issue.record("a missing key must be reported"); return
        }
        guard case .undecryptable = withKey.decode(stored, name: "ARTIFACT_ENCRYPTION_KEY") else {
            Issue.record("a value moved to another valve must not decrypt"); return
        }
        let plain = EncryptedStr(webuiSecretKey: nil)
        #expect(try plain.encode("sk-x", name: "API_KEY") == "sk-x")
        #expect(plain.decode("", name: "API_KEY") == .empty)
    }
}

@Suite struct ResponsesInputTests {
    @Test func replaysArtifactsInOrderAndDropsOrphans() {
        let reasoning: JSON = ["type": "reasoning", "id": "rs_1"]
        let call: JSON = ["type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"]
        let output: JSON = ["type": "function_call_output", "call_id": "c1", "output": "ok"]
        let orphan: JSON = ["type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"]
        let ids = (0..<4).map { _ in ArtifactID.make() }
        let table = Dictionary(uniqueKeysWithValues: zip(ids, [reasoning, call, output, orphan]))
        let history = [
            ResponsesInput.Message(role: "system", content: "be brief"),
            ResponsesInput.Message(role: "user", content: "hi"),
            ResponsesInput.Message(role: "assistant", content: Markers.append(ids, to: "hello")),
            ResponsesInput.Message(role: "user", content: "again")
        ]
        let input = ResponsesInput.build(
            history: history, attachments: [.init(kind: .image, dataURL: "data:image/png;base64,AA", filename: "a.png")],
            reasoningScope: "conversation"
        ) { table[$0] }
        let types = input.map { $0["type"]?.stringValue ?? "" }
        #expect(types == ["message", "message", "reasoning", "function_call", "function_call_output", "message", "message"])
        #expect(input[5]["content"]?.arrayValue?.first?["text"]?.stringValue == "hello")
        #expect(input[6]["content"]?.arrayValue?.last?["type"]?.stringValue == "input_image")
        let none = ResponsesInput.build(history: history, attachments: [], reasoningScope: "disabled") { table[$0] }
        #expect(!none.contains { $0["type"]?.stringValue == "reasoning" })
    }

    @Test func streamCollectsItemsAndText() {
        var texts: [String] = []
        let stream = ResponsesStream(onText: { texts.append($0) }, onReasoning: { _ in })
        let events = [
            #"{"type":"response.output_item.done","item":{"type":"reasoning","id":"r"}}"#,
            #"{"type":"response.output_item.done","item":{"type":"web_search_call","id":"w"}}"#,
            #"{"type":"response.output_text.delta","delta":"Hi"}"#,
            #"{"type":"response.completed","response":{}}"#
        ]
        let wire = ": comment\n\n" + events.map { "event: x\ndata: \($0)\n\n" }.joined() + "data: [DONE]\n\n"
        for chunk in Array(wire.utf8).chunked(7) { stream.feed(chunk) }
        #expect(texts.joined() == "Hi")
        #expect(stream.completed)
        #expect(stream.items.count == 1, "web search calls are never stored")
    }
}

@Suite struct SessionLogTests {
    @Test func pathPartsAreSanitized() {
        #expect(SessionLog.sanitize("../../etc/passwd") == ".._.._etc_passwd")
        #expect(SessionLog.sanitize("..") == "_")
        #expect(SessionLog.sanitize("a b\u{0}c") == "a_b_c")
        #expect(SessionLog.path(dir: "/d", user: "1", chat: "../x", message: "7") == "/d/1/.._x/7.zip")
    }
}

extension Array {
    func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
